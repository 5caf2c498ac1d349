"""``farm run``: render, build, test, bisect regressions and gate: one verdict per series."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from farm import bisect, pipeline, verdict
from farm.commands.common import Session, build_and_test, progress, run_session
from farm.gate import ChangeKind, GateResult
from farm.report import markdown


def run(args: argparse.Namespace) -> int:
    return run_session("run", args, lambda session: _run(session, args))


def _run(session: Session, args: argparse.Namespace) -> int:
    built = build_and_test(session, args)
    scenario, cells, directory = session.scenario, session.cells, session.directory
    if args.no_gate:
        return 0 if all(built.test_image_ready(c) for c in cells) else 1

    result = verdict.evaluate(scenario, [directory], expected_cells=cells)
    if not args.no_bisect and _bisect_regressions(session.client, built, result, directory):
        result = verdict.evaluate(scenario, [directory], expected_cells=cells)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    paths = verdict.write_reports(
        result, directory, step_summary=Path(summary) if summary else None
    )
    print()
    print(markdown.render_markdown(result))
    for kind, path in paths.items():
        print(f"{kind + ':':<11} {path}")
    return result.exit_status


def _bisect_regressions(
    client: object, built: pipeline.BuiltCells, result: GateResult, directory: Path
) -> bool:
    """Bisect every series x arch with a reproduced regression; True if any was bisected."""
    bisected = False
    for series_verdict in result.series:
        if series_verdict.series not in built.prepared.series_patches:
            continue  # the stacked variant is several series; bisect each on its own
        for arch_verdict in series_verdict.arches:
            tests = sorted(t.test for t in arch_verdict.of_kind(ChangeKind.REGRESSION) if t.rejects)
            # The series' cell judged in this column (scenario label, arch): its toolchain.
            cell = next(
                (c for c in built.cells if c.variant == series_verdict.series
                 and c.scenario_label == arch_verdict.scenario
                 and c.arch.value == arch_verdict.arch),
                None,
            )  # fmt: skip
            if not tests or cell is None:
                continue
            progress(f"bisecting {series_verdict.series} in {cell.id}: {', '.join(tests)}")
            found = bisect.first_bad_patch(
                client, built, cell, tests,  # type: ignore[arg-type]
                run_dir=directory, progress=progress,
            )  # fmt: skip
            verdict.write_bisection(directory, found)
            bisected = True
    return bisected
