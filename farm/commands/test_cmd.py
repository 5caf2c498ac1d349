"""``farm test``: build what is missing, then run the case matrix and glibc's own tests."""

from __future__ import annotations

import argparse
from pathlib import Path

import docker

from farm import engine, matrix, pipeline
from farm.commands.common import cache, engine_lost, interrupted, load_all, progress, run_dir
from farm.errors import EngineError
from farm.matrix import Cell
from farm.scenario import Scenario


def run(args: argparse.Namespace) -> int:
    (scenario,) = load_all([args.scenario])
    cells = matrix.select(matrix.cells([scenario]), args.only)
    client = engine.connect()  # first: without an engine there is no run to keep or resume
    directory = run_dir(args.run_dir, scenario, resume=args.resume)
    progress(f"run directory: {directory}")
    try:
        return _test(args, client, scenario, cells, directory)
    except KeyboardInterrupt:
        raise interrupted("test", scenario, directory) from None
    except EngineError as error:
        raise engine_lost(error, "test", scenario, directory) from None


def _test(
    args: argparse.Namespace,
    client: docker.DockerClient,
    scenario: Scenario,
    cells: tuple[Cell, ...],
    directory: Path,
) -> int:
    built = pipeline.build_cells(
        client, scenario, cells, cache=cache(), run_dir=directory, progress=progress
    )
    probes = pipeline.probe_cells(client, built, run_dir=directory, progress=progress)
    items = pipeline.test_items(built, probes)
    if args.resume:
        total = len(items)
        items = pipeline.resume_items(items, run_dir=directory, reruns=args.reruns)
        progress(f"resuming: {total - len(items)} of {total} test item(s) already finished")
    progress(f"running {len(items)} test item(s) with {args.workers} worker(s)")
    pipeline.run_tests(
        items, run_dir=directory, workers=args.workers, reruns=args.reruns, keyword=args.keyword
    )
    results = pipeline.load_results(directory)
    print(pipeline.summary_table(results))
    print(f"results: {directory / 'results'}  junit: {directory / 'pytest-junit.xml'}")
    not_built = [c.id for c in cells if not built.test_image_ready(c)]
    for cell_id in not_built:
        print(f"not tested (image not built): {cell_id}")
    return 1 if not_built else 0
