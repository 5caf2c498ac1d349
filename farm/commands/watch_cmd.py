"""``farm watch``: the patchwork bot (`farm.watch`), and ``farm watch --status``.

The command only parses, opens the state (taking its lock) and the patchwork client, builds
the executor from the template scenarios, and turns signals into a stop request: the first
SIGTERM or SIGINT stops the watcher after the step it is in (the state consistent, every
series being tested, up to ``--jobs``, goes on to its verdict); a second one interrupts at
once (every series under test stays ``running`` and the next watcher resumes it).

Exit status: 0 stopped as asked (or ``--once`` done), 2 bad input or a state in use by
another watcher, 3 ``--once`` whose round patchwork or the engine cut short (for cron: the
series wait in the state for the next run).
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from farm.commands import common
from farm.errors import UsageError
from farm.inputs import patchwork_config
from farm.inputs.patchwork_api import ApiRoot, PatchworkClient, Token, check_timeout
from farm.plan.scenario import Scenario, load_scenario

if TYPE_CHECKING:
    from farm.watch.state import SeriesRecord, WatchState

DEFAULT_SCENARIO = common.MASTER_SCENARIO
TOKEN_ENV = patchwork_config.TOKEN_ENV
#: Most series tested at once: each is at least one glibc build and its test containers.
MAX_JOBS = 32


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``watch`` subcommand (kept here so that cli.py stays one line for it)."""
    watch = sub.add_parser(
        "watch",
        help="the patchwork bot: test each new series and post its checks",
        description="Poll patchwork for new series of a project, skip [RFC] and 'CI-tag: "
        "skip' ones, post 'pending', test each on the template scenarios and post the "
        "verdict on every patch. State (queue, verdicts, cursor) survives restarts.",
    )
    watch.add_argument("--project", help="patchwork project (default: git config pw.project)")
    watch.add_argument("--server", help="patchwork's API root (default: git config pw.server)")
    watch.add_argument(
        "--since", type=_since, default=None, metavar="DATE",
        help="on the first start, take series posted since DATE (ISO 8601, UTC when no zone "
        "is given) instead of from now; ignored once the state has a cursor",
    )  # fmt: skip
    watch.add_argument(
        "--state", type=Path, default=None, metavar="FILE",
        help="the SQLite state (default: $FARM_CACHE/watch/<project>.sqlite); its work "
        "directory (mboxes, run directories) is FILE without .sqlite, plus .d",
    )  # fmt: skip
    watch.add_argument(
        "--interval", type=_seconds, default=300.0, metavar="SECONDS", help="between polls"
    )
    watch.add_argument("--once", action="store_true", help="one poll and the queue, then exit")
    watch.add_argument(
        "--scenario", action="append", type=Path, default=[], metavar="FILE",
        help=f"a template scenario to test each series on (repeatable; default "
        f"{DEFAULT_SCENARIO})",
    )  # fmt: skip
    watch.add_argument(
        "--baseline-every", type=_hours, default=24.0, metavar="HOURS",
        help="how long one shared baseline (the commit a template's branch named) is used for "
        "series without a base-commit of their own before the branch is resolved again "
        "(default 24)",
    )  # fmt: skip
    watch.add_argument(
        "--jobs", type=_jobs, default=1, metavar="N",
        help="series tested at once (default 1: one glibc build takes every core of a 2-core "
        "machine; more for a machine with cores to spare)",
    )  # fmt: skip
    watch.add_argument(
        "--max-attempts", type=_attempts, default=3, metavar="N",
        help="attempts at one series before it gets a 'warning' check (default 3)",
    )  # fmt: skip
    watch.add_argument(
        "--deadline", type=_seconds, default=6 * 3600.0, metavar="SECONDS",
        help="wall-clock limit of one series' run (default 6 h)",
    )  # fmt: skip
    watch.add_argument(
        "--no-post", action="store_true", help="tell patchwork nothing (needs no token)"
    )
    watch.add_argument(
        "--token-file", type=Path, help=f"file holding the token (else ${TOKEN_ENV}, pw.token)"
    )
    watch.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    watch.add_argument(
        "--status", action="store_true", help="show the queue, the running series and results"
    )
    watch.set_defaults(handler=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 10**7:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds above 0")
    return value


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 24 * 365:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of hours above 0")
    return value


def _attempts(text: str) -> int:
    if not text.isdecimal() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number from 1 to 100")
    return int(text)


def _jobs(text: str) -> int:
    if not text.isdecimal() or not 1 <= int(text) <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number from 1 to {MAX_JOBS}")
    return int(text)


def _since(text: str) -> datetime.datetime:
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected an ISO 8601 date, e.g. 2026-12-01 or 2026-12-01T08:00:00Z"
        ) from None
    if when.tzinfo is not None:
        when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    return when


def _log(message: str) -> None:
    """One line on stderr, with the UTC time: a service's journal reads as a history."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"{stamp} {message}", file=sys.stderr, flush=True)


def state_path(args: argparse.Namespace, project: str) -> Path:
    if args.state is not None:
        path: Path = args.state
        return path
    if not project:
        raise UsageError("say which state: --state FILE, or --project P for its default")
    return common.cache().root / "watch" / f"{project}.sqlite"


def run(args: argparse.Namespace) -> int:
    from farm.watch.state import WatchState

    project = args.project or patchwork_config.git_config("pw.project")
    if args.status:
        with WatchState.read_only(state_path(args, project)) as state:
            print(status_text(state, now=time.time()), end="")
        return 0
    if not project:
        raise UsageError("no patchwork project: pass --project or set git config pw.project")
    server = args.server or patchwork_config.git_config("pw.server")
    if not server:
        raise UsageError(
            "no patchwork API URL: pass --server or set git config pw.server (as for git-pw), "
            "e.g. https://patchwork.sourceware.org/api/1.3"
        )
    client = PatchworkClient(ApiRoot.parse(server), _token(args), check_timeout(args.timeout))
    scenarios = tuple(load_scenario(path) for path in (args.scenario or [DEFAULT_SCENARIO]))
    return _watch(args, project, client, scenarios)


def _token(args: argparse.Namespace) -> Token | None:
    if args.no_post:
        return None
    from_elsewhere = args.token_file or os.environ.get(TOKEN_ENV, "").strip()
    return patchwork_config.load_token(
        token_file=args.token_file,
        environ=os.environ,
        git_token="" if from_elsewhere else patchwork_config.git_config("pw.token"),
    )


def _watch(
    args: argparse.Namespace, project: str, client: PatchworkClient, templates: tuple[Scenario, ...]
) -> int:
    from farm.watch import baseline, executor, loop, poll
    from farm.watch.state import WatchState

    path = state_path(args, project)
    with WatchState.open(path, project=project, server=client.root.url()) as state:
        if state.cursor() is None:
            start = poll.first_cursor(args.since, datetime.datetime.now(datetime.UTC))
            state.start(start)
            _log(f"{path}: a new state; series posted since {start.date} UTC are taken")
        elif (cursor := state.cursor()) is not None and args.since is not None:
            _log(f"--since ignored: {path} already has a cursor ({cursor.date} UTC)")
        config = loop.WatchConfig(
            project=project,
            work_dir=path.with_name(path.name.removesuffix(".sqlite") + ".d"),
            pending=executor.pending_checks(templates),
            post=not args.no_post,
            interval=args.interval,
            max_attempts=args.max_attempts,
            deadline=args.deadline,
            backoff=min(args.interval, 600.0),
            jobs=args.jobs,
        )
        tester = executor.FarmRunExecutor(templates, common.cache(), common.progress)
        bases = baseline.SharedBaselines(
            templates, common.cache(), every=args.baseline_every * 3600.0, log=_log
        )
        watcher = loop.Watcher(
            config, client, state, tester, log=_log, bases=bases.choose, collect=bases.collect
        )

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if watcher.stopping:
                raise KeyboardInterrupt
            _log(
                f"{signal.Signals(signum).name}: stopping after the current step; the series "
                "under test go on to their verdicts (again: now)"
            )
            watcher.request_stop()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            _log(f"watching {project} at {client.root.url()}, state {path}")
            last = watcher.run(once=args.once)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        _log("stopped; the state is consistent")
    return 3 if args.once and last.fault else 0


def status_text(state: WatchState, *, now: float, last: int = 15) -> str:
    """The queue, the running series and the newest results, as ``--status`` prints them."""
    from farm.watch.baseline import describe
    from farm.watch.loop import bases_text
    from farm.watch.state import SeriesState, WatchLock

    meta = state.meta()
    cursor = state.cursor()
    lines = [
        f"state {state.path}: project {meta.get('project')}, server {meta.get('server')}",
        f"cursor: {cursor.date + f' (series {cursor.series_id})' if cursor else 'none yet'}",
        f"watcher: {WatchLock(state.path.with_name(state.path.name + '.lock')).holder()}",
    ]
    for shared in state.baselines():
        if not shared.retired:
            ref = shared.source.rpartition("@")[2]
            lines.append(f"baseline of {shared.source}: {describe(shared, ref)}")

    def on(record: SeriesRecord) -> str:
        return f", on {bases_text(record.bases)[:240]}" if record.bases else ""

    queued = state.records([SeriesState.QUEUED])
    lines.append(f"queue ({len(queued)}):")
    for record in queued:
        wait = record.next_try - now
        retry = f", next try in {wait:.0f} s" if wait > 0 else ""
        error = f", last error: {record.last_error[:160]}" if record.last_error else ""
        lines.append(
            f"  {record.series.label} {record.series.name!r} by {record.series.submitter}, "
            f"{record.attempts} attempt(s){on(record)}{retry}{error}"
        )
    running = state.records([SeriesState.RUNNING])
    lines.append(f"running ({len(running)}):")
    for record in running:
        # ``updated`` is when it was marked running: nothing changes it while it runs.
        since = f", for {max(now - record.updated, 0) / 60:.0f} min" if record.updated else ""
        lines.append(
            f"  {record.series.label} {record.series.name!r} attempt {record.attempts}"
            f"{since}{on(record)}, run directory {record.run_dir}"
        )
    finished = state.records(
        [SeriesState.DONE, SeriesState.SKIPPED, SeriesState.GAVE_UP], newest_first=True
    )
    lines.append(f"last results ({min(len(finished), last)} of {len(finished)}):")
    for record in finished[:last]:
        what = record.verdict if record.state is SeriesState.DONE else record.state.value
        detail = record.report or record.run_dir if record.state is SeriesState.DONE else ""
        detail = detail or record.reason
        unposted = "" if record.final_posted else " (checks not posted yet)"
        lines.append(
            f"  {record.series.label} {record.series.name!r}: {what}{unposted}{on(record)} "
            f"{detail[:200]}"
        )
    return "\n".join(lines) + "\n"
