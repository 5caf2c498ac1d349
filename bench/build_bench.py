"""Full baseline build against the incremental build of a patched variant, per arch.

The farm builds a patched variant FROM the baseline build image, so make only recompiles
what the series touched. This benchmark measures that claim from one run: for each arch it
rebuilds the baseline build image from scratch (every Dockerfile step, no layer cache) and
then the patched build image of one series, under throwaway ``glibc-farm/bench`` tags so the
farm's own images are left as they are. It prints the wall time of each image build and the
``make`` time the image's own ``farm-timing:`` line reports, and their ratios.

    python bench/build_bench.py                       # fixture scenario, series "harmless"
    python bench/build_bench.py SCENARIO --series NAME --arch x86_64

Goal (issue #3): the patched build costs under 20% of a full build for a series confined
to ``elf/``; the ``harmless`` fixture series changes one comment in ``elf/dl-load.c``.
The toolchain and source images are built first if missing and are not timed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from farm.containers import engine
from farm.containers.engine import Engine
from farm.inputs.sources import Cache, default_cache_dir
from farm.plan.render import ImageSpec
from farm.plan.scenario import Arch, Scenario, load_scenario
from farm.run import build
from farm.run.compiler_cache import CompilerCaches

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = REPO / "tests" / "fixtures" / "scenarios" / "fixture-series.yaml"
BENCH_REPOSITORY = "glibc-farm/bench"
_TIMING_RE = re.compile(r"^farm-timing: (\w+) (\d+)$", re.MULTILINE)


@dataclasses.dataclass(frozen=True, slots=True)
class Timed:
    wall: float
    phases: dict[str, int]  # from the image's farm-timing lines: configure, make, install
    tag: str  # the bench tag it was built under (removed again unless kept)


def _quiet(message: str) -> None:
    if "farm-phase" in message or "built in" in message or "building" in message:
        print(f"  {message}", file=sys.stderr, flush=True)


def rebuild(
    client: Engine, image: ImageSpec, log_dir: Path, *, keep: bool = False,
    compiler_caches: CompilerCaches | None = None,
) -> Timed:  # fmt: skip
    """Build ``image`` again from scratch under a bench tag; its parent is the farm's own.
    The bench image is removed afterwards unless ``keep`` (the caller removes it then).
    Without ``compiler_caches`` it compiles without a compiler cache."""
    bench = dataclasses.replace(
        image, tag=f"{BENCH_REPOSITORY}:{image.tag.split(':', 1)[1]}-{int(time.time())}"
    )
    log_path = log_dir / f"{image.name}.log"
    started = time.monotonic()
    client.build(
        build.build_spec(bench, compiler_caches), log_path=log_path, progress=_quiet, rebuild=True
    )
    wall = time.monotonic() - started
    phases = {m.group(1): int(m.group(2)) for m in _TIMING_RE.finditer(log_path.read_text())}
    if not keep:
        remove_bench_image(client, bench.tag)
    return Timed(wall, phases, bench.tag)


def remove_bench_image(client: Engine, tag: str) -> None:
    """Remove a bench image; one the engine refuses to remove is named, not fatal."""
    try:
        client.remove_image(tag)
    except engine.Refused as error:
        print(f"  (could not remove {tag}: {error})", file=sys.stderr)


def prepare_bench(
    path: Path, arch_names: list[str] | None, progress: Callable[[str], None]
) -> tuple[Scenario, list[Arch], Engine, build.PreparedScenario]:
    """The scenario at ``path``, the arches asked for (all of its own by default), the
    engine and the prepared scenario (its sources fetched): what every build bench starts
    from."""
    scenario = load_scenario(path)
    arches = [Arch(a) for a in arch_names] if arch_names else list(scenario.arches)
    client = Engine.connect()
    return scenario, arches, client, build.prepare(scenario, Cache(default_cache_dir()), progress)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path, nargs="?", default=DEFAULT_SCENARIO)
    parser.add_argument("--series", default="harmless", help="the patched variant to time")
    parser.add_argument("--arch", action="append", choices=[a.value for a in Arch])
    args = parser.parse_args()

    scenario, arches, client, prepared = prepare_bench(args.scenario, args.arch, _quiet)
    rows = []
    with tempfile.TemporaryDirectory(prefix="farm-bench-") as temporary:
        log_dir = Path(temporary)
        for arch in arches:
            baseline = prepared.plan.build_image(arch, "baseline")
            patched = prepared.plan.build_image(arch, args.series)
            # The parents (toolchain, source; the baseline for the patched image) must exist.
            build.build_images(
                client,
                prepared.plan,
                names=[patched.name],
                log_dir=log_dir,
                progress=_quiet,
                compiler_caches=None,
            )
            print(f"{arch.value}: full baseline build ...", file=sys.stderr, flush=True)
            full = rebuild(client, baseline, log_dir)
            print(f"{arch.value}: incremental {args.series} build ...", file=sys.stderr)
            incremental = rebuild(client, patched, log_dir)
            rows.append((arch.value, full, incremental))

    print(f"\nscenario {scenario.name}, series {args.series!r}, {_cores()} cores\n")
    print("| arch | full build (image) | patched build (image) | ratio | full make | "
          "patched make | ratio |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for arch_name, full, incremental in rows:
        full_make, patched_make = full.phases.get("make", 0), incremental.phases.get("make", 0)
        print(
            f"| {arch_name} | {full.wall:.0f} s | {incremental.wall:.0f} s | "
            f"{incremental.wall / full.wall:.1%} | {full_make} s | {patched_make} s | "
            f"{patched_make / full_make if full_make else float('nan'):.1%} |"
        )
    return 0


def _cores() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
