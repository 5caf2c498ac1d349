"""``farm run``: render, build, test, bisect regressions and gate: one verdict per series."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import docker

from farm import bisect, engine, matrix, pipeline, verdict
from farm.commands.common import cache, engine_lost, interrupted, load_all, progress, run_dir
from farm.errors import EngineError
from farm.gate import ChangeKind, GateResult
from farm.matrix import Cell
from farm.report import markdown
from farm.scenario import Arch, Scenario


def run(args: argparse.Namespace) -> int:
    (scenario,) = load_all([args.scenario])
    cells = matrix.select(matrix.cells([scenario]), args.only)
    client = engine.connect()  # first: without an engine there is no run to keep or resume
    directory = run_dir(args.run_dir, scenario, resume=args.resume)
    progress(f"run directory: {directory}")
    try:
        return _run(args, client, scenario, cells, directory)
    except KeyboardInterrupt:
        raise interrupted("run", scenario, directory) from None
    except EngineError as error:
        raise engine_lost(error, "run", scenario, directory) from None


def _run(
    args: argparse.Namespace,
    client: docker.DockerClient,
    scenario: Scenario,
    cells: tuple[Cell, ...],
    directory: Path,
) -> int:
    built = pipeline.build_cells(
        client, scenario, cells, cache=cache(), run_dir=directory, progress=progress
    )
    verdict.write_run_state(directory, built)
    probes = pipeline.probe_cells(client, built, run_dir=directory, progress=progress)
    items = pipeline.test_items(built, probes)
    if args.resume:
        total = len(items)
        items = pipeline.resume_items(items, run_dir=directory, reruns=args.reruns)
        progress(f"resuming: {total - len(items)} of {total} test item(s) already finished")
    progress(f"running {len(items)} test item(s) with {args.workers} worker(s)")
    pipeline.run_tests(items, run_dir=directory, workers=args.workers, reruns=args.reruns)
    print(pipeline.summary_table(pipeline.load_results(directory)))
    if args.no_gate:
        return 0 if all(built.test_image_ready(c) for c in cells) else 1

    result = verdict.evaluate(scenario, [directory], expected_cells=cells)
    if not args.no_bisect and _bisect_regressions(client, built, result, directory):
        result = verdict.evaluate(scenario, [directory], expected_cells=cells)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    paths = verdict.write_reports(
        result, directory, step_summary=Path(summary) if summary else None
    )
    print()
    print(markdown.render_markdown(result))
    for kind, path in paths.items():
        print(f"{kind + ':':<11} {path}")
    return result.exit_status


def _bisect_regressions(
    client: object, built: pipeline.BuiltCells, result: GateResult, directory: Path
) -> bool:
    """Bisect every series x arch with a reproduced regression; True if any was bisected."""
    bisected = False
    for series_verdict in result.series:
        if series_verdict.series not in built.prepared.series_patches:
            continue  # the stacked variant is several series; bisect each on its own
        for arch_verdict in series_verdict.arches:
            tests = sorted(t.test for t in arch_verdict.of_kind(ChangeKind.REGRESSION) if t.rejects)
            if not tests:
                continue
            progress(
                f"bisecting {series_verdict.series} on {arch_verdict.arch}: {', '.join(tests)}"
            )
            found = bisect.first_bad_patch(
                client, built, Arch(arch_verdict.arch), series_verdict.series, tests,  # type: ignore[arg-type]
                run_dir=directory, progress=progress,
            )  # fmt: skip
            verdict.write_bisection(directory, found)
            bisected = True
    return bisected
