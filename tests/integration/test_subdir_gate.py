"""The gate on glibc's own testsuite: a regression in one test of a whole subdirectory.

The fixture series breaks LM_ID_NEWLM isolation (``dlmopen (LM_ID_NEWLM, ...)`` reuses the
base namespace). Judged on all of ``elf/`` by glibc's ``make check`` (about 350 tests per
variant, images shared with fixture-series.yaml), the gate must reject it and name the
``elf/`` tests that broke, while the tests that fail in a container on the baseline too stay
out of the regressions, and bisect the breakage to patch 2/3: with some forty regressed
``elf/`` tests, each prefix runs ``elf/``'s ``make check`` once rather than forty
``make test t=`` (``farm.run.bisect.SUBDIR_CHECK_FROM``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from farm import outcome
from farm.results import Outcome
from farm.run import bisect
from farm.rundir import RunDir
from tests.integration.conftest import FIXTURES, farm, final_labels

pytestmark = pytest.mark.integration

SCENARIO = FIXTURES / "subdir-isolation.yaml"
#: elf/ tests whose whole point is a separate namespace per LM_ID_NEWLM: each must regress.
ISOLATION_TESTS = (
    "glibc/elf/tst-dlmopen1",
    "glibc/elf/tst-dlmopen4",
    "glibc/elf/tst-tls-ie-dlmopen",
)


@pytest.fixture(scope="module")
def isolation_run(run_root: Path) -> tuple[int, dict[str, Any]]:
    run_dir = run_root / "subdir-isolation"
    ran = farm("run", SCENARIO, "--run-dir", run_dir, "--no-history")
    return ran.returncode, json.loads((run_dir / "report.json").read_text())


def test_the_isolation_breaking_series_is_rejected_on_elf_make_check(
    isolation_run: tuple[int, dict[str, Any]],
) -> None:
    status, report = isolation_run
    assert status == 1
    (series,) = report["series"]
    assert (series["series"], series["verdict"]) == ("broken-isolation", "REJECT")
    labels = final_labels(report)
    for variant in ("baseline", "broken-isolation"):
        elf = [t for (_, v, t) in labels if v == variant and t.startswith("glibc/elf/")]
        assert len(elf) > 300, f"{variant}: only {len(elf)} elf/ tests: not the whole subdir"


def test_the_regressions_are_named_and_reproduced(
    isolation_run: tuple[int, dict[str, Any]],
) -> None:
    _, report = isolation_run
    (arch,) = report["series"][0]["arches"]
    regressions = {t["test"]: t for t in arch["transitions"] if t["kind"] == "REGRESSION"}
    assert set(ISOLATION_TESTS) <= set(regressions), sorted(regressions)
    for test in ISOLATION_TESTS:
        assert regressions[test]["baseline"] == "PASS"
        assert regressions[test]["rejects"] and regressions[test]["reproduced"]
        assert len(regressions[test]["attempts"]) == 2  # make check, then make test t=
    reasons = " ".join(arch["reasons"])
    assert f"{len(regressions)} regression(s)" in reasons


def test_the_bisection_checks_elf_whole_and_names_patch_2(
    isolation_run: tuple[int, dict[str, Any]], run_root: Path
) -> None:
    _, report = isolation_run
    (arch,) = report["series"][0]["arches"]
    assert arch["first_bad_patch"]["number"] == 2, arch["first_bad_patch"]
    assert set(ISOLATION_TESTS) <= set(arch["bisect_tests"])
    # The prefixes ran elf/ whole (more regressed elf/ tests than SUBDIR_CHECK_FROM), and
    # recorded only the tests the bisection asked about.
    regressed = [t for t in arch["transitions"] if t["kind"] == "REGRESSION"]
    assert len(regressed) >= bisect.SUBDIR_CHECK_FROM
    lines = RunDir(run_root / "subdir-isolation").bisect_results.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert {r["details"].get("run_by") for r in records} == {"make check in elf/"}
    assert {r["test"] for r in records} == {t["test"] for t in regressed}


def test_tests_already_failing_on_the_baseline_are_not_regressions(
    isolation_run: tuple[int, dict[str, Any]],
) -> None:
    _, report = isolation_run
    labels = final_labels(report)
    (arch,) = report["series"][0]["arches"]
    regressed = {t["test"] for t in arch["transitions"] if t["kind"] == "REGRESSION"}
    bad_on_baseline = {
        test
        for (_, variant, test), label in labels.items()
        if variant == "baseline" and outcome.is_bad(Outcome(label.split("(", 1)[0]))
    }
    # The container-hostile tests (ldconfig cache, /proc/cpuinfo, ...) fail without the
    # series too; none of them may count against it.
    assert bad_on_baseline, "no baseline failures: the check did not run what it should"
    assert not bad_on_baseline & regressed
