"""The Markdown report: what a reviewer reads first, in a PR comment or a GitHub step summary.

Order matters: the verdict, then (for a ``farm try`` run) what was tried and why (the series
and its revision, the base and why, the glibc tests selected and why), the series x arch
table, the counts per category (new failure, flaky, already failing, fixed, other change,
unchanged), then why (regressions with the tail of their output, flaky and already failing
tests, fixes, new and vanished tests, unmet expectations), then how to reproduce. Test names
and messages are escaped; output goes in fences longer than any backtick run inside it, so a
test cannot break out of its block.

It stays about one screen however many tests were compared (glibc's whole testsuite is
thousands per cell): only the first `DETAILED_REGRESSIONS` regressions show their output,
every list stops after `LIST_LIMIT` items with "and N more", and the full lists are in
report.html and report.json.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from farm.inputs.try_series import TryRecord
from farm.judging.gate import Category, CellStatus, ChangeKind, GateResult, Transition, Verdict
from farm.report.common import clean, column_name, head, tail, write_text

#: GitHub rejects a step summary over 1 MiB; leave room for other steps' summaries.
STEP_SUMMARY_LIMIT = 512 * 1024
#: How many items a list shows before "and N more" points to the HTML and JSON reports.
LIST_LIMIT = 5
#: How many regressions show their output here; the rest are listed.
DETAILED_REGRESSIONS = 3
#: Lines of a regression's output shown here (the HTML report shows more).
OUTPUT_LINES = 20
_MORE = "see report.html or report.json for all of them"

# Characters that start markup anywhere in a line; "_" only at a word edge (GFM ignores it
# inside words, so "x86_64" stays readable), and block markers only at the start of a line.
_MD_INLINE = re.compile(r"([\\`*\[\]<|~])")
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_MD_BLOCK_START = tuple("#>+-=!")

_DONE = {Verdict.ACCEPT: "accepted", Verdict.REJECT: "rejected", Verdict.UNDECIDED: "undecided"}

_SECTIONS = (
    (ChangeKind.ALREADY_FAILING, "Already failing (bad in the baseline too)"),
    (ChangeKind.FIX, "Fixes"),
    (ChangeKind.XPASS, "Unexpected passes (XFAIL -> XPASS)"),
    (ChangeKind.CHANGED, "Other changes"),
    (ChangeKind.NEW, "New tests"),
    (ChangeKind.VANISHED, "Vanished tests"),
)


def text(value: str) -> str:
    """Escape untrusted text for inline Markdown (one line, no markup, no raw HTML)."""
    escaped = _MD_INLINE.sub(r"\\\1", " ".join(clean(value).split()).replace("&", "&amp;"))
    escaped = _MD_UNDERSCORE.sub(r"\\_", escaped)
    return "\\" + escaped if escaped.startswith(_MD_BLOCK_START) else escaped


def code(value: str, *, in_table: bool = False) -> str:
    """An inline code span for untrusted text (escapes do not work inside code spans).

    In a table cell a pipe still ends the cell even inside a span, so GFM wants it as ``\\|``.
    """
    one_line = " ".join(clean(value).split())
    if in_table:
        one_line = one_line.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", one_line)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if one_line.startswith("`") or one_line.endswith("`") else ""
    return f"{ticks}{pad}{one_line}{pad}{ticks}"


def fenced(body: str, info: str = "text") -> str:
    """A fenced block that its own content cannot close."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def render_markdown(
    result: GateResult, *, output_lines: int = OUTPUT_LINES, tried: TryRecord | None = None
) -> str:
    """The whole report; ``output_lines=0`` leaves test output out (for size limits);
    ``tried``: what ``farm try`` tried, shown under the verdict."""
    parts = [
        f"# glibc-farm gate: {result.verdict.value} (exit {result.exit_status})",
        _summary(result),
        _tried(tried),
        _table(result),
        _counts(result),
        _reasons(result),
        _regressions(result, output_lines),
        _flaky(result),
    ]
    for kind, title in _SECTIONS:
        parts.append(_transition_table(result, title, _all(result, kind)))
    parts += [_unmet(result), _warnings(result), _reproducers(result)]
    return "\n\n".join(part for part in parts if part) + "\n"


def write_markdown(result: GateResult, path: Path, *, tried: TryRecord | None = None) -> Path:
    return write_text(path, render_markdown(result, tried=tried))


def append_step_summary(
    result: GateResult, summary_path: Path | None, *, tried: TryRecord | None = None
) -> Path | None:
    """Append the report to GitHub's ``$GITHUB_STEP_SUMMARY`` file, when there is one.

    The caller reads the variable and passes its value (None or empty: not on GitHub), so
    the core never reads the environment. Output is dropped, then the text cut, to stay
    under GitHub's size limit rather than lose the whole summary.
    """
    if summary_path is None or not str(summary_path):
        return None
    report = render_markdown(result, tried=tried)
    if len(report.encode()) > STEP_SUMMARY_LIMIT:
        report = render_markdown(result, output_lines=0, tried=tried)
    if len(report.encode()) > STEP_SUMMARY_LIMIT:
        cut = report.encode()[: STEP_SUMMARY_LIMIT - 200].decode(errors="ignore")
        report = cut + "\n\n*(summary cut to fit GitHub's limit; see the full report)*\n"
    with summary_path.open("a", encoding="utf-8") as stream:
        stream.write(report)
    return summary_path


def _all(result: GateResult, kind: ChangeKind) -> list[Transition]:
    return [t for s in result.series for a in s.arches for t in a.transitions if t.kind is kind]


def _summary(result: GateResult) -> str:
    counts = {verdict: sum(s.verdict is verdict for s in result.series) for verdict in Verdict}
    said = ", ".join(f"{n} {_DONE[v]}" for v, n in counts.items() if n)
    return f"**{result.verdict.value}**: {len(result.series)} series ({said or 'none judged'})."


def _tried(tried: TryRecord | None) -> str:
    """What ``farm try`` tried and why, in a few lines (every reason: report.html, .json)."""
    if tried is None:
        return ""
    patches = [f"  - {p.number}/{len(tried.patches)} {text(p.subject)}" for p in tried.patches]
    reasons = [f"  - {text(reason)}" for reason in tried.glibc_reasons]
    tests = " ".join(code(entry) for entry in tried.glibc_tests) or "none"
    lines = [
        f"- series: {code(tried.series)}, {text(tried.origin)}",
        *patches[:LIST_LIMIT],
        _indented_more(len(patches), " patch(es)"),
        f"- base: {text(tried.base_reason)}"
        + (f" ({code(tried.base_commit)})" if tried.base_commit else ""),
        f"- glibc tests: {tests}",
        *reasons[:LIST_LIMIT],
        _indented_more(len(reasons), " reason(s)"),
        f"- farm cases: {' '.join(code(c) for c in tried.cases) or 'none'}",
        f"- template: {code(tried.template)}",
    ]
    return "## Tried\n\n" + "\n".join(line for line in lines if line)


def _indented_more(total: int, what: str) -> str:
    more = _more(min(total, LIST_LIMIT), total, what)
    return f"  - {more}" if more else ""


def _table(result: GateResult) -> str:
    if not result.series:
        return ""
    columns = result.columns
    head = ["series", *(column_name(result, *c) for c in columns)]
    rows = [
        "| " + " | ".join(text(h) for h in head) + " |",
        "|" + " --- |" * len(head),
    ]
    for series in result.series:
        by_column = {(a.scenario, a.arch): a.verdict.value for a in series.arches}
        row = [f"**{text(series.series)}**", *(by_column.get(c, "-") for c in columns)]
        rows.append("| " + " | ".join(row) + " |")
    return "\n".join(rows)


def _counts(result: GateResult) -> str:
    """Per series and arch, how many tests fell in each category (the gate's categories)."""
    arches = [(s, a) for s in result.series for a in s.arches if a.compared or a.transitions]
    if not arches:
        return ""
    head = ["series", "arch", *(c.value for c in Category), "unchanged"]
    rows = [
        "## Counts",
        "",
        "| " + " | ".join(head) + " |",
        "|" + " --- |" * len(head),
    ]
    for series, arch in arches:
        counts = arch.counts
        cells = [
            text(series.series),
            text(column_name(result, arch.scenario, arch.arch)),
            *(f"**{counts[c]}**" if counts[c] and c is Category.NEW_FAILURE else str(counts[c])
              for c in Category),
            str(arch.unchanged),
        ]  # fmt: skip
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _more(shown: int, total: int, what: str = "") -> str:
    """The line that ends a truncated list, or nothing when the list was whole."""
    hidden = total - shown
    return f"*... and {hidden} more{what}: {_MORE}*" if hidden > 0 else ""


def _reasons(result: GateResult) -> str:
    lines = ["## Verdicts"]
    for series in result.series:
        lines.append(f"### {text(series.series)}: {series.verdict.value}")
        for arch in series.arches:
            where = column_name(result, arch.scenario, arch.arch)
            lines.append(f"- **{text(where)}**: {arch.verdict.value}")
            lines += [f"  - {text(reason)}" for reason in arch.reasons]
    return "\n".join(lines) if result.series else ""


def _where(result: GateResult, t: Transition) -> str:
    return f"{text(t.series)} on {text(column_name(result, t.scenario, t.arch))}"


def _regressions(result: GateResult, output_lines: int) -> str:
    found = _all(result, ChangeKind.REGRESSION)
    if not found:
        return ""
    # Those that reject first: they are what the verdict stands on.
    found.sort(key=lambda t: not t.rejects)
    lines = ["## Regressions"]
    for t in found[:DETAILED_REGRESSIONS]:
        status = "rejects" if t.rejects else "not confirmed, does not reject"
        lines.append(
            f"### {code(t.test)}: {text(t.transition)}\n\n"
            f"{_where(result, t)}; attempts: {text(', '.join(t.attempts))}; {status}"
            + (f"; {text(t.note)}" if t.note else "")
        )
        shown = tail(t.output, output_lines)
        if shown:
            lines.append(fenced(shown))
    rest = found[DETAILED_REGRESSIONS:]
    if rest:
        lines.append(_rows(result, rest[:LIST_LIMIT]))
        lines.append(_more(min(len(rest), LIST_LIMIT), len(rest), " regression(s)"))
    return "\n\n".join(line for line in lines if line)


def _rows(result: GateResult, found: Iterable[Transition]) -> str:
    """One table row per transition; the arch column names the toolchain's scenario label
    too when a run has several (two i686 rows must say which toolchain each is)."""
    rows = [
        f"| {code(t.test, in_table=True)} | {text(t.series)} "
        f"| {text(column_name(result, t.scenario, t.arch))} "
        f"| {text(t.transition)} | {text(t.note)} |"
        for t in found
    ]
    head = "| test | series | arch | transition | note |\n| --- | --- | --- | --- | --- |"
    return f"{head}\n" + "\n".join(rows)


def _transition_table(result: GateResult, title: str, found: list[Transition]) -> str:
    if not found:
        return ""
    more = _more(min(len(found), LIST_LIMIT), len(found))
    return f"## {title} ({len(found)})\n\n{_rows(result, found[:LIST_LIMIT])}" + (
        f"\n\n{more}" if more else ""
    )


def _unmet(result: GateResult) -> str:
    seen = dict.fromkeys(
        (column_name(result, u.scenario, u.arch), u.describe())
        for s in result.series
        for a in s.arches
        for u in a.unmet
    )
    if not seen:
        return ""
    lines = ["## Unmet expectations"]
    lines += [f"- {text(arch)}: {text(described)}" for arch, described in list(seen)[:LIST_LIMIT]]
    lines.append(_more(min(len(seen), LIST_LIMIT), len(seen)))
    return "\n".join(line for line in lines if line)


def _flaky(result: GateResult) -> str:
    flaky = _all(result, ChangeKind.FLAKY)
    lines = [
        f"- {code(t.test)} ({_where(result, t)}): {text(t.transition)}; "
        f"attempts {text(', '.join(t.attempts))}; {text(t.note)}"
        for t in flaky[:LIST_LIMIT]
    ]
    lines.append(_more(min(len(flaky), LIST_LIMIT), len(flaky)))
    expired = [
        f"- flaky entry {code(e.test)} expired on {e.expires.isoformat()} and is not "
        f"honoured ({text(e.reason)})"
        for e in result.expired_flaky
    ]
    lines += expired[:LIST_LIMIT]
    lines.append(_more(min(len(expired), LIST_LIMIT), len(expired), " expired entries"))
    lines = [line for line in lines if line]
    return f"## Flaky ({len(flaky)})\n\n" + "\n".join(lines) if lines else ""


def _warnings(result: GateResult) -> str:
    if not result.warnings:
        return ""
    shown = [f"- {text(w)}" for w in result.warnings[:LIST_LIMIT]]
    more = _more(len(shown), len(result.warnings), " warning(s)")
    return "## Warnings\n\n" + "\n".join(shown + ([more] if more else []))


def _cell_lines(cell: CellStatus) -> list[str]:
    facts = [
        ("image", cell.image_tag),
        ("image id", cell.image_id),
        ("glibc source sha256", cell.source_sha256),
        ("glibc commit", cell.source_commit),
        ("series sha256", cell.series_sha256),
    ]
    lines = [f"- {code(cell.cell)}: {cell.state.value}"]
    lines += [f"  - {name}: {code(value)}" for name, value in facts if value]
    if cell.reproducer:
        lines.append(f"  - reproduce: {code(cell.reproducer)}")
    if cell.failed_patch is not None and cell.failed_patch.reject:
        # git am's own output comes first, the rejected hunks after it: show the start.
        lines.append("\n" + fenced(head(cell.failed_patch.reject), "diff"))
    return lines


def _reproducers(result: GateResult) -> str:
    """Each cell once, the baseline's first: every series verdict refers to these."""
    order = {result.baseline_variant: 0}
    cells = sorted(result.cells, key=lambda c: (order.get(c.variant, 1), c.variant, c.cell))
    lines = [line for cell in cells for line in _cell_lines(cell)]
    return "## Reproducers\n\n" + "\n".join(lines) if lines else ""
