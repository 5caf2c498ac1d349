"""`--resume`: which tests an interrupted run still owes, and that nothing finished is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from farm import results, rundir
from farm.commands.common import run_dir
from farm.errors import UsageError
from farm.plan.scenario import Arch, load_scenario
from farm.results import Outcome
from farm.run import pipeline
from farm.testing import runner

REPO = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(REPO / "scenarios" / "debian-2.36-backports.yaml")


def item(test: str) -> runner.TestItem:
    return runner.TestItem(SCENARIO.name, Arch.X86_64, "baseline", "img", test, 1.0)


def record(path: Path, test: str, outcome: Outcome, attempt: int) -> None:
    rundir.append_line(
        path,
        results.TestResult(
            SCENARIO.name, "x86_64", "baseline", test, outcome, image="img", attempt=attempt
        ).to_json(),
    )


def test_resume_runs_only_unfinished_items_and_keeps_finished_results(tmp_path: Path) -> None:
    worker_file = tmp_path / "results" / "cell--gw0.jsonl"
    record(worker_file, "farm/a", Outcome.PASS, 1)  # finished: good
    record(worker_file, "farm/b", Outcome.FAIL, 1)  # finished: FAIL, then its one rerun
    record(worker_file, "farm/b", Outcome.FAIL, 2)
    record(worker_file, "farm/c", Outcome.FAIL, 1)  # interrupted before its rerun
    with worker_file.open("a") as torn:
        torn.write('{"scenario": "torn')  # the writer was killed mid-line
    items = [item(t) for t in ("farm/a", "farm/b", "farm/c", "farm/d")]

    pending = pipeline.resume_items(items, run_dir=rundir.RunDir(tmp_path), reruns=1)

    assert [i.test for i in pending] == ["farm/c", "farm/d"]
    kept = pipeline.load_results(rundir.RunDir(tmp_path))
    assert [(r.test, r.attempt) for r in kept] == [("farm/a", 1), ("farm/b", 1), ("farm/b", 2)]
    assert not worker_file.exists()
    assert [p.suffix for p in (tmp_path / "results").iterdir()] == [".jsonl"]


def test_a_whole_subdirectory_runs_again_and_its_old_records_go(tmp_path: Path) -> None:
    worker_file = tmp_path / "results" / "cell--gw0.jsonl"
    record(worker_file, "glibc/elf/tst-a", Outcome.PASS, 1)  # written by an interrupted check
    record(worker_file, "glibc/elfx/tst-b", Outcome.PASS, 1)  # a test of another subdir
    items = [item("glibc/elf/"), item("glibc/elfx/tst-b")]

    pending = pipeline.resume_items(items, run_dir=rundir.RunDir(tmp_path), reruns=1)

    assert [i.test for i in pending] == ["glibc/elf/"]
    assert [r.test for r in pipeline.load_results(rundir.RunDir(tmp_path))] == ["glibc/elfx/tst-b"]


def test_resume_of_a_run_without_results_runs_everything(tmp_path: Path) -> None:
    items = [item("farm/a")]
    assert pipeline.resume_items(items, run_dir=rundir.RunDir(tmp_path), reruns=1) == items


def test_runs_started_in_the_same_second_get_their_own_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = run_dir(None, SCENARIO), run_dir(None, SCENARIO)
    assert first != second and first.is_dir() and second.is_dir()
    assert run_dir(None, SCENARIO, resume=True) == second


def test_resume_without_an_earlier_run_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="no earlier run"):
        run_dir(None, SCENARIO, resume=True)
    with pytest.raises(UsageError, match="does not exist"):
        run_dir(tmp_path / "nope", SCENARIO, resume=True)
