"""Every report format, rendered from one gate result with hostile test output in it."""

from __future__ import annotations

import datetime
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from farm.judging.gate import (
    CellState,
    CellStatus,
    Expectation,
    FailedPatch,
    FlakyEntry,
    GateResult,
    SeriesInfo,
    SeriesPatch,
    evaluate,
)
from farm.report.html import _SCRIPT, render_html, write_html
from farm.report.json import SCHEMA_VERSION, render_json, write_json
from farm.report.junit import render_junit, write_junit
from farm.report.markdown import (
    append_step_summary,
    code,
    fenced,
    render_markdown,
    text,
    write_markdown,
)
from farm.results import Outcome
from farm.results import TestResult as Record

TODAY = datetime.date(2026, 11, 22)
SCRIPT = "<script>alert('pwned')</script>"
CRASH_OUTPUT = "calling free twice\n```\nnot a fence end\x00\x1b[31m\nSegmentation fault"


def rec(variant: str, test: str, outcome: Outcome, **kw: Any) -> Record:
    return Record(
        scenario="s",
        arch=kw.pop("arch", "x86_64"),
        variant=variant,
        test=test,
        outcome=outcome,
        **kw,
    )


@pytest.fixture(scope="module")
def result() -> GateResult:
    """fix: x86_64 REJECT (a SIGSEGV regression), i686 ACCEPT with a flake, a fix, an XPASS;
    broken: patch 2 does not apply on x86_64."""
    records = []
    for arch in ("x86_64", "i686"):
        records += [
            rec("baseline", "farm/malloc/double-free", Outcome.PASS, arch=arch),
            rec("baseline", "glibc/elf/tst-fixed", Outcome.FAIL, arch=arch, output="was broken"),
            rec("baseline", "glibc/math/test-xpass", Outcome.XFAIL, arch=arch),
            rec("baseline", "glibc/misc/tst-unsup", Outcome.UNSUPPORTED, arch=arch),
            rec("baseline", "glibc/misc/tst-error", Outcome.ERROR, arch=arch, output="no gcc"),
            rec("baseline", "glibc/misc/tst-gone", Outcome.PASS, arch=arch),
            rec("fix", "glibc/elf/tst-fixed", Outcome.PASS, arch=arch),
            rec("fix", "glibc/math/test-xpass", Outcome.XPASS, arch=arch),
            rec("fix", "glibc/misc/tst-unsup", Outcome.UNSUPPORTED, arch=arch),
            rec("fix", "glibc/misc/tst-error", Outcome.ERROR, arch=arch, output="no gcc"),
            rec("fix", f"glibc/new/{SCRIPT}", Outcome.PASS, arch=arch, output=SCRIPT),
        ]
    for attempt in (1, 2):
        records.append(
            rec(
                "fix",
                "farm/malloc/double-free",
                Outcome.CRASH,
                signal="SIGSEGV",
                attempt=attempt,
                output=CRASH_OUTPUT,
                duration=0.5,
            )
        )
    records += [
        rec("fix", "farm/malloc/double-free", Outcome.TIMEOUT, arch="i686", output="slow"),
        rec("fix", "farm/malloc/double-free", Outcome.PASS, arch="i686", attempt=2),
    ]
    cells = [
        CellStatus(
            "s",
            arch,
            variant,
            CellState.BUILT,
            image_tag=f"farm/s:{arch}-{variant}",
            image_id="sha256:" + "a" * 64,
            source_sha256="1" * 64,
            series_sha256="2" * 64 if variant != "baseline" else "",
            reproducer=f"farm run scenarios/s.yaml --only s-{arch}-{variant}",
        )
        for arch in ("x86_64", "i686")
        for variant in ("baseline", "fix")
    ]
    cells.append(
        CellStatus(
            "s",
            "x86_64",
            "broken",
            CellState.PATCH_FAILED,
            message="git am failed",
            failed_patch=FailedPatch(2, reject=f"@@ -1 +1 @@\n-{SCRIPT}"),
            reproducer="farm run scenarios/s.yaml --only s-x86_64-broken",
        )
    )
    return evaluate(
        records,
        cells,
        require_reproduction=True,
        today=TODAY,
        series=[SeriesInfo("broken", (SeriesPatch(1, "a"), SeriesPatch(2, "string: fix memcpy")))],
        expectations=[Expectation("fix", "glibc/misc/tst-unsup", "PASS", arch="i686")],
        flaky=[FlakyEntry("glibc/old/*", "old entry", TODAY - datetime.timedelta(days=3))],
    )


def test_fixture_has_the_verdicts_the_report_tests_rely_on(result: GateResult) -> None:
    verdicts = {(s.series, a.arch): a.verdict.value for s in result.series for a in s.arches}
    assert verdicts == {
        ("broken", "i686"): "UNDECIDED",
        ("broken", "x86_64"): "REJECT",
        ("fix", "i686"): "REJECT",  # the unmet expectation
        ("fix", "x86_64"): "REJECT",
    }
    assert result.exit_status == 1


# ------------------------------------------------------------------ markdown


def test_markdown_starts_with_the_verdict_then_the_table(result: GateResult) -> None:
    report = render_markdown(result)
    lines = report.splitlines()
    assert lines[0] == "# glibc-farm gate: REJECT (exit 1)"
    assert "| series | i686 | x86_64 |" in lines
    assert "| **fix** | REJECT | REJECT |" in lines
    assert report.index("| series |") < report.index("## Regressions")


def test_markdown_names_the_regression_with_its_output(result: GateResult) -> None:
    report = render_markdown(result)
    section = report[report.index("## Regressions") : report.index("## Fixes")]
    assert "### `farm/malloc/double-free`: PASS -> CRASH(SIGSEGV)" in section
    assert "attempts: CRASH(SIGSEGV), CRASH(SIGSEGV); rejects" in section
    # The output has a ``` line: the fence must be longer so the block is not closed early.
    assert (
        "````text\ncalling free twice\n```\nnot a fence end[31m\nSegmentation fault\n````"
        in section
    )
    assert "\x00" not in report and "\x1b" not in report


def test_markdown_lists_the_other_sections(result: GateResult) -> None:
    report = render_markdown(result)
    for heading in (
        "## Fixes",
        "## Unexpected passes",
        "## New tests",
        "## Vanished tests",
        "## Unmet expectations",
        "## Flaky",
        "## Reproducers",
    ):
        assert heading in report
    assert "`glibc/elf/tst-fixed` | fix | x86_64 | FAIL -> PASS" in report
    assert "i686: fix: glibc/misc/tst-unsup expected PASS, got UNSUPPORTED" in report
    assert "flaky entry `glibc/old/*` expired on 2026-11-19 and is not honoured" in report
    assert "reproduce: `farm run scenarios/s.yaml --only s-x86_64-fix`" in report
    assert report.count("--only s-x86_64-baseline`") == 1  # each cell once, not per series
    assert "patch 2/3" not in report and "patch 2/2 'string: fix memcpy' does not apply" in report


def test_markdown_escapes_markup_outside_code(result: GateResult) -> None:
    report = render_markdown(result)
    assert SCRIPT not in report.replace("`glibc/new/" + SCRIPT + "`", "").replace(
        "\n-" + SCRIPT, ""
    )


def test_markdown_text_escapes_markup_but_stays_readable() -> None:
    assert text("<b>x</b> | *bold* [l](u) `c`") == "\\<b>x\\</b> \\| \\*bold\\* \\[l\\](u) \\`c\\`"
    assert text("x86_64 _em_ a&b") == "x86_64 \\_em\\_ a&amp;b"
    assert text("# not a heading\nsecond line") == "\\# not a heading second line"
    assert code("a`b|c", in_table=True) == "``a`b\\|c``"


def test_fence_is_longer_than_any_backtick_run() -> None:
    assert fenced("a ````` b").startswith("``````text\n")
    assert fenced("plain") == "```text\nplain\n```"


def test_step_summary_appends_only_when_a_path_is_given(result: GateResult, tmp_path: Path) -> None:
    assert append_step_summary(result, None) is None
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    assert append_step_summary(result, summary) == summary
    content = summary.read_text()
    assert content.startswith("earlier step\n# glibc-farm gate: REJECT")


def test_write_markdown_creates_directories(result: GateResult, tmp_path: Path) -> None:
    path = write_markdown(result, tmp_path / "out" / "gate.md")
    assert path.read_text() == render_markdown(result)


# ------------------------------------------------------------------ html


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.tags: list[str] = []
        self.classes: list[str] = []
        self.srcs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        self.srcs += [str(value) for name, value in attrs if name in ("src", "href") and value]
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "a":
            self.links.append(str(found.get("href")))
        if found.get("class"):
            self.classes.append(str(found["class"]))


def test_html_escapes_untrusted_text(result: GateResult) -> None:
    page = render_html(result)
    # The only script is the farm's own filter, verbatim; a test's <script> is text.
    assert page.count("<script") == 1 and f"<script>{_SCRIPT}</script>" in page
    assert "alert(" not in page.replace("&lt;script&gt;alert(&#x27;pwned&#x27;)", "")
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert "\x00" not in page and "\x1b" not in page


def test_html_is_self_contained_and_links_resolve(result: GateResult) -> None:
    page = render_html(result)
    parser = _Page()
    parser.feed(page)
    assert parser.tags.count("script") == 1  # the inline filter, no src
    assert "link" not in parser.tags and "img" not in parser.tags
    assert all(src.startswith("#") for src in parser.srcs)  # nothing loaded from elsewhere
    assert "<style>" in page
    assert parser.links and all(link.startswith("#") for link in parser.links)
    assert {link[1:] for link in parser.links} <= parser.ids


def test_html_grid_colors_and_marks_cells(result: GateResult) -> None:
    parser = _Page()
    parser.feed(render_html(result))
    assert "o CRASH regression" in parser.classes
    assert "o PASS flaky" in parser.classes  # i686's TIMEOUT-then-PASS
    assert "o absent" in parser.classes
    page = render_html(result)
    assert "Segmentation fault" in page  # the crash's log is on the page
    assert "attempt 1: TIMEOUT</h4><pre>slow</pre>" in page  # a flake's failing attempt
    assert "PATCH_FAILED" in page and "string: fix memcpy" in page


def test_write_html(result: GateResult, tmp_path: Path) -> None:
    assert write_html(result, tmp_path / "r.html").read_text() == render_html(result)


# ------------------------------------------------------------------ json


def test_json_is_stable_sorted_and_versioned(result: GateResult, tmp_path: Path) -> None:
    report = render_json(result)
    data = json.loads(report)
    assert report == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert data["schema"] == SCHEMA_VERSION
    assert (data["verdict"], data["exit_status"]) == ("REJECT", 1)
    assert write_json(result, tmp_path / "g.json").read_text() == report


def test_json_holds_the_whole_decision(result: GateResult) -> None:
    data = json.loads(render_json(result))
    fix = next(s for s in data["series"] if s["series"] == "fix")
    x86 = next(a for a in fix["arches"] if a["arch"] == "x86_64")
    regression = next(t for t in x86["transitions"] if t["kind"] == "REGRESSION")
    assert regression["transition"] == "PASS -> CRASH(SIGSEGV)"
    assert regression["attempts"] == ["CRASH(SIGSEGV)", "CRASH(SIGSEGV)"]
    assert x86["series_cell"]["image_id"] == "sha256:" + "a" * 64
    assert x86["series_cell"]["reproducer"] == "farm run scenarios/s.yaml --only s-x86_64-fix"
    assert "farm run scenarios/s.yaml --only s-x86_64-baseline" in fix["reproducers"]
    assert data["expired_flaky"] == [
        {
            "arch": None,
            "expires": "2026-11-19",
            "reason": "old entry",
            "test": "glibc/old/*",
            "where": "",
        }
    ]
    broken = next(s for s in data["series"] if s["series"] == "broken")
    assert broken["arches"][1]["first_bad_patch"] == {"number": 2, "subject": "string: fix memcpy"}
    (broken_cell,) = [c for c in data["cells"] if c["variant"] == "broken"]
    assert broken_cell["failed_patch"]["subject"] == "string: fix memcpy"  # from the series list
    crash = next(t for t in data["tests"] if t["label"] == "CRASH(SIGSEGV)")
    assert [a["attempt"] for a in crash["attempts"]] == [1, 2]


# ------------------------------------------------------------------ junit


def test_junit_parses_and_counts(result: GateResult, tmp_path: Path) -> None:
    root = ET.parse(write_junit(result, tmp_path / "junit.xml")).getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {
        "s-i686-baseline",
        "s-i686-fix",
        "s-x86_64-baseline",
        "s-x86_64-broken",
        "s-x86_64-fix",
    }
    fix = suites["s-x86_64-fix"]
    assert fix.get("tests") == "6"
    assert len(fix.findall("testcase/failure")) == 1 == int(fix.get("failures", "-1"))
    assert len(fix.findall("testcase/error")) == 1 == int(fix.get("errors", "-1"))
    assert len(fix.findall("testcase/skipped")) == 1 == int(fix.get("skipped", "-1"))
    failure = fix.find("testcase[@name='farm/malloc/double-free']/failure")
    assert failure is not None and failure.get("message") == "CRASH(SIGSEGV)"
    assert "Segmentation fault" in (failure.text or "")
    assert root.get("failures") == str(len(list(root.iter("failure"))))


def test_junit_marks_broken_cells_and_flaky_attempts(result: GateResult) -> None:
    root = ET.fromstring(render_junit(result))
    broken = next(s for s in root.iter("testsuite") if s.get("name") == "s-x86_64-broken")
    error = broken.find("testcase[@name='build']/error")
    assert error is not None and error.get("message") == "PATCH_FAILED"
    assert SCRIPT in (error.text or "")  # escaped by the writer, back to text by the parser
    i686 = next(s for s in root.iter("testsuite") if s.get("name") == "s-i686-fix")
    flaky = i686.find("testcase[@name='farm/malloc/double-free']")
    assert flaky is not None and flaky.find("failure") is None
    assert "attempts: TIMEOUT, PASS" in (flaky.findtext("system-out") or "")


def test_junit_strips_control_characters(result: GateResult) -> None:
    report = render_junit(result)
    assert "\x00" not in report and "\x1b" not in report


def test_rows_of_a_two_toolchain_run_say_which_toolchain() -> None:
    """Two toolchains give two i686 columns (``s-bullseye``, ``s-bookworm``); every row of a
    change must name its column, not just ``i686`` twice."""
    records = []
    for label in ("s-bullseye", "s-bookworm"):
        records += [
            Record(scenario=label, arch="i686", variant=v, test="farm/x/fixed", outcome=o)
            for v, o in (("baseline", Outcome.FAIL), ("fix", Outcome.PASS))
        ]
    result = evaluate(records, require_reproduction=False, today=TODAY)
    markdown = render_markdown(result)
    fixed_rows = [line for line in markdown.splitlines() if line.startswith("| `farm/x/fixed`")]
    assert sorted(row.split(" | ")[2] for row in fixed_rows) == [
        "s-bookworm/i686",
        "s-bullseye/i686",
    ]
