"""Test outcomes and the one policy over them: good, bad, rerun, regression.

The runner decides what to rerun, the gate what is a regression and whether it reproduced,
bisection whether a prefix regresses and the pytest plugin what pytest reports; each of them
asks this module. They used to carry their own sets of "good" outcomes, and drifted: the gate
called PASS -> UNSUPPORTED a regression that must reproduce on a rerun, while the runner never
reran an UNSUPPORTED, so such a regression could only ever end UNDECIDED.

The rules:

- bad: FAIL, TIMEOUT, CRASH, ERROR. Everything else ran (or was legitimately skipped)
  without failing. A CRASH that a hazard case exists to demonstrate (``natural_crash``) is
  the case behaving as designed: it is not rerun, does not fail a bisection step, is no
  regression and is reported as pytest's xfail. So every rule below takes a `Seen` (the
  outcome and whether its crash is the designed one), never a bare outcome: gate and
  bisection once called PASS -> designed CRASH a regression the runner never reran, which
  could only end "seen once, not rerun".
- regression (baseline -> series): behaved -> not behaved, and PASS/XPASS -> UNSUPPORTED
  (coverage lost: the series made a test skip itself).
- fix: not behaved -> PASS/XPASS.
- rerun: every outcome that could be the series side of a regression, so every regression can
  be confirmed: a bad outcome in any variant, and UNSUPPORTED in a series variant. The
  baseline's UNSUPPORTED is never the series side of anything, so it is not rerun.
- attempts disagree (the test is flaky): some attempts are bad and some not, or, against a
  baseline outcome, some attempts would be a regression and some not.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from farm import ids


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


BAD = frozenset({Outcome.FAIL, Outcome.TIMEOUT, Outcome.CRASH, Outcome.ERROR})
GOOD = frozenset(Outcome) - BAD
PASSING = frozenset({Outcome.PASS, Outcome.XPASS})


def is_bad(outcome: Outcome) -> bool:
    return outcome in BAD


def behaved(outcome: Outcome, *, natural_crash: bool = False) -> bool:
    """Not bad, or the crash a hazard case demonstrates (``expect: crash``)."""
    return not is_bad(outcome) or (outcome is Outcome.CRASH and natural_crash)


def needs_rerun(outcome: Outcome, variant: str, *, natural_crash: bool = False) -> bool:
    """Whether an attempt must be repeated to confirm what it would prove (see the rules)."""
    if not behaved(outcome, natural_crash=natural_crash):
        return True
    return outcome is Outcome.UNSUPPORTED and variant != ids.BASELINE


@dataclass(frozen=True, slots=True)
class Seen:
    """One attempt's outcome as the policy judges it: with whether its CRASH is the one its
    case exists to demonstrate (`farm.results.TestResult.seen` makes it)."""

    outcome: Outcome
    natural_crash: bool = False

    @property
    def behaved(self) -> bool:
        return behaved(self.outcome, natural_crash=self.natural_crash)


def is_regression(before: Seen, after: Seen) -> bool:
    """Whether baseline ``before`` -> series ``after`` is a regression."""
    if before.behaved and not after.behaved:
        return True
    return before.outcome in PASSING and after.outcome is Outcome.UNSUPPORTED


def is_fix(before: Seen, after: Seen) -> bool:
    return not before.behaved and after.outcome in PASSING


def attempts_disagree(attempts: Iterable[Seen], before: Seen | None = None) -> bool:
    """The attempts of one test disagree, so its final outcome proves nothing (flaky)."""
    seen = tuple(attempts)
    if len({attempt.behaved for attempt in seen}) > 1:
        return True
    return before is not None and len({is_regression(before, a) for a in seen}) > 1


class Report(enum.StrEnum):
    """How a test framework shows an outcome (pytest on the terminal, JUnit XML in CI)."""

    PASSED = "passed"
    SKIPPED = "skipped"  # UNSUPPORTED: did not run here
    XFAILED = "xfailed"  # failed as expected: glibc's XFAIL, a case's designed crash
    FAILED = "failed"
    ERROR = "error"  # the farm could not run it


def reported_as(seen: Seen) -> Report:
    """What pytest and JUnit show for ``seen``; both ask here, so a designed crash is an
    xfail in both (it was a ``<failure>`` in junit.xml while pytest showed an xfail)."""
    if seen.outcome is Outcome.ERROR:
        return Report.ERROR
    if seen.outcome is Outcome.UNSUPPORTED:
        return Report.SKIPPED
    if seen.outcome is Outcome.XFAIL or (seen.outcome is Outcome.CRASH and seen.natural_crash):
        return Report.XFAILED
    return Report.FAILED if is_bad(seen.outcome) else Report.PASSED


def outcome_of_label(label: str) -> Outcome:
    """``CRASH(SIGSEGV)`` -> CRASH; raises ValueError for a label that names no outcome."""
    return Outcome(label.partition("(")[0])


#: A whole outcome label: an outcome, and for CRASH optionally its signal.
_LABEL = re.compile(r"(?P<outcome>[A-Z]+)(?:\((?P<signal>SIG[A-Z0-9+-]+)\))?")


def checked_label(label: str) -> Outcome:
    """The outcome of ``label`` checked whole, as untrusted text: ``PASS``,
    ``CRASH(SIGSEGV)``; a signal only on CRASH. ValueError otherwise (its caller says where
    the label came from). The one grammar of labels, for scenario expectations and the
    flaky history alike."""
    match = _LABEL.fullmatch(label)
    try:
        found = Outcome(match["outcome"]) if match else None
    except ValueError:
        found = None
    if found is None or (match is not None and match["signal"] and found is not Outcome.CRASH):
        raise ValueError(f"{label!r} is not an outcome label such as PASS or CRASH(SIGSEGV)")
    return found
