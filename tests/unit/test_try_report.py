"""What ``farm try`` tried and why reaches the reports: the made run directory holds a try
record (`farm.inputs.try_series.TryRecord`, at `RunDir.try_record`), the report stage reads it back
validated and report.md, report.html and report.json show it as a "Tried" section; a record
that cannot be read, or that is another run's, is not shown and a warning says why, and the
verdict is the same either way (the record is no evidence)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from farm.commands import try_cmd
from farm.inputs import try_sources
from farm.inputs.sources import Cache
from farm.inputs.try_series import TryRecord, classify
from farm.judging.gate import CellState, CellStatus, GateResult, evaluate
from farm.results import Outcome, TestResult
from farm.run import stages
from farm.rundir import RunDir
from tests.unit.test_try_series import made_for

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "tests" / "fixtures" / "scenarios" / "fixture-series.yaml"
TODAY = datetime.date(2026, 12, 3)
TWO_PATCHES = """\
From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: Dev <dev@example.org>
Subject: [PATCH 1/2] elf: Reword a comment in dl-open.c

A change.
---
diff --git a/elf/dl-open.c b/elf/dl-open.c
--- a/elf/dl-open.c
+++ b/elf/dl-open.c
@@ -1 +1 @@
-/* old */
+/* new */

From 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001
From: Dev <dev@example.org>
Subject: [PATCH 2/2] nptl: Reword a lock comment

Another.
---
diff --git a/sysdeps/nptl/lowlevellock.h b/sysdeps/nptl/lowlevellock.h
--- a/sysdeps/nptl/lowlevellock.h
+++ b/sysdeps/nptl/lowlevellock.h
@@ -1 +1 @@
-/* old */
+/* new */
"""


@pytest.fixture()
def made(tmp_path: Path) -> tuple[try_cmd.MadeScenario, Path]:
    """``farm try fix.mbox --scenario fixture-series.yaml`` as far as the run directory:
    the made scenario, its series and its try record written into ``run``."""
    mbox = tmp_path / "fix.mbox"
    mbox.write_text(TWO_PATCHES)
    where = try_sources.Where(Cache(tmp_path / "cache"), "http://127.0.0.1:9", None, print)
    result = made_for(TEMPLATE, try_sources.fetch(classify([str(mbox)]), where))
    run = tmp_path / "run"
    run.mkdir()
    result.write(run)
    return result, run


def _judged(series: str) -> GateResult:
    """An accepted verdict on ``series``: one glibc test, passing before and after."""
    records = [
        TestResult(scenario="fixture-series", arch="x86_64", variant=variant,
                   test="glibc/elf/tst-dlmopen1", outcome=Outcome.PASS)
        for variant in ("baseline", series)
    ]  # fmt: skip
    cells = [
        CellStatus("fixture-series", "x86_64", v, CellState.BUILT) for v in ("baseline", series)
    ]
    return evaluate(records, cells, require_reproduction=True, today=TODAY)


def _report(result: GateResult, run: Path, out: Path) -> stages.Reported:
    return stages.report(
        result, out, run_dirs=[run], step_summary=None, history_file=None, progress=print
    )


def test_farm_try_writes_what_it_tried_and_reads_it_back_as_written(
    made: tuple[try_cmd.MadeScenario, Path],
) -> None:
    result, run = made
    record, problems = RunDir(run).read_try_record()
    assert problems == ()
    assert record == result.record
    assert record.series == "file-fix"
    assert record.origin == f"the mails of {run.parent / 'fix.mbox'}"
    assert [(p.number, p.subject) for p in record.patches] == [
        (1, "elf: Reword a comment in dl-open.c"),
        (2, "nptl: Reword a lock comment"),
    ]
    assert record.base_commit is None  # a Debian template: its glibc as it is
    assert record.base_reason == "the template's glibc, debian:glibc=2.36-9+deb12u14"
    assert record.glibc_tests == ("elf/", "nptl/")
    assert record.glibc_reasons == (
        "elf/dl-open.c -> elf/ (in elf/)",
        "sysdeps/nptl/lowlevellock.h -> nptl/ (sysdeps for nptl/)",
        "elf/tst-dlmopen1 (the template's, run with elf/)",
        "elf/tst-dlmopen3 (the template's, run with elf/)",
    )
    assert record.cases == ("dlmopen/*",)
    assert record.template == str(TEMPLATE)


def test_the_reports_say_what_was_tried_and_why_near_the_top(
    made: tuple[try_cmd.MadeScenario, Path], tmp_path: Path
) -> None:
    result, run = made
    judged = _judged(result.record.series)
    reported = _report(judged, run, run)
    markdown = (run / "report.md").read_text()
    assert markdown == reported.markdown  # what the CLI prints is the file
    tried = markdown.index("## Tried")
    assert tried < markdown.index("| series |")  # above the series x arch table
    section = markdown[tried : markdown.index("\n\n", tried + len("## Tried\n\n"))]
    assert f"- series: `file-fix`, the mails of {tmp_path}/fix.mbox" in section
    assert "  - 1/2 elf: Reword a comment in dl-open.c" in section
    assert "  - 2/2 nptl: Reword a lock comment" in section
    assert "- base: the template's glibc, debian:glibc=2.36-9+deb12u14" in section
    assert "- glibc tests: `elf/` `nptl/`" in section
    assert "  - sysdeps/nptl/lowlevellock.h -> nptl/ (sysdeps for nptl/)" in section
    assert "- farm cases: `dlmopen/*`" in section
    report: dict[str, Any] = json.loads((run / "report.json").read_text())
    assert report["tried"]["series"] == "file-fix"
    assert report["tried"]["base_reason"] == result.record.base_reason
    assert report["tried"]["glibc_reasons"] == list(result.record.glibc_reasons)
    assert report["tried"]["patches"][1] == {"number": 2, "subject": "nptl: Reword a lock comment"}
    page = (run / "report.html").read_text()
    assert page.index("<h2>Tried</h2>") < page.index("<table")
    assert "sysdeps/nptl/lowlevellock.h -&gt; nptl/ (sysdeps for nptl/)" in page
    assert reported.result.verdict is judged.verdict and reported.result.warnings == ()


def test_a_run_farm_try_did_not_make_has_no_tried_section(tmp_path: Path) -> None:
    reported = _report(_judged("harmless"), tmp_path, tmp_path)
    assert reported.tried is None and "## Tried" not in reported.markdown
    assert json.loads((tmp_path / "report.json").read_text())["tried"] is None
    assert "Tried" not in (tmp_path / "report.html").read_text()


def _recorded(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RunDir(run).try_record.read_text())
    return data


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"schema": 2}, "schema version 2"),
        ({"base_commit": "abc; rm -rf /"}, "no full commit id"),
        ({"series": "../../etc"}, "no series name"),
        ({"patches": [{"number": 2, "subject": "x"}]}, "numbered from 1 in order"),
        ({"glibc_tests": "elf/"}, "glibc_tests: expected a list"),
        ({"surprise": True}, "unknown field(s) 'surprise'"),
    ],
)
def test_a_try_record_that_is_not_farm_try_s_is_not_shown_and_said_so(
    made: tuple[try_cmd.MadeScenario, Path], change: dict[str, Any], said: str
) -> None:
    result, run = made
    path = RunDir(run).try_record
    path.write_text(json.dumps({**_recorded(run), **change}))
    record, problems = RunDir(run).read_try_record()
    assert record is None
    assert [(p.where, said in p.problem) for p in problems] == [(str(path), True)], problems
    judged = _judged(result.record.series)
    reported = _report(judged, run, run)
    assert reported.tried is None and "## Tried" not in reported.markdown
    assert reported.result.verdict is judged.verdict  # no evidence, no change of verdict
    (warning,) = reported.result.warnings
    assert warning.startswith(f"{path}: ") and said in warning
    assert warning in json.loads((run / "report.json").read_text())["warnings"]


def test_a_try_record_of_another_series_is_not_shown(
    made: tuple[try_cmd.MadeScenario, Path],
) -> None:
    _, run = made
    reported = _report(_judged("harmless"), run, run)
    assert reported.tried is None and "## Tried" not in reported.markdown
    (warning,) = reported.result.warnings
    assert "about series 'file-fix', which this verdict does not judge" in warning


def test_run_directories_that_disagree_on_what_was_tried_show_none(
    made: tuple[try_cmd.MadeScenario, Path], tmp_path: Path
) -> None:
    result, run = made
    other = tmp_path / "other"
    other.mkdir()
    RunDir(other).write_try_record(
        TryRecord(**{**_fields(result.record), "base_reason": "another base"})
    )
    reported = stages.report(
        _judged(result.record.series), tmp_path / "out", run_dirs=[run, other],
        step_summary=None, history_file=None, progress=print,
    )  # fmt: skip
    assert reported.tried is None
    assert any("disagree on what farm try tried" in w for w in reported.result.warnings)
    # The same record in two directories (a run and its copy) is shown once.
    RunDir(other).write_try_record(result.record)
    again = stages.report(
        _judged(result.record.series), tmp_path / "out", run_dirs=[run, other],
        step_summary=None, history_file=None, progress=print,
    )  # fmt: skip
    assert again.tried == result.record and again.result.warnings == ()


def _fields(record: TryRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in TryRecord.__dataclass_fields__}
