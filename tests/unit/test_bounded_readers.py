"""Every reader of a run directory bounds what it accepts: a number of thousands of digits
(past Python's int-conversion limit, which raises) is a located problem, never a traceback
(whose exit status 1 would mean "rejected")."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from farm import rundir
from farm.judging import gate
from farm.judging.gate import CellState, CellStatus
from farm.plan import matrix
from farm.results import Outcome, TestResult
from farm.rundir import MAX_INT_DIGITS, RunDir

HUGE = "9" * 5000


def run_dir(root: Path) -> RunDir:
    directory = RunDir(root)
    for variant in ("baseline", "fix"):
        directory.write_cell(CellStatus("s", "x86_64", variant, CellState.BUILT, image_id="i"))
        directory.append_result(
            TestResult("s", "x86_64", variant, "glibc/elf/t", Outcome.PASS), worker="gw0"
        )
    directory.write_run_info(reruns=1)
    directory.write_series({"fix": [gate.SeriesPatch(1, "a patch")]})
    directory.write_bisection(
        gate.BisectResult("fix", "x86_64", gate.SeriesPatch(1, "a patch"), scenario="s")
    )
    return directory


@pytest.mark.parametrize(
    "relative",
    ["cells/s-x86_64-fix.json", "run.json", "series.json", "bisect/s-x86_64-fix.json"],
)
def test_a_5000_digit_number_is_a_located_problem(tmp_path: Path, relative: str) -> None:
    directory = run_dir(tmp_path)
    path = tmp_path / relative
    text = path.read_text()
    # The first number of the file (or a new field) becomes 5000 digits long.
    damaged = text.replace("1", HUGE, 1) if "1" in text else text
    path.write_text(damaged)
    records = directory.read()
    (problem,) = [u for u in records.unreadable if u.where == str(path)]
    assert "digits" in problem.problem


def test_a_huge_number_in_a_results_line_is_a_located_problem(tmp_path: Path) -> None:
    directory = run_dir(tmp_path)
    (path,) = sorted(directory.results_dir.glob("s-x86_64-fix--*.jsonl"))
    record = json.loads(path.read_text())
    for digits in (HUGE, "9" * (MAX_INT_DIGITS + 1)):
        path.write_text(
            json.dumps({**record, "exit_code": 0}).replace(
                '"exit_code": 0', f'"exit_code": {digits}'
            )
            + "\n"
        )
        _found, unreadable = directory.read_results()
        (problem,) = unreadable
        assert problem.where == f"{path}:1"


def test_the_gate_over_such_a_directory_is_undecided_not_a_traceback(tmp_path: Path) -> None:
    from farm.judging import verdict
    from farm.plan.scenario import load_scenario

    run_dir(tmp_path)
    cell = tmp_path / "cells" / "s-x86_64-fix.json"
    cell.write_text(cell.read_text().replace('"schema": 1', f'"schema": {HUGE}'))
    repo = Path(__file__).resolve().parents[2]
    scenario = load_scenario(repo / "tests" / "fixtures" / "scenarios" / "history-unit.yaml")
    result = verdict.evaluate(
        scenario, [tmp_path], cells=matrix.cells([scenario]), today=datetime.date(2026, 11, 22)
    )
    assert result.verdict is gate.Verdict.UNDECIDED


# ------------------------------------------------------------------ writes never follow links


def test_report_files_replace_a_link_of_their_name_instead_of_writing_through_it(
    tmp_path: Path,
) -> None:
    from farm.judging import verdict
    from farm.plan.scenario import load_scenario

    run_dir(tmp_path / "run")
    reports = tmp_path / "reports"
    reports.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for name in ("report.md", "report.html", "report.json", "junit.xml"):
        (reports / name).symlink_to(victim)
    repo = Path(__file__).resolve().parents[2]
    scenario = load_scenario(repo / "tests" / "fixtures" / "scenarios" / "history-unit.yaml")
    result = verdict.evaluate(
        scenario,
        [tmp_path / "run"],
        cells=matrix.cells([scenario]),
        today=datetime.date(2026, 11, 22),
    )
    paths = verdict.write_reports(result, reports, step_summary=None)
    assert victim.read_text() == "precious\n"
    for path in paths.values():
        assert not path.is_symlink() and path.stat().st_size > 0
    assert sorted(p.name for p in reports.iterdir() if p.name.endswith(".tmp")) == []


def test_a_run_directory_record_replaces_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").symlink_to(victim)
    RunDir(tmp_path / "run").write_run_info(reruns=1)
    assert victim.read_text() == "precious\n"
    assert json.loads((tmp_path / "run" / "run.json").read_text())["reruns"] == 1


def test_more_test_records_than_any_run_makes_are_left_unread_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A results file of a quarter of a million valid lines took minutes and gigabytes and
    wrote reports of hundreds of megabytes; past the bound the reader stops and says so."""
    monkeypatch.setattr(rundir, "MAX_RESULT_RECORDS", 50)
    directory = run_dir(tmp_path)
    for number in range(60):
        directory.append_result(
            TestResult("s", "x86_64", "fix", f"glibc/elf/t{number}", Outcome.PASS), worker="gw1"
        )
    records = directory.read()
    assert len(records.results) == 50
    (problem,) = records.unreadable
    assert "more than 50 test records in one run directory" in problem.problem
    assert problem.where.startswith(str(directory.results_dir / "s-x86_64-fix--gw1.jsonl:"))
    # Evidence left unread leaves every verdict undecided: nothing to blame it on but all.
    assert problem.cell is None
