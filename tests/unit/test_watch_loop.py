"""The watcher against the loopback patchwork, with a fake executor (no Docker, no glibc).

The executor is the farm's own seam (`farm.watch.executor.TestSeries`): here it returns a
verdict at once, raises, hangs or "kills" the watcher, as a real run could. Everything else
is real: the HTTP client, the polling and paging, the mbox fetches, the skip rules, the
SQLite state and its lock, the checks posted and read back from the stand-in.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from farm.errors import EngineError
from farm.inputs.patchwork_api import ApiRoot, PatchworkClient, Token
from farm.judging.gate import Verdict
from farm.report.patchwork import PatchworkCheck, check_context
from farm.watch.executor import SeriesJob, SeriesRun
from farm.watch.loop import WatchConfig, Watcher
from farm.watch.poll import first_cursor, poll
from farm.watch.state import SeriesState, StateError, WatchState
from tests.unit.patchwork_fake import FakePatchwork, serve

SINCE = datetime.datetime(2026, 12, 3, 6, 0, 0)
PENDING = tuple(
    PatchworkCheck(
        series="extra", scenario="glibc-master", arch=arch, state="pending",
        context=check_context("glibc-master", arch), description=f"testing on {arch}",
    )
    for arch in ("x86_64", "i686")
)  # fmt: skip


class FakeExecutor:
    """Returns a verdict per series id at once; ``behaviour`` says otherwise for some."""

    def __init__(self, verdicts: dict[int, Verdict] | None = None) -> None:
        self.verdicts = verdicts or {}
        #: series id -> what to do on each attempt: "raise", "hang", "stuck", "exit",
        #: "interrupt", "engine", "sigkill", "stop" (ask the watcher to stop, then succeed)
        #: or "ok"
        self.behaviour: dict[int, list[str]] = {}
        self.calls: list[tuple[int, int, Path]] = []
        self.watcher: Watcher | None = None
        self.arches: tuple[str, ...] = ("x86_64", "i686")  # the contexts its verdicts speak in
        self.stuck_for = 5.0

    def __call__(self, job: SeriesJob, run_dir: Path) -> SeriesRun:
        self.calls.append((job.series.id, job.attempt, run_dir))
        assert job.mbox.read_bytes().startswith(b"From ")  # the mbox the watcher kept
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / f"attempt-{job.attempt}").write_text("started\n")
        todo = self.behaviour.get(job.series.id, [])
        what = todo.pop(0) if todo else "ok"
        if what == "raise":
            raise RuntimeError("the engine went away")
        if what == "hang":  # as the farm waits: short polls (a subprocess, a build's output)
            for _ in range(300):
                time.sleep(0.1)
        if what == "stuck":  # one long call no exception interrupts
            time.sleep(self.stuck_for)
        if what == "exit":
            raise SystemExit(137)
        if what == "interrupt":
            raise KeyboardInterrupt
        if what == "engine":
            raise EngineError("Cannot connect to the Docker daemon (is dockerd running?)")
        if what == "sigkill":  # no cleanup, no finally: as the OOM killer or a power cut
            os.kill(os.getpid(), signal.SIGKILL)
        if what == "stop" and self.watcher is not None:
            self.watcher.request_stop()
        verdict = self.verdicts.get(job.series.id, Verdict.ACCEPT)
        state = {Verdict.ACCEPT: "success", Verdict.REJECT: "fail"}.get(verdict, "warning")
        report = run_dir / "report.md"
        report.write_text(f"{verdict.value}\n")
        checks = tuple(
            dataclasses.replace(c, state=state, description=f"{verdict.value}: fake")
            for c in PENDING
            if c.arch in self.arches
        )
        return SeriesRun(verdict, run_dir, report, checks, base="0123456789abcdef")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.datetime(2026, 12, 3, 8, 0, tzinfo=datetime.UTC).timestamp()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def watcher(
    fake: FakePatchwork, tmp_path: Path, executor: FakeExecutor, clock: Clock, **config: object
) -> Iterator[Watcher]:
    client = PatchworkClient(ApiRoot.parse(fake.url), Token("s3cret"), timeout=1.0)
    with WatchState.open(tmp_path / "state.sqlite", project="glibc", server=fake.url) as state:
        if state.cursor() is None:
            state.start(first_cursor(SINCE, SINCE))
        settings = {"backoff": 60.0, "max_attempts": 3, "deadline": 600.0, **config}
        built = Watcher(
            WatchConfig(project="glibc", work_dir=tmp_path / "work", pending=PENDING,
                        **settings),  # type: ignore[arg-type]
            client, state, executor, log=lambda line: logged.append(line), clock=clock,
            sleep=clock.sleep,
        )  # fmt: skip
        executor.watcher = built
        yield built


logged: list[str] = []


def checks_on(fake: FakePatchwork, patch_id: int) -> list[tuple[str, str]]:
    return [(c["context"], c["state"]) for c in fake.checks.get(patch_id, [])]


X86, I686 = PENDING[0].context, PENDING[1].context


def posted_once(state: str) -> list[tuple[str, str]]:
    """What one patch shows after one test: pending in each context, then the verdict."""
    return [(X86, "pending"), (I686, "pending"), (X86, state), (I686, state)]


@pytest.fixture
def fake() -> Iterator[FakePatchwork]:
    logged.clear()
    with serve() as server:
        yield server


def test_two_new_series_are_tested_and_their_verdicts_posted(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    fake.post_series(1, "old: posted before --since", [10], date="2026-12-03T05:59:59")
    fake.post_series(2, "elf: fix dlmopen", [20, 21], date="2026-12-03T06:10:00")
    fake.post_series(3, "nptl: fix rseq", [30], date="2026-12-03T06:05:00", version=2)
    executor, clock = FakeExecutor({2: Verdict.ACCEPT, 3: Verdict.REJECT}), Clock()
    with watcher(fake, tmp_path, executor, clock) as watch:
        summary = watch.round()
        assert (summary.queued, summary.tested, summary.fault) == (2, 2, "")
        assert [c[0] for c in executor.calls] == [3, 2]  # oldest first, by patchwork's date
        assert checks_on(fake, 20) == checks_on(fake, 21) == posted_once("success")
        assert checks_on(fake, 30) == posted_once("fail")
        assert fake.shown_state(30) == "fail"
        assert checks_on(fake, 10) == []
        record = watch.state.get(3)
        assert (record.state, record.verdict, record.attempts) == (SeriesState.DONE, "REJECT", 1)
        assert record.series.version == 2 and record.series.submitter.startswith("A U Thor <")
        # A v2 whose v1 the watcher never saw: its report says there is nothing to compare.
        report = Path(record.report).read_text()
        assert report.startswith("REJECT\n\n") and "## Since v1" in report
        assert "No earlier revision of this series is in the watcher's state" in report
        # The next round lists them again (the look-back window, never below --since) and
        # does nothing with them.
        again = watch.round()
        assert (again.listed, again.queued, again.tested, again.posted) == (2, 0, 0, 0)
    assert len(executor.calls) == 2
    assert any(
        "series 3 v2 'nptl: fix rseq': REJECT on glibc 0123456789ab" in line for line in logged
    )


def test_rfc_and_ci_tag_skip_series_are_skipped_without_a_check(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    fake.post_series(4, "elf: an idea", [40], date="2026-12-03T06:10:00", tags="RFC")
    fake.post_series(
        5, "elf: not yet", [50, 51], date="2026-12-03T06:11:00",
        cover_body="Two patches.\n\nCI-tag: skip\n",
    )  # fmt: skip
    fake.post_series(
        6, "elf: tag in a patch", [60], date="2026-12-03T06:12:00",
        patch_body="Why.\n\nci-tag: SKIP\nSigned-off-by: A <a@example.org>\n",
    )  # fmt: skip
    fake.post_series(
        7, "elf: tested", [70], date="2026-12-03T06:13:00",
        cover_body="It mentions CI-tag: skip inside a line only.\n",
    )  # fmt: skip
    executor, clock = FakeExecutor(), Clock()
    with watcher(fake, tmp_path, executor, clock) as watch:
        summary = watch.round()
        assert (summary.skipped, summary.tested) == (3, 1)
        reasons = {i: watch.state.get(i).reason for i in (4, 5, 6)}
        assert {watch.state.get(i).state for i in (4, 5, 6)} == {SeriesState.SKIPPED}
        assert watch.state.get(7).state is SeriesState.DONE
    assert [c[0] for c in executor.calls] == [7]
    assert "[RFC]" in reasons[4]
    assert "'CI-tag: skip' in the cover letter" in reasons[5]
    assert "'CI-tag: skip' in a patch" in reasons[6]
    assert all(checks_on(fake, p) == [] for p in (40, 50, 51, 60))
    assert checks_on(fake, 70) == posted_once("success")
    assert sum("skipped:" in line for line in logged) == 3


def test_the_series_list_is_followed_page_by_page(fake: FakePatchwork, tmp_path: Path) -> None:
    for number in range(1, 8):
        fake.post_series(number, f"s{number}", [number * 10], date=f"2026-12-03T06:0{number}:00")
    client = PatchworkClient(ApiRoot.parse(fake.url), None, timeout=2.0)
    listed = client.series_since("glibc", "2026-12-03T06:02:00", per_page=2)
    assert [s.id for s in listed] == [2, 3, 4, 5, 6, 7]  # since is inclusive
    pages = [path for method, path in fake.requests if "/series/?" in path]
    assert len(pages) == 3 and "page=3" in pages[-1]
    assert listed[0].mbox == f"{fake.web}/series/2/mbox/" and listed[0].patches[0].id == 20
    assert client.series_since("gdb", "2026-12-03T06:00:00") == ()


def test_an_incomplete_series_waits_and_the_cursor_stays_before_it(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    fake.post_series(8, "half here", [80, 81], date="2026-12-03T06:20:00")
    fake.series[8] = ("half here", False)
    fake.post_series(9, "whole", [90], date="2026-12-03T06:30:00")
    client = PatchworkClient(ApiRoot.parse(fake.url), None, timeout=2.0)
    clock = Clock()
    with WatchState.open(tmp_path / "s.sqlite", project="glibc", server=fake.url) as state:
        state.start(first_cursor(SINCE, SINCE))
        found = poll(client, state, "glibc", lookback=datetime.timedelta(0), now=clock())
        assert ([s.id for s in found.queued], found.waiting) == ([9], (8,))
        assert found.cursor.date == "2026-12-03T06:20:00"
        fake.series[8] = ("half here", True)
        found = poll(client, state, "glibc", lookback=datetime.timedelta(0), now=clock())
        assert [s.id for s in found.queued] == [8]
        assert found.cursor.date == "2026-12-03T06:30:00"


def test_killed_mid_run_and_restarted_nothing_is_lost_or_repeated(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    fake.post_series(11, "first", [110], date="2026-12-03T06:10:00")
    fake.post_series(12, "second", [120], date="2026-12-03T06:11:00")
    executor, clock = FakeExecutor(), Clock()
    executor.behaviour[11] = ["exit"]
    with pytest.raises(SystemExit), watcher(fake, tmp_path, executor, clock) as watch:
        watch.round()
    # Cut off while testing 11: pending was posted, nothing else; 12 still queued.
    assert checks_on(fake, 110) == [(X86, "pending"), (I686, "pending")]
    assert checks_on(fake, 120) == []
    with WatchState.read_only(tmp_path / "state.sqlite") as state:
        cut = state.get(11)
        assert (cut.state, cut.attempts, cut.pending_posted) == (SeriesState.RUNNING, 1, True)
        assert state.get(12).state is SeriesState.QUEUED
    # A new watcher on the same state: 11 resumes in the run directory it recorded.
    restarted = FakeExecutor()
    with watcher(fake, tmp_path, restarted, clock) as watch:
        watch.round()
        watch.round()
        assert watch.state.get(11).attempts == 2
    assert [(c[0], c[1]) for c in restarted.calls] == [(11, 2), (12, 1)]
    assert restarted.calls[0][2] == executor.calls[0][2]  # the same run directory ...
    assert (restarted.calls[0][2] / "attempt-1").is_file()  # ... with what the first left
    assert checks_on(fake, 110) == checks_on(fake, 120) == posted_once("success")
    assert any("resuming after it was cut off" in line for line in logged)


def test_killed_between_verdict_and_post_posts_without_rerunning(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    fake.post_series(13, "third", [130], date="2026-12-03T06:10:00")
    executor, clock = FakeExecutor(), Clock()
    fake.fault, fake.fault_on, fake.fault_path = "500", "POST", "/checks/"
    with watcher(fake, tmp_path, executor, clock) as watch:
        fake.fault_times = None
        # pending cannot be posted: the round ends before anything is run
        assert watch.round().fault
        assert executor.calls == []
        fake.fault = None
        watch.round()
    assert checks_on(fake, 130) == posted_once("success")
    # Now the verdict recorded, its post lost: make a fresh state record say "not posted".
    with WatchState.open(tmp_path / "state.sqlite", project="glibc", server=fake.url) as state:
        state.update(13, now=clock(), final_posted=False)
    again = FakeExecutor()
    with watcher(fake, tmp_path, again, clock) as watch:
        assert watch.round().posted == 2
    assert again.calls == []
    assert checks_on(fake, 130)[-2:] == [(X86, "success"), (I686, "success")]


@pytest.mark.parametrize("fault", ["500", "close", "stall"])
def test_patchwork_failing_for_a_while_is_survived(
    fake: FakePatchwork, tmp_path: Path, fault: str
) -> None:
    fake.post_series(14, "a", [140], date="2026-12-03T06:10:00")
    fake.post_series(15, "b", [150, 151], date="2026-12-03T06:11:00")
    executor, clock = FakeExecutor({15: Verdict.REJECT}), Clock()
    fake.fault, fake.fault_on, fake.fault_times = fault, "*", 3
    with watcher(fake, tmp_path, executor, clock, interval=10.0) as watch:
        summaries = [watch.round() for _ in range(5)]
    assert summaries[0].fault
    assert [c[0] for c in executor.calls] == [14, 15]
    assert checks_on(fake, 140) == posted_once("success")
    assert checks_on(fake, 150) == checks_on(fake, 151) == posted_once("fail")


def test_the_loop_backs_off_while_patchwork_is_down_and_goes_on(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    fake.post_series(16, "a", [160], date="2026-12-03T06:10:00")
    executor, clock = FakeExecutor(), Clock()
    executor.behaviour[16] = ["stop"]  # the test's way out of run(): stop once tested
    fake.fault, fake.fault_on, fake.fault_times = "500", "*", 3
    with watcher(fake, tmp_path, executor, clock, interval=10.0, max_backoff=25.0) as watch:
        start = clock()
        watch.run()
    assert [c[0] for c in executor.calls] == [16]
    assert clock() - start == pytest.approx(10 + 20 + 25)  # doubled, capped, then well
    assert sum("round(s) in a row ended by a fault" in line for line in logged) == 3


def test_an_unfetchable_mbox_is_retried_then_given_up_with_a_warning(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    fake.post_series(17, "mbox gone", [170, 171], date="2026-12-03T06:10:00")
    fake.post_series(18, "fine", [180], date="2026-12-03T06:11:00")
    fake.fault, fake.fault_on, fake.fault_path = "500", "GET", "/series/17/mbox/"
    executor, clock = FakeExecutor(), Clock()
    with watcher(fake, tmp_path, executor, clock, max_attempts=2, backoff=60.0) as watch:
        watch.round()
        first = watch.state.get(17)
        assert (first.state, first.attempts) == (SeriesState.QUEUED, 1)
        assert "HTTP 500" in first.last_error and first.next_try == clock() + 60
        watch.round()  # too early: not retried yet
        assert watch.state.get(17).attempts == 1
        clock.sleep(61)
        watch.round()
        gave_up = watch.state.get(17)
    assert [c[0] for c in executor.calls] == [18]
    assert gave_up.state is SeriesState.GAVE_UP and "gave up after 2 attempt(s)" in gave_up.reason
    assert checks_on(fake, 170) == checks_on(fake, 171) == [(X86, "warning"), (I686, "warning")]
    assert "HTTP 500" in fake.checks[170][0]["description"]


def test_an_executor_that_raises_or_hangs_is_retried_and_given_up(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    fake.post_series(19, "crashes once", [190], date="2026-12-03T06:10:00")
    fake.post_series(20, "hangs", [200], date="2026-12-03T06:11:00")
    executor, clock = FakeExecutor(), Clock()
    executor.behaviour = {19: ["raise"], 20: ["hang", "hang"]}
    with watcher(fake, tmp_path, executor, clock, max_attempts=2, backoff=0.0, deadline=0.3) as w:
        started = time.monotonic()
        w.round()
        w.round()
        assert time.monotonic() - started < 10  # the hangs were cut at the deadline
        assert w.state.get(19).verdict == "ACCEPT" and w.state.get(19).attempts == 2
        crashed, retried = (c[2] for c in executor.calls if c[0] == 19)
        assert crashed != retried and (crashed / "attempt-1").is_file()  # kept, not resumed
        assert Path(w.state.get(19).run_dir) == retried
        hung = w.state.get(20)
    assert hung.state is SeriesState.GAVE_UP and "deadline of 0.3 s" in hung.reason
    assert checks_on(fake, 190) == posted_once("success")
    assert checks_on(fake, 200) == [(X86, "pending"), (I686, "pending"), (X86, "warning"),
                                    (I686, "warning")]  # fmt: skip
    assert any("the engine went away; retry in 0 s" in line for line in logged)


def test_a_stop_request_ends_after_the_current_series(fake: FakePatchwork, tmp_path: Path) -> None:
    fake.post_series(21, "a", [210], date="2026-12-03T06:10:00")
    fake.post_series(22, "b", [220], date="2026-12-03T06:11:00")
    executor, clock = FakeExecutor(), Clock()
    executor.behaviour[21] = ["stop"]
    with watcher(fake, tmp_path, executor, clock) as watch:
        watch.round()
        assert watch.state.get(21).state is SeriesState.DONE and watch.state.get(21).final_posted
        assert watch.state.get(22).state is SeriesState.QUEUED
    assert checks_on(fake, 210) == posted_once("success") and checks_on(fake, 220) == []


def test_a_second_watcher_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from farm.watch.state import WatchState\n"
         "with WatchState.open(Path(sys.argv[1]), project='glibc', server='u'):\n"
         "    print('locked', flush=True); time.sleep(30)", str(db)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(StateError) as refused:  # noqa: SIM117 (the with is what is tested)
            with WatchState.open(db, project="glibc", server="u"):
                pass  # pragma: no cover
        assert f"pid {holder.pid} on " in str(refused.value)
        assert f"pid {os.getpid()} " not in str(refused.value)
    finally:
        holder.kill()
        holder.wait()
    # Killed (SIGKILL: no cleanup ran), its lock went with it.
    with WatchState.open(db, project="glibc", server="u"):
        pass


def test_the_engine_gone_ends_the_round_without_charging_the_series(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    fake.post_series(23, "a", [230], date="2026-12-03T06:10:00")
    executor, clock = FakeExecutor(), Clock()
    executor.behaviour[23] = ["engine", "engine", "engine", "engine"]
    with watcher(fake, tmp_path, executor, clock, max_attempts=2) as watch:
        for _ in range(4):
            assert "container engine fault while testing series 23" in watch.round().fault
        waiting = watch.state.get(23)
        assert (waiting.state, waiting.attempts) == (SeriesState.QUEUED, 0)
        watch.round()
        assert watch.state.get(23).state is SeriesState.DONE
    assert len({c[2] for c in executor.calls}) == 1  # always the same run directory
    assert checks_on(fake, 230) == posted_once("success")  # pending once, not per round


def test_a_context_the_verdict_left_unspoken_gets_a_warning(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    fake.post_series(24, "a", [240], date="2026-12-03T06:10:00")
    executor, clock = FakeExecutor(), Clock()
    executor.arches = ("x86_64",)
    with watcher(fake, tmp_path, executor, clock) as watch:
        watch.round()
    assert checks_on(fake, 240) == [(X86, "pending"), (I686, "pending"), (X86, "success"),
                                    (I686, "warning")]  # fmt: skip
    assert "no verdict in this context" in fake.checks[240][-1]["description"]


CHILD = """
import sys
from pathlib import Path
from tests.unit import test_watch_loop as t
from tests.unit.patchwork_fake import FakePatchwork

fake = FakePatchwork(url=sys.argv[1])
executor = t.FakeExecutor()
executor.behaviour[int(sys.argv[3])] = ["sigkill"]
with t.watcher(fake, Path(sys.argv[2]), executor, t.Clock()) as watch:
    watch.round()
"""


def test_sigkilled_mid_run_a_new_process_resumes_without_repeating(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    fake.post_series(25, "first", [250], date="2026-12-03T06:10:00")
    fake.post_series(26, "second", [260], date="2026-12-03T06:11:00")
    child = subprocess.run(
        [sys.executable, "-c", CHILD, fake.url, str(tmp_path), "26"],
        cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert checks_on(fake, 250) == posted_once("success")
    assert checks_on(fake, 260) == [(X86, "pending"), (I686, "pending")]
    restarted, clock = FakeExecutor(), Clock()
    with watcher(fake, tmp_path, restarted, clock) as watch:  # the lock went with the child
        watch.round()
        resumed = watch.state.get(26)
    assert [(c[0], c[1]) for c in restarted.calls] == [(26, 2)]  # 25 is not run again
    assert (restarted.calls[0][2] / "attempt-1").is_file()
    assert (resumed.state, resumed.final_posted) == (SeriesState.DONE, True)
    assert checks_on(fake, 250) == posted_once("success")
    assert checks_on(fake, 260) == posted_once("success")


def test_a_series_without_patches_is_skipped_not_retried(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    fake.post_series(27, "cover alone", [], date="2026-12-03T06:10:00", cover_body="Soon.\n")
    executor, clock = FakeExecutor(), Clock()
    with watcher(fake, tmp_path, executor, clock) as watch:
        assert watch.round().skipped == 1
        record = watch.state.get(27)
    assert executor.calls == []
    assert record.state is SeriesState.SKIPPED and "holds no patch" in record.reason
