"""The gate over shard directories: every shard of every cell, of one build, or UNDECIDED.

Hand-written run directories of a scenario whose cells are split in two (the fixture
shards-unit.yaml), laid out as CI leaves them: one build job's directory per cell (its
cell statuses, no results) and one directory per shard job (statuses, results, shard.json).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from farm.errors import UsageError
from farm.judging import verdict
from farm.judging.gate import CellState, CellStatus, GateResult, Verdict
from farm.plan import matrix
from farm.plan.shard import ShardedCell, ShardRecord
from farm.results import Outcome, TestResult
from farm.rundir import RunDir

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "tests" / "fixtures" / "scenarios" / "shards-unit.yaml"
TODAY = datetime.date(2026, 11, 22)
IMAGES = {"baseline": "sha256:" + "b" * 64, "fix": "sha256:" + "f" * 64}
#: Which test each shard runs (shard.select deals subdirectories round-robin, sorted).
TESTS = {1: "glibc/elf/tst-dlmopen1", 2: "glibc/nss/tst-nss-files"}


def status(variant: str, image: str = "", series: str = "") -> CellStatus:
    return CellStatus(
        "s",
        "x86_64",
        variant,
        CellState.BUILT,
        image_id=image or IMAGES[variant],
        series_sha256=series or ("" if variant == "baseline" else "5" * 64),
    )


def build_dir(root: Path) -> Path:
    directory = RunDir(root)
    for variant in ("baseline", "fix"):
        directory.write_cell(status(variant))
    return root


def shard_dir(root: Path, index: int, *, total: int = 2, fix: CellStatus | None = None) -> Path:
    directory = RunDir(root)
    cells = [status("baseline"), fix or status("fix")]
    for cell in cells:
        directory.write_cell(cell)
    directory.write_run_info(reruns=1)
    directory.write_shard(
        ShardRecord(
            index, total, tuple(ShardedCell(c.cell, c.image_id, c.series_sha256) for c in cells)
        )
    )
    test = TESTS.get(index, TESTS[1])
    for variant in ("baseline", "fix"):
        directory.append_result(
            TestResult("s", "x86_64", variant, test, Outcome.PASS), worker="gw0"
        )
    return root


def gate(*directories: Path) -> GateResult:
    from farm.plan.scenario import load_scenario

    scenario = load_scenario(SCENARIO)
    return verdict.evaluate(
        scenario, list(directories), cells=matrix.cells([scenario]), today=TODAY
    )


def test_every_shard_of_one_build_is_accepted(tmp_path: Path) -> None:
    result = gate(
        build_dir(tmp_path / "b"), shard_dir(tmp_path / "1", 1), shard_dir(tmp_path / "2", 2)
    )
    assert result.verdict is Verdict.ACCEPT, result.series[0].arches[0].reasons


def test_a_missing_shard_leaves_the_cell_undecided_and_names_the_shard(tmp_path: Path) -> None:
    result = gate(build_dir(tmp_path / "b"), shard_dir(tmp_path / "1", 1))
    assert result.verdict is Verdict.UNDECIDED
    reasons = " ".join(result.series[0].arches[0].reasons)
    assert "shard 2/2 of s-x86_64-fix is missing" in reasons
    assert "shard 2/2 of s-x86_64-baseline is missing" in reasons


def test_shards_of_two_builds_are_refused(tmp_path: Path) -> None:
    rebuilt = status("fix", image="sha256:" + "9" * 64, series="6" * 64)
    result = gate(
        build_dir(tmp_path / "b"),
        shard_dir(tmp_path / "1", 1),
        shard_dir(tmp_path / "2", 2, fix=rebuilt),
    )
    assert result.verdict is Verdict.UNDECIDED
    (reason,) = [r for r in result.series[0].arches[0].reasons if "different builds" in r]
    assert "2 different builds of s-x86_64-fix" in reason and str(tmp_path / "2") in reason


def test_shards_that_disagree_on_their_number_are_refused(tmp_path: Path) -> None:
    result = gate(
        build_dir(tmp_path / "b"),
        shard_dir(tmp_path / "1", 1, total=3),
        shard_dir(tmp_path / "2", 2, total=3),
        shard_dir(tmp_path / "3", 3, total=3),
    )
    assert result.verdict is Verdict.UNDECIDED
    assert "the scenario splits it into 2" in " ".join(result.series[0].arches[0].reasons)


def test_an_unreadable_shard_record_holds_every_verdict(tmp_path: Path) -> None:
    first = shard_dir(tmp_path / "1", 1)
    (first / "shard.json").write_text('{"schema": 1, "index": true, "total": 2, "cells": []}')
    result = gate(build_dir(tmp_path / "b"), first, shard_dir(tmp_path / "2", 2))
    assert result.verdict is Verdict.UNDECIDED
    assert any("shard.json" in u.where and "index" in u.problem for u in result.unreadable)


# ------------------------------------------------------------------ foreign evidence


def test_a_run_directory_of_another_scenario_is_refused_with_its_path(tmp_path: Path) -> None:
    foreign = RunDir(tmp_path / "other")
    foreign.write_cell(CellStatus("other", "x86_64", "fix", CellState.BUILT, image_id="x"))
    with pytest.raises(
        UsageError, match=rf"{tmp_path / 'other'}: a run directory of scenario other"
    ):
        gate(build_dir(tmp_path / "b"), shard_dir(tmp_path / "1", 1), tmp_path / "other")


def test_a_test_the_scenario_does_not_select_is_no_evidence(tmp_path: Path) -> None:
    # Every selected test ERRORed; one unselected PASS in both variants must not make the
    # comparison look like evidence.
    directory = RunDir(tmp_path / "run")
    for variant in ("baseline", "fix"):
        directory.write_cell(status(variant))
        for test in TESTS.values():
            directory.append_result(
                TestResult("s", "x86_64", variant, test, Outcome.ERROR), worker="gw0"
            )
        directory.append_result(
            TestResult("s", "x86_64", variant, "glibc/string/tst-unselected", Outcome.PASS),
            worker="gw0",
        )
    from farm.plan.scenario import load_scenario

    unsharded = load_scenario(REPO / "tests" / "fixtures" / "scenarios" / "history-unit.yaml")
    result = verdict.evaluate(
        unsharded, [tmp_path / "run"], cells=matrix.cells([unsharded]), today=TODAY
    )
    # history-unit selects elf/ whole: tst-dlmopen1 is selected, the others are not.
    assert result.verdict is Verdict.UNDECIDED
    assert any("glibc/string/tst-unselected" in w and "not judged" in w for w in result.warnings)
