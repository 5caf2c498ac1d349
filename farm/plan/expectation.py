"""What a scenario says tests must do (`Expectation`) and which tests are known flaky.

One model, built by the scenario loader and used as-is by the gate. There used to be two
copies, one per side, converted by position: the loader accepted ``variant: "*"`` while the
gate compared variants with ``==``, so every glob expectation went unchecked, and the file:line
of an expectation was lost on the way, so an unmet one could not say where it was written.
Both sides now call the same `Expectation.applies_to`, and ``where`` travels with it.
"""

from __future__ import annotations

import datetime
import fnmatch
from dataclasses import dataclass

from farm.outcome import Outcome, checked_label

ABSENT = "absent"
PRESENT = "present"
_PRESENCE_LABELS = (ABSENT, PRESENT)


def normalize_expected(label: str) -> str:
    """Check an expectation label and return its canonical spelling.

    Raises ValueError with the accepted vocabulary, for the scenario loader to prefix with
    ``file:line:``.
    """
    text = label.strip()
    if text.lower() in _PRESENCE_LABELS:
        return text.lower()
    try:
        checked_label(text.upper())
        return text.upper()
    except ValueError:
        pass
    allowed = ", ".join([o.value for o in Outcome] + ["CRASH(SIGSEGV)", *_PRESENCE_LABELS])
    raise ValueError(f"expected outcome must be one of {allowed}; got {label!r}")


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a scenario says a test must do in the variants ``variant`` matches.

    ``variant`` and ``test`` are fnmatch globs (an exact name is a glob matching itself), so
    ``variant: "*"`` holds in every variant, the baseline included. Every test ``test``
    matches must meet ``expected``; a glob that matches nothing is unmet (except for
    ``absent``). ``CRASH`` accepts any signal, ``CRASH(SIGSEGV)`` only that one. ``where`` is
    the scenario's ``file:line``, for the report of an unmet expectation.
    """

    variant: str
    test: str
    expected: str
    arch: str | None = None
    scenario: str | None = None
    where: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "expected", normalize_expected(self.expected))

    def applies_to(self, scenario: str, arch: str, variant: str) -> bool:
        return (
            fnmatch.fnmatchcase(variant, self.variant)
            and self.arch in (None, arch)
            and self.scenario in (None, scenario)
        )

    def matches_test(self, test: str) -> bool:
        return fnmatch.fnmatchcase(test, self.test)

    def met_by(self, label: str | None) -> bool:
        """Whether a test's final label (None: the test is absent) meets this expectation."""
        if self.expected == ABSENT:
            return label is None
        if label is None:
            return False
        if self.expected == PRESENT:
            return True
        if self.expected == Outcome.CRASH.value:
            return label.startswith(Outcome.CRASH.value)
        return label == self.expected


@dataclass(frozen=True, slots=True)
class FlakyEntry:
    """A test known to be flaky; honoured until (and including) ``expires``, then it counts."""

    test: str  # fnmatch glob
    reason: str
    expires: datetime.date
    arch: str | None = None
    where: str = ""

    def matches(self, test: str, arch: str) -> bool:
        return self.arch in (None, arch) and fnmatch.fnmatchcase(test, self.test)

    def expired(self, today: datetime.date) -> bool:
        return today > self.expires
