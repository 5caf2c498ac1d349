"""`RunDir`'s rules that no other test reaches: which directories are run directories, and
which run directories a directory holds (how ``farm watch`` pairs one scenario's run of v1
with its run of v2). Where a run directory goes is test_rundir_choice.py's; what its reader
accepts, test_verdict_soundness.py's, test_bounded_readers.py's and test_results_reading.py's;
a resumed run's results, test_resume.py's."""

from __future__ import annotations

from pathlib import Path

from farm.rundir import RunDir


def _run(path: Path, part: str = "cells") -> Path:
    (path / part).mkdir(parents=True)
    return path


def test_a_directory_with_cells_or_results_is_a_run_directory(tmp_path: Path) -> None:
    assert RunDir(_run(tmp_path / "a", "cells")).looks_like_run_dir()
    assert RunDir(_run(tmp_path / "b", "results")).looks_like_run_dir()
    (tmp_path / "c" / "logs").mkdir(parents=True)
    assert not RunDir(tmp_path / "c").looks_like_run_dir()
    assert not RunDir(tmp_path / "missing").looks_like_run_dir()


def test_a_run_directory_holds_itself_alone(tmp_path: Path) -> None:
    root = _run(tmp_path / "run")
    _run(root / "nested")  # inside a run directory, not another run
    assert RunDir(root).run_dirs_within() == {"": root}


def test_a_directory_of_runs_holds_each_by_its_name_and_follows_no_link(tmp_path: Path) -> None:
    root = tmp_path / "watch-run"
    master = _run(root / "glibc-master")
    release = _run(root / "glibc-2.40", "results")
    (root / "notes").mkdir()  # no run
    elsewhere = _run(tmp_path / "elsewhere")
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    assert RunDir(root).run_dirs_within() == {"glibc-2.40": release, "glibc-master": master}
    (tmp_path / "link-to-root").symlink_to(root, target_is_directory=True)
    assert RunDir(tmp_path / "link-to-root").run_dirs_within() == {}
    assert RunDir(tmp_path / "missing").run_dirs_within() == {}
