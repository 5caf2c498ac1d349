"""Test outcomes and the result record every test item produces, stored as JSON lines.

One record per (cell, test, attempt). The runner appends a line as each item finishes, so an
interrupted run keeps what it has; ``farm.rundir`` writes them, and is the only reader: a
record read back is untrusted input and is validated there (this class once had its own
``from_json`` that took any JSON as a record). The field names
are part of the farm's documented JSON output: change them only with a schema version bump.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from farm import ids, outcome
from farm.outcome import Outcome as Outcome  # re-exported: records are made of it
from farm.outcome import Seen

SCHEMA_VERSION = 1


def decode_line(raw: bytes) -> Any:
    """One line of a JSON-lines file the farm reads back (results, the flaky history), as
    untrusted input: ValueError with what is wrong, never another exception."""
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON: {error}") from None
    except RecursionError:
        raise ValueError("not valid JSON: nested too deeply") from None


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
    def natural_crash(self) -> bool:
        """The crash a hazard case exists to demonstrate (``expect: crash``)."""
        return self.details.get("natural_crash") == "yes"

    @property
    def seen(self) -> Seen:
        """The outcome as `farm.outcome`'s rules take it."""
        return Seen(self.outcome, self.natural_crash)

    @property
    def is_good(self) -> bool:
        """It behaved as designed (``farm.outcome.behaved``)."""
        return outcome.behaved(self.outcome, natural_crash=self.natural_crash)

    @property
    def needs_rerun(self) -> bool:
        """The runner repeats this attempt (``farm.outcome.needs_rerun``)."""
        return outcome.needs_rerun(self.outcome, self.variant, natural_crash=self.natural_crash)

    def rerun_follows(self, reruns: int) -> bool:
        """Whether another attempt follows this one when an item may be rerun ``reruns``
        times: it needs confirming and reruns are left. The runner's loop, a whole
        subdirectory's reruns and ``--resume`` (an item is finished when none follows) all
        ask this, so a resumed run stops exactly where an uninterrupted one would."""
        return self.needs_rerun and self.attempt <= reruns

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
