"""``farm build``: build (or reuse) a scenario's images and say what happened to each."""

from __future__ import annotations

import argparse

from farm import build, engine, matrix, pipeline
from farm.build import ImageState
from farm.commands.common import cache, load_all, progress, run_dir


def run(args: argparse.Namespace) -> int:
    (scenario,) = load_all([args.scenario])
    cells = matrix.select(matrix.cells([scenario]), args.only)
    prepared = build.prepare(scenario, cache(), progress)
    client = engine.connect()
    for toolchain in dict.fromkeys(cell.toolchain for cell in cells):
        state = engine.ensure_base_image(client, toolchain, progress)
        progress(f"base image {toolchain.base_image}: {state}")
    names = [
        pipeline.test_image_name(cell)
        for cell in cells
        if cell.variant == "baseline"
        or all(
            s.name not in prepared.fetch_failures for s in scenario.series_of_variant(cell.variant)
        )
    ]
    directory = run_dir(args.run_dir, scenario)
    statuses = build.build_images(
        client, prepared.plan, names=names, log_dir=directory / "logs", progress=progress
    )
    width = max(len(name) for name in statuses)
    for status in statuses.values():
        detail = f"{status.elapsed:.0f} s" if status.state is ImageState.BUILT else ""
        print(f"{status.name:<{width}}  {status.state.value:<7}  {status.tag}  {detail}".rstrip())
    for reason in prepared.fetch_failures.values():
        print(f"not built: {reason}")
    failed = [s for s in statuses.values() if s.state is ImageState.FAILED]
    print(f"logs: {directory / 'logs'}")
    return 1 if failed or prepared.fetch_failures else 0
