"""The gate over run directories: what a split CI run's artifacts can and cannot prove."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from farm import cases, results
from farm.judging import gate, verdict
from farm.plan import matrix
from farm.plan.scenario import Scenario, load_scenario, with_extra_series
from farm.results import Outcome

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "scenarios" / "debian-2.36-backports.yaml"


@pytest.fixture
def scenario() -> Scenario:
    return load_scenario(DEFAULT)


#: What the default scenario's tests show on a healthy run of glibc 2.36, written out by hand
#: (not derived from the scenario's expectations, so the gate's matching is what is tested).
HEALTHY_2_36: dict[str, str] = {
    "farm/dlmopen/audit-lmid": "PASS",
    "farm/dlmopen/libc-in-namespace": "PASS",
    "farm/dlmopen/namespace-exhaustion": "PASS",
    "farm/dlmopen/newlm-isolation": "PASS",
    "farm/dlmopen/same-object-twice": "PASS",
    "farm/replace/cp-in-place-crash": "CRASH(SIGBUS)",
    "farm/replace/install-new-inode": "PASS",
    "farm/rseq/preload-constructor": "PASS",
    "farm/rseq/registered-at-startup-and-in-threads": "PASS",
    "farm/rseq/second-registration-refused": "PASS",
    "farm/rseq/static-executable": "PASS",
    "farm/rseq/tunable-disabled": "PASS",
    "farm/static/dlopen-shared-object": "PASS",
    "farm/unique/gnu-flags-1-written": "UNSUPPORTED",
    "farm/unique/rtld-shared-same-object": "UNSUPPORTED",
    "farm/unique/z-unique-auto-shared": "UNSUPPORTED",
    "farm/unique/z-unique-needed": "UNSUPPORTED",
    "farm/unload/dlopen-refcount": "PASS",
    "farm/unload/nodelete-keeps-mapped": "PASS",
    "farm/unload/runtime-pinned": "PASS",
    "farm/unload/runtime-unpinned-crash": "CRASH(SIGSEGV)",
    "glibc/elf/tst-dlmopen1": "PASS",
    "glibc/misc/tst-rseq": "PASS",
    "glibc/nptl/tst-rseq-nptl": "PASS",
}
#: Only the git-updates series has this test (the backport adds it).
SERIES_ONLY = {"glibc/elf/tst-dlmopen-twice": "PASS"}


def record(
    scenario: Scenario, arch: str, variant: str, test: str, label: str, attempt: int = 1
) -> results.TestResult:
    outcome, _, signal = label.partition("(")
    return results.TestResult(
        scenario.name, arch, variant, test, Outcome(outcome),
        signal=signal.rstrip(")") or None, attempt=attempt,
        details={"natural_crash": "yes"} if signal else {},
    )  # fmt: skip


def write_cell(
    run_dir: Path,
    scenario: Scenario,
    arch: str,
    variant: str,
    changed: dict[str, str] | None = None,
    attempts: int = 1,
) -> None:
    """One cell's run directory as `farm run --only CELL --no-gate` leaves it: healthy, but
    with the labels in ``changed``, each seen ``attempts`` times."""
    status = gate.CellStatus(scenario.name, arch, variant, gate.CellState.BUILT)
    (run_dir / "cells").mkdir(parents=True, exist_ok=True)
    (run_dir / "cells" / f"{status.cell}.json").write_text(json.dumps(dataclasses.asdict(status)))
    outcomes = dict(HEALTHY_2_36) | (SERIES_ONLY if variant != "baseline" else {})
    changed = changed or {}
    for test, label in outcomes.items():
        label = changed.get(test, label)
        for attempt in range(1, (attempts if test in changed else 1) + 1):
            path = run_dir / "results" / f"{status.cell}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as stream:
                stream.write(record(scenario, arch, variant, test, label, attempt).to_json() + "\n")


def test_a_cell_no_run_directory_holds_leaves_its_series_undecided(
    scenario: Scenario, tmp_path: Path
) -> None:
    directories = []
    for variant in scenario.variants:
        directories.append(tmp_path / variant)
        write_cell(tmp_path / variant, scenario, "x86_64", variant)
    all_cells = matrix.cells([scenario])

    only_x86 = verdict.evaluate(
        scenario, directories, cells=all_cells,
        expected_cells=[c for c in all_cells if c.arch.value == "x86_64"],
    )  # fmt: skip
    assert only_x86.verdict is gate.Verdict.ACCEPT, only_x86

    everything = verdict.evaluate(scenario, directories, cells=all_cells, expected_cells=all_cells)
    assert everything.verdict is gate.Verdict.UNDECIDED
    (series,) = everything.series
    i686 = next(a for a in series.arches if a.arch == "i686")
    assert i686.verdict is gate.Verdict.UNDECIDED
    assert any("not run" in reason for reason in i686.reasons), i686.reasons
    missing = next(c for c in everything.cells if c.cell.endswith("i686-baseline"))
    assert missing.state is gate.CellState.NOT_RUN
    assert missing.reproducer.endswith("--only debian-2.36-backports-i686-baseline")


def test_the_judge_takes_the_cells_it_is_handed_and_makes_none_again(
    scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variant in scenario.variants:
        write_cell(tmp_path, scenario, "x86_64", variant)
    every = matrix.cells([scenario])
    x86 = tuple(c for c in every if c.arch.value == "x86_64")

    def made_again(*_args: object) -> tuple[matrix.Cell, ...]:
        raise AssertionError("the judge made the scenario's cells again")

    monkeypatch.setattr(matrix, "cells", made_again)
    judged = verdict.evaluate(scenario, [tmp_path], cells=every, expected_cells=x86)
    assert judged.verdict is gate.Verdict.ACCEPT, judged
    # An expected cell that is none of the cells handed in is the caller's mistake, said so.
    other = dataclasses.replace(every[0], variant="elsewhere")
    with pytest.raises(ValueError, match="-elsewhere are none of the scenario's cells"):
        verdict.evaluate(scenario, [tmp_path], cells=every, expected_cells=(other,))


def test_the_judge_takes_the_cases_the_scenario_selected_and_loads_no_library(
    scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def loaded_again(*_args: object) -> tuple[cases.Case, ...]:
        raise AssertionError("the judge loaded the case library again")

    monkeypatch.setattr(cases, "load_cases", loaded_again)
    selects = verdict.selection(scenario)
    assert scenario.tests.selected_cases, "the default scenario selects farm cases"
    assert all(selects(f"farm/{case.id}") for case in scenario.tests.selected_cases)
    # Not selected: an opt-in family the default scenario's "*" does not name.
    assert not selects("farm/sandbox/hang")
    judged = default_run(scenario, tmp_path)
    assert judged.verdict is gate.Verdict.ACCEPT, judged
    # Every farm case's record was judged: none was left out as a test not selected.
    recorded = {test for test in HEALTHY_2_36 if test.startswith("farm/")}
    assert recorded <= {tested.test for tested in judged.histories}


def test_extra_series_from_a_url_becomes_a_variant_and_a_reproducer(scenario: Scenario) -> None:
    mbox = with_extra_series(
        scenario, "https://patchwork.sourceware.org/series/1/mbox/", origin="t"
    )
    diff = with_extra_series(scenario, "https://example.org/fix.patch", origin="t")
    assert mbox.variants[-1] == diff.variants[-1] == "extra"
    assert mbox.series[-1].source.format.value == "mail"  # type: ignore[union-attr]
    assert diff.series[-1].source.format.value == "diff"  # type: ignore[union-attr]
    assert verdict.reproducer(diff, "x").startswith(
        "FARM_EXTRA_SERIES_URL=https://example.org/fix.patch farm run "
    )


@pytest.mark.parametrize("url", ["", "patch.diff", "ssh://host/x.patch", "https://"])
def test_extra_series_url_that_is_not_a_url_is_refused(scenario: Scenario, url: str) -> None:
    from farm.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"\$FARM_EXTRA_SERIES_URL: expected"):
        with_extra_series(scenario, url, origin="$FARM_EXTRA_SERIES_URL")


def default_run(
    scenario: Scenario, tmp_path: Path, variant_changes: dict[str, dict[str, str]] | None = None
) -> gate.GateResult:
    changes = variant_changes or {}
    for variant in scenario.variants:
        for arch in ("x86_64", "i686"):
            write_cell(tmp_path, scenario, arch, variant, changes.get(variant))
    every = matrix.cells([scenario])
    return verdict.evaluate(scenario, [tmp_path], cells=every, expected_cells=every)


def test_the_default_scenario_checks_every_expectation_and_accepts_a_healthy_run(
    scenario: Scenario, tmp_path: Path
) -> None:
    result = default_run(scenario, tmp_path)
    assert result.verdict is gate.Verdict.ACCEPT, [
        a.reasons for s in result.series for a in s.arches
    ]
    assert not [w for w in result.warnings if "not checked" in w], result.warnings


@pytest.mark.parametrize(
    ("test", "label"),
    [
        ("farm/unload/runtime-unpinned-crash", "PASS"),
        ("farm/replace/cp-in-place-crash", "CRASH(SIGSEGV)"),
        ("farm/unique/z-unique-needed", "PASS"),
    ],
)
def test_a_series_that_flips_an_expected_outcome_is_rejected_with_the_scenario_line(
    scenario: Scenario, tmp_path: Path, test: str, label: str
) -> None:
    """On main the gate compared ``variant: "*"`` with ``==`` and skipped these (ACCEPT)."""
    result = default_run(scenario, tmp_path, {"git-updates": {test: label}})
    assert result.verdict is gate.Verdict.REJECT
    (series,) = result.series
    for arch in series.arches:
        assert arch.verdict is gate.Verdict.REJECT
        (unmet,) = arch.unmet
        assert unmet.test == test and unmet.actual == label
        assert unmet.expectation.where.startswith(f"{DEFAULT}:")
        assert any(f"{DEFAULT}:" in reason for reason in arch.reasons), arch.reasons


def test_a_baseline_that_breaks_a_star_expectation_leaves_the_verdict_undecided(
    scenario: Scenario, tmp_path: Path
) -> None:
    result = default_run(
        scenario, tmp_path, {"baseline": {"farm/unload/runtime-unpinned-crash": "PASS"}}
    )
    assert result.verdict is gate.Verdict.UNDECIDED
    (series,) = result.series
    assert all(any("baseline does not behave" in r for r in a.reasons) for a in series.arches)
