"""The flaky history: what earlier runs saw each test do on each built image.

A test is *known flaky* in a cell when the same built image (``gate.CellStatus.image_id``)
gave it a good outcome in one run and a bad one in another (good and bad are
``farm.outcome``'s): nothing the series or the build controls changed, so the difference
came from outside the image (the kernel, load, timing). The gate asks `History.evidence`
whether a regression is such a test, and then reports it as FLAKY, naming the runs and the
image, instead of rejecting. A flip between *different* images is no evidence: the images
differ, so the test may really have been broken or fixed.

What is kept, and why it is small:

- Per cell (``<scenario>-<arch>-<variant>``), the ids of its last `KEEP_RUNS` runs. A run
  records each test's final outcome on the image it ran on. Evidence from a run that left
  this window is dropped, so an image's flakiness ages out as the machines it runs on change.
- Per (cell, image, test), only the newest good and the newest bad sighting inside the
  window. The rule asks whether both kinds were seen in the window, and the newest of each
  kind stays in it longest, so keeping those two answers exactly as keeping every sighting
  would, at a size that does not grow with ``KEEP_RUNS``: two sightings per test (about
  250 bytes a line; 5000 tests in 4 cells is about 5 MB), and images that stopped being run
  leave with their last sightings.
- ERROR is never recorded: it says the farm could not run the test, not what the test did,
  and one Docker hiccup must not make a test's later regressions excusable.

Why `KEEP_RUNS` is 30: a test that fails one run in ten shows both outcomes within 30 runs
of an image with probability 1 - 0.9^30 - 0.1^30, about 96% (within 10 runs only 65%);
30 runs is a month of daily CI, after which evidence gathered on other kernels and runners
should no longer excuse anything. The file's size does not depend on it (see above).

The file is JSON lines, sorted, one record a line (so a CI cache diff is readable and a
reader can name ``file:line``)::

    {"schema": 1, "what": "glibc-farm flaky history"}
    {"cell": "<cell id>", "runs": ["<run id>", ...]}                      oldest first
    {"cell": ..., "image_id": ..., "test": ..., "good": {"run": ..., "label": "PASS"} | null,
     "bad": {"run": ..., "label": "FAIL"} | null}

It is untrusted input like a run directory (a CI cache, an artifact, a hand edit). A file
whose first line is not this header is refused (`HistoryError`: it is someone else's file
and must not be overwritten); a record line that does not validate is reported as
``file:line: problem`` and left out, which can only make the gate stricter (less evidence
excuses less). Updating keeps a copy of such a file next to it (``<file>.unreadable``)
before writing the readable part back. Writers take a file lock and replace the file
atomically, so two farms updating one history lose neither's run.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shutil
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from farm import outcome
from farm.errors import FarmError
from farm.outcome import Outcome
from farm.results import decode_line

SCHEMA_VERSION = 1
HEADER = {"schema": SCHEMA_VERSION, "what": "glibc-farm flaky history"}
#: How many runs of each cell the history remembers (see the module docstring for why).
KEEP_RUNS = 30
#: A history the farm wrote is a few MB; anything this big is not one.
MAX_HISTORY_BYTES = 256 * 1024 * 1024
#: How long a farm waits for another farm's update of the same history.
LOCK_TIMEOUT = 120.0
#: The run id of the run being judged, in evidence notes.
THIS_RUN = "this run"
#: Ids, tests and labels are single printable lines of reasonable length.
_MAX_TEXT = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class HistoryError(FarmError):
    """The history file cannot be used at all (not a history, another version, unwritable)."""


@dataclass(frozen=True, slots=True)
class Sighting:
    """One run's final outcome of one test on one image."""

    run: str
    label: str  # "PASS", "CRASH(SIGSEGV)"...

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
    """The newest good and the newest bad sighting of one test on one image of one cell."""

    __test__ = False  # not a pytest test class, whatever its name says

    cell: str
    image_id: str
    test: str
    good: Sighting | None = None
    bad: Sighting | None = None

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
    """Why a test is known flaky: one image gave it a good and a bad outcome."""

    cell: str
    image_id: str
    test: str
    good: Sighting
    bad: Sighting

    def describe(self) -> str:
        return (
            f"known flaky (history): on image {_short(self.image_id)} of {self.cell} it was "
            f"{self.good.describe()} and {self.bad.describe()}"
        )


@dataclass(frozen=True, slots=True)
class History:
    """Everything a history file holds; immutable, `recorded` returns an updated copy."""

    #: cell id -> the ids of its last runs, oldest first
    windows: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: (cell, image id, test) -> its sightings
    tests: Mapping[tuple[str, str, str], TestHistory] = field(default_factory=dict)
    #: where it was read from, and the ``file:line: problem`` of each record left out
    source: str = ""
    problems: tuple[str, ...] = ()

    def evidence(
        self, cell: str, image_id: str, test: str, current: str | None = None
    ) -> FlakyEvidence | None:
        """The evidence that ``test`` is flaky on this image of ``cell``, or None.

        ``current`` is the final label the run being judged saw there: a flip between an
        earlier run and this one counts, as a flip between two earlier runs does. Attempts
        of this run that disagree are the gate's own FLAKY rule and are not asked about here.
        """
        if not image_id:
            return None
        past = self.tests.get((cell, image_id, test))
        good, bad = (past.good, past.bad) if past is not None else (None, None)
        if current is not None and _recordable(current):
            now = Sighting(THIS_RUN, current)
            good, bad = (good, now) if now.bad else (now, bad)
        if good is None or bad is None:
            return None
        return FlakyEvidence(cell, image_id, test, good, bad)

    def recorded(
        self, run: str, observations: Iterable[Observation], *, keep: int = KEEP_RUNS
    ) -> History:
        """This history with run ``run``'s observations added and the oldest runs dropped."""
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
            sighting = Sighting(run, found.label)
            if sighting.bad:
                tests[key] = dataclasses.replace(before, bad=sighting)
            else:
                tests[key] = dataclasses.replace(before, good=sighting)
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


# ----------------------------------------------------------------------------- reading


def read(path: Path) -> History:
    """The history in ``path`` (none there: an empty one). Raises `HistoryError` when the file
    is not a farm history at all; record lines that do not validate are left out and named
    in ``problems`` (see the module docstring)."""
    content = _content(path)
    if not content.strip():
        return History(source=str(path))
    lines = content.split(b"\n")
    _check_header(path, lines[0])
    windows: dict[str, tuple[str, ...]] = {}
    tests: dict[tuple[str, str, str], tuple[int, TestHistory]] = {}
    problems: list[str] = []
    for number, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        try:
            record = _record(raw)
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
            problems.append(f"{path}:{number}: {error}{torn}")
    kept: dict[tuple[str, str, str], TestHistory] = {}
    for key, (number, record) in tests.items():
        window = windows.get(record.cell, ())
        strays = [s.run for s in (record.good, record.bad) if s is not None and s.run not in window]
        if strays:
            problems.append(
                f"{path}:{number}: run {strays[0]} is not among the last runs listed for cell "
                f"{record.cell}"
            )
            continue
        kept[key] = record
    return History(windows, kept, str(path), tuple(problems))


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


def _check_header(path: Path, raw: bytes) -> None:
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
    if header != HEADER:
        raise HistoryError(
            f"{path}:1: flaky history schema {header.get('schema')!r}; this farm reads "
            f"{SCHEMA_VERSION} (written by another farm version?): give another --history "
            "file, or delete this one to start a new history"
        )


def _record(raw: bytes) -> TestHistory | tuple[str, tuple[str, ...]]:
    """One record line; ValueError says what is wrong with it."""
    data = decode_line(raw)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    keys = set(data)
    if keys == {"cell", "runs"}:
        runs = data["runs"]
        if not isinstance(runs, list) or not runs:
            raise ValueError("runs: expected a non-empty list of run ids")
        checked = tuple(_text(run, "runs[]") for run in runs)
        if len(set(checked)) != len(checked):
            raise ValueError("runs: a run id is listed twice")
        return _text(data["cell"], "cell"), checked
    if keys == {"cell", "image_id", "test", "good", "bad"}:
        good = _sighting(data["good"], "good")
        bad = _sighting(data["bad"], "bad")
        if good is None and bad is None:
            raise ValueError("neither a good nor a bad sighting: the record says nothing")
        if good is not None and good.bad:
            raise ValueError(f"good: {good.label} is a bad outcome")
        if bad is not None and not bad.bad:
            raise ValueError(f"bad: {bad.label} is not a bad outcome")
        return TestHistory(
            _text(data["cell"], "cell"),
            _text(data["image_id"], "image_id"),
            _text(data["test"], "test"),
            good,
            bad,
        )
    raise ValueError(
        f"unknown record with fields {', '.join(sorted(map(str, keys))) or '(none)'}; expected "
        "cell, runs or cell, image_id, test, good, bad"
    )


def _sighting(value: Any, name: str) -> Sighting | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"run", "label"}:
        raise ValueError(f"{name}: expected null or an object with run and label")
    label = _text(value["label"], f"{name}.label")
    try:
        outcome.checked_label(label)
    except ValueError as error:
        raise ValueError(f"{name}.label: {error}") from None
    if not _recordable(label):
        raise ValueError(f"{name}.label: ERROR is never recorded (the farm could not run it)")
    return Sighting(_text(value["run"], f"{name}.run"), label)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: expected a non-empty string, got {value!r:.60}")
    if len(value) > _MAX_TEXT or _CONTROL.search(value):
        raise ValueError(f"{name}: not one printable line of at most {_MAX_TEXT} characters")
    return value


# ----------------------------------------------------------------------------- writing


def render(history: History) -> str:
    """The file's text: header, then windows, then tests, each group sorted."""
    lines = [json.dumps(HEADER, sort_keys=True)]
    lines += [
        json.dumps({"cell": cell, "runs": list(runs)}, sort_keys=True)
        for cell, runs in sorted(history.windows.items())
        if runs
    ]
    for key in sorted(history.tests):
        record = history.tests[key]
        data = {
            "cell": record.cell,
            "image_id": record.image_id,
            "test": record.test,
            "good": dataclasses.asdict(record.good) if record.good else None,
            "bad": dataclasses.asdict(record.bad) if record.bad else None,
        }
        lines.append(json.dumps(data, sort_keys=True, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def write(path: Path, history: History) -> None:
    """Write whole or not at all: a reader (another farm, a CI cache step) never sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(render(history), encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise HistoryError(
            f"{path}: cannot write the flaky history: {error.strerror}; give --history a "
            "writable file, or --no-history"
        ) from None


def update(
    path: Path, run: str, observations: Iterable[Observation], *, keep: int = KEEP_RUNS
) -> History:
    """Add run ``run``'s observations to the history in ``path``, under its lock.

    The file is read again under the lock, so a run that another farm recorded since this
    one started is kept. Unreadable record lines are kept aside in ``<file>.unreadable``.
    """
    lock = FileLock(str(path.with_name(path.name + ".lock")), timeout=LOCK_TIMEOUT)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with lock:
            current = read(path)
            if current.problems:
                shutil.copyfile(path, path.with_name(path.name + ".unreadable"))
            updated = current.recorded(run, observations, keep=keep)
            write(path, updated)
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


def _within_windows(
    tests: Mapping[tuple[str, str, str], TestHistory], windows: Mapping[str, tuple[str, ...]]
) -> dict[tuple[str, str, str], TestHistory]:
    """Drop sightings of runs that left their cell's window, and records left with none."""
    kept = {}
    for key, record in tests.items():
        window = set(windows.get(record.cell, ()))
        good = record.good if record.good is not None and record.good.run in window else None
        bad = record.bad if record.bad is not None and record.bad.run in window else None
        if good is not None or bad is not None:
            kept[key] = dataclasses.replace(record, good=good, bad=bad)
    return kept


def _short(image_id: str) -> str:
    """``sha256:0123456789ab`` (Docker's short form) for notes; the reports keep the whole."""
    algorithm, _, digest = image_id.rpartition(":")
    return f"{algorithm}:{digest[:12]}" if algorithm else image_id[:12]
