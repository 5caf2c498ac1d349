"""What changed between two runs of one scenario: per arch and test, new failures, fixes.

A v2 of a series is reviewed for what it changed since v1, so `compare` takes two run
directories (read and validated by `farm.rundir.RunDir`) and sets each test's final attempt
in run A beside the one in run B, variant by variant (the baseline with the baseline, the
series variant with the series variant). The rules are ``farm.outcome``'s, never restated:
a new failure is `outcome.is_regression` (A -> B), a fix is `outcome.is_fix`, so an ERROR is
never a pass and UNSUPPORTED -> PASS is no fix of a failure. Two scenarios are refused: their
tests are not the same tests.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from farm import ids, outcome
from farm.errors import UsageError
from farm.report import markdown
from farm.results import TestResult
from farm.rundir import RunDir


class Change(enum.StrEnum):
    NEW_FAILURE = "new failure"
    FIXED = "fixed"
    STILL_FAILING = "still failing"
    OTHER = "other change"
    SAME = "same"
    ONLY_IN_A = "only in A"
    ONLY_IN_B = "only in B"


@dataclass(frozen=True, slots=True)
class TestChange:
    arch: str
    side: str  # "baseline" or "series"
    test: str
    before: str | None  # the final label in A, None when absent
    after: str | None
    change: Change


@dataclass(frozen=True, slots=True)
class Comparison:
    scenario: str
    run_a: str
    run_b: str
    changes: tuple[TestChange, ...]

    def of(self, change: Change) -> tuple[TestChange, ...]:
        return tuple(c for c in self.changes if c.change is change)


def _final(run: Path, variant: str | None) -> tuple[str, dict[tuple[str, str, str], TestResult]]:
    records = RunDir(run).read()
    if records.unreadable:
        first = records.unreadable[0]
        raise UsageError(f"{first.where}: {first.problem}; cannot compare {run}")
    labels = {label for _, found in records.scenarios for label in found}
    if len(labels) != 1:
        raise UsageError(f"{run}: holds scenarios {sorted(labels) or '(none)'}; expected one")
    final: dict[tuple[str, str, str], TestResult] = {}
    for result in records.results:
        if variant is not None and result.variant != variant:
            continue
        side = ids.BASELINE if result.variant == ids.BASELINE else "series"
        key = (result.arch, side, result.test)
        if key not in final or final[key].attempt < result.attempt:
            final[key] = result
    return labels.pop(), final


def _change(before: TestResult | None, after: TestResult | None) -> Change:
    if before is None:
        return Change.ONLY_IN_B
    if after is None:
        return Change.ONLY_IN_A
    a, b = before.seen, after.seen
    if outcome.is_regression(a, b):
        return Change.NEW_FAILURE
    if outcome.is_fix(a, b):
        return Change.FIXED
    if not a.behaved and not b.behaved:
        return Change.STILL_FAILING
    return Change.SAME if before.label == after.label else Change.OTHER


def compare(run_a: Path, run_b: Path, *, variant: str | None = None) -> Comparison:
    """Every test of either run, A beside B. With ``variant``, only that variant's tests (the
    watcher compares a series' own tests: its ``extra`` variant, not the baseline's)."""
    scenario_a, final_a = _final(run_a, variant)
    scenario_b, final_b = _final(run_b, variant)
    if scenario_a != scenario_b:
        raise UsageError(
            f"{run_a} is a run of scenario {scenario_a}, {run_b} of {scenario_b}; "
            "compare two runs of one scenario"
        )
    changes = []
    for key in sorted(set(final_a) | set(final_b)):
        before, after = final_a.get(key), final_b.get(key)
        changes.append(
            TestChange(
                *key,
                before=before.label if before else None,
                after=after.label if after else None,
                change=_change(before, after),
            )
        )
    return Comparison(scenario_a, str(run_a), str(run_b), tuple(changes))


def to_dict(comparison: Comparison) -> Mapping[str, object]:
    return {
        "scenario": comparison.scenario,
        "run_a": comparison.run_a,
        "run_b": comparison.run_b,
        "counts": {c.value: len(comparison.of(c)) for c in Change},
        "changes": [
            {
                "arch": c.arch,
                "side": c.side,
                "test": c.test,
                "before": c.before,
                "after": c.after,
                "change": c.change.value,
            }
            for c in comparison.changes
            if c.change is not Change.SAME
        ],
    }


def render_markdown(comparison: Comparison, *, level: int = 1) -> str:
    """The counts and a table of what changed, under a heading of ``level`` (deeper when the
    comparison is a section of another report). Names and paths are escaped as the farm's
    Markdown report escapes them: a run directory's records are untrusted."""
    heading = "#" * level
    run_a, run_b = markdown.code(comparison.run_a), markdown.code(comparison.run_b)
    lines = [f"{heading} {markdown.text(comparison.scenario)}: {run_a} -> {run_b}", ""]
    counts = ", ".join(f"{len(comparison.of(c))} {c.value}" for c in Change)
    lines += [counts, ""]
    shown = [c for c in comparison.changes if c.change is not Change.SAME]
    if shown:
        lines += ["| arch | side | test | A | B | change |", "|---|---|---|---|---|---|"]
        lines += [
            "| "
            + " | ".join(
                markdown.text(cell)
                for cell in (c.arch, c.side, c.test, c.before or "absent", c.after or "absent")
            )
            + f" | {c.change.value} |"
            for c in shown
        ]
    return "\n".join(lines) + "\n"
