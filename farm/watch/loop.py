"""The watcher: poll patchwork, work through the queue, tell patchwork, and never stop on a fault.

One round (`Watcher.round`) polls once (`farm.watch.poll`) and then takes every series with
something left to do, oldest first, each at most once a round:

1. a series whose verdict (or give-up warning) is recorded but not yet posted: post it;
2. a queued series (or one found ``running``: cut off, it runs again in its run directory
   and the executor resumes there; after a failed attempt the next one starts in a new run
   directory, ``runs/<id>-v<version>/attempt-<n>``, the failed one kept for reading): fetch
   its mbox and cover letter once, and keep them; skip it if it asks to be skipped
   (`farm.watch.skip`: logged, no check); choose its glibc base in each template once
   (`farm.watch.baseline`: its ``base-commit:``, else the shared baseline) and record it, so
   every attempt and a resumed run are on the same glibc; post ``pending`` on every patch;
   count the attempt and mark it ``running``; start the executor under a wall-clock deadline;
   when it returns, for a revision after the first, compare its run with the previous
   revision's (`farm.watch.revisions`: a section of the report, a tail of each check and of
   the log line); record the verdict and its checks; post them.

The round ends when every series it started has returned (patchwork is polled again only
then: a series posted meanwhile waits for the next round, even with a slot free). After it,
a round without a fault removes the images of shared baselines that moved on and that
nothing waiting needs (`farm.watch.baseline`); a failure there (the engine away, an
unreadable image record) is logged and tried again next round.

Concurrency (``--jobs N``, `WatchConfig.jobs`, default 1): up to N series are under test at
once, each executor in a thread of its own and in its own run directory; the oldest queued
series takes the next free slot. The rules:

- One thread, the watcher's (the main thread), owns every transition of the state and
  every request to patchwork: it prepares a series (mails, skip, bases, ``pending``,
  ``running``), starts its executor's thread, and records and posts what the thread
  returns. An executor thread only tests; it never touches the state or patchwork. So the
  SQLite connection is used by the thread that opened it only (``sqlite3``'s
  ``check_same_thread`` stays on), every transition is one transaction as with one job, and
  the state's promises (`farm.watch.state`) hold for N: a series is marked ``running``
  (its attempt counted) before its thread starts and ``done`` after it returned, so a
  watcher killed with N running leaves N ``running`` series, and each resumes in its own run
  directory at the next start, none tested or posted twice, none lost.
- ``pending`` and the verdict are posted per series, as with one job: ``pending`` before its
  executor starts, the verdict as soon as it returned, whatever the others are doing.
- What the series share is the farm's, and guarded there: an image two series need (the
  baseline both are on) is built by one of them while the other waits on the tag's file
  lock and then reuses it (`farm.run.build.one_build_per_tag`, the lock that also keeps two
  farms sharing a cache from building one image twice at once); the cache's downloads and the
  template's lock file take their own file locks (`farm.inputs.sources`); the flaky history is
  written under its lock (`farm.judging.history`); container names carry the thread
  (`farm.ids.container_name`). Each cell's tests run in a ``pytest`` process of their own.
- A fault of one series is that series' (below): the others run on. A fault of patchwork or
  of the engine ends the round as with one job, but gently: no new series starts, the
  series under test run on to their verdicts, which are recorded (and, after an engine
  fault, posted; after a patchwork fault, posted by the next round, as nothing would get
  through).
- Default 1: on the 2-core machine this was written on one glibc build takes both cores,
  so two series at once take as long as one after the other, each twice as long. N above 1
  is for a machine with cores to spare (a build uses them all, make -j); then a series is
  not kept waiting behind another's hour-long build.

Faults, and what each costs:

- Patchwork down, answering 5xx, stalling or closing the connection, while polling or
  posting: the round ends there (nothing after it would get through either; the series
  under test run on and their verdicts are recorded), the error is logged, and the next
  round comes after a pause that doubles with each failed round (up to
  `WatchConfig.max_backoff`). It costs no series an attempt: patchwork's fault is not the
  series'. What was to be posted stays recorded and is posted by a later round.
- An mbox that cannot be fetched, an executor that raises (a build that crashed) or runs
  past `WatchConfig.deadline`: that series' attempt failed. It is retried after
  ``backoff * 2**(attempts - 1)`` seconds (capped), and after `WatchConfig.max_attempts`
  attempts it is given up: a ``warning`` check with the reason in each pending context, so
  no ``pending`` is left forever. The loop goes on with the next.
- The deadline is `ExecutorDeadline`, a KeyboardInterrupt on purpose, raised in the
  executor's thread (``PyThreadState_SetAsyncExc``; a signal reaches the main thread only):
  every subprocess and container of the farm is stopped on KeyboardInterrupt
  (`farm.command.run`, `farm.containers.engine`), and a deadline must stop them the same way. It
  arrives between two Python steps, and every wait of the farm's is a short poll (a
  subprocess's wait, a build's output stream); a thread that still has not returned
  `WatchConfig.stop_grace` seconds later (stuck in one long call) is left behind, its
  attempt failed, and its series' next attempt starts in a new run directory.
- The template's git repository unreachable while a base is chosen (`farm.errors.SourceError`:
  the shared baseline is due, or a ``base-commit:`` is not in the mirror): like patchwork
  down, the round ends and no series is charged an attempt.
- The container engine gone (`farm.errors.EngineError` from the executor): like patchwork
  down, the round ends and the series is not charged the attempt; its run directory is
  kept, and the next attempt resumes there.
- A verdict whose checks leave a ``pending`` context unspoken (an executor that judged
  fewer contexts than were announced) gets a ``warning`` there, so no ``pending`` is left.
- KeyboardInterrupt and SystemExit (a second Ctrl-C or SIGTERM in the main thread, or one
  raised by an executor: a test pretending to be a kill) are not faults: every executor
  still running is interrupted the same way (each stops its containers), waited for up to
  `WatchConfig.stop_grace` seconds, and the watcher ends; the series stay ``running`` and
  the next watcher resumes them.

Stopping: `Watcher.request_stop` (the command calls it on the first SIGTERM or SIGINT) is
checked between steps: no series starts after it, and every series under test goes on to
its verdict, which is recorded and posted; then the watcher stops, with the state
consistent. The command makes a second signal interrupt at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from farm.errors import EngineError, FarmError, SeriesError, SourceError
from farm.inputs.patchwork_api import PatchworkClient, PatchworkError, PatchworkPostError
from farm.inputs.try_series import BaseChoice
from farm.report import patchwork
from farm.report.patchwork import PatchworkCheck
from farm.watch import poll, revisions, skip
from farm.watch.executor import SeriesJob, SeriesRun, TestSeries
from farm.watch.revisions import SincePrevious
from farm.watch.state import SeriesRecord, SeriesState, WatchedSeries, WatchState

Log = Callable[[str], None]


class ChooseBases(Protocol):
    """Chooses a series' glibc base in each template from its kept mails (cover letter,
    patches): `farm.watch.baseline.SharedBaselines.choose`."""

    def __call__(
        self, state: WatchState, mails: Sequence[Path], *, what: str, now: float
    ) -> dict[str, BaseChoice]: ...


class ExecutorDeadline(KeyboardInterrupt):
    """The executor ran past its deadline (a KeyboardInterrupt: see the module docstring)."""


class _RoundFault(Exception):
    """Patchwork or the container engine failed while the round needed it: the round ends,
    and no series is blamed (charged an attempt) for it. ``patchwork``: it was patchwork's,
    so nothing more is posted this round either."""

    def __init__(self, message: str, *, patchwork: bool = False) -> None:
        super().__init__(message)
        self.patchwork = patchwork


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """How one watcher behaves; every number is in seconds."""

    project: str
    work_dir: Path  # mboxes/ and runs/ go here
    pending: tuple[PatchworkCheck, ...]  # posted when a series starts; their contexts
    post: bool = True  # False: tell patchwork nothing (a trial run)
    interval: float = 300.0
    max_attempts: int = 3
    backoff: float = 300.0
    max_backoff: float = 3600.0
    deadline: float = 6 * 3600.0
    mbox_timeout: float = 60.0
    lookback: datetime.timedelta = field(default=poll.LOOKBACK)
    jobs: int = 1  # series under test at once
    #: how long an executor told to stop (its deadline, or the watcher interrupted) gets
    #: before its thread is left behind
    stop_grace: float = 120.0

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise ValueError(f"jobs must be 1 or more, got {self.jobs}")  # the command checks

    def retry_delay(self, attempts: int) -> float:
        return float(min(self.backoff * 2 ** max(attempts - 1, 0), self.max_backoff))


@dataclass(frozen=True, slots=True)
class RoundSummary:
    listed: int = 0
    queued: int = 0
    tested: int = 0
    skipped: int = 0
    failed: int = 0
    gave_up: int = 0
    posted: int = 0
    fault: str = ""


#: What an executor's thread hands back: the run, or what it raised.
_Outcome = SeriesRun | BaseException
#: How long the watcher's thread waits for a returning executor before it looks at the
#: deadlines and the stop request again.
_TICK = 0.2


class _Testing:
    """One series whose executor is at work in a thread of its own: the watcher's (mutable)
    bookkeeping of it, shared with that thread through ``lock`` only."""

    def __init__(self, record: SeriesRecord, job: SeriesJob, run_dir: Path) -> None:
        self.record = record
        self.job = job
        self.run_dir = run_dir
        self.started = time.monotonic()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.returned = False  # the executor returned or raised: nothing more is raised in it
        self.told = 0.0  # monotonic time an exception was raised in its thread (0: none)
        self.told_what = ""  # "deadline" or "interrupt"

    @property
    def series_id(self) -> int:
        return self.record.series.id

    def tell(self, exception: type[BaseException], what: str) -> bool:
        """Raise ``exception`` in the executor's thread, once (the first reason wins), and
        never after it returned: an exception that arrived later would land in the watcher's
        own code of the thread and lose the run it returned."""
        with self.lock:
            if self.returned or self.told or self.thread is None or self.thread.ident is None:
                return False
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.thread.ident), ctypes.py_object(exception)
            )
            self.told, self.told_what = time.monotonic(), what
            return True


class Watcher:
    """One watcher over one state; see the module docstring."""

    def __init__(
        self,
        config: WatchConfig,
        client: PatchworkClient,
        state: WatchState,
        executor: TestSeries,
        *,
        log: Log,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        bases: ChooseBases | None = None,
        collect: Callable[[WatchState], None] | None = None,
    ) -> None:
        self.config = config
        self.choose_bases = bases  # None: every template is run as it is
        self.collect = collect  # removes moved baselines' images; None: nothing is removed
        self.client = client
        self.state = state
        self.executor = executor
        self.log = log
        self.clock = clock
        self.sleep = sleep
        self._stop = threading.Event()
        self._counts: dict[str, int] = {}

    # ------------------------------------------------------------------ running

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, once: bool = False) -> RoundSummary:
        """Rounds until asked to stop (or one round with ``once``); the last round's summary."""
        failed_rounds = 0
        summary = RoundSummary()
        while not self.stopping:
            summary = self.round()
            if once:
                return summary
            failed_rounds = failed_rounds + 1 if summary.fault else 0
            pause = self.config.interval
            if failed_rounds:
                pause = min(
                    self.config.interval * 2 ** (failed_rounds - 1), self.config.max_backoff
                )
                self.log(f"{failed_rounds} round(s) in a row ended by a fault; next in {pause:g} s")
            self._pause(pause)
        return summary

    def _pause(self, seconds: float) -> None:
        end = self.clock() + seconds
        while not self.stopping and (left := end - self.clock()) > 0:
            self.sleep(min(left, 1.0))

    def round(self) -> RoundSummary:
        """Poll once, then work through the queue; a patchwork fault ends the round."""
        self._counts = {}
        listed = queued = 0
        try:
            found = poll.poll(
                self.client, self.state, self.config.project,
                lookback=self.config.lookback, now=self.clock(),
            )  # fmt: skip
            listed, queued = found.listed, len(found.queued)
            for series in found.queued:
                self.log(f"{series.label} {series.name!r} by {series.submitter}: queued")
        except (PatchworkError, PatchworkPostError) as error:
            return self._summary(0, 0, f"patchwork fault while polling: {error}")
        fault = self._work_through()
        if fault:
            return self._summary(listed, queued, fault)
        if self.collect is not None and not self.stopping:
            try:
                self.collect(self.state)
            except FarmError as error:
                self.log(f"removing a moved baseline's images failed (next round again): {error}")
        return self._summary(listed, queued, "")

    def _summary(self, listed: int, queued: int, fault: str) -> RoundSummary:
        if fault:
            self.log(f"round ended: {fault}")
        return RoundSummary(listed=listed, queued=queued, fault=fault, **self._counts)

    def _count(self, what: str) -> None:
        self._counts[what] = self._counts.get(what, 0) + 1

    # ------------------------------------------------------------------ the queue

    def _work_through(self) -> str:
        """Start series while a slot is free, record each as its executor returns, until
        nothing of the round is left; the fault that ended it early, "" if none."""
        returned: queue.SimpleQueue[tuple[_Testing, _Outcome]] = queue.SimpleQueue()
        testing: dict[int, _Testing] = {}
        handled: set[int] = set()  # each series is stepped at most once a round
        fault: _RoundFault | None = None
        said_stopping = False
        try:
            while True:
                if fault is None and not self.stopping:
                    try:
                        self._start(testing, handled, returned)
                    except _RoundFault as down:
                        fault = self._cut_short(down, testing)
                if self.stopping and not said_stopping:
                    said_stopping = True
                    waiting = f"the {len(testing)} series under test go on to their verdicts; "
                    self.log(
                        f"stopping: {waiting if testing else ''}the state is consistent; the "
                        "rest waits for next time"
                    )
                if not testing:
                    return "" if fault is None else str(fault)
                for done, outcome in self._returned(testing, returned):
                    del testing[done.series_id]
                    try:
                        self._record(done, outcome, post=fault is None or not fault.patchwork)
                    except _RoundFault as down:
                        fault = fault or self._cut_short(down, testing)
        except BaseException:
            self._interrupt(testing)
            raise

    def _cut_short(self, fault: _RoundFault, testing: dict[int, _Testing]) -> _RoundFault:
        if testing:
            self.log(
                f"{fault}: no series starts this round; {len(testing)} under test go on to "
                "their verdicts"
            )
        return fault

    def _start(
        self,
        testing: dict[int, _Testing],
        handled: set[int],
        returned: queue.SimpleQueue[tuple[_Testing, _Outcome]],
    ) -> None:
        """Step every series of the queue not stepped yet this round, oldest first, while a
        slot is free: post what is recorded and not posted, start what is due."""
        for record in self.state.work():
            if self.stopping:
                return
            series_id = record.series.id
            if series_id in handled:
                continue
            final = record.state in (SeriesState.DONE, SeriesState.GAVE_UP)
            if not final and len(testing) >= self.config.jobs:
                continue  # waits for a free slot; a verdict further on is still posted
            handled.add(series_id)
            if final:
                self._post_final(record)
                continue
            started = self._prepare(record)
            if started is not None:
                testing[series_id] = started
                thread = threading.Thread(
                    target=self._test, args=(started, returned),
                    name=f"farm-watch-{started.record.series.label}", daemon=True,
                )  # fmt: skip
                started.thread = thread
                thread.start()

    def _test(
        self, testing: _Testing, returned: queue.SimpleQueue[tuple[_Testing, _Outcome]]
    ) -> None:
        """An executor's thread: the run, or what it raised, handed back to the watcher."""
        outcome: _Outcome
        try:
            try:
                outcome = self.executor(testing.job, testing.run_dir)
            finally:
                with testing.lock:
                    testing.returned = True
        except BaseException as raised:  # every one, to the watcher's thread: see _record
            outcome = raised
        returned.put((testing, outcome))

    def _returned(
        self,
        testing: dict[int, _Testing],
        returned: queue.SimpleQueue[tuple[_Testing, _Outcome]],
    ) -> list[tuple[_Testing, _Outcome]]:
        """What returned within a tick; meanwhile the deadlines are kept, and a thread that
        did not stop within the grace after its deadline is left behind (its attempt failed)."""
        got: list[tuple[_Testing, _Outcome]] = []
        with contextlib.suppress(queue.Empty):
            got.append(returned.get(timeout=_TICK))
            while True:
                got.append(returned.get_nowait())
        # Only what the round is waiting for: a thread left behind may return much later.
        done = [(t, outcome) for t, outcome in got if testing.get(t.series_id) is t]
        now = time.monotonic()
        for running in testing.values():
            if running.told_what == "deadline":
                late = now - running.told > self.config.stop_grace
                if late and all(t is not running for t, _ in done):
                    self.log(
                        f"{running.record.series.label}: its run did not stop within "
                        f"{self.config.stop_grace:g} s of its deadline; left behind"
                    )
                    done.append((running, ExecutorDeadline()))
            elif now - running.started > self.config.deadline:
                running.tell(ExecutorDeadline, "deadline")
        return done

    def _interrupt(self, testing: dict[int, _Testing]) -> None:
        """The watcher is ending at once: every executor still at work is interrupted as
        Ctrl-C would (its containers stopped), and waited for up to the grace."""
        if not testing:
            return
        for running in testing.values():
            running.tell(KeyboardInterrupt, "interrupt")
        self.log(
            f"interrupted: {len(testing)} series under test stopped; they stay running, and "
            "the next start resumes them"
        )
        end = time.monotonic() + self.config.stop_grace
        for running in testing.values():
            if running.thread is not None:
                running.thread.join(timeout=max(end - time.monotonic(), 0.0))

    # ------------------------------------------------------------------ one series

    def _prepare(self, record: SeriesRecord) -> _Testing | None:
        """Everything before a series' executor starts (see the module docstring); None when
        it does not start (not due yet, skipped, its attempt failed on the way)."""
        if record.next_try > self.clock():
            return None
        series = record.series
        try:
            mbox, cover, patches = self._mails(record)
        except (poll.MboxUnavailable, SeriesError) as unfetched:
            attempts = record.attempts + 1
            failed = self.state.update(series.id, now=self.clock(), attempts=attempts)
            self._failed(failed, unfetched)
            return None
        reason = skip.skip_reason(series.name, (), cover, patches)
        if reason is None and not patches:
            reason = "patchwork's mbox of it holds no patch (a cover letter alone?)"
        if reason is not None:
            self.state.update(
                series.id, now=self.clock(), state=SeriesState.SKIPPED, reason=reason,
                final_posted=True,
            )  # fmt: skip
            self.log(f"{series.label} {series.name!r}: skipped: {reason}")
            self._count("skipped")
            return None
        # Chosen once and kept: every attempt (and a resumed run) is on the same glibc. A run
        # cut off before bases were recorded (a state of schema 1) goes on as it was.
        needs_bases = not record.bases and record.state is not SeriesState.RUNNING
        if self.choose_bases is not None and needs_bases:
            chosen = self._choose_bases(record, mbox)
            if chosen is None:
                return None
            record = chosen
        if not record.pending_posted:
            self._post(record, self.config.pending, "pending")
            record = self.state.update(series.id, now=self.clock(), pending_posted=True)
        resumed = record.state is SeriesState.RUNNING
        run_dir = Path(record.run_dir) if record.run_dir else self._run_dir(record)
        record = self.state.update(
            series.id, now=self.clock(), state=SeriesState.RUNNING,
            attempts=record.attempts + 1, run_dir=str(run_dir),
        )  # fmt: skip
        how = "resuming after it was cut off" if resumed else "testing"
        on = f" on {bases_text(record.bases)}" if record.bases else ""
        self.log(
            f"{series.label} {series.name!r}: {how} (attempt {record.attempts}){on} in {run_dir}"
        )
        job = SeriesJob(series, mbox, record.attempts, dict(record.bases))
        return _Testing(record, job, run_dir)

    def _record(self, testing: _Testing, outcome: _Outcome, *, post: bool) -> None:
        """What a series' executor returned, recorded (and posted unless ``post`` is off)."""
        record, series = testing.record, testing.record.series
        if isinstance(outcome, SeriesRun):
            self._done(record, outcome, time.monotonic() - testing.started, post=post)
            return
        failure: BaseException
        if testing.told_what == "deadline":  # whatever the stopped run raised on the way out
            failure = FarmError(
                f"the run exceeded its deadline of {self.config.deadline:g} s and was stopped"
            )
        elif isinstance(outcome, EngineError):
            # The engine's fault, not the series': undo the attempt, keep the run directory
            # (the next attempt resumes there), and end the round as patchwork's faults do.
            self.state.update(
                series.id, now=self.clock(), state=SeriesState.QUEUED,
                attempts=record.attempts - 1,
            )  # fmt: skip
            raise _RoundFault(
                f"container engine fault while testing {series.label}: {outcome}"
            ) from outcome
        elif isinstance(outcome, Exception):  # any failure of a run is retried, never the end
            failure = outcome
        else:  # KeyboardInterrupt, SystemExit: a kill, not a fault (see the module docstring)
            raise outcome
        self._failed(self.state.get(series.id), failure, post=post)

    def _choose_bases(self, record: SeriesRecord, mbox: Path) -> SeriesRecord | None:
        """The record with its bases chosen and kept; None when the attempt failed on it."""
        assert self.choose_bases is not None
        series = record.series
        cover = mbox.with_name(f"{series.id}.cover.mbox")
        try:
            bases = self.choose_bases(
                self.state, [cover, mbox], what=f"{series.label} ({mbox})", now=self.clock()
            )
        except SourceError as unreachable:
            raise _RoundFault(
                f"glibc's repository fault while choosing the base of {series.label}: {unreachable}"
            ) from unreachable
        except FarmError as unreadable:
            failed = self.state.update(series.id, now=self.clock(), attempts=record.attempts + 1)
            self._failed(failed, unreadable)
            return None
        return self.state.update(series.id, now=self.clock(), bases=bases)

    def _mails(self, record: SeriesRecord) -> tuple[Path, list[skip.Mail], list[skip.Mail]]:
        """The series' mbox (fetched once, then kept) and its cover letter's mails."""
        series = record.series
        kept = self.config.work_dir / "mboxes"
        mbox = kept / f"{series.id}.mbox"
        cover = kept / f"{series.id}.cover.mbox"
        what = series.label
        timeout = self.config.mbox_timeout
        if series.cover_mbox_url and not cover.is_file():
            data = poll.fetch_mbox(
                series.cover_mbox_url, root=self.client.root, timeout=timeout,
                what=f"{what}'s cover letter",
            )  # fmt: skip
            poll.keep_mbox(cover, data)
        if not mbox.is_file():
            data = poll.fetch_mbox(
                series.mbox_url, root=self.client.root, timeout=timeout, what=what
            )
            poll.keep_mbox(mbox, data)
        try:
            cover_mails = skip.mails(cover.read_bytes(), what=str(cover)) if cover.is_file() else []
            return mbox, cover_mails, skip.mails(mbox.read_bytes(), what=str(mbox))
        except SeriesError:
            # Not mails: fetched again at the next attempt rather than kept as they are.
            cover.unlink(missing_ok=True)
            mbox.unlink(missing_ok=True)
            raise

    def _run_dir(self, record: SeriesRecord) -> Path:
        """A new run directory for the next attempt: ``runs/<id>-v<version>/attempt-<n>``."""
        series = record.series
        return (
            self.config.work_dir / "runs" / f"{series.id}-v{series.version}"
            / f"attempt-{record.attempts + 1}"
        )  # fmt: skip

    def _done(
        self, record: SeriesRecord, run: SeriesRun, seconds: float, *, post: bool = True
    ) -> None:
        series = record.series
        spoken = {check.context for check in run.checks}
        silent = tuple(
            replace(check, state="warning",
                    description=f"glibc-farm: no verdict in this context ({run.verdict.value} "
                    "overall); see the report")
            for check in self.config.pending
            if check.context not in spoken
        )  # fmt: skip
        checks, since = run.checks, self._since_previous(series, run)
        if since is not None:
            checks = since.describe(checks)
        done = self.state.update(
            series.id, now=self.clock(), state=SeriesState.DONE, verdict=run.verdict.value,
            run_dir=str(run.run_dir), report=str(run.report or ""),
            checks=checks + patchwork_shortened(silent), last_error="",
        )  # fmt: skip
        minutes, rest = divmod(int(seconds), 60)
        base = f" on glibc {run.base[:12]}" if run.base else ""
        revision = f"; {since.tail()}" if since is not None else ""
        base += f" ({bases_text(done.bases)})" if done.bases else ""
        self.log(
            f"{series.label} {series.name!r}: {run.verdict.value}{base} in {minutes}m{rest:02d}s "
            f"(attempt {done.attempts}), report {run.report or run.run_dir}{revision}"
        )
        self._count("tested")
        if post:
            self._post_final(done)

    def _since_previous(self, series: WatchedSeries, run: SeriesRun) -> SincePrevious | None:
        """The comparison with the previous revision, its section added to the report (a
        report that cannot be written is logged: the comparison never fails the series)."""
        since = revisions.since_previous(self.state, series, run.run_dir)
        if since is not None and run.report is not None:
            try:
                revisions.add_to_report(run.report, since.markdown())
            except OSError as error:
                self.log(f"{series.label}: no {since.label} section in {run.report}: {error}")
        return since

    def _failed(self, record: SeriesRecord, error: BaseException, *, post: bool = True) -> None:
        series = record.series
        why = " ".join(str(error).split()) or type(error).__name__
        if record.attempts < self.config.max_attempts:
            delay = self.config.retry_delay(record.attempts)
            # A failed run's directory is kept for reading, and the next attempt starts
            # afresh in its own: resuming a run that crashed could repeat the crash.
            self.state.update(
                series.id, now=self.clock(), state=SeriesState.QUEUED, last_error=why,
                next_try=self.clock() + delay, run_dir="",
            )  # fmt: skip
            self.log(
                f"{series.label}: attempt {record.attempts} of {self.config.max_attempts} "
                f"failed: {why}; retry in {delay:g} s"
            )
            self._count("failed")
            return
        reason = f"gave up after {record.attempts} attempt(s): {why}"
        warnings = tuple(
            replace(check, state="warning", description=f"glibc-farm {reason}")
            for check in self.config.pending
        )
        gave_up = self.state.update(
            series.id, now=self.clock(), state=SeriesState.GAVE_UP, last_error=why,
            reason=reason, checks=patchwork_shortened(warnings),
        )  # fmt: skip
        self.log(f"{series.label} {series.name!r}: {reason}")
        self._count("gave_up")
        if post:
            self._post_final(gave_up)

    # ------------------------------------------------------------------ patchwork

    def _post_final(self, record: SeriesRecord) -> None:
        if record.final_posted:
            return
        self._post(record, record.checks, record.state.value)
        self.state.update(record.series.id, now=self.clock(), final_posted=True)

    def _post(self, record: SeriesRecord, checks: tuple[PatchworkCheck, ...], what: str) -> None:
        series = record.series
        if not self.config.post or not checks:
            return
        if not series.patch_ids:
            self.log(f"{series.label}: no patches to post {what} checks on")
            return
        ids = {check.series: list(series.patch_ids) for check in checks}
        try:
            posted = patchwork.post_checks(checks, client=self.client, patch_ids=ids)
        except (PatchworkError, PatchworkPostError) as error:
            raise _RoundFault(
                f"patchwork fault while posting {what} on {series.label}: {error}", patchwork=True
            ) from error
        self._counts["posted"] = self._counts.get("posted", 0) + len(posted)
        self.log(f"{series.label}: posted {len(posted)} {what} check(s)")


def bases_text(bases: dict[str, BaseChoice]) -> str:
    """What a series is tested on, for its log line and ``--status``: the reason of its one
    template's base, or each template's, named."""
    if len(bases) == 1:
        return next(iter(bases.values())).reason
    return "; ".join(f"{name}: {base.reason}" for name, base in bases.items())


def patchwork_shortened(checks: tuple[PatchworkCheck, ...]) -> tuple[PatchworkCheck, ...]:
    """Checks whose descriptions fit patchwork's one line (`farm.report.patchwork`'s rule)."""
    limit = patchwork.DESCRIPTION_LIMIT
    return tuple(
        replace(c, description=c.description[: limit - 3] + "...")
        if len(c.description) > limit
        else c
        for c in checks
    )
