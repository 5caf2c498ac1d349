"""``farm compare RUN_A RUN_B``: what changed between two runs of one scenario."""

from __future__ import annotations

import argparse
import json

from farm.judging import compare


def run(args: argparse.Namespace) -> int:
    comparison = compare.compare(args.run_a, args.run_b)
    if args.json:
        print(json.dumps(compare.to_dict(comparison), indent=2, sort_keys=True))
    else:
        print(compare.render_markdown(comparison), end="")
    return 0
