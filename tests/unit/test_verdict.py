"""The gate over run directories: what a split CI run's artifacts can and cannot prove."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from farm import gate, matrix, results, verdict
from farm.results import Outcome
from farm.scenario import Scenario, load_scenario, with_extra_series

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "scenarios" / "debian-2.36-backports.yaml"


@pytest.fixture
def scenario() -> Scenario:
    return load_scenario(DEFAULT)


def write_cell(run_dir: Path, scenario: Scenario, arch: str, variant: str) -> None:
    """One cell's run directory as `farm run --only CELL --no-gate` leaves it: all passing."""
    status = gate.CellStatus(scenario.name, arch, variant, gate.CellState.BUILT)
    (run_dir / "cells").mkdir(parents=True, exist_ok=True)
    (run_dir / "cells" / f"{status.cell}.json").write_text(json.dumps(dataclasses.asdict(status)))
    outcomes = {"farm/dlmopen/newlm-isolation": Outcome.PASS}
    # Make every expectation of the scenario hold, so only missing cells can spoil the verdict.
    for expectation in scenario.expectations:
        if expectation.variant in ("*", variant) and "*" not in expectation.test:
            if expectation.outcome == "absent":
                continue
            label = "PASS" if expectation.outcome == "present" else expectation.outcome
            outcomes[expectation.test] = Outcome(label.partition("(")[0])
    for test, outcome in outcomes.items():
        results.append_result(
            run_dir / "results" / f"{status.cell}.jsonl",
            results.TestResult(
                scenario.name, arch, variant, test, outcome,
                signal="SIGSEGV" if outcome is Outcome.CRASH else None,
            ),
        )  # fmt: skip


def test_a_cell_no_run_directory_holds_leaves_its_series_undecided(
    scenario: Scenario, tmp_path: Path
) -> None:
    directories = []
    for variant in scenario.variants:
        directories.append(tmp_path / variant)
        write_cell(tmp_path / variant, scenario, "x86_64", variant)
    all_cells = matrix.cells([scenario])

    only_x86 = verdict.evaluate(
        scenario, directories, expected_cells=[c for c in all_cells if c.arch.value == "x86_64"]
    )
    assert only_x86.verdict is gate.Verdict.ACCEPT, only_x86

    everything = verdict.evaluate(scenario, directories, expected_cells=all_cells)
    assert everything.verdict is gate.Verdict.UNDECIDED
    (series,) = everything.series
    i686 = next(a for a in series.arches if a.arch == "i686")
    assert i686.verdict is gate.Verdict.UNDECIDED
    assert any("not run" in reason for reason in i686.reasons), i686.reasons
    missing = next(c for c in everything.cells if c.cell.endswith("i686-baseline"))
    assert missing.state is gate.CellState.NOT_RUN
    assert missing.reproducer.endswith("--only debian-2.36-backports-i686-baseline")


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
