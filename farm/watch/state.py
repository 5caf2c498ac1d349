"""What the watcher keeps across restarts: one SQLite database, and a lock beside it.

Why SQLite (the standard library's ``sqlite3``) and not a JSON file: every change of a
series' state is one transaction, so a watcher killed at any instant (SIGKILL, a power cut)
leaves the state as it was before the change or after it, never half of it; WAL mode lets
``farm watch --status`` read while the watcher writes.

What is kept (table ``series``, one row per patchwork series, which is one revision: a v2
is a new patchwork series with ``version`` 2): its id, version, name, submitter, date, the
mbox URLs and patch ids patchwork gave, its `SeriesState`, the verdict, the run directory,
the report, the attempts made, the last error, the reason it was skipped or given up, when
it may be tried again, whether ``pending`` and the final checks were posted, and the final
checks themselves (so a watcher killed after the verdict but before posting it posts the
same checks on restart, without running anything again), and the glibc base it is tested
on in each template (commit and why, chosen once: every attempt, and a resumed run, is on
the same glibc). Table ``meta`` holds the project, the server and the polling cursor: the
``date`` and id of the newest series seen. Table ``baselines`` holds each git template
branch's shared baseline (`farm.watch.baseline`): the commit, when the branch was resolved
to it, and, for a baseline that moved on, when it was replaced and whether its images
were removed since.

A state of schema 1 (before bases were kept) is upgraded in place when a watcher opens it:
its series get no recorded base (the next step of each chooses one), and ``--status``
reads it as it is meanwhile.

The promises, and how they are kept:

- No series is lost: a series is written (``queued``) in the same transaction that moves the
  cursor past it, and only a state change moves it on.
- None is tested twice: ``running`` is written (with the attempt counted) before the
  executor starts and ``done`` with the verdict in one transaction after it. A series found
  ``running`` at start was cut off: it is **rerun in the run directory it recorded**, and the
  executor resumes there (``farm run --resume`` reuses the images built and the tests
  finished). The attempt was counted when it started, so a series that kills the watcher
  every time gives up after the bounded attempts instead of looping.
- None is posted twice: ``pending`` and the final checks each have a flag, set in the
  transaction after patchwork answered ``201``. The one window left is a kill between
  patchwork's answer and that commit: then the same check is posted once more, which
  patchwork shows as one (it shows the newest check of each context).
- Two watchers never share a state: `WatchLock` takes ``fcntl.flock`` on ``<state>.lock``
  before the database is opened, and writes its holder (pid, host, start time) into it, so
  the second watcher's error names the first. The kernel drops the lock when its process
  dies, however it dies: there is no stale lock to remove by hand.

Everything read back is validated (a state written by another version, or edited by hand,
is refused with the file named), as any record the farm did not just write.
"""

from __future__ import annotations

import contextlib
import datetime
import enum
import fcntl
import json
import os
import re
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from farm.errors import FarmError
from farm.inputs.patchwork_api import CONTEXT_MAX, CONTEXT_RE, STATES
from farm.inputs.try_series import BaseChoice
from farm.report.patchwork import PatchworkCheck

SCHEMA_VERSION = 2
#: Longest stored error or reason: enough for a farm error message, never a whole log.
MAX_TEXT = 2000


class StateError(FarmError):
    """The watcher's state cannot be used: locked by another watcher, or not a state."""


class SeriesState(enum.StrEnum):
    """Where a series is in the watcher's queue."""

    QUEUED = "queued"  # seen, waiting (or waiting again after a failure, until next_try)
    SKIPPED = "skipped"  # asked not to be tested ([RFC], CI-tag: skip): nothing posted
    RUNNING = "running"  # its executor started (found at start: it was cut off)
    DONE = "done"  # tested: a verdict and its checks (posted once final_posted)
    GAVE_UP = "gave-up"  # failed every attempt: a warning check with the reason


@dataclass(frozen=True, slots=True)
class WatchedSeries:
    """One revision of a series as patchwork listed it: what an executor is given."""

    id: int
    version: int
    name: str
    submitter: str
    date: str  # patchwork's ``date``: ISO 8601, UTC, without a zone
    mbox_url: str  # patchwork's /series/<id>/mbox/
    cover_mbox_url: str = ""  # the cover letter's mbox, "" without one
    patch_ids: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        """``series 123 v2`` in log lines and messages."""
        return f"series {self.id} v{self.version}"


@dataclass(frozen=True, slots=True)
class Cursor:
    """The newest series seen: patchwork's ``date`` and, for series of one date, the id."""

    date: str
    series_id: int

    @property
    def when(self) -> datetime.datetime:
        return parse_date(self.date, what="the cursor")


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    """A series and everything the watcher recorded about it."""

    series: WatchedSeries
    state: SeriesState
    verdict: str = ""
    run_dir: str = ""
    report: str = ""
    attempts: int = 0
    last_error: str = ""
    reason: str = ""
    next_try: float = 0.0
    pending_posted: bool = False
    final_posted: bool = False
    checks: tuple[PatchworkCheck, ...] = ()
    first_seen: float = 0.0
    updated: float = 0.0
    #: template scenario name -> the glibc the series is tested on there, and why
    bases: dict[str, BaseChoice] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Baseline:
    """A shared baseline: the commit a template's branch (``source``, its glibc source's
    key ``git:URL@REF``) was resolved to at ``resolved``; ``retired`` is when a newer one
    replaced it (0 while it is the current one); ``collected``: its images were removed."""

    source: str
    commit: str
    resolved: float
    retired: float = 0.0
    collected: bool = False


def parse_date(text: str, *, what: str) -> datetime.datetime:
    """Patchwork's ``date`` (``2026-12-03T06:40:00``, maybe with microseconds) as a naive
    UTC datetime; a zone, if one is given, is converted to UTC and dropped."""
    try:
        when = datetime.datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise StateError(f"{what}: {text!r} is not an ISO 8601 date") from exc
    if when.tzinfo is not None:
        when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    return when


def format_date(when: datetime.datetime) -> str:
    """A date as patchwork's ``since`` takes it: naive UTC, to the second."""
    if when.tzinfo is not None:
        when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    return when.replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------- the lock


class WatchLock:
    """An exclusive ``flock`` on ``<state>.lock``, naming its holder inside the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _holder(handle.read(4096))
            handle.close()
            raise StateError(
                f"{self.path.with_suffix('')} is in use by another farm watch ({holder}); "
                "stop that watcher first, or give this one another --state"
            ) from None
        except BaseException:
            handle.close()
            raise
        started = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": started}) + "\n")  # fmt: skip
        handle.flush()
        self._handle = handle

    def holder(self) -> str:
        """Who holds the lock now, for ``--status``: "not running" or its pid, host, start."""
        try:
            handle = open(self.path, encoding="utf-8")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            return "not running"
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return f"running ({_holder(handle.read(4096))})"
            return "not running"  # the shared lock goes when the file is closed

    def release(self) -> None:
        # The file stays: removing it would let a third watcher lock a new file while a
        # second still waits on the old one.
        if self._handle is not None:
            self._handle.close()  # closing drops the flock
            self._handle = None


def _holder(text: str) -> str:
    try:
        data = json.loads(text)
        return f"pid {int(data['pid'])} on {str(data['host'])[:100]}, started {data['started']}"
    except (ValueError, KeyError, TypeError):
        return "its holder did not say who it is"


# --------------------------------------------------------------------------- the state

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    submitter TEXT NOT NULL,
    date TEXT NOT NULL,
    mbox_url TEXT NOT NULL,
    cover_mbox_url TEXT NOT NULL,
    patch_ids TEXT NOT NULL,
    state TEXT NOT NULL,
    verdict TEXT NOT NULL DEFAULT '',
    run_dir TEXT NOT NULL DEFAULT '',
    report TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    next_try REAL NOT NULL DEFAULT 0,
    pending_posted INTEGER NOT NULL DEFAULT 0,
    final_posted INTEGER NOT NULL DEFAULT 0,
    checks TEXT NOT NULL DEFAULT '[]',
    first_seen REAL NOT NULL,
    updated REAL NOT NULL,
    bases TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS baselines (
    source TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    resolved REAL NOT NULL,
    retired REAL NOT NULL DEFAULT 0,
    collected INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, commit_id, resolved)
);
"""
_COLUMNS = tuple(f.name for f in fields(SeriesRecord) if f.name != "series")
_SERIES_COLUMNS = tuple(f.name for f in fields(WatchedSeries))
#: Columns added since schema 1, with the value a state of schema 1 reads as.
_ADDED_COLUMNS = {"bases": "'{}'"}
_UPGRADES = {
    "1": ["ALTER TABLE series ADD COLUMN bases TEXT NOT NULL DEFAULT '{}'"],
}


class WatchState:
    """The watcher's database; every method that changes it is one transaction."""

    def __init__(self, path: Path, connection: sqlite3.Connection, lock: WatchLock | None):
        self.path = path
        self._db = connection
        self._lock = lock
        self._select = ""
        self._columns_read()

    def _columns_read(self) -> None:
        """What a SELECT of a series names: a column a state of an older schema lacks (read
        by ``--status`` before a watcher upgraded it) is read as its default."""
        present = {str(row[1]) for row in self._db.execute("PRAGMA table_info(series)")}
        self._select = ", ".join(
            name if name in present or name not in _ADDED_COLUMNS
            else f"{_ADDED_COLUMNS[name]} AS {name}"
            for name in _SERIES_COLUMNS + _COLUMNS
        )  # fmt: skip

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: Path, *, project: str, server: str) -> Iterator[WatchState]:
        """Lock the state, open it (created if missing) and check it is this project's."""
        lock = WatchLock(path.with_name(path.name + ".lock"))
        lock.acquire()
        try:
            state = cls(path, _connect(path), lock)
            try:
                state._claim(project, server)
                yield state
            finally:
                state._db.close()
        finally:
            lock.release()

    @classmethod
    @contextlib.contextmanager
    def read_only(cls, path: Path) -> Iterator[WatchState]:
        """Open a state to look at it (``--status``) while a watcher may be running."""
        if not path.is_file():
            raise StateError(f"{path}: no watcher state here (give the --state farm watch uses)")
        try:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            connection.execute("SELECT value FROM meta WHERE key = 'schema'").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path}: not a farm watch state ({exc})") from exc
        try:
            yield cls(path, connection, None)
        finally:
            connection.close()

    # ------------------------------------------------------------------ meta

    def _claim(self, project: str, server: str) -> None:
        with self._db:
            meta = self.meta()
            if not meta:
                self._db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("schema", str(SCHEMA_VERSION)), ("project", project), ("server", server)],
                )
                return
        if meta.get("schema") in _UPGRADES:
            self._upgrade(str(meta["schema"]))
            meta = self.meta()
        if meta.get("schema") != str(SCHEMA_VERSION):
            raise StateError(
                f"{self.path}: a farm watch state of schema {meta.get('schema')!r}, this farm "
                f"reads schema {SCHEMA_VERSION}; give a new --state"
            )
        for key, value in (("project", project), ("server", server)):
            if meta.get(key) != value:
                raise StateError(
                    f"{self.path}: this state is for {key} {meta.get(key)!r}, not {value!r}; "
                    "give each project and server its own --state"
                )

    def _upgrade(self, schema: str) -> None:
        """A state of an older schema brought to this one, in one transaction."""
        with self._db:
            while schema in _UPGRADES:
                for statement in _UPGRADES[schema]:
                    self._db.execute(statement)
                schema = str(int(schema) + 1)
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (schema,))
        self._columns_read()

    def meta(self) -> dict[str, str]:
        rows = self._db.execute("SELECT key, value FROM meta").fetchall()
        return {str(key): str(value) for key, value in rows}

    def cursor(self) -> Cursor | None:
        meta = self.meta()
        if "cursor_date" not in meta:
            return None
        try:
            cursor = Cursor(meta["cursor_date"], int(meta.get("cursor_id", "0")))
            cursor.when  # noqa: B018 (validates the date)
        except (ValueError, StateError) as exc:
            raise StateError(f"{self.path}: the cursor is damaged ({exc}); give --since") from exc
        return cursor

    def start(self, cursor: Cursor) -> None:
        """Set the first cursor, and with it the floor: nothing dated before the watcher's
        start (or ``--since``) is ever queued, however far a poll reaches back."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('floor_date', ?)", (cursor.date,)
            )
            self._set_cursor(cursor)

    def floor(self) -> datetime.datetime | None:
        text = self.meta().get("floor_date")
        return None if text is None else parse_date(text, what=f"{self.path}: the floor date")

    def _set_cursor(self, cursor: Cursor) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            [("cursor_date", cursor.date), ("cursor_id", str(cursor.series_id))],
        )

    # ------------------------------------------------------------------ series

    def add_series(self, found: Sequence[WatchedSeries], cursor: Cursor, *, now: float) -> int:
        """Queue the series not seen before and move the cursor, in one transaction; the
        number queued. A series already known (seen again in the overlap) is left as it is."""
        added = 0
        with self._db:
            for series in found:
                cursor_ = self._db.execute(
                    "INSERT OR IGNORE INTO series (id, version, name, submitter, date, mbox_url,"
                    " cover_mbox_url, patch_ids, state, first_seen, updated)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        series.id, series.version, series.name, series.submitter, series.date,
                        series.mbox_url, series.cover_mbox_url, json.dumps(series.patch_ids),
                        SeriesState.QUEUED.value, now, now,
                    ),
                )  # fmt: skip
                added += cursor_.rowcount
            self._set_cursor(cursor)
        return added

    def get(self, series_id: int) -> SeriesRecord:
        row = self._db.execute(
            f"SELECT {self._select} FROM series WHERE id = ?",
            (series_id,),
        ).fetchone()
        if row is None:
            raise StateError(f"{self.path}: no series {series_id} in the state")
        return self._record(row)

    def records(
        self, states: Sequence[SeriesState] = tuple(SeriesState), *, newest_first: bool = False
    ) -> list[SeriesRecord]:
        """The series in ``states``, oldest first (the queue's order) or newest first."""
        marks = ", ".join("?" for _ in states)
        order = "DESC" if newest_first else "ASC"
        rows = self._db.execute(
            f"SELECT {self._select} FROM series WHERE state IN "
            f"({marks}) ORDER BY date {order}, id {order}",
            [s.value for s in states],
        ).fetchall()
        return [self._record(row) for row in rows]

    def work(self) -> list[SeriesRecord]:
        """Everything with something left to do, oldest first: queued and running series,
        and done or given-up ones whose final checks were not posted yet."""
        rows = self._db.execute(
            f"SELECT {self._select} FROM series WHERE state IN (?, ?)"
            " OR (state IN (?, ?) AND final_posted = 0) ORDER BY date, id",
            (SeriesState.QUEUED.value, SeriesState.RUNNING.value, SeriesState.DONE.value,
             SeriesState.GAVE_UP.value),
        ).fetchall()  # fmt: skip
        return [self._record(row) for row in rows]

    def known(self, series_ids: Sequence[int]) -> set[int]:
        """Which of these series the state already has (whatever their state)."""
        found: set[int] = set()
        for start in range(0, len(series_ids), 500):  # SQLite's bound on ? parameters
            chunk = list(series_ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            rows = self._db.execute(f"SELECT id FROM series WHERE id IN ({marks})", chunk)
            found.update(int(row[0]) for row in rows)
        return found

    def earlier_versions(self, series: WatchedSeries) -> list[SeriesRecord]:
        """Every other series of a lower version than ``series``, newest version first (then
        newest date): the candidates for the revision ``series`` follows. Which of them are
        the same series (submitter, name) is `farm.watch.revisions`' rule, not the state's."""
        rows = self._db.execute(
            f"SELECT {', '.join(_SERIES_COLUMNS + _COLUMNS)} FROM series WHERE version < ?"
            " AND id != ? ORDER BY version DESC, date DESC, id DESC",
            (series.version, series.id),
        ).fetchall()
        return [self._record(row) for row in rows]

    def update(self, series_id: int, *, now: float, **changes: Any) -> SeriesRecord:
        """Change some of a series' fields (`SeriesRecord`'s names) in one transaction."""
        unknown = set(changes) - set(_COLUMNS)
        if unknown or "first_seen" in changes or "updated" in changes:
            raise ValueError(f"not fields a watcher changes: {sorted(unknown)}")
        values = {key: _stored(key, value) for key, value in changes.items()}
        values["updated"] = now
        with self._db:
            done = self._db.execute(
                f"UPDATE series SET {', '.join(f'{key} = ?' for key in values)} WHERE id = ?",
                [*values.values(), series_id],
            )
            if done.rowcount != 1:
                raise StateError(f"{self.path}: no series {series_id} in the state")
        return self.get(series_id)

    # ------------------------------------------------------------------ baselines

    def baseline(self, source: str) -> Baseline | None:
        """The current shared baseline of a template branch (``git:URL@REF``), None if none."""
        found = [b for b in self.baselines(source) if not b.retired]
        return found[0] if found else None

    def baselines(self, source: str | None = None) -> list[Baseline]:
        """The baselines recorded (of one branch, or of all), newest first; none in a state
        of schema 1 (``--status`` before a watcher upgraded it)."""
        if not self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'baselines'"
        ).fetchone():
            return []
        rows = self._db.execute(
            "SELECT source, commit_id, resolved, retired, collected FROM baselines"
            " WHERE ? IS NULL OR source = ? ORDER BY resolved DESC",
            (source, source),
        ).fetchall()
        found = []
        for source_, commit, resolved, retired, collected in rows:
            if not _COMMIT_RE.fullmatch(str(commit)):
                raise StateError(
                    f"{self.path}: the baseline of {source_!r} is no commit id ({commit!r:.60}); "
                    "give a new --state"
                )
            found.append(
                Baseline(
                    str(source_), str(commit), float(resolved), float(retired), bool(collected)
                )
            )
        return found

    def move_baseline(self, source: str, commit: str, *, now: float) -> Baseline | None:
        """Make ``commit`` (the branch resolved at ``now``) the shared baseline of ``source``,
        in one transaction; the baseline it replaces, None if there was none or it was the
        same commit (then only its time is renewed)."""
        if not _COMMIT_RE.fullmatch(commit):
            raise ValueError(f"not a commit id: {commit!r}")  # a farm bug
        current = self.baseline(source)
        with self._db:
            if current is not None and current.commit == commit:
                self._db.execute(
                    "UPDATE baselines SET resolved = ? WHERE source = ? AND retired = 0",
                    (now, source),
                )
                return None
            self._db.execute(
                "UPDATE baselines SET retired = ? WHERE source = ? AND retired = 0", (now, source)
            )
            self._db.execute(
                "INSERT INTO baselines (source, commit_id, resolved) VALUES (?, ?, ?)",
                (source, commit, now),
            )
        return current

    def baseline_collected(self, source: str, commit: str) -> None:
        """Record that a retired baseline's images were removed (it is not collected again)."""
        with self._db:
            self._db.execute(
                "UPDATE baselines SET collected = 1 WHERE source = ? AND commit_id = ?"
                " AND retired != 0",
                (source, commit),
            )

    def _record(self, row: Sequence[Any]) -> SeriesRecord:
        data = dict(zip(_SERIES_COLUMNS + _COLUMNS, row, strict=True))
        where = f"{self.path}: series {data.get('id')!r}"
        try:
            patch_ids = json.loads(data["patch_ids"])
            if not isinstance(patch_ids, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in patch_ids
            ):
                raise ValueError("patch_ids is not a list of numbers")
            series = WatchedSeries(
                id=int(data["id"]), version=int(data["version"]), name=str(data["name"]),
                submitter=str(data["submitter"]), date=str(data["date"]),
                mbox_url=str(data["mbox_url"]), cover_mbox_url=str(data["cover_mbox_url"]),
                patch_ids=tuple(patch_ids),
            )  # fmt: skip
            return SeriesRecord(
                series=series,
                state=SeriesState(data["state"]),
                verdict=str(data["verdict"]),
                run_dir=str(data["run_dir"]),
                report=str(data["report"]),
                attempts=int(data["attempts"]),
                last_error=str(data["last_error"]),
                reason=str(data["reason"]),
                next_try=float(data["next_try"]),
                pending_posted=bool(data["pending_posted"]),
                final_posted=bool(data["final_posted"]),
                checks=checks_from_json(data["checks"]),
                first_seen=float(data["first_seen"]),
                updated=float(data["updated"]),
                bases=bases_from_json(data["bases"]),
            )
        except (ValueError, TypeError) as exc:
            raise StateError(f"{where}: a damaged record ({exc}); give a new --state") from exc


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = sqlite3.connect(path, timeout=30, isolation_level="DEFERRED")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")  # a commit survives a power cut
        with connection:
            connection.executescript(_SCHEMA)
    except sqlite3.DatabaseError as exc:
        raise StateError(f"{path}: not a farm watch state ({exc}); give another --state") from exc
    return connection


def _stored(key: str, value: Any) -> Any:
    if key == "checks":
        return checks_to_json(value)
    if key == "bases":
        return bases_to_json(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and key in ("last_error", "reason"):
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 3] + "..."
    return value


def checks_to_json(checks: Sequence[PatchworkCheck]) -> str:
    return json.dumps([asdict(check) for check in checks], sort_keys=True)


_CHECK_FIELDS = {f.name for f in fields(PatchworkCheck)}


def checks_from_json(text: str) -> tuple[PatchworkCheck, ...]:
    """Checks as `checks_to_json` wrote them; ValueError for anything else."""
    items = json.loads(text)
    if not isinstance(items, list):
        raise ValueError("checks is not a list")
    checks = []
    for item in items:
        if (
            not isinstance(item, dict)
            or set(item) != _CHECK_FIELDS
            or not all(isinstance(v, str) for v in item.values())
        ):
            raise ValueError(f"a stored check is not one: {item!r:.200}")
        check = PatchworkCheck(**item)
        if check.state not in STATES or not CONTEXT_RE.fullmatch(check.context):
            raise ValueError(f"a stored check has state {check.state!r}, context {check.context!r}")
        if len(check.context) > CONTEXT_MAX:
            raise ValueError("a stored check's context is too long")
        checks.append(check)
    return tuple(checks)


def bases_to_json(bases: dict[str, BaseChoice]) -> str:
    return json.dumps(
        {name: {"commit": base.commit, "reason": base.reason} for name, base in bases.items()},
        sort_keys=True,
    )


_COMMIT_RE = re.compile(r"[0-9a-f]{40}")


def bases_from_json(text: str) -> dict[str, BaseChoice]:
    """Bases as `bases_to_json` wrote them; ValueError for anything else."""
    items = json.loads(text)
    if not isinstance(items, dict):
        raise ValueError("bases is not a mapping")
    bases = {}
    for name, item in items.items():
        if not isinstance(item, dict) or set(item) != {"commit", "reason"}:
            raise ValueError(f"a stored base is not one: {item!r:.200}")
        commit, reason = item["commit"], item["reason"]
        if not (commit is None or (isinstance(commit, str) and _COMMIT_RE.fullmatch(commit))):
            raise ValueError(f"a stored base's commit is no commit id: {commit!r:.60}")
        if not isinstance(reason, str):
            raise ValueError("a stored base's reason is not text")
        bases[str(name)] = BaseChoice(commit, reason[:MAX_TEXT])
    return bases


def now() -> float:
    """Wall-clock seconds (stored for ``next_try``: it must mean the same after a restart)."""
    return time.time()
