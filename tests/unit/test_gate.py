"""The gate's rules, one by one, and its independence from input order and file splits."""

from __future__ import annotations

import datetime
import random
from pathlib import Path
from typing import Any

import pytest

from farm.judging.gate import (
    ArchVerdict,
    BisectResult,
    Category,
    CellState,
    CellStatus,
    ChangeKind,
    Expectation,
    FailedPatch,
    FlakyEntry,
    GateResult,
    SeriesInfo,
    SeriesPatch,
    Verdict,
    evaluate,
    normalize_expected,
)
from farm.results import Outcome
from farm.results import TestResult as Record
from farm.rundir import RunDir, append_line

TODAY = datetime.date(2026, 11, 22)
X86, I686 = "x86_64", "i686"


def rec(
    variant: str,
    test: str,
    outcome: Outcome,
    *,
    arch: str = X86,
    attempt: int = 1,
    signal: str | None = None,
    output: str = "",
) -> Record:
    return Record(
        scenario="s",
        arch=arch,
        variant=variant,
        test=test,
        outcome=outcome,
        signal=signal,
        attempt=attempt,
        output=output,
    )


def cell(
    variant: str, state: CellState = CellState.BUILT, *, arch: str = X86, **kw: Any
) -> CellStatus:
    return CellStatus("s", arch, variant, state, **kw)


def gate(records: list[Record], cells: list[CellStatus] | None = None, **kw: Any) -> GateResult:
    kw.setdefault("require_reproduction", False)
    kw.setdefault("today", TODAY)
    return evaluate(records, cells or [], **kw)


def only_arch(result: GateResult, series: str = "fix") -> ArchVerdict:
    (verdict,) = [s for s in result.series if s.series == series]
    (arch,) = verdict.arches
    return arch


# ------------------------------------------------------------------ transitions


def test_reproduced_crash_is_a_regression_that_rejects_with_exit_1() -> None:
    records = [
        rec("baseline", "t/crash", Outcome.PASS),
        rec("fix", "t/crash", Outcome.CRASH, signal="SIGSEGV"),
        rec("fix", "t/crash", Outcome.CRASH, signal="SIGSEGV", attempt=2),
    ]
    result = gate(records, require_reproduction=True)
    arch = only_arch(result)
    (regression,) = arch.of_kind(ChangeKind.REGRESSION)
    assert regression.transition == "PASS -> CRASH(SIGSEGV)"
    assert regression.attempts == ("CRASH(SIGSEGV)", "CRASH(SIGSEGV)")
    assert regression.rejects and regression.reproduced
    assert arch.verdict is Verdict.REJECT
    assert "t/crash PASS -> CRASH(SIGSEGV)" in arch.reasons[0]
    assert result.exit_status == 1


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (Outcome.PASS, Outcome.FAIL),
        (Outcome.PASS, Outcome.UNSUPPORTED),
        (Outcome.PASS, Outcome.TIMEOUT),
        (Outcome.PASS, Outcome.CRASH),
        (Outcome.PASS, Outcome.ERROR),
        (Outcome.XFAIL, Outcome.CRASH),
        (Outcome.UNSUPPORTED, Outcome.FAIL),
        (Outcome.XPASS, Outcome.FAIL),
    ],
)
def test_good_to_bad_is_a_regression(before: Outcome, after: Outcome) -> None:
    result = gate([rec("baseline", "t", before), rec("fix", "t", after)])
    (transition,) = only_arch(result).transitions
    assert transition.kind is ChangeKind.REGRESSION
    assert result.verdict is Verdict.REJECT


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        (Outcome.FAIL, Outcome.PASS, ChangeKind.FIX),
        (Outcome.CRASH, Outcome.XPASS, ChangeKind.FIX),
        (Outcome.XFAIL, Outcome.XPASS, ChangeKind.XPASS),
        (Outcome.FAIL, Outcome.TIMEOUT, ChangeKind.ALREADY_FAILING),
        (Outcome.UNSUPPORTED, Outcome.PASS, ChangeKind.CHANGED),
        (Outcome.PASS, Outcome.XFAIL, ChangeKind.CHANGED),
    ],
)
def test_non_regressions_are_reported_and_accepted(
    before: Outcome, after: Outcome, kind: ChangeKind
) -> None:
    result = gate([rec("baseline", "t", before), rec("fix", "t", after)])
    (transition,) = only_arch(result).transitions
    assert transition.kind is kind
    assert not transition.rejects
    assert result.verdict is Verdict.ACCEPT
    assert result.exit_status == 0


def test_unchanged_tests_are_not_transitions_but_are_counted() -> None:
    result = gate([rec("baseline", "t", Outcome.PASS), rec("fix", "t", Outcome.PASS)])
    arch = only_arch(result)
    assert arch.transitions == ()
    assert arch.compared == 1
    assert arch.reasons == ("no regressions in 1 tests compared",)


def test_crash_signal_change_is_a_change_not_silence() -> None:
    records = [
        rec("baseline", "t", Outcome.CRASH, signal="SIGABRT"),
        rec("fix", "t", Outcome.CRASH, signal="SIGSEGV"),
    ]
    (transition,) = only_arch(gate(records)).transitions
    # Bad in both: already failing, with the label change still shown.
    assert transition.kind is ChangeKind.ALREADY_FAILING
    assert transition.transition == "CRASH(SIGABRT) -> CRASH(SIGSEGV)"


# ------------------------------------------------------------------ reruns


@pytest.mark.parametrize("attempts", [(Outcome.FAIL, Outcome.PASS), (Outcome.PASS, Outcome.FAIL)])
def test_mixed_attempts_are_flaky_not_a_regression(attempts: tuple[Outcome, ...]) -> None:
    records = [rec("baseline", "t", Outcome.PASS)] + [
        rec("fix", "t", outcome, attempt=n) for n, outcome in enumerate(attempts, 1)
    ]
    result = gate(records, require_reproduction=True)
    (transition,) = only_arch(result).transitions
    assert transition.kind is ChangeKind.FLAKY
    assert transition.attempts == tuple(o.value for o in attempts)
    assert "did not reproduce on rerun" in transition.note
    assert result.verdict is Verdict.ACCEPT


def test_single_attempt_regression_rejects_only_without_required_reproduction() -> None:
    records = [rec("baseline", "t", Outcome.PASS), rec("fix", "t", Outcome.FAIL)]
    strict = gate(records, require_reproduction=True)
    lenient = gate(records, require_reproduction=False)

    assert strict.verdict is Verdict.UNDECIDED
    assert strict.exit_status == 2
    (unconfirmed,) = only_arch(strict).of_kind(ChangeKind.REGRESSION)
    assert not unconfirmed.rejects and "not rerun" in unconfirmed.note
    assert "seen once and not rerun" in only_arch(strict).reasons[0]

    assert lenient.verdict is Verdict.REJECT
    assert only_arch(lenient).of_kind(ChangeKind.REGRESSION)[0].rejects


def test_final_attempt_decides_the_baseline_side() -> None:
    records = [
        rec("baseline", "t", Outcome.FAIL),
        rec("baseline", "t", Outcome.PASS, attempt=2),
        rec("fix", "t", Outcome.FAIL),
        rec("fix", "t", Outcome.FAIL, attempt=2),
    ]
    (transition,) = only_arch(gate(records, require_reproduction=True)).transitions
    assert transition.kind is ChangeKind.REGRESSION
    assert transition.baseline_attempts == ("FAIL", "PASS")


# ------------------------------------------------------------------ flaky list


def _regressing() -> list[Record]:
    return [
        rec("baseline", "glibc/nptl/tst-cond", Outcome.PASS),
        rec("fix", "glibc/nptl/tst-cond", Outcome.TIMEOUT),
    ]


def test_unexpired_flaky_entry_turns_a_regression_into_a_note() -> None:
    entry = FlakyEntry("glibc/nptl/*", "races on loaded hosts", TODAY)  # expires today: still on
    result = gate(_regressing(), flaky=[entry])
    (transition,) = only_arch(result).transitions
    assert transition.kind is ChangeKind.FLAKY
    assert transition.flaky_entry == entry
    assert "races on loaded hosts" in transition.note
    assert result.verdict is Verdict.ACCEPT
    assert result.expired_flaky == ()


def test_expired_flaky_entry_is_not_honoured_and_says_so() -> None:
    entry = FlakyEntry("glibc/nptl/*", "races", TODAY - datetime.timedelta(days=1))
    result = gate(_regressing(), flaky=[entry])
    (transition,) = only_arch(result).transitions
    assert transition.kind is ChangeKind.REGRESSION
    assert transition.expired_entry == entry
    assert "expired on 2026-11-21" in transition.note
    assert result.expired_flaky == (entry,)
    assert result.verdict is Verdict.REJECT


def test_flaky_entry_for_another_arch_does_not_excuse() -> None:
    entry = FlakyEntry("glibc/nptl/*", "i686 only", TODAY, arch=I686)
    assert gate(_regressing(), flaky=[entry]).verdict is Verdict.REJECT


# ------------------------------------------------------------------ expectations


@pytest.mark.parametrize(
    ("label", "expected"),
    [("pass", "PASS"), ("crash(sigsegv)", "CRASH(SIGSEGV)"), ("Absent", "absent")],
)
def test_expected_labels_are_normalized(label: str, expected: str) -> None:
    assert normalize_expected(label) == expected


@pytest.mark.parametrize("label", ["CRASHED", "PASS(SIGSEGV)", "CRASH(SEGV)", ""])
def test_bad_expected_labels_are_refused_with_the_vocabulary(label: str) -> None:
    with pytest.raises(ValueError, match=r"one of PASS, FAIL.*CRASH\(SIGSEGV\).*absent"):
        Expectation("fix", "t", label)


def _expect(records: list[Record], *expectations: Expectation) -> GateResult:
    base = [rec("baseline", r.test, Outcome.PASS) for r in records if r.variant == "fix"]
    return gate(base + records, expectations=list(expectations))


def test_unmet_expectation_rejects_and_shows_expected_vs_actual() -> None:
    result = _expect(
        [rec("fix", "farm/malloc/double-free", Outcome.CRASH, signal="SIGABRT")],
        Expectation("fix", "farm/malloc/double-free", "CRASH(SIGSEGV)"),
    )
    arch = only_arch(result)
    (unmet,) = arch.unmet
    assert (
        unmet.describe()
        == "fix: farm/malloc/double-free expected CRASH(SIGSEGV), got CRASH(SIGABRT)"
    )
    assert arch.verdict is Verdict.REJECT
    assert any("expected CRASH(SIGSEGV), got CRASH(SIGABRT)" in r for r in arch.reasons)


def test_plain_crash_expectation_accepts_any_signal() -> None:
    records = [rec("fix", "t", Outcome.CRASH, signal="SIGABRT")]
    arch = only_arch(_expect(records, Expectation("fix", "t", "CRASH")))
    assert arch.unmet == ()


def test_glob_expectation_must_hold_for_every_match_and_match_something() -> None:
    records = [rec("fix", "farm/a/1", Outcome.PASS), rec("fix", "farm/a/2", Outcome.FAIL)]
    arch = only_arch(_expect(records, Expectation("fix", "farm/a/*", "PASS")))
    assert [(u.test, u.actual) for u in arch.unmet] == [("farm/a/2", "FAIL")]

    nothing = only_arch(_expect(records, Expectation("fix", "farm/b/*", "PASS")))
    assert [(u.test, u.actual) for u in nothing.unmet] == [("farm/b/*", "absent")]
    assert nothing.verdict is Verdict.REJECT


def test_absent_and_present_expectations() -> None:
    records = [rec("fix", "t/exists", Outcome.PASS)]
    absent = only_arch(_expect(records, Expectation("fix", "t/exists", "absent")))
    assert [(u.test, u.actual) for u in absent.unmet] == [("t/exists", "PASS")]
    present = only_arch(_expect(records, Expectation("fix", "t/missing", "present")))
    assert [(u.test, u.actual) for u in present.unmet] == [("t/missing", "absent")]
    met = only_arch(_expect(records, Expectation("fix", "t/missing", "absent")))
    assert met.unmet == () and met.verdict is Verdict.ACCEPT


def test_arch_restricted_expectation_is_not_checked_elsewhere() -> None:
    records = [rec("fix", "t", Outcome.FAIL)]
    result = _expect(records, Expectation("fix", "t", "PASS", arch=I686))
    assert only_arch(result).unmet == ()


def test_unmet_baseline_expectation_leaves_the_arch_undecided() -> None:
    records = [rec("baseline", "t", Outcome.PASS), rec("fix", "t", Outcome.PASS)]
    result = gate(records, expectations=[Expectation("baseline", "t", "CRASH(SIGSEGV)")])
    arch = only_arch(result)
    assert arch.verdict is Verdict.UNDECIDED
    assert "baseline does not behave as the scenario expects" in arch.reasons[0]
    assert result.exit_status == 2


def test_expectation_for_unknown_variant_is_warned_about() -> None:
    records = [rec("baseline", "t", Outcome.PASS), rec("fix", "t", Outcome.PASS)]
    result = gate(records, expectations=[Expectation("fixx", "t", "PASS")])
    assert any("no variant in the results matches 'fixx'" in w for w in result.warnings)


# ------------------------------------------------------------------ new / vanished


def test_new_passing_and_vanished_failing_tests_are_listed_and_do_not_reject() -> None:
    """(A new test that fails is evidence against the series: test_verdict_soundness.py.)"""
    records = [
        rec("baseline", "t/old", Outcome.FAIL, output="old output"),
        rec("fix", "t/new", Outcome.PASS),
        rec("baseline", "t/kept", Outcome.PASS),
        rec("fix", "t/kept", Outcome.PASS),
    ]
    arch = only_arch(gate(records))
    (new,) = arch.of_kind(ChangeKind.NEW)
    (vanished,) = arch.of_kind(ChangeKind.VANISHED)
    assert (new.test, new.transition) == ("t/new", "(absent) -> PASS")
    assert (vanished.test, vanished.output) == ("t/old", "old output")
    assert vanished.category is Category.OTHER and not vanished.rejects
    assert arch.verdict is Verdict.ACCEPT


def test_a_test_that_passed_in_the_baseline_and_vanished_is_lost_coverage() -> None:
    records = [
        rec("baseline", "t/old", Outcome.PASS),
        rec("baseline", "t/kept", Outcome.PASS),
        rec("fix", "t/kept", Outcome.PASS),
    ]
    arch = only_arch(gate(records))
    (lost,) = arch.of_kind(ChangeKind.VANISHED)
    assert (lost.category, lost.rejects) == (Category.NEW_FAILURE, True)
    assert arch.verdict is Verdict.REJECT
    assert arch.reasons[0].startswith("1 test(s) lost: they ran in the baseline and not with")


def test_a_summary_with_anomalies_leaves_its_subdirectory_undecided_not_vanished() -> None:
    # The series' elf/ summary had a FAIL line the parser refused (a NUL in it): the failing
    # test left no record, and the item's ERROR record says why.
    records = [
        rec("baseline", "glibc/elf/tst-a", Outcome.PASS),
        rec("baseline", "glibc/elf/tst-b", Outcome.PASS),
        rec("fix", "glibc/elf/tst-b", Outcome.PASS),
        rec(
            "fix",
            "glibc/elf/",
            Outcome.ERROR,
            output="elf/subdir-tests.sum:3: not a glibc test verdict line",
        ),
        rec("baseline", "glibc/nss/tst-c", Outcome.PASS),
        rec("fix", "glibc/nss/tst-c", Outcome.PASS),
    ]
    arch = only_arch(gate(records))
    assert arch.verdict is Verdict.UNDECIDED, arch.reasons
    (vanished,) = arch.of_kind(ChangeKind.VANISHED)
    assert vanished.test == "glibc/elf/tst-a" and not vanished.rejects
    assert any(
        r.startswith("the summary of glibc/elf/ in the series variant had anomalies")
        and "subdir-tests.sum:3" in r
        for r in arch.reasons
    )
    assert "glibc/elf/" not in {t.test for t in arch.transitions}


def test_vanished_test_can_be_expected_absent_or_required_present() -> None:
    records = [
        rec("baseline", "t/old", Outcome.PASS),
        rec("baseline", "t/k", Outcome.PASS),
        rec("fix", "t/k", Outcome.PASS),
    ]
    expected = only_arch(gate(records, expectations=[Expectation("fix", "t/old", "absent")]))
    assert "expected" in expected.of_kind(ChangeKind.VANISHED)[0].note
    required = only_arch(gate(records, expectations=[Expectation("fix", "t/old", "present")]))
    assert required.verdict is Verdict.REJECT


# ------------------------------------------------------------------ cells


SERIES = SeriesInfo(
    "fix",
    (SeriesPatch(1, "elf: refactor"), SeriesPatch(2, "elf: fix the bug"), SeriesPatch(3, "tests")),
)


def test_patch_that_does_not_apply_rejects_naming_patch_and_reject() -> None:
    failed = FailedPatch(2, reject="--- elf/dl-load.c.rej\n@@ -10 +10 @@")
    cells = [cell("baseline"), cell("fix", CellState.PATCH_FAILED, failed_patch=failed)]
    result = gate([rec("baseline", "t", Outcome.PASS)], cells, series=[SERIES])
    arch = only_arch(result)
    assert arch.verdict is Verdict.REJECT
    assert arch.reasons[0] == (
        "patch 2/3 'elf: fix the bug' does not apply: --- elf/dl-load.c.rej; the patch after it "
        "was not applied: 3/3 'tests'"
    )
    assert arch.first_bad_patch == SeriesPatch(2, "elf: fix the bug")
    assert result.exit_status == 1


def test_a_failed_patch_the_series_list_numbers_otherwise_names_no_patch_after_it() -> None:
    """A stacked variant's list numbers its series' patches one after another, while the
    build counts within each series: naming "the patches after it" from that list would
    name patches that were applied. The reason says only that the rest was not applied."""
    failed = FailedPatch(1, "x: second series' first", reject="error: patch failed: x.c:1")
    stacked = SeriesInfo("fix", (SeriesPatch(1, "a: first"), SeriesPatch(2, "b: second")))
    cells = [cell("baseline"), cell("fix", CellState.PATCH_FAILED, failed_patch=failed)]
    result = gate([rec("baseline", "t", Outcome.PASS)], cells, series=[stacked])
    assert only_arch(result).reasons[0] == (
        'patch 1/2 "x: second series\' first" does not apply: error: patch failed: x.c:1; '
        "the patches after it were not applied"
    )
    last = FailedPatch(3, "tests")  # the series' last patch: nothing after it
    cells = [cell("baseline"), cell("fix", CellState.PATCH_FAILED, failed_patch=last)]
    result = gate([rec("baseline", "t", Outcome.PASS)], cells, series=[SERIES])
    assert only_arch(result).reasons[0] == "patch 3/3 'tests' does not apply"


@pytest.mark.parametrize("state", [CellState.CONFIGURE_FAILED, CellState.BUILD_FAILED])
def test_series_that_does_not_build_rejects(state: CellState) -> None:
    cells = [cell("baseline"), cell("fix", state, message="ld: undefined reference to foo")]
    arch = only_arch(gate([rec("baseline", "t", Outcome.PASS)], cells))
    assert arch.verdict is Verdict.REJECT
    assert "undefined reference to foo" in arch.reasons[0]


@pytest.mark.parametrize("state", [CellState.SOURCE_FAILED, CellState.NOT_RUN])
def test_series_cell_that_never_got_to_the_patches_is_undecided(state: CellState) -> None:
    cells = [cell("baseline"), cell("fix", state)]
    result = gate([rec("baseline", "t", Outcome.PASS)], cells)
    assert result.verdict is Verdict.UNDECIDED
    assert result.exit_status == 2


def test_failed_baseline_means_undecided() -> None:
    cells = [cell("baseline", CellState.BUILD_FAILED, message="gcc ICE"), cell("fix")]
    result = gate([rec("fix", "t", Outcome.FAIL)], cells)
    arch = only_arch(result)
    assert arch.verdict is Verdict.UNDECIDED
    assert "baseline failed (BUILD_FAILED: gcc ICE)" in arch.reasons[0]
    assert result.exit_status == 2


def test_built_cell_without_results_is_undecided_not_accepted() -> None:
    result = gate([rec("baseline", "t", Outcome.PASS)], [cell("baseline"), cell("fix")])
    assert result.verdict is Verdict.UNDECIDED
    assert "no test results" in only_arch(result).reasons[0]


def test_series_missing_on_one_arch_is_undecided_there() -> None:
    records = [
        rec("baseline", "t", Outcome.PASS),
        rec("fix", "t", Outcome.PASS),
        rec("baseline", "t", Outcome.PASS, arch=I686),
    ]
    (series,) = gate(records).series
    assert [(a.arch, a.verdict) for a in series.arches] == [
        (I686, Verdict.UNDECIDED),
        (X86, Verdict.ACCEPT),
    ]
    assert series.verdict is Verdict.UNDECIDED


def test_reject_on_one_arch_beats_undecided_on_another() -> None:
    records = [
        rec("baseline", "t", Outcome.PASS),
        rec("fix", "t", Outcome.FAIL),
        rec("fix", "t", Outcome.PASS, arch=I686),
    ]
    cells = [cell("baseline", CellState.BUILD_FAILED, arch=I686)]
    result = gate(records, cells)
    assert [a.verdict for a in result.series[0].arches] == [Verdict.UNDECIDED, Verdict.REJECT]
    assert result.verdict is Verdict.REJECT
    assert result.exit_status == 1


def test_exit_status_is_2_when_nothing_rejected_but_something_undecided() -> None:
    records = [
        rec("baseline", "t", Outcome.PASS),
        rec("good", "t", Outcome.PASS),
        rec("unsure", "t", Outcome.FAIL),
    ]
    result = gate(records, require_reproduction=True)
    assert {s.series: s.verdict for s in result.series} == {
        "good": Verdict.ACCEPT,
        "unsure": Verdict.UNDECIDED,
    }
    assert result.exit_status == 2


def test_combine_with_nothing_is_undecided() -> None:
    assert Verdict.combine([]) is Verdict.UNDECIDED
    assert gate([rec("baseline", "t", Outcome.PASS)]).exit_status == 2


def test_verdict_carries_reproducers_and_provenance() -> None:
    cells = [
        cell("baseline", reproducer="farm run scenarios/s.yaml --only s-x86_64-baseline"),
        cell(
            "fix",
            reproducer="farm run scenarios/s.yaml --only s-x86_64-fix",
            image_id="sha256:abc",
            source_sha256="1" * 64,
            series_sha256="2" * 64,
        ),
    ]
    records = [rec("baseline", "t", Outcome.PASS), rec("fix", "t", Outcome.PASS)]
    (series,) = gate(records, cells).series
    assert series.reproducers == (
        "farm run scenarios/s.yaml --only s-x86_64-fix",
        "farm run scenarios/s.yaml --only s-x86_64-baseline",
    )
    assert series.arches[0].series_cell is not None
    assert series.arches[0].series_cell.image_id == "sha256:abc"
    assert series.arches[0].series_cell.series_sha256 == "2" * 64


def test_bisection_names_the_first_bad_patch_from_the_series_list() -> None:
    records = [rec("baseline", "t", Outcome.PASS), rec("fix", "t", Outcome.FAIL)]
    bisect = BisectResult("fix", X86, SeriesPatch(3, ""), tests=("t",))
    arch = only_arch(gate(records, series=[SERIES], bisections=[bisect]))
    assert arch.first_bad_patch == SeriesPatch(3, "tests")
    assert "first bad patch (bisection): patch 3/3 'tests'; regressed there: t" in arch.reasons


def test_bisection_of_an_accepted_series_is_ignored_with_a_warning() -> None:
    records = [rec("baseline", "t", Outcome.PASS), rec("fix", "t", Outcome.PASS)]
    bisect = BisectResult("fix", X86, SeriesPatch(1, "x"))
    result = gate(records, bisections=[bisect])
    assert only_arch(result).first_bad_patch is None
    assert any("bisection" in w for w in result.warnings)


def test_series_variant_name_can_differ_from_series_name() -> None:
    records = [rec("baseline", "t", Outcome.PASS), rec("v-fix", "t", Outcome.FAIL)]
    result = gate(records, series=[SeriesInfo("fix", variant="v-fix")])
    assert [s.series for s in result.series] == ["fix"]
    assert result.series[0].variant == "v-fix"
    assert result.verdict is Verdict.REJECT


def test_conflicting_records_warn_and_the_worse_one_wins() -> None:
    records = [
        rec("baseline", "t", Outcome.PASS),
        rec("fix", "t", Outcome.PASS),
        rec("fix", "t", Outcome.FAIL),
    ]
    result = gate(records)
    assert result.verdict is Verdict.REJECT
    assert any("different records" in w for w in result.warnings)


# ------------------------------------------------------------------ invariance


def _matrix_inputs() -> tuple[list[Record], list[CellStatus]]:
    """Two arches, four series: reruns, a flake, an unconfirmed failure, a new test, a crash
    and a patch that does not apply."""
    records: list[Record] = []
    for arch in (X86, I686):
        for n in range(12):
            test = f"glibc/misc/tst-{n:02d}"
            records.append(rec("baseline", test, Outcome.PASS, arch=arch, output=f"{test} ok"))
            # "good": tst-05 failed once and was never rerun, tst-07 flaked.
            if n == 5:
                records.append(rec("good", test, Outcome.FAIL, arch=arch))
            elif n == 7:
                records.append(rec("good", test, Outcome.FAIL, arch=arch, output="lost race"))
                records.append(rec("good", test, Outcome.PASS, arch=arch, attempt=2))
            else:
                records.append(rec("good", test, Outcome.PASS, arch=arch))
            # "bad": tst-03 crashes on both attempts.
            if n == 3:
                for attempt in (1, 2):
                    crash = rec(
                        "bad", test, Outcome.CRASH, arch=arch, signal="SIGSEGV", attempt=attempt
                    )
                    records.append(crash)
            else:
                records.append(rec("bad", test, Outcome.PASS, arch=arch))
        records.append(rec("bad", "glibc/misc/tst-new", Outcome.PASS, arch=arch))
    cells = [
        cell(variant, arch=arch, reproducer=f"farm run s.yaml --only s-{arch}-{variant}")
        for arch in (X86, I686)
        for variant in ("baseline", "good", "bad")
    ]
    cells.append(
        cell("broken", CellState.PATCH_FAILED, arch=I686, failed_patch=FailedPatch(1, "x"))
    )
    return records, cells


def test_inputs_build_the_intended_matrix() -> None:
    records, cells = _matrix_inputs()
    result = gate(records, cells, require_reproduction=True)
    assert {s.series: s.verdict for s in result.series} == {
        "bad": Verdict.REJECT,
        "broken": Verdict.REJECT,
        "good": Verdict.UNDECIDED,  # one attempt of tst-05 failed and it was never rerun
    }


@pytest.mark.parametrize("seed", range(12))
def test_verdict_is_the_same_from_shuffled_split_and_duplicated_files(
    seed: int, tmp_path: Path
) -> None:
    records, cells = _matrix_inputs()
    reference = gate(records, cells, require_reproduction=True)

    rng = random.Random(seed)
    shuffled = records + rng.sample(records, k=5)  # overlapping CI artifacts
    rng.shuffle(shuffled)
    files = [tmp_path / "results" / f"cell-{i}.jsonl" for i in range(rng.randint(2, 9))]
    for record in shuffled:
        append_line(rng.choice(files), record.to_json())
    shuffled_cells = [*cells, rng.choice(cells)]
    rng.shuffle(shuffled_cells)

    found, unreadable = RunDir(tmp_path).read_results()
    assert unreadable == ()
    again = gate(list(found), shuffled_cells, require_reproduction=True)
    assert again == reference  # tuples all the way down: equal means equal in order too
