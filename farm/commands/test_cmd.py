"""``farm test``: build what is missing, then run the case matrix and glibc's own tests."""

from __future__ import annotations

import argparse

from farm import engine, matrix, pipeline
from farm.commands.common import cache, load_all, progress, run_dir


def run(args: argparse.Namespace) -> int:
    (scenario,) = load_all([args.scenario])
    cells = matrix.select(matrix.cells([scenario]), args.only)
    directory = run_dir(args.run_dir, scenario)
    client = engine.connect()
    built = pipeline.build_cells(
        client, scenario, cells, cache=cache(), run_dir=directory, progress=progress
    )
    probes = pipeline.probe_cells(client, built, run_dir=directory, progress=progress)
    items = pipeline.test_items(built, probes)
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
