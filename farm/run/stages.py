"""The stages of a farm run as one library call: frozen `RunOptions` in, `RunOutcome` out.

Build the cells' images and record their states, probe them, run their tests, bisect every
reproduced regression, judge, write the reports. ``farm run`` and ``farm test`` only turn
their arguments into `RunOptions`, call `run`, print the outcome and map it to an exit
status; a benchmark or a test calls `run` the same way, so there is one way through the
house and a CLI flag cannot change what a stage does behind the library's back. The stages
``farm build`` and ``farm gate`` run alone are functions here too (`build`, `judge`,
`report`), so those commands call what `run` calls instead of re-orchestrating it.

Like the rest of the core this never prints: progress goes to the ``progress`` callback, and
what the CLI shows (the summary table, the markdown verdict, the report paths) is in the
outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from farm import ids
from farm.containers import registry
from farm.containers.engine import Engine, Progress
from farm.errors import UsageError
from farm.inputs.sources import Cache
from farm.inputs.try_series import TryRecord
from farm.judging import history, verdict
from farm.judging.gate import ChangeKind, GateResult
from farm.plan import shard
from farm.plan.matrix import Cell
from farm.plan.scenario import Scenario
from farm.plan.shard import Shard
from farm.report.markdown import render_markdown
from farm.results import TestResult
from farm.run import bisect, pipeline
from farm.run.compiler_cache import DEFAULT_MAX_SIZE, CompilerCaches, max_size_option
from farm.rundir import RunDir
from farm.testing import runner

#: pytest's exit statuses that mean it did not run the tests it was given: 2 interrupted (a
#: collection error, as "Interrupted: 1 error during collection", or a signal), 3 internal
#: error, 4 usage error (a malformed -k expression, a bad -n).
PYTEST_COULD_NOT_RUN = {2: "interrupted", 3: "internal error", 4: "usage error"}
#: pytest's status when no item was selected, e.g. by a -k that matches nothing.
PYTEST_NO_TESTS = 5


#: Upper bounds that keep a typo from starting thousands of pytest workers or retrying a
#: failing test for hours.
MAX_WORKERS = 256
MAX_RERUNS = 100
#: pytest-xdist's -n words: as many workers as CPU cores (``auto``) or hardware threads
#: (``logical``, which falls back to ``auto`` without psutil).
WORKERS_BY_CPU = ("auto", "logical")


def _whole_number(value: int | str, low: int, high: int) -> int | None:
    """``value`` (a number, or command-line text such as ``"4"``) if it is a whole number
    from ``low`` to ``high``; None otherwise (a bool, ``"1.5"``, ``"٣"``)."""
    count = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value
    if isinstance(count, bool) or not isinstance(count, int) or not low <= count <= high:
        return None
    return count


def workers_option(value: int | str) -> int | str:
    """``--workers``/``-n`` as a run takes it: ``auto``, ``logical`` or a whole number from 1
    to `MAX_WORKERS`, given as a number or as command-line text (``"4"`` is 4). The one
    rule: the CLI's argument type calls it too, so both refuse the same values, with this
    message, before anything is built or connected."""
    if isinstance(value, str) and value in WORKERS_BY_CPU:
        return value
    count = _whole_number(value, 1, MAX_WORKERS)
    if count is None:
        raise UsageError(
            f"--workers: {value!r}: expected auto, logical or a whole number from 1 to "
            f"{MAX_WORKERS}"
        )
    return count


def reruns_option(value: int | str) -> int:
    """``--reruns``: a whole number from 0 (no reruns) to `MAX_RERUNS`, as a number or
    command-line text; the one rule, as `workers_option` is."""
    count = _whole_number(value, 0, MAX_RERUNS)
    if count is None:
        raise UsageError(
            f"--reruns: {value!r}: expected a whole number from 0 (no reruns) to {MAX_RERUNS}"
        )
    return count


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything a run depends on, parsed and checked once.

    Every rule over the options lives here, in `__post_init__` and the ``*_option``
    functions it calls: the CLI's argument types call the same functions, and the CLI
    builds its RunOptions before it connects to the engine or makes a run directory, so a
    refused option costs nothing and reads the same from any caller.
    """

    scenario: Scenario
    cells: tuple[Cell, ...]  # the cells to run (``--only``)
    run_dir: Path
    cache: Cache
    #: Every cell of the scenario (`farm.plan.matrix.cells`), of which ``cells`` are the ones
    #: run: made once by the caller, the judge takes the scenario's columns from them.
    scenario_cells: tuple[Cell, ...]
    workers: int | str = "auto"
    reruns: int = 1
    keyword: str | None = None
    resume: bool = False
    judge: bool = True  # False: build and test only (one CI cell; `farm gate` judges later)
    bisect: bool = True
    step_summary: Path | None = None  # GitHub's $GITHUB_STEP_SUMMARY
    shard: Shard | None = None  # run only this shard of the test items (one CI job of N)
    history: Path | None = None  # the flaky history to judge with and update; None: none
    build: bool = True  # False: test the images already here, refuse a missing one (--no-build)
    pull_from: registry.Registry | None = None  # pull what this engine lacks (--pull)
    push_to: registry.Registry | None = None  # push the cells' images once built (--push)
    ccache: bool = True  # False: compile without the compiler cache (--no-ccache)
    ccache_size: str = DEFAULT_MAX_SIZE  # each compiler cache's bound (--ccache-size)
    #: ``run_dir`` as the one `RunDir` that travels through the run's stages.
    directory: RunDir = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "directory", RunDir(self.run_dir))
        every = {cell.id for cell in self.scenario_cells}
        if stray := [cell.id for cell in self.cells if cell.id not in every]:
            raise ValueError(f"cells {', '.join(stray)} are none of the scenario's cells")
        object.__setattr__(self, "reruns", reruns_option(self.reruns))
        object.__setattr__(self, "workers", workers_option(self.workers))
        object.__setattr__(self, "ccache_size", max_size_option(self.ccache_size))
        if self.shard is not None and self.judge:
            # One shard's results are part of a run: judged alone, every other test is missing.
            raise UsageError(
                f"--shard {self.shard} needs --no-gate; gate the shards together with "
                "`farm gate SCENARIO RUN_DIR...`"
            )
        if self.history is not None and not self.judge:
            # Without a verdict there is nothing to judge with it, nor to record in it.
            raise UsageError(
                f"--history {self.history} needs the gate; leave out --no-gate, or give the "
                "history to the `farm gate` that judges this run"
            )

    @property
    def compiler_caches(self) -> CompilerCaches | None:
        """The compiler caches of the run's farm cache; None with ``--no-ccache``."""
        return CompilerCaches.under(self.cache.root, self.ccache_size) if self.ccache else None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a run did: its cells' images, its results, and (when judged) the verdict."""

    built: pipeline.BuiltCells
    run_dir: Path
    results: tuple[TestResult, ...]
    gate: GateResult | None = None
    reports: Mapping[str, Path] = field(default_factory=dict)
    #: What ``farm try`` tried (its run directory's try record); None for another run.
    tried: TryRecord | None = None

    @property
    def untested_cells(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.built.cells if self.built.ready_test_image(c) is None)

    @property
    def exit_status(self) -> int:
        """The gate's status when judged; otherwise 1 when a cell's image was not built."""
        if self.gate is not None:
            return self.gate.exit_status
        return 1 if self.untested_cells else 0

    @property
    def summary_table(self) -> str:
        return pipeline.summary_table(list(self.results))


def run(engine: Engine, options: RunOptions, progress: Progress) -> RunOutcome:
    """Build, test, and (with ``options.judge``) bisect, judge and report; see the module.

    The flaky history is read before anything is built (a file that is no history stops
    the run before it costs a build) and updated only after the verdict, which is judged on
    the history as it was before this run.
    """
    past = history.read(options.history) if options.judge and options.history else None
    built = build_and_test(engine, options, progress)
    results = tuple(pipeline.load_results(options.directory))
    if not options.judge:
        return RunOutcome(built, options.run_dir, results)

    def judged() -> GateResult:
        return judge(
            options.scenario, [options.run_dir], cells=options.scenario_cells,
            expected_cells=options.cells, past=past,
        )  # fmt: skip

    result = judged()
    if options.bisect and _bisect_regressions(engine, built, result, options, progress):
        result = judged()
    reported = report(
        result,
        options.run_dir,
        run_dirs=[options.run_dir],
        step_summary=options.step_summary,
        history_file=options.history,
        progress=progress,
    )
    return RunOutcome(
        built, options.run_dir, results, reported.result, reported.paths, reported.tried
    )


def judge(
    scenario: Scenario,
    run_dirs: list[Path],
    *,
    cells: tuple[Cell, ...],
    expected_cells: tuple[Cell, ...],
    past: history.History | None,
) -> GateResult:
    """The judge stage, of `run` and of ``farm gate`` alike: the verdict over the run
    directories of ``scenario``'s ``cells``, every expected cell required, with the flaky
    history as it was."""
    return verdict.evaluate(
        scenario, run_dirs, cells=cells, expected_cells=expected_cells, past=past
    )


@dataclass(frozen=True, slots=True)
class Reported:
    """What the report stage wrote, and what the CLI shows of it."""

    paths: Mapping[str, Path]
    #: The verdict as reported: the gate's, with a warning for a try record not shown.
    result: GateResult
    #: What ``farm try`` tried, when the run directories say it; None for another run.
    tried: TryRecord | None = None

    @property
    def markdown(self) -> str:
        """report.md's text, for the CLI to print."""
        return render_markdown(self.result, tried=self.tried)


def report(
    result: GateResult,
    out_dir: Path,
    *,
    run_dirs: Sequence[Path] = (),
    step_summary: Path | None,
    history_file: Path | None,
    progress: Progress,
) -> Reported:
    """The report stage, of `run` and of ``farm gate`` alike: every report into ``out_dir``
    (and GitHub's step summary), with what ``farm try`` tried when ``run_dirs`` say it
    (`tried_record`), then the verdict into the flaky history, if one is kept."""
    tried, warnings = tried_record(result, run_dirs)
    if warnings:
        result = replace(result, warnings=(*result.warnings, *warnings))
    paths = verdict.write_reports(result, out_dir, step_summary=step_summary, tried=tried)
    if history_file is not None:
        updated = verdict.record_history(history_file, result, history.new_run_id())
        progress(f"flaky history: {history_file} ({updated.runs} run(s) remembered)")
    return Reported(paths, result, tried)


def tried_record(
    result: GateResult, run_dirs: Sequence[Path]
) -> tuple[TryRecord | None, tuple[str, ...]]:
    """What ``farm try`` tried, from the run directories' try records (validated by
    `RunDir.read_try_record`), and warnings for one that is not shown.

    The record is no evidence (the verdict is the gate's over the records it judged), so
    one that cannot be read, that directories disagree on, or that names a series the
    verdict does not judge changes no verdict: the reports leave the section out and a
    warning says why, rather than show what may be another run's claim."""
    records: dict[TryRecord, str] = {}
    warnings: list[str] = []
    for directory in run_dirs:
        record, problems = RunDir(directory).read_try_record()
        warnings += [f"{p.where}: {p.problem}; what farm try tried is not shown" for p in problems]
        if record is not None:
            records.setdefault(record, str(RunDir(directory).try_record))
    if len(records) > 1:
        where = ", ".join(records.values())
        return None, (*warnings, f"{where} disagree on what farm try tried; none is shown")
    if not records:
        return None, tuple(warnings)
    ((record, where),) = records.items()
    judged = {series.series for series in result.series}
    if record.series not in judged:
        shown = ", ".join(sorted(judged)) or "none"
        return None, (
            *warnings,
            f"{where} is about series {record.series!r}, which this verdict does not judge "
            f"(it judges: {shown}); what farm try tried is not shown",
        )
    return record, tuple(warnings)


def build(
    engine: Engine,
    scenario: Scenario,
    cells: tuple[Cell, ...],
    *,
    cache: Cache,
    run_dir: RunDir,
    progress: Progress,
    build_missing: bool = True,
    shard_of: Shard | None = None,
    pull_from: registry.Registry | None = None,
    push_to: registry.Registry | None = None,
    compiler_caches: CompilerCaches | None,
) -> pipeline.BuiltCells:
    """The build stage, of `run` and of ``farm build`` alike: the cells' images, and how far
    each cell got recorded in the run directory (so ``farm gate`` can read a build job's)."""
    built = pipeline.build_cells(
        engine, scenario, cells, cache=cache, run_dir=run_dir, progress=progress,
        build_missing=build_missing, pull_from=pull_from, push_to=push_to,
        compiler_caches=compiler_caches,
    )  # fmt: skip
    verdict.write_run_state(run_dir.root, built, shard_of=shard_of)
    return built


def build_and_test(engine: Engine, options: RunOptions, progress: Progress) -> pipeline.BuiltCells:
    """Build the cells' images, record their states, probe them and run their tests (only
    the unfinished ones with ``options.resume``)."""
    directory = options.directory
    built = build(
        engine, options.scenario, options.cells, cache=options.cache, run_dir=directory,
        progress=progress, build_missing=options.build, shard_of=options.shard,
        pull_from=options.pull_from, push_to=options.push_to,
        compiler_caches=options.compiler_caches,
    )  # fmt: skip
    probes = pipeline.probe_cells(engine, built, run_dir=directory, progress=progress)
    items = pipeline.test_items(built, probes)
    if options.shard is not None:
        total = len(items)
        items = shard.select(items, options.shard)
        progress(f"shard {options.shard}: {len(items)} of {total} test item(s)")
    if options.resume:
        total = len(items)
        items = pipeline.resume_items(items, run_dir=directory, reruns=options.reruns)
        progress(f"resuming: {total - len(items)} of {total} test item(s) already finished")
    progress(f"running {len(items)} test item(s) with {options.workers} worker(s)")
    status = pipeline.run_tests(
        engine, items, run_dir=directory, workers=options.workers, reruns=options.reruns,
        keyword=options.keyword,
    )  # fmt: skip
    refuse_a_run_without_tests(status, keyword=options.keyword, items=items)
    return built


def refuse_a_run_without_tests(
    status: int, *, keyword: str | None, items: Sequence[runner.TestItem]
) -> None:
    """Raise UsageError when pytest's exit ``status`` says the ``items`` test items it was
    given did not run: nothing to summarise or gate, and an empty run must never pass (a CI
    shard job that exits 0 with no results looks like a shard that found nothing wrong)."""
    if status == PYTEST_NO_TESTS and keyword and items:
        raise UsageError(
            f"-k {keyword!r} selected none of the {len(items)} test item(s); match an item "
            f"id such as {items[0].id!r}, or leave -k out"
        )
    if status in PYTEST_COULD_NOT_RUN:
        raise UsageError(
            f"pytest could not run the tests ({PYTEST_COULD_NOT_RUN[status]}, exit status "
            f"{status}); its message is above. Check -n and -k (a -k expression is pytest's: "
            "'cases and not rseq')."
        )


def _bisect_regressions(
    engine: Engine,
    built: pipeline.BuiltCells,
    result: GateResult,
    options: RunOptions,
    progress: Progress,
) -> bool:
    """Bisect every series x arch with a reproduced regression; True if any was bisected."""
    bisected = False
    baselines = {
        (h.scenario, h.arch, h.test): h.final.seen
        for h in result.histories
        if h.variant == ids.BASELINE
    }
    for series_verdict in result.series:
        if series_verdict.series not in built.prepared.series_patches:
            continue  # the stacked variant is several series; bisect each on its own
        for arch_verdict in series_verdict.arches:
            # Each regressed test's final baseline attempt, judged as the gate judged it
            # (a designed crash is good), not re-read from its label.
            tests = {
                t.test: baselines[(t.scenario, t.arch, t.test)]
                for t in arch_verdict.of_kind(ChangeKind.REGRESSION)
                if t.rejects and (t.scenario, t.arch, t.test) in baselines
            }
            # The series' cell judged in this column (scenario label, arch): its toolchain.
            cell = next(
                (c for c in built.cells if c.variant == series_verdict.variant
                 and c.scenario_label == arch_verdict.scenario
                 and c.arch.value == arch_verdict.arch),
                None,
            )  # fmt: skip
            if not tests or cell is None:
                continue
            names = ", ".join(sorted(tests))
            progress(f"bisecting {series_verdict.series} in {cell.id}: {names}")
            found = bisect.first_bad_patch(
                engine, built, cell, tests, run_dir=options.directory, progress=progress
            )
            verdict.write_bisection(options.run_dir, found)
            bisected = True
    return bisected
