"""What a series costs the patchwork bot when the shared baseline has just moved, against one
on a baseline already built (issue #18: "the cost of the first series after the baseline
moved").

The real ``farm watch --once``, as a process, against the loopback patchwork stand-in
(tests/unit/patchwork_fake.py), on a template that follows ``master`` of a local glibc git
repository made here from two commits of the glibc repository you name (``--from`` and
``--to``: say master 30 commits ago and master today). Three rounds, one new series each
(a comment line added to a file both commits have alike, so it applies to either):

1. master at ``--from``: the shared baseline is resolved and, if this engine has not built
   it yet, built (a full glibc build per arch);
2. master unchanged: a series on a baseline already built, the usual case;
3. master moved to ``--to`` and the baseline older than ``--baseline-every``: the watcher
   resolves master again and the series waits for the new baseline's full build.

It prints each round's wall time (the process, from its start to the verdict posted; the
poll interval is not waited, a series is seen at once) with the watcher's own log line,
and round 3's cost as a ratio to round 2's. The two commits' trees are committed afresh into
a throwaway repository (their ids differ from the originals, their content does not), so a
snapshot that lacks old history is enough. Nothing of the farm's is removed: run it twice
and round 1 is warm too.

    python -m bench.watch_bench --glibc-git /path/to/glibc.git --from master~30 --to master
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.unit import patchwork_fake

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = """\
name: watch-bench
toolchains: [{toolchain}]
glibc:
  version: "{version}"
  source:
    git:
      url: {upstream}
      ref: master
  configure:
    - --disable-werror
    - --enable-stack-protector=strong
arches: [{arch}]
tests:
  cases: ["dlmopen/*"]
  glibc:
    - elf/tst-dlmopen1
"""
#: The file the series of every round adds a comment line to, at its end (it must read the
#: same in both commits, so that one series applies to either).
PATCHED_FILE = "elf/dl-close.c"
#: A round's deadline: a full glibc build and the series on a contended 2-core machine.
ROUND_TIMEOUT = 3 * 3600


@dataclass(frozen=True, slots=True)
class Round:
    title: str
    seconds: float
    exit_status: int
    log_line: str


def _git(
    repo: Path, *args: str, stdin: str | None = None, date: str | None = None,
    index: Path | None = None,
) -> str:  # fmt: skip
    """git in ``repo``; ``date`` fixes a commit's dates, so that it gets the same id on
    every run of the bench (and the farm's images of it are reused); ``index`` is a
    throwaway index to make a commit with (no work tree of glibc is checked out)."""
    dates = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {}
    indexes = {"GIT_INDEX_FILE": str(index)} if index else {}
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@localhost",
         *args],
        input=stdin, check=True, capture_output=True, text=True, timeout=600,
        env={**os.environ, **dates, **indexes},
    )  # fmt: skip
    return done.stdout.strip()


def make_upstream(glibc_git: Path, old: str, new: str, scratch: Path) -> tuple[Path, str, str]:
    """A repository whose master can be moved from ``old``'s tree to ``new``'s: two fresh
    commits (``new`` the child of ``old``), objects borrowed from ``glibc_git``."""
    upstream = scratch / "upstream"
    _git(scratch, "init", "-q", str(upstream))
    common = Path(_git(glibc_git, "rev-parse", "--path-format=absolute", "--git-common-dir"))
    (upstream / ".git" / "objects" / "info" / "alternates").write_text(
        f"{common / 'objects'}\n", encoding="utf-8"
    )
    old_tree, new_tree = (_git(glibc_git, "rev-parse", f"{rev}^{{tree}}") for rev in (old, new))
    old_date, new_date = (_git(glibc_git, "log", "-1", "--format=%cI", rev) for rev in (old, new))
    first = _git(upstream, "commit-tree", old_tree, "-m", f"glibc at {old}", date=old_date)
    second = _git(upstream, "commit-tree", new_tree, "-p", first, "-m", f"glibc at {new}",
                  date=new_date)  # fmt: skip
    if _git(upstream, "rev-parse", f"{first}:{PATCHED_FILE}") != _git(
        upstream, "rev-parse", f"{second}:{PATCHED_FILE}"
    ):
        raise SystemExit(f"{PATCHED_FILE} differs between {old} and {new}: pick other commits")
    _git(upstream, "update-ref", "refs/heads/master", first)
    # A repository with alternates is not complete on its own: pack what the two commits
    # need into it (nothing of the history they no longer have), so that the farm's fetch
    # finds every object once the alternates are gone.
    objects = _git(upstream, "rev-list", "--objects", first, second)
    _git(upstream, "pack-objects", "-q", str(upstream / ".git" / "objects" / "pack" / "pack"),
         stdin=objects + "\n")  # fmt: skip
    (upstream / ".git" / "objects" / "info" / "alternates").unlink()
    return upstream, first, second


def series_mbox(upstream: Path, round_number: int) -> bytes:
    """A one-patch series on master, as ``git format-patch`` writes it, adding a comment
    line (made with a throwaway index: no work tree of glibc is checked out)."""
    index = upstream.parent / f"index-{round_number}"
    text = _git(upstream, "show", f"master:{PATCHED_FILE}") + "\n"
    changed = f"{text}/* watch bench, round {round_number}.  */\n"
    blob = _git(upstream, "hash-object", "-w", "--stdin", stdin=changed)

    def git(*args: str) -> str:
        return _git(upstream, *args, index=index)

    git("read-tree", "master")
    git("update-index", "--cacheinfo", f"100644,{blob},{PATCHED_FILE}")
    commit = git("commit-tree", git("write-tree"), "-p", "master",
                 "-m", f"elf: a comment, round {round_number}")  # fmt: skip
    return (git("format-patch", "-1", commit, "--stdout") + "\n").encode()


def run_round(
    title: str, arguments: list[str], pw: patchwork_fake.FakePatchwork, series_id: int,
    mbox: bytes,
) -> Round:  # fmt: skip
    pw.post_series(series_id, f"elf: a comment ({title})", [series_id * 10 + 1],
                   date=f"2026-12-04T{series_id % 24:02d}:00:00")  # fmt: skip
    pw.mboxes[series_id] = mbox
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "farm", "watch", "--once", *arguments],
        cwd=REPO, capture_output=True, text=True, timeout=ROUND_TIMEOUT, check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    seconds = time.monotonic() - started
    lines = [line for line in done.stderr.splitlines() if f"series {series_id} " in line]
    verdict = next((line for line in reversed(lines) if " in " in line), "(no verdict line)")
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-5000:])
    return Round(title, seconds, done.returncode, verdict.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--glibc-git", type=Path, required=True, metavar="REPO",
                        help="a glibc git repository (a mirror's snapshot will do)")  # fmt: skip
    parser.add_argument("--from", dest="old", required=True, metavar="REV")
    parser.add_argument("--to", dest="new", required=True, metavar="REV")
    parser.add_argument("--version", default="2.44.9000", help="the tree's version.h")
    parser.add_argument("--toolchain", default="bookworm")
    parser.add_argument("--arch", default="x86_64")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="farm-watch-bench-") as scratch_name:
        scratch = Path(scratch_name)
        upstream, first, second = make_upstream(args.glibc_git, args.old, args.new, scratch)
        template = scratch / "template.yaml"
        template.write_text(TEMPLATE.format(
            toolchain=args.toolchain, version=args.version, upstream=upstream, arch=args.arch
        ), encoding="utf-8")  # fmt: skip
        token = scratch / "token"
        token.write_text(next(iter(patchwork_fake.FakePatchwork().tokens)) + "\n", "utf-8")
        rounds: list[Round] = []
        with patchwork_fake.serve(lifetime=3 * ROUND_TIMEOUT) as pw:
            common = ["--project", "glibc", "--server", pw.url, "--since", "2026-12-04T00:00:00",
                      "--state", str(scratch / "state.sqlite"), "--scenario", str(template),
                      "--token-file", str(token), "--interval", "1"]  # fmt: skip
            moved = [*common, "--baseline-every", "0.0002"]
            plan = [("master at --from, baseline resolved", common),
                    ("baseline built", common), ("baseline moved to --to", moved)]  # fmt: skip
            for number, (title, arguments) in enumerate(plan, 1):
                if number == 3:
                    _git(upstream, "update-ref", "refs/heads/master", second)
                    time.sleep(2)  # the baseline is older than --baseline-every now
                mbox = series_mbox(upstream, number)
                rounds.append(run_round(title, arguments, pw, number, mbox))
                if rounds[-1].exit_status != 0:
                    break  # its stderr is shown; a later round would measure nothing
    print(f"upstream: {args.old} -> {args.new} (as {first[:12]} -> {second[:12]}), "
          f"{args.toolchain}, {args.arch}")  # fmt: skip
    for number, done in enumerate(rounds, 1):
        print(f"round {number} ({done.title}): {done.seconds:.0f} s, exit {done.exit_status}")
        print(f"    {done.log_line}")
    if len(rounds) == 3 and all(done.exit_status == 0 for done in rounds):
        print(f"first series after the baseline moved / on a built baseline: "
              f"{rounds[2].seconds / rounds[1].seconds:.1f}x")  # fmt: skip
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
