"""Finding the first patch of a series that causes a regression.

Prefixes of the series are built like the full series is, incrementally on the baseline
build tree of the same arch, and only the regressed tests run in them. A binary search over
prefix lengths needs about log2(n) incremental builds: prefix 0 (the baseline) is known
good, prefix n (the full series) is known bad.

A series that breaks many tests of one subdirectory (the LM_ID_NEWLM fixture breaks 42 of
elf/'s 350) would cost one ``make test t=`` per test on every prefix, about 2 s each idle
and 8 s on a loaded 2-core machine; from ``SUBDIR_CHECK_FROM`` regressed tests of one
subdirectory the prefix runs that subdirectory's ``make check`` once instead (61 s idle
for all of elf/), and reads their outcomes from it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from farm import ids, outcome
from farm.containers.engine import Engine, Progress
from farm.judging.gate import BisectResult, SeriesPatch
from farm.outcome import Seen
from farm.plan.matrix import Cell
from farm.plan.render import prefix_plan
from farm.results import TestResult
from farm.run import build
from farm.run.pipeline import BuiltCells
from farm.rundir import RunDir
from farm.testing import glibc_check, runner

#: Regressed tests of one glibc subdirectory from which a prefix runs the subdirectory's
#: whole ``make check`` rather than the tests one by one: elf/'s check (350 tests) costs
#: about 30 single tests here.
SUBDIR_CHECK_FROM = 30


def first_bad_patch(
    engine: Engine,
    built: BuiltCells,
    cell: Cell,
    tests: Mapping[str, Seen],
    *,
    run_dir: RunDir,
    progress: Progress,
) -> BisectResult:
    """The first patch of ``cell``'s series (its variant) whose prefix regresses any of
    ``tests`` (test -> its final baseline attempt); a prefix regresses a test by
    ``farm.outcome.is_regression``, exactly as the gate judges."""
    arch, series_name = cell.arch, cell.variant
    patches = built.prepared.series_patches[series_name]
    good, bad = 0, len(patches)
    bad_tests = tuple(tests)
    while bad - good > 1:
        middle = (good + bad) // 2
        failing = _failing_tests_at_prefix(
            engine, built, cell, middle, tests, run_dir=run_dir, progress=progress
        )
        progress(
            f"bisect {series_name} ({arch.value}): first {middle} of {len(patches)} patch(es) "
            f"{'regress' if failing else 'are good'}"
        )
        if failing:
            bad, bad_tests = middle, failing
        else:
            good = middle
    culprit = patches[bad - 1]
    return BisectResult(
        series=series_name,
        arch=arch.value,
        first_bad_patch=SeriesPatch(culprit.number, culprit.subject),
        tests=tuple(sorted(bad_tests)),
        scenario=cell.scenario_label,
    )


def _failing_tests_at_prefix(
    engine: Engine,
    built: BuiltCells,
    cell: Cell,
    count: int,
    tests: Mapping[str, Seen],
    *,
    run_dir: RunDir,
    progress: Progress,
) -> tuple[str, ...]:
    """The ``tests`` that regress with the first ``count`` patches applied.

    A prefix that does not build counts as bad with every test: the breakage is at or before
    it, which is what the search needs to know.
    """
    arch, series_name = cell.arch, cell.variant
    plan = prefix_plan(built.prepared.plan, cell.toolchain, arch, series_name, count)
    variant = ids.prefix_variant(series_name, count)
    test_image = plan.test_image(arch, variant, cell.toolchain)
    statuses = build.build_images(
        engine,
        plan,
        names=[test_image.name],
        log_dir=run_dir.bisect_logs,
        progress=progress,
        compiler_caches=built.compiler_caches,
    )
    if not statuses[test_image.name].state.ready:
        return tuple(tests)
    containers = runner.ContainerPool(lambda: engine, ids.ContainerRole.BISECT)

    def item_of(test: str) -> runner.TestItem:
        return runner.TestItem(
            cell.scenario_label,
            arch,
            variant,
            test_image.tag,
            test,
            built.scenario.timeout_factor,
            toolchain=cell.toolchain_label,
        )

    seen: dict[str, Seen] = {}

    def record(result: TestResult) -> None:
        if result.test in tests:
            run_dir.append_bisect_result(result)
            seen[result.test] = result.seen

    try:
        for subdir in subdirs_to_check(tests):
            item = item_of(ids.glibc_subdir_test_id(subdir))
            glibc_check.run_subdir_check(
                containers.for_item(item),
                subdir,
                runner.check_context(item),
                record=record,
                reruns=0,
            )
        # One at a time: the rest, and any test the check left without a verdict.
        for test in sorted(set(tests) - set(seen)):
            item = item_of(test)
            record(runner.run_item(containers.for_item(item), item))
    finally:
        containers.stop_all()
    return tuple(t for t in sorted(tests) if outcome.is_regression(tests[t], seen[t]))


def subdirs_to_check(tests: Iterable[str]) -> tuple[str, ...]:
    """The glibc subdirectories with at least ``SUBDIR_CHECK_FROM`` of TESTS in them, whose
    ``make check`` is cheaper than running those tests one by one."""
    counts = Counter(
        test.split("/")[1]
        for test in tests
        if ids.is_glibc_test(test) and ids.subdir_of_test(test) is None
    )
    return tuple(sorted(subdir for subdir, n in counts.items() if n >= SUBDIR_CHECK_FROM))
