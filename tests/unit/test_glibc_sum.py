"""farm.testing.glibc_sum: glibc's tests.sum / subdir-tests.sum / .test-result lines, read as the
untrusted input they are. Every non-blank line must become a verdict or a located anomaly.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from farm.results import Outcome
from farm.testing.glibc_sum import parse_summary, parse_test_result

# A real excerpt of elf/subdir-tests.sum from glibc 2.36 in a container.
REAL_SUM = """\
PASS: elf/check-abi-libc
FAIL: elf/tst-ldconfig-X
UNSUPPORTED: elf/tst-pldd
XFAIL: elf/tst-xfail-example
PASS: elf/tst-dlmopen1
UNRESOLVED: elf/tst-never-built
"""

WORDS = ("PASS", "FAIL", "UNSUPPORTED", "XFAIL", "XPASS", "ERROR")
names = st.from_regex(r"[a-z]{1,6}/tst-[a-z0-9+._-]{1,10}", fullmatch=True)
words = st.sampled_from(WORDS)
#: No line breaks of any kind (str.splitlines also breaks at Zl/Zp separators).
one_line_characters = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))


def test_a_real_summary_gives_each_test_its_outcome() -> None:
    summary = parse_summary(REAL_SUM, source="elf/subdir-tests.sum")
    assert summary.outcomes() == {
        "elf/check-abi-libc": Outcome.PASS,
        "elf/tst-ldconfig-X": Outcome.FAIL,
        "elf/tst-pldd": Outcome.UNSUPPORTED,
        "elf/tst-xfail-example": Outcome.XFAIL,
        "elf/tst-dlmopen1": Outcome.PASS,
        "elf/tst-never-built": Outcome.ERROR,
    }
    assert summary.anomalies == ()
    assert summary.entries[1].where == "elf/subdir-tests.sum:2"


def test_a_missing_subdirectory_of_the_top_level_sum_is_named() -> None:
    text = "PASS: dlfcn/tst-x\nERROR: test results for elf directory missing\n"
    summary = parse_summary(text, source="tests.sum")
    assert summary.missing_subdirs == ("elf",)
    assert [str(a) for a in summary.anomalies] == [
        "tests.sum:2: glibc found no test results for directory elf"
    ]
    assert summary.outcomes() == {"dlfcn/tst-x": Outcome.PASS}


@given(st.dictionaries(names, words, max_size=30))
def test_well_formed_lines_round_trip(verdicts: dict[str, str]) -> None:
    text = "".join(f"{word}: {name}\n" for name, word in verdicts.items())
    summary = parse_summary(text, source="s")
    assert summary.anomalies == ()
    assert summary.outcomes() == {name: Outcome(word) for name, word in verdicts.items()}
    assert [e.test for e in summary.entries] == list(verdicts)


@given(st.text(max_size=400))
def test_no_non_blank_line_is_dropped_silently(text: str) -> None:
    summary = parse_summary(text, source="f")
    accounted = {e.where for e in summary.entries} | {a.where for a in summary.anomalies}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            assert f"f:{number}" in accounted, (number, line)


@given(
    st.lists(st.tuples(names, words), min_size=1, max_size=10, unique_by=lambda t: t[0]),
    st.text(alphabet=one_line_characters, min_size=1, max_size=40),
    st.integers(min_value=0, max_value=10),
)
def test_a_garbage_line_is_located_and_the_rest_still_counts(
    verdicts: list[tuple[str, str]], garbage: str, position: int
) -> None:
    garbage = "garbage " + garbage  # lower case first word: never a verdict
    lines = [f"{word}: {name}" for name, word in verdicts]
    position = min(position, len(lines))
    lines.insert(position, garbage)
    summary = parse_summary("\n".join(lines), source="x.sum")
    assert summary.outcomes() == {name: Outcome(word) for name, word in verdicts}
    assert [a.where for a in summary.anomalies] == [f"x.sum:{position + 1}"]


@given(names, st.permutations(["PASS", "FAIL"]))
def test_conflicting_duplicates_count_as_the_bad_verdict_whatever_the_order(
    name: str, order: list[str]
) -> None:
    summary = parse_summary(f"{order[0]}: {name}\n{order[1]}: {name}\n", source="d")
    assert summary.outcomes() == {name: Outcome.FAIL}
    assert len(summary.anomalies) == 1
    assert summary.anomalies[0].where == "d:2"
    assert "d:1" in summary.anomalies[0].message


def test_an_identical_duplicate_is_an_anomaly_too() -> None:
    summary = parse_summary("PASS: elf/a\nPASS: elf/a\n", source="d")
    assert summary.outcomes() == {"elf/a": Outcome.PASS}
    assert [str(a) for a in summary.anomalies] == ["d:2: elf/a listed twice (first at d:1)"]


@given(st.from_regex(r"[A-Z]{2,10}", fullmatch=True).filter(lambda w: w not in WORDS), names)
def test_an_unknown_verdict_makes_the_test_an_error_and_says_so(word: str, name: str) -> None:
    if word == "UNRESOLVED":
        return  # a word glibc does use
    summary = parse_summary(f"{word}: {name}\n", source="u")
    assert summary.outcomes() == {name: Outcome.ERROR}
    assert len(summary.anomalies) == 1
    assert re.search(rf"unknown verdict '{word}'", summary.anomalies[0].message)


def test_a_malformed_test_name_is_an_anomaly() -> None:
    summary = parse_summary("PASS: tst-no-subdir\nPASS: elf/$(rm -rf /)\n", source="m")
    assert summary.entries == ()
    assert [a.where for a in summary.anomalies] == ["m:1", "m:2"]


def test_a_test_result_file_gives_its_verdict_and_exit_status() -> None:
    parsed = parse_test_result(
        "FAIL: elf/tst-crash\noriginal exit status 139\n", source="tst-crash.test-result"
    )
    assert parsed.entry is not None
    assert (parsed.entry.test, parsed.entry.outcome) == ("elf/tst-crash", Outcome.FAIL)
    assert parsed.exit_status == 139
    assert parsed.anomalies == ()


def test_an_empty_test_result_file_is_an_anomaly() -> None:
    parsed = parse_test_result("", source="t.test-result")
    assert parsed.entry is None
    assert [str(a) for a in parsed.anomalies] == ["t.test-result: no verdict line"]
