"""``farm matrix``: the cells of one or more scenarios, for people or for GitHub Actions."""

from __future__ import annotations

import argparse

from farm import matrix
from farm.commands.common import load_all


def run(args: argparse.Namespace) -> int:
    cells = matrix.select(matrix.cells(load_all(args.scenarios)), args.only)
    print(matrix.github_matrix(cells) if args.format == "github" else matrix.table(cells))
    return 0
