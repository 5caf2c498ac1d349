"""The farm's stages for a set of cells: build their images, then test inside them.

``farm build``, ``farm test`` and ``farm run`` are thin wrappers over these functions, and a
GitHub Actions job runs the same stages for its one cell, so a local run and a CI run of a
cell do exactly the same work.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from farm import command, ids
from farm.containers import registry
from farm.containers.container import TestContainer
from farm.containers.engine import Engine, Progress
from farm.errors import EngineError
from farm.inputs.sources import Cache
from farm.plan.matrix import Cell
from farm.plan.scenario import Scenario
from farm.results import Outcome, TestResult
from farm.run import build
from farm.run.build import ImageStatus, PreparedScenario
from farm.run.compiler_cache import CompilerCaches
from farm.rundir import RunDir
from farm.testing import glibc_check, runner

TESTSUITE = Path(__file__).resolve().parents[1] / "testing" / "testsuite" / "test_matrix.py"
PYTEST_TIMEOUT = 4 * 3600


@dataclass(frozen=True, slots=True)
class CellImages:
    """What the build left of one cell's images: what the judge needs of them, handed over
    with the build (`BuiltCells.images`) so the judge asks neither the image plan nor this
    module (`cell_images` makes it)."""

    #: Of the series applied in the cell's build image (`farm.plan.render.ImageSpec`).
    series_sha256: str
    #: The status of each image the cell's test image is built from, and of the test image
    #: itself, root first; only those the build has a status of.
    chain: tuple[ImageStatus, ...]
    #: The test image's status; None when the build has none.
    test_image: ImageStatus | None


@dataclass(frozen=True, slots=True)
class BuiltCells:
    scenario: Scenario
    cells: tuple[Cell, ...]
    prepared: PreparedScenario
    statuses: dict[str, ImageStatus]
    base_image: str  # how the base image(s) were obtained
    #: By cell id, each cell whose series were all fetched (`cell_images`); a cell missing
    #: here has no images, its series did not fetch (``prepared.fetch_failures``).
    images: Mapping[str, CellImages]
    #: What ``--pull`` and ``--push`` did with a registry, image by image.
    pulled: tuple[registry.ImageTransfer, ...] = ()
    pushed: tuple[registry.ImageTransfer, ...] = ()
    #: What the cells' images compiled with, so their bisection prefixes compile alike.
    compiler_caches: CompilerCaches | None = None

    @property
    def push_failures(self) -> tuple[registry.ImageTransfer, ...]:
        return tuple(t for t in self.pushed if t.state is not registry.Transfer.PUSHED)

    def ready_test_image(self, cell: Cell) -> ImageStatus | None:
        """The status of ``cell``'s test image when it is there to test in, else None."""
        images = self.images.get(cell.id)
        status = images.test_image if images is not None else None
        return status if status is not None and status.state.ready else None


def test_image_name(cell: Cell) -> str:
    """The name, in its scenario's image plan, of the image ``cell``'s tests run in."""
    return ids.test_image_name(
        cell.arch.value, cell.variant, toolchain=cell.toolchain.image_qualifier
    )


def _fetched(cell: Cell, prepared: PreparedScenario) -> bool:
    """Whether every series ``cell`` applies was fetched (else it has no images to build)."""
    return all(
        name not in prepared.fetch_failures for name in prepared.decisions.series_of[cell.variant]
    )


def cell_images(
    cells: Iterable[Cell], prepared: PreparedScenario, statuses: Mapping[str, ImageStatus]
) -> dict[str, CellImages]:
    """By cell id, what the build left of the images of each of ``cells`` whose series were
    all fetched, from the plan the images were built by and their ``statuses``."""
    plan = prepared.plan
    images: dict[str, CellImages] = {}
    for cell in cells:
        if not _fetched(cell, prepared):
            continue
        name = test_image_name(cell)
        images[cell.id] = CellImages(
            series_sha256=plan.build_image(cell.arch, cell.variant, cell.toolchain).series_sha256,
            chain=tuple(statuses[i.name] for i in plan.ancestry(name) if i.name in statuses),
            test_image=statuses.get(name),
        )
    return images


def build_cells(
    engine: Engine,
    scenario: Scenario,
    cells: Iterable[Cell],
    *,
    cache: Cache,
    run_dir: RunDir,
    progress: Progress,
    compiler_caches: CompilerCaches | None,
    build_missing: bool = True,
    pull_from: registry.Registry | None = None,
    push_to: registry.Registry | None = None,
) -> BuiltCells:
    """Fetch, render and build the test images of ``cells`` (and everything below them),
    compiling with ``compiler_caches`` (None: ``--no-ccache``).

    Without ``build_missing`` (``--no-build``, a CI shard job) nothing is built: the test
    images must be here already (`build.present_images`), and no base image is needed.
    With ``pull_from``, what this engine lacks is pulled first (for ``--no-build`` only the
    test images, else their whole ancestry, parents first), and where that leaves nothing
    to build no base image is made either; with ``push_to``, every image of the cells'
    ancestry that is ready afterwards is pushed (see `farm.containers.registry`).
    """
    cells = tuple(cells)
    prepared = build.prepare(scenario, cache, progress)
    plan = prepared.plan
    names = [test_image_name(cell) for cell in cells if _fetched(cell, prepared)]
    needed = (
        registry.with_ancestors(plan, names) if build_missing else tuple(map(plan.by_name, names))
    )
    pulled = registry.pull_missing(engine, pull_from, plan, needed, progress) if pull_from else ()
    if not build_missing:
        statuses = build.present_images(engine, plan, names=names)
        return BuiltCells(
            scenario, cells, prepared, statuses, "not needed (--no-build)",
            cell_images(cells, prepared, statuses), pulled=pulled,
            compiler_caches=compiler_caches,
        )  # fmt: skip
    toolchains = {cell.toolchain.name: cell.toolchain for cell in cells}
    if pull_from is not None and all(
        t.state in (registry.Transfer.PRESENT, registry.Transfer.PULLED) for t in pulled
    ):
        base = "not needed (every image is here)"
    else:
        base = "; ".join(
            f"{name}: {engine.ensure_base_image(toolchain, progress)}"
            for name, toolchain in toolchains.items()
        )
    statuses = build.build_images(
        engine, plan, names=names, log_dir=run_dir.logs_dir, progress=progress,
        compiler_caches=compiler_caches,
    )  # fmt: skip
    ready = {s.name for s in statuses.values() if s.state.ready}
    pushed = (
        registry.push(engine, push_to, [i for i in needed if i.name in ready], progress)
        if push_to
        else ()
    )
    images = cell_images(cells, prepared, statuses)
    return BuiltCells(
        scenario, cells, prepared, statuses, base, images, pulled=pulled, pushed=pushed,
        compiler_caches=compiler_caches,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CellProbe:
    cell: str
    facts: dict[str, str]
    glibc_tests: tuple[str, ...]
    glibc_subdirs: tuple[str, ...] = ()  # run whole, by glibc_check


def probe_cells(
    engine: Engine, built: BuiltCells, *, run_dir: RunDir, progress: Progress
) -> dict[str, CellProbe]:
    """Per ready cell: the environment probe and the glibc tests its tree has."""
    probes: dict[str, CellProbe] = {}
    for cell in built.cells:
        image = built.ready_test_image(cell)
        if image is None:
            continue
        container = TestContainer(
            engine, image.tag, ids.container_name(ids.ContainerRole.PROBE, image.tag, os.getpid())
        )
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
        run_dir.write_probe(cell.id, facts, tests, subdirs)
        whole = f", {len(subdirs)} whole subdirectory(ies)" if subdirs else ""
        progress(
            f"{cell.id}: {facts.get('glibc', '?')}; built with {facts.get('gcc', '?')}, "
            f"{facts.get('ld_version', '?')} (-z unique: {facts.get('ld_z_unique')}) on "
            f"host glibc {facts.get('host_glibc', '?')}; rseq syscall: "
            f"{facts.get('rseq_syscall')}; {len(tests)} glibc test(s){whole}"
        )
        probes[cell.id] = probe
    return probes


def test_items(built: BuiltCells, probes: dict[str, CellProbe]) -> list[runner.TestItem]:
    scenario = built.scenario
    selected = scenario.tests.selected_cases
    items: list[runner.TestItem] = []
    for cell in built.cells:
        image = built.ready_test_image(cell)
        if cell.id not in probes or image is None:
            continue
        tests = [ids.farm_test_id(case.id) for case in selected]
        tests += [ids.glibc_test_id(name) for name in probes[cell.id].glibc_tests]
        tests += [ids.glibc_subdir_test_id(s) for s in probes[cell.id].glibc_subdirs]
        items += [
            runner.TestItem(
                cell.scenario_label,
                cell.arch,
                cell.variant,
                image.tag,
                test,
                scenario.timeout_factor,
                toolchain=cell.toolchain_label,
            )
            for test in tests
        ]
    return items


def run_tests(
    engine: Engine,
    items: list[runner.TestItem],
    *,
    run_dir: RunDir,
    workers: int | str,
    reruns: int,
    keyword: str | None = None,
) -> int:
    """Run ``items`` under pytest + xdist in a child process; returns pytest's exit status."""
    if not items:
        return 5
    directory = run_dir
    spec = directory.spec
    directory.results_dir.mkdir(parents=True, exist_ok=True)
    runner.write_spec(directory, items, reruns=reruns)
    argv = [
        sys.executable, "-m", "pytest", str(TESTSUITE),
        "-p", "farm.testing.pytest_plugin", "--farm-spec", str(spec), "--farm-reruns", str(reruns),
        "-c", os.devnull, "--rootdir", str(directory.root), "-p", "no:cacheprovider",
        "-n", str(workers), "--dist", "loadgroup",
        "--junitxml", str(directory.pytest_junit), "-o", "junit_family=xunit2",
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
        engine.reconnect(timeout=15)
    except EngineError as error:
        raise EngineError(f"the Docker engine went away during the test run: {error}") from None
    return outcome.returncode


def resume_items(
    items: list[runner.TestItem], *, run_dir: RunDir, reruns: int
) -> list[runner.TestItem]:
    """The items an interrupted run has not finished; the finished ones' results are kept.

    An item is finished when its last attempt needs no rerun or it used all its reruns; a whole
    glibc subdirectory (``glibc/elf/``) is never, since its check may have stopped halfway
    through writing its tests' records. Attempts of
    unfinished items are dropped (the item runs again from attempt 1), so every test's
    attempt history stays consistent. The kept results are written to a new file before the
    old files go, so a second interruption loses nothing either.
    """
    directory = run_dir
    # An unreadable line (torn by the interruption) is an attempt that did not finish: its
    # item is not finished either, so it runs again and no evidence is lost.
    found, _unreadable = directory.read_results()
    attempts: dict[tuple[str, str, str, str], list[TestResult]] = {}
    for result in found:
        key = (result.scenario, result.arch, result.variant, result.test)
        attempts.setdefault(key, []).append(result)
    finished = {key for key, tries in attempts.items() if not tries[-1].rerun_follows(reruns)}
    # A whole-subdirectory item has no record of its own, so it always runs again; the
    # records its earlier run left are dropped rather than doubled.
    whole = {
        (i.scenario, i.arch.value, i.variant, i.test)
        for i in items
        if ids.subdir_of_test(i.test) is not None
    }
    finished = {
        key
        for key in finished
        if not any(key[:3] == sub[:3] and key[3].startswith(sub[3]) for sub in whole)
    }
    kept = [r for key in sorted(finished) for r in sorted(attempts[key], key=lambda r: r.attempt)]
    directory.replace_results(kept)
    return [
        item
        for item in items
        if (item.scenario, item.arch.value, item.variant, item.test) not in finished
    ]


def load_results(run_dir: RunDir) -> list[TestResult]:
    """The results that can be read (for the summary table; the gate reads with RunDir too)."""
    return list(run_dir.read_results()[0])


def summary_table(results: list[TestResult]) -> str:
    """Outcome counts per cell (scenario label, variant, arch), counting each test's final
    attempt.

    A test is one per cell, and a cell's scenario label carries its toolchain when the
    scenario builds with several: keyed without it, a PASS on one toolchain and a FAIL on
    another were one test, and printed as one FAIL. The scenario column is shown when the
    results have more than one label, so a one-toolchain run prints what it always did.
    """
    final: dict[tuple[str, str, str, str], TestResult] = {}
    for result in results:
        key = (result.scenario, result.variant, result.arch, result.test)
        if key not in final or result.attempt >= final[key].attempt:
            final[key] = result
    counts: dict[tuple[str, str, str], dict[Outcome, int]] = {}
    for (scenario, variant, arch, _), result in sorted(final.items()):
        row = counts.setdefault((scenario, variant, arch), {})
        row[result.outcome] = row.get(result.outcome, 0) + 1
    several = len({scenario for scenario, _, _ in counts}) > 1
    header = [*(["scenario"] if several else []), "variant", "arch", *Outcome]
    rows = [header] + [
        [*([scenario] if several else []), variant, arch, *(str(row.get(o, 0)) for o in Outcome)]
        for (scenario, variant, arch), row in counts.items()
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip() for r in rows)
