"""The run directory: every path in it, every record written to it, every record read back.

A run directory holds everything the gate needs, as files, so a verdict can be computed on
another machine from downloaded artifacts exactly as at the end of a local run::

    run.json               schema version and how many reruns the runner was allowed
    cells/<cell>.json      the cell's build state, image ids, hashes, reproducer
    results/*.jsonl        one record per test attempt (farm.results), appended as tests end
    series.json            each series' patches (number, subject), for naming a bad patch
    bisect/<s>-<a>-<series>.json  the first bad patch of a regressed series on one arch
    bisect/results.jsonl, bisect/logs/  what bisection steps ran
    probes/<cell>.json     the environment probe of each cell's image
    shard.json             a shard job's: which shard I/N it ran, of which builds (farm.plan.shard)
    logs/                  image build logs
    spec.json, pytest-junit.xml, report.*  the test run's spec and the reports
    try-scenario.yaml, try-series.*, try-scenario.lock  ``farm try``'s scenario made from a
                           template, its one series and the template's pins
                           (``farm run try-scenario.yaml`` repeats the run)
    try.json               what ``farm try`` tried and why (farm.inputs.try_series.TryRecord), for
                           the reports' "Tried" section

What is read back is untrusted: artifacts are downloaded, merged by hand, cut short by a
killed writer. So every record is validated (schema version, exact fields, types, known
states) and every file must be a regular file inside the directory. A record that cannot be
read is never skipped silently and never a traceback: it becomes an `gate.UnreadableRecord`
naming the file (and line), which leaves the verdict it could have changed UNDECIDED.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import os
import stat
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farm import ids
from farm.errors import UsageError
from farm.inputs.try_series import TryRecord
from farm.judging import gate
from farm.nofollow import replace_file
from farm.plan.shard import Build, ShardRecord
from farm.results import TestResult, decode_line

SCHEMA_VERSION = 1
#: Records are small; a file beyond this is not one the farm wrote.
MAX_RECORD_FILE_BYTES = 256 * 1024 * 1024
#: Test records one run directory may hold. glibc's whole testsuite is about 6,000 tests a
#: cell; a directory of a few cells, each test with a rerun, stays far below. Beyond this
#: it is no run the farm made, and reading on would cost gigabytes and reports of hundreds
#: of megabytes: what is left is named as unread, which leaves every verdict UNDECIDED.
MAX_RESULT_RECORDS = 200_000


#: The report files of a verdict, by format.
REPORT_FILES = {
    "markdown": "report.md",
    "html": "report.html",
    "json": "report.json",
    "junit": "junit.xml",
    "patchwork": "patchwork-checks.json",
}


class RecordError(ValueError):
    """One record does not match its schema; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class RunRecords:
    """Everything read from one or more run directories, and what could not be read."""

    results: tuple[TestResult, ...] = ()
    cells: tuple[gate.CellStatus, ...] = ()
    series: Mapping[str, tuple[gate.SeriesPatch, ...]] = dataclasses.field(default_factory=dict)
    bisections: tuple[gate.BisectResult, ...] = ()
    #: The reruns each directory's runner was allowed; None where run.json is missing. Only
    #: directories that ran tests count: a CI build job's has no runner to speak of.
    reruns: tuple[int | None, ...] = ()
    unreadable: tuple[gate.UnreadableRecord, ...] = ()
    #: (shard.json path, record) of each shard directory
    shards: tuple[tuple[str, ShardRecord], ...] = ()
    #: which build of a cell each directory holds, from its BUILT cell statuses
    builds: tuple[Build, ...] = ()
    #: (directory, the scenario labels its cells and results name), one per directory
    scenarios: tuple[tuple[str, frozenset[str]], ...] = ()

    @property
    def require_reproduction(self) -> bool:
        """A regression must be seen twice unless every run ran with ``--reruns 0``.

        A directory that does not say (no run.json: an older farm) is taken to have rerun,
        so its single-attempt regressions stay UNDECIDED rather than reject unconfirmed.
        """
        return not self.reruns or any(r is None or r > 0 for r in self.reruns)


class RunDir:
    """The paths of one run directory, its writers and its validating reader."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # ------------------------------------------------------------------------- paths
    @property
    def run_info(self) -> Path:
        return self.root / "run.json"

    @property
    def cells_dir(self) -> Path:
        return self.root / "cells"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def series_file(self) -> Path:
        return self.root / "series.json"

    @property
    def bisect_dir(self) -> Path:
        return self.root / "bisect"

    @property
    def bisect_logs(self) -> Path:
        return self.bisect_dir / "logs"

    @property
    def bisect_results(self) -> Path:
        return self.bisect_dir / "results.jsonl"

    @property
    def probes_dir(self) -> Path:
        return self.root / "probes"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def spec(self) -> Path:
        return self.root / "spec.json"

    @property
    def pytest_junit(self) -> Path:
        return self.root / "pytest-junit.xml"

    @property
    def shard_file(self) -> Path:
        return self.root / "shard.json"

    @property
    def try_scenario(self) -> Path:
        """The scenario ``farm try`` made from its template for one series: ``farm run`` on
        it repeats the run (its series file and lock file lie beside it)."""
        return self.root / "try-scenario.yaml"

    def try_series(self, *, bare_diff: bool) -> Path:
        """The series ``farm try`` ran, as the mails of the revision chosen (``git am``) or,
        for a bare diff, the diff (``patch -p1``)."""
        return self.root / ("try-series.patch" if bare_diff else "try-series.mbox")

    @property
    def try_record(self) -> Path:
        """What ``farm try`` tried and why (`farm.inputs.try_series.TryRecord`), for the reports."""
        return self.root / "try.json"

    def cell_file(self, cell_id: str) -> Path:
        return self.cells_dir / f"{cell_id}.json"

    def results_file(self, cell_id: str, worker: str) -> Path:
        return self.results_dir / f"{cell_id}--{worker}.jsonl"

    def probe_file(self, cell_id: str) -> Path:
        return self.probes_dir / f"{cell_id}.json"

    def bisection_file(self, result: gate.BisectResult) -> Path:
        name = ids.cell_id(str(result.scenario), result.arch, result.series)
        return self.bisect_dir / f"{name}.json"

    def report_file(self, kind: str) -> Path:
        """The report of format ``kind`` (`REPORT_FILES`): a run directory holds its
        verdict's reports, and ``farm gate`` writes the same names into its --report-dir."""
        return self.root / REPORT_FILES[kind]

    def replace_results(self, kept: Iterable[TestResult]) -> None:
        """Keep only ``kept`` of the results (``--resume`` drops the attempts of unfinished
        items). They are written to a new file before the old files go, so a second
        interruption loses nothing either."""
        directory = self.results_dir
        old_files = sorted(directory.glob("*.jsonl")) if directory.is_dir() else []
        if not old_files:
            return
        merged = directory / f"resumed-{os.getpid()}.jsonl"
        replace_file(merged, "".join(r.to_json() + "\n" for r in kept).encode("utf-8"))
        for path in old_files:
            if path != merged:
                path.unlink()

    @staticmethod
    def build_log(directory: Path, image: str) -> Path:
        """The build log of ``image`` in a log directory (`logs_dir`, `bisect_logs`)."""
        return directory / f"{image}.log"

    def looks_like_run_dir(self) -> bool:
        return self.cells_dir.is_dir() or self.results_dir.is_dir()

    def run_dirs_within(self) -> dict[str, Path]:
        """The run directories this directory is or holds, by name: itself (named "") when
        it is one, else each subdirectory that is one, by its name (``farm watch`` over
        several template scenarios runs each in ``<run dir>/<scenario name>``). A link is
        not followed: it is no directory the farm wrote."""
        if self.looks_like_run_dir():
            return {"": self.root}
        if self.root.is_symlink() or not self.root.is_dir():
            return {}
        return {
            child.name: child
            for child in sorted(self.root.iterdir())
            if not child.is_symlink() and child.is_dir() and RunDir(child).looks_like_run_dir()
        }

    # ------------------------------------------------------------------------- writers
    def write_run_info(self, *, reruns: int) -> None:
        _write_json(self.run_info, {"schema": SCHEMA_VERSION, "reruns": reruns})

    def write_cell(self, status: gate.CellStatus) -> None:
        _write_json(self.cell_file(status.cell), _versioned(status))

    def write_series(self, series: Mapping[str, Iterable[gate.SeriesPatch]]) -> None:
        data = {
            name: [dataclasses.asdict(patch) for patch in patches]
            for name, patches in series.items()
        }
        _write_json(self.series_file, {"schema": SCHEMA_VERSION, "series": data})

    def write_shard(self, record: ShardRecord) -> None:
        _write_json(self.shard_file, _versioned(record))

    def write_try_record(self, record: TryRecord) -> None:
        _write_json(self.try_record, _versioned(record))

    def write_bisection(self, result: gate.BisectResult) -> None:
        _write_json(self.bisection_file(result), _versioned(result))

    def write_probe(
        self,
        cell_id: str,
        facts: Mapping[str, str],
        glibc_tests: Iterable[str],
        glibc_subdirs: Iterable[str] = (),
    ) -> None:
        _write_json(
            self.probe_file(cell_id),
            {
                "schema": SCHEMA_VERSION,
                "facts": dict(facts),
                "glibc_tests": list(glibc_tests),
                "glibc_subdirs": list(glibc_subdirs),
            },
        )

    def append_result(self, result: TestResult, *, worker: str) -> None:
        append_line(self.results_file(result.cell, worker), result.to_json())

    def append_bisect_result(self, result: TestResult) -> None:
        append_line(self.bisect_results, result.to_json())

    # ------------------------------------------------------------------------- readers
    def read(self) -> RunRecords:
        """Every record of this directory, validated; see the module docstring."""
        return read_all([self])

    def read_results(self) -> tuple[tuple[TestResult, ...], tuple[gate.UnreadableRecord, ...]]:
        reader = _Reader(self)
        reader.results()
        return tuple(reader.found_results), tuple(reader.problems)

    def read_try_record(self) -> tuple[TryRecord | None, tuple[gate.UnreadableRecord, ...]]:
        """What ``farm try`` tried, validated; None in a directory ``farm try`` did not make
        (no try.json) or when it cannot be read, which the problems then name."""
        reader = _Reader(self)
        return reader.try_record(), tuple(reader.problems)

    def read_cells(self) -> tuple[tuple[gate.CellStatus, ...], tuple[gate.UnreadableRecord, ...]]:
        """The cells' records alone, validated: what a resumed run needs before it starts,
        without reading every test result."""
        reader = _Reader(self)
        found = reader.cells()
        return tuple(found), tuple(reader.problems)


def read_all(run_dirs: Iterable[RunDir]) -> RunRecords:
    """The records of several run directories (one per CI cell, say) as one set."""
    results: list[TestResult] = []
    cells: list[gate.CellStatus] = []
    series: dict[str, tuple[gate.SeriesPatch, ...]] = {}
    bisections: list[gate.BisectResult] = []
    reruns: list[int | None] = []
    problems: list[gate.UnreadableRecord] = []
    shards: list[tuple[str, ShardRecord]] = []
    builds: list[Build] = []
    scenarios: list[tuple[str, frozenset[str]]] = []
    for run_dir in run_dirs:
        reader = _Reader(run_dir)
        reader.results()
        found_cells = reader.cells()
        cells += found_cells
        builds += [
            Build(c.cell, c.image_id, c.series_sha256, str(run_dir.cell_file(c.cell)))
            for c in found_cells
            if c.state is gate.CellState.BUILT and c.image_id
        ]
        shard = reader.shard()
        if shard is not None:
            shards.append((str(run_dir.shard_file), shard))
        labels = {c.scenario for c in found_cells} | {r.scenario for r in reader.found_results}
        scenarios.append((str(run_dir.root), frozenset(labels)))
        series.update(reader.series())
        bisections += reader.bisections()
        ran_tests = reader.reruns()
        # Without run.json and without results (`farm build`'s directory, a shard job that
        # died before its tests) there was no runner whose reruns could matter; taking it as
        # "an older farm that reran" would make the others' single-attempt regressions
        # unconfirmed, and a gate over build + shard directories judge otherwise than one
        # over the same tests run unsplit.
        if ran_tests is not None or reader.result_files:
            reruns.append(ran_tests)
        results += reader.found_results
        problems += reader.problems
    return RunRecords(
        results=tuple(results),
        cells=tuple(cells),
        series=series,
        bisections=tuple(bisections),
        reruns=tuple(reruns),
        unreadable=tuple(problems),
        shards=tuple(shards),
        builds=tuple(builds),
        scenarios=tuple(scenarios),
    )


def append_line(path: Path, line: str) -> None:
    """Append one JSON line and flush it, so a crash of the farm loses at most this line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(line + "\n")
        stream.flush()


def _versioned(record: Any) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, **dataclasses.asdict(record)}


def _write_json(path: Path, data: Any) -> None:
    """Write whole or not at all (a reader never sees half a file), never through a link."""
    replace_file(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))


# ----------------------------------------------------------------------------- reading


class _Reader:
    """Reads one run directory, collecting records and located problems."""

    def __init__(self, run_dir: RunDir) -> None:
        self.run_dir = run_dir
        self.root = run_dir.root
        self.found_results: list[TestResult] = []
        self.result_files = 0  # results/*.jsonl files, readable or not
        self.problems: list[gate.UnreadableRecord] = []

    def _problem(self, path: Path, problem: str, *, line: int = 0, cell: str | None = None) -> None:
        where = f"{path}:{line}" if line else str(path)
        self.problems.append(gate.UnreadableRecord(where=where, problem=problem, cell=cell))

    def _files(self, directory: Path, suffix: str) -> list[Path]:
        try:
            if not directory.exists():
                return []
            if not self._inside(directory) or not directory.is_dir():
                self._problem(directory, "not a directory inside the run directory")
                return []
            return sorted(p for p in directory.iterdir() if p.name.endswith(suffix))
        except OSError as error:
            self._problem(directory, f"cannot be listed: {error.strerror or error}")
            return []

    def _inside(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.root.resolve())
        except (OSError, RuntimeError, ValueError):
            return False
        return True

    def _bytes(self, path: Path, cell: str | None = None) -> bytes | None:
        """A file's content, or None (with the problem noted) when it cannot be trusted."""
        if not self._inside(path):
            self._problem(path, "is a symlink pointing out of the run directory", cell=cell)
            return None
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                self._problem(path, "is not a regular file", cell=cell)
                return None
            if info.st_size > MAX_RECORD_FILE_BYTES:
                self._problem(path, f"is {info.st_size} bytes, too big for a record", cell=cell)
                return None
            return path.read_bytes()
        except OSError as error:
            self._problem(path, f"cannot be read: {error.strerror or error}", cell=cell)
            return None

    def _json(self, path: Path, cell: str | None = None) -> Any:
        content = self._bytes(path, cell)
        if content is None:
            return _MISSING
        try:
            return json.loads(content.decode("utf-8"), parse_int=_bounded_int)
        except UnicodeDecodeError as error:
            self._problem(path, f"is not UTF-8 (byte {error.start})", cell=cell)
        except json.JSONDecodeError as error:
            self._problem(path, f"is not valid JSON: {error}", cell=cell)
        except RecursionError:
            self._problem(path, "is not valid JSON: nested too deeply", cell=cell)
        except ValueError as error:  # a number past the bound, or past Python's own limit
            self._problem(path, f"is not a record the farm wrote: {error}", cell=cell)
        return _MISSING

    def _optional_json(self, path: Path) -> Any:
        """A file a run directory may lack (a build job's has no run.json): absent is no
        problem, but a dangling link is (read, and noted, by `_json`)."""
        if not path.exists() and not path.is_symlink():
            return _MISSING
        return self._json(path)

    def results(self) -> None:
        for path in self._files(self.run_dir.results_dir, ".jsonl"):
            self.result_files += 1
            # <cell>--<worker>.jsonl (or <cell>.jsonl); a name that is no judged cell's id
            # (resumed-<pid>.jsonl) makes the gate hold a problem against every verdict.
            file_cell = path.name.removesuffix(".jsonl").split("--", 1)[0]
            content = self._bytes(path, file_cell)
            if content is None:
                continue
            lines = content.split(b"\n")
            for number, raw in enumerate(lines, start=1):
                if not raw.strip():
                    continue
                if len(self.found_results) >= MAX_RESULT_RECORDS:
                    self._problem(
                        path, f"more than {MAX_RESULT_RECORDS} test records in one run "
                        "directory, more than any run the farm makes (glibc's whole testsuite "
                        "is about 6,000 tests a cell); the rest was not read", line=number,
                    )  # fmt: skip
                    return
                torn = number == len(lines)  # no newline after it: its writer was cut off
                try:
                    self.found_results.append(_result(raw))
                except RecordError as error:
                    problem = str(error) + (
                        " (a torn last line: was its writer killed?)" if torn else ""
                    )
                    self._problem(path, problem, line=number, cell=_cell_hint(raw) or file_cell)

    def cells(self) -> list[gate.CellStatus]:
        found = []
        for path in self._files(self.run_dir.cells_dir, ".json"):
            cell = path.name.removesuffix(".json")
            data = self._json(path, cell)
            if data is _MISSING:
                continue
            try:
                status = _decode(gate.CellStatus, _unversioned(data, legacy=True))
            except RecordError as error:
                self._problem(path, str(error), cell=cell)
                continue
            if status.cell != cell:
                self._problem(path, f"holds cell {status.cell!r}, not {cell!r}", cell=cell)
                continue
            found.append(status)
        return found

    def series(self) -> dict[str, tuple[gate.SeriesPatch, ...]]:
        path = self.run_dir.series_file
        data = self._optional_json(path)
        if data is _MISSING:
            return {}
        try:
            if isinstance(data, dict) and not isinstance(data.get("schema", []), list):
                data = _unversioned(data, legacy=False)
                if set(data) != {"series"}:
                    raise RecordError(f"expected the fields schema, series; got {sorted(data)}")
                data = data["series"]
            if not isinstance(data, dict):
                raise RecordError(f"expected an object of series, got {_kind(data)}")
            return {
                _string(name, "series name"): tuple(
                    _decode(gate.SeriesPatch, patch) for patch in _list(patches, name)
                )
                for name, patches in data.items()
            }
        except RecordError as error:
            self._problem(path, str(error))
            return {}

    def bisections(self) -> list[gate.BisectResult]:
        found = []
        for path in self._files(self.run_dir.bisect_dir, ".json"):
            data = self._json(path)
            if data is _MISSING:
                continue
            try:
                found.append(_decode(gate.BisectResult, _unversioned(data, legacy=True)))
            except RecordError as error:
                self._problem(path, str(error))
        return found

    def shard(self) -> ShardRecord | None:
        """The shard this directory holds; None for a whole run (or an unreadable record,
        noted as a problem that names no cell, so it holds every verdict UNDECIDED)."""
        return self._optional_record(self.run_dir.shard_file, ShardRecord)

    def try_record(self) -> TryRecord | None:
        """What ``farm try`` tried; None for another run (or an unreadable record, noted)."""
        return self._optional_record(self.run_dir.try_record, TryRecord)

    def _optional_record(self, path: Path, cls: type[_Record]) -> _Record | None:
        """The one versioned record of type ``cls`` at ``path``, which a run directory may
        lack; None when it does, or when the record cannot be read (noted as a problem)."""
        data = self._optional_json(path)
        if data is _MISSING:
            return None
        try:
            record: _Record = _decode(cls, _unversioned(data, legacy=False))
            return record
        except RecordError as error:
            self._problem(path, str(error))
            return None

    def reruns(self) -> int | None:
        path = self.run_dir.run_info
        data = self._optional_json(path)
        if data is _MISSING:
            return None
        try:
            data = _unversioned(data, legacy=False)
            if set(data) != {"reruns"}:
                raise RecordError(f"expected the fields schema, reruns; got {sorted(data)}")
            reruns = data["reruns"]
            if type(reruns) is not int or reruns < 0:
                raise RecordError(f"reruns: expected a whole number >= 0, got {reruns!r}")
            return reruns
        except RecordError as error:
            self._problem(path, str(error))
            return None


_MISSING = object()
_Record = typing.TypeVar("_Record")
#: No number the farm writes (counts, exit codes, patch numbers) comes near this many digits.
MAX_INT_DIGITS = 20


def _bounded_int(text: str) -> int:
    """A JSON integer, refused (ValueError) past `MAX_INT_DIGITS`: Python's own limit (4300)
    would end in a traceback, and nothing the farm writes is that long."""
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"a number of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _result(raw: bytes) -> TestResult:
    try:
        data = decode_line(raw)
    except ValueError as error:
        raise RecordError(str(error)) from None
    result: TestResult = _decode(TestResult, _unversioned(data, legacy=False))
    return result


def _cell_hint(raw: bytes) -> str | None:
    """The cell an unreadable results line names, when enough of it parses to say."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    parts = [data.get(key) for key in ("scenario", "arch", "variant")]
    if all(isinstance(part, str) for part in parts):
        return ids.cell_id(*typing.cast(list[str], parts))
    return None


def _unversioned(data: Any, *, legacy: bool) -> dict[str, Any]:
    """``data`` without its ``schema`` field, checked; ``legacy``: a missing one means 1
    (cells, series and bisections were written without it before schema versions)."""
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {_kind(data)}")
    fields: dict[str, Any] = dict(data)
    schema = fields.pop("schema", SCHEMA_VERSION if legacy else None)
    if schema is None:
        raise RecordError('no schema version; expected "schema": 1')
    if type(schema) is not int or schema != SCHEMA_VERSION:
        raise RecordError(
            f"schema version {schema!r}; this farm reads version {SCHEMA_VERSION} "
            "(written by another farm version? rerun with this one)"
        )
    return fields


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else f"a {type(value).__name__}"
    )


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{what}: expected a string, got {_kind(value)}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise RecordError(f"{what}: expected a list, got {_kind(value)}")
    return value


def _decode(cls: Any, data: Any) -> Any:
    """Build dataclass ``cls`` from JSON ``data``: exact fields, every value of its type."""
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object for {cls.__name__}, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    extra = sorted(set(data) - set(fields))
    if extra:
        raise RecordError(f"unknown field(s) {', '.join(map(repr, extra))} in {cls.__name__}")
    required = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in data]
    if missing:
        raise RecordError(f"missing field(s) {', '.join(map(repr, missing))} in {cls.__name__}")
    values = {name: _value(hints[name], data[name], name) for name in data}
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise RecordError(f"{cls.__name__}: {error}") from None


def _value(hint: Any, value: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (hint,) = [option for option in options if option is not type(None)]
        origin = typing.get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            known = ", ".join(str(member.value) for member in hint)
            raise RecordError(f"{name}: unknown value {value!r}; expected one of {known}") from None
    if dataclasses.is_dataclass(hint):
        return _decode(hint, value)
    if hint is str:
        return _string(value, name)
    if hint is bool:
        if type(value) is not bool:
            raise RecordError(f"{name}: expected true or false, got {_kind(value)}")
        return value
    if hint is int:
        if type(value) is not int:
            raise RecordError(f"{name}: expected a whole number, got {_kind(value)}")
        if abs(value) >= 10**MAX_INT_DIGITS:
            raise RecordError(f"{name}: a number of more than {MAX_INT_DIGITS} digits")
        return value
    if hint is float:
        if (
            type(value) not in (int, float)
            or value != value
            or value in (float("inf"), float("-inf"))
        ):
            raise RecordError(f"{name}: expected a finite number, got {value!r}")
        return float(value)
    if hint is datetime.date:
        try:
            return datetime.date.fromisoformat(_string(value, name))
        except ValueError:
            raise RecordError(f"{name}: expected a date YYYY-MM-DD, got {value!r}") from None
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        return tuple(_value(item_hint, item, name) for item in _list(value, name))
    if origin is dict:
        key_hint, item_hint = typing.get_args(hint)
        if not isinstance(value, dict):
            raise RecordError(f"{name}: expected an object, got {_kind(value)}")
        return {
            _value(key_hint, key, name): _value(item_hint, item, name)
            for key, item in value.items()
        }
    raise RecordError(f"{name}: cannot read a value of type {hint}")  # a farm bug, said plainly


# ----------------------------------------------------------------- where a run directory goes

#: Where a run's directory goes when none is given: ``farm-runs/<scenario>/<stamp>``.
RUNS_ROOT = Path("farm-runs")
#: Runs of one scenario started in one second: ``<stamp>``, ``<stamp>-2`` ... ``<stamp>-99``.
_SAME_SECOND_SUFFIXES = ("", *(f"-{n}" for n in range(2, 100)))


@dataclass(frozen=True, slots=True)
class RunDirChoice:
    """The directory a run will write, chosen before it is made: a command checks every
    option first, and a refused option must leave no empty run directory behind."""

    path: Path
    #: A new ``<stamp>`` directory: if another farm takes it before `create`, the next
    #: free suffix is taken instead, so two runs never share one.
    fresh: bool = False

    def create(self) -> Path:
        """Make the directory (and its parents); returns the one made."""
        if not self.fresh:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise UsageError(
                    f"--run-dir {self.path}: cannot make the directory: {error.strerror}; "
                    "give a directory that can be created or written"
                ) from None
            return self.path
        parent, stamp = self.path.parent, self.path.name
        parent.mkdir(parents=True, exist_ok=True)
        for suffix in _SAME_SECOND_SUFFIXES:
            candidate = parent / f"{stamp}{suffix}"
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return candidate
        raise UsageError(f"{parent}: too many runs started at {stamp}; pass --run-dir")


def choose_run_dir(
    requested: Path | None,
    scenario: str,
    *,
    resume: bool = False,
    root: Path = RUNS_ROOT,
    now: datetime.datetime | None = None,
) -> RunDirChoice:
    """The directory of a run of ``scenario``: ``requested`` if given; else, with
    ``resume``, the scenario's newest run under ``root``; else a new
    ``<root>/<scenario>/<stamp>``, never shared with another farm started in the same
    second. Nothing is created here (`RunDirChoice.create` does)."""
    if requested is not None:
        if resume and not requested.is_dir():
            raise UsageError(f"--resume: {requested} does not exist; nothing to resume")
        return RunDirChoice(requested)
    parent = root / scenario
    if resume:
        earlier = sorted(p for p in parent.glob("*") if p.is_dir()) if parent.is_dir() else []
        if not earlier:
            raise UsageError(f"--resume: no earlier run of {scenario} under {parent}")
        return RunDirChoice(earlier[-1])
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return RunDirChoice(parent / stamp, fresh=True)
