"""A whole glibc subdirectory run by glibc's own ``make check`` through ``farm test``.

The fixture scenario selects ``dlfcn/`` on the default scenario's x86_64 baseline image
(same glibc, same configure flags: the image is reused, nothing is built). The run must
give one record per test glibc's own Makefile lists for dlfcn/, with the outcomes glibc's
harness wrote, and rerun a failure the single-test way.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from farm.containers.container import TestContainer
from farm.containers.engine import Engine
from farm.results import Outcome, TestResult
from farm.rundir import RunDir
from farm.testing import runner
from tests.integration.conftest import FIXTURES, farm
from tests.integration.test_build import plan

pytestmark = pytest.mark.integration

SCENARIO = FIXTURES / "subdir-check.yaml"


@pytest.fixture(scope="module")
def dlfcn_records(run_root: Path) -> list[TestResult]:
    return farm_test(run_root / "subdir-check")


def farm_test(run_dir: Path, *options: str) -> list[TestResult]:
    ran = farm(
        "test", SCENARIO, "--only", "*-x86_64-baseline", "--run-dir", run_dir, "-n", "1", *options
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    found, unreadable = RunDir(run_dir).read_results()
    assert not unreadable, unreadable
    return list(found)


@pytest.fixture(scope="module")
def dlfcn_tests_of_the_makefile(farm_engine: Engine, run_root: Path) -> set[str]:
    tag = plan(run_root, SCENARIO)["test-x86_64-baseline"]
    container = TestContainer(farm_engine, tag, f"farm-it-subdir-list-{os.getpid()}")
    container.start()
    try:
        return set(runner.list_glibc_tests(container, ("dlfcn/*",)))
    finally:
        container.stop()


def test_every_test_of_the_subdirectory_gets_one_record_from_make_check(
    dlfcn_records: list[TestResult], dlfcn_tests_of_the_makefile: set[str]
) -> None:
    first = [r for r in dlfcn_records if r.attempt == 1 and r.test.startswith("glibc/dlfcn/")]
    names = [r.test.removeprefix("glibc/") for r in first]
    assert len(names) == len(set(names)), names
    # glibc's summary also lists its special tests (check-abi-libdl and the like).
    assert dlfcn_tests_of_the_makefile and dlfcn_tests_of_the_makefile <= set(names)
    assert {r.details.get("run_by") for r in first} == {"make check in dlfcn/"}
    outcomes = {r.test: r.outcome for r in first}
    assert outcomes["glibc/dlfcn/tst-dladdr"] is Outcome.PASS
    assert outcomes["glibc/dlfcn/check-abi-libdl"] is Outcome.PASS
    assert sum(o is Outcome.PASS for o in outcomes.values()) >= 20, outcomes


def test_a_failure_carries_its_out_and_is_rerun_the_single_test_way(
    dlfcn_records: list[TestResult],
) -> None:
    # bug-atexit3 dlopens libstdc++, which the test image does not ship: a real FAIL.
    attempts = sorted(
        (r for r in dlfcn_records if r.test == "glibc/dlfcn/bug-atexit3"), key=lambda r: r.attempt
    )
    assert [(r.attempt, r.outcome) for r in attempts] == [(1, Outcome.FAIL), (2, Outcome.FAIL)]
    assert "libstdc++.so.6" in attempts[0].output
    assert attempts[1].details == {"run_by": "make test (rerun)"}
    assert "via make test t=dlfcn/bug-atexit3" in attempts[1].output


def test_two_shards_run_what_one_run_runs(dlfcn_records: list[TestResult], run_root: Path) -> None:
    """``--shard 1/2`` and ``--shard 2/2`` split dlfcn/ from elf/tst-dlmopen1, and together
    give the records of the unsplit run (so `farm gate` over both judges the same tests)."""
    shards = [farm_test(run_root / f"subdir-shard-{i}", "--shard", f"{i}/2") for i in (1, 2)]

    def outcomes(records: list[TestResult]) -> set[tuple[str, int, Outcome]]:
        return {(r.test, r.attempt, r.outcome) for r in records}

    assert all(shards), "a shard ran nothing: the split put both units in one shard"
    assert not outcomes(shards[0]) & outcomes(shards[1])
    assert outcomes(shards[0]) | outcomes(shards[1]) == outcomes(dlfcn_records)
    assert ("glibc/elf/tst-dlmopen1", 1, Outcome.PASS) in outcomes(dlfcn_records)
