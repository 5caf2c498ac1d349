"""The farm's stages for a set of cells: build their images, then test inside them.

``farm build``, ``farm test`` and ``farm run`` are thin wrappers over these functions, and a
GitHub Actions job runs the same stages for its one cell, so a local run and a CI run of a
cell do exactly the same work.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import docker

from farm import build, command, engine, glibc_check, runner
from farm import cases as case_library
from farm.build import ImageState, ImageStatus, PreparedScenario
from farm.container import TestContainer
from farm.errors import EngineError
from farm.matrix import Cell
from farm.results import TestResult, read_results
from farm.scenario import Scenario
from farm.sources import Cache

TESTSUITE = Path(__file__).resolve().parent / "testsuite" / "test_matrix.py"
PYTEST_TIMEOUT = 4 * 3600


@dataclass(frozen=True, slots=True)
class BuiltCells:
    scenario: Scenario
    cells: tuple[Cell, ...]
    prepared: PreparedScenario
    statuses: dict[str, ImageStatus]
    base_image: str  # how the base image was obtained

    def test_image_ready(self, cell: Cell) -> bool:
        status = self.statuses.get(f"test-{cell.arch.value}-{cell.variant}")
        return status is not None and status.state in (ImageState.BUILT, ImageState.REUSED)


def build_cells(
    client: docker.DockerClient,
    scenario: Scenario,
    cells: Iterable[Cell],
    *,
    cache: Cache,
    run_dir: Path,
    progress: engine.Progress,
) -> BuiltCells:
    """Fetch, render and build the test images of ``cells`` (and everything below them)."""
    cells = tuple(cells)
    prepared = build.prepare(scenario, cache, progress)
    base = engine.ensure_base_image(client, progress)
    names = [
        f"test-{cell.arch.value}-{cell.variant}"
        for cell in cells
        if all(
            s.name not in prepared.fetch_failures for s in scenario.series_of_variant(cell.variant)
        )
    ]
    statuses = build.build_images(
        client, prepared.plan, names=names, log_dir=run_dir / "logs", progress=progress
    )
    return BuiltCells(scenario, cells, prepared, statuses, base)


@dataclass(frozen=True, slots=True)
class CellProbe:
    cell: str
    facts: dict[str, str]
    glibc_tests: tuple[str, ...]
    glibc_subdirs: tuple[str, ...] = ()  # run whole, by glibc_check


def probe_cells(
    client: docker.DockerClient, built: BuiltCells, *, run_dir: Path, progress: engine.Progress
) -> dict[str, CellProbe]:
    """Per ready cell: the environment probe and the glibc tests its tree has."""
    probes: dict[str, CellProbe] = {}
    (run_dir / "probes").mkdir(parents=True, exist_ok=True)
    for cell in built.cells:
        if not built.test_image_ready(cell):
            continue
        image = built.prepared.plan.test_image(cell.arch, cell.variant)
        container = TestContainer(client, image.tag, f"farm-probe-{image.digest}-{os.getpid()}")
        container.start()
        try:
            facts = runner.probe(container)
            selection = built.scenario.tests
            tests = (
                tuple(runner.list_glibc_tests(container, selection.glibc_globs))
                if selection.glibc_globs
                else ()
            )
            subdirs = glibc_check.resolve_subdirs(container, selection.glibc_subdirs)
        finally:
            container.stop()
        probe = CellProbe(cell.id, facts, tests, subdirs)
        (run_dir / "probes" / f"{cell.id}.json").write_text(
            json.dumps(
                {"facts": facts, "glibc_tests": list(tests), "glibc_subdirs": list(subdirs)},
                indent=2,
                sort_keys=True,
            )
        )
        whole = f", {len(subdirs)} whole subdirectory(ies)" if subdirs else ""
        progress(
            f"{cell.id}: {facts.get('glibc', '?')}; rseq syscall: {facts.get('rseq_syscall')}; "
            f"ld -z unique: {facts.get('ld_z_unique')}; {len(tests)} glibc test(s){whole}"
        )
        probes[cell.id] = probe
    return probes


def test_items(built: BuiltCells, probes: dict[str, CellProbe]) -> list[runner.TestItem]:
    scenario = built.scenario
    selected = (
        case_library.select_cases(case_library.load_cases(), scenario.tests.cases)
        if scenario.tests.cases
        else ()
    )
    items: list[runner.TestItem] = []
    for cell in built.cells:
        if cell.id not in probes:
            continue
        image = built.prepared.plan.test_image(cell.arch, cell.variant).tag
        tests = [f"farm/{case.id}" for case in selected]
        tests += [f"glibc/{name}" for name in probes[cell.id].glibc_tests]
        tests += [glibc_check.subdir_item_test(s) for s in probes[cell.id].glibc_subdirs]
        items += [
            runner.TestItem(
                scenario.name, cell.arch, cell.variant, image, test, scenario.timeout_factor
            )
            for test in tests
        ]
    return items


def run_tests(
    items: list[runner.TestItem],
    *,
    run_dir: Path,
    workers: int | str,
    reruns: int,
    keyword: str | None = None,
) -> int:
    """Run ``items`` under pytest + xdist in a child process; returns pytest's exit status."""
    if not items:
        return 5
    spec = run_dir / "spec.json"
    results_dir = run_dir / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    runner.write_spec(spec, items, results_dir=results_dir, reruns=reruns)
    argv = [
        sys.executable, "-m", "pytest", str(TESTSUITE),
        "-p", "farm.pytest_plugin", "--farm-spec", str(spec), "--farm-reruns", str(reruns),
        "-c", os.devnull, "--rootdir", str(run_dir), "-p", "no:cacheprovider",
        "-n", str(workers), "--dist", "loadgroup",
        "--junitxml", str(run_dir / "pytest-junit.xml"), "-o", "junit_family=xunit2",
        "-q", "-rfE", "--no-header",
    ]  # fmt: skip
    if keyword:
        argv += ["-k", keyword]
    outcome = command.run_supervised(argv, timeout=PYTEST_TIMEOUT)
    if outcome.timed_out:
        raise EngineError(f"the test run exceeded {PYTEST_TIMEOUT} s and was stopped")
    # Items whose container the engine dropped errored without a result. Say so, instead of
    # letting the gate see missing tests: no test failed, the engine did.
    try:
        engine.connect(timeout=15)
    except EngineError as error:
        raise EngineError(f"the Docker engine went away during the test run: {error}") from None
    return outcome.returncode


def resume_items(
    items: list[runner.TestItem], *, run_dir: Path, reruns: int
) -> list[runner.TestItem]:
    """The items an interrupted run has not finished; the finished ones' results are kept.

    An item is finished when its last attempt was good or it used all its reruns; a whole
    glibc subdirectory (``glibc/elf/``) is never, since its check may have stopped halfway
    through writing its tests' records. Attempts of
    unfinished items are dropped (the item runs again from attempt 1), so every test's
    attempt history stays consistent. The kept results are written to a new file before the
    old files go, so a second interruption loses nothing either.
    """
    results_dir = run_dir / "results"
    old_files = sorted(results_dir.glob("*.jsonl")) if results_dir.is_dir() else []
    attempts: dict[tuple[str, str, str, str], list[TestResult]] = {}
    for result in read_results(old_files):
        key = (result.scenario, result.arch, result.variant, result.test)
        attempts.setdefault(key, []).append(result)
    finished = {key for key, tries in attempts.items() if tries[-1].is_good or len(tries) > reruns}
    # A whole-subdirectory item has no record of its own, so it always runs again; the
    # records its earlier run left are dropped rather than doubled.
    whole = {
        (i.scenario, i.arch.value, i.variant, i.test)
        for i in items
        if glibc_check.item_subdir(i.test) is not None
    }
    finished = {
        key
        for key in finished
        if not any(key[:3] == sub[:3] and key[3].startswith(sub[3]) for sub in whole)
    }
    kept = [r for key in sorted(finished) for r in sorted(attempts[key], key=lambda r: r.attempt)]
    if old_files:
        merged = results_dir / f"resumed-{os.getpid()}.jsonl.tmp"
        merged.write_text("".join(r.to_json() + "\n" for r in kept), encoding="utf-8")
        merged.replace(results_dir / f"resumed-{os.getpid()}.jsonl")
        for path in old_files:
            if path.name != f"resumed-{os.getpid()}.jsonl":
                path.unlink()
    return [
        item
        for item in items
        if (item.scenario, item.arch.value, item.variant, item.test) not in finished
    ]


def load_results(run_dir: Path) -> list[TestResult]:
    return list(read_results(sorted((run_dir / "results").glob("*.jsonl"))))


def summary_table(results: list[TestResult]) -> str:
    """Outcome counts per variant x arch, counting each test's final attempt."""
    final: dict[tuple[str, str, str], TestResult] = {}
    for result in results:
        key = (result.variant, result.arch, result.test)
        if key not in final or result.attempt >= final[key].attempt:
            final[key] = result
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for (variant, arch, _), result in sorted(final.items()):
        row = counts.setdefault((variant, arch), {})
        row[result.outcome.value] = row.get(result.outcome.value, 0) + 1
    columns = ["PASS", "FAIL", "UNSUPPORTED", "XFAIL", "XPASS", "TIMEOUT", "CRASH", "ERROR"]
    header = ["variant", "arch", *columns]
    rows = [header] + [
        [variant, arch, *(str(row.get(c, 0)) for c in columns)]
        for (variant, arch), row in counts.items()
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip() for r in rows)
