"""Expectations that could never be met are refused at load time, with file:line.

An expectation that can never be met can never fail either: an unclosed ``[`` glob, a
misspelled signal name or a test no cell runs would let the gate pass what it was told to
check. The loaded model is the one the gate uses (``farm.plan.expectation``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from farm.errors import ScenarioError
from farm.judging import gate
from farm.plan import expectation
from farm.plan.scenario import load_scenario
from tests.unit.test_scenario import VALID, write

WITH_CASES = VALID.replace(
    "  glibc: [elf/tst-dlmopen*]", "  glibc: [elf/tst-dlmopen*]\n  cases: [rseq]"
)


def with_expectation(variant: str, test: str, outcome: str, *, text: str = WITH_CASES) -> str:
    return text.replace(
        "  - variant: one\n    test: glibc/elf/tst-dlmopen1\n    outcome: PASS",
        f"  - variant: {variant!r}\n    test: {test!r}\n    outcome: {outcome!r}",
    )


@pytest.mark.parametrize(
    ("variant", "test", "outcome", "message"),
    [
        ("one", "farm/rseq/[abc", "PASS", r"scenario.yaml:\d+: .*unclosed '\[' in glob"),
        ("[one", "farm/rseq/*", "PASS", r"unclosed '\[' in glob '\[one'"),
        ("one", "farm/rseq/static-executable", "CRASH(SIGSEGVV)", "perhaps you meant SIGSEGV"),
        ("one", "farm/rseq/static-executabel", "PASS", "matches no case this scenario runs"),
        ("one", "farm/unload/*", "PASS", "matches no case this scenario runs"),
    ],
)
def test_an_expectation_that_can_never_be_met_is_refused_with_its_line(
    tmp_path: Path, variant: str, test: str, outcome: str, message: str
) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(write(tmp_path, with_expectation(variant, test, outcome)))


def test_a_glibc_expectation_needs_glibc_tests_selected(tmp_path: Path) -> None:
    text = with_expectation("one", "glibc/elf/tst-x", "PASS").replace(
        "  glibc: [elf/tst-dlmopen*]\n", ""
    )
    with pytest.raises(ScenarioError, match="selects no glibc tests"):
        load_scenario(write(tmp_path, text))


def test_absent_may_name_a_test_nothing_runs_and_the_gate_gets_the_loaded_model(
    tmp_path: Path,
) -> None:
    text = with_expectation("*", "farm/unload/*", "absent")
    scenario = load_scenario(write(tmp_path, text))
    (loaded,) = scenario.expectations
    assert isinstance(loaded, expectation.Expectation) and gate.Expectation is type(loaded)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "- variant: '*'" in row)
    assert loaded.where.endswith(f"scenario.yaml:{line}"), loaded.where
    assert loaded.applies_to("demo", "x86_64", "baseline")  # "*" is every variant


def test_a_flaky_entry_with_an_unclosed_bracket_is_refused(tmp_path: Path) -> None:
    text = WITH_CASES.replace("test: glibc/elf/tst-dlmopen3", "test: glibc/elf/tst-[dlmopen3")
    with pytest.raises(ScenarioError, match=r"unclosed '\['"):
        load_scenario(write(tmp_path, text))
