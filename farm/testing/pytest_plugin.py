"""The only code that knows pytest: it turns a run spec into one pytest item per (image, test).

``farm test`` writes the spec (``farm.testing.runner.write_spec``) and starts pytest with this
plugin and pytest-xdist. Every item carries ``xdist_group(<image tag>)`` so, with ``--dist
loadgroup``, one image's tests stay on one worker, which keeps one container per image.
Results are appended as JSON lines the moment each item finishes, so an interrupted run
keeps what it has; JUnit XML comes from pytest's own ``--junitxml``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from farm import ids, outcome
from farm.results import Outcome, TestResult
from farm.rundir import RunDir
from farm.testing import glibc_check, runner


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--farm-spec", action="store", help="run spec written by `farm test`")
    parser.addoption("--farm-reruns", action="store", default="0", help="reruns of a bad outcome")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): keep items of one image on one worker")


def _spec(config: pytest.Config) -> dict[str, Any]:
    path = config.getoption("--farm-spec")
    if not path:
        raise pytest.UsageError("the farm test suite needs --farm-spec (run it via `farm test`)")
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "farm_item" not in metafunc.fixturenames:
        return
    items = [runner.TestItem.from_dict(raw) for raw in _spec(metafunc.config)["items"]]
    metafunc.parametrize(
        "farm_item",
        [
            pytest.param(item, id=item.id, marks=pytest.mark.xdist_group(item.image))
            for item in items
        ],
    )


@pytest.fixture(scope="session")
def farm_containers(worker_id: str) -> Iterator[runner.ContainerPool]:
    """This worker's containers, one (or two) per image, kept for the whole session."""
    from farm.containers.engine import Engine

    containers = runner.ContainerPool(Engine.connect, ids.ContainerRole.TEST, worker=worker_id)
    try:
        yield containers
    finally:
        containers.stop_all()


@pytest.fixture(scope="session")
def farm_run_dir(request: pytest.FixtureRequest, worker_id: str) -> RunDir:
    return RunDir(Path(_spec(request.config)["run_dir"]))


def run_and_record(
    item: runner.TestItem,
    containers: runner.ContainerPool,
    run_dir: RunDir,
    worker: str,
    reruns: int,
) -> TestResult:
    """Run ``item``, rerunning it up to ``reruns`` times while ``farm.outcome`` says an
    attempt needs confirming; every attempt is kept."""
    container = containers.for_item(item)
    return runner.run_with_reruns(
        lambda attempt: runner.run_item(container, item, attempt=attempt),
        reruns=reruns,
        record=lambda result: run_dir.append_result(result, worker=worker),
    )


def report(result: TestResult) -> None:
    """Turn the farm's outcome into pytest's (`farm.outcome.reported_as`, which JUnit XML
    follows too), for the terminal and the JUnit file."""
    shown = outcome.reported_as(result.seen)
    if shown is outcome.Report.SKIPPED:
        last_line = (result.output.strip().splitlines() or [""])[-1]
        pytest.skip(f"UNSUPPORTED: {last_line}")
    if shown is outcome.Report.XFAILED:
        why = "expected by glibc" if result.outcome is Outcome.XFAIL else "expect: crash"
        pytest.xfail(f"{result.label} ({why})")
    if shown in (outcome.Report.FAILED, outcome.Report.ERROR):
        pytest.fail(f"{result.label}\n{result.output[-3000:]}", pytrace=False)


def run_and_record_subdir(
    item: runner.TestItem,
    subdir: str,
    containers: runner.ContainerPool,
    run_dir: RunDir,
    worker: str,
    reruns: int,
) -> None:
    """Run a whole glibc subdirectory's ``make check`` (one record per glibc test, bad ones
    rerun test by test) and fail the item when a test is bad or the summary was not clean."""
    container = containers.for_item(item)
    check, finals = glibc_check.run_subdir_check(
        container,
        subdir,
        runner.check_context(item),
        record=lambda result: run_dir.append_result(result, worker=worker),
        reruns=reruns,
    )
    bad = [r for r in finals if not r.is_good]
    counts: dict[str, int] = {}
    for result in finals:
        counts[result.label] = counts.get(result.label, 0) + 1
    lines = [
        f"make check in {subdir}/: {len(finals)} test(s): "
        + ", ".join(f"{n} {label}" for label, n in sorted(counts.items())),
        *(str(anomaly) for anomaly in check.anomalies),
        *(f"{r.label}: {r.test}" for r in bad),
    ]
    if bad or check.anomalies:
        pytest.fail("\n".join(lines), pytrace=False)
