"""farm compare over hand-written run directories (made through RunDir)."""

from __future__ import annotations

from pathlib import Path

import pytest

from farm.errors import UsageError
from farm.judging.compare import Change, compare
from farm.results import Outcome, TestResult
from farm.rundir import RunDir


def run_dir(root: Path, outcomes: dict[str, Outcome], scenario: str = "s") -> Path:
    directory = RunDir(root)
    directory.write_run_info(reruns=1)
    for test, found in outcomes.items():
        directory.append_result(TestResult(scenario, "x86_64", "fix-v1", test, found), worker="gw0")
    return root


def test_new_failures_fixes_and_what_is_no_fix(tmp_path: Path) -> None:
    a = run_dir(
        tmp_path / "a",
        {"t/reg": Outcome.PASS, "t/fix": Outcome.FAIL, "t/err": Outcome.FAIL,
         "t/uns": Outcome.UNSUPPORTED, "t/same": Outcome.PASS},
    )  # fmt: skip
    b = run_dir(
        tmp_path / "b",
        {"t/reg": Outcome.FAIL, "t/fix": Outcome.PASS, "t/err": Outcome.ERROR,
         "t/uns": Outcome.PASS, "t/same": Outcome.PASS},
    )  # fmt: skip
    found = {c.test: c.change for c in compare(a, b).changes}
    assert found == {
        "t/reg": Change.NEW_FAILURE,
        "t/fix": Change.FIXED,
        "t/err": Change.STILL_FAILING,  # an ERROR is not a pass
        "t/uns": Change.OTHER,  # UNSUPPORTED -> PASS fixed no failure
        "t/same": Change.SAME,
    }


def test_two_scenarios_are_refused_with_both_paths(tmp_path: Path) -> None:
    a = run_dir(tmp_path / "a", {"t/x": Outcome.PASS}, scenario="s")
    b = run_dir(tmp_path / "b", {"t/x": Outcome.PASS}, scenario="other")
    with pytest.raises(UsageError, match=f"{a}.*{b}"):
        compare(a, b)


def test_one_variant_is_compared_alone(tmp_path: Path) -> None:
    """The watcher compares the series' own variant: another series of the same run, whose
    final attempts would otherwise be set beside the first's, is left out."""
    a, b = RunDir(tmp_path / "a"), RunDir(tmp_path / "b")
    for directory, extra, other in (
        (a, Outcome.FAIL, Outcome.PASS),
        (b, Outcome.PASS, Outcome.FAIL),
    ):
        directory.write_run_info(reruns=1)
        for variant, found in (("extra", extra), ("other", other), ("baseline", Outcome.PASS)):
            directory.append_result(TestResult("s", "x86_64", variant, "t/x", found), worker="gw0")
    changes = compare(a.root, b.root, variant="extra").changes
    assert [(c.side, c.test, c.change) for c in changes] == [("series", "t/x", Change.FIXED)]
