"""The flaky history: its model, its rule, its validating reader and its locked writer."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farm import history
from farm.history import (
    HEADER,
    THIS_RUN,
    History,
    HistoryError,
    Observation,
    Sighting,
)

CELL = "s-x86_64-fix"
IMAGE = "sha256:" + "a" * 64
OTHER_IMAGE = "sha256:" + "b" * 64
HEADER_LINE = json.dumps(HEADER, sort_keys=True)


def line(good: object = None, bad: object = None, image: str = "i") -> str:
    """One test record of cell c, test t, as a farm would write it (or not)."""
    record = {"cell": "c", "image_id": image, "test": "t", "good": good, "bad": bad}
    return json.dumps(record, sort_keys=True)


def seen(run: str, *found: tuple[str, str, str], cell: str = CELL) -> History:
    """A history of one run: (image, test, label) observations in ``cell``."""
    return History().recorded(
        run, [Observation(cell, image, test, label) for image, test, label in found]
    )


# ------------------------------------------------------------------ the rule


def test_a_flip_on_the_same_image_between_two_runs_is_evidence() -> None:
    past = seen("r1", (IMAGE, "t", "PASS"))
    found = past.evidence(CELL, IMAGE, "t", "FAIL")
    assert found is not None
    assert (found.good, found.bad) == (Sighting("r1", "PASS"), Sighting(THIS_RUN, "FAIL"))
    assert found.describe() == (
        f"known flaky (history): on image sha256:aaaaaaaaaaaa of {CELL} it was PASS in run r1 "
        "and FAIL in this run"
    )


def test_a_flip_between_earlier_runs_is_evidence_whatever_this_run_saw() -> None:
    past = seen("r1", (IMAGE, "t", "PASS")).recorded(
        "r2", [Observation(CELL, IMAGE, "t", "CRASH(SIGSEGV)")]
    )
    found = past.evidence(CELL, IMAGE, "t", None)
    assert found is not None and found.bad == Sighting("r2", "CRASH(SIGSEGV)")


def test_a_flip_between_different_images_is_no_evidence() -> None:
    past = seen("r1", (OTHER_IMAGE, "t", "PASS"))
    assert past.evidence(CELL, IMAGE, "t", "FAIL") is None
    assert past.evidence("s-x86_64-baseline", OTHER_IMAGE, "t", "FAIL") is None  # another cell


def test_agreeing_runs_and_good_to_good_changes_are_no_evidence() -> None:
    past = seen("r1", (IMAGE, "t", "PASS")).recorded(
        "r2", [Observation(CELL, IMAGE, "t", "UNSUPPORTED")]
    )
    assert past.evidence(CELL, IMAGE, "t", "XFAIL") is None  # all good
    failing = seen("r1", (IMAGE, "t", "FAIL"))
    assert failing.evidence(CELL, IMAGE, "t", "TIMEOUT") is None  # all bad


def test_error_is_never_recorded_nor_evidence() -> None:
    past = seen("r1", (IMAGE, "t", "ERROR"), (IMAGE, "u", "PASS"))
    assert (CELL, IMAGE, "t") not in past.tests
    assert past.evidence(CELL, IMAGE, "u", "ERROR") is None


def test_without_an_image_id_nothing_is_recorded_or_evidence() -> None:
    past = seen("r1", ("", "t", "PASS"))
    assert past.tests == {}
    assert History().evidence(CELL, "", "t", "FAIL") is None


def test_only_the_newest_good_and_bad_are_kept() -> None:
    past = seen("r1", (IMAGE, "t", "PASS"))
    for run, label in (("r2", "FAIL"), ("r3", "PASS"), ("r4", "TIMEOUT")):
        past = past.recorded(run, [Observation(CELL, IMAGE, "t", label)])
    record = past.tests[(CELL, IMAGE, "t")]
    assert (record.good, record.bad) == (Sighting("r3", "PASS"), Sighting("r4", "TIMEOUT"))
    assert past.windows[CELL] == ("r1", "r2", "r3", "r4")


def test_runs_beyond_the_window_take_their_evidence_with_them() -> None:
    past = seen("r1", (IMAGE, "t", "FAIL"), (OTHER_IMAGE, "old", "PASS"))
    for run in ("r2", "r3", "r4"):
        past = past.recorded(run, [Observation(CELL, IMAGE, "t", "PASS")], keep=3)
    assert past.windows[CELL] == ("r2", "r3", "r4")
    assert past.tests[(CELL, IMAGE, "t")].bad is None  # r1's FAIL left the window
    assert (CELL, OTHER_IMAGE, "old") not in past.tests  # an image no longer run is dropped
    assert past.evidence(CELL, IMAGE, "t", "PASS") is None


def test_windows_are_per_cell() -> None:
    past = seen("r1", (IMAGE, "t", "FAIL"), cell="s-x86_64-baseline")
    for run in ("r2", "r3"):
        past = past.recorded(run, [Observation(CELL, IMAGE, "t", "PASS")], keep=1)
    assert past.windows == {"s-x86_64-baseline": ("r1",), CELL: ("r3",)}
    assert past.evidence("s-x86_64-baseline", IMAGE, "t", "PASS") is not None
    assert past.runs == 2


# ------------------------------------------------------------------ reading and writing


def test_render_and_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    past = seen("r1", (IMAGE, "glibc/elf/ü", "PASS"), (OTHER_IMAGE, "t", "CRASH(SIGBUS)"))
    history.write(path, past)
    again = history.read(path)
    assert (again.windows, again.tests, again.problems) == (past.windows, past.tests, ())
    assert path.read_text().splitlines()[0] == HEADER_LINE
    assert history.render(again) == path.read_text()  # deterministic
    assert [p.name for p in tmp_path.iterdir()] == ["h.jsonl"]  # no temporary left


def test_a_missing_or_empty_file_is_an_empty_history(tmp_path: Path) -> None:
    assert history.read(tmp_path / "none.jsonl").tests == {}
    (tmp_path / "empty.jsonl").write_text("")
    assert history.read(tmp_path / "empty.jsonl").windows == {}


@pytest.mark.parametrize(
    "first",
    [b"# my notes\n", b'{"schema": 1}\n', b"\xff\xfe\n", b"[]\n", b'{"what": "x"}\n'],
)
def test_a_file_that_is_no_history_is_refused_not_overwritten(tmp_path: Path, first: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(first + b"keep me\n")
    with pytest.raises(
        HistoryError, match=rf"{path}:1: not a glibc-farm flaky history.*--no-history"
    ):
        history.read(path)
    with pytest.raises(HistoryError):
        history.update(path, "r1", [Observation(CELL, IMAGE, "t", "PASS")])
    assert path.read_bytes() == first + b"keep me\n"


def test_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps({**HEADER, "schema": 2}) + "\n")
    with pytest.raises(HistoryError, match=r"h.jsonl:1: flaky history schema 2; this farm reads 1"):
        history.read(path)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="not a regular file"):
        history.read(tmp_path)


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('"a string"', "expected a JSON object"),
        ('{"cell": "c"}', "unknown record with fields cell"),
        ('{"cell": "c", "runs": []}', "runs: expected a non-empty list"),
        ('{"cell": "c", "runs": ["r1", "r1"]}', "listed twice"),
        ('{"cell": 3, "runs": ["r1"]}', "cell: expected a non-empty string"),
        ('{"cell": "c\\u001b[31m", "runs": ["r1"]}', "not one printable line"),
        (
            line(bad={"label": "PASS", "run": "r1"}),
            "bad: PASS is not a bad outcome",
        ),
        (
            line(good={"label": "FAIL", "run": "r1"}),
            "good: FAIL is a bad outcome",
        ),
        (
            line(bad={"label": "ERROR", "run": "r1"}),
            "ERROR is never recorded",
        ),
        (
            line(bad={"label": "MAYBE", "run": "r1"}),
            "is not an outcome label",
        ),
        (
            line(bad={"label": "FAIL(SIGSEGV)", "run": "r1"}),
            "is not an outcome label",
        ),
        (line(), "says nothing"),
        (
            line(bad={"label": "FAIL", "run": "r9"}),
            "run r9 is not among the last runs listed for cell c",
        ),
    ],
)
def test_a_bad_record_is_named_by_file_and_line_and_left_out(
    tmp_path: Path, record: str, problem: str
) -> None:
    path = tmp_path / "h.jsonl"
    good = line(good={"label": "PASS", "run": "r1"}, image="j")
    path.write_text(f'{HEADER_LINE}\n{{"cell": "c", "runs": ["r1"]}}\n{good}\n{record}\n')
    found = history.read(path)
    (reported,) = found.problems
    assert reported.startswith(f"{path}:4: ") and problem in reported, reported
    assert list(found.tests) == [("c", "j", "t")]  # the good record stays


def test_a_duplicate_record_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    history.write(path, seen("r1", (IMAGE, "t", "PASS")))
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[-1], lines[1]]) + "\n")
    problems = history.read(path).problems
    assert [p.split(": ", 1)[1] for p in problems] == [
        "a second record of t on this image and cell",
        f"a second list of runs for cell {CELL}",
    ]


def test_a_torn_last_line_says_so(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    history.write(path, seen("r1", (IMAGE, "t", "PASS")))
    path.write_text(path.read_text() + '{"cell": "x", "ru')
    (problem,) = history.read(path).problems
    assert problem.endswith("(a torn last line: was its writer killed?)")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(["cell", "runs", "image_id", "test", "good", "bad", "run", "label"])
_LABELS = st.sampled_from(
    ["PASS", "FAIL", "ERROR", "CRASH(SIGSEGV)", "XFAIL", "FAIL(SIGBUS)", "", 7]
)
_RUNS = st.sampled_from(["r1", "r2", "r3"])
_SIGHTING = st.none() | st.fixed_dictionaries({"run": _RUNS, "label": _LABELS})
#: Records that are often valid and often subtly wrong (a bad label on the good side, a run
#: outside the window, a duplicate), so the soundness checks meet both.
_PLAUSIBLE = st.one_of(
    st.fixed_dictionaries(
        {"cell": st.sampled_from(["c", "d"]), "runs": st.lists(_RUNS, min_size=0, max_size=3)}
    ),
    st.fixed_dictionaries(
        {
            "cell": st.sampled_from(["c", "d"]),
            "image_id": st.sampled_from(["i", "j"]),
            "test": st.sampled_from(["t", "u"]),
            "good": _SIGHTING,
            "bad": _SIGHTING,
        }
    ),
)
_RECORDISH = _PLAUSIBLE | st.dictionaries(
    _KEYS, _JSON | st.fixed_dictionaries({"run": _JSON, "label": _JSON}), max_size=6
)


def _check_sound(found: History) -> None:
    """What a reader returns must be what a farm could have written."""
    for (cell, image, test), record in found.tests.items():
        assert (record.cell, record.image_id, record.test) == (cell, image, test)
        assert record.good is not None or record.bad is not None
        assert record.good is None or not record.good.bad
        assert record.bad is None or record.bad.bad
        for sighting in (record.good, record.bad):
            assert sighting is None or sighting.run in found.windows[cell]
    for runs in found.windows.values():
        assert runs and len(set(runs)) == len(runs)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.lists(
        _RECORDISH.map(json.dumps) | st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
        max_size=8,
    )
)
def test_hostile_record_lines_never_crash_nor_slip_through(tmp_path: Path, body: list[str]) -> None:
    path = tmp_path / "h.jsonl"
    text = HEADER_LINE + "\n" + "\n".join(line.replace("\n", " ") for line in body) + "\n"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    found = history.read(path)
    _check_sound(found)
    for problem in found.problems:
        assert problem.startswith(f"{path}:")
    # What was read is written back whole, and reads back without problems.
    history.write(path, found)
    again = history.read(path)
    assert (again.tests, again.windows, again.problems) == (found.tests, found.windows, ())


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=200))
def test_any_bytes_give_a_history_or_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(content)
    try:
        found = history.read(path)
    except HistoryError as error:
        assert str(error).startswith(f"{path}:1: ")
    else:
        _check_sound(found)


# ------------------------------------------------------------------ updating


def test_update_keeps_the_unreadable_file_aside(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    history.write(path, seen("r1", (IMAGE, "t", "PASS")))
    damaged = path.read_text() + "garbage\n"
    path.write_text(damaged)
    updated = history.update(path, "r2", [Observation(CELL, IMAGE, "t", "FAIL")])
    assert (tmp_path / "h.jsonl.unreadable").read_text() == damaged
    assert history.read(path).problems == ()
    assert updated.evidence(CELL, IMAGE, "t") is not None


def _record_one(path: str, run: str) -> None:
    for number in range(20):
        history.update(
            Path(path), f"{run}-{number}", [Observation(CELL, IMAGE, f"t{run}", "PASS")], keep=100
        )


def test_concurrent_updates_lose_no_run(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_record_one, args=(str(path), name)) for name in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    found = history.read(path)
    assert len(found.windows[CELL]) == 40 and found.problems == ()
    assert {key[2] for key in found.tests} == {"ta", "tb"}


def test_new_run_ids_are_utc_and_carry_the_process() -> None:
    import datetime
    import os

    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert history.new_run_id(moment) == f"20260102T030405Z-{os.getpid()}"


def test_the_default_path_is_per_scenario_in_the_cache(tmp_path: Path) -> None:
    assert history.default_path(tmp_path, "debian-2.36-backports") == (
        tmp_path / "history" / "debian-2.36-backports.jsonl"
    )
