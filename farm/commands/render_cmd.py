"""``farm render``: fetch a scenario's inputs and write its images' Dockerfiles."""

from __future__ import annotations

import argparse

from farm.commands.common import cache, load_all, progress
from farm.plan.render import write_plan
from farm.run import build


def run(args: argparse.Namespace) -> int:
    (scenario,) = load_all([args.scenario])
    prepared = build.prepare(scenario, cache(), progress)
    write_plan(prepared.plan, args.output)
    width = max(len(image.name) for image in prepared.plan.images)
    for image in prepared.plan.images:
        print(f"{image.name:<{width}}  {image.tag}")
    for reason in prepared.fetch_failures.values():
        print(f"not rendered: {reason}")
    return 2 if prepared.fetch_failures else 0
