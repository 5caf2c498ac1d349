"""A CI shard job tests images its cell's build job made: ``farm build --save`` writes them as
one archive, ``farm run --no-build`` finds them by tag and builds nothing, refusing (exit 2,
every missing image named) rather than spending a glibc build on a tag that is not here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from farm.cli import _parser
from farm.commands.run_cmd import options
from farm.containers import engine
from farm.errors import EngineError, UsageError
from farm.plan.render import ImagePlan, ImageSpec
from farm.plan.scenario import load_scenario
from farm.run import build
from farm.run.build import ImageState, ImageStatus

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "scenarios" / "debian-2.36-backports.yaml"


def _spec(name: str, tag: str, parent: str | None = None) -> ImageSpec:
    return ImageSpec(name, name.split("-")[0], None, None, parent, "FROM scratch\n", (), tag)


@pytest.fixture
def plan() -> ImagePlan:
    chain = (
        _spec("toolchain", "glibc-farm/toolchain:t"),
        _spec("build-x86_64-baseline", "glibc-farm/build:b", "toolchain"),
        _spec("test-x86_64-baseline", "glibc-farm/test:x", "build-x86_64-baseline"),
        _spec("test-i686-baseline", "glibc-farm/test:i", "build-x86_64-baseline"),
    )
    return ImagePlan(load_scenario(DEFAULT), chain)


@pytest.fixture
def looked_up(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Only the x86_64 test image is here; nothing may be built."""
    asked: list[str] = []

    def image_id(_engine: object, tag: str) -> str | None:
        asked.append(tag)
        return "sha256:xx" if tag == "glibc-farm/test:x" else None

    def no_build(*_: object, **__: object) -> None:
        raise AssertionError("--no-build built an image")

    monkeypatch.setattr(engine.Engine, "image_id", image_id)
    monkeypatch.setattr(engine.Engine, "build", no_build)
    return asked


def test_the_test_images_that_are_here_are_used_and_their_ancestors_not_needed(
    plan: ImagePlan, looked_up: list[str]
) -> None:
    statuses = build.present_images(engine.Engine(object()), plan, names=["test-x86_64-baseline"])  # type: ignore[arg-type]
    assert statuses == {
        "test-x86_64-baseline": ImageStatus(
            "test-x86_64-baseline", "glibc-farm/test:x", ImageState.REUSED, image_id="sha256:xx"
        )
    }
    assert looked_up == ["glibc-farm/test:x"]  # the toolchain and build images were not asked


def test_a_missing_image_is_refused_naming_it_and_how_to_load_it(
    plan: ImagePlan, looked_up: list[str]
) -> None:
    names = ["test-x86_64-baseline", "test-i686-baseline"]
    with pytest.raises(UsageError) as refused:
        build.present_images(engine.Engine(object()), plan, names=names)  # type: ignore[arg-type]
    message = str(refused.value)
    assert "--no-build: 1 image(s) to test are not on this machine" in message
    assert "test-i686-baseline (glibc-farm/test:i)" in message
    assert "glibc-farm/test:x" not in message
    assert "docker load" in message and "without --no-build" in message
    assert refused.value.exit_code == 2


def test_no_build_reaches_the_runs_options() -> None:
    parser = _parser()
    for command in ("run", "test"):
        args = parser.parse_args([command, "--no-build", "--shard", "1/2"])
        assert args.no_build is True
        assert parser.parse_args([command]).no_build is False

    scenario = load_scenario(DEFAULT)
    args = parser.parse_args(["run", "--no-build", "--no-gate"])
    assert options(scenario, (), (), Path("run"), args, judge=False).build is False
    args = parser.parse_args(["run"])
    assert options(scenario, (), (), Path("run"), args, judge=True).build is True


# --- saving -----------------------------------------------------------------------------------


class _Reply:
    def __init__(self, status: int, chunks: list[bytes], fail_after: int | None = None) -> None:
        self.status_code = status
        self.text = "no such image"
        self._chunks = chunks
        self._fail_after = fail_after

    def __enter__(self) -> _Reply:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        for number, chunk in enumerate(self._chunks):
            if number == self._fail_after:
                import requests

                raise requests.exceptions.ConnectionError("engine went away")
            yield chunk


class _Api:
    base_url = "http+docker://localhost"
    api_version = "1.43"

    def __init__(self, reply: _Reply) -> None:
        self.reply = reply
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get(self, url: str, *, params: dict[str, Any], stream: bool, timeout: int) -> _Reply:
        assert stream and timeout > 0
        self.calls.append((url, params))
        return self.reply


class _Client:
    def __init__(self, reply: _Reply) -> None:
        self.api = _Api(reply)


def _status(name: str, tag: str, state: ImageState) -> ImageStatus:
    return ImageStatus(name, tag, state)


def test_save_writes_every_ready_test_image_into_one_archive(tmp_path: Path) -> None:
    client = _Client(_Reply(200, [b"tar", b"ball"]))
    statuses = [
        _status("test-x86_64-baseline", "glibc-farm/test:x", ImageState.REUSED),
        _status("test-x86_64-fix", "glibc-farm/test:f", ImageState.FAILED),
        _status("test-i686-baseline", "glibc-farm/test:i", ImageState.BUILT),
    ]
    archive = tmp_path / "images.tar"
    tags = build.save_images(engine.Engine(client), statuses, archive)  # type: ignore[arg-type]
    assert tags == ["glibc-farm/test:x", "glibc-farm/test:i"]
    assert client.api.calls == [
        ("http+docker://localhost/v1.43/images/get", {"names": tags}),
    ]
    assert archive.read_bytes() == b"tarball"
    assert [p.name for p in tmp_path.iterdir()] == ["images.tar"]


def test_nothing_ready_saves_nothing(tmp_path: Path) -> None:
    client = _Client(_Reply(200, [b"x"]))
    failed = [_status("test-x86_64-fix", "glibc-farm/test:f", ImageState.FAILED)]
    assert build.save_images(engine.Engine(client), failed, tmp_path / "images.tar") == []  # type: ignore[arg-type]
    assert client.api.calls == [] and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("reply", "error", "needle"),
    [
        (_Reply(404, []), EngineError, "would not save glibc-farm/test:x: HTTP 404 no such image"),
        (_Reply(200, [b"a", b"b"], fail_after=1), EngineError, "no Docker engine answers"),
    ],
    ids=["refused", "cut-off"],
)
def test_a_failed_save_leaves_no_archive_that_looks_whole(
    tmp_path: Path, reply: _Reply, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=needle):
        engine.Engine(_Client(reply)).save(["glibc-farm/test:x"], tmp_path / "images.tar")  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_an_unwritable_archive_path_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "images.tar"
    with pytest.raises(UsageError, match=r"--save .*images\.tar: cannot write the images"):
        engine.Engine(_Client(_Reply(200, [b"a"]))).save(["glibc-farm/test:x"], target)  # type: ignore[arg-type]
