"""The flaky history: what earlier runs of this farm saw each test do on each built image.

A test is *known flaky* in a cell when the same built image (``gate.CellStatus.image_id``)
flipped between a good and a bad outcome (``farm.outcome``'s) more than once, recently, in
runs this farm recorded itself: nothing the series or the build controls changed, so the
difference came from outside the image (the kernel, load, timing). The gate asks
`History.evidence` whether a regression is such a test, and then reports it as FLAKY, naming
the runs and the image, instead of rejecting. A flip between *different* images is no
evidence: the images differ, so the test may really have been broken or fixed.

Evidence that *excuses* needs more proof than evidence that accuses, so:

- Every record line carries an HMAC-SHA256 (``mac``) made with the farm's history key, which
  is kept outside the run directories and the history (`load_key`: ``$FARM_HISTORY_KEY``, as
  CI keeps a secret, or a key file made 0600 on first use in the farm's config directory). A
  line without a valid ``mac`` (hand-written, edited, copied from another farm's history) is
  a problem named ``file:line`` and left out: it can only make the gate stricter.
- A sighting is dated (``on``); one older than `MAX_AGE_DAYS` before the day judged, or dated
  after it, is no evidence. `KEEP_RUNS` bounds how many runs are remembered; the age bounds
  how long ago they may have been (30 runs may be a year of a quiet scenario's runs).
- One flip is not enough (`MIN_FLIPS`): a test that passed once and fails since may have been
  broken by the world (a new kernel on the runner) rather than be flaky; good, bad, good
  again on one image is.
- ERROR is never recorded: it says the farm could not run the test, not what the test did.

What is kept, and why it is small:

- Per cell (``<scenario>-<arch>-<variant>``), the ids of its last `KEEP_RUNS` runs. Evidence
  from a run that left this window is dropped.
- Per (cell, image, test), the *streaks* of its sightings: consecutive runs that agree on
  good vs bad are one streak, kept as its newest sighting. Flips are what the rule counts,
  and the newest sighting of each streak is the one next to the following flip, so this
  answers exactly as keeping every sighting would; a stable test keeps one sighting (about
  250 bytes a line; 5000 tests in 4 cells is about 5 MB) and no test more than `KEEP_RUNS`.

The file is JSON lines, sorted, one record a line (so a CI cache diff is readable and a
reader can name ``file:line``)::

    {"schema": 2, "what": "glibc-farm flaky history"}
    {"cell": "<cell id>", "runs": ["<run id>", ...], "mac": "<hex>"}        oldest first
    {"cell": ..., "image_id": ..., "test": ...,
     "sightings": [{"run": ..., "label": "PASS", "on": "2026-11-30"}, ...], "mac": ...}

It is untrusted input like a run directory (a CI cache, an artifact, a hand edit). A file
whose first line is not this header is refused (`HistoryError`: it is someone else's file
and must not be overwritten); a schema 1 history (before records were authenticated) is
read as one whose every record is left out. Updating keeps a copy of a file with unusable
lines next to it (``<file>.unreadable``, never written through a link) before writing the
usable part back. Writers take a file lock and replace the file atomically, so two farms
updating one history lose neither's run.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from farm import outcome
from farm.errors import FarmError
from farm.nofollow import replace_file
from farm.outcome import Outcome
from farm.results import decode_line

SCHEMA_VERSION = 2
#: The schema before records were authenticated: read as a history with no usable record.
UNSIGNED_SCHEMA = 1
HEADER = {"schema": SCHEMA_VERSION, "what": "glibc-farm flaky history"}
#: How many runs of each cell the history remembers.
KEEP_RUNS = 30
#: How old a sighting may be and still excuse a regression: a month of daily CI, after which
#: evidence gathered on other kernels and runners should no longer excuse anything.
MAX_AGE_DAYS = 30
#: How many good/bad flips on one image make a test known flaky: more than one (see above).
MIN_FLIPS = 2
#: A history the farm wrote is a few MB; anything this big is not one.
MAX_HISTORY_BYTES = 256 * 1024 * 1024
#: How long a farm waits for another farm's update of the same history.
LOCK_TIMEOUT = 120.0
#: The run id of the run being judged, in evidence notes.
THIS_RUN = "this run"
#: The secret that authenticates records, as CI passes it; else `default_key_file`.
KEY_ENV = "FARM_HISTORY_KEY"
#: A key shorter than this is guessable; the key file holds 64 hex digits.
MIN_KEY_CHARS = 16
_MAX_KEY_BYTES = 4096
#: Ids, tests and labels are single printable lines of reasonable length.
_MAX_TEXT = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAC = re.compile(r"[0-9a-f]{64}")


class HistoryError(FarmError):
    """The history file cannot be used at all (not a history, another version, unwritable)."""


@dataclass(frozen=True, slots=True)
class Sighting:
    """One run's final outcome of one test on one image, and the day it was recorded."""

    run: str
    label: str  # "PASS", "CRASH(SIGSEGV)"...
    on: datetime.date

    @property
    def outcome(self) -> Outcome:
        return outcome.outcome_of_label(self.label)

    @property
    def bad(self) -> bool:
        return outcome.is_bad(self.outcome)

    def describe(self) -> str:
        return f"{self.label} in {self.run if self.run == THIS_RUN else 'run ' + self.run}"


@dataclass(frozen=True, slots=True)
class TestHistory:
    """The streaks of one test on one image of one cell: the newest sighting of each run of
    agreeing outcomes, oldest first, so neighbours always differ in good vs bad."""

    __test__ = False  # not a pytest test class, whatever its name says

    cell: str
    image_id: str
    test: str
    sightings: tuple[Sighting, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.cell, self.image_id, self.test)


@dataclass(frozen=True, slots=True)
class Observation:
    """What a run saw, to be recorded: one test's final label on the image of its cell."""

    cell: str
    image_id: str
    test: str
    label: str


@dataclass(frozen=True, slots=True)
class FlakyEvidence:
    """Why a test is known flaky: one image flipped it between good and bad, recently, at
    least `MIN_FLIPS` times; ``sightings`` are the streaks, oldest first."""

    cell: str
    image_id: str
    test: str
    sightings: tuple[Sighting, ...]

    @property
    def flips(self) -> int:
        return len(self.sightings) - 1

    @property
    def good(self) -> Sighting:
        return next(s for s in reversed(self.sightings) if not s.bad)

    @property
    def bad(self) -> Sighting:
        return next(s for s in reversed(self.sightings) if s.bad)

    def describe(self) -> str:
        seen = [s.describe() for s in self.sightings]
        return (
            f"known flaky (history): on image {_short(self.image_id)} of {self.cell} it flipped "
            f"{self.flips} times in the last {MAX_AGE_DAYS} days: "
            f"{', '.join(seen[:-1])} and {seen[-1]}"
        )


@dataclass(frozen=True, slots=True)
class History:
    """Everything a history file holds; immutable, `recorded` returns an updated copy."""

    #: cell id -> the ids of its last runs, oldest first
    windows: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: (cell, image id, test) -> its streaks
    tests: Mapping[tuple[str, str, str], TestHistory] = field(default_factory=dict)
    #: where it was read from, and the ``file:line: problem`` of each record left out
    source: str = ""
    problems: tuple[str, ...] = ()

    def evidence(
        self,
        cell: str,
        image_id: str,
        test: str,
        current: str | None = None,
        *,
        today: datetime.date,
    ) -> FlakyEvidence | None:
        """The evidence that ``test`` is flaky on this image of ``cell``, or None.

        ``current`` is the final label the run being judged saw there (on ``today``): it
        counts as the newest sighting. Only sightings of the last `MAX_AGE_DAYS` days up to
        ``today`` count. Attempts of this run that disagree are the gate's own FLAKY rule
        and are not asked about here.
        """
        if not image_id:
            return None
        past = self.tests.get((cell, image_id, test))
        oldest = today - datetime.timedelta(days=MAX_AGE_DAYS)
        seen = [s for s in (past.sightings if past else ()) if oldest <= s.on <= today]
        if current is not None and _recordable(current):
            seen.append(Sighting(THIS_RUN, current, today))
        streaks = _streaks(seen)
        if len(streaks) - 1 < MIN_FLIPS:
            return None
        return FlakyEvidence(cell, image_id, test, streaks)

    def recorded(
        self,
        run: str,
        observations: Iterable[Observation],
        *,
        on: datetime.date,
        keep: int = KEEP_RUNS,
    ) -> History:
        """This history with run ``run``'s observations (of day ``on``) added and the oldest
        runs dropped."""
        seen = list(observations)
        windows = dict(self.windows)
        for cell in sorted({o.cell for o in seen}):
            runs = [r for r in windows.get(cell, ()) if r != run] + [run]
            windows[cell] = tuple(runs[-keep:])
        tests = dict(self.tests)
        for found in seen:
            if not found.image_id or not _recordable(found.label):
                continue
            key = (found.cell, found.image_id, found.test)
            before = tests.get(key) or TestHistory(*key)
            earlier = tuple(s for s in before.sightings if s.run != run)
            sightings = _streaks([*earlier, Sighting(run, found.label, on)])
            tests[key] = dataclasses.replace(before, sightings=sightings)
        return History(windows, _within_windows(tests, windows), self.source)

    @property
    def runs(self) -> int:
        """How many distinct runs the history remembers."""
        return len({run for runs in self.windows.values() for run in runs})


def new_run_id(now: datetime.datetime | None = None) -> str:
    """A run id unique across machines' clocks and processes: UTC time and pid."""
    moment = now or datetime.datetime.now(datetime.UTC)
    return f"{moment.astimezone(datetime.UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}"


def default_path(cache_dir: Path, scenario: str) -> Path:
    """``$FARM_CACHE/history/<scenario>.jsonl``: beside the records of the scenario's built
    images (image ids are this machine's, so is the evidence about them)."""
    return cache_dir / "history" / f"{scenario}.jsonl"


# ----------------------------------------------------------------------------- the key


def default_key_file() -> Path:
    """``$FARM_CONFIG/history.key``, else ``$XDG_CONFIG_HOME/glibc-farm/history.key``: the
    config directory, not the cache, so a CI cache or artifact of the history never holds
    the key that vouches for it."""
    if explicit := os.environ.get("FARM_CONFIG"):
        return Path(explicit) / "history.key"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "glibc-farm" / "history.key"


def load_key(key_file: Path | None = None) -> bytes:
    """The key that signs and checks history records: ``$FARM_HISTORY_KEY`` when set (CI
    passes a secret there), else the key file, made (0600, 256 random bits) on first use."""
    secret = os.environ.get(KEY_ENV)
    if secret is not None:
        if len(secret.strip()) < MIN_KEY_CHARS:
            raise HistoryError(
                f"${KEY_ENV}: at least {MIN_KEY_CHARS} characters expected, got "
                f"{len(secret.strip())}; set it to a long random secret (e.g. `openssl rand "
                "-hex 32`), or unset it to use the key file"
            )
        return secret.strip().encode("utf-8")
    path = key_file or default_key_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            return _read_key(path)
        with os.fdopen(descriptor, "w", encoding="ascii") as stream:
            stream.write(secrets.token_hex(32) + "\n")
        return _read_key(path)
    except OSError as error:
        raise HistoryError(
            f"{path}: cannot make or read the history key: {error.strerror or error}; set "
            f"${KEY_ENV}, or --no-history"
        ) from None


def _read_key(path: Path) -> bytes:
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
            raise HistoryError(
                f"{path}: the history key must be a regular file only its owner can read "
                f"(mode 0600), got mode {stat.filemode(info.st_mode)}; chmod 600 it"
            )
        content = stream.read(_MAX_KEY_BYTES + 1).strip()
    if not MIN_KEY_CHARS <= len(content) <= _MAX_KEY_BYTES:
        raise HistoryError(
            f"{path}: not a history key ({len(content)} bytes); delete it to make a new one "
            "(records signed with the old key will no longer count)"
        )
    return content


def sign(key: bytes, record: Mapping[str, Any]) -> str:
    """The ``mac`` of one record: HMAC-SHA256 of its canonical JSON (without ``mac``)."""
    canonical = json.dumps(
        {k: v for k, v in record.items() if k != "mac"}, sort_keys=True, ensure_ascii=False
    )
    return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


# ----------------------------------------------------------------------------- reading


def read(path: Path, key: bytes | None = None) -> History:
    """The history in ``path`` (none there: an empty one), its records checked with ``key``
    (default: `load_key`). Raises `HistoryError` when the file is not a farm history at
    all; record lines that do not validate are left out and named in ``problems``."""
    content = _content(path)
    if not content.strip():
        return History(source=str(path))
    key = load_key() if key is None else key
    lines = content.split(b"\n")
    if _check_header(path, lines[0]) == UNSIGNED_SCHEMA:
        return History(
            source=str(path),
            problems=(
                f"{path}: a schema {UNSIGNED_SCHEMA} history, whose records are not "
                "authenticated; none of them is used, and the next update rewrites it",
            ),
        )
    windows: dict[str, tuple[str, ...]] = {}
    tests: dict[tuple[str, str, str], tuple[int, TestHistory]] = {}
    failed: dict[str, list[int]] = {}  # what is wrong -> the lines it is wrong on
    for number, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        try:
            record = _record(raw, key)
            if isinstance(record, TestHistory):
                if record.key in tests:
                    raise ValueError(f"a second record of {record.test} on this image and cell")
                tests[record.key] = (number, record)
            else:
                cell, runs = record
                if cell in windows:
                    raise ValueError(f"a second list of runs for cell {cell}")
                windows[cell] = runs
        except ValueError as error:
            torn = " (a torn last line: was its writer killed?)" if number == len(lines) else ""
            failed.setdefault(f"{error}{torn}", []).append(number)
    problems = [_problem(path, numbers, error) for error, numbers in failed.items()]
    kept: dict[tuple[str, str, str], TestHistory] = {}
    for key_, (number, record) in tests.items():
        window = windows.get(record.cell, ())
        strays = [s.run for s in record.sightings if s.run not in window]
        if strays:
            problems.append(
                f"{path}:{number}: run {strays[0]} is not among the last runs listed for cell "
                f"{record.cell}"
            )
            continue
        kept[key_] = record
    return History(windows, kept, str(path), tuple(problems))


def _problem(path: Path, numbers: Sequence[int], error: str) -> str:
    """One problem for every line that is wrong in the same way: after a key change every
    record fails its mac, and one warning naming the lines says so better than hundreds."""
    if len(numbers) == 1:
        return f"{path}:{numbers[0]}: {error}"
    spans: list[list[int]] = []
    for number in numbers:
        if spans and spans[-1][1] == number - 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    lines = ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans)
    return f"{path}:{lines}: {len(numbers)} records: {error}"


def _content(path: Path) -> bytes:
    try:
        info = path.stat()
    except FileNotFoundError:
        return b""
    except OSError as error:
        raise HistoryError(f"{path}: cannot read the flaky history: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise HistoryError(
            f"{path}: not a regular file; give --history a file (created if missing)"
        )
    if info.st_size > MAX_HISTORY_BYTES:
        raise HistoryError(
            f"{path}: {info.st_size} bytes, too big for a flaky history the farm wrote; give "
            "another --history file"
        )
    try:
        return path.read_bytes()
    except OSError as error:
        raise HistoryError(f"{path}: cannot read the flaky history: {error.strerror}") from None


def _check_header(path: Path, raw: bytes) -> int:
    """The schema of a farm history's first line; HistoryError when it is none."""
    try:
        header = decode_line(raw)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("what") != HEADER["what"]:
        raise HistoryError(
            f"{path}:1: not a glibc-farm flaky history (its first line must be "
            f"{json.dumps(HEADER, sort_keys=True)}); the farm will not overwrite it: give "
            "--history a new file or one the farm wrote, or --no-history"
        )
    if header == {**HEADER, "schema": UNSIGNED_SCHEMA}:
        return UNSIGNED_SCHEMA
    if header != HEADER:
        raise HistoryError(
            f"{path}:1: flaky history schema {header.get('schema')!r:.40}; this farm reads "
            f"{SCHEMA_VERSION} (written by another farm version?): give another --history "
            "file, or delete this one to start a new history"
        )
    return SCHEMA_VERSION


def _record(raw: bytes, key: bytes) -> TestHistory | tuple[str, tuple[str, ...]]:
    """One record line, authenticated; ValueError says what is wrong with it."""
    data = decode_line(raw)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    mac = data.get("mac")
    if not isinstance(mac, str) or not _MAC.fullmatch(mac):
        raise ValueError("no mac: not a record this farm signed (hand-written or edited?)")
    if not hmac.compare_digest(mac, sign(key, data)):
        raise ValueError(
            "its mac does not match: forged, edited, or signed with another history key (did "
            f"${KEY_ENV} or the key file change?)"
        )
    keys = set(data) - {"mac"}
    if keys == {"cell", "runs"}:
        runs = data["runs"]
        if not isinstance(runs, list) or not runs or len(runs) > KEEP_RUNS:
            raise ValueError(f"runs: expected a list of 1 to {KEEP_RUNS} run ids")
        checked = tuple(_text(run, "runs[]") for run in runs)
        if len(set(checked)) != len(checked):
            raise ValueError("runs: a run id is listed twice")
        return _text(data["cell"], "cell"), checked
    if keys == {"cell", "image_id", "test", "sightings"}:
        listed = data["sightings"]
        if not isinstance(listed, list) or not 1 <= len(listed) <= KEEP_RUNS:
            raise ValueError(f"sightings: expected a list of 1 to {KEEP_RUNS} sightings")
        sightings = tuple(_sighting(value, f"sightings[{i}]") for i, value in enumerate(listed))
        if _streaks(sightings) != sightings:
            raise ValueError("sightings: neighbours must differ in good vs bad, oldest first")
        return TestHistory(
            _text(data["cell"], "cell"),
            _text(data["image_id"], "image_id"),
            _text(data["test"], "test"),
            sightings,
        )
    raise ValueError(
        f"unknown record with fields {', '.join(sorted(map(str, keys))) or '(none)'}; expected "
        "cell, runs or cell, image_id, test, sightings"
    )


def _sighting(value: Any, name: str) -> Sighting:
    if not isinstance(value, dict) or set(value) != {"run", "label", "on"}:
        raise ValueError(f"{name}: expected an object with run, label and on")
    label = _text(value["label"], f"{name}.label")
    try:
        outcome.checked_label(label)
    except ValueError as error:
        raise ValueError(f"{name}.label: {error}") from None
    if not _recordable(label):
        raise ValueError(f"{name}.label: ERROR is never recorded (the farm could not run it)")
    try:
        on = datetime.date.fromisoformat(_text(value["on"], f"{name}.on"))
    except ValueError:
        raise ValueError(f"{name}.on: expected a date YYYY-MM-DD") from None
    return Sighting(_text(value["run"], f"{name}.run"), label, on)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: expected a non-empty string, got {value!r:.60}")
    if len(value) > _MAX_TEXT or _CONTROL.search(value):
        raise ValueError(f"{name}: not one printable line of at most {_MAX_TEXT} characters")
    return value


# ----------------------------------------------------------------------------- writing


def render(history: History, key: bytes) -> str:
    """The file's text: header, then windows, then tests, each group sorted, each signed."""
    lines = [json.dumps(HEADER, sort_keys=True)]
    records: list[dict[str, Any]] = [
        {"cell": cell, "runs": list(runs)} for cell, runs in sorted(history.windows.items()) if runs
    ]
    for test_key in sorted(history.tests):
        record = history.tests[test_key]
        records.append(
            {
                "cell": record.cell,
                "image_id": record.image_id,
                "test": record.test,
                "sightings": [
                    {"run": s.run, "label": s.label, "on": s.on.isoformat()}
                    for s in record.sightings
                ],
            }
        )
    for plain in records:
        signed = {**plain, "mac": sign(key, plain)}
        lines.append(json.dumps(signed, sort_keys=True, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def write(path: Path, history: History, key: bytes | None = None) -> None:
    """Write whole or not at all: a reader (another farm, a CI cache step) never sees half."""
    text = render(history, load_key() if key is None else key)
    try:
        replace_file(path, text.encode("utf-8"))
    except OSError as error:
        raise HistoryError(
            f"{path}: cannot write the flaky history: {error.strerror}; give --history a "
            "writable file, or --no-history"
        ) from None


def update(
    path: Path,
    run: str,
    observations: Iterable[Observation],
    *,
    on: datetime.date,
    key: bytes | None = None,
    keep: int = KEEP_RUNS,
) -> History:
    """Add run ``run``'s observations (of day ``on``) to the history in ``path``, under its
    lock.

    The file is read again under the lock, so a run that another farm recorded since this
    one started is kept. A file with unusable lines is kept aside in ``<file>.unreadable``.
    """
    key = load_key() if key is None else key
    lock = FileLock(str(path.with_name(path.name + ".lock")), timeout=LOCK_TIMEOUT)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with lock:
            current = read(path, key)
            if current.problems:
                replace_file(path.with_name(path.name + ".unreadable"), path.read_bytes())
            updated = current.recorded(run, observations, on=on, keep=keep)
            write(path, updated, key)
            return updated
    except Timeout:
        raise HistoryError(
            f"{path}: another farm has held its lock for {LOCK_TIMEOUT:.0f} s; let it finish "
            "and run `farm gate` again, or pass --no-history"
        ) from None
    except OSError as error:
        raise HistoryError(
            f"{path}: cannot update the flaky history: {error.strerror or error}"
        ) from None


def _recordable(label: str) -> bool:
    return outcome.outcome_of_label(label) is not Outcome.ERROR


def _streaks(sightings: Iterable[Sighting]) -> tuple[Sighting, ...]:
    """The newest sighting of each run of agreeing (good vs bad) sightings, oldest first."""
    kept: list[Sighting] = []
    for sighting in sightings:
        if kept and kept[-1].bad == sighting.bad:
            kept[-1] = sighting
        else:
            kept.append(sighting)
    return tuple(kept)


def _within_windows(
    tests: Mapping[tuple[str, str, str], TestHistory], windows: Mapping[str, tuple[str, ...]]
) -> dict[tuple[str, str, str], TestHistory]:
    """Drop sightings of runs that left their cell's window, and records left with none."""
    kept = {}
    for key, record in tests.items():
        window = set(windows.get(record.cell, ()))
        sightings = _streaks(s for s in record.sightings if s.run in window)
        if sightings:
            kept[key] = dataclasses.replace(record, sightings=sightings)
    return kept


def _short(image_id: str) -> str:
    """``sha256:0123456789ab`` (Docker's short form) for notes; the reports keep the whole."""
    algorithm, _, digest = image_id.rpartition(":")
    return f"{algorithm}:{digest[:12]}" if algorithm else image_id[:12]
