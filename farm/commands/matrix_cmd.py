"""``farm matrix``: the cells of one or more scenarios, for people or for GitHub Actions."""

from __future__ import annotations

import argparse

from farm.commands.common import load_all
from farm.errors import UsageError
from farm.plan import matrix


def run(args: argparse.Namespace) -> int:
    if args.jobs is not None and args.format != "github":
        raise UsageError(
            f"--jobs {args.jobs} lays out GitHub jobs; add --format github, or leave "
            "--jobs out for the table"
        )
    cells = matrix.select(matrix.cells(load_all(args.scenarios)), args.only)
    if args.format == "github":
        print(matrix.github_matrix(cells, matrix.MatrixJobs(args.jobs or "tests")))
    else:
        print(matrix.table(cells))
    return 0
