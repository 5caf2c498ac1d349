"""From run directories (one, or many: one per CI cell) to a gate verdict and its reports.

``farm.rundir`` owns the run directory's files and validates what is read back; this module
converts the scenario and those records into ``farm.judging.gate``'s inputs and writes the reports
of ``farm.report``; the gate itself stays a pure function. ``farm.judging.history`` owns the flaky
history file; this module turns a verdict into the observations recorded there.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import shlex
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from farm import ids
from farm.errors import UsageError
from farm.inputs.try_series import TryRecord
from farm.judging import gate, history
from farm.plan import shard
from farm.plan.matrix import Cell
from farm.plan.scenario import (
    ALL_SUBDIRS,
    EXTRA_SERIES,
    EXTRA_SERIES_ENV,
    GitSource,
    Scenario,
    ThreadPatches,
    UrlPatches,
)
from farm.report import html, junit, markdown, patchwork
from farm.report import json as json_report
from farm.results import TestResult
from farm.run.build import ImageState
from farm.run.pipeline import BuiltCells
from farm.rundir import RunDir, read_all

_PHASE_STATE: dict[str, gate.CellState] = {
    ids.BuildPhase.PATCH_APPLY: gate.CellState.PATCH_FAILED,
    ids.BuildPhase.CONFIGURE: gate.CellState.CONFIGURE_FAILED,
    ids.BuildPhase.BUILD: gate.CellState.BUILD_FAILED,
    ids.BuildPhase.SOURCE: gate.CellState.SOURCE_FAILED,
}


def reproducer(scenario: Scenario, cell_id: str, commit: str = "") -> str:
    """The command line that builds and tests exactly this cell again: on a git source, on
    the commit its ref named in this run (``--base``), for ``master`` will have moved on."""
    command = f"farm run {shlex.quote(str(scenario.path))} --only {cell_id}"
    if commit and isinstance(scenario.source, GitSource):
        command += f" --base {commit}"
    extra = next((s for s in scenario.series if s.name == EXTRA_SERIES), None)
    if extra is not None and isinstance(extra.source, UrlPatches):
        command = f"{EXTRA_SERIES_ENV}={shlex.quote(extra.source.url)} {command}"
    elif extra is not None and isinstance(extra.source, ThreadPatches):
        command = f"{EXTRA_SERIES_ENV}={shlex.quote(extra.source.message_id)} {command}"
    return command


def cell_statuses(built: BuiltCells) -> list[gate.CellStatus]:
    """The gate's view of each cell of a build: how far it got, and its identity."""
    scenario = built.scenario
    statuses: list[gate.CellStatus] = []
    for cell in built.cells:
        series = built.prepared.decisions.series_of[cell.variant]
        common: dict[str, Any] = {
            "scenario": cell.scenario_label,
            "arch": cell.arch.value,
            "variant": cell.variant,
            "source_sha256": built.prepared.source_sha256,
            "source_commit": built.prepared.source_commit,
            "reproducer": reproducer(scenario, cell.id, built.prepared.source_commit),
        }
        failed_fetch = [
            built.prepared.fetch_failures[name]
            for name in series
            if name in built.prepared.fetch_failures
        ]
        if failed_fetch:
            statuses.append(
                gate.CellStatus(
                    state=gate.CellState.SOURCE_FAILED, message=failed_fetch[0], **common
                )
            )
            continue
        images = built.images[cell.id]
        series_sha256 = images.series_sha256
        # The first image of the cell's chain that failed tells why the cell has no tests.
        failed = next((s for s in images.chain if s.state is ImageState.FAILED), None)
        if failed is not None and failed.error is not None:
            error = failed.error
            state = _PHASE_STATE.get(error.phase, gate.CellState.BUILD_FAILED)
            patch = (
                gate.FailedPatch(error.patch_number, error.patch_subject, error.reject)
                if error.patch_number is not None
                else None
            )
            statuses.append(
                gate.CellStatus(
                    state=state,
                    message=str(error).splitlines()[0],
                    failed_patch=patch,
                    series_sha256=series_sha256,
                    **common,
                )
            )
            continue
        test_status = images.test_image
        if test_status is None or not test_status.state.ready:
            statuses.append(
                gate.CellStatus(state=gate.CellState.NOT_RUN, series_sha256=series_sha256, **common)
            )
            continue
        statuses.append(
            gate.CellStatus(
                state=gate.CellState.BUILT,
                image_tag=test_status.tag,
                image_id=test_status.image_id,
                series_sha256=series_sha256,
                **common,
            )
        )
    return statuses


def write_run_state(
    run_dir: Path, built: BuiltCells, *, shard_of: shard.Shard | None = None
) -> None:
    """Persist cell states and series patch lists into the run directory; a shard job's
    directory also says which shard it holds, of which builds (``farm.plan.shard``)."""
    directory = RunDir(run_dir)
    statuses = cell_statuses(built)
    for status in statuses:
        directory.write_cell(status)
    if shard_of is not None:
        tested = tuple(shard.ShardedCell(s.cell, s.image_id, s.series_sha256) for s in statuses)
        directory.write_shard(shard.ShardRecord(shard_of.index, shard_of.count, tested))
    directory.write_series(
        {
            name: [gate.SeriesPatch(p.number, p.subject) for p in patches]
            for name, patches in built.prepared.series_patches.items()
        }
    )


def write_bisection(run_dir: Path, result: gate.BisectResult) -> None:
    RunDir(run_dir).write_bisection(result)


def _with_missing_cells(
    scenario: Scenario,
    cells: list[gate.CellStatus],
    results: Iterable[TestResult],
    expected: Iterable[Cell],
) -> list[gate.CellStatus]:
    present = {c.cell for c in cells} | {r.cell for r in results}
    missing = [
        gate.CellStatus(
            scenario=cell.scenario_label,
            arch=cell.arch.value,
            variant=cell.variant,
            state=gate.CellState.NOT_RUN,
            message="no run directory holds this cell (job cancelled or artifact lost?)",
            reproducer=reproducer(scenario, cell.id),
        )
        for cell in expected
        if cell.id not in present
    ]
    return cells + missing


def evaluate(
    scenario: Scenario,
    run_dirs: list[Path],
    *,
    cells: Sequence[Cell],
    expected_cells: Iterable[Cell] = (),
    today: datetime.date | None = None,
    past: history.History | None = None,
) -> gate.GateResult:
    """The gate's verdict over every cell, result and bisection found in ``run_dirs``.

    ``cells`` are every cell of ``scenario`` as the caller made them (`farm.plan.matrix.cells`):
    the judge takes the scenario's columns and each cell's shards from them and never makes
    them again, so it judges the cells the run was given, whatever made them.
    Each of ``expected_cells`` that no run directory holds (a CI job cancelled, its artifact
    lost) counts as NOT_RUN, so its series cannot be accepted on what is missing; a cell
    with a shard missing, or held as two builds, is UNDECIDED (``farm.plan.shard.problems``).
    A record that cannot be read leaves the verdicts it could change UNDECIDED, naming the file. A
    regression must reproduce on a rerun unless every directory's run.json says the runner
    had no reruns (``--reruns 0``). ``past`` is the flaky history as it was before this run
    (None: no history); record this run in it with `record_history` once judged.
    """
    expected_cells = list(expected_cells)
    known = {cell.id for cell in cells}
    if stray := [cell.id for cell in expected_cells if cell.id not in known]:
        raise ValueError(f"expected cells {', '.join(stray)} are none of the scenario's cells")
    records = read_all([RunDir(d) for d in run_dirs])  # handed over whole, not pulled back
    labels = {cell.scenario_label for cell in cells}
    for directory, found in records.scenarios:
        foreign = sorted(found - labels)
        if foreign:
            raise UsageError(
                f"{directory}: a run directory of scenario {', '.join(foreign)}, not of "
                f"{scenario.path} ({', '.join(sorted(labels))}); gate it with its own "
                "scenario, or leave it out"
            )
    split = {cell.id: cell.shards for cell in cells}
    incomplete = tuple(
        gate.UnreadableRecord(where="shards", problem=problem, cell=cell)
        for cell, problem in shard.problems(records.shards, records.builds, split)
    )
    patches = records.series
    series_infos = [
        gate.SeriesInfo(name=s.name, patches=patches.get(s.name, ())) for s in scenario.series
    ]
    if scenario.stacked:
        stacked = tuple(
            gate.SeriesPatch(index, f"{s.name}: {p.subject}")
            for index, (s, p) in enumerate(
                ((s, p) for s in scenario.series for p in patches.get(s.name, ())), start=1
            )
        )
        series_infos.append(gate.SeriesInfo(name=ids.STACKED, patches=stacked))
    return gate.evaluate(
        records.results,
        _with_missing_cells(scenario, list(records.cells), records.results, expected_cells),
        require_reproduction=records.require_reproduction,
        today=today or datetime.date.today(),
        series=series_infos,
        # A scenario's expectations hold on each of its toolchains: the gate knows a toolchain
        # as the scenario label of its cells (farm.plan.matrix.Cell.scenario_label).
        expectations=[
            dataclasses.replace(e, scenario=label)
            for label in dict.fromkeys(c.scenario_label for c in cells)
            for e in scenario.expectations
        ],
        flaky=scenario.flaky,
        bisections=records.bisections,
        unreadable=records.unreadable + incomplete,
        history=past,
        selects=selection(scenario),
    )


def selection(scenario: Scenario) -> Callable[[str], bool]:
    """Whether the scenario selects a test id: its cases, its glibc globs, the tests of the
    subdirectories it runs whole. A record of any other test is no evidence about it (a
    directory of another selection, a hand-made record), so the gate does not judge it."""
    chosen = scenario.tests
    cases = {ids.farm_test_id(c.id) for c in chosen.selected_cases}
    subdirs = set(chosen.glibc_subdirs)

    def selects(test: str) -> bool:
        if test in cases:
            return True
        if not test.startswith("glibc/"):
            return False
        name = test.removeprefix("glibc/")
        if ALL_SUBDIRS in subdirs or name.split("/", 1)[0] in subdirs:
            return True
        return any(fnmatch.fnmatchcase(name, glob) for glob in chosen.glibc_globs)

    return selects


def observations(result: gate.GateResult) -> list[history.Observation]:
    """What this run saw, for the history: each test's final label on its cell's image.

    Only cells that built and name their image: without an image id there is no "same
    image" to compare a later run with.
    """
    images = {
        c.cell: c.image_id for c in result.cells if c.state is gate.CellState.BUILT and c.image_id
    }
    return [
        history.Observation(tested.cell, images[tested.cell], tested.test, tested.label)
        for tested in result.histories
        if tested.cell in images
    ]


def record_history(path: Path, result: gate.GateResult, run: str) -> history.History:
    """Add this judged run to the flaky history in ``path`` (after the verdict: a run never
    excuses itself; its own disagreeing attempts are the gate's FLAKY rule already)."""
    return history.update(path, run, observations(result), on=result.today)


def write_reports(
    result: gate.GateResult,
    out_dir: Path,
    *,
    step_summary: Path | None,
    tried: TryRecord | None = None,
) -> dict[str, Path]:
    """Every report format into ``out_dir``; the markdown also to GitHub's step summary.
    ``tried``: what ``farm try`` tried, for the reports' "Tried" section."""
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = RunDir(out_dir)
    paths = {
        "markdown": markdown.write_markdown(result, reports.report_file("markdown"), tried=tried),
        "html": html.write_html(result, reports.report_file("html"), tried=tried),
        "json": json_report.write_json(result, reports.report_file("json"), tried=tried),
        "junit": junit.write_junit(result, reports.report_file("junit")),
        "patchwork": patchwork.write_patchwork(result, reports.report_file("patchwork")),
    }
    markdown.append_step_summary(result, step_summary, tried=tried)
    return paths
