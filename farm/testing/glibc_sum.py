"""Reading glibc's own test summaries: ``tests.sum``, ``subdir-tests.sum``, ``.test-result``.

glibc's ``scripts/evaluate-test.sh`` writes one ``<test>.test-result`` per test run, whose
first line is the verdict (``PASS: elf/tst-foo``) and whose second is ``original exit
status N``. ``scripts/merge-test-results.sh`` concatenates those first lines into a
subdirectory's ``subdir-tests.sum`` (``UNRESOLVED: elf/tst-foo`` when a test left no
result: it did not build), and those into the top-level ``tests.sum`` (``ERROR: test
results for elf directory missing`` when a whole subdirectory left none).

These files are read back from a container the tests under scrutiny could write to, so
they are untrusted input. Every line that is not blank ends up either as a test's outcome
or as an ``Anomaly`` that names its ``file:line`` — never dropped silently — and the
parsing never raises on garbage: the caller decides whether anomalies fail its run.

Rules, in the order they apply to a line:
- ``WORD: subdir/test`` with a known WORD gives that test its outcome (UNRESOLVED is ERROR:
  the farm's word for "could not build or start the test");
- the same test twice is an anomaly; when the two verdicts differ, the bad one stands (a
  summary that says both PASS and FAIL must not pass), and between two bad ones the first;
- an unknown WORD with a well-formed test name makes that test ERROR, plus an anomaly, so a
  verdict glibc might add one day is seen rather than lost;
- ``ERROR: test results for D directory missing`` records D as a missing subdirectory;
- anything else (garbage, a malformed name) is an anomaly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from farm.outcome import Outcome, is_bad

#: glibc's verdict words and the farm outcome each means.
GLIBC_VERDICTS: dict[str, Outcome] = {
    "PASS": Outcome.PASS,
    "FAIL": Outcome.FAIL,
    "UNSUPPORTED": Outcome.UNSUPPORTED,
    "XFAIL": Outcome.XFAIL,
    "XPASS": Outcome.XPASS,
    "ERROR": Outcome.ERROR,
    "UNRESOLVED": Outcome.ERROR,  # merge-test-results.sh: the test left no .test-result
}

#: ``subdir/test``; glibc's test names use letters, digits and ``._+-`` (``tst-foo-mcheck``,
#: ``check-abi-libc``); a name may have further ``/`` parts for tests in nested directories.
TEST_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.+-]*)+")
_LINE_RE = re.compile(r"([A-Z][A-Z_]*): (\S+)")
_MISSING_DIR_RE = re.compile(r"ERROR: test results for (\S+) directory missing")
_EXIT_STATUS_RE = re.compile(r"original exit status (-?\d+)")
#: How much of a bad line an anomaly quotes.
_QUOTE_CHARS = 120


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something in a summary that is not one clean verdict; ``where`` is ``file:line``."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True, slots=True)
class SumEntry:
    """One test's verdict as glibc wrote it, and where."""

    test: str  # subdir/test, as glibc names it
    outcome: Outcome
    word: str  # glibc's word: UNRESOLVED and ERROR both give Outcome.ERROR
    where: str


@dataclass(frozen=True, slots=True)
class GlibcSummary:
    """Every test of a summary once, in the order first seen, and what did not fit."""

    entries: tuple[SumEntry, ...]
    anomalies: tuple[Anomaly, ...]
    missing_subdirs: tuple[str, ...]

    def outcomes(self) -> dict[str, Outcome]:
        return {entry.test: entry.outcome for entry in self.entries}


def _quote(line: str) -> str:
    return repr(line if len(line) <= _QUOTE_CHARS else line[:_QUOTE_CHARS] + "...")


def parse_summary(text: str, *, source: str) -> GlibcSummary:
    """The tests of a ``tests.sum`` / ``subdir-tests.sum`` TEXT read from file SOURCE."""
    entries: dict[str, SumEntry] = {}
    anomalies: list[Anomaly] = []
    missing: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        where = f"{source}:{number}"
        entry, anomaly, missing_dir = _parse_line(line, where)
        if missing_dir is not None:
            missing.append(missing_dir)
        if anomaly is not None:
            anomalies.append(anomaly)
        if entry is None:
            continue
        earlier = entries.get(entry.test)
        if earlier is None:
            entries[entry.test] = entry
            continue
        if earlier.word == entry.word:
            anomalies.append(
                Anomaly(where, f"{entry.test} listed twice (first at {earlier.where})")
            )
            continue
        kept = entry if is_bad(entry.outcome) and not is_bad(earlier.outcome) else earlier
        anomalies.append(
            Anomaly(
                where,
                f"{entry.test} is {entry.word} here but {earlier.word} at {earlier.where}; "
                f"counting it as {kept.word}",
            )
        )
        entries[entry.test] = kept
    return GlibcSummary(tuple(entries.values()), tuple(anomalies), tuple(missing))


def _parse_line(line: str, where: str) -> tuple[SumEntry | None, Anomaly | None, str | None]:
    """One stripped, non-blank line: its entry, its anomaly, a subdirectory it says is missing."""
    missing = _MISSING_DIR_RE.fullmatch(line)
    if missing:
        subdir = missing.group(1)
        return None, Anomaly(where, f"glibc found no test results for directory {subdir}"), subdir
    found = _LINE_RE.fullmatch(line)
    if found is None:
        return None, Anomaly(where, f"not a glibc test verdict line: {_quote(line)}"), None
    word, test = found.groups()
    if not TEST_NAME_RE.fullmatch(test):
        return None, Anomaly(where, f"malformed test name in {_quote(line)}"), None
    outcome = GLIBC_VERDICTS.get(word)
    if outcome is None:
        known = ", ".join(GLIBC_VERDICTS)
        anomaly = Anomaly(where, f"unknown verdict {word!r} for {test} (known: {known}); ERROR")
        return SumEntry(test, Outcome.ERROR, word, where), anomaly, None
    return SumEntry(test, outcome, word, where), None, None


@dataclass(frozen=True, slots=True)
class TestResultFile:
    """A ``<test>.test-result``: its verdict and the test's exit status before XFAIL/77."""

    __test__ = False  # not a pytest test class, whatever its name says

    entry: SumEntry | None
    exit_status: int | None
    anomalies: tuple[Anomaly, ...]


def parse_test_result(text: str, *, source: str) -> TestResultFile:
    """What evaluate-test.sh wrote to file SOURCE: a verdict line, an exit status line."""
    summary_lines: list[str] = []
    status: int | None = None
    anomalies: list[Anomaly] = []
    for raw in text.splitlines():
        found = _EXIT_STATUS_RE.fullmatch(raw.strip())
        if found and status is None:
            status = int(found.group(1))
            summary_lines.append("")  # keep the line numbers of what follows
        else:
            summary_lines.append(raw)
    summary = parse_summary("\n".join(summary_lines), source=source)
    anomalies += summary.anomalies
    if len(summary.entries) > 1:
        anomalies.append(Anomaly(source, f"{len(summary.entries)} verdicts in one .test-result"))
    entry = summary.entries[0] if summary.entries else None
    if entry is None:
        anomalies.append(Anomaly(source, "no verdict line"))
    return TestResultFile(entry, status, tuple(anomalies))
