"""``farm watch`` and ``farm watch --status`` end to end against a patchwork on loopback.

Only series the watcher skips are posted here, so nothing needs Docker: what is tested is
the command (its options, its state file, its lock, its signals), not a glibc build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from farm.cli import main
from farm.watch.state import SeriesState, WatchState
from tests.unit.patchwork_fake import FakePatchwork, serve, without_git_pw_settings

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "scenarios" / "glibc-master.yaml"


@pytest.fixture()
def fake() -> Iterator[FakePatchwork]:
    with serve() as server:
        server.post_series(31, "elf: an idea", [310], date="2026-12-03T06:10:00", tags="RFC")
        server.post_series(
            32, "elf: later", [320], date="2026-12-03T06:20:00",
            cover_body="Not for CI yet.\n\nCI-tag: skip\n",
        )  # fmt: skip
        yield server


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    without_git_pw_settings(monkeypatch, tmp_path)


def watch_args(fake: FakePatchwork, state: Path, *extra: str) -> list[str]:
    return [
        "watch", "--project", "glibc", "--server", fake.url, "--state", str(state),
        "--scenario", str(TEMPLATE), "--since", "2026-12-03T06:00:00Z", *extra,
    ]  # fmt: skip


def test_once_skips_and_status_shows_why(
    fake: FakePatchwork, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "glibc.sqlite"
    assert main(watch_args(fake, state, "--once", "--no-post")) == 0
    err = capsys.readouterr().err
    assert "series posted since 2026-12-03T06:00:00 UTC" in err
    assert "series 31 v1 'elf: an idea': skipped: [RFC]" in err
    assert (tmp_path / "glibc.d" / "mboxes" / "32.cover.mbox").is_file()
    with WatchState.read_only(state) as read:
        assert {r.state for r in read.records()} == {SeriesState.SKIPPED}
    assert main(["watch", "--status", "--state", str(state)]) == 0
    out = capsys.readouterr().out
    assert "project glibc" in out and "watcher: not running" in out
    assert "queue (0):" in out and "running (0):" in out
    assert "series 32 v1 'elf: later': skipped 'CI-tag: skip' in the cover letter" in out
    assert out.index("series 32") < out.index("series 31")  # newest first
    assert fake.checks == {}


def test_posting_needs_a_token_and_jobs_must_be_a_count(
    fake: FakePatchwork, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "glibc.sqlite"
    assert main(watch_args(fake, state, "--once")) == 2
    assert "no patchwork token" in capsys.readouterr().err
    for bad in ("0", "-1", "two", "33"):
        with pytest.raises(SystemExit) as refused:
            main(watch_args(fake, state, "--once", "--no-post", "--jobs", bad))
        assert refused.value.code == 2
        assert f"--jobs: {bad!r}: expected a whole number from 1 to 32" in capsys.readouterr().err
    assert not state.exists()  # refused before a state was made
    assert main(watch_args(fake, state, "--once", "--no-post", "--jobs", "2")) == 0
    assert "series 31 v1 'elf: an idea': skipped: [RFC]" in capsys.readouterr().err


def test_a_state_in_use_is_refused_naming_its_holder(
    fake: FakePatchwork, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "glibc.sqlite"
    with WatchState.open(state, project="glibc", server=fake.url + "/"):
        assert main(watch_args(fake, state, "--once", "--no-post")) == 2
        err = capsys.readouterr().err
        assert f"in use by another farm watch (pid {os.getpid()} on " in err
        assert main(["watch", "--status", "--state", str(state)]) == 0
        assert f"watcher: running (pid {os.getpid()} on " in capsys.readouterr().out


def test_sigterm_stops_the_watcher_cleanly(fake: FakePatchwork, tmp_path: Path) -> None:
    state = tmp_path / "glibc.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-m", "farm", *watch_args(fake, state, "--no-post", "--interval", "60")],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert process.stderr is not None
    try:
        for line in process.stderr:  # wait until the first round is done
            if "skipped: 'CI-tag: skip'" in line:
                break
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=30)[1]
    finally:
        process.kill()
    assert process.returncode == 0, rest
    assert "SIGTERM: stopping after the current step" in rest
    assert "stopped; the state is consistent" in rest
    with WatchState.read_only(state) as read:
        assert len(read.records([SeriesState.SKIPPED])) == 2


def test_once_with_patchwork_down_says_so_in_its_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve() as down:
        url = down.url
    state = tmp_path / "glibc.sqlite"
    args = ["watch", "--project", "glibc", "--server", url, "--state", str(state), "--once",
            "--no-post", "--scenario", str(TEMPLATE)]  # fmt: skip
    assert main(args) == 3
    assert "patchwork fault while polling: could not connect" in capsys.readouterr().err
    with WatchState.read_only(state) as read:
        assert read.cursor() is not None and read.records() == []


def test_baseline_every_takes_a_number_of_hours_above_0(
    fake: FakePatchwork, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "glibc.sqlite"
    for bad in ("0", "-1", "a day"):
        with pytest.raises(SystemExit) as refused:
            main(watch_args(fake, state, "--once", "--no-post", "--baseline-every", bad))
        assert refused.value.code == 2
        assert f"{bad!r}: expected a number of hours above 0" in capsys.readouterr().err
    assert main(watch_args(fake, state, "--once", "--no-post", "--baseline-every", "0.5")) == 0
