"""Reports of a gate over glibc's whole testsuite: thousands of tests per cell.

The Markdown must stay about one screen (its length must not grow with the number of tests),
the HTML must hold every test yet lead with what changed, and every format must carry the
gate's category of each changed test.
"""

from __future__ import annotations

import datetime
import json
import re
import xml.etree.ElementTree as ET
from functools import cache

from farm.judging.gate import Category, CellState, CellStatus, GateResult, evaluate
from farm.report.html import render_html
from farm.report.json import render_json
from farm.report.junit import render_junit
from farm.report.markdown import LIST_LIMIT, render_markdown
from farm.results import Outcome
from farm.results import TestResult as Record

TODAY = datetime.date(2026, 11, 22)
#: Per arch: how many tests of each kind (the rest pass in both variants).
SHAPE = {
    "regression": 40,
    "flaky": 30,
    "already": 200,
    "fixed": 300,
    "new-failing": 20,
    "vanished": 50,
}


def _records(kind: str, test: str, arch: str) -> list[Record]:
    def rec(variant: str, outcome: Outcome, attempt: int = 1) -> Record:
        return Record("s", arch, variant, test, outcome, attempt=attempt, output=f"{test} said")

    if kind == "regression":
        return [
            rec("baseline", Outcome.PASS),
            rec("fix", Outcome.FAIL),
            rec("fix", Outcome.FAIL, 2),
        ]
    if kind == "flaky":
        return [
            rec("baseline", Outcome.PASS),
            rec("fix", Outcome.FAIL),
            rec("fix", Outcome.PASS, 2),
        ]
    if kind == "already":
        return [
            rec("baseline", Outcome.FAIL),
            rec("fix", Outcome.FAIL),
            rec("fix", Outcome.FAIL, 2),
        ]
    if kind == "fixed":
        return [rec("baseline", Outcome.FAIL), rec("fix", Outcome.PASS)]
    if kind == "new-failing":
        return [rec("fix", Outcome.FAIL), rec("fix", Outcome.FAIL, 2)]
    if kind == "vanished":  # failing in the baseline, so no lost coverage: other change
        return [rec("baseline", Outcome.FAIL)]
    return [rec("baseline", Outcome.PASS), rec("fix", Outcome.PASS)]


@cache
def gate(tests: int) -> GateResult:
    """``tests`` glibc tests per arch, in the proportions of SHAPE."""
    kinds = [kind for kind, n in SHAPE.items() for _ in range(n)]
    kinds += ["unchanged"] * (tests - len(kinds))
    records = [
        record
        for arch in ("x86_64", "i686")
        for number, kind in enumerate(kinds)
        for record in _records(kind, f"glibc/sub{number % 40}/tst-{kind}-{number:05d}", arch)
    ]
    cells = [
        CellStatus("s", arch, variant, CellState.BUILT, image_id=f"sha256:{variant}")
        for arch in ("x86_64", "i686")
        for variant in ("baseline", "fix")
    ]
    return evaluate(records, cells, require_reproduction=True, today=TODAY)


def test_the_fixture_has_the_shape_the_tests_rely_on() -> None:
    result = gate(5000)
    (series,) = result.series
    for arch in series.arches:
        assert arch.counts == {
            Category.NEW_FAILURE: 60,
            Category.FLAKY: 30,
            Category.ALREADY_FAILING: 200,
            Category.FIXED: 300,
            Category.OTHER: 50,
        }
        assert arch.compared == 5000 - 20 - 50
        assert arch.unchanged == arch.compared - 40 - 30 - 200 - 300


def test_markdown_stays_one_screen_however_many_tests() -> None:
    small, large = render_markdown(gate(1000)), render_markdown(gate(5000))
    assert len(large.splitlines()) == len(small.splitlines()) < 150
    assert len(large.encode()) < 32 * 1024


def test_markdown_leads_with_counts_then_regressions() -> None:
    report = render_markdown(gate(5000))
    order = [report.index(h) for h in ("## Counts", "## Regressions", "## Flaky", "## Already")]
    assert order == sorted(order)
    assert "| fix | x86_64 | **60** | 30 | 200 | 300 | 50 | 4360 |" in report
    assert "*... and 72 more regression(s): see report.html or report.json" in report
    assert f"*... and {200 * 2 - LIST_LIMIT} more: see report.html or report.json" in report
    assert "## Already failing (bad in the baseline too) (400)" in report


def test_html_holds_every_test_with_the_unchanged_folded() -> None:
    page = render_html(gate(5000))
    assert page == render_html(gate(5000))  # deterministic
    rows = re.findall(r'<tr data-test="([^"]*)" data-status="([^"]*)"><th>', page)
    assert len(rows) == 5000  # the matrix: one row per test
    folded = page[page.index('<details class="rows">') :]
    unchanged = 5000 - sum(SHAPE.values())  # and passing in both variants
    assert folded.count("<tr data-test=") == unchanged
    assert f"{unchanged} test(s) passed or unchanged everywhere" in folded
    statuses = {status for _, status in rows}
    assert {"bad new-failure", "flaky", "already-failing bad", "bad fixed", "unchanged"} <= statuses
    headings = re.findall(r'<h3 id="([a-z-]+)">', page)
    assert headings == ["new-failure", "flaky", "already-failing", "fixed", "other-change"]
    assert '<div id="filters" hidden>' in page  # shown by the script only


def test_json_and_junit_carry_the_category() -> None:
    result = gate(1000)
    data = json.loads(render_json(result))
    arch = data["series"][0]["arches"][0]
    assert arch["counts"] == {
        "new failure": 60,
        "flaky": 30,
        "already failing": 200,
        "fixed": 300,
        "other change": 50,
    }
    assert arch["unchanged"] == 1000 - 70 - 570
    assert {t["category"] for t in arch["transitions"]} == {c.value for c in Category}
    root = ET.fromstring(render_junit(result))
    suite = next(s for s in root.iter("testsuite") if s.get("name") == "s-x86_64-fix")
    found = {
        case.get("name"): case.find("properties/property[@name='category']")
        for case in suite.iter("testcase")
    }
    regression = found["glibc/sub0/tst-regression-00000"]
    assert regression is not None and regression.get("value") == "new failure"
    assert found["glibc/sub0/tst-unchanged-00680"] is None  # unchanged: no category
