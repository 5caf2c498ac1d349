"""What running a whole glibc subdirectory the farm's way costs against glibc's own way.

Three ways over one subdirectory of one test image, each in a fresh container of that
image (a ``make check`` leaves its ``.out`` files, and a second one would run nothing):

1. bare: glibc's own ``make -j<N> -C /src/glibc/<subdir> objdir=/build/glibc check`` in one
   ``docker exec``, output thrown away;
2. farm: ``glibc_check.run_subdir_check``, what a ``glibc/<subdir>/`` pytest item does (the
   same make check, then the summary and every non-PASS test's ``.out`` sent back, parsed
   into one record per test; no reruns);
3. per-test: the old way, one ``make test t=`` per test (``glibc_test.run_glibc_test``),
   timed on a sample of the subdirectory's tests and scaled to all of them.

Goal (issue #12): the farm within 1.1x of bare.

    python bench/check_bench.py [SCENARIO] [--cell x86_64-baseline] [--subdir dlfcn]
                                [--sample 5] [--rounds 2]

Images must exist (``farm build SCENARIO`` first); nothing is built here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from farm.containers import engine
from farm.containers.container import TestContainer
from farm.inputs.sources import Cache, default_cache_dir
from farm.plan.matrix import cells
from farm.plan.scenario import load_scenario
from farm.run.build import prepare
from farm.testing import glibc_check, glibc_test, runner

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = REPO / "scenarios" / "debian-2.36-backports.yaml"
BARE_TIMEOUT = 3 * 3600


def _in_fresh_container(tag: str, body: Callable[[TestContainer], float]) -> float:
    container = TestContainer(
        engine.Engine.connect(), tag, f"farm-check-bench-{os.getpid()}", writable_root=True
    )
    container.start()
    try:
        return body(container)
    finally:
        container.stop()


def _bare(subdir: str, jobs: int) -> Callable[[TestContainer], float]:
    def run(container: TestContainer) -> float:
        script = (
            f"cd {glibc_test.BUILD_DIR} && make -j{jobs} -C {glibc_test.SOURCE_DIR}/{subdir} "
            f"objdir={glibc_test.BUILD_DIR} check >/dev/null 2>&1"
        )
        started = time.monotonic()
        container.exec(script, timeout=BARE_TIMEOUT, user="root")
        return time.monotonic() - started

    return run


def _farm(subdir: str, jobs: int, tag: str, counted: list[int]) -> Callable[[TestContainer], float]:
    def run(container: TestContainer) -> float:
        cell = glibc_check.CellContext("bench", "x86_64", "baseline", tag, 1.0)
        started = time.monotonic()
        check, finals = glibc_check.run_subdir_check(
            container, subdir, cell, record=lambda _: None, reruns=0, jobs=jobs
        )
        elapsed = time.monotonic() - started
        counted.append(len(finals))
        if check.anomalies:
            print(*(f"  anomaly: {a}" for a in check.anomalies), sep="\n", file=sys.stderr)
        return elapsed

    return run


def _per_test(sample: list[str]) -> Callable[[TestContainer], float]:
    def run(container: TestContainer) -> float:
        started = time.monotonic()
        for name in sample:
            glibc_test.run_glibc_test(container, name, factor=1.0)
        return time.monotonic() - started

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--cell", default="x86_64-baseline", help="<arch>-<variant>")
    parser.add_argument("--subdir", default="dlfcn")
    parser.add_argument("--sample", type=int, default=5, help="tests timed the per-test way")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=glibc_check.CHECK_JOBS)
    args = parser.parse_args()

    scenario = load_scenario(args.scenario)
    (cell,) = [c for c in cells([scenario]) if c.id.endswith(f"-{args.cell}")]
    plan = prepare(scenario, Cache(default_cache_dir()), lambda _: None).plan
    tag = plan.test_image(cell.arch, cell.variant).tag

    def listing(container: TestContainer) -> float:
        tests.extend(runner.list_glibc_tests(container, (f"{args.subdir}/*",)))
        return 0.0

    tests: list[str] = []
    _in_fresh_container(tag, listing)
    step = max(1, len(tests) // max(1, args.sample))
    sample = tests[::step][: args.sample]

    bare: list[float] = []
    farm: list[float] = []
    counted: list[int] = []
    for _ in range(args.rounds):  # interleaved, so a busy moment of the host hits both
        bare.append(_in_fresh_container(tag, _bare(args.subdir, args.jobs)))
        farm.append(_in_fresh_container(tag, _farm(args.subdir, args.jobs, tag, counted)))
    per_test = _in_fresh_container(tag, _per_test(sample)) / max(1, len(sample))

    bare_s, farm_s = statistics.median(bare), statistics.median(farm)
    whole = counted[-1] if counted else len(tests)
    print(f"{args.subdir}/ in {tag}: {whole} tests (make check, -j{args.jobs}), "
          f"median of {args.rounds} round(s)")  # fmt: skip
    print(f"{'way':<34} {'seconds':>9} {'vs bare':>8}")
    print(f"{'glibc make check (bare)':<34} {bare_s:9.1f} {1.0:8.2f}")
    print(f"{'farm (glibc/' + args.subdir + '/ item)':<34} {farm_s:9.1f} {farm_s / bare_s:8.2f}")
    old = per_test * whole
    label = f"per-test make test t= (x{whole}, est.)"
    print(f"{label:<34} {old:9.1f} {old / bare_s:8.2f}")
    print(f"  per-test: {per_test:.1f} s/test over a sample of {len(sample)}: {' '.join(sample)}")
    print(f"  rounds: bare {' '.join(f'{s:.1f}' for s in bare)}; "
          f"farm {' '.join(f'{s:.1f}' for s in farm)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
