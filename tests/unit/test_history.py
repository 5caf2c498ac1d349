"""The flaky history: its model, its rule, its authenticated reader and its locked writer."""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farm.judging import history
from farm.judging.history import (
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
DAY = datetime.date(2026, 11, 20)
KEY = b"unit-test-history-key-0123456789"


def signed(record: dict[str, Any], key: bytes = KEY) -> str:
    return json.dumps({**record, "mac": history.sign(key, record)}, sort_keys=True)


def line(*sightings: tuple[str, str], image: str = "i", on: str = "2026-11-20") -> str:
    """One signed test record of cell c, test t, as a farm would write it (or not)."""
    listed = [{"run": run, "label": label, "on": on} for run, label in sightings]
    return signed({"cell": "c", "image_id": image, "test": "t", "sightings": listed})


def seen(
    run: str, *found: tuple[str, str, str], cell: str = CELL, on: datetime.date = DAY
) -> History:
    """A history of one run: (image, test, label) observations in ``cell``."""
    return History().recorded(
        run, [Observation(cell, image, test, label) for image, test, label in found], on=on
    )


def runs(past: History, *labels: str, test: str = "t", start: int = 2) -> History:
    """``past`` with one more run per label, on consecutive days, seeing ``test`` so."""
    for number, label in enumerate(labels, start=start):
        past = past.recorded(
            f"r{number}",
            [Observation(CELL, IMAGE, test, label)],
            on=DAY + datetime.timedelta(number),
        )
    return past


# ------------------------------------------------------------------ the rule


def test_two_flips_on_the_same_image_are_evidence() -> None:
    past = runs(seen("r1", (IMAGE, "t", "PASS")), "FAIL")
    today = DAY + datetime.timedelta(5)
    found = past.evidence(CELL, IMAGE, "t", "PASS", today=today)
    assert found is not None and found.flips == 2
    assert found.sightings == (
        Sighting("r1", "PASS", DAY),
        Sighting("r2", "FAIL", DAY + datetime.timedelta(2)),
        Sighting(THIS_RUN, "PASS", today),
    )
    assert (found.good, found.bad) == (found.sightings[2], found.sightings[1])
    assert found.describe() == (
        f"known flaky (history): on image sha256:aaaaaaaaaaaa of {CELL} it flipped 2 times in "
        "the last 30 days: PASS in run r1, FAIL in run r2 and PASS in this run"
    )


def test_one_flip_is_no_evidence() -> None:
    past = seen("r1", (IMAGE, "t", "PASS"))
    assert past.evidence(CELL, IMAGE, "t", "FAIL", today=DAY) is None
    assert (
        runs(past, "FAIL").evidence(CELL, IMAGE, "t", None, today=DAY + datetime.timedelta(3))
        is None
    )


def test_flips_between_earlier_runs_are_evidence_whatever_this_run_saw() -> None:
    past = runs(seen("r1", (IMAGE, "t", "PASS")), "CRASH(SIGSEGV)", "PASS")
    found = past.evidence(CELL, IMAGE, "t", None, today=DAY + datetime.timedelta(5))
    assert found is not None and found.bad == Sighting(
        "r2", "CRASH(SIGSEGV)", DAY + datetime.timedelta(2)
    )


def test_only_sightings_within_the_age_limit_count() -> None:
    past = runs(seen("r1", (IMAGE, "t", "PASS")), "FAIL", "PASS")  # r1 on DAY, r3 on DAY+3
    limit = datetime.timedelta(days=history.MAX_AGE_DAYS)
    assert past.evidence(CELL, IMAGE, "t", None, today=DAY + limit) is not None
    assert past.evidence(CELL, IMAGE, "t", None, today=DAY + limit + datetime.timedelta(1)) is None
    # Dated after the day judged (a forged or skewed date): not counted either.
    assert past.evidence(CELL, IMAGE, "t", None, today=DAY + datetime.timedelta(2)) is None


def test_a_flip_between_different_images_is_no_evidence() -> None:
    past = seen("r1", (OTHER_IMAGE, "t", "PASS"))
    past = past.recorded("r2", [Observation(CELL, OTHER_IMAGE, "t", "FAIL")], on=DAY)
    assert past.evidence(CELL, IMAGE, "t", "PASS", today=DAY) is None
    assert past.evidence("s-x86_64-baseline", OTHER_IMAGE, "t", "PASS", today=DAY) is None
    assert past.evidence(CELL, OTHER_IMAGE, "t", "PASS", today=DAY) is not None


def test_agreeing_runs_and_good_to_good_changes_are_no_evidence() -> None:
    past = runs(seen("r1", (IMAGE, "t", "PASS")), "UNSUPPORTED", "PASS")
    assert past.evidence(CELL, IMAGE, "t", "XFAIL", today=DAY + datetime.timedelta(9)) is None
    failing = runs(seen("r1", (IMAGE, "t", "FAIL")), "TIMEOUT")
    assert failing.evidence(CELL, IMAGE, "t", "FAIL", today=DAY + datetime.timedelta(9)) is None


def test_error_is_never_recorded_nor_evidence() -> None:
    past = seen("r1", (IMAGE, "t", "ERROR"), (IMAGE, "u", "PASS"))
    past = runs(past, "FAIL", test="u")
    assert (CELL, IMAGE, "t") not in past.tests
    assert past.evidence(CELL, IMAGE, "u", "ERROR", today=DAY + datetime.timedelta(3)) is None


def test_without_an_image_id_nothing_is_recorded_or_evidence() -> None:
    past = seen("r1", ("", "t", "PASS"))
    assert past.tests == {}
    assert History().evidence(CELL, "", "t", "FAIL", today=DAY) is None


def test_streaks_keep_their_newest_sighting() -> None:
    past = runs(seen("r1", (IMAGE, "t", "PASS")), "PASS", "FAIL", "TIMEOUT", "PASS")
    record = past.tests[(CELL, IMAGE, "t")]
    assert [(s.run, s.label) for s in record.sightings] == [
        ("r2", "PASS"),
        ("r4", "TIMEOUT"),
        ("r5", "PASS"),
    ]
    assert past.windows[CELL] == ("r1", "r2", "r3", "r4", "r5")


def test_runs_beyond_the_window_take_their_evidence_with_them() -> None:
    past = seen("r1", (IMAGE, "t", "FAIL"), (OTHER_IMAGE, "old", "PASS"))
    for run in ("r2", "r3", "r4"):
        past = past.recorded(run, [Observation(CELL, IMAGE, "t", "PASS")], on=DAY, keep=3)
    assert past.windows[CELL] == ("r2", "r3", "r4")
    assert [s.run for s in past.tests[(CELL, IMAGE, "t")].sightings] == ["r4"]  # r1 left
    assert (CELL, OTHER_IMAGE, "old") not in past.tests  # an image no longer run is dropped


def test_windows_are_per_cell() -> None:
    past = seen("r1", (IMAGE, "t", "FAIL"), cell="s-x86_64-baseline")
    for run in ("r2", "r3"):
        past = past.recorded(run, [Observation(CELL, IMAGE, "t", "PASS")], on=DAY, keep=1)
    assert past.windows == {"s-x86_64-baseline": ("r1",), CELL: ("r3",)}
    assert past.runs == 2


# ------------------------------------------------------------------ the key


def test_the_key_file_is_made_once_readable_only_by_its_owner(tmp_path: Path) -> None:
    key_file = tmp_path / "config" / "history.key"
    key = history.load_key(key_file)
    assert len(key) == 64 and (key_file.stat().st_mode & 0o777) == 0o600
    assert history.load_key(key_file) == key  # the same key on every later use


def test_the_key_from_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(history.KEY_ENV, "a-ci-secret-of-enough-length")
    assert history.load_key(tmp_path / "k") == b"a-ci-secret-of-enough-length"
    assert not (tmp_path / "k").exists()
    monkeypatch.setenv(history.KEY_ENV, "short")
    with pytest.raises(HistoryError, match="FARM_HISTORY_KEY: at least 16 characters"):
        history.load_key()


def test_a_key_file_others_can_read_or_a_link_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "history.key"
    key_file.write_text("0" * 64)
    key_file.chmod(0o644)
    with pytest.raises(HistoryError, match="only its owner can read"):
        history.load_key(key_file)
    target = tmp_path / "elsewhere"
    target.write_text("1" * 64)
    target.chmod(0o600)
    link = tmp_path / "linked.key"
    link.symlink_to(target)
    with pytest.raises(HistoryError, match="cannot make or read the history key"):
        history.load_key(link)


# ------------------------------------------------------------------ reading and writing


def test_render_and_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    past = seen("r1", (IMAGE, "glibc/elf/ü", "PASS"), (OTHER_IMAGE, "t", "CRASH(SIGBUS)"))
    history.write(path, past, KEY)
    again = history.read(path, KEY)
    assert (again.windows, again.tests, again.problems) == (past.windows, past.tests, ())
    assert path.read_text().splitlines()[0] == HEADER_LINE
    assert history.render(again, KEY) == path.read_text()  # deterministic
    assert [p.name for p in tmp_path.iterdir()] == ["h.jsonl"]  # no temporary left


def test_records_signed_with_another_key_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    history.write(path, seen("r1", (IMAGE, "t", "PASS")), KEY)
    other = history.read(path, b"another-farm-key-0123456789abcdef")
    assert other.tests == {} and other.windows == {}
    (problem,) = other.problems  # one warning for every record the other key signed
    assert problem.startswith(f"{path}:2-3: 2 records: its mac does not match")


def test_lines_wrong_in_one_way_are_one_problem_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    history.write(path, seen("r1", (IMAGE, "t", "PASS")), KEY)
    good = path.read_text().splitlines()
    path.write_text("\n".join([*good, "[]", "x", "[]", "[]", good[1], "[]"]) + "\n")
    problems = history.read(path, KEY).problems
    assert [p.removeprefix(f"{path}:") for p in problems] == [
        "4,6-7,9: 4 records: expected a JSON object, got list",
        "5: not valid JSON: Expecting value: line 1 column 1 (char 0)",
        f"8: a second list of runs for cell {CELL}",
    ]


def test_a_schema_1_history_is_read_as_holding_no_evidence(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    old = {"cell": CELL, "image_id": IMAGE, "test": "t", "good": {"run": "r1", "label": "PASS"}}
    path.write_text(
        json.dumps({**HEADER, "schema": 1})
        + "\n"
        + json.dumps({"cell": CELL, "runs": ["r1"]})
        + "\n"
        + json.dumps({**old, "bad": None})
        + "\n"
    )
    found = history.read(path, KEY)
    assert found.tests == {} and "not authenticated" in found.problems[0]
    history.update(path, "r2", [Observation(CELL, IMAGE, "t", "PASS")], on=DAY, key=KEY)
    assert history.read(path, KEY).problems == ()
    assert (tmp_path / "h.jsonl.unreadable").exists()


def test_a_missing_or_empty_file_is_an_empty_history(tmp_path: Path) -> None:
    assert history.read(tmp_path / "none.jsonl", KEY).tests == {}
    (tmp_path / "empty.jsonl").write_text("")
    assert history.read(tmp_path / "empty.jsonl", KEY).windows == {}


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
        history.read(path, KEY)
    with pytest.raises(HistoryError):
        history.update(path, "r1", [Observation(CELL, IMAGE, "t", "PASS")], on=DAY, key=KEY)
    assert path.read_bytes() == first + b"keep me\n"


def test_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps({**HEADER, "schema": 3}) + "\n")
    with pytest.raises(HistoryError, match=r"h.jsonl:1: flaky history schema 3; this farm reads 2"):
        history.read(path, KEY)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="not a regular file"):
        history.read(tmp_path, KEY)


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('"a string"', "expected a JSON object"),
        ('{"cell": "c", "runs": ["r1"]}', "no mac"),
        (signed({"cell": "c"}), "unknown record with fields cell"),
        (signed({"cell": "c", "runs": []}), "runs: expected a list of 1 to 30"),
        (signed({"cell": "c", "runs": ["r1", "r1"]}), "listed twice"),
        (signed({"cell": 3, "runs": ["r1"]}), "cell: expected a non-empty string"),
        (signed({"cell": "c\u001b[31m", "runs": ["r1"]}), "not one printable line"),
        (line(("r1", "PASS"), ("r1", "PASS")), "neighbours must differ"),
        (line(("r1", "ERROR")), "ERROR is never recorded"),
        (line(("r1", "MAYBE")), "is not an outcome label"),
        (line(("r1", "FAIL(SIGSEGV)")), "is not an outcome label"),
        (line(("r1", "FAIL"), on="yesterday"), "on: expected a date"),
        (line(), "expected a list of 1 to 30 sightings"),
        (line(("r9", "FAIL")), "run r9 is not among the last runs listed for cell c"),
        (line(("r1", "FAIL"))[:-3] + '0"}', "its mac does not match"),
    ],
)
def test_a_bad_record_is_named_by_file_and_line_and_left_out(
    tmp_path: Path, record: str, problem: str
) -> None:
    path = tmp_path / "h.jsonl"
    good = line(("r1", "PASS"), image="j")
    window = signed({"cell": "c", "runs": ["r1"]})
    path.write_text(f"{HEADER_LINE}\n{window}\n{good}\n{record}\n")
    found = history.read(path, KEY)
    (reported,) = found.problems
    assert reported.startswith(f"{path}:4: ") and problem in reported, reported
    assert list(found.tests) == [("c", "j", "t")]  # the good record stays


def test_a_duplicate_record_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    history.write(path, seen("r1", (IMAGE, "t", "PASS")), KEY)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[-1], lines[1]]) + "\n")
    problems = history.read(path, KEY).problems
    assert [p.split(": ", 1)[1] for p in problems] == [
        "a second record of t on this image and cell",
        f"a second list of runs for cell {CELL}",
    ]


def test_a_torn_last_line_says_so(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    history.write(path, seen("r1", (IMAGE, "t", "PASS")), KEY)
    path.write_text(path.read_text() + '{"cell": "x", "ru')
    (problem,) = history.read(path, KEY).problems
    assert problem.endswith("(a torn last line: was its writer killed?)")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(["cell", "runs", "image_id", "test", "sightings", "run", "label", "mac"])
_LABELS = st.sampled_from(
    ["PASS", "FAIL", "ERROR", "CRASH(SIGSEGV)", "XFAIL", "FAIL(SIGBUS)", "", 7]
)
_RUNS = st.sampled_from(["r1", "r2", "r3"])
_SIGHTING = st.fixed_dictionaries(
    {"run": _RUNS, "label": _LABELS, "on": st.sampled_from(["2026-11-20", "2026-13-01", 5])}
)
#: Records that are often valid and often subtly wrong (two agreeing neighbours, a run
#: outside the window, a duplicate), signed so the checks behind the mac meet them too.
_PLAUSIBLE = st.one_of(
    st.fixed_dictionaries(
        {"cell": st.sampled_from(["c", "d"]), "runs": st.lists(_RUNS, min_size=0, max_size=3)}
    ),
    st.fixed_dictionaries(
        {
            "cell": st.sampled_from(["c", "d"]),
            "image_id": st.sampled_from(["i", "j"]),
            "test": st.sampled_from(["t", "u"]),
            "sightings": st.lists(_SIGHTING, max_size=3),
        }
    ),
).map(signed)
_RECORDISH = _PLAUSIBLE | st.dictionaries(
    _KEYS, _JSON | st.fixed_dictionaries({"run": _JSON, "label": _JSON}), max_size=6
).map(json.dumps)


def _check_sound(found: History) -> None:
    """What a reader returns must be what a farm could have written."""
    for (cell, image, test), record in found.tests.items():
        assert (record.cell, record.image_id, record.test) == (cell, image, test)
        assert record.sightings
        assert all(
            a.bad != b.bad for a, b in zip(record.sightings, record.sightings[1:], strict=False)
        )
        assert all(s.run in found.windows[cell] for s in record.sightings)
    for window in found.windows.values():
        assert window and len(set(window)) == len(window)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.lists(
        _RECORDISH | st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
        max_size=8,
    )
)
def test_hostile_record_lines_never_crash_nor_slip_through(tmp_path: Path, body: list[str]) -> None:
    path = tmp_path / "h.jsonl"
    text = HEADER_LINE + "\n" + "\n".join(line.replace("\n", " ") for line in body) + "\n"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    found = history.read(path, KEY)
    _check_sound(found)
    for problem in found.problems:
        assert problem.startswith(f"{path}:")
    # What was read is written back whole, and reads back without problems.
    history.write(path, found, KEY)
    again = history.read(path, KEY)
    assert (again.tests, again.windows, again.problems) == (found.tests, found.windows, ())


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=200))
def test_any_bytes_give_a_history_or_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(content)
    try:
        found = history.read(path, KEY)
    except HistoryError as error:
        assert str(error).startswith(f"{path}:1: ")
    else:
        _check_sound(found)


# ------------------------------------------------------------------ updating


def test_update_keeps_the_unreadable_file_aside(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    history.write(path, runs(seen("r1", (IMAGE, "t", "PASS")), "FAIL"), KEY)
    damaged = path.read_text() + "garbage\n"
    path.write_text(damaged)
    on = DAY + datetime.timedelta(4)
    updated = history.update(path, "r3", [Observation(CELL, IMAGE, "t", "PASS")], on=on, key=KEY)
    assert (tmp_path / "h.jsonl.unreadable").read_text() == damaged
    assert history.read(path, KEY).problems == ()
    assert updated.evidence(CELL, IMAGE, "t", today=on) is not None


def test_the_unreadable_copy_never_follows_a_link(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "h.jsonl.unreadable").symlink_to(victim)
    history.write(path, seen("r1", (IMAGE, "t", "PASS")), KEY)
    path.write_text(path.read_text() + "garbage\n")
    history.update(path, "r2", [Observation(CELL, IMAGE, "t", "PASS")], on=DAY, key=KEY)
    assert victim.read_text() == "precious\n"
    aside = tmp_path / "h.jsonl.unreadable"
    assert not aside.is_symlink() and aside.read_text().endswith("garbage\n")


def _record_one(path: str, run: str) -> None:
    for number in range(history.KEEP_RUNS // 2):
        history.update(
            Path(path),
            f"{run}-{number}",
            [Observation(CELL, IMAGE, f"t{run}", "PASS")],
            on=DAY,
            key=KEY,
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
    found = history.read(path, KEY)
    assert len(found.windows[CELL]) == history.KEEP_RUNS and found.problems == ()
    assert {key[2] for key in found.tests} == {"ta", "tb"}


def test_new_run_ids_are_utc_and_carry_the_process() -> None:
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert history.new_run_id(moment) == f"20260102T030405Z-{os.getpid()}"


def test_the_default_path_is_per_scenario_in_the_cache(tmp_path: Path) -> None:
    assert history.default_path(tmp_path, "debian-2.36-backports") == (
        tmp_path / "history" / "debian-2.36-backports.jsonl"
    )
