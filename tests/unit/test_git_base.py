"""A scenario on a git branch is judged on the commit the branch names when the run starts.

``glibc.source.git.ref: master`` moves: each run fetches the branch and resolves it, the
lock pins the tarball of that commit (never of the branch, whose next commit would look
like a changed upstream file), and the commit is what the cells, reports and reproducers
name, so ``--base COMMIT`` repeats the run on the same glibc. Real git repositories in
``tmp_path`` stand in for sourceware's glibc.git.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from farm.commands.common import judged_commit, resume_command
from farm.errors import ScenarioError, SourceError
from farm.inputs.sources import Cache, Fetcher, is_commit_id
from farm.judging import gate
from farm.judging.verdict import reproducer
from farm.plan.scenario import (
    DEFAULT_PUBLIC_INBOX,
    GitSource,
    ThreadPatches,
    load_scenario,
    with_base,
    with_extra_series,
)
from farm.report import markdown
from farm.rundir import RunDir

SCENARIO = """\
name: master
glibc:
  version: "2.44.9000"
  source:
    git:
      url: {url}
      ref: {ref}
arches: [x86_64]
tests:
  glibc: [elf/tst-dlmopen1]
"""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


def _commit(repo: Path, text: str) -> str:
    (repo / "version.h").write_text(f"#define VERSION {text!r}\n")
    _git(repo, "add", "version.h")
    _git(repo, "commit", "-qm", text)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    repo = tmp_path / "glibc.git"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "master")
    _commit(repo, "2.44.9000")
    return repo


def _scenario(tmp_path: Path, upstream: Path, ref: str = "master") -> Path:
    path = tmp_path / "master.yaml"
    path.write_text(SCENARIO.format(url=upstream, ref=ref))
    return path


def test_a_branch_is_fetched_and_resolved_at_each_run(tmp_path: Path, upstream: Path) -> None:
    path = _scenario(tmp_path, upstream)
    cache = Cache(tmp_path / "cache")
    first_commit = _git(upstream, "rev-parse", "HEAD")
    first = Fetcher(cache, load_scenario(path)).glibc_tree()
    assert first.commit == first_commit
    # master moves on upstream: the next run fetches it and judges the new head.
    second_commit = _commit(upstream, "2.44.9001")
    messages: list[str] = []
    second = Fetcher(cache, load_scenario(path), progress=messages.append).glibc_tree()
    assert second.commit == second_commit and second.sha256 != first.sha256
    assert f"master of {upstream} is commit {second_commit}" in messages
    # The lock pins each commit's tarball, not the branch's: no "sha256 mismatch".
    pinned = json.loads(path.with_suffix(".lock").read_text())["sha256"]
    assert pinned == {
        f"git:{upstream}@{first_commit}": first.sha256,
        f"git:{upstream}@{second_commit}": second.sha256,
    }


def test_base_reruns_the_commit_a_run_judged(tmp_path: Path, upstream: Path) -> None:
    path = _scenario(tmp_path, upstream)
    cache = Cache(tmp_path / "cache")
    judged = Fetcher(cache, load_scenario(path)).glibc_tree()
    _commit(upstream, "2.44.9001")
    again = with_base(load_scenario(path), judged.commit, origin="--base")
    assert again.source == GitSource(url=str(upstream), ref=judged.commit)
    rerun = Fetcher(cache, again).glibc_tree()
    assert (rerun.commit, rerun.sha256) == (judged.commit, judged.sha256)
    # An abbreviated id names the same commit.
    short = with_base(load_scenario(path), judged.commit[:12], origin="--base")
    assert Fetcher(cache, short).glibc_tree().sha256 == judged.sha256


def test_a_pinned_commit_is_not_fetched_again(tmp_path: Path, upstream: Path) -> None:
    commit = _git(upstream, "rev-parse", "HEAD")
    path = _scenario(tmp_path, upstream, ref=commit)
    cache = Cache(tmp_path / "cache")
    assert Fetcher(cache, load_scenario(path)).glibc_tree().commit == commit
    # The upstream goes away: the mirror already holds the pinned commit.
    (upstream / ".git").rename(upstream / "gone")
    messages: list[str] = []
    again = Fetcher(cache, load_scenario(path), progress=messages.append).glibc_tree()
    assert again.commit == commit and not any("fetching" in m for m in messages)


def test_an_unreachable_upstream_says_how_to_pin_a_commit(tmp_path: Path, upstream: Path) -> None:
    path = _scenario(tmp_path, upstream)
    cache = Cache(tmp_path / "cache")
    Fetcher(cache, load_scenario(path)).glibc_tree()
    (upstream / ".git").rename(upstream / "gone")
    with pytest.raises(
        SourceError,
        match=r"(?s)cannot fetch 'master' from .*`git -C .* log master`\) as `--base COMMIT`",
    ):
        Fetcher(cache, load_scenario(path)).glibc_tree()


@pytest.mark.parametrize(
    ("commit", "problem"),
    [
        ("master", "expected a commit id"),
        ("--upload-pack=x", "expected a commit id"),
        ("ABCDEF0", "expected a commit id"),
        ("abc", "expected a commit id"),
        ("a" * 41, "expected a commit id"),
    ],
)
def test_base_takes_commit_ids_only(
    tmp_path: Path, upstream: Path, commit: str, problem: str
) -> None:
    with pytest.raises(ScenarioError, match=f"--base: {problem}"):
        with_base(load_scenario(_scenario(tmp_path, upstream)), commit, origin="--base")


def test_base_is_refused_for_a_source_that_is_not_git(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    debian = load_scenario(repo / "scenarios" / "debian-2.36-backports.yaml")
    with pytest.raises(ScenarioError, match="not a git repository"):
        with_base(debian, "0" * 40, origin="--base")


def test_is_commit_id_is_a_full_lowercase_sha1() -> None:
    assert is_commit_id("0123456789abcdef0123456789abcdef01234567")
    assert not is_commit_id("master") and not is_commit_id("0123456")
    assert not is_commit_id("0123456789ABCDEF0123456789ABCDEF01234567")


def test_the_reproducer_and_the_report_name_the_commit(tmp_path: Path, upstream: Path) -> None:
    scenario = load_scenario(_scenario(tmp_path, upstream))
    commit = _git(upstream, "rev-parse", "HEAD")
    command = reproducer(scenario, "master-x86_64-baseline", commit)
    assert command.endswith(f"--only master-x86_64-baseline --base {commit}")
    debian = load_scenario(
        Path(__file__).resolve().parents[2] / "scenarios/debian-2.36-backports.yaml"
    )
    assert "--base" not in reproducer(debian, "x", "")
    cell = gate.CellStatus(
        scenario="master", arch="x86_64", variant="baseline", state=gate.CellState.BUILT,
        source_commit=commit, reproducer=command,
    )  # fmt: skip
    lines = markdown._cell_lines(cell)
    assert f"  - glibc commit: `{commit}`" in lines


def _cell(variant: str, commit: str) -> gate.CellStatus:
    return gate.CellStatus(
        scenario="master", arch="x86_64", variant=variant, state=gate.CellState.BUILT,
        source_commit=commit,
    )  # fmt: skip


def test_a_resumed_run_on_a_branch_goes_on_with_the_commit_it_judged(
    tmp_path: Path, upstream: Path
) -> None:
    scenario = load_scenario(_scenario(tmp_path, upstream))
    run = tmp_path / "run"
    run.mkdir()
    assert judged_commit(scenario, run) is None  # nothing recorded yet
    commit = _git(upstream, "rev-parse", "HEAD")
    RunDir(run).write_cell(_cell("baseline", commit))
    RunDir(run).write_cell(_cell("one", commit))
    assert judged_commit(scenario, run) == commit
    line = resume_command("run", scenario, run, commit)
    assert line == f"farm run {scenario.path} --run-dir {run} --resume --base {commit}"
    # Two commits in one directory: no guess.
    RunDir(run).write_cell(_cell("two", "f" * 40))
    assert judged_commit(scenario, run) is None
    # A pinned commit or a Debian source is never re-based.
    pinned = load_scenario(_scenario(tmp_path, upstream, ref=commit))
    assert judged_commit(pinned, run) is None


@pytest.mark.parametrize("given", ["<20260801.1-1-a@example.org>", "20260801.1-1-a@example.org"])
def test_the_extra_series_may_be_a_message_id_of_libc_alpha(given: str) -> None:
    """The workflow's series input against master: a Message-ID is a public-inbox thread."""
    master = load_scenario(Path(__file__).resolve().parents[2] / "scenarios/glibc-master.yaml")
    scenario = with_extra_series(master, given, origin="$FARM_EXTRA_SERIES_URL")
    (extra,) = scenario.series
    assert extra.source == ThreadPatches(
        "20260801.1-1-a@example.org", DEFAULT_PUBLIC_INBOX, sha256=None
    )
    command = reproducer(scenario, "glibc-master-x86_64-extra", "a" * 40)
    assert command.startswith("FARM_EXTRA_SERIES_URL=20260801.1-1-a@example.org farm run")
    assert command.endswith(f"--base {'a' * 40}")
    for bad in ("a@b@c", "<x y@z>", "x@y/z", "@", "x@"):
        with pytest.raises(ScenarioError, match="or a Message-ID"):
            with_extra_series(master, bad, origin="$FARM_EXTRA_SERIES_URL")
