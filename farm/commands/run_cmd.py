"""``farm run``: render, build, test, bisect regressions and gate: one verdict per series."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from farm import stages
from farm.commands.common import Session, cache, progress, run_session
from farm.errors import UsageError
from farm.report import markdown


def run(args: argparse.Namespace) -> int:
    if args.shard is not None and not args.no_gate:
        # One shard's results are part of a run: judged alone, every other test is missing.
        raise UsageError(
            f"--shard {args.shard} needs --no-gate; gate the shards together with "
            "`farm gate SCENARIO RUN_DIR...`"
        )
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
