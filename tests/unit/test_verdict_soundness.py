"""Verdicts that were wrong on main, each through the code that produces it for real.

Each test names the wrong verdict it pins: PASS -> UNSUPPORTED that could never reject,
``--reruns 0`` that left every regression undecided, an unreadable results line that made a
FAIL vanish (ACCEPT), ACCEPT over tests that could not run, and tracebacks on corrupt run
directories.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farm import ids, outcome, rundir
from farm.judging import gate, verdict
from farm.outcome import Outcome
from farm.plan import matrix
from farm.plan.scenario import Scenario, load_scenario
from farm.results import TestResult
from farm.testing import runner
from tests.unit.test_verdict import DEFAULT, write_cell

SERIES = "git-updates"
UNPINNED = "farm/unload/runtime-unpinned-crash"


@pytest.fixture
def scenario() -> Scenario:
    return load_scenario(DEFAULT)


def healthy_run(
    scenario: Scenario,
    run_dir: Path,
    changes: dict[str, dict[str, str]] | None = None,
    attempts: int = 1,
) -> None:
    changes = changes or {}
    for variant in scenario.variants:
        for arch in ("x86_64", "i686"):
            write_cell(run_dir, scenario, arch, variant, changes.get(variant), attempts)


def judge(scenario: Scenario, *run_dirs: Path) -> gate.GateResult:
    every = matrix.cells([scenario])
    return verdict.evaluate(scenario, list(run_dirs), cells=every, expected_cells=every)


def reasons(result: gate.GateResult) -> list[str]:
    return [r for s in result.series for a in s.arches for r in a.reasons]


# ------------------------------------------------------------------ PASS -> UNSUPPORTED


def record(variant: str, label: Outcome, attempt: int) -> TestResult:
    return TestResult("s", "x86_64", variant, "glibc/misc/tst-x", label, attempt=attempt)


def attempts_of(variant: str, outcomes: list[Outcome], reruns: int) -> list[TestResult]:
    """What the runner records for a test whose attempts would show ``outcomes`` in turn."""
    recorded: list[TestResult] = []
    runner.run_with_reruns(
        lambda attempt: record(variant, outcomes[attempt - 1], attempt),
        reruns=reruns,
        record=recorded.append,
    )
    return recorded


def test_a_series_that_makes_a_passing_test_unsupported_is_rejected_after_its_rerun() -> None:
    """On main an UNSUPPORTED was never rerun, so PASS -> UNSUPPORTED always ended UNDECIDED."""
    baseline = attempts_of(ids.BASELINE, [Outcome.PASS], reruns=1)
    series = attempts_of("fix", [Outcome.UNSUPPORTED, Outcome.UNSUPPORTED], reruns=1)
    assert [r.attempt for r in series] == [1, 2]
    result = gate.evaluate(baseline + series, require_reproduction=True, today=datetime_today())
    (arch,) = result.series[0].arches
    assert arch.verdict is gate.Verdict.REJECT, arch.reasons
    (regression,) = arch.of_kind(gate.ChangeKind.REGRESSION)
    assert regression.transition == "PASS -> UNSUPPORTED" and regression.reproduced


def test_an_unsupported_that_passes_on_its_rerun_is_flaky_not_a_regression() -> None:
    baseline = attempts_of(ids.BASELINE, [Outcome.PASS], reruns=1)
    series = attempts_of("fix", [Outcome.UNSUPPORTED, Outcome.PASS], reruns=1)
    result = gate.evaluate(baseline + series, require_reproduction=True, today=datetime_today())
    (arch,) = result.series[0].arches
    assert [t.kind for t in arch.transitions] == [gate.ChangeKind.FLAKY]
    assert arch.verdict is gate.Verdict.ACCEPT


def test_the_baselines_unsupported_is_not_rerun() -> None:
    assert len(attempts_of(ids.BASELINE, [Outcome.UNSUPPORTED, Outcome.PASS], reruns=1)) == 1


@pytest.mark.parametrize("after", list(Outcome))
@pytest.mark.parametrize("before", list(Outcome))
def test_every_possible_regression_is_rerun_so_it_can_be_confirmed(
    before: Outcome, after: Outcome
) -> None:
    """The invariant whose absence made PASS -> UNSUPPORTED undecidable (with designed
    crashes too: tests/unit/test_outcome.py)."""
    if outcome.is_regression(outcome.Seen(before), outcome.Seen(after)):
        assert outcome.needs_rerun(after, "fix")


def datetime_today() -> datetime.date:
    return datetime.date(2026, 11, 30)


# ------------------------------------------------------------------ --reruns 0


@pytest.mark.parametrize(
    ("reruns", "expected"),
    [(0, gate.Verdict.REJECT), (1, gate.Verdict.UNDECIDED), (None, gate.Verdict.UNDECIDED)],
)
def test_reruns_recorded_in_the_run_directory_decide_whether_one_bad_attempt_rejects(
    scenario: Scenario, tmp_path: Path, reruns: int | None, expected: gate.Verdict
) -> None:
    """On main require_reproduction was hard-coded True: --reruns 0 left it UNDECIDED."""
    healthy_run(scenario, tmp_path, {SERIES: {"glibc/elf/tst-dlmopen1": "FAIL"}})
    if reruns is not None:
        rundir.RunDir(tmp_path).write_run_info(reruns=reruns)
    result = judge(scenario, tmp_path)
    assert result.verdict is expected, reasons(result)
    assert result.require_reproduction is (reruns != 0)


def _split_by_shard(run: Path, shards: list[Path]) -> None:
    """Deal the results of ``run`` out to ``shards`` by farm.plan.shard's split, as `farm run
    --shard I/N` would have recorded them; every shard also records every cell's state."""
    from farm.plan.shard import Shard, select

    found, unreadable = rundir.RunDir(run).read_results()
    assert found and not unreadable
    for index, directory in enumerate(shards, start=1):
        (directory / "cells").mkdir(parents=True)
        for cell in (run / "cells").iterdir():
            (directory / "cells" / cell.name).write_bytes(cell.read_bytes())
        for result in select(list(found), Shard(index, len(shards))):
            rundir.RunDir(directory).append_result(result, worker="gw0")


@pytest.mark.parametrize("reruns", [0, 1])
def test_a_gate_over_a_build_directory_and_shards_judges_as_over_one_run(
    scenario: Scenario, tmp_path: Path, reruns: int
) -> None:
    """The GitHub workflow's sharded cell: a build job's directory (`farm build`: cell states,
    no run.json, no results) and shard jobs' directories. On the first version of this
    workflow the build directory, having no run.json, was taken for an older farm that reran,
    so shards run with --reruns 0 saw their one-attempt regression left UNDECIDED."""
    one = tmp_path / "one"
    healthy_run(scenario, one, {SERIES: {"glibc/elf/tst-dlmopen1": "FAIL"}})
    rundir.RunDir(one).write_run_info(reruns=reruns)
    shards = [tmp_path / "shard-1", tmp_path / "shard-2"]
    _split_by_shard(one, shards)
    for directory in shards:
        rundir.RunDir(directory).write_run_info(reruns=reruns)
    build = tmp_path / "build"
    (build / "cells").mkdir(parents=True)
    for cell in (one / "cells").iterdir():
        (build / "cells" / cell.name).write_bytes(cell.read_bytes())

    unsplit, split = judge(scenario, one), judge(scenario, build, *shards)
    assert unsplit.verdict is (gate.Verdict.REJECT if reruns == 0 else gate.Verdict.UNDECIDED)
    assert split.verdict is unsplit.verdict, reasons(split)
    assert split.require_reproduction is unsplit.require_reproduction is (reruns != 0)
    assert reasons(split) == reasons(unsplit)
    assert all(rundir.RunDir(d).read_results()[0] for d in shards), "a shard got no test"


def test_a_results_directory_without_run_json_still_counts_as_one_that_reran(
    scenario: Scenario, tmp_path: Path
) -> None:
    """Only directories without tests stop counting: results from an older farm (no run.json)
    beside --reruns 0 results keep their single-attempt regressions unconfirmed."""
    old, new = tmp_path / "old", tmp_path / "new"
    healthy_run(scenario, old, {SERIES: {"glibc/elf/tst-dlmopen1": "FAIL"}})
    _split_by_shard(old, [new])
    rundir.RunDir(new).write_run_info(reruns=0)
    assert rundir.read_all([rundir.RunDir(old), rundir.RunDir(new)]).reruns == (None, 0)
    assert judge(scenario, old, new).verdict is gate.Verdict.UNDECIDED


# ------------------------------------------------------------------ unreadable results


@pytest.mark.parametrize(
    "damage",
    [
        lambda line: line.replace('"FAIL"', '"fail"'),  # mis-cased outcome
        lambda line: line[: len(line) // 2],  # torn by a killed writer
        lambda line: line.replace('"attempt": 1', '"attempt": "1"'),  # wrong type
        lambda line: line.replace('"schema": 1', '"schema": 2'),  # another farm version
        lambda line: line.replace("{", '{"extra": 1, ', 1),  # unknown field
    ],
    ids=["mis-cased", "torn", "wrong-type", "schema-2", "extra-field"],
)
def test_an_unreadable_fail_line_leaves_the_verdict_undecided_naming_file_and_line(
    scenario: Scenario, tmp_path: Path, damage: object
) -> None:
    """On main read_results skipped the line: the FAIL 'vanished' and the gate ACCEPTed."""
    healthy_run(scenario, tmp_path, {SERIES: {"glibc/elf/tst-dlmopen1": "FAIL"}}, attempts=2)
    path = tmp_path / "results" / f"{ids.cell_id(scenario.name, 'x86_64', SERIES)}.jsonl"
    lines = path.read_text().splitlines()
    damaged = [damage(line) if '"FAIL"' in line else line for line in lines]  # type: ignore[operator]
    path.write_text("\n".join(damaged) + "\n")
    result = judge(scenario, tmp_path)
    assert result.verdict is not gate.Verdict.ACCEPT
    (series,) = result.series
    x86 = next(a for a in series.arches if a.arch == "x86_64")
    assert x86.verdict is gate.Verdict.UNDECIDED, x86.reasons
    first_bad = next(n for n, line in enumerate(lines, 1) if '"FAIL"' in line)
    assert any(f"{path}:{first_bad}:" in r for r in x86.reasons), x86.reasons
    # The other arch's records are intact: its reproduced FAIL rejects, and the damaged
    # line of x86_64 is not held against it.
    i686 = next(a for a in series.arches if a.arch == "i686")
    assert i686.verdict is gate.Verdict.REJECT, i686.reasons
    assert not any("could not be read" in r for r in i686.reasons)


def test_a_torn_last_line_is_reported_as_such_not_dropped(tmp_path: Path) -> None:
    run = rundir.RunDir(tmp_path)
    run.append_result(record("fix", Outcome.PASS, 1), worker="gw0")
    path = run.results_file(record("fix", Outcome.PASS, 1).cell, "gw0")
    with path.open("a") as stream:
        stream.write(record("fix", Outcome.FAIL, 1).to_json()[:30])  # killed mid-write
    found, (problem,) = run.read_results()
    assert [r.outcome for r in found] == [Outcome.PASS]
    assert problem.where == f"{path}:2" and "torn last line" in problem.problem
    assert problem.cell == "s-x86_64-fix"


# ------------------------------------------------------------------ corrupt run directories


def _cell_json(run_dir: Path, scenario: Scenario, variant: str = SERIES) -> Path:
    return run_dir / "cells" / f"{ids.cell_id(scenario.name, 'x86_64', variant)}.json"


def _edit_cell(edit: object) -> object:
    def apply(run_dir: Path, scenario: Scenario) -> None:
        path = _cell_json(run_dir, scenario)
        data = json.loads(path.read_text())
        path.write_text(json.dumps(edit(data)))  # type: ignore[operator]

    return apply


def _write(relative: str, content: bytes) -> object:
    def apply(run_dir: Path, scenario: Scenario) -> None:
        path = run_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    return apply


def _truncate_cell(run_dir: Path, scenario: Scenario) -> None:
    path = _cell_json(run_dir, scenario)
    path.write_text(path.read_text()[:20])


def _symlink_out(run_dir: Path, scenario: Scenario) -> None:
    outside = run_dir.parent / "outside.json"
    outside.write_text(_cell_json(run_dir, scenario).read_text())
    _cell_json(run_dir, scenario).unlink()
    _cell_json(run_dir, scenario).symlink_to(outside)


def _fifo(run_dir: Path, scenario: Scenario) -> None:
    os.mkfifo(run_dir / "results" / "stuck--gw0.jsonl")


def _directory_named_json(run_dir: Path, scenario: Scenario) -> None:
    (run_dir / "bisect" / "x.json").mkdir(parents=True)


CORRUPTIONS = {
    "truncated-json": _truncate_cell,
    "unknown-state": _edit_cell(lambda d: d | {"state": "BUILT_OK"}),
    "wrong-type": _edit_cell(lambda d: d | {"arch": 64}),
    "extra-field": _edit_cell(lambda d: d | {"colour": "red"}),
    "missing-field": _edit_cell(lambda d: {k: v for k, v in d.items() if k != "state"}),
    "list-for-object": _edit_cell(lambda d: [d]),
    "failed-patch-list": _edit_cell(lambda d: d | {"failed_patch": [1, "x"]}),
    "schema-99": _edit_cell(lambda d: d | {"schema": 99}),
    "non-utf8": _write("cells/x.json", b'{"state": "\xff"}'),
    "symlink-out": _symlink_out,
    "fifo": _fifo,
    "dir-named-json": _directory_named_json,
    "series-list": _write("series.json", b"[1, 2]"),
    "series-bad-patch": _write("series.json", b'{"git-updates": [{"number": "one"}]}'),
    "bisect-bad": _write("bisect/s-x86_64-git-updates.json", b'{"series": 1}'),
    "run-info-negative": _write("run.json", b'{"schema": 1, "reruns": -1}'),
    "run-info-nan": _write("run.json", b'{"schema": 1, "reruns": NaN}'),
    "results-null": _write("results/x--gw0.jsonl", b"null\n"),
    "results-deep": _write("results/x--gw0.jsonl", b"[" * 100000 + b"\n"),
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_run_directory_gives_undecided_naming_the_file_never_a_traceback(
    scenario: Scenario, tmp_path: Path, corrupt: object
) -> None:
    """On main `farm gate` raised a traceback on 14 of these (and skipped the rest)."""
    run = tmp_path / "run"
    healthy_run(scenario, run)
    assert judge(scenario, run).verdict is gate.Verdict.ACCEPT
    corrupt(run, scenario)  # type: ignore[operator]
    result = judge(scenario, run)
    assert result.verdict is gate.Verdict.UNDECIDED, reasons(result)
    assert result.unreadable
    assert all(str(run) in u.where for u in result.unreadable)
    assert any("could not be read" in r for r in reasons(result))


# ------------------------------------------------------------------ no evidence


def test_a_run_where_every_test_errored_is_undecided_not_accepted(tmp_path: Path) -> None:
    """rseq v12 on 2.30: all items ERROR, and main said ACCEPT ('no regressions in 5 ...')."""
    scenario = load_scenario(DEFAULT.parent / "rseq-v12.yaml")
    for cell in matrix.cells([scenario]):  # every toolchain x arch x variant
        label, arch, variant = cell.scenario_label, cell.arch.value, cell.variant
        status = gate.CellStatus(label, arch, variant, gate.CellState.BUILT)
        rundir.RunDir(tmp_path).write_cell(status)
        tests = ["glibc/elf/tst-tls1", "glibc/posix/tst-affinity"]
        if variant != ids.BASELINE:
            tests += ["glibc/misc/tst-rseq", "glibc/nptl/tst-rseq-nptl"]  # the series adds
        for test in tests:
            for attempt in (1, 2):
                errored = TestResult(label, arch, variant, test, Outcome.ERROR, attempt=attempt)
                rundir.RunDir(tmp_path).append_result(errored, worker="gw0")
    result = judge(scenario, tmp_path)
    assert result.verdict is gate.Verdict.UNDECIDED, reasons(result)
    text = "\n".join(reasons(result))
    assert "every test of the series variant ERRORed" in text
    assert "no test produced an outcome in both variants" in text
    assert "glibc/misc/tst-rseq ERROR (new test the farm could not run)" in text
    assert "could not be checked" in text  # its expectations: PASS, got ERROR


def new_test_gate(attempts: list[Outcome], require_reproduction: bool = True) -> gate.ArchVerdict:
    records = [
        record(ids.BASELINE, Outcome.PASS, 1),
        record("fix", Outcome.PASS, 1),
        *(
            dataclasses.replace(record("fix", o, n), test="glibc/misc/tst-new")
            for n, o in enumerate(attempts, 1)
        ),
    ]
    result = gate.evaluate(
        records, require_reproduction=require_reproduction, today=datetime_today()
    )
    (arch,) = result.series[0].arches
    return arch


@pytest.mark.parametrize(
    ("attempts", "require", "expected"),
    [
        ([Outcome.FAIL, Outcome.FAIL], True, gate.Verdict.REJECT),
        ([Outcome.CRASH, Outcome.CRASH], True, gate.Verdict.REJECT),
        ([Outcome.TIMEOUT], False, gate.Verdict.REJECT),
        ([Outcome.FAIL], True, gate.Verdict.UNDECIDED),
        ([Outcome.FAIL, Outcome.PASS], True, gate.Verdict.UNDECIDED),
        ([Outcome.ERROR, Outcome.ERROR], True, gate.Verdict.UNDECIDED),
        ([Outcome.PASS], True, gate.Verdict.ACCEPT),
        ([Outcome.UNSUPPORTED, Outcome.UNSUPPORTED], True, gate.Verdict.ACCEPT),
    ],
)
def test_a_test_the_series_adds_is_evidence_like_any_other(
    attempts: list[Outcome], require: bool, expected: gate.Verdict
) -> None:
    """On main a new test never affected the verdict: a failing one was ACCEPTed."""
    arch = new_test_gate(attempts, require)
    assert arch.verdict is expected, arch.reasons


# ------------------------------------------------------------------ fuzzing


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.lists(st.binary(max_size=200), min_size=1, max_size=4), seed=st.randoms())
def test_arbitrary_bytes_in_a_results_file_are_counted_as_records_or_as_unreadable(
    scenario: Scenario, tmp_path_factory: pytest.TempPathFactory, junk: list[bytes], seed: object
) -> None:
    """No traceback on any input; every non-blank line is a record or an unreadable one (an
    oracle by counting, independent of how a line is judged); never ACCEPT over one that is
    unreadable; and the verdict does not depend on the order of the lines."""
    run = tmp_path_factory.mktemp("run")
    healthy_run(scenario, run)
    path = run / "results" / f"{ids.cell_id(scenario.name, 'i686', SERIES)}.jsonl"
    lines = path.read_bytes().splitlines() + [j.replace(b"\n", b" ") for j in junk]
    verdicts = set()
    for _ in range(2):
        seed.shuffle(lines)  # type: ignore[attr-defined]
        path.write_bytes(b"\n".join(lines) + b"\n")
        found, unreadable = rundir.RunDir(run).read_results()
        in_file = [r for r in found if r.cell == path.name.removesuffix(".jsonl")]
        assert len(in_file) + len(unreadable) == sum(1 for line in lines if line.strip())
        result = judge(scenario, run)
        if unreadable:
            assert result.verdict is not gate.Verdict.ACCEPT
        verdicts.add(result.verdict)
    assert len(verdicts) == 1


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["cells/s.json", "series.json", "run.json", "bisect/b.json"]),
    content=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=12), inner, max_size=5)
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode()),
    ),
)
def test_arbitrary_content_in_any_record_file_never_raises_and_never_passes_silently(
    tmp_path_factory: pytest.TempPathFactory, name: str, content: bytes
) -> None:
    run = tmp_path_factory.mktemp("run")
    (run / name).parent.mkdir(parents=True, exist_ok=True)
    (run / name).write_bytes(content)
    records = rundir.RunDir(run).read()
    total = len(records.cells) + len(records.series) + len(records.bisections)
    total += sum(r is not None for r in records.reruns)
    empty_series = name == "series.json" and content.strip() == b"{}"  # a valid empty list
    assert total or records.unreadable or empty_series, "neither read nor reported"


def test_every_report_renders_a_verdict_held_up_by_an_unreadable_record(
    scenario: Scenario, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    healthy_run(scenario, run)
    _truncate_cell(run, scenario)
    result = judge(scenario, run)
    paths = verdict.write_reports(result, tmp_path / "reports", step_summary=None)
    data = json.loads(paths["json"].read_text())
    (problem,) = data["unreadable"]
    assert problem["where"] == str(_cell_json(run, scenario))
    assert "could not be read" in paths["markdown"].read_text()
    assert all(path.stat().st_size for path in paths.values())


def test_the_spec_writer_records_the_reruns_where_the_gate_reads_them(tmp_path: Path) -> None:
    run = rundir.RunDir(tmp_path)
    runner.write_spec(run, [], reruns=0)
    assert run.read().reruns == (0,)
    assert not run.read().require_reproduction
    assert json.loads(run.spec.read_text())["run_dir"] == str(tmp_path)  # the plugin's input
    runner.write_spec(run, [], reruns=2)
    assert run.read().require_reproduction
