"""``farm gate``: the verdict over run directories, e.g. the per-cell artifacts of a CI matrix.

It judges with the flaky history, but records the directories in it only with
``--record-history``: a directory `farm gate` is given was made by someone else (a download,
a hand edit), and what the history records may later excuse a regression on those images.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from farm.commands.common import history_path, load_all, progress
from farm.errors import UsageError
from farm.judging import history
from farm.plan import matrix
from farm.run import stages
from farm.rundir import RunDir


def run(args: argparse.Namespace) -> int:
    (scenario,) = load_all([args.scenario])
    for directory in args.run_dirs:
        if not RunDir(directory).looks_like_run_dir():
            raise UsageError(f"{directory}: not a farm run directory (no cells/ or results/ in it)")
    if args.record_history and args.no_history:
        raise UsageError("--record-history needs a history; leave out --no-history")
    every = matrix.cells([scenario])
    expected = matrix.select(every, args.only)
    history_file = history_path(args, scenario)
    past = history.read(history_file) if history_file is not None else None
    result = stages.judge(
        scenario, list(args.run_dirs), cells=every, expected_cells=expected, past=past
    )
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    reported = stages.report(
        result,
        args.report_dir,
        run_dirs=list(args.run_dirs),
        step_summary=Path(summary) if summary else None,
        # Someone else's directories enter the history only when the user vouches for them.
        history_file=history_file if args.record_history else None,
        progress=progress,
    )
    print(reported.markdown)
    for kind, path in reported.paths.items():
        print(f"{kind + ':':<11} {path}")
    return reported.result.exit_status
