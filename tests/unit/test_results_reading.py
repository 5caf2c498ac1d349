"""A result record read back is untrusted input, and `farm.rundir` is its only reader.

`TestResult.from_json` took any JSON object with the right keys as a record (a number as an
arch, an unknown field), bypassing the validation every other reader goes through; it was
unused, and is gone, so a future reader cannot pick it up by accident.
"""

from __future__ import annotations

import json
from pathlib import Path

from farm import ids
from farm.outcome import Outcome
from farm.results import TestResult
from farm.rundir import RunDir, append_line


def test_results_have_no_reader_of_their_own() -> None:
    assert not hasattr(TestResult, "from_json")


def test_the_run_directory_refuses_what_from_json_would_have_taken(tmp_path: Path) -> None:
    good = TestResult("s", "x86_64", ids.BASELINE, "farm/rseq/a", Outcome.PASS)
    tampered = json.loads(good.to_json()) | {"arch": 5, "extra": "field"}
    directory = RunDir(tmp_path)
    path = directory.results_file(good.cell, "gw0")
    path.parent.mkdir(parents=True)
    append_line(path, good.to_json())
    append_line(path, json.dumps(tampered))
    results, unreadable = directory.read_results()
    assert results == (good,)
    (problem,) = unreadable
    assert problem.where.endswith(f"{path.name}:2"), problem
