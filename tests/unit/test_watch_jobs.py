"""``farm watch --jobs N``: several series under test at once, against the loopback patchwork.

The executor is the farm's own seam (`farm.watch.executor.TestSeries`), faked as in
`tests.unit.test_watch_loop` (whose `FakeExecutor` this one extends): its runs can wait for
each other (a barrier that only N runs at once can pass), pause, hang, crash or "kill" the
watcher, and it counts how many are at work at once. Everything else is real: the threads,
the HTTP client, the SQLite state and its lock, the checks posted and read back, a SIGKILL.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from farm.commands.watch_cmd import status_text
from farm.judging.gate import Verdict
from farm.watch.executor import SeriesJob, SeriesRun
from farm.watch.loop import WatchConfig
from farm.watch.state import SeriesState, WatchState
from tests.unit.patchwork_fake import FakePatchwork, serve
from tests.unit.test_watch_loop import (
    I686,
    X86,
    Clock,
    FakeExecutor,
    checks_on,
    logged,
    posted_once,
    watcher,
)

PENDING_ONLY = [(X86, "pending"), (I686, "pending")]


class MeetingExecutor(FakeExecutor):
    """A `FakeExecutor` whose runs of the series in ``meet`` each wait at a barrier of
    ``len(meet)`` parties (passed only when they are all at work at once: a watcher testing
    fewer at a time fails them with BrokenBarrierError), then pause ``pause[id]`` seconds
    and call ``before_return[id]`` if given."""

    def __init__(self, meet: tuple[int, ...] = (), verdicts: dict[int, Verdict] | None = None):
        super().__init__(verdicts)
        self.meet = meet
        self.barrier = threading.Barrier(max(len(meet), 1), timeout=10)
        self.pause: dict[int, float] = {}
        self.before_return: dict[int, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self.at_work = 0
        self.most_at_once = 0

    def __call__(self, job: SeriesJob, run_dir: Path) -> SeriesRun:
        with self._lock:
            self.at_work += 1
            self.most_at_once = max(self.most_at_once, self.at_work)
        try:
            if job.series.id in self.meet and job.attempt == 1:
                self.barrier.wait()
            time.sleep(self.pause.get(job.series.id, 0.0))
            run = super().__call__(job, run_dir)
            if (hook := self.before_return.get(job.series.id)) is not None:
                hook()
            return run
        except KeyboardInterrupt:
            # As the farm's runs do wherever it lands (their containers stopped). Here too
            # when it lands before the run began: a thread woken from the barrier may not
            # have left it yet when the watcher's interrupt is raised in it.
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "stopped").write_text("interrupted in its own thread\n")
            raise
        finally:
            with self._lock:
                self.at_work -= 1


@pytest.fixture
def fake() -> Iterator[FakePatchwork]:
    logged.clear()
    with serve() as server:
        yield server


def post(fake: FakePatchwork, *series_ids: int) -> None:
    """Series ``n`` with one patch ``n * 10``, posted a minute apart (oldest first)."""
    for minute, number in enumerate(series_ids, start=10):
        fake.post_series(number, f"s{number}", [number * 10], date=f"2026-12-03T06:{minute}:00")


def test_two_jobs_test_two_series_at_once_and_never_a_third(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    post(fake, 41, 42, 43)
    executor, clock = MeetingExecutor(meet=(41, 42)), Clock()
    executor.pause = {41: 0.3, 42: 0.3, 43: 0.3}
    with watcher(fake, tmp_path, executor, clock, jobs=2) as watch:
        summary = watch.round()
        records = [watch.state.get(n) for n in (41, 42, 43)]
    assert (summary.tested, summary.failed, summary.fault) == (3, 0, "")
    assert executor.most_at_once == 2  # the two that met, and the third only after one ended
    assert [c[0] for c in executor.calls][2] == 43  # the oldest take the slots first
    assert all((r.state, r.attempts) == (SeriesState.DONE, 1) for r in records)
    assert len({r.run_dir for r in records}) == 3
    for patch_id in (410, 420, 430):
        assert checks_on(fake, patch_id) == posted_once("success")


def test_one_job_tests_one_series_at_a_time(fake: FakePatchwork, tmp_path: Path) -> None:
    post(fake, 44, 45)
    executor, clock = MeetingExecutor(meet=(44, 45)), Clock()
    executor.barrier = threading.Barrier(2, timeout=0.5)
    with watcher(fake, tmp_path, executor, clock) as watch:  # the default: jobs=1
        summary = watch.round()
    assert executor.most_at_once == 1
    assert summary.failed == 2  # neither met the other: they never ran together
    assert all("BrokenBarrierError" in line for line in logged if "attempt 1 of 3" in line)


@pytest.mark.parametrize("fault", ["raise", "engine"])
def test_a_crash_or_the_engine_lost_in_one_series_does_not_stop_the_other(
    fake: FakePatchwork, tmp_path: Path, fault: str
) -> None:
    post(fake, 46, 47)
    executor, clock = MeetingExecutor(meet=(46, 47)), Clock()
    executor.behaviour[46] = [fault]
    executor.pause[47] = 0.5  # still at work when 46 fails
    with watcher(fake, tmp_path, executor, clock, jobs=2) as watch:
        summary = watch.round()
        failed, other = watch.state.get(46), watch.state.get(47)
    assert (other.state, other.attempts, other.final_posted) == (SeriesState.DONE, 1, True)
    assert checks_on(fake, 470) == posted_once("success")
    assert checks_on(fake, 460) == PENDING_ONLY
    assert failed.state is SeriesState.QUEUED
    if fault == "raise":  # the series' fault: its attempt counted, retried later
        assert (failed.attempts, summary.fault) == (1, "")
        assert "the engine went away" in failed.last_error
    else:  # the engine's: not charged, and the round ends once the other has its verdict
        assert failed.attempts == 0
        assert "container engine fault while testing series 46" in summary.fault


def test_patchwork_down_as_one_verdict_is_posted_the_other_runs_on_to_its_own(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    post(fake, 48, 49)
    executor, clock = MeetingExecutor(meet=(48, 49), verdicts={48: Verdict.REJECT}), Clock()

    def patchwork_down() -> None:
        fake.fault, fake.fault_on, fake.fault_path = "500", "POST", "/checks/"

    executor.before_return[48] = patchwork_down
    executor.pause[49] = 0.5
    with watcher(fake, tmp_path, executor, clock, jobs=2) as watch:
        summary = watch.round()
        other = watch.state.get(49)
        assert "patchwork fault while posting done on series 48" in summary.fault
        # 49 ran on to its verdict, recorded; nothing more was sent to a patchwork down.
        assert (other.state, other.final_posted) == (SeriesState.DONE, False)
        assert checks_on(fake, 480) == checks_on(fake, 490) == PENDING_ONLY
        fake.fault = None
        again = watch.round()
    assert (again.posted, again.tested, again.fault) == (4, 0, "")
    assert len(executor.calls) == 2  # nothing run again
    assert checks_on(fake, 480) == posted_once("fail")
    assert checks_on(fake, 490) == posted_once("success")


def test_a_stop_request_lets_the_series_under_test_finish_and_starts_no_other(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    post(fake, 50, 51, 52)
    executor, clock = MeetingExecutor(meet=(50, 51)), Clock()
    executor.behaviour[50] = ["stop"]
    executor.pause[51] = 0.5  # still at work when the stop is asked for
    with watcher(fake, tmp_path, executor, clock, jobs=2) as watch:
        watch.round()
        states = [watch.state.get(n) for n in (50, 51, 52)]
    assert [(r.state, r.final_posted) for r in states] == [
        (SeriesState.DONE, True), (SeriesState.DONE, True), (SeriesState.QUEUED, False)
    ]  # fmt: skip
    assert [c[0] for c in executor.calls] == [50, 51] or [c[0] for c in executor.calls] == [51, 50]
    assert checks_on(fake, 500) == checks_on(fake, 510) == posted_once("success")
    assert checks_on(fake, 520) == []
    assert any(line.startswith("stopping:") for line in logged)


def test_a_deadline_stops_its_own_series_in_its_thread_and_not_the_other(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    post(fake, 53, 54)
    executor, clock = MeetingExecutor(meet=(53, 54)), Clock()
    executor.behaviour[53] = ["hang"]
    executor.pause[54] = 0.5
    with watcher(fake, tmp_path, executor, clock, jobs=2, deadline=1.5) as watch:
        started = time.monotonic()
        watch.round()
        took = time.monotonic() - started
        hung, other = watch.state.get(53), watch.state.get(54)
    assert took < 10  # cut at the deadline, not after the hang's 30 s
    assert (other.state, other.attempts) == (SeriesState.DONE, 1)
    assert hung.state is SeriesState.QUEUED and "deadline of 1.5 s" in hung.last_error
    (hung_call,) = (c for c in executor.calls if c[0] == 53)
    assert (hung_call[2] / "stopped").is_file()  # the KeyboardInterrupt reached its thread


def test_a_run_stuck_in_one_call_past_its_deadline_is_left_behind(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    post(fake, 55)
    executor, clock = MeetingExecutor(), Clock()
    executor.behaviour[55] = ["stuck"]
    executor.stuck_for = 3.0
    with watcher(fake, tmp_path, executor, clock, deadline=0.2, stop_grace=0.4) as watch:
        started = time.monotonic()
        watch.round()
        assert time.monotonic() - started < 2.5  # not the stuck call's 3 s
        stuck = watch.state.get(55)
        assert (stuck.state, stuck.attempts) == (SeriesState.QUEUED, 1)
        assert "deadline of 0.2 s" in stuck.last_error
        clock.sleep(61)
        watch.round()  # the next attempt, in a run directory of its own
        retried = watch.state.get(55)
    first_dir, second_dir = (c[2] for c in executor.calls)
    assert retried.state is SeriesState.DONE and Path(retried.run_dir) == second_dir != first_dir
    assert any("did not stop within 0.4 s of its deadline; left behind" in ln for ln in logged)


def test_an_interrupt_stops_every_series_under_test_and_leaves_them_running(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    post(fake, 56, 57)
    executor, clock = MeetingExecutor(meet=(56, 57)), Clock()
    executor.behaviour = {56: ["interrupt"], 57: ["hang"]}  # 56's is the second Ctrl-C
    with pytest.raises(KeyboardInterrupt), watcher(fake, tmp_path, executor, clock, jobs=2) as w:
        w.round()
    with WatchState.read_only(tmp_path / "state.sqlite") as state:
        cut = [state.get(n) for n in (56, 57)]
    assert [r.state for r in cut] == [SeriesState.RUNNING] * 2
    other = Path(cut[1].run_dir)
    assert (other / "stopped").is_file()  # interrupted in its thread, not abandoned


CHILD = """
import sys
from pathlib import Path
from tests.unit import test_watch_jobs as t
from tests.unit.patchwork_fake import FakePatchwork

fake = FakePatchwork(url=sys.argv[1])
executor = t.MeetingExecutor(meet=(58, 59))
executor.behaviour = {58: ["hang"], 59: ["sigkill"]}
executor.pause[59] = 0.5  # 58 has begun (its attempt-1 file written) when 59 kills them
with t.watcher(fake, Path(sys.argv[2]), executor, t.Clock(), jobs=2) as watch:
    watch.round()
"""


def test_sigkilled_with_two_running_each_resumes_in_its_own_run_directory(
    fake: FakePatchwork, tmp_path: Path
) -> None:
    post(fake, 58, 59)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, fake.url, str(tmp_path)],
        cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert checks_on(fake, 580) == checks_on(fake, 590) == PENDING_ONLY
    with WatchState.read_only(tmp_path / "state.sqlite") as state:
        cut = [state.get(n) for n in (58, 59)]
        status = status_text(state, now=time.time())
    assert [(r.state, r.attempts) for r in cut] == [(SeriesState.RUNNING, 1)] * 2
    running = status.split("running (2):\n", 1)[1].split("last results", 1)[0]
    assert "series 58 v1 's58' attempt 1" in running and "series 59 v1 's59' attempt 1" in running
    restarted, clock = MeetingExecutor(), Clock()
    with watcher(fake, tmp_path, restarted, clock, jobs=2) as watch:
        assert watch.round().tested == 2
        resumed = [watch.state.get(n) for n in (58, 59)]
    assert sorted((c[0], c[1]) for c in restarted.calls) == [(58, 2), (59, 2)]
    for before, after in zip(cut, resumed, strict=True):
        assert (after.state, after.attempts) == (SeriesState.DONE, 2)
        assert after.run_dir == before.run_dir and (Path(after.run_dir) / "attempt-1").is_file()
    assert checks_on(fake, 580) == checks_on(fake, 590) == posted_once("success")


def test_jobs_below_one_are_a_bug_of_the_caller(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jobs must be 1 or more, got 0"):
        WatchConfig(project="glibc", work_dir=tmp_path, pending=(), jobs=0)
