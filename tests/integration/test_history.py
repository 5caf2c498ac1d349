"""The flaky history across real runs: a test that flipped twice on an unchanged image is
reported known flaky by the next run's gate, not as a regression; on another image it still
rejects.

Real Docker, real images, no new glibc build: the fixture scenario is the default
scenario's glibc with the fixture series broken-isolation on x86_64, whose images the other
integration tests build (``farm render`` names them; both are reused here).

Why one run is constructed: the farm isolates a test from everything outside its image
except the clock and the kernel (no network, no host files, no environment of the caller;
the case library is baked into the test image), so no test of the shipped case library or
of glibc can be made to pass in one run and fail in the next on the same image without a
backdoor made for this test. So the first run's records are a real run's records with the
regressed test's outcome changed to PASS, as an earlier run on a quieter machine would have
seen it, and judged by the real ``farm gate --record-history`` into a real history file
after the real run's own FAIL (one flip); the second run is a real ``farm run`` whose test
really fails on that same image (the second flip).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from farm.judging import history
from farm.results import Outcome
from farm.rundir import RunDir
from tests.integration.conftest import FIXTURES, farm

pytestmark = pytest.mark.integration

SCENARIO = FIXTURES / "history-flip.yaml"
SERIES_CELL = "history-flip-x86_64-broken-isolation"
TEST = "farm/dlmopen/newlm-isolation"


def _arch(report: dict[str, Any]) -> dict[str, Any]:
    (series,) = report["series"]
    (arch,) = series["arches"]
    return arch


def _transition(report: dict[str, Any]) -> dict[str, Any]:
    (found,) = [t for t in _arch(report)["transitions"] if t["test"] == TEST]
    return found


@pytest.fixture(scope="module")
def real_run(run_root: Path) -> Path:
    """A real run without history: the series really regresses TEST, and is rejected."""
    directory = run_root / "history-real"
    completed = farm("run", SCENARIO, "--run-dir", directory, "--no-bisect", "--no-history")
    assert completed.returncode == 1, completed.stderr[-3000:]
    report = json.loads((directory / "report.json").read_text())
    regression = _transition(report)
    assert (regression["kind"], regression["category"]) == ("REGRESSION", "new failure")
    assert regression["attempts"] == ["FAIL", "FAIL"] and regression["rejects"]
    return directory


@pytest.fixture(scope="module")
def image_id(real_run: Path) -> str:
    cell = json.loads((real_run / "cells" / f"{SERIES_CELL}.json").read_text())
    assert cell["state"] == "BUILT" and cell["image_id"].startswith("sha256:")
    return str(cell["image_id"])


@pytest.fixture(scope="module")
def first_history(real_run: Path, run_root: Path) -> Path:
    """The history after a first run in which TEST passed on the series image (see the
    module docstring for why this run's records are constructed)."""
    first = run_root / "history-first"
    shutil.copytree(real_run, first)
    records, unreadable = RunDir(first).read_results()
    assert not unreadable and records
    shutil.rmtree(first / "results")
    for record in records:
        if record.variant == "broken-isolation" and record.test == TEST:
            if record.attempt > 1:
                continue  # a PASS is not rerun
            record = dataclasses.replace(record, outcome=Outcome.PASS, exit_code=0)
        RunDir(first).append_result(record, worker="gw0")
    path = run_root / "history.jsonl"
    # The real run's FAIL, then the constructed PASS: one flip so far. `farm gate` records
    # only when asked, as these are directories the test vouches for.
    for directory, status in ((real_run, 1), (first, 0)):
        completed = farm(
            "gate", SCENARIO, directory, "--history", path, "--record-history",
            "--report-dir", run_root / f"r-{directory.name}",
        )  # fmt: skip
        assert completed.returncode == status, completed.stdout[-3000:]
    return path


@pytest.fixture(scope="module")
def second_run(first_history: Path, run_root: Path) -> tuple[int, Path]:
    directory = run_root / "history-second"
    completed = farm(
        "run", SCENARIO, "--run-dir", directory, "--no-bisect", "--history", first_history
    )
    return completed.returncode, directory


def test_the_second_run_reports_the_flip_as_known_flaky(
    second_run: tuple[int, Path], image_id: str
) -> None:
    status, directory = second_run
    report = json.loads((directory / "report.json").read_text())
    flaky = _transition(report)
    assert (flaky["kind"], flaky["category"], flaky["rejects"]) == ("FLAKY", "flaky", False)
    assert flaky["attempts"] == ["FAIL", "FAIL"]  # it really failed, twice, in this run
    evidence = flaky["known_flaky"]
    assert (evidence["cell"], evidence["image_id"]) == (SERIES_CELL, image_id)
    assert [s["label"] for s in evidence["sightings"]] == ["FAIL", "PASS", "FAIL"]
    assert evidence["sightings"][-1]["run"] == history.THIS_RUN
    assert status == 0 and report["verdict"] == "ACCEPT", _arch(report)["reasons"]
    assert _arch(report)["counts"]["flaky"] == 1 and _arch(report)["counts"]["new failure"] == 0
    markdown = (directory / "report.md").read_text()
    assert f"`{TEST}`" in markdown and "known flaky (history): on image sha256:" in markdown


def test_the_second_run_is_recorded_after_its_verdict(
    second_run: tuple[int, Path], first_history: Path, image_id: str
) -> None:
    recorded = history.read(first_history)
    assert recorded.problems == ()
    assert len(recorded.windows[SERIES_CELL]) == 3  # the real, the constructed, the second
    sightings = recorded.tests[(SERIES_CELL, image_id, TEST)].sightings
    assert [s.label for s in sightings] == ["FAIL", "PASS", "FAIL"]
    assert len({s.run for s in sightings}) == 3


def test_without_the_history_or_on_another_image_the_same_run_rejects(
    second_run: tuple[int, Path], first_history: Path, image_id: str, run_root: Path
) -> None:
    _, directory = second_run
    alone = farm("gate", SCENARIO, directory, "--no-history", "--report-dir", run_root / "r3")
    assert alone.returncode == 1, alone.stdout[-3000:]
    # The same evidence, signed, about another image (an earlier build of the series).
    elsewhere = run_root / "history-other-image.jsonl"
    recorded = history.read(first_history)
    moved = {
        (cell, "sha256:" + "0" * 64 if image == image_id else image, test): dataclasses.replace(
            record, image_id="sha256:" + "0" * 64 if image == image_id else image
        )
        for (cell, image, test), record in recorded.tests.items()
    }
    history.write(elsewhere, dataclasses.replace(recorded, tests=moved))
    other = farm(
        "gate", SCENARIO, directory, "--history", elsewhere, "--report-dir", run_root / "r4"
    )
    assert other.returncode == 1, other.stdout[-3000:]
    report = json.loads((run_root / "r4" / "report.json").read_text())
    regression = _transition(report)
    assert regression["kind"] == "REGRESSION" and regression["known_flaky"] is None
