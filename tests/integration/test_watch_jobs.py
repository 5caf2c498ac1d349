"""`farm watch --jobs 2` end to end on real glibc: two series under test at once, killed
with both running, and resumed.

The scenario is `tests.integration.test_watch`'s (its template, its two fixture series: the
one that breaks dlmopen isolation, REJECT, and the harmless one, ACCEPT), so the images are
the ones that test builds: the baseline's (the default scenario's) and each series'. What
is tested is the watcher's concurrency, as issue 18 asks: both series start at once (both
``running`` in the state, and ``--status`` lists both), a SIGKILL of the watcher's process group
with both running loses and repeats nothing (each gets ``pending`` once and its verdict
once, on every patch; each resumes in its own run directory, attempt 2), and no image is
built by both series at the same time (`farm.run.build.one_build_per_tag`: the second waits on
the tag's lock and reuses the image).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import docker
import pytest

from farm.containers import engine
from tests.integration.conftest import REPO
from tests.integration.test_watch import (
    NAME,
    SERIES,
    WATCH_TIMEOUT,
    _finish,
    _inputs,
    _started,
    _states,
    _watch,
)
from tests.unit import patchwork_fake

pytestmark = pytest.mark.integration

BROKEN, HARMLESS = 601, 602
BROKEN_PATCHES, HARMLESS_PATCHES = [6011, 6012, 6013], [6021]
#: ``series 601 v1: test-x86_64-baseline: building glibc-farm/test:0123...``: the executor's
#: progress line as a build starts, and ``...: test-x86_64-baseline: built in 1m02s`` or a
#: failure as it ends.
BUILDING_RE = re.compile(r"(series \d+ v\d+): ([\w.-]+): building (\S+)$")
ENDED_RE = re.compile(r"(series \d+ v\d+): ([\w.-]+): (built in |.*failed|.*ERROR)")


def _records(state: Path) -> dict[int, tuple[str, int, str]]:
    """Per series id: its state, attempts and run directory, as the watcher recorded them."""
    if not state.exists():
        return {}
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute("SELECT id, state, attempts, run_dir FROM series").fetchall()
    return {int(i): (str(s), int(a), str(r)) for i, s, a, r in rows}


def _overlapping_builds(lines: Iterable[str]) -> list[str]:
    """Image tags a second series began to build while another's build of them was under
    way, from one watcher process's log."""
    open_builds: dict[str, tuple[str, str]] = {}  # tag -> (series, image name)
    overlaps = []
    for line in lines:
        if started := BUILDING_RE.search(line):
            series, name, tag = started.groups()
            if tag in open_builds and open_builds[tag][0] != series:
                overlaps.append(f"{tag}: {open_builds[tag][0]} and {series}")
            open_builds[tag] = (series, name)
        elif ended := ENDED_RE.search(line):
            series, name = ended.group(1), ended.group(2)
            open_builds = {t: b for t, b in open_builds.items() if b != (series, name)}
    return overlaps


def test_two_series_at_once_killed_with_both_running_lose_and_repeat_nothing(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    template, token, state = _inputs(tmp_path)
    runs = tmp_path / "glibc.d" / "runs"
    jobs = ("--jobs", "2")
    with patchwork_fake.serve(lifetime=4 * WATCH_TIMEOUT) as pw:
        pw.post_series(BROKEN, NAME, BROKEN_PATCHES, date="2026-12-03T08:00:00")
        pw.mboxes[BROKEN] = (SERIES / "broken-isolation.mbox").read_bytes()
        pw.post_series(HARMLESS, "elf: comment", HARMLESS_PATCHES, date="2026-12-03T08:01:00")
        pw.mboxes[HARMLESS] = next((SERIES / "harmless").glob("*.patch")).read_bytes()

        # Both started at once, then the whole process group SIGKILLed with both running.
        first = _watch(state, template, pw, token, *jobs)
        deadline = time.monotonic() + 1800
        while True:
            records = _records(state)
            both = all(records.get(i, ("",))[0] == "running" for i in (BROKEN, HARMLESS))
            if both and any(_started(runs / f"{i}-v1") for i in (BROKEN, HARMLESS)):
                break
            assert first.poll() is None, _finish(first)[1][-3000:]
            assert time.monotonic() < deadline, f"never both running: {records}"
            time.sleep(0.5)
        time.sleep(1)  # well under the harmless series' run with its images built (20 s)
        os.killpg(first.pid, signal.SIGKILL)
        _, killed_log = first.communicate(timeout=60)
        owner = f"{socket.gethostname()}:{first.pid}"
        for container in client.containers.list(
            all=True, filters={"label": f"{engine.OWNER_LABEL}={owner}"}
        ):
            container.remove(force=True)  # what the killed process could not stop
        cut_off = _records(state)
        for series_id in (BROKEN, HARMLESS):
            assert cut_off[series_id][:2] == ("running", 1), cut_off
        for patch_id in BROKEN_PATCHES + HARMLESS_PATCHES:
            assert _states(pw, patch_id) == ["pending"], pw.checks.get(patch_id)
        # The state says what was under test when the watcher died: both, as --status shows.
        status = subprocess.run(
            [sys.executable, "-m", "farm", "watch", "--status", "--state", str(state)],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        listed = status.stdout.split("running (2):\n", 1)[1].split("last results", 1)[0]
        assert f"series {BROKEN} v1 {NAME!r} attempt 1" in listed, status.stdout
        assert f"series {HARMLESS} v1 'elf: comment' attempt 1" in listed, status.stdout

        # Started again: each resumes in its own run directory, is judged and posted once.
        started = time.monotonic()
        status_code, resumed_log = _finish(_watch(state, template, pw, token, *jobs))
        resumed_seconds = time.monotonic() - started
        assert status_code == 0, resumed_log[-3000:]
        done = _records(state)
        for series_id in (BROKEN, HARMLESS):
            assert done[series_id] == ("done", 2, cut_off[series_id][2]), done
        assert resumed_log.count("resuming after it was cut off (attempt 2)") == 2, resumed_log
        for patch_id in BROKEN_PATCHES:
            assert _states(pw, patch_id) == ["pending", "fail"], pw.checks.get(patch_id)
        assert _states(pw, HARMLESS_PATCHES[0]) == ["pending", "success"], pw.checks
        for log in (killed_log, resumed_log):
            assert _overlapping_builds(log.splitlines()) == []
    sys.stderr.write(f"resumed run of both series: {resumed_seconds:.0f} s\n")
