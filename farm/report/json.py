"""The JSON report: the whole gate result, for machines (dashboards, bots, later comparisons).

The output is stable: keys sorted, lists in the gate's own sorted order, two-space indent, so
two runs with the same inputs give byte-identical files and diffs between runs are readable.
Field names are part of the farm's documented output; change them only with a bump of
``SCHEMA_VERSION``.

Schema (version 1); every date is ISO 8601 (``YYYY-MM-DD``), every enum its upper-case name::

    schema                int, SCHEMA_VERSION
    verdict               "ACCEPT" | "REJECT" | "UNDECIDED": the overall verdict
    exit_status           0 accepted, 1 any series rejected, 2 the farm could not decide
    today                 the date flaky-list expiry was judged against
    require_reproduction  true: a regression had to fail on a rerun too to reject
    baseline_variant      the variant every series was compared with ("baseline")
    warnings              [str]: things the gate noticed but that do not change the verdict
    tried                 what ``farm try`` tried and why, or null for another run:
                          {template, series, origin, patches ([{number, subject}]),
                          base_commit (a git template's commit, else null), base_reason,
                          glibc_tests ([str]), glibc_reasons ([str]), cases ([str])}
    expired_flaky         [flaky entry]: entries past their date, hence not honoured
    unreadable            [{where, problem, cell}]: run-directory records that could not be
                          read ("file" or "file:line"); each left its verdicts UNDECIDED
    cells                 [cell]: every cell's build status
    series                [series verdict]
    tests                 [history]: every test in every cell, with all its attempts

    cell: scenario, arch, variant, cell ("<scenario>-<arch>-<variant>"), state ("BUILT",
        "SOURCE_FAILED", "PATCH_FAILED", "CONFIGURE_FAILED", "BUILD_FAILED", "NOT_RUN"),
        message, failed_patch ({number, subject, reject} or null), image_tag, image_id,
        source_sha256, source_commit (a git source's commit, else ""), series_sha256,
        reproducer (the farm command line for this cell)
    series verdict: series, variant, verdict, patches ([{number, subject}]),
        reproducers ([str]), arches ([arch verdict])
    arch verdict: scenario, arch, series, verdict, reasons ([str], the first ones decide),
        baseline_cell / series_cell (cell or null), compared (tests in both variants),
        counts ({category: number of transitions}, every category), unchanged (tests in
        both variants with no transition),
        first_bad_patch ({number, subject} or null: from a failed patch or a bisection),
        bisect_tests ([str]), transitions ([transition]), unmet ([unmet expectation])
    transition: scenario, arch, series, test, kind ("REGRESSION", "FIX", "XPASS", "CHANGED",
        "FLAKY", "NEW", "VANISHED", "ALREADY_FAILING"), category ("new failure", "flaky",
        "already failing", "fixed", "other change"), baseline / patched (final label such as
        "CRASH(SIGSEGV)", or null when the test is absent there), transition ("A -> B"),
        attempts / baseline_attempts ([label], attempt order), rejects, reproduced, note,
        flaky_entry / expired_entry (flaky entry or null), known_flaky (the flaky history's
        evidence that excused it, or null: {cell, image_id, test, sightings}, sightings
        being [{run, label, on}], oldest first, neighbours differing in good vs bad, run
        "this run" for the run judged), output (tail of the output)
    unmet expectation: scenario, arch, test, actual (label or "absent"), description,
        expectation ({variant (glob), test (glob), expected, arch, scenario, where
        (the scenario's "file:line")})
    flaky entry: test (glob), reason, expires, arch (or null), where
    history: scenario, arch, variant, test, label (final), attempts ([result record as in
        farm.results, without its own "schema" key])
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
from pathlib import Path
from typing import Any

from farm.inputs.try_series import TryRecord
from farm.judging.gate import (
    ArchVerdict,
    AttemptHistory,
    CellStatus,
    GateResult,
    SeriesVerdict,
    Transition,
    UnmetExpectation,
)
from farm.report.common import write_text

SCHEMA_VERSION = 1


def to_dict(result: GateResult, *, tried: TryRecord | None = None) -> dict[str, Any]:
    """The gate result (and what ``farm try`` tried) as JSON-ready data, as the schema says."""
    return {
        "tried": _plain(tried),
        "schema": SCHEMA_VERSION,
        "verdict": result.verdict.value,
        "exit_status": result.exit_status,
        "today": result.today.isoformat(),
        "require_reproduction": result.require_reproduction,
        "baseline_variant": result.baseline_variant,
        "warnings": list(result.warnings),
        "expired_flaky": [_plain(e) for e in result.expired_flaky],
        "unreadable": [_plain(u) for u in result.unreadable],
        "cells": [_cell(c) for c in result.cells],
        "series": [_series(s) for s in result.series],
        "tests": [_history(h) for h in result.histories],
    }


def render_json(result: GateResult, *, tried: TryRecord | None = None) -> str:
    data = to_dict(result, tried=tried)
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_json(result: GateResult, path: Path, *, tried: TryRecord | None = None) -> Path:
    return write_text(path, render_json(result, tried=tried))


def _plain(value: Any) -> Any:
    """Dataclasses, enums, dates and tuples down to JSON types, field by field."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def _cell(cell: CellStatus | None) -> dict[str, Any] | None:
    if cell is None:
        return None
    return {**_plain(cell), "cell": cell.cell}


def _series(series: SeriesVerdict) -> dict[str, Any]:
    return {
        "series": series.series,
        "variant": series.variant,
        "verdict": series.verdict.value,
        "patches": _plain(series.patches),
        "reproducers": list(series.reproducers),
        "arches": [_arch(a) for a in series.arches],
    }


def _arch(arch: ArchVerdict) -> dict[str, Any]:
    return {
        "scenario": arch.scenario,
        "arch": arch.arch,
        "series": arch.series,
        "verdict": arch.verdict.value,
        "reasons": list(arch.reasons),
        "baseline_cell": _cell(arch.baseline_cell),
        "series_cell": _cell(arch.series_cell),
        "compared": arch.compared,
        "counts": {category.value: n for category, n in arch.counts.items()},
        "unchanged": arch.unchanged,
        "first_bad_patch": _plain(arch.first_bad_patch),
        "bisect_tests": list(arch.bisect_tests),
        "transitions": [_transition(t) for t in arch.transitions],
        "unmet": [_unmet(u) for u in arch.unmet],
    }


def _transition(transition: Transition) -> dict[str, Any]:
    return {**_plain(transition), "transition": transition.transition}


def _unmet(unmet: UnmetExpectation) -> dict[str, Any]:
    return {**_plain(unmet), "description": unmet.describe()}


def _history(history: AttemptHistory) -> dict[str, Any]:
    return {**_plain(history), "label": history.label}
