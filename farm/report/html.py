"""The HTML report: one self-contained page (inline CSS and a small inline script, no external
assets), so it can be uploaded as a CI artifact and opened offline.

It holds the verdicts, the series x arch table, the counts per category, the changes
separated by the gate's categories (new failures, flaky, already failing, fixed, other
changes), and the whole matrix as a colored grid (rows: tests; columns: scenario/arch x
variant). A grid cell links to that test's output below it. Every piece of text goes through
`_e`, because test output, test names and build messages are untrusted: a test printing
``<script>`` must show as text.

With glibc's whole testsuite a cell has thousands of tests, so the page stays usable: tests
that changed or ended bad are listed first, the rest (passed or unchanged everywhere) sit
collapsed in a ``<details>``, and a text filter and a status filter narrow every table. The
filters are the page's only script (`_SCRIPT`, a constant: the page stays deterministic);
without JavaScript they stay hidden and everything is shown.
"""

from __future__ import annotations

import html
from pathlib import Path

from farm.inputs.try_series import TryRecord
from farm.judging.gate import (
    AttemptHistory,
    Category,
    CellState,
    CellStatus,
    ChangeKind,
    GateResult,
    Transition,
)
from farm.report.common import (
    clean,
    column_name,
    head,
    series_transitions,
    tail,
    write_text,
)

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 .ACCEPT, td.ACCEPT { background: #c8e6c9; } h1 .REJECT, td.REJECT { background: #ffcdd2; }
h1 .UNDECIDED, td.UNDECIDED { background: #fff3c4; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.o { text-align: center; white-space: nowrap; }
td.PASS, td.XFAIL { background: #c8e6c9; } td.UNSUPPORTED { background: #eceff1; }
td.XPASS { background: #b3e5fc; } td.FAIL, td.ERROR { background: #ffcdd2; }
td.CRASH { background: #ef9a9a; } td.TIMEOUT { background: #ffe0b2; }
td.absent { background: #fafafa; color: #999; }
td.regression { outline: 3px solid #b71c1c; outline-offset: -3px; font-weight: bold; }
td.flaky { outline: 2px dashed #e65100; outline-offset: -2px; }
pre { background: #f6f6f6; padding: .5em; overflow-x: auto; max-height: 30em; }
section.log { border-top: 1px solid #ddd; }
section.log:target { background: #fffde7; }
a { color: inherit; }
#filters { position: sticky; top: 0; background: #fff; padding: .4em 0; z-index: 1; }
td.new-failure { background: #ffcdd2; } td.flaky { background: #ffe0b2; }
"""

#: The page's only script: shows the filters and applies them to every row that names a
#: test (``data-test``: the test id in lower case; ``data-status``: its categories and
#: "bad"). Constant, so the page stays byte-identical for the same gate result.
_SCRIPT = """
(function () {
  var box = document.getElementById("filters");
  if (!box) { return; }
  var text = document.getElementById("filter-text");
  var status = document.getElementById("filter-status");
  box.hidden = false;
  function apply() {
    var needle = text.value.toLowerCase();
    var want = status.value;
    var rows = document.querySelectorAll("tr[data-test]");
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var states = " " + row.getAttribute("data-status") + " ";
      row.hidden = row.getAttribute("data-test").indexOf(needle) < 0 ||
        (want !== "" && states.indexOf(" " + want + " ") < 0);
    }
    if (needle !== "" || want !== "") {
      var folded = document.querySelectorAll("details.rows");
      for (var j = 0; j < folded.length; j++) { folded[j].open = true; }
    }
  }
  text.addEventListener("input", apply);
  status.addEventListener("change", apply);
})();
"""
#: Row states the status filter offers, besides the categories: value, label.
_UNCHANGED = "unchanged"
_BAD = "bad"


def _e(value: object) -> str:
    """Escape anything for HTML text or a quoted attribute value."""
    return html.escape(clean(str(value)), quote=True)


def render_html(result: GateResult, *, tried: TryRecord | None = None) -> str:
    """The page; ``tried``: what ``farm try`` tried and why, shown under the verdict."""
    logs: list[str] = []
    body = [
        f'<h1>glibc-farm gate: <span class="{_e(result.verdict.value)}">'
        f"{_e(result.verdict.value)}</span> (exit {result.exit_status})</h1>",
        _tried(tried),
        _verdict_table(result),
        _counts(result),
        _reasons(result),
        _filters(),
        _changes(result),
        _matrix(result, logs),
        _notes(result),
        "<h2>Logs</h2>" + "".join(logs) if logs else "",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>glibc-farm gate: {_e(result.verdict.value)}</title>"
        f"<style>{_CSS}</style></head><body>\n"
        + "\n".join(part for part in body if part)
        + f"\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )


def write_html(result: GateResult, path: Path, *, tried: TryRecord | None = None) -> Path:
    return write_text(path, render_html(result, tried=tried))


def _tried(tried: TryRecord | None) -> str:
    """What ``farm try`` tried and why: every patch and every reason (the record is bounded)."""
    if tried is None:
        return ""

    def items(values: list[str]) -> str:
        return f"<ul>{''.join(f'<li>{_e(v)}</li>' for v in values)}</ul>" if values else ""

    total = len(tried.patches)
    commit = f" (<code>{_e(tried.base_commit)}</code>)" if tried.base_commit else ""
    tests = " ".join(f"<code>{_e(t)}</code>" for t in tried.glibc_tests) or "none"
    cases = " ".join(f"<code>{_e(c)}</code>" for c in tried.cases) or "none"
    return (
        '<h2>Tried</h2><ul class="tried">'
        f"<li>series: <code>{_e(tried.series)}</code>, {_e(tried.origin)}"
        f"{items([f'{p.number}/{total} {p.subject}' for p in tried.patches])}</li>"
        f"<li>base: {_e(tried.base_reason)}{commit}</li>"
        f"<li>glibc tests: {tests}{items(list(tried.glibc_reasons))}</li>"
        f"<li>farm cases: {cases}</li>"
        f"<li>template: <code>{_e(tried.template)}</code></li></ul>"
    )


def _verdict_table(result: GateResult) -> str:
    columns = result.columns
    head = "".join(f"<th>{_e(column_name(result, *c))}</th>" for c in columns)
    rows = []
    for series in result.series:
        by_column = {(a.scenario, a.arch): a.verdict.value for a in series.arches}
        cells = "".join(
            f'<td class="{_e(by_column.get(c, ""))}">{_e(by_column.get(c, "-"))}</td>'
            for c in columns
        )
        rows.append(
            f'<tr><th>{_e(series.series)}</th>{cells}<td class="{_e(series.verdict.value)}">'
            f"{_e(series.verdict.value)}</td></tr>"
        )
    return f"<table><tr><th>series</th>{head}<th>overall</th></tr>{''.join(rows)}</table>"


def _slug(value: str) -> str:
    return value.replace(" ", "-")


def _counts(result: GateResult) -> str:
    arches = [(s, a) for s in result.series for a in s.arches if a.compared or a.transitions]
    if not arches:
        return ""
    head = "".join(f"<th>{_e(c.value)}</th>" for c in Category)
    rows = []
    for series, arch in arches:
        counts = arch.counts
        cells = "".join(
            f'<td class="{_e(_slug(c.value)) if counts[c] else ""}">{counts[c]}</td>'
            for c in Category
        )
        rows.append(
            f"<tr><th>{_e(series.series)}</th>"
            f"<td>{_e(column_name(result, arch.scenario, arch.arch))}</td>{cells}"
            f"<td>{arch.unchanged}</td><td>{arch.compared}</td></tr>"
        )
    return (
        f"<h2>Counts</h2><table><tr><th>series</th><th>arch</th>{head}<th>unchanged</th>"
        f"<th>compared</th></tr>{''.join(rows)}</table>"
    )


def _filters() -> str:
    """The filter controls, hidden until the script shows them (no script: no dead box)."""
    options = [("", "any status"), *((_slug(c.value), c.value) for c in Category)]
    options += [(_UNCHANGED, "unchanged"), (_BAD, "bad outcome somewhere")]
    choices = "".join(
        f'<option value="{_e(value)}">{_e(label)}</option>' for value, label in options
    )
    return (
        '<div id="filters" hidden><label>tests containing <input id="filter-text" '
        'type="search" placeholder="glibc/elf/"></label> <label>status <select '
        f'id="filter-status">{choices}</select></label></div>'
    )


def _reasons(result: GateResult) -> str:
    items = []
    for series in result.series:
        for arch in series.arches:
            reasons = "".join(f"<li>{_e(reason)}</li>" for reason in arch.reasons)
            where = column_name(result, arch.scenario, arch.arch)
            items.append(
                f"<li><b>{_e(series.series)}</b> on {_e(where)}: {_e(arch.verdict.value)}"
                f"<ul>{reasons}</ul>{_provenance(arch.series_cell, arch.baseline_cell)}</li>"
            )
    return f"<h2>Verdicts</h2><ul>{''.join(items)}</ul>" if items else ""


def _provenance(*cells: CellStatus | None) -> str:
    rows = []
    for cell in cells:
        if cell is None:
            continue
        facts = [
            ("state", cell.state.value),
            ("image", cell.image_tag),
            ("image id", cell.image_id),
            ("glibc source sha256", cell.source_sha256),
            ("glibc commit", cell.source_commit),
            ("series sha256", cell.series_sha256),
            ("reproduce", cell.reproducer),
        ]
        shown = "; ".join(f"{_e(name)}: <code>{_e(value)}</code>" for name, value in facts if value)
        rows.append(f"<li><code>{_e(cell.cell)}</code>: {shown}</li>")
    return f"<ul>{''.join(rows)}</ul>" if rows else ""


_CHANGE_TITLES = {
    Category.NEW_FAILURE: "New failures",
    Category.FLAKY: "Flaky",
    Category.ALREADY_FAILING: "Already failing (bad in the baseline too)",
    Category.FIXED: "Fixed",
    Category.OTHER: "Other changes",
}


def _changes(result: GateResult) -> str:
    """One table per category, new failures first: what a reviewer must read first."""
    transitions = [t for s in result.series for a in s.arches for t in a.transitions]
    if not transitions:
        return ""
    parts = ["<h2>Changes</h2>"]
    for category, title in _CHANGE_TITLES.items():
        found = [t for t in transitions if t.category is category]
        if found:
            rows = "".join(_change_row(result, t) for t in found)
            parts.append(
                f'<h3 id="{_e(_slug(category.value))}">{_e(title)} ({len(found)})</h3><table>'
                "<tr><th>kind</th><th>test</th><th>series</th><th>arch</th><th>transition</th>"
                f"<th>attempts</th><th>note</th></tr>{rows}</table>"
            )
    return "".join(parts)


def _change_row(result: GateResult, t: Transition) -> str:
    return (
        f'<tr data-test="{_e(t.test.lower())}" data-status="{_e(_slug(t.category.value))}">'
        f"<td>{_e(t.kind.value)}</td><td><code>{_e(t.test)}</code></td>"
        f"<td>{_e(t.series)}</td><td>{_e(column_name(result, t.scenario, t.arch))}</td>"
        f"<td>{_e(t.transition)}</td><td>{_e(', '.join(t.attempts))}</td>"
        f"<td>{'rejects' if t.rejects else ''} {_e(t.note)}</td></tr>"
    )


def _matrix(result: GateResult, logs: list[str]) -> str:
    """The grid, appending one log section per cell that has something to show."""
    columns = sorted(
        {(h.scenario, h.arch, h.variant) for h in result.histories}
        | {(c.scenario, c.arch, c.variant) for c in result.cells},
        # The baseline first in each arch, so every row reads left to right as a transition.
        key=lambda c: (c[0], c[1], c[2] != result.baseline_variant, c[2]),
    )
    if not columns:
        return ""
    marks = _marks(result)
    cells = {(c.scenario, c.arch, c.variant): c for c in result.cells}
    by_key = {(h.scenario, h.arch, h.variant, h.test): h for h in result.histories}
    head = "".join(
        f"<th>{_e(column_name(result, s, a))}<br>{_e(v)}{_state(cells.get((s, a, v)), logs)}</th>"
        for s, a, v in columns
    )
    statuses = _row_statuses(result)
    shown: list[str] = []
    folded: list[str] = []
    for test in sorted({h.test for h in result.histories}):
        row = "".join(
            _grid_cell(by_key.get((*column, test)), marks.get((*column, test), ""), logs)
            for column in columns
        )
        status = statuses.get(test, set())
        if any(not h.final.is_good for c in columns if (h := by_key.get((*c, test)))):
            status = status | {_BAD}
        line = (
            f'<tr data-test="{_e(test.lower())}" data-status="{_e(" ".join(sorted(status)))}">'
            f"<th><code>{_e(test)}</code></th>{row}</tr>"
        )
        (shown if status - {_UNCHANGED} else folded).append(line)
    header = f"<tr><th>test</th>{head}</tr>"
    parts = [f"<h2>Matrix</h2><p>{len(shown)} test(s) changed or ended bad somewhere; "
             f"{len(folded)} passed or are unchanged everywhere.</p>"]  # fmt: skip
    if shown:
        parts.append(f"<table>{header}{''.join(shown)}</table>")
    if folded:
        parts.append(
            f'<details class="rows"><summary>{len(folded)} test(s) passed or unchanged '
            f"everywhere</summary><table>{header}{''.join(folded)}</table></details>"
        )
    return "".join(parts)


def _row_statuses(result: GateResult) -> dict[str, set[str]]:
    """Per test, the categories of its transitions; "unchanged" for tests without one."""
    found: dict[str, set[str]] = {h.test: {_UNCHANGED} for h in result.histories}
    for series in result.series:
        for arch in series.arches:
            for t in arch.transitions:
                found.setdefault(t.test, set()).discard(_UNCHANGED)
                found[t.test].add(_slug(t.category.value))
    return found


def _marks(result: GateResult) -> dict[tuple[str, str, str, str], str]:
    """CSS classes that outline a series-variant grid cell holding a regression or flake."""
    return {
        key: t.kind.value.lower()
        for key, t in series_transitions(result).items()
        if t.kind in (ChangeKind.REGRESSION, ChangeKind.FLAKY)
    }


def _state(cell: CellStatus | None, logs: list[str]) -> str:
    if cell is None or cell.state is CellState.BUILT:
        return ""
    anchor = f"log{len(logs)}"
    text = tail(cell.message)
    if cell.failed_patch is not None:
        patch = cell.failed_patch
        # git am's own output comes first in the reject, the rejected hunks after it.
        text = f"patch {patch.number} {patch.subject}\n{text}\n\n{head(patch.reject)}".strip()
    logs.append(
        f'<section class="log" id="{anchor}"><h3><code>{_e(cell.cell)}</code>: '
        f"{_e(cell.state.value)}</h3><pre>{_e(text)}</pre></section>"
    )
    return f'<br><a href="#{anchor}">{_e(cell.state.value)}</a>'


def _grid_cell(history: AttemptHistory | None, mark: str, logs: list[str]) -> str:
    if history is None:
        return '<td class="o absent">-</td>'
    classes = f"o {history.final.outcome.value} {mark}".strip()
    label = _e(history.label)
    if len(history.attempts) > 1:
        label += f" <small>({_e(', '.join(history.labels))})</small>"
    # Every attempt that printed something: for a flaky test the failing attempt's output
    # is the interesting one, even though the final attempt passed.
    outputs = [a for a in history.attempts if a.output]
    if not outputs:
        return f'<td class="{_e(classes)}">{label}</td>'
    anchor = f"log{len(logs)}"
    shown = "".join(
        (f"<h4>attempt {a.attempt}: {_e(a.label)}</h4>" if len(history.attempts) > 1 else "")
        + f"<pre>{_e(tail(a.output))}</pre>"
        for a in outputs
    )
    logs.append(
        f'<section class="log" id="{anchor}"><h3><code>{_e(history.test)}</code> in '
        f"<code>{_e(history.cell)}</code>: {_e(history.label)}</h3>{shown}</section>"
    )
    return f'<td class="{_e(classes)}"><a href="#{anchor}">{label}</a></td>'


def _notes(result: GateResult) -> str:
    unmet = dict.fromkeys(
        f"{column_name(result, u.scenario, u.arch)}: {u.describe()}"
        for s in result.series
        for a in s.arches
        for u in a.unmet
    )
    expired = [
        f"flaky entry {e.test} expired on {e.expires.isoformat()} and is not honoured ({e.reason})"
        for e in result.expired_flaky
    ]
    parts = []
    for title, items in (
        ("Unmet expectations", list(unmet)),
        ("Expired flaky entries", expired),
        ("Warnings", list(result.warnings)),
    ):
        if items:
            parts.append(f"<h2>{title}</h2><ul>{''.join(f'<li>{_e(i)}</li>' for i in items)}</ul>")
    return "".join(parts)
