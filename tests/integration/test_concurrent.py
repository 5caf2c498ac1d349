"""Two `farm run`s of one scenario at once: neither corrupts the other's results or the cache.

Both start from an empty source cache (so both fetch glibc from Debian's archive at the same
time, under the cache's file locks) and without --run-dir (so both pick their run directory
under the same farm-runs/ in the same second). Each must end with the whole result, the same
as the other's, and the cache must hold only whole, hash-named files.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from farm import cases
from farm.containers import engine
from farm.inputs.sources import sha256_file
from tests.integration.conftest import FARM_TIMEOUT, FIXTURES, REPO, final_labels

pytestmark = pytest.mark.integration

SCENARIO = FIXTURES / "concurrent.yaml"


@dataclass(frozen=True)
class TwoRuns:
    work: Path  # the working directory both ran in: farm-runs/ is under it
    cache: Path  # the source cache both used
    outputs: list[str]  # each run's stdout and stderr
    owners: list[str]  # each run's container owner label, host:pid


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> TwoRuns:
    work = tmp_path_factory.mktemp("concurrent")
    cache = work / "cache"
    env = {**os.environ, "FARM_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    # Output to files, not pipes: a run blocked on a full pipe could hold a lock the other
    # waits for.
    logs = [work / f"run-{n}.log" for n in (1, 2)]
    runs = []
    for log in logs:
        with log.open("w") as stream:
            runs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "farm", "run", str(SCENARIO)],
                    cwd=work,
                    env=env,
                    stdout=stream,
                    stderr=subprocess.STDOUT,
                )
            )
    for run in runs:
        run.wait(timeout=FARM_TIMEOUT)
    outputs = [log.read_text() for log in logs]
    for run, output in zip(runs, outputs, strict=True):
        sys.stdout.write(output[-10000:])
        assert run.returncode == 0, output[-5000:]
    owners = [f"{socket.gethostname()}:{run.pid}" for run in runs]
    return TwoRuns(work, cache, outputs, owners)


def test_each_run_has_its_own_directory_and_the_whole_result(two_runs: TwoRuns) -> None:
    run_dirs = sorted((two_runs.work / "farm-runs" / "concurrent").iterdir())
    assert len(run_dirs) == 2, run_dirs
    reports = [json.loads((d / "report.json").read_text()) for d in run_dirs]
    assert [r["verdict"] for r in reports] == ["ACCEPT", "ACCEPT"]
    first, second = (final_labels(r) for r in reports)
    assert first == second
    # Every (variant, test) of the scenario, once per run: 2 variants x (the rseq and unload
    # families' cases + 1 glibc test).
    selected = cases.select_cases(cases.load_cases(), ("rseq", "unload"))
    assert len(selected) >= 12, "the rseq and unload families shrank"
    assert len(first) == 2 * (len(selected) + 1), sorted(first)
    for run_dir in run_dirs:
        attempts = [
            json.loads(line)
            for path in (run_dir / "results").glob("*.jsonl")
            for line in path.read_text().splitlines()
        ]
        # Each test's first attempt once: nothing of the other run's results got in here.
        firsts = sorted((a["arch"], a["variant"], a["test"]) for a in attempts if a["attempt"] == 1)
        assert firsts == sorted(first)


def test_the_shared_cache_holds_only_whole_files(two_runs: TwoRuns) -> None:
    blobs = sorted((two_runs.cache / "blobs").iterdir())
    assert blobs
    for blob in blobs:
        assert sha256_file(blob) == blob.name  # content-addressed and whole
    assert not any((two_runs.cache / "tmp").iterdir())  # no half-written file left behind
    # One run fetched glibc under the cache's lock; the other waited and found it there.
    fetched = ["fetching Debian source glibc=2.36" in output for output in two_runs.outputs]
    assert sorted(fetched) == [False, True], fetched
    assert all("Traceback" not in output for output in two_runs.outputs)


def test_no_container_of_either_run_is_left(client: docker.DockerClient, two_runs: TwoRuns) -> None:
    for owner in two_runs.owners:
        left = client.containers.list(all=True, filters={"label": f"{engine.OWNER_LABEL}={owner}"})
        assert left == [], [c.name for c in left]
