"""What the compiler cache saves (issue #19), each cost as a ratio to a cold full build of the
same tree, from one run on one machine.

The tree is a local git repository made from two commits of the glibc repository you name
(``--from``, ``--to``: master a few dozen commits apart, as `bench.watch_bench` makes it),
built on one toolchain and arch. A two-patch series on ``--from`` stands in for one that
touches the build files and a header, the way the RTLD_SHARED revisions do (Makeconfig and
Makerules, then ``include/dlfcn.h``): patch 1 adds a comment to both build files, patch 2 a
macro to the header. Every image is rebuilt under a throwaway ``glibc-farm/bench`` tag with
a compiler cache of the bench's own (empty at the start), so the farm's images and caches
are left as they are. In order:

1. the baseline of ``--from``, no cache: the cold full build every ratio is against;
2. the same baseline with the empty cache: the overhead of filling it (goal <= 1.05x);
3. the series variant (FROM the baseline), without the cache and then with it (<= 0.5x);
4. the bisection prefix of patch 1 (FROM the baseline), without and with it (<= 0.3x);
5. the baseline of ``--to``, with the cache the builds of ``--from`` filled (<= 0.3x).

It prints each build's wall time, its ``make`` time, ccache's hits (direct, preprocessed) and
misses, the ratio to (1), and the goal. ``--mode depend`` measures ccache's depend mode
(`farm.containers.engine.CcacheMode`) instead of the farm's default.

    python -m bench.ccache_bench --glibc-git /path/to/glibc.git --from master~30 --to master
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

from bench.build_bench import Timed, _quiet, rebuild
from bench.watch_bench import _git, make_upstream
from farm.containers.engine import COMPILER_CACHE_MOUNT, CcacheMode, Engine
from farm.inputs.sources import Cache, default_cache_dir
from farm.plan.render import ImageSpec, prefix_plan
from farm.plan.scenario import Arch, load_scenario
from farm.plan.toolchain import toolchain
from farm.run import build
from farm.run.compiler_cache import CompilerCaches

SCENARIO = """\
name: ccache-bench
toolchains: [{toolchain}]
glibc:
  version: "{version}"
  source:
    git:
      url: {upstream}
      ref: {ref}
  configure:
    - --disable-werror
    - --enable-stack-protector=strong
arches: [{arch}]
series:
  - name: build-files-and-header
    mbox: {series}
tests:
  cases: ["dlmopen/*"]
"""
SERIES = "build-files-and-header"
#: (file, line added at its end) of each patch of the series.
PATCHES = (
    (("Makeconfig", "# ccache bench: a build file changed."),
     ("Makerules", "# ccache bench: a build file changed.")),
    (("include/dlfcn.h", "#define __RTLD_CCACHE_BENCH 0x80000"),),
)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    what: str
    timed: Timed
    counts: Counts | None  # None: built without the cache
    goal: str


def series_mbox(upstream: Path, base: str) -> str:
    """The series as ``git format-patch`` writes it, made on ``base`` with a throwaway index."""
    index = upstream.parent / "bench-index"

    def git(*args: str) -> str:
        return _git(upstream, *args, index=index)

    parent = base
    git("read-tree", base)
    for number, changes in enumerate(PATCHES, 1):
        for path, line in changes:
            text = git("show", f"{parent}:{path}") + "\n" + line + "\n"
            blob = _git(upstream, "hash-object", "-w", "--stdin", stdin=text)
            git("update-index", "--cacheinfo", f"100644,{blob},{path}")
        parent = git("commit-tree", git("write-tree"), "-p", parent,
                     "-m", f"ccache bench: patch {number}")  # fmt: skip
    return git("format-patch", "--stdout", f"{base}..{parent}") + "\n"


def ccache(client: Engine, tool: str, caches: CompilerCaches, image: ImageSpec, *args: str) -> str:
    """``ccache ARGS`` on the cache directory of ``image``, run in the toolchain image ``tool``."""
    cache = caches.for_image(image)
    assert cache is not None
    cache.directory.mkdir(parents=True, exist_ok=True)
    status, output = client.run_once(
        tool, ["ccache", *args],
        binds={cache.directory: COMPILER_CACHE_MOUNT},
        environment={"CCACHE_DIR": COMPILER_CACHE_MOUNT},
    )  # fmt: skip
    if status != 0:
        raise SystemExit(f"ccache {' '.join(args)} failed: {output.decode(errors='replace')}")
    return output.decode(errors="replace")


@dataclasses.dataclass(frozen=True, slots=True)
class Counts:
    """ccache's counters of one build: the hits of each of its two lookups, and the misses."""

    direct: int
    preprocessed: int
    misses: int

    def __str__(self) -> str:
        return f"{self.direct} + {self.preprocessed} / {self.misses}"


def counts(stats: str) -> Counts:
    """From ``ccache --print-stats`` (ccache 4.x)."""
    table = {
        k: int(v) for k, v in (line.split("\t", 1) for line in stats.splitlines() if "\t" in line)
    }
    return Counts(
        table.get("direct_cache_hit", 0),
        table.get("preprocessed_cache_hit", 0),
        table.get("cache_miss", 0),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--glibc-git", type=Path, required=True, metavar="REPO")
    parser.add_argument("--from", dest="old", required=True, metavar="REV")
    parser.add_argument("--to", dest="new", required=True, metavar="REV")
    parser.add_argument("--version", default="2.44.9000", help="the tree's version.h")
    parser.add_argument("--toolchain", default="bookworm")
    parser.add_argument("--arch", default="x86_64", choices=[a.value for a in Arch])
    parser.add_argument(
        "--overhead-only", action="store_true",
        help="only the two cold builds (1 and 2): the overhead, on a machine kept idle",
    )  # fmt: skip
    parser.add_argument(
        "--mode", type=CcacheMode, choices=list(CcacheMode), default=None,
        help="how the bench's cache finds a compile's inputs (default: the farm's)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    toolchain(args.toolchain)  # a KeyError names an unknown one before any work
    client = Engine.connect()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="farm-ccache-bench-") as scratch_name:
        scratch = Path(scratch_name)
        upstream, first, second = make_upstream(args.glibc_git, args.old, args.new, scratch)
        (scratch / "series.mbox").write_text(series_mbox(upstream, first), encoding="utf-8")
        plans = {}
        for ref in (first, second):
            path = scratch / f"{ref[:12]}.yaml"
            path.write_text(SCENARIO.format(
                toolchain=args.toolchain, version=args.version, upstream=upstream, ref=ref,
                arch=args.arch, series=scratch / "series.mbox",
            ), encoding="utf-8")  # fmt: skip
            prepared = build.prepare(load_scenario(path), Cache(default_cache_dir()), _quiet)
            if prepared.fetch_failures:
                raise SystemExit(f"ccache_bench: {prepared.fetch_failures}")
            plans[ref] = prepared.plan
        arch = Arch(args.arch)
        old, new = plans[first], plans[second]
        baseline = old.build_image(arch, "baseline")
        variant = old.build_image(arch, SERIES)
        prefix = prefix_plan(old, baseline.toolchain, arch, SERIES, 1)
        prefix_image = prefix.build_image(arch, f"{SERIES}.prefix1")
        next_baseline = new.build_image(arch, "baseline")
        logs = scratch / "logs"
        # Untimed: the parents every timed build starts FROM (toolchain, the two sources,
        # the farm's own baseline of --from), built with the farm's caches if missing.
        farm_caches = CompilerCaches.under(default_cache_dir())
        for plan, image in ((old, baseline), (new, next_baseline)):
            names = [image.parent] if image.parent else []
            build.build_images(client, plan, names=names, log_dir=logs, progress=_quiet,
                               compiler_caches=farm_caches)  # fmt: skip
        build.build_images(client, old, names=[baseline.name], log_dir=logs, progress=_quiet,
                           compiler_caches=farm_caches)  # fmt: skip
        tool = next(image.tag for image in old.images if image.kind == "toolchain")
        caches = CompilerCaches.under(scratch, mode=args.mode)

        def timed(what: str, image: ImageSpec, cached: bool, goal: str) -> None:
            print(f"ccache_bench: {what} ...", file=sys.stderr, flush=True)
            if cached:
                ccache(client, tool, caches, image, "--zero-stats")
            result = rebuild(client, image, logs, compiler_caches=caches if cached else None)
            stats = counts(ccache(client, tool, caches, image, "--print-stats")) if cached else None
            rows.append(Row(what, result, stats, goal))

        timed("baseline of --from, no cache (cold full build)", baseline, False, "1.00x")
        timed("baseline of --from, empty cache", baseline, True, "<= 1.05x")
        later = [
            ("series variant, no cache", variant, False, ""),
            ("series variant, cache", variant, True, "<= 0.5x"),
            ("bisection prefix 1/2, no cache", prefix_image, False, ""),
            ("bisection prefix 1/2, cache", prefix_image, True, "<= 0.3x"),
            ("baseline of --to, cache", next_baseline, True, "<= 0.3x"),
        ]
        for what, image, cached, goal in [] if args.overhead_only else later:
            timed(what, image, cached, goal)
    full = rows[0].timed
    changed = _git(args.glibc_git, "diff", "--shortstat", args.old, args.new)
    print(f"\ntree {args.old} -> {args.new} ({changed.strip()}), {args.toolchain}, {args.arch}, "
          f"{os.cpu_count()} cores, ccache's {caches.mode} mode\n")  # fmt: skip
    print(
        "| build | wall | make | ccache hits direct + preprocessed / misses "
        "| ratio to cold full | goal |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        stats = "" if row.counts is None else str(row.counts)
        make = row.timed.phases.get("make")
        print(f"| {row.what} | {row.timed.wall:.0f} s | {make if make is not None else '?'} s "
              f"| {stats} | {row.timed.wall / full.wall:.2f}x | {row.goal} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
