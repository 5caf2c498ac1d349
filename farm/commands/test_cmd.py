"""``farm test``: build what is missing, then run the case matrix and glibc's own tests."""

from __future__ import annotations

import argparse

from farm.commands.common import Session, progress, run_session
from farm.commands.run_cmd import options
from farm.run import stages
from farm.rundir import RunDir


def run(args: argparse.Namespace) -> int:
    return run_session(
        "test",
        args,
        lambda scenario, every, cells, directory: options(
            scenario, every, cells, directory, args, judge=False
        ),
        _test,
    )


def _test(session: Session) -> int:
    outcome = stages.run(session.engine, session.options, progress)
    print(outcome.summary_table)
    directory = RunDir(outcome.run_dir)
    print(f"results: {directory.results_dir}  junit: {directory.pytest_junit}")
    for cell_id in outcome.untested_cells:
        print(f"not tested (image not built): {cell_id}")
    return outcome.exit_status
