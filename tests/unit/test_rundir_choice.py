"""Where a run directory goes (`rundir.choose_run_dir`): chosen first, made only after every
option was checked, and never shared by two farms started in the same second."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from farm import rundir
from farm.errors import UsageError

NOON = datetime.datetime(2026, 12, 1, 12, 0, 0)


def test_choosing_makes_nothing(tmp_path: Path) -> None:
    choice = rundir.choose_run_dir(None, "demo", root=tmp_path / "farm-runs", now=NOON)
    assert choice.path == tmp_path / "farm-runs" / "demo" / "20261201-120000"
    assert choice.fresh
    assert not (tmp_path / "farm-runs").exists()


def test_a_stamp_taken_meanwhile_gives_the_next_suffix(tmp_path: Path) -> None:
    first = rundir.choose_run_dir(None, "demo", root=tmp_path, now=NOON)
    second = rundir.choose_run_dir(None, "demo", root=tmp_path, now=NOON)
    assert first.create() == tmp_path / "demo" / "20261201-120000"
    assert second.create() == tmp_path / "demo" / "20261201-120000-2"


def test_resume_takes_the_newest_and_refuses_when_there_is_none(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no earlier run of demo"):
        rundir.choose_run_dir(None, "demo", resume=True, root=tmp_path)
    for stamp in ("20261201-110000", "20261201-120000"):
        (tmp_path / "demo" / stamp).mkdir(parents=True)
    newest = rundir.choose_run_dir(None, "demo", resume=True, root=tmp_path)
    assert newest.path == tmp_path / "demo" / "20261201-120000" and not newest.fresh
    with pytest.raises(UsageError, match="does not exist; nothing to resume"):
        rundir.choose_run_dir(tmp_path / "nope", "demo", resume=True)


def test_a_requested_directory_is_made_with_its_parents(tmp_path: Path) -> None:
    choice = rundir.choose_run_dir(tmp_path / "a" / "b", "demo")
    assert choice.create() == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot make the directory"):
        rundir.choose_run_dir(tmp_path / "file" / "x", "demo").create()
