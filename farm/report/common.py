"""Helpers every report format shares: trimming and cleaning untrusted test output, naming
columns, writing files.

Test output is untrusted (a test can print anything, including markup and control bytes), so
each format escapes it for itself, and all of them first drop what no format can carry.
"""

from __future__ import annotations

import re
from pathlib import Path

from farm.judging.gate import GateResult, Transition
from farm.nofollow import replace_file

#: Control characters that XML 1.0 forbids and that terminals and browsers mangle; tab,
#: newline and carriage return stay. Also the non-characters U+FFFE/U+FFFF and lone
#: surrogates (from output decoded with surrogateescape), which no UTF-8 writer accepts.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")

#: How much of a test's output a report shows: the end is where the failure is.
TAIL_LINES = 40
TAIL_CHARS = 4000


def clean(text: str) -> str:
    """Drop characters no report format can carry safely."""
    return _UNPRINTABLE.sub("", text)


def tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last ``lines`` lines (at most ``chars`` characters) of cleaned output."""
    kept = "\n".join(clean(text).rstrip("\n").splitlines()[-lines:]) if lines > 0 else ""
    return kept[-chars:] if chars > 0 else ""


def head(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The first ``lines`` lines (at most ``chars`` characters) of cleaned output: for a
    patch that does not apply, where git am's (or patch's) own output is, before the
    rejected hunks."""
    kept = "\n".join(clean(text).rstrip("\n").splitlines()[:lines])
    if len(kept) > chars:
        kept = kept[:chars] + "\n..."
    return kept


def column_name(result: GateResult, scenario: str, arch: str) -> str:
    """The arch alone when one scenario was judged (the usual case), else scenario/arch."""
    scenarios = {column[0] for column in result.columns}
    return arch if len(scenarios) <= 1 else f"{scenario}/{arch}"


def series_transitions(result: GateResult) -> dict[tuple[str, str, str, str], Transition]:
    """Each transition under the series-variant cell it describes, keyed like a record:
    (scenario, arch, variant, test). Transitions name their series, records their variant."""
    return {
        (t.scenario, t.arch, series.variant, t.test): t
        for series in result.series
        for arch in series.arches
        for t in arch.transitions
    }


def write_text(path: Path, text: str) -> Path:
    """Write a report, creating its directory, replacing (never following) a link of its
    name (``farm.nofollow``); returns the path for the caller to show."""
    return replace_file(path, text.encode("utf-8"))
