"""`farm watch` end to end on real glibc, against the loopback patchwork stand-in.

The stand-in lists four series posted since the watcher's start: v1 of a series that breaks
dlmopen isolation (the fixture mbox whose patch 2/3 does), an ``[RFC]`` series, a series
asking ``CI-tag: skip``, and later v2 of the first series, which no longer breaks anything
(the harmless fixture patch). The watcher is SIGKILLed while it builds v1 and started
again; patchwork answers 500 for a while; then v2 is posted. What must hold, as issue 18
asks: both skipped series get no check and are never fetched for testing; v1 gets
``pending`` once and then its verdict (REJECT: ``fail``) once on every patch, though the
watcher died mid-run; patchwork's 500s cost nothing; v2 gets ``success``.

The template is the fixture scenario's glibc (so its baseline images are the default
scenario's, built by test_build.py) on x86_64 only, with the dlmopen cases: what is tested
here is the watcher's composition, the same on i686.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from farm.containers import engine
from tests.integration.conftest import REPO
from tests.unit import patchwork_fake

pytestmark = pytest.mark.integration

SERIES = REPO / "tests" / "fixtures" / "series"
TEMPLATE = """\
name: watch-template
glibc:
  version: "2.36"
  source:
    debian:
      package: glibc
      version: 2.36-9+deb12u14
      dsc_sha256: cfe1f0b8dc1fa211ce5a45b3725cc38b29f88667f1140ebdca6de35cf9c6f1fd
      suite: bookworm
  prepare:
    - debian: all/local-remove-manual.diff
  configure:
    - --disable-werror
    - --enable-stack-protector=strong
arches: [x86_64]
tests:
  cases: ["dlmopen/*"]
  glibc:
    - elf/tst-dlmopen1
expect:
  - variant: "*"
    test: farm/dlmopen/newlm-isolation
    outcome: PASS
"""
NAME = "elf: dlmopen namespace tweaks"
V1, RFC, SKIP, V2 = 501, 502, 503, 504
V1_PATCHES, V2_PATCHES = [5011, 5012, 5013], [5041]
WATCH_TIMEOUT = 3600


def _watch(state: Path, template: Path, pw: patchwork_fake.FakePatchwork, token: Path,
           *extra: str, **popen: object) -> subprocess.Popen[str]:  # fmt: skip
    argv = [sys.executable, "-m", "farm", "watch", "--once", "--project", "glibc",
            "--server", pw.url, "--since", "2026-12-03T00:00:00", "--state", str(state),
            "--scenario", str(template), "--token-file", str(token), "--interval", "5",
            *extra]  # fmt: skip
    return subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True, **popen,
    )  # fmt: skip


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=WATCH_TIMEOUT)
    sys.stderr.write(stderr[-20000:])  # shown by pytest when the test fails
    return process.returncode, stderr


def _started(runs: Path) -> bool:
    """Whether v1's run is under way: an image build's log, or a test's result, is there."""
    return any(runs.glob("*/logs/build-*.log")) or any(
        path.stat().st_size for path in runs.glob("*/results/*.jsonl")
    )


def _regressions(runs: Path) -> set[str]:
    """The tests the series' variant regressed, from its (only) run's report.json."""
    (path,) = runs.glob("*/report.json")
    report = json.loads(path.read_text())
    assert report["verdict"] == "REJECT", report["verdict"]
    (series,) = report["series"]
    (arch,) = series["arches"]
    return {t["test"] for t in arch["transitions"] if t["kind"] == "REGRESSION"}


def _series_state(state: Path, series_id: int) -> str | None:
    if not state.exists():
        return None
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=10) as db:
        row = db.execute("SELECT state FROM series WHERE id = ?", (series_id,)).fetchone()
    return None if row is None else str(row[0])


def _inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """One test's template scenario, token file and state path, under ``tmp_path``."""
    template = tmp_path / "watch-template.yaml"
    template.write_text(TEMPLATE, encoding="utf-8")
    token = tmp_path / "token"
    token.write_text("s3cret\n", encoding="utf-8")
    state = tmp_path / "glibc.sqlite"
    return template, token, state


def _states(pw: patchwork_fake.FakePatchwork, patch_id: int) -> list[str]:
    return [check["state"] for check in pw.checks.get(patch_id, [])]


def test_the_watcher_tests_new_series_skips_what_asks_survives_a_kill_and_patchwork_down(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    template, token, state = _inputs(tmp_path)
    with patchwork_fake.serve(lifetime=4 * WATCH_TIMEOUT) as pw:
        pw.post_series(V1, NAME, V1_PATCHES, date="2026-12-03T08:00:00")
        pw.mboxes[V1] = (SERIES / "broken-isolation.mbox").read_bytes()
        pw.post_series(RFC, "nptl: an idea", [5021], date="2026-12-03T08:01:00", tags="RFC")
        asks_to_be_skipped = "Typo.\n\nCI-tag: skip\nSigned-off-by: A <a@b.org>\n"
        pw.post_series(
            SKIP, "manual: typo", [5031], date="2026-12-03T08:02:00", patch_body=asks_to_be_skipped
        )

        # Killed mid-run, while it builds v1's image (or, where an earlier session left
        # that image, while it tests v1): SIGKILL to the whole process group, as a power
        # cut or the OOM killer would end it.
        first = _watch(state, template, pw, token)
        deadline = time.monotonic() + 900
        while not _started(tmp_path / "glibc.d" / "runs" / f"{V1}-v1"):
            assert first.poll() is None, _finish(first)[1][-3000:]
            assert time.monotonic() < deadline, "the watcher never started building or testing"
            time.sleep(0.5)
        time.sleep(3)
        assert _series_state(state, V1) == "running"
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=60)
        owner = f"{socket.gethostname()}:{first.pid}"
        for container in client.containers.list(
            all=True, filters={"label": f"{engine.OWNER_LABEL}={owner}"}
        ):
            container.remove(force=True)  # what the killed process could not stop
        assert _states(pw, V1_PATCHES[0]) == ["pending"]

        # Patchwork answering 500: the round is cut short (exit 3), nothing is lost.
        pw.fault, pw.fault_on, pw.fault_times = "500", "*", 1
        status, stderr = _finish(_watch(state, template, pw, token))
        assert status == 3, stderr[-3000:]
        assert _series_state(state, V1) == "running"

        # Started again: v1 is resumed in its run directory, judged and posted once.
        status, stderr = _finish(_watch(state, template, pw, token))
        assert status == 0, stderr[-3000:]
        assert _series_state(state, V1) == "done"
        for patch_id in V1_PATCHES:
            assert _states(pw, patch_id) == ["pending", "fail"], pw.checks.get(patch_id)
        for skipped in (RFC, SKIP):
            assert _series_state(state, skipped) == "skipped"
        assert pw.checks.get(5021) is None and pw.checks.get(5031) is None
        (fail,) = (c for c in pw.checks[V1_PATCHES[0]] if c["state"] == "fail")
        assert "REJECT" in fail["description"], fail
        v1_regressions = _regressions(tmp_path / "glibc.d" / "runs" / f"{V1}-v1")
        assert "farm/dlmopen/newlm-isolation" in v1_regressions, v1_regressions

        # v2 of the series: accepted.
        pw.post_series(V2, NAME, V2_PATCHES, date="2026-12-03T09:00:00", version=2)
        pw.mboxes[V2] = next((SERIES / "harmless").glob("*.patch")).read_bytes()
        status, stderr = _finish(_watch(state, template, pw, token))
        assert status == 0, stderr[-3000:]
        assert _states(pw, V2_PATCHES[0]) == ["pending", "success"], pw.checks.get(V2_PATCHES[0])
        # v2 no longer breaks dlmopen isolation: every test v1 regressed is fixed in v2,
        # and that is what a reviewer of v2 reads first.
        success = pw.checks[V2_PATCHES[0]][-1]
        fixed = f"since v1: {len(v1_regressions)} fixed, 0 new failures"
        assert success["description"].endswith(fixed), success

    status = subprocess.run(
        [sys.executable, "-m", "farm", "watch", "--status", "--state", str(state)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert f"series {V1} v1 {NAME!r}: REJECT" in status.stdout, status.stdout
    assert f"series {V2} v2 {NAME!r}: ACCEPT" in status.stdout, status.stdout
    assert f"series {RFC} v1 'nptl: an idea': skipped" in status.stdout, status.stdout
    (v2_report,) = (tmp_path / "glibc.d").glob(f"runs/{V2}-v2/*/report.md")
    since = v2_report.read_text().split("## Since v1", 1)[1]
    assert "farm/dlmopen/newlm-isolation" in since, since
