"""The gate's categories: known flaky from the history, already failing, new failures.

The history's rule is ``farm.judging.history``'s; these tests check what the gate does with it, and
end to end through real run directories and a real history file that a test made to flip
between two runs on the same image is FLAKY, not a regression.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from farm import cli
from farm.judging import history, verdict
from farm.judging.gate import (
    ArchVerdict,
    Category,
    CellState,
    CellStatus,
    ChangeKind,
    FlakyEntry,
    GateResult,
    Verdict,
    evaluate,
)
from farm.judging.history import History, Observation
from farm.plan import matrix
from farm.plan.scenario import load_scenario
from farm.results import Outcome
from farm.results import TestResult as Record
from farm.rundir import RunDir

TODAY = datetime.date(2026, 11, 22)
BASE_IMAGE = "sha256:" + "b" * 64
FIX_IMAGE = "sha256:" + "f" * 64
REPO = Path(__file__).resolve().parents[2]
#: Tests of glibc's elf/, which the fixture scenario runs whole (the gate judges only what
#: the scenario selects).
T = "glibc/elf/t"
CONTROL = "glibc/elf/control"


def rec(variant: str, test: str, outcome: Outcome, attempt: int = 1) -> Record:
    return Record(
        scenario="s", arch="x86_64", variant=variant, test=test, outcome=outcome, attempt=attempt
    )


def cells(fix_image: str = FIX_IMAGE, base_image: str = BASE_IMAGE) -> list[CellStatus]:
    return [
        CellStatus("s", "x86_64", "baseline", CellState.BUILT, image_id=base_image),
        CellStatus("s", "x86_64", "fix", CellState.BUILT, image_id=fix_image),
    ]


def regression(test: str = T) -> list[Record]:
    """A reproduced regression of ``test`` and a control test that passes in both."""
    return [
        rec("baseline", test, Outcome.PASS),
        rec("fix", test, Outcome.FAIL),
        rec("fix", test, Outcome.FAIL, attempt=2),
        rec("baseline", CONTROL, Outcome.PASS),
        rec("fix", CONTROL, Outcome.PASS),
    ]


def judge(records: list[Record], statuses: list[CellStatus], **kw: Any) -> ArchVerdict:
    result = evaluate(records, statuses, require_reproduction=True, today=TODAY, **kw)
    (series,) = result.series
    (arch,) = series.arches
    return arch


def earlier(cell: str, image: str, *labels: str, test: str = T) -> History:
    """The history of earlier runs on ``image`` of ``cell``, one a day from 2026-11-01,
    each seeing ``test`` end with one of ``labels`` in turn."""
    past = History()
    for day, label in enumerate(labels, start=1):
        past = past.recorded(
            f"202611{day:02d}T000000Z-1",
            [Observation(cell, image, test, label)],
            on=datetime.date(2026, 11, day),
        )
    return past


# ------------------------------------------------------------------ known flaky


def test_a_test_that_passed_on_the_same_series_image_before_is_flaky_not_a_regression() -> None:
    past = earlier("s-x86_64-fix", FIX_IMAGE, "FAIL", "PASS")
    arch = judge(regression(), cells(), history=past)
    (flaky,) = arch.transitions
    assert (flaky.kind, flaky.category, flaky.rejects) == (ChangeKind.FLAKY, Category.FLAKY, False)
    assert flaky.known_flaky is not None and flaky.known_flaky.image_id == FIX_IMAGE
    assert flaky.note == (
        "known flaky (history): on image sha256:ffffffffffff of s-x86_64-fix it flipped 2 times "
        "in the last 30 days: FAIL in run 20261101T000000Z-1, PASS in run 20261102T000000Z-1 "
        "and FAIL in this run"
    )
    assert arch.verdict is Verdict.ACCEPT
    # The excuse is never silent: the ACCEPT says what it excused and on what evidence.
    (reason,) = arch.reasons
    assert (
        "1 regression(s) excused as known flaky: glibc/elf/t PASS -> FAIL (known flaky (history)"
        in reason
    )


def test_one_flip_is_not_enough_to_excuse() -> None:
    # Passed once on this image, fails now: the world may have changed (a new kernel), so
    # the regression stands until the image flips back and forth.
    past = earlier("s-x86_64-fix", FIX_IMAGE, "PASS")
    assert judge(regression(), cells(), history=past).verdict is Verdict.REJECT
    past = earlier("s-x86_64-fix", FIX_IMAGE, "PASS", "PASS", "PASS")
    assert judge(regression(), cells(), history=past).verdict is Verdict.REJECT


def test_evidence_older_than_the_age_limit_does_not_excuse() -> None:
    past = earlier("s-x86_64-fix", FIX_IMAGE, "FAIL", "PASS")
    stale = TODAY + datetime.timedelta(days=history.MAX_AGE_DAYS)
    result = evaluate(regression(), cells(), require_reproduction=True, today=stale, history=past)
    assert result.verdict is Verdict.REJECT
    # Dated after the day judged (a clock set ahead): no evidence either.
    early = datetime.date(2026, 10, 31)
    result = evaluate(regression(), cells(), require_reproduction=True, today=early, history=past)
    assert result.verdict is Verdict.REJECT


def test_a_flip_on_another_image_is_no_evidence_and_still_rejects() -> None:
    past = earlier("s-x86_64-fix", "sha256:" + "0" * 64, "FAIL", "PASS")  # an earlier build
    arch = judge(regression(), cells(), history=past)
    (found,) = arch.transitions
    assert found.kind is ChangeKind.REGRESSION and found.rejects and found.known_flaky is None
    assert arch.verdict is Verdict.REJECT


def test_flakiness_on_the_same_baseline_image_excuses_a_series_regression() -> None:
    # The baseline image failed the test in an earlier run and passes it now: a flip on
    # unpatched glibc, so the series' failure is no evidence against the series.
    past = earlier("s-x86_64-baseline", BASE_IMAGE, "PASS", "TIMEOUT")
    arch = judge(regression(), cells(), history=past)
    (flaky,) = arch.transitions
    assert flaky.kind is ChangeKind.FLAKY and flaky.known_flaky is not None
    assert flaky.known_flaky.cell == "s-x86_64-baseline"
    assert "TIMEOUT in run 20261102T000000Z-1 and PASS in this run" in flaky.note  # oldest first
    assert arch.verdict is Verdict.ACCEPT
    rebuilt = judge(regression(), cells(base_image="sha256:" + "9" * 64), history=past)
    assert rebuilt.verdict is Verdict.REJECT  # a rebuilt baseline is another image


def test_a_run_never_excuses_itself() -> None:
    # Nothing earlier: the regression stands, however the history of this run will look.
    assert judge(regression(), cells(), history=History()).verdict is Verdict.REJECT
    # Agreeing earlier runs on the same image are no evidence either.
    past = earlier("s-x86_64-fix", FIX_IMAGE, "FAIL", "FAIL")
    assert judge(regression(), cells(), history=past).verdict is Verdict.REJECT


def test_a_regression_to_error_is_not_excused_by_a_flip_the_farm_caused() -> None:
    records = [
        rec("baseline", T, Outcome.PASS),
        rec("fix", T, Outcome.ERROR),
        rec("fix", T, Outcome.ERROR, attempt=2),
        rec("baseline", CONTROL, Outcome.PASS),
        rec("fix", CONTROL, Outcome.PASS),
    ]
    # One flip before; this run's ERROR would be the second if it counted as bad.
    past = earlier("s-x86_64-fix", FIX_IMAGE, "FAIL", "PASS")
    (found,) = judge(records, cells(), history=past).transitions
    assert found.kind is ChangeKind.REGRESSION  # ERROR is the farm's, never flaky evidence


def test_without_image_ids_there_is_no_same_image() -> None:
    past = earlier("s-x86_64-fix", "", "FAIL", "PASS")
    arch = judge(regression(), cells(fix_image="", base_image=""), history=past)
    assert arch.verdict is Verdict.REJECT


def test_a_scenario_entry_is_named_before_the_history() -> None:
    entry = FlakyEntry(T, "bug 1", TODAY)
    past = earlier("s-x86_64-fix", FIX_IMAGE, "FAIL", "PASS")
    (flaky,) = judge(regression(), cells(), history=past, flaky=[entry]).transitions
    assert flaky.flaky_entry == entry and flaky.known_flaky is None


def test_unreadable_history_lines_are_warnings_not_evidence() -> None:
    past = History(problems=("h.jsonl:3: not valid JSON",))
    result = evaluate(regression(), cells(), require_reproduction=True, today=TODAY, history=past)
    assert result.verdict is Verdict.REJECT
    assert "flaky history h.jsonl:3: not valid JSON; that record was not used" in result.warnings


# ------------------------------------------------------------------ already failing


def test_bad_in_both_is_already_failing_and_never_rejects() -> None:
    records = [
        rec("baseline", "broken", Outcome.FAIL),
        rec("fix", "broken", Outcome.FAIL),
        rec("fix", "broken", Outcome.FAIL, attempt=2),
        rec("baseline", "slow", Outcome.FAIL),
        rec("fix", "slow", Outcome.TIMEOUT),
        rec("fix", "slow", Outcome.TIMEOUT, attempt=2),
        rec("baseline", CONTROL, Outcome.PASS),
        rec("fix", CONTROL, Outcome.PASS),
    ]
    arch = judge(records, cells())
    assert {t.test: t.kind for t in arch.transitions} == {
        "broken": ChangeKind.ALREADY_FAILING,
        "slow": ChangeKind.ALREADY_FAILING,
    }
    assert all(t.category is Category.ALREADY_FAILING and not t.rejects for t in arch.transitions)
    assert arch.verdict is Verdict.ACCEPT
    assert arch.reasons == ("no regressions in 3 tests compared (2 already failing)",)
    assert arch.counts[Category.ALREADY_FAILING] == 2 and arch.unchanged == 1


def test_already_failing_tests_never_hide_another_tests_regression() -> None:
    records = regression("newly-broken") + [
        rec("baseline", f"old-{n}", Outcome.FAIL) for n in range(50)
    ] + [rec("fix", f"old-{n}", Outcome.FAIL) for n in range(50)]  # fmt: skip
    arch = judge(records, cells())
    assert arch.verdict is Verdict.REJECT
    (new_failure,) = arch.in_category(Category.NEW_FAILURE)
    assert new_failure.test == "newly-broken" and new_failure.rejects
    assert arch.counts == {
        Category.NEW_FAILURE: 1,
        Category.FLAKY: 0,
        Category.ALREADY_FAILING: 50,
        Category.FIXED: 0,
        Category.OTHER: 0,
    }
    assert "newly-broken PASS -> FAIL" in arch.reasons[0]


def test_a_natural_crash_in_both_is_not_already_failing() -> None:
    crash = {"outcome": Outcome.CRASH, "signal": "SIGSEGV", "details": {"natural_crash": "yes"}}
    records = [
        Record("s", "x86_64", variant, "hazard", **crash)  # type: ignore[arg-type]
        for variant in ("baseline", "fix")
    ] + [rec("baseline", CONTROL, Outcome.PASS), rec("fix", CONTROL, Outcome.PASS)]
    assert judge(records, cells()).transitions == ()


def test_a_new_test_that_fails_is_a_new_failure() -> None:
    records = [
        rec("baseline", CONTROL, Outcome.PASS),
        rec("fix", CONTROL, Outcome.PASS),
        rec("fix", "added", Outcome.FAIL),
        rec("fix", "added", Outcome.FAIL, attempt=2),
        rec("fix", "added-ok", Outcome.PASS),
    ]
    arch = judge(records, cells())
    assert {t.test: t.category for t in arch.transitions} == {
        "added": Category.NEW_FAILURE,
        "added-ok": Category.OTHER,
    }


# ------------------------------------------------------------------ end to end, two runs


def _run(root: Path, fix_attempts: tuple[Outcome, ...]) -> Path:
    """A run directory of the fixture scenario's x86_64 cells, the fix image unchanged."""
    run_dir = RunDir(root)
    for status in cells():
        run_dir.write_cell(status)
    run_dir.write_run_info(reruns=1)
    for record in regression()[:1] + regression()[3:]:
        run_dir.append_result(record, worker="gw0")
    for attempt, found in enumerate(fix_attempts, start=1):
        run_dir.append_result(rec("fix", T, found, attempt), worker="gw0")
    return root


def _gate(run_dir: Path, history_file: Path) -> GateResult:
    scenario = load_scenario(REPO / "tests" / "fixtures" / "scenarios" / "history-unit.yaml")
    past = history.read(history_file)
    result = verdict.evaluate(
        scenario, [run_dir], cells=matrix.cells([scenario]), today=TODAY, past=past
    )
    verdict.record_history(history_file, result, run_dir.name)
    return result


def test_a_test_flipping_on_one_image_is_flaky_once_it_flipped_twice(tmp_path: Path) -> None:
    history_file = tmp_path / "history.jsonl"
    first = _gate(_run(tmp_path / "run1", (Outcome.FAIL, Outcome.FAIL)), history_file)
    assert first.verdict is Verdict.REJECT
    second = _gate(_run(tmp_path / "run2", (Outcome.PASS,)), history_file)
    assert second.verdict is Verdict.ACCEPT
    third = _gate(_run(tmp_path / "run3", (Outcome.FAIL, Outcome.FAIL)), history_file)
    (flaky,) = third.series[0].arches[0].transitions
    assert flaky.kind is ChangeKind.FLAKY
    assert "FAIL in run run1, PASS in run run2 and FAIL in this run" in flaky.note
    assert third.verdict is Verdict.ACCEPT
    # The same third run judged without the history rejects: the history made the difference.
    unit = load_scenario(REPO / "tests" / "fixtures" / "scenarios" / "history-unit.yaml")
    alone = verdict.evaluate(unit, [tmp_path / "run3"], cells=matrix.cells([unit]), today=TODAY)
    assert alone.verdict is Verdict.REJECT
    recorded = history.read(history_file)
    assert recorded.windows["s-x86_64-fix"] == ("run1", "run2", "run3")
    assert recorded.evidence("s-x86_64-fix", FIX_IMAGE, T, today=TODAY) is not None


def _forged(history_file: Path, *records: dict[str, Any]) -> None:
    lines = [json.dumps(history.HEADER)] + [json.dumps(r, sort_keys=True) for r in records]
    history_file.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _forgery() -> tuple[dict[str, Any], ...]:
    """What anyone can write after reading a report: the baseline image id, a run, flips."""
    runs = ["19700101T000000Z-1", "19700102T000000Z-1", "19700103T000000Z-1"]
    sightings = [
        {"run": runs[0], "label": "FAIL", "on": "2026-11-20"},
        {"run": runs[1], "label": "PASS", "on": "2026-11-21"},
        {"run": runs[2], "label": "FAIL", "on": "2026-11-21"},
    ]
    return (
        {"cell": "s-x86_64-baseline", "runs": runs},
        {"cell": "s-x86_64-baseline", "image_id": BASE_IMAGE, "test": T, "sightings": sightings},
    )


def test_a_hand_written_history_cannot_turn_a_reproduced_regression_into_accept(
    tmp_path: Path,
) -> None:
    run_dir = _run(tmp_path / "run", (Outcome.FAIL, Outcome.FAIL))
    scenario = load_scenario(REPO / "tests" / "fixtures" / "scenarios" / "history-unit.yaml")
    history_file = tmp_path / "forged.jsonl"
    _forged(history_file, *_forgery())
    past = history.read(history_file)
    assert past.tests == {}
    (problem,) = past.problems  # both lines, named in one warning
    assert problem.endswith(
        ":2-3: 2 records: no mac: not a record this farm signed (hand-written or edited?)"
    )
    result = verdict.evaluate(
        scenario, [run_dir], cells=matrix.cells([scenario]), today=TODAY, past=past
    )
    assert result.verdict is Verdict.REJECT
    # Signed, but with a key that is not this farm's (another machine's, a guess): refused.
    other_key = b"k" * 32
    _forged(history_file, *({**r, "mac": history.sign(other_key, r)} for r in _forgery()))
    past = history.read(history_file)
    assert past.tests == {} and all("does not match" in p for p in past.problems)
    assert (
        verdict.evaluate(
            scenario, [run_dir], cells=matrix.cells([scenario]), today=TODAY, past=past
        ).verdict
        is Verdict.REJECT
    )
    # Signed with this farm's key, the same records are evidence: the key is what is trusted.
    key = history.load_key()
    _forged(history_file, *({**r, "mac": history.sign(key, r)} for r in _forgery()))
    trusted = history.read(history_file)
    assert trusted.problems == ()
    assert verdict.evaluate(
        scenario, [run_dir], cells=matrix.cells([scenario]), today=TODAY, past=trusted
    ).verdict is (Verdict.ACCEPT)


def test_an_edited_signed_record_is_refused(tmp_path: Path) -> None:
    history_file = tmp_path / "history.jsonl"
    _gate(_run(tmp_path / "run1", (Outcome.PASS,)), history_file)
    text = history_file.read_text(encoding="utf-8")
    assert '"label": "PASS"' in text
    history_file.write_text(text.replace('"label": "PASS"', '"label": "FAIL"'), encoding="utf-8")
    edited = history.read(history_file)
    assert edited.tests == {}
    assert any("does not match" in problem for problem in edited.problems)


def test_farm_gate_records_the_history_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A directory `farm gate` is given is someone else's: judging it must not make its
    # records evidence that may later excuse a regression on the same images.
    run_dir = _run(tmp_path / "run", (Outcome.PASS,))
    scenario = REPO / "tests" / "fixtures" / "scenarios" / "history-unit.yaml"
    history_file = tmp_path / "h.jsonl"
    gate = ["gate", str(scenario), str(run_dir), "--history", str(history_file)]
    assert cli.main([*gate, "--report-dir", str(tmp_path / "r1")]) == 0
    assert not history_file.exists()
    assert cli.main([*gate, "--report-dir", str(tmp_path / "r2"), "--record-history"]) == 0
    assert history.read(history_file).windows.keys() == {"s-x86_64-baseline", "s-x86_64-fix"}
    refused = ["gate", str(scenario), str(run_dir), "--no-history", "--record-history"]
    assert cli.main([*refused, "--report-dir", str(tmp_path / "r3")]) == 2
    assert "--record-history needs a history" in capsys.readouterr().err
