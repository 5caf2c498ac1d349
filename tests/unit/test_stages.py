"""`RunOptions`: a run's options are checked once, before any image is built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from farm import matrix
from farm.errors import UsageError
from farm.scenario import load_scenario
from farm.sources import Cache
from farm.stages import RunOptions

REPO = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(REPO / "scenarios" / "debian-2.36-backports.yaml")


def options(tmp_path: Path, **overrides: Any) -> RunOptions:
    return RunOptions(
        scenario=SCENARIO,
        cells=matrix.cells([SCENARIO]),
        run_dir=tmp_path,
        cache=Cache(tmp_path / "cache"),
        **overrides,
    )


@pytest.mark.parametrize(("given", "workers"), [("auto", "auto"), ("4", 4), (2, 2)])
def test_workers_as_given_on_a_command_line_are_taken(
    tmp_path: Path, given: str | int, workers: str | int
) -> None:
    assert options(tmp_path, workers=given).workers == workers


@pytest.mark.parametrize("workers", ["abc", "0", "-1", "", "٣", 0, True])
def test_workers_that_are_no_count_are_refused(tmp_path: Path, workers: str | int) -> None:
    with pytest.raises(UsageError, match="--workers: expected 'auto' or a number >= 1"):
        options(tmp_path, workers=workers)


@pytest.mark.parametrize("reruns", [-1, True, 1.5])
def test_reruns_must_be_a_whole_number_of_at_least_zero(tmp_path: Path, reruns: Any) -> None:
    with pytest.raises(UsageError, match="--reruns: expected a whole number >= 0"):
        options(tmp_path, reruns=reruns)


def test_options_are_frozen(tmp_path: Path) -> None:
    with pytest.raises(AttributeError):
        options(tmp_path).reruns = 3  # type: ignore[misc]
