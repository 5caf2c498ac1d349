"""``farm run``: render, build, test, bisect regressions and gate: one verdict per series."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from farm import history, stages
from farm.commands.common import Session, cache, history_path, progress, run_session
from farm.errors import UsageError
from farm.report import markdown


def run(args: argparse.Namespace) -> int:
    if args.shard is not None and not args.no_gate:
        # One shard's results are part of a run: judged alone, every other test is missing.
        raise UsageError(
            f"--shard {args.shard} needs --no-gate; gate the shards together with "
            "`farm gate SCENARIO RUN_DIR...`"
        )
    if args.history is not None and args.no_gate:
        # Without a verdict there is nothing to judge with it, nor to record in it.
        raise UsageError(
            f"--history {args.history} needs the gate; leave out --no-gate, or give the history "
            "to the `farm gate` that judges this run"
        )
    if args.history is not None:
        history.read(args.history)  # a file that is no history stops us before the engine
    return run_session("run", args, lambda session: _run(session, args))


def options(session: Session, args: argparse.Namespace, *, judge: bool) -> stages.RunOptions:
    """The run's options from the command line (shared with ``farm test``)."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    return stages.RunOptions(
        scenario=session.scenario,
        cells=session.cells,
        run_dir=session.directory,
        cache=cache(),
        workers=args.workers,
        reruns=args.reruns,
        keyword=getattr(args, "keyword", None),
        resume=args.resume,
        judge=judge,
        bisect=not getattr(args, "no_bisect", True),
        shard=getattr(args, "shard", None),
        build=not getattr(args, "no_build", False),
        step_summary=Path(summary) if summary else None,
        history=history_path(args, session.scenario) if judge else None,
    )


def _run(session: Session, args: argparse.Namespace) -> int:
    outcome = stages.run(session.client, options(session, args, judge=not args.no_gate), progress)
    print(outcome.summary_table)
    if outcome.gate is None:
        return outcome.exit_status
    print()
    print(markdown.render_markdown(outcome.gate))
    for kind, path in outcome.reports.items():
        print(f"{kind + ':':<11} {path}")
    return outcome.exit_status
