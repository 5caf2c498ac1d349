"""What running a test the farm's way costs, and what a second xdist worker buys.

1. Per-case overhead. The farm runs each case with its own ``docker exec`` into a
   long-lived, locked-down container, and cleans up after it (kill leftovers, empty
   scratch, read the OOM count) in the same exec. The floor is the same case scripts
   (compile with farm-cc, run) in one shell loop in one container of the same image, with
   one ``docker exec`` for all of them and no cleanup between them.
   Both are timed over the same cases, ``--rounds`` times; the ratio is farm / floor.
   Goal (issue #4): within 1.3x.
2. Parallelism. The wall time of ``farm test`` over the scenario's cells with ``-n 1``
   against ``-n 2`` (pytest-xdist workers), images already built.

    python bench/runner_bench.py [SCENARIO] [--cell CELL] [--rounds 3]

Images must exist (``farm build SCENARIO`` first); nothing is built here.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from farm import cases
from farm.containers import engine
from farm.containers.container import TestContainer
from farm.inputs.sources import Cache, default_cache_dir
from farm.plan.matrix import cells
from farm.plan.scenario import load_scenario
from farm.run.build import prepare
from farm.testing import runner

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = REPO / "scenarios" / "debian-2.36-backports.yaml"


def _farm_way(container: TestContainer, items: list[runner.TestItem]) -> float:
    started = time.monotonic()
    for item in items:
        runner.run_item(container, item)
    return time.monotonic() - started


def _shell_loop(container: TestContainer, selected: tuple[cases.Case, ...]) -> float:
    scripts = [
        case.shell_script(workdir=f"/farm/scratch/loop-{n}", timeout_factor=1.0)
        for n, case in enumerate(selected)
    ]
    steps = [f"sh -c {shlex.quote(script)} >/dev/null 2>&1" for script in scripts]
    started = time.monotonic()
    container.exec("\n".join(steps), timeout=3600)
    elapsed = time.monotonic() - started
    container.settle()
    return elapsed


def _empty_case(container: TestContainer, count: int) -> float:
    """The farm's fixed cost of one case: the harness's exec and cleanup around ``true``."""
    times = []
    for _ in range(count):
        started = time.monotonic()
        container.run_case("true", timeout=60)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def _farm_test_wall(scenario: Path, workers: int) -> float:
    with tempfile.TemporaryDirectory(prefix="farm-bench-") as run_dir:
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "farm", "test", str(scenario), "-n", str(workers),
             "--run-dir", run_dir],
            cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path, nargs="?", default=DEFAULT_SCENARIO)
    parser.add_argument("--cell", help="the cell whose test image is used (default: first)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-workers", action="store_true", help="only the overhead part")
    args = parser.parse_args()

    scenario = load_scenario(args.scenario)
    cell = next(c for c in cells([scenario]) if args.cell in (None, c.id))
    plan = prepare(scenario, Cache(default_cache_dir()), progress=lambda _: None).plan
    image = plan.test_image(cell.arch, cell.variant).tag
    client = engine.Engine.connect()
    if client.image_id(image) is None:
        print(f"{image} is not built: run `farm build {args.scenario}` first", file=sys.stderr)
        return 2
    selected = cases.select_cases(cases.load_cases(), scenario.tests.cases)
    items = [
        runner.TestItem(scenario.name, cell.arch, cell.variant, image, f"farm/{c.id}", 1.0)
        for c in selected
    ]
    container = TestContainer(client, image, f"farm-bench-{os.getpid()}")
    container.start()
    farm_times, loop_times, empty_times = [], [], []
    try:
        for round_number in range(1, args.rounds + 1):
            farm_times.append(_farm_way(container, items))
            loop_times.append(_shell_loop(container, selected))
            empty_times.append(_empty_case(container, len(items)))
            print(
                f"round {round_number}: farm {farm_times[-1]:.1f} s, "
                f"shell loop {loop_times[-1]:.1f} s, "
                f"empty case {empty_times[-1] * 1000:.0f} ms",
                file=sys.stderr,
            )
    finally:
        container.stop()

    farm_median, loop_median = statistics.median(farm_times), statistics.median(loop_times)
    print(f"\ncell {cell.id}: {len(items)} cases (compile + run each), {args.rounds} rounds, "
          f"{len(os.sched_getaffinity(0))} cores\n")  # fmt: skip
    print("| | total (median) | per case | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| shell loop, one exec | {loop_median:.1f} s | "
          f"{loop_median / len(items) * 1000:.0f} ms | 1.00x |")  # fmt: skip
    ratio = farm_median / loop_median
    print(f"| farm: one exec per case, cleanup included | {farm_median:.1f} s | "
          f"{farm_median / len(items) * 1000:.0f} ms | {ratio:.2f}x |")  # fmt: skip
    overhead = (farm_median - loop_median) / len(items) * 1000
    print(f"\nThe farm's overhead: {overhead:.0f} ms per case. The harness around an empty "
          f"case (its docker exec and the cleanup) takes "
          f"{statistics.median(empty_times) * 1000:.0f} ms.")  # fmt: skip
    if not args.skip_workers:
        one = _farm_test_wall(args.scenario, 1)
        two = _farm_test_wall(args.scenario, 2)
        print(f"\n`farm test {args.scenario.name}` ({len(cells([scenario]))} cells, built):\n")
        print("| workers | wall time | speed-up |")
        print("|---:|---:|---:|")
        print(f"| 1 | {one:.0f} s | 1.00x |")
        print(f"| 2 | {two:.0f} s | {one / two:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
