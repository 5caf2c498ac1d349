"""The registry's names and order (no engine): a registry is checked when it is parsed, so a
typo costs no build; an image's name there is its farm tag below the registry; pushing and
pulling go parents first, each image once. The transfers themselves are tested against a
real registry in tests/integration/test_registry.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from farm.cli import _parser
from farm.containers.registry import Registry, with_ancestors
from farm.errors import UsageError
from farm.plan.render import ImagePlan, ImageSpec
from farm.plan.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "scenarios" / "debian-2.36-backports.yaml"


@pytest.mark.parametrize(
    "text",
    [
        "ghcr.io/owner/glibc-farm",
        "127.0.0.1:5000",
        "127.0.0.1:5000/farm",
        "localhost/a/b",
        "registry.example.org:443/team_a/farm-images",
        "dockerhubuser",
        "ghcr.io/owner/glibc-farm/",  # a trailing slash is dropped
    ],
)
def test_registries_that_docker_accepts_parse(text: str) -> None:
    registry = Registry.parse(text, option="--push")
    assert registry.prefix == text.rstrip("/")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("https://ghcr.io/owner", "without a scheme"),
        ("ghcr.io/Owner/farm", "'Owner' is not a repository path component"),
        ("ghcr.io/owner/farm:latest", "'farm:latest' is not a repository path component"),
        ("ghcr.io//farm", "'' is not a repository path component"),
        ("bad_host.io:x/farm", "is not a registry host"),
        ("", "1 to 200 characters"),
        ("ghcr.io/" + "a" * 200, "1 to 200 characters"),
        ("ghcr.io/owner/farm@sha256", "is not a repository path component"),
    ],
)
def test_registries_docker_would_refuse_are_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(UsageError, match="--pull") as error:
        Registry.parse(text, option="--pull")
    assert why in str(error.value)


def test_an_image_is_named_in_the_registry_by_its_farm_tag() -> None:
    registry = Registry.parse("ghcr.io/owner/repo", option="--push")
    tag = "glibc-farm/build:x86_64-baseline-0123456789abcdef"
    assert (
        registry.ref(tag) == "ghcr.io/owner/repo/glibc-farm/build:x86_64-baseline-0123456789abcdef"
    )


def test_a_bad_registry_on_the_command_line_is_a_usage_error_before_anything_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("build", "test", "run"):
        with pytest.raises(SystemExit) as exited:
            _parser().parse_args([command, str(DEFAULT), "--pull", "ghcr.io/Upper/x"])
        assert exited.value.code == 2
        assert "argument --pull: 'ghcr.io/Upper/x': 'Upper'" in capsys.readouterr().err
    args = _parser().parse_args(["build", "--push", "127.0.0.1:5000/farm"])
    assert args.push == Registry("127.0.0.1:5000/farm") and args.pull is None


def _spec(name: str, parent: str | None = None) -> ImageSpec:
    return ImageSpec(
        name, name.split("-")[0], None, None, parent, "FROM scratch\n", (), f"glibc-farm/{name}:t"
    )


def test_ancestors_come_parents_first_and_each_once_in_plan_order() -> None:
    plan = ImagePlan(
        load_scenario(DEFAULT),
        (
            _spec("toolchain"),
            _spec("source", "toolchain"),
            _spec("build-x86_64-baseline", "source"),
            _spec("build-x86_64-series", "build-x86_64-baseline"),
            _spec("test-x86_64-series", "build-x86_64-series"),
            _spec("test-x86_64-baseline", "build-x86_64-baseline"),
            _spec("build-i686-baseline", "source"),
        ),
    )
    names = [i.name for i in with_ancestors(plan, ["test-x86_64-series", "test-x86_64-baseline"])]
    assert names == [
        "toolchain",
        "source",
        "build-x86_64-baseline",
        "build-x86_64-series",
        "test-x86_64-series",
        "test-x86_64-baseline",
    ]
    assert [i.name for i in with_ancestors(plan, [])] == []
