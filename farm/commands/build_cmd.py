"""``farm build``: build (or reuse) a scenario's images and say what happened to each.

Its run directory records how far each cell got (``cells/``, ``series.json``), like the
start of a ``farm run``, so ``farm gate`` can read a CI build job's directory: a series that
does not apply is found there even though no shard job could test it. ``--save`` writes the
test images for the shard jobs that ``docker load`` them; ``--push`` puts every image in a
registry instead, for the shard jobs (and every later run) to pull. Exit status 1 when an
image or a series failed, else 2 when a push did, else 0.
"""

from __future__ import annotations

import argparse

from farm.commands.common import cache, load_all, progress, run_dir
from farm.containers import registry
from farm.containers.engine import Engine
from farm.plan import matrix
from farm.run import build, pipeline, stages
from farm.run.build import ImageState
from farm.run.compiler_cache import CompilerCaches
from farm.rundir import RunDir


def run(args: argparse.Namespace) -> int:
    (scenario,) = load_all([args.scenario], base=args.base)
    cells = matrix.select(matrix.cells([scenario]), args.only)
    engine = Engine.connect()
    directory = run_dir(args.run_dir, scenario)
    farm_cache = cache()
    built = stages.build(
        engine, scenario, cells, cache=farm_cache, run_dir=RunDir(directory), progress=progress,
        pull_from=args.pull, push_to=args.push,
        compiler_caches=None
        if args.no_ccache
        else CompilerCaches.under(farm_cache.root, args.ccache_size),
    )  # fmt: skip
    progress(f"base image(s): {built.base_image}")
    statuses = built.statuses
    width = max((len(name) for name in statuses), default=0)
    for status in statuses.values():
        detail = f"{status.elapsed:.0f} s" if status.state is ImageState.BUILT else ""
        print(f"{status.name:<{width}}  {status.state.value:<7}  {status.tag}  {detail}".rstrip())
    fetch_failures = built.prepared.fetch_failures
    for reason in fetch_failures.values():
        print(f"not built: {reason}")
    failed = [s for s in statuses.values() if s.state is ImageState.FAILED]
    print(f"logs: {directory / 'logs'}")
    if args.save is not None:
        test_images = [
            statuses[name]
            for name in (pipeline.test_image_name(cell) for cell in cells)
            if name in statuses
        ]
        tags = build.save_images(engine, test_images, args.save)
        if tags:
            print(f"saved: {args.save} ({', '.join(tags)})")
        else:
            print(f"not saved: {args.save}: no test image was built")
    for transfer in (*built.pulled, *built.pushed):
        if transfer.state is not registry.Transfer.PRESENT:
            print(transfer.describe())
    if built.push_failures:
        names = ", ".join(t.name for t in built.push_failures)
        print(
            f"not pushed to {args.push}: {len(built.push_failures)} of {len(built.pushed)} "
            f"image(s): {names} (each one's reason is above; `farm build --push {args.push}` "
            "again pushes what is missing)"
        )
    if failed or fetch_failures:
        return 1
    # Pushing was asked for: images that did not get there are not done (a CI build job
    # then ships them as an artifact instead).
    return 2 if built.push_failures else 0
