"""The JUnit XML report, for CI systems that draw test tables from it (GitLab, Jenkins...).

One ``<testsuite>`` per cell, one ``<testcase>`` per test (its final attempt), shown as
`farm.outcome.reported_as` says, like pytest shows it: FAIL, CRASH and TIMEOUT are
``<failure>``, ERROR is ``<error>``, UNSUPPORTED, XFAIL and the crash a hazard case is designed
to die of are ``<skipped>`` (as pytest reports xfail), PASS and XPASS pass. A cell that did not
build gets a single ``build`` test case with an ``<error>``, so the failure shows where people
look. Earlier attempts are listed in ``system-out``: a flaky test is visible without turning
the case red. A test of a series variant that the gate put in a category (new failure, flaky,
already failing, fixed, other change) carries it as the test case's ``category`` property, so a
CI test pane can tell a new failure from one the baseline already had.

Built with xml.etree, which escapes markup; characters XML 1.0 cannot carry at all (control
bytes a test may print) are dropped first by `clean`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from farm.judging.gate import AttemptHistory, CellState, CellStatus, GateResult
from farm.outcome import Report, reported_as
from farm.report.common import clean, series_transitions, tail, write_text

_FAILED = {Report.FAILED: "failure", Report.ERROR: "error"}
_SKIPPED = frozenset({Report.SKIPPED, Report.XFAILED})


def render_junit(result: GateResult) -> str:
    root = ET.Element("testsuites", name="glibc-farm")
    by_cell: dict[tuple[str, str, str], list[AttemptHistory]] = defaultdict(list)
    for history in result.histories:
        by_cell[(history.scenario, history.arch, history.variant)].append(history)
    cells = {(c.scenario, c.arch, c.variant): c for c in result.cells}
    categories = {key: t.category.value for key, t in series_transitions(result).items()}
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for key in sorted(set(by_cell) | set(cells)):
        suite = _suite(root, "-".join(key), cells.get(key), by_cell.get(key, []), categories)
        for name in totals:
            totals[name] += int(suite.get(name, "0"))
    for name, count in totals.items():
        root.set(name, str(count))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(result: GateResult, path: Path) -> Path:
    return write_text(path, render_junit(result))


def _suite(
    root: ET.Element,
    name: str,
    cell: CellStatus | None,
    histories: list[AttemptHistory],
    categories: dict[tuple[str, str, str, str], str],
) -> ET.Element:
    suite = ET.SubElement(root, "testsuite", name=clean(name))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    time = 0.0
    if cell is not None:
        properties = ET.SubElement(suite, "properties")
        for prop, value in (
            ("state", cell.state.value),
            ("image", cell.image_tag),
            ("image_id", cell.image_id),
            ("source_sha256", cell.source_sha256),
            ("source_commit", cell.source_commit),
            ("series_sha256", cell.series_sha256),
            ("reproducer", cell.reproducer),
        ):
            if value:
                ET.SubElement(properties, "property", name=prop, value=clean(value))
        if cell.state is not CellState.BUILT:
            case = ET.SubElement(suite, "testcase", classname=clean(name), name="build")
            error = ET.SubElement(case, "error", message=clean(cell.state.value), type="build")
            error.text = _build_log(cell)
            counts["tests"] += 1
            counts["errors"] += 1
    for history in histories:
        final = history.final
        time += final.duration
        case = ET.SubElement(
            suite,
            "testcase",
            classname=clean(name),
            name=clean(history.test),
            time=f"{final.duration:.3f}",
        )
        counts["tests"] += 1
        category = categories.get((history.scenario, history.arch, history.variant, history.test))
        if category is not None:
            properties = ET.SubElement(case, "properties")
            ET.SubElement(properties, "property", name="category", value=category)
        output = clean(tail(final.output))
        label = clean(history.label)
        carried = False  # whether a failure/error element already holds the output
        shown = reported_as(final.seen)
        if (kind := _FAILED.get(shown)) is not None:
            ET.SubElement(case, kind, message=label, type=label).text = output
            counts["errors" if kind == "error" else "failures"] += 1
            carried = True
        elif shown in _SKIPPED:
            ET.SubElement(case, "skipped", message=label)
            counts["skipped"] += 1
        notes = [f"attempts: {', '.join(history.labels)}"] if len(history.attempts) > 1 else []
        if output and not carried:
            notes.append(output)
        if notes:
            ET.SubElement(case, "system-out").text = clean("\n".join(notes))
    for count_name, count in counts.items():
        suite.set(count_name, str(count))
    suite.set("time", f"{time:.3f}")
    return suite


def _build_log(cell: CellStatus) -> str:
    text = cell.message
    if cell.failed_patch is not None:
        patch = cell.failed_patch
        text = f"patch {patch.number} {patch.subject} does not apply\n{text}\n{patch.reject}"
    return clean(tail(text.strip()))
