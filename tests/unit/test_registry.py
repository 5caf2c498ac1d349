"""The registry's names and order (no engine): a registry is checked when it is parsed, so a
typo costs no build; an image's name there is its farm tag below the registry; pushing and
pulling go parents first, each image once; a transient failure is tried again, a bounded
number of times, and a refusal is not. The transfers themselves are tested against a real
registry in tests/integration/test_registry.py, and their retries behind a failing proxy in
tests/integration/test_registry_retry.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from farm.cli import _parser
from farm.containers.engine import EngineUnreachable, TransferFailed, is_transient
from farm.containers.registry import Registry, Retries, retrying, with_ancestors
from farm.errors import EngineError, UsageError
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


#: The engine's own words (Docker 20.10, through tests/registry_proxy.py and a dead port).
TRANSIENT_REASONS = (
    "received unexpected HTTP status: 500 Internal Server Error",  # a 5xx on a blob HEAD
    "received unexpected HTTP status: 502 Bad Gateway",
    'Put "http://127.0.0.1:42973/v2/farm-test/glibc-farm/x/manifests/t": EOF',  # dropped
    "read tcp 127.0.0.1:5000->127.0.0.1:4711: read: connection reset by peer",
    "net/http: TLS handshake timeout",
)
REFUSALS = (
    "manifest invalid",  # 400 MANIFEST_INVALID
    "unauthorized",  # 401
    "denied",  # 403
    "unauthorized: authentication required",
    "name unknown: repository name not known to registry",
    "toomanyrequests: You have reached your pull rate limit.",  # 429: waiting is hours
    'Get "http://127.0.0.1:9/v2/": dial tcp 127.0.0.1:9: connect: connection refused',
    "An image does not exist locally with the tag: 127.0.0.1:5000/x",
)


@pytest.mark.parametrize("reason", TRANSIENT_REASONS)
def test_a_registry_failing_for_now_is_transient(reason: str) -> None:
    assert is_transient(reason)


@pytest.mark.parametrize("reason", REFUSALS)
def test_a_refusal_or_a_registry_nobody_runs_is_not_transient(reason: str) -> None:
    assert not is_transient(reason)


class _Attempts:
    """A transfer that fails with ``failures`` in turn, then returns "sha256:done"."""

    def __init__(self, *failures: EngineError) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "sha256:done"


def _transient(n: int) -> TransferFailed:
    return TransferFailed(f"pushing R: received unexpected HTTP status: 50{n}", transient=True)


def test_a_transient_failure_is_tried_again_after_growing_waits_each_retry_said() -> None:
    move = _Attempts(_transient(0), _transient(3))
    lines: list[str] = []
    slept: list[float] = []
    digest = retrying(
        move, what="img", retries=Retries(), progress=lines.append, sleep=slept.append
    )
    assert digest == "sha256:done" and move.calls == 3
    assert slept == [2.0, 4.0]
    assert lines == [
        "registry: img: attempt 1/3 failed, retrying in 2 s: pushing R: "
        "received unexpected HTTP status: 500",
        "registry: img: attempt 2/3 failed, retrying in 4 s: pushing R: "
        "received unexpected HTTP status: 503",
    ]


def test_a_transient_failure_is_given_up_after_the_last_attempt_saying_so() -> None:
    move = _Attempts(*(_transient(0) for _ in range(5)))
    slept: list[float] = []
    with pytest.raises(TransferFailed) as error:
        retrying(move, what="img", retries=Retries(attempts=4, first_wait=0.5),
                 progress=lambda line: None, sleep=slept.append)  # fmt: skip
    assert move.calls == 4 and slept == [0.5, 1.0, 2.0]
    assert str(error.value) == (
        "pushing R: received unexpected HTTP status: 500 (failed all 4 attempts, 3.5 s of "
        "waits apart; the registry's own log says why)"
    )


@pytest.mark.parametrize(
    "failure",
    [
        TransferFailed("pushing R: unauthorized", transient=False),
        EngineUnreachable("no Docker engine answers"),
        EngineError("the engine would not tag img as R"),
    ],
)
def test_a_refusal_or_an_engine_failure_is_not_tried_again(failure: EngineError) -> None:
    move = _Attempts(failure)
    slept: list[float] = []
    with pytest.raises(EngineError) as error:
        retrying(move, what="img", retries=Retries(), progress=lambda line: None,
                 sleep=slept.append)  # fmt: skip
    assert error.value is failure and move.calls == 1 and slept == []


def test_the_default_retries_are_few_and_their_waits_short() -> None:
    assert Retries().attempts == 3 and Retries().total_wait == 6.0
    for bad in ({"attempts": 0}, {"first_wait": -1.0}):
        with pytest.raises(ValueError, match="attempts >= 1"):
            Retries(**bad)  # type: ignore[arg-type]
