"""The summary table `farm run` and `farm test` print: one row per cell, final attempts only."""

from __future__ import annotations

from farm import ids
from farm.outcome import Outcome
from farm.results import TestResult
from farm.run.pipeline import summary_table


def _result(scenario: str, outcome: Outcome, *, attempt: int = 1) -> TestResult:
    return TestResult(scenario, "x86_64", ids.BASELINE, "farm/rseq/a", outcome, attempt=attempt)


def _rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines()]


def test_one_test_on_two_toolchains_is_two_rows_not_one() -> None:
    # The toolchain is part of the scenario label of a scenario with several toolchains.
    bullseye = ids.scenario_label("rseq", "bullseye")
    bookworm = ids.scenario_label("rseq", "bookworm")
    rows = _rows(summary_table([_result(bullseye, Outcome.PASS), _result(bookworm, Outcome.FAIL)]))
    header, *body = rows
    assert header[:3] == ["scenario", "variant", "arch"]
    pass_column, fail_column = header.index("PASS"), header.index("FAIL")
    by_scenario = {row[0]: (row[pass_column], row[fail_column]) for row in body}
    assert by_scenario == {bookworm: ("0", "1"), bullseye: ("1", "0")}


def test_one_toolchain_prints_no_scenario_column_and_counts_the_final_attempt() -> None:
    results = [_result("s", Outcome.FAIL), _result("s", Outcome.PASS, attempt=2)]
    header, *body = _rows(summary_table(results))
    assert header == ["variant", "arch", *Outcome]
    assert body == [[ids.BASELINE, "x86_64", "1", *["0"] * (len(Outcome) - 1)]]
