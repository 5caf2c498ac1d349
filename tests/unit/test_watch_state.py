"""farm.watch.state: the watcher's SQLite state and its lock, on real files."""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path

import pytest

from farm.report.patchwork import PatchworkCheck
from farm.watch.state import (
    Cursor,
    SeriesState,
    StateError,
    WatchedSeries,
    WatchState,
    checks_from_json,
)


def series(number: int, date: str = "2026-12-03T07:00:00") -> WatchedSeries:
    return WatchedSeries(
        id=number, version=1, name=f"s{number}", submitter="A <a@example.org>", date=date,
        mbox_url=f"http://pw/series/{number}/mbox/", patch_ids=(number * 10, number * 10 + 1),
    )  # fmt: skip


def test_series_and_cursor_survive_a_reopen(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    with WatchState.open(db, project="glibc", server="http://pw/api/1.3") as state:
        assert state.cursor() is None
        added = state.add_series([series(1), series(2)], Cursor("2026-12-03T07:00:00", 2), now=1.0)
        assert added == 2
        # Seen again in the overlap of the next poll: not queued twice, not reset.
        state.update(1, now=2.0, state=SeriesState.DONE, verdict="ACCEPT", attempts=1)
        assert state.add_series([series(1)], Cursor("2026-12-03T07:00:00", 2), now=3.0) == 0
    with WatchState.open(db, project="glibc", server="http://pw/api/1.3") as state:
        assert state.cursor() == Cursor("2026-12-03T07:00:00", 2)
        first = state.get(1)
        assert (first.state, first.verdict, first.attempts) == (SeriesState.DONE, "ACCEPT", 1)
        assert first.series == series(1)
        assert [r.series.id for r in state.work()] == [1, 2]  # 1: its final check not posted
        state.update(1, now=4.0, final_posted=True)
        assert [r.series.id for r in state.work()] == [2]


def test_checks_are_stored_and_validated(tmp_path: Path) -> None:
    check = PatchworkCheck("extra", "glibc-master", "x86_64", "fail", "glibc-farm-x", "bad")
    with WatchState.open(tmp_path / "s", project="glibc", server="u") as state:
        state.add_series([series(5)], Cursor("2026-12-03T07:00:00", 5), now=1.0)
        assert state.update(5, now=2.0, checks=(check,)).checks == (check,)
    with pytest.raises(ValueError, match="state 'maybe'"):
        checks_from_json(
            '[{"series": "e", "scenario": "s", "arch": "a", "state": "maybe", '
            '"context": "c", "description": "", "target_url": "", "toolchain": ""}]'
        )


def test_a_second_watcher_is_refused_with_the_holders_name(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    with WatchState.open(db, project="glibc", server="u"):
        with pytest.raises(StateError) as refused, WatchState.open(db, project="glibc", server="u"):
            pass  # pragma: no cover
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message
        assert socket.gethostname()[:100] in message
        assert "started 20" in message and "--state" in message
    # Released when the first one ends: a third one may run.
    with WatchState.open(db, project="glibc", server="u"):
        pass


def test_a_state_of_another_project_or_no_state_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    with WatchState.open(db, project="glibc", server="u"):
        pass
    refused = pytest.raises(StateError, match="project 'glibc', not 'gdb'")
    with refused, WatchState.open(db, project="gdb", server="u"):
        pass  # pragma: no cover
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a database at all" * 100)
    refused = pytest.raises(StateError, match="not a farm watch state")
    with refused, WatchState.open(junk, project="glibc", server="u"):
        pass  # pragma: no cover


def test_a_damaged_record_names_the_file(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    with WatchState.open(db, project="glibc", server="u") as state:
        state.add_series([series(3)], Cursor("2026-12-03T07:00:00", 3), now=1.0)
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE series SET state = 'exploded' WHERE id = 3")
    with WatchState.read_only(db) as state, pytest.raises(StateError, match=f"{db}: series 3"):
        state.get(3)
