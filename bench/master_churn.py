"""How much of glibc a day of master makes a compiler cache recompile (issue #19), day by
day over real history, so that the next-baseline ratio of `bench.ccache_bench` (one pair of
commits) can be read against every day rather than one chosen window.

A compile is answered from the cache when its source and every header it includes are
byte-identical (and its flags are: see below). Which headers each of glibc's ~8,000 compiles
includes is read from the dependency files (``*.d``) of one real build tree, the farm's
build image you name (``--image``: a baseline of a commit near the end of the history). For
each day of ``--rev``'s first-parent history it takes the files that day's commits changed
and counts the compiles that read one of them: those miss, the rest hit.

What it cannot see, and says: a day that changes a build file (``Makeconfig``,
``Makerules``, ``configure``, a subdirectory's ``Makefile``...) may change the flags of many
compiles, which also misses; such days are marked, not guessed at. Headers glibc generates
during the build (``$(common-objpfx)...``) are not followed. The dependency graph is of one
tree, so a file added after it is counted as read by nothing.

The measured pair checks the prediction: `bench.ccache_bench` from master~30 to master of
kraj/glibc missed 6599 of 8166 compiles (81%).

    python -m bench.master_churn --glibc-git KRAJ --image glibc-farm/build:x86_64-baseline-...
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import statistics
import sys
from pathlib import Path, PurePosixPath

from bench.watch_bench import _git
from farm.containers.engine import Engine

#: Prints every dependency file of the build tree, each after a line naming it.
_DUMP_DEPENDENCIES = r"""
cd /build/glibc
find . -name '*.d' | sort | while read -r f; do echo "@@farm-deps $f"; cat "$f"; done
"""
#: Files whose change may change the flags of compiles the dependency files do not name.
_BUILD_FILE_NAMES = {"Makeconfig", "Makerules", "Makefile", "configure", "configure.ac",
                     "config.make.in", "Rules", "Makefile.in", "shlib-versions"}  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Day:
    date: str  # YYYY-MM-DD, the committer date on this machine's clock (UTC here)
    commits: int
    changed: tuple[str, ...]
    missed: int  # compiles that read a changed file
    build_files: tuple[str, ...]  # changed files that may change flags


def read_dependencies(engine: Engine, image: str) -> dict[str, frozenset[str]]:
    """Per compile (its dependency file): the source-tree files it reads, repository paths."""
    status, output = engine.run_once(
        image, ["sh", "-c", _DUMP_DEPENDENCIES], binds={}, environment={}
    )
    if status != 0:
        raise SystemExit(f"master_churn: reading {image}'s dependency files failed (exit "
                         f"{status}): is it a farm build image?")  # fmt: skip
    compiles: dict[str, frozenset[str]] = {}
    name, words = "", []
    for line in [*output.decode(errors="replace").splitlines(), "@@farm-deps "]:
        if line.startswith("@@farm-deps "):
            if name:
                compiles[name] = frozenset(_source_paths(name, words))
            name, words = line.split(" ", 1)[1], []
        else:
            words += line.replace("\\", " ").split()
    return compiles


def _source_paths(dependency_file: str, words: list[str]) -> list[str]:
    """The prerequisites of one dependency file as repository paths. Make runs each
    subdirectory's compiles from ``/src/glibc/<subdir>``, so ``../x`` is ``x`` and a bare
    name is the subdirectory's; generated files (``$(common-objpfx)...``) are left out."""
    subdir = PurePosixPath(dependency_file).parent.parts[1:2]  # ./elf/dl-open.os.d -> elf
    paths = []
    for word in words:
        if word.endswith(":") or word.startswith("$(") or word.startswith("/"):
            continue
        joined = PurePosixPath(*subdir, word) if subdir else PurePosixPath(word)
        parts: list[str] = []
        for part in joined.parts:
            if part == "..":
                if parts:
                    parts.pop()
            elif part != ".":
                parts.append(part)
        paths.append("/".join(parts))
    return paths


def days_of(repo: Path, rev: str, days: int) -> list[tuple[str, list[str]]]:
    """The last ``days`` days of ``rev``'s first-parent history that have commits: each
    day with its commits, oldest first."""
    log = _git(repo, "log", "--first-parent", "--format=%H %cd", "--date=format-local:%Y-%m-%d",
               rev)  # fmt: skip
    by_day: dict[str, list[str]] = collections.defaultdict(list)
    order: list[str] = []
    for line in log.splitlines():
        sha, date = line.split()
        if date not in by_day:
            if len(order) == days:
                break
            order.append(date)
        by_day[date].append(sha)
    return [(date, by_day[date][::-1]) for date in reversed(order)]


def churn(repo: Path, rev: str, days: int, compiles: dict[str, frozenset[str]]) -> list[Day]:
    rows = []
    for date, commits in days_of(repo, rev, days):
        first_parent = _git(repo, "rev-parse", f"{commits[0]}^")
        changed = tuple(_git(repo, "diff", "--name-only", first_parent, commits[-1]).splitlines())
        missed = sum(1 for deps in compiles.values() if not deps.isdisjoint(changed))
        build = tuple(f for f in changed if PurePosixPath(f).name in _BUILD_FILE_NAMES)
        rows.append(Day(date, len(commits), changed, missed, build))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--glibc-git", type=Path, required=True, metavar="REPO")
    parser.add_argument("--image", required=True, help="a farm build image of the tree")
    parser.add_argument("--rev", default="master")
    parser.add_argument("--days", type=int, default=60, help="days with commits to look at")
    parser.add_argument(
        "--check", metavar="FROM..TO", default="master~30..master",
        help="a pair measured with bench.ccache_bench, to compare the prediction with",
    )  # fmt: skip
    args = parser.parse_args(argv)
    compiles = read_dependencies(Engine.connect(), args.image)
    total = len(compiles)
    rows = churn(args.glibc_git, args.rev, args.days, compiles)
    print(f"{args.rev} of {args.glibc_git}, {len(rows)} days with commits; the dependency "
          f"graph of {args.image}: {total} compiles, {os.cpu_count()} cores here\n")  # fmt: skip
    print("| day | commits | files | compiles missed | answered by the cache | build files |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        print(f"| {row.date} | {row.commits} | {len(row.changed)} | {row.missed} "
              f"| {1 - row.missed / total:.0%} | {' '.join(row.build_files)} |")  # fmt: skip
    shares = [1 - row.missed / total for row in rows]
    flagless = [1 - row.missed / total for row in rows if not row.build_files]
    print(f"\nanswered by the cache, per day: median {statistics.median(shares):.0%}; "
          f"days at 90% or more: {sum(s >= 0.9 for s in shares)} of {len(shares)}; "
          f"at 50% or less: {sum(s <= 0.5 for s in shares)}")  # fmt: skip
    if flagless:
        print(f"days without a build-file change: {len(flagless)}, median "
              f"{statistics.median(flagless):.0%}")  # fmt: skip
    old, new = args.check.split("..", 1)
    changed = _git(args.glibc_git, "diff", "--name-only", old, new).splitlines()
    missed = sum(1 for deps in compiles.values() if not deps.isdisjoint(changed))
    print(f"predicted for {args.check}: {missed} of {total} compiles missed "
          f"({missed / total:.0%}); compare ccache_bench's measured misses")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
