"""Revision over revision: a v2's report, checks and log line say what changed since v1.

The watcher runs against the loopback patchwork with an executor that writes REAL run
directories through the farm's own writer (`farm.rundir.RunDir`: run.json, results/*.jsonl),
as ``farm run`` leaves them, one subdirectory per scenario when it runs several (as
`FarmRunExecutor` does); the comparison reads them back with `farm.judging.compare`.
"""

from __future__ import annotations

import dataclasses
import datetime
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from farm import ids
from farm.inputs.patchwork_api import ApiRoot, PatchworkClient, Token
from farm.judging.gate import Verdict
from farm.plan.scenario import EXTRA_SERIES
from farm.report.patchwork import DESCRIPTION_LIMIT, PatchworkCheck, check_context, with_tail
from farm.results import Outcome, TestResult
from farm.rundir import RunDir
from farm.watch.executor import SeriesJob, SeriesRun
from farm.watch.loop import WatchConfig, Watcher
from farm.watch.poll import first_cursor
from farm.watch.revisions import Delta, series_key, submitter_key
from farm.watch.state import SeriesState, WatchState
from tests.unit.patchwork_fake import FakePatchwork, serve
from tests.unit.test_watch_loop import Clock

SINCE = datetime.datetime(2026, 12, 3, 6, 0, 0)
ARCHES = ("x86_64", "i686")
TESTS = ("farm/elf/dlmopen", "farm/nptl/rseq", "glibc/elf/tst-auditmod")


def pending(scenarios: tuple[str, ...]) -> tuple[PatchworkCheck, ...]:
    return tuple(
        PatchworkCheck(
            series=EXTRA_SERIES, scenario=scenario, arch=arch, state="pending",
            context=check_context(scenario, arch), description=f"testing on {arch}",
        )
        for scenario in scenarios
        for arch in ARCHES
    )  # fmt: skip


class RunWritingExecutor:
    """Writes each series' results as ``farm run`` records them, and judges them simply: a
    series test that does not pass where the baseline's does is a regression (REJECT)."""

    def __init__(self, scenarios: tuple[str, ...] = ("glibc-master",)) -> None:
        self.scenarios = scenarios
        #: series id -> {(arch, test): outcome of the series' variant}; the rest pass
        self.outcomes: dict[int, dict[tuple[str, str], Outcome]] = {}
        self.fail: set[int] = set()  # series whose every attempt raises

    def __call__(self, job: SeriesJob, run_dir: Path) -> SeriesRun:
        if job.series.id in self.fail:
            raise RuntimeError("the build crashed")
        bad = self.outcomes.get(job.series.id, {})
        several = len(self.scenarios) > 1
        checks = []
        for scenario in self.scenarios:
            directory = RunDir(run_dir / scenario if several else run_dir)
            directory.write_run_info(reruns=1)
            for arch in ARCHES:
                for test in TESTS:
                    for variant in (ids.BASELINE, EXTRA_SERIES):
                        found = bad.get((arch, test), Outcome.PASS)
                        outcome = Outcome.PASS if variant == ids.BASELINE else found
                        directory.append_result(
                            TestResult(scenario, arch, variant, test, outcome), worker="gw0"
                        )
                regressed = sorted(t for (a, t), o in bad.items() if a == arch)
                verdict = "REJECT" if regressed else "ACCEPT"
                checks.append(
                    PatchworkCheck(
                        series=EXTRA_SERIES, scenario=scenario, arch=arch,
                        state="fail" if regressed else "success",
                        context=check_context(scenario, arch),
                        description=f"{verdict} on glibc 0123456789ab: "
                        + (f"{', '.join(regressed)} regressed" if regressed else "no regression"),
                    )
                )  # fmt: skip
        verdict = Verdict.REJECT if bad else Verdict.ACCEPT
        report = RunDir(run_dir).report_file("markdown")
        report.write_text(f"# {verdict.value}\n\nthe farm's report of {job.series.label}\n")
        return SeriesRun(verdict, run_dir, report, tuple(checks), base="0123456789abcdef")


@contextmanager
def watching(
    fake: FakePatchwork, tmp_path: Path, executor: RunWritingExecutor, **config: object
) -> Iterator[tuple[Watcher, list[str]]]:
    client = PatchworkClient(ApiRoot.parse(fake.url), Token("s3cret"), timeout=1.0)
    logged: list[str] = []
    clock = Clock()
    with WatchState.open(tmp_path / "state.sqlite", project="glibc", server=fake.url) as state:
        if state.cursor() is None:
            state.start(first_cursor(SINCE, SINCE))
        settings = {"backoff": 0.0, "max_attempts": 3, "deadline": 600.0, **config}
        yield (
            Watcher(
                WatchConfig(project="glibc", work_dir=tmp_path / "work",
                            pending=pending(executor.scenarios), **settings),  # type: ignore[arg-type]
                client, state, executor, log=logged.append, clock=clock, sleep=clock.sleep,
            ),
            logged,
        )  # fmt: skip


@pytest.fixture
def fake() -> Iterator[FakePatchwork]:
    with serve() as server:
        yield server


def descriptions(fake: FakePatchwork, patch_id: int) -> dict[str, str]:
    """The newest description of each context on a patch."""
    return {c["context"]: c["description"] for c in fake.checks.get(patch_id, [])}


X86, I686 = (check_context("glibc-master", arch) for arch in ARCHES)
NAME = "elf: fix dlmopen"
REG = ("x86_64", "farm/elf/dlmopen")


def test_a_v2_that_fixed_v1s_regression_says_fixed_since_v1(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    executor = RunWritingExecutor()
    fake.post_series(31, NAME, [310], date="2026-12-03T06:10:00")
    # Another author's series of the same name, later than v1: not v2's previous revision.
    fake.post_series(
        33, NAME, [330], date="2026-12-03T06:20:00", submitter=("Other", "other@example.org")
    )
    executor.outcomes[31] = {REG: Outcome.FAIL}
    executor.outcomes[33] = {("i686", "farm/nptl/rseq"): Outcome.FAIL}
    with watching(fake, tmp_path, executor) as (watch, logged):
        watch.round()
        assert watch.state.get(31).verdict == "REJECT"
        # v2 two hours later; patchwork's name may carry the subject's prefix, and the
        # submitter's display name changed (the email is who it is).
        fake.post_series(
            32, NAME, [320, 321], date="2026-12-03T08:10:00", version=2,
            submitter=("A. U. Thor", "Author@Example.org"),
        )  # fmt: skip
        fake.series_fields[32] = {"name": f"[PATCH v2 0/2] {NAME}"}
        watch.round()
        v2 = watch.state.get(32)
    assert v2.state is SeriesState.DONE and v2.verdict == "ACCEPT"
    for patch in (320, 321):
        said = descriptions(fake, patch)
        assert (
            said[X86]
            == "ACCEPT on glibc 0123456789ab: no regression; since v1: 1 fixed, 0 new failures"
        )
        assert said[I686] == "ACCEPT on glibc 0123456789ab: no regression; since v1: the same"
    assert all("since" not in d for d in descriptions(fake, 310).values())  # a v1 says nothing
    report = Path(v2.report).read_text()
    assert report.startswith("# ACCEPT\n\nthe farm's report of series 32 v2\n")
    assert "## Since v1" in report and "series 31 v1" in report and "series 33" not in report
    assert "- glibc-master: 1 fixed, 0 new failures" in report
    assert "| x86_64 | series | farm/elf/dlmopen | FAIL | PASS | fixed |" in report
    line = next(line for line in logged if line.startswith("series 32 v2 ") and "ACCEPT" in line)
    assert line.endswith("; since v1: 1 fixed, 0 new failures")
    assert "ACCEPT on glibc 0123456789ab in 0m00s" in line


def test_a_v2_with_a_new_failure_says_so_per_arch(fake: FakePatchwork, tmp_path: Path) -> None:
    executor = RunWritingExecutor()
    fake.post_series(41, NAME, [410], date="2026-12-03T06:10:00")
    fake.post_series(42, NAME, [420], date="2026-12-03T06:20:00", version=2)
    executor.outcomes[42] = {("i686", "glibc/elf/tst-auditmod"): Outcome.CRASH}
    with watching(fake, tmp_path, executor) as (watch, logged):
        watch.round()
        v2 = watch.state.get(42)
    said = descriptions(fake, 420)
    assert said[I686].endswith("; since v1: 0 fixed, 1 new failure")
    assert said[I686].startswith("REJECT on glibc")
    assert said[X86].endswith("; since v1: the same")
    assert (
        "| i686 | series | glibc/elf/tst-auditmod | PASS | CRASH | new failure |"
        in Path(v2.report).read_text()
    )
    assert any(line.endswith("REJECT on glibc 0123456789ab in 0m00s (attempt 1), report "
                             f"{v2.report}; since v1: 0 fixed, 1 new failure")
               for line in logged)  # fmt: skip


def test_two_scenarios_are_compared_each_with_its_own(fake: FakePatchwork, tmp_path: Path) -> None:
    executor = RunWritingExecutor(("glibc-master", "glibc-2.40"))
    other_x86 = check_context("glibc-2.40", "x86_64")
    fake.post_series(51, NAME, [510], date="2026-12-03T06:10:00")
    fake.post_series(52, NAME, [520], date="2026-12-03T06:20:00", version=2)
    executor.outcomes[51] = {REG: Outcome.FAIL}  # in both scenarios
    executor.outcomes[52] = {REG: Outcome.FAIL}
    with watching(fake, tmp_path, executor) as (watch, logged):
        watch.round()
        fake.post_series(53, NAME, [530], date="2026-12-03T06:30:00", version=3)
        watch.round()
        v3 = watch.state.get(53)
        # v3's run of one scenario is lost: v4 compares the other one and says so.
        shutil.rmtree(Path(v3.run_dir) / "glibc-2.40")
        fake.post_series(54, NAME, [540], date="2026-12-03T06:40:00", version=4)
        executor.outcomes[54] = {REG: Outcome.FAIL}
        watch.round()
        v4 = watch.state.get(54)
    assert descriptions(fake, 520)[X86].endswith("; since v1: the same")  # still failing
    assert descriptions(fake, 520)[other_x86].endswith("; since v1: the same")
    assert descriptions(fake, 530)[X86].endswith("; since v2: 1 fixed, 0 new failures")
    assert descriptions(fake, 530)[other_x86].endswith("; since v2: 1 fixed, 0 new failures")
    said = descriptions(fake, 540)
    assert said[X86].endswith("; since v3: 0 fixed, 1 new failure")
    assert said[other_x86].endswith(
        "; since v3: not compared (v3 has no readable run of glibc-2.40)"
    )
    report = Path(v4.report).read_text()
    assert "- glibc-master: 0 fixed, 1 new failure" in report
    assert "- not compared: scenario glibc-2.40: not in v3's run" in report
    line = next(line for line in logged if line.startswith("series 54 v4 ") and "REJECT" in line)
    assert line.endswith("; since v3: 0 fixed, 1 new failure (1 scenario not compared)")


@pytest.mark.parametrize("fate", ["skipped", "gave-up"])
def test_a_v2_whose_v1_was_not_tested_says_there_is_nothing_to_compare(
    fake: FakePatchwork, tmp_path: Path, fate: str
) -> None:
    executor = RunWritingExecutor()
    if fate == "skipped":
        fake.post_series(61, NAME, [610], date="2026-12-03T06:10:00", tags="RFC")
    else:
        fake.post_series(61, NAME, [610], date="2026-12-03T06:10:00")
        executor.fail.add(61)
    with watching(fake, tmp_path, executor, max_attempts=1) as (watch, logged):
        watch.round()
        assert watch.state.get(61).state.value == fate
        fake.post_series(62, NAME, [620], date="2026-12-03T06:20:00", version=2)
        watch.round()
        v2 = watch.state.get(62)
    assert v2.state is SeriesState.DONE
    word = "was skipped" if fate == "skipped" else "gave up untested"
    for description in descriptions(fake, 620).values():
        assert description.endswith(f"; v1 {word}, nothing to compare")
    report = Path(v2.report).read_text()
    assert "## Since v1" in report and "No earlier revision was tested" in report
    if fate == "skipped":
        assert "- series 61 v1 was skipped: \\[RFC\\] in " in report
    else:
        assert "- series 61 v1 was not tested: the watcher gave up after 1 attempt(s): " in report
    assert next(line for line in logged if "series 62 v2" in line and "ACCEPT" in line).endswith(
        f"; v1 {word}, nothing to compare"
    )


def test_a_v3_after_a_skipped_v2_is_compared_with_v1(fake: FakePatchwork, tmp_path: Path) -> None:
    executor = RunWritingExecutor()
    fake.post_series(71, NAME, [710], date="2026-12-03T06:10:00")
    fake.post_series(72, NAME, [720], date="2026-12-03T06:20:00", version=2, tags="RFC")
    fake.post_series(73, NAME, [730], date="2026-12-03T06:30:00", version=3)
    executor.outcomes[71] = {REG: Outcome.FAIL}
    with watching(fake, tmp_path, executor) as (watch, _logged):
        watch.round()
        v3 = watch.state.get(73)
    assert descriptions(fake, 730)[X86].endswith("; since v1: 1 fixed, 0 new failures")
    report = Path(v3.report).read_text()
    assert "## Since v1" in report and "- series 72 v2 was skipped: \\[RFC\\] in" in report


def test_a_deleted_v1_run_directory_is_said_and_the_verdict_stands(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    executor = RunWritingExecutor()
    fake.post_series(81, NAME, [810], date="2026-12-03T06:10:00")
    executor.outcomes[81] = {REG: Outcome.FAIL}
    with watching(fake, tmp_path, executor) as (watch, logged):
        watch.round()
        gone = Path(watch.state.get(81).run_dir)
        shutil.rmtree(gone)
        fake.post_series(82, NAME, [820, 821], date="2026-12-03T06:20:00", version=2)
        executor.outcomes[82] = {REG: Outcome.FAIL}
        watch.round()
        v2 = watch.state.get(82)
    assert (v2.state, v2.verdict, v2.final_posted) == (SeriesState.DONE, "REJECT", True)
    said = descriptions(fake, 821)
    assert said[X86] == (
        "REJECT on glibc 0123456789ab: farm/elf/dlmopen regressed; since v1: not compared "
        "(v1's run directory is gone)"
    )
    assert [c["state"] for c in fake.checks[821]][-2:] == ["fail", "success"]
    report = Path(v2.report).read_text()
    assert f"- not compared: v1's run directory {gone} is gone" in report
    assert next(line for line in logged if "series 82 v2" in line and "REJECT" in line).endswith(
        "; since v1: not compared (v1's run directory is gone)"
    )


def test_an_unreadable_v1_run_is_said_with_the_file_and_the_verdict_stands(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    executor = RunWritingExecutor()
    fake.post_series(85, NAME, [850], date="2026-12-03T06:10:00")
    with watching(fake, tmp_path, executor) as (watch, _logged):
        watch.round()
        damaged = next((Path(watch.state.get(85).run_dir) / "results").glob("*.jsonl"))
        damaged.write_text(damaged.read_text() + '{"schema": 1, "outcome": "PASS"\n')
        fake.post_series(86, NAME, [860], date="2026-12-03T06:20:00", version=2)
        watch.round()
        v2 = watch.state.get(86)
    assert (v2.state, v2.verdict) == (SeriesState.DONE, "ACCEPT")
    assert descriptions(fake, 860)[X86].endswith("; since v1: not compared (see the report)")
    assert f"- not compared: the run: {damaged}:" in Path(v2.report).read_text()


def test_the_section_is_added_once_when_the_verdict_is_recorded_again(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    executor = RunWritingExecutor()
    fake.post_series(91, NAME, [910], date="2026-12-03T06:10:00")
    fake.post_series(92, NAME, [920], date="2026-12-03T06:20:00", version=2)
    with watching(fake, tmp_path, executor) as (watch, _logged):
        watch.round()
        v2 = watch.state.get(92)
        run = SeriesRun(Verdict.ACCEPT, Path(v2.run_dir), Path(v2.report), ())
        before = Path(v2.report).read_text()
        watch._since_previous(v2.series, run)  # as after a kill between report and state
    assert Path(v2.report).read_text() == before
    assert before.count("## Since v1") == 1


def test_the_revision_rules() -> None:
    assert series_key("[PATCH v2 0/3]  Elf: fix  dlmopen") == series_key("elf: fix dlmopen")
    assert series_key("[v2,1/3] [RFC] elf: fix dlmopen") == "elf: fix dlmopen"
    assert series_key("elf: fix [dlmopen]") != series_key("elf: fix dlmopen")
    assert submitter_key("A U Thor <Author@Example.org>") == "author@example.org"
    assert submitter_key("author@example.org") == "author@example.org"
    assert Delta().text == "the same"
    assert Delta(fixed=2, new_failures=1, not_run=3).text == (
        "2 fixed, 1 new failure, 3 no longer run"
    )


def test_a_long_description_keeps_the_revision_tail_whole() -> None:
    tail = "since v1: 1 fixed, 0 new failures"
    said = with_tail("REJECT: " + "x" * 400, tail)
    assert len(said) == DESCRIPTION_LIMIT and said.endswith(f"...; {tail}")
    assert with_tail("ACCEPT", tail) == f"ACCEPT; {tail}"
    check = PatchworkCheck("extra", "s", "x86_64", "fail", "c", "d")
    assert dataclasses.replace(check, description=with_tail("d", tail)).description.endswith(tail)
