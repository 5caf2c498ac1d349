"""`RunOptions`: a run's options are checked once, before any image is built; and a test
run that pytest could not carry out is an error, never an empty success."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from farm.errors import UsageError
from farm.inputs.sources import Cache
from farm.plan import matrix
from farm.plan.scenario import load_scenario
from farm.plan.shard import Shard
from farm.run.stages import MAX_RERUNS, MAX_WORKERS, RunOptions, refuse_a_run_without_tests

REPO = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(REPO / "scenarios" / "debian-2.36-backports.yaml")


def options(tmp_path: Path, **overrides: Any) -> RunOptions:
    return RunOptions(
        scenario=SCENARIO,
        cells=matrix.cells([SCENARIO]),
        scenario_cells=matrix.cells([SCENARIO]),
        run_dir=tmp_path,
        cache=Cache(tmp_path / "cache"),
        **overrides,
    )


@pytest.mark.parametrize(
    ("given", "workers"), [("auto", "auto"), ("logical", "logical"), ("4", 4), (2, 2)]
)
def test_workers_as_given_on_a_command_line_are_taken(
    tmp_path: Path, given: str | int, workers: str | int
) -> None:
    assert options(tmp_path, workers=given).workers == workers


@pytest.mark.parametrize("workers", ["abc", "0", "-1", "", "٣", 0, True, MAX_WORKERS + 1])
def test_workers_that_are_no_count_are_refused(tmp_path: Path, workers: str | int) -> None:
    with pytest.raises(UsageError, match=r"--workers: .*expected auto, logical or a whole number"):
        options(tmp_path, workers=workers)


@pytest.mark.parametrize("reruns", [-1, True, 1.5, MAX_RERUNS + 1])
def test_reruns_must_be_a_whole_number_in_range(tmp_path: Path, reruns: Any) -> None:
    with pytest.raises(UsageError, match=r"--reruns: .*expected a whole number from 0"):
        options(tmp_path, reruns=reruns)


def test_a_shard_is_not_judged_alone(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--shard 1/2 needs --no-gate"):
        options(tmp_path, shard=Shard(1, 2))
    assert options(tmp_path, shard=Shard(1, 2), judge=False).shard == Shard(1, 2)


def test_a_history_needs_the_gate(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--history h\.jsonl needs the gate"):
        options(tmp_path, history=Path("h.jsonl"), judge=False)
    assert options(tmp_path, history=Path("h.jsonl")).history == Path("h.jsonl")


def test_options_are_frozen(tmp_path: Path) -> None:
    with pytest.raises(AttributeError):
        options(tmp_path).reruns = 3  # type: ignore[misc]


def test_a_collection_error_is_not_an_empty_success(tmp_path: Path) -> None:
    """pytest exits 2 ("Interrupted: 1 error during collection") when a test file cannot be
    collected: no test ran, so `farm run --no-gate` (a CI shard job) must not exit 0."""
    broken = tmp_path / "test_broken.py"
    broken.write_text("def test_x(:\n")
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(broken)],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert "error during collection" in ran.stdout, ran.stdout
    with pytest.raises(UsageError, match=r"pytest could not run the tests \(interrupted"):
        refuse_a_run_without_tests(ran.returncode, keyword=None, items=[])


@pytest.mark.parametrize("status", [0, 1])
def test_tests_that_ran_pass_or_fail_to_the_gate(status: int) -> None:
    refuse_a_run_without_tests(status, keyword=None, items=[])
