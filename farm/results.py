"""Test outcomes and the result record every test item produces, stored as JSON lines.

One record per (cell, test, attempt). The runner appends a line as each item finishes, so an
interrupted run keeps what it has; the gate and the reports read them back. The field names
are part of the farm's documented JSON output: change them only with a schema version bump.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from farm import ids

SCHEMA_VERSION = 1


class Outcome(enum.StrEnum):
    """What one test did. The first four are glibc's own vocabulary (``.test-result``)."""

    PASS = "PASS"
    FAIL = "FAIL"
    UNSUPPORTED = "UNSUPPORTED"  # exit 77: the feature is absent in this glibc or host
    XFAIL = "XFAIL"  # failed, and glibc's own list expects it to
    XPASS = "XPASS"  # passed, although expected to fail
    TIMEOUT = "TIMEOUT"  # killed at its (scaled) timeout
    CRASH = "CRASH"  # died by a signal; the record's ``signal`` names it
    ERROR = "ERROR"  # the farm could not build or start the test at all

    @property
    def is_good(self) -> bool:
        return self in (Outcome.PASS, Outcome.XFAIL, Outcome.UNSUPPORTED)


@dataclass(frozen=True, slots=True)
class TestResult:
    """One finished test item."""

    __test__ = False  # not a pytest test class, whatever its name says

    scenario: str
    arch: str
    variant: str
    test: str  # "farm/<family>/<case>" or "glibc/<subdir>/<test>"
    outcome: Outcome
    signal: str | None = None  # "SIGSEGV" when outcome is CRASH
    exit_code: int | None = None
    duration: float = 0.0
    output: str = ""  # the tail of what the test printed, for reports
    image: str = ""  # the tag of the image the test ran in
    attempt: int = 1  # >1 for a rerun of a failure
    details: dict[str, str] = field(default_factory=dict)

    @property
    def cell(self) -> str:
        return ids.cell_id(self.scenario, self.arch, self.variant)

    @property
    def is_good(self) -> bool:
        """It behaved as designed: a good outcome, or the crash a hazard case demonstrates.
        Only a result that is not good is rerun, and only such a result fails a bisection step."""
        return self.outcome.is_good or self.details.get("natural_crash") == "yes"

    @property
    def label(self) -> str:
        """The outcome as people read it: ``CRASH(SIGSEGV)``."""
        if self.outcome is Outcome.CRASH and self.signal:
            return f"CRASH({self.signal})"
        return self.outcome.value

    def to_json(self) -> str:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["schema"] = SCHEMA_VERSION
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> TestResult:
        data = json.loads(line)
        data.pop("schema", None)
        data["outcome"] = Outcome(data["outcome"])
        return cls(**data)


def append_result(path: Path, result: TestResult) -> None:
    """Append one record and flush it, so a crash of the farm loses at most this line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(result.to_json() + "\n")
        stream.flush()


def read_results(paths: Iterable[Path]) -> Iterator[TestResult]:
    """Read records from JSON-lines files; a torn last line (killed writer) is skipped."""
    for path in paths:
        with path.open(encoding="utf-8") as stream:
            for line in stream:
                line = line.strip()
                if not line:
                    continue
                try:
                    yield TestResult.from_json(line)
                except (ValueError, TypeError, KeyError):
                    continue
