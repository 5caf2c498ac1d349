"""From a run directory (or many, one per CI cell) to a gate verdict and its reports.

A run directory holds everything the gate needs, as files, so a verdict can be computed on
another machine from downloaded artifacts exactly as it is at the end of a local run:

    cells/<cell>.json      the cell's build state, image ids, hashes, reproducer
    results/*.jsonl        one record per test attempt (farm.results)
    series.json            each series' patches (number, subject), for naming a bad patch
    bisect/*.json          the first bad patch of each regressed series and arch

This module converts the scenario and those files into ``farm.gate``'s inputs and writes the
reports of ``farm.report``; the gate itself stays a pure function.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from farm import gate, matrix
from farm.build import ImageState
from farm.matrix import Cell
from farm.pipeline import BuiltCells, test_image_name
from farm.report import html, junit, markdown, patchwork
from farm.report import json as json_report
from farm.results import TestResult, read_results
from farm.scenario import EXTRA_SERIES, EXTRA_SERIES_ENV, Scenario, UrlPatches

_PHASE_STATE = {
    "patch-apply": gate.CellState.PATCH_FAILED,
    "configure": gate.CellState.CONFIGURE_FAILED,
    "build": gate.CellState.BUILD_FAILED,
    "source": gate.CellState.SOURCE_FAILED,
}


def reproducer(scenario: Scenario, cell_id: str) -> str:
    """The command line that builds and tests exactly this cell again."""
    command = f"farm run {shlex.quote(str(scenario.path))} --only {cell_id}"
    extra = next((s for s in scenario.series if s.name == EXTRA_SERIES), None)
    if extra is not None and isinstance(extra.source, UrlPatches):
        command = f"{EXTRA_SERIES_ENV}={shlex.quote(extra.source.url)} {command}"
    return command


def cell_statuses(built: BuiltCells) -> list[gate.CellStatus]:
    """The gate's view of each cell of a build: how far it got, and its identity."""
    scenario = built.scenario
    statuses: list[gate.CellStatus] = []
    for cell in built.cells:
        series = scenario.series_of_variant(cell.variant)
        common: dict[str, Any] = {
            "scenario": cell.scenario_label,
            "arch": cell.arch.value,
            "variant": cell.variant,
            "source_sha256": built.prepared.source_sha256,
            "reproducer": reproducer(scenario, cell.id),
        }
        failed_fetch = [
            built.prepared.fetch_failures[s.name]
            for s in series
            if s.name in built.prepared.fetch_failures
        ]
        if failed_fetch:
            statuses.append(
                gate.CellStatus(
                    state=gate.CellState.SOURCE_FAILED, message=failed_fetch[0], **common
                )
            )
            continue
        plan = built.prepared.plan
        series_sha256 = plan.build_image(cell.arch, cell.variant, cell.toolchain).series_sha256
        # The first image of the cell's chain that failed tells why the cell has no tests.
        chain = plan.ancestry(test_image_name(cell))
        failed = next(
            (built.statuses[i.name] for i in chain if i.name in built.statuses
             and built.statuses[i.name].state is ImageState.FAILED),
            None,
        )  # fmt: skip
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
        test_status = built.statuses.get(test_image_name(cell))
        if test_status is None or test_status.state not in (ImageState.BUILT, ImageState.REUSED):
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


def write_run_state(run_dir: Path, built: BuiltCells) -> None:
    """Persist cell states and series patch lists into the run directory."""
    (run_dir / "cells").mkdir(parents=True, exist_ok=True)
    for status in cell_statuses(built):
        data = dataclasses.asdict(status)
        (run_dir / "cells" / f"{status.cell}.json").write_text(
            json.dumps(data, indent=2, sort_keys=True)
        )
    series = {
        name: [{"number": p.number, "subject": p.subject} for p in patches]
        for name, patches in built.prepared.series_patches.items()
    }
    (run_dir / "series.json").write_text(json.dumps(series, indent=2, sort_keys=True))


def write_bisection(run_dir: Path, result: gate.BisectResult) -> None:
    (run_dir / "bisect").mkdir(parents=True, exist_ok=True)
    path = run_dir / "bisect" / f"{result.scenario}-{result.arch}-{result.series}.json"
    path.write_text(json.dumps(dataclasses.asdict(result), indent=2, sort_keys=True))


def _read_cells(run_dirs: Iterable[Path]) -> list[gate.CellStatus]:
    cells: list[gate.CellStatus] = []
    for run_dir in run_dirs:
        for path in sorted((run_dir / "cells").glob("*.json")):
            data = json.loads(path.read_text())
            data["state"] = gate.CellState(data["state"])
            if data.get("failed_patch"):
                data["failed_patch"] = gate.FailedPatch(**data["failed_patch"])
            cells.append(gate.CellStatus(**data))
    return cells


def _with_missing_cells(
    scenario: Scenario,
    cells: list[gate.CellStatus],
    results: Iterable[TestResult],
    expected: Iterable[Cell],
) -> list[gate.CellStatus]:
    present = {c.cell for c in cells} | {f"{r.scenario}-{r.arch}-{r.variant}" for r in results}
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


def _read_series(run_dirs: Iterable[Path]) -> dict[str, tuple[gate.SeriesPatch, ...]]:
    series: dict[str, tuple[gate.SeriesPatch, ...]] = {}
    for run_dir in run_dirs:
        path = run_dir / "series.json"
        if path.is_file():
            for name, patches in json.loads(path.read_text()).items():
                series[name] = tuple(gate.SeriesPatch(p["number"], p["subject"]) for p in patches)
    return series


def _read_bisections(run_dirs: Iterable[Path]) -> list[gate.BisectResult]:
    found: list[gate.BisectResult] = []
    for run_dir in run_dirs:
        for path in sorted((run_dir / "bisect").glob("*.json")):
            data = json.loads(path.read_text())
            data["first_bad_patch"] = gate.SeriesPatch(**data["first_bad_patch"])
            data["tests"] = tuple(data["tests"])
            found.append(gate.BisectResult(**data))
    return found


def evaluate(
    scenario: Scenario,
    run_dirs: list[Path],
    *,
    expected_cells: Iterable[Cell] = (),
    today: datetime.date | None = None,
) -> gate.GateResult:
    """The gate's verdict over every cell, result and bisection found in ``run_dirs``.

    Each of ``expected_cells`` that no run directory holds (a CI job cancelled, its artifact
    lost) counts as NOT_RUN, so its series cannot be accepted on what is missing.
    """
    patches = _read_series(run_dirs)
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
        series_infos.append(gate.SeriesInfo(name="stacked", patches=stacked))
    results = list(
        read_results(sorted(p for d in run_dirs for p in (d / "results").glob("*.jsonl")))
    )
    return gate.evaluate(
        results,
        _with_missing_cells(scenario, _read_cells(run_dirs), results, expected_cells),
        require_reproduction=True,
        today=today or datetime.date.today(),
        series=series_infos,
        # A scenario's expectations hold on each of its toolchains: the gate knows a toolchain
        # as the scenario label of its cells (farm.matrix.Cell.scenario_label).
        expectations=[
            gate.Expectation(e.variant, e.test, e.outcome, e.arch.value if e.arch else None, label)
            for label in dict.fromkeys(c.scenario_label for c in matrix.cells([scenario]))
            for e in scenario.expectations
        ],
        flaky=[
            gate.FlakyEntry(f.test, f.reason, f.expires, f.arch.value if f.arch else None)
            for f in scenario.flaky
        ],
        bisections=_read_bisections(run_dirs),
    )


def write_reports(
    result: gate.GateResult, out_dir: Path, *, step_summary: Path | None
) -> dict[str, Path]:
    """Every report format into ``out_dir``; the markdown also to GitHub's step summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": markdown.write_markdown(result, out_dir / "report.md"),
        "html": html.write_html(result, out_dir / "report.html"),
        "json": json_report.write_json(result, out_dir / "report.json"),
        "junit": junit.write_junit(result, out_dir / "junit.xml"),
        "patchwork": patchwork.write_patchwork(result, out_dir / "patchwork-checks.json"),
    }
    markdown.append_step_summary(result, step_summary)
    return paths
