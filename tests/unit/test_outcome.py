"""farm.outcome: the one policy over outcomes, and everyone who shows or judges one asks it.

A designed crash (a hazard case's ``expect: crash``, ``natural_crash``) was a ``<failure>`` in
junit.xml while pytest showed an xfail and the gate counted it good; and the gate and
bisection judged bare outcomes, so PASS -> designed CRASH was a regression the runner never
reran, which could only end "seen once, not rerun".
"""

from __future__ import annotations

import datetime
import itertools
import xml.etree.ElementTree as ET

import pytest

from farm import ids, outcome
from farm.judging import gate
from farm.outcome import Outcome, Report, Seen
from farm.report.junit import render_junit
from farm.results import TestResult

EVERY_SEEN = [Seen(o) for o in Outcome] + [Seen(Outcome.CRASH, natural_crash=True)]
CASE = "farm/unload/runtime-unpinned-crash"
TODAY = datetime.date(2026, 12, 1)


@pytest.mark.parametrize(("before", "after"), list(itertools.product(EVERY_SEEN, EVERY_SEEN)))
def test_every_possible_regression_is_rerun_so_it_can_be_confirmed(
    before: Seen, after: Seen
) -> None:
    if outcome.is_regression(before, after):
        assert outcome.needs_rerun(after.outcome, "fix", natural_crash=after.natural_crash)


def test_a_designed_crash_is_good_on_either_side() -> None:
    designed = Seen(Outcome.CRASH, natural_crash=True)
    assert not outcome.is_regression(Seen(Outcome.PASS), designed)
    assert outcome.is_regression(designed, Seen(Outcome.FAIL))  # the case stopped behaving
    assert not outcome.is_fix(designed, Seen(Outcome.PASS))
    assert not outcome.attempts_disagree([designed, Seen(Outcome.PASS)])
    assert outcome.is_regression(Seen(Outcome.PASS), Seen(Outcome.CRASH))  # an undesigned one


@pytest.mark.parametrize("seen", EVERY_SEEN)
def test_what_is_shown_as_failed_or_error_is_what_is_not_good(seen: Seen) -> None:
    shown = outcome.reported_as(seen)
    assert (shown in (Report.FAILED, Report.ERROR)) == (not seen.behaved)


def _record(variant: str, result: Outcome, *, natural: bool, attempt: int = 1) -> TestResult:
    details = {"natural_crash": "yes"} if natural else {}
    signal = "SIGSEGV" if result is Outcome.CRASH else None
    return TestResult(
        "s", "x86_64", variant, CASE, result, signal=signal, attempt=attempt, details=details
    )


def _judged(records: list[TestResult]) -> gate.GateResult:
    return gate.evaluate(records, require_reproduction=True, today=TODAY)


def test_pass_to_a_designed_crash_is_no_regression_for_the_gate() -> None:
    result = _judged(
        [
            _record(ids.BASELINE, Outcome.PASS, natural=False),
            _record("fix", Outcome.CRASH, natural=True),
        ]
    )
    (arch,) = result.series[0].arches
    assert [t.kind for t in arch.transitions] == [gate.ChangeKind.CHANGED]
    assert arch.verdict is not gate.Verdict.REJECT and not arch.transitions[0].rejects


def test_a_designed_crash_is_skipped_not_failed_in_junit_as_in_pytest() -> None:
    result = _judged(
        [
            _record(ids.BASELINE, Outcome.CRASH, natural=True),
            _record("fix", Outcome.CRASH, natural=True),
        ]
    )
    root = ET.fromstring(render_junit(result))
    cases = root.findall(".//testcase")
    assert len(cases) == 2
    for case in cases:
        assert case.find("failure") is None and case.find("skipped") is not None
    assert root.get("failures") == "0" and root.get("skipped") == "2"
