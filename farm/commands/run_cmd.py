"""``farm run``: render, build, test, bisect regressions and gate: one verdict per series."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from farm import bisect, pipeline, verdict
from farm.commands.common import Session, build_and_test, progress, run_session
from farm.errors import UsageError
from farm.gate import ChangeKind, GateResult
from farm.report import markdown
from farm.scenario import Arch


def run(args: argparse.Namespace) -> int:
    if args.shard is not None and not args.no_gate:
        # One shard's results are part of a run: judged alone, every other test is missing.
        raise UsageError(
            f"--shard {args.shard} needs --no-gate; gate the shards together with "
            "`farm gate SCENARIO RUN_DIR...`"
        )
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
            if not tests:
                continue
            progress(
                f"bisecting {series_verdict.series} on {arch_verdict.arch}: {', '.join(tests)}"
            )
            found = bisect.first_bad_patch(
                client, built, Arch(arch_verdict.arch), series_verdict.series, tests,  # type: ignore[arg-type]
                run_dir=directory, progress=progress,
            )  # fmt: skip
            verdict.write_bisection(directory, found)
            bisected = True
    return bisected
