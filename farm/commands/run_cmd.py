"""``farm run``: render, build, test, bisect regressions and gate: one verdict per series."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from farm.commands.common import Session, cache, history_path, progress, run_session
from farm.judging import history
from farm.plan.matrix import Cell
from farm.plan.scenario import Scenario
from farm.report import markdown
from farm.run import stages
from farm.run.compiler_cache import DEFAULT_MAX_SIZE


def run(args: argparse.Namespace) -> int:
    if args.history is not None and not args.no_gate:
        history.read(args.history)  # a file that is no history stops us before the engine
    return run_session(
        "run",
        args,
        lambda scenario, every, cells, directory: options(
            scenario, every, cells, directory, args, judge=not args.no_gate
        ),
        run_and_show,
    )


def options(
    scenario: Scenario,
    every: tuple[Cell, ...],
    cells: tuple[Cell, ...],
    directory: Path,
    args: argparse.Namespace,
    *,
    judge: bool,
) -> stages.RunOptions:
    """The run's options from the command line (shared with ``farm test``); every rule over
    them is `stages.RunOptions`'s."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    return stages.RunOptions(
        scenario=scenario,
        cells=cells,
        scenario_cells=every,
        run_dir=directory,
        cache=cache(),
        workers=args.workers,
        reruns=args.reruns,
        keyword=getattr(args, "keyword", None),
        resume=args.resume,
        judge=judge,
        bisect=not getattr(args, "no_bisect", True),
        shard=getattr(args, "shard", None),
        build=not getattr(args, "no_build", False),
        pull_from=args.pull,
        push_to=args.push,
        ccache=not args.no_ccache,
        ccache_size=args.ccache_size or DEFAULT_MAX_SIZE,
        step_summary=Path(summary) if summary else None,
        # Without the gate an explicit --history is given on, for RunOptions to refuse.
        history=history_path(args, scenario) if judge else getattr(args, "history", None),
    )


def run_and_show(session: Session) -> int:
    """Run the session's stages and print the summary, the verdict and the report paths
    (``farm try`` shows its runs the same way)."""
    outcome = stages.run(session.engine, session.options, progress)
    print(outcome.summary_table)
    if outcome.gate is None:
        return outcome.exit_status
    print()
    print(markdown.render_markdown(outcome.gate, tried=outcome.tried))
    for kind, path in outcome.reports.items():
        print(f"{kind + ':':<11} {path}")
    return outcome.exit_status
