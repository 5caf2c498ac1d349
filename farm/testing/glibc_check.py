"""Running a whole glibc subdirectory's tests the way glibc developers do: ``make check``.

One ``make check`` per subdirectory builds and runs its tests in parallel, as glibc's own
CIs do, in a fraction of the time one ``make test t=`` per test takes (make walks the tree
once, not once per test):

    make -k -j<N> -C /src/glibc/<subdir> objdir=/build/glibc check

It leaves ``<subdir>/subdir-tests.sum`` (one verdict per test, by glibc's own
``merge-test-results.sh``) and each test's ``.out``. When make stops before writing the
summary (a test did not build; ``-k`` builds the others), the script asks glibc's merge
script for it with glibc's own list of the subdirectory's tests, so a test that left no
result is there as UNRESOLVED (ERROR) rather than missing. The script sends the summary
and, for every test that did not PASS, the tail of its ``.out`` and its ``.test-result``
back base64-encoded: tests could print anything, and nothing they print can pose as a
verdict. ``farm.testing.glibc_sum`` reads the summary; ``glibc_test.driver_outcome`` turns a FAIL
into TIMEOUT or CRASH where glibc's driver says so.

A subdirectory is one pytest item (test id ``glibc/<subdir>/``, see ``ids.glibc_subdir_test_id``)
that writes one result record per glibc test (``glibc/<subdir>/<test>``), so the gate
compares test by test as for tests run one at a time. A bad outcome is rerun the old way,
one test at a time (``farm.testing.glibc_test``), as attempt 2 and on.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from farm import ids
from farm.containers.container import TestContainer
from farm.errors import EngineError
from farm.plan.scenario import ALL_SUBDIRS
from farm.results import Outcome, TestResult
from farm.testing import glibc_test
from farm.testing.glibc_sum import Anomaly, parse_summary, parse_test_result

#: Seconds for one subdirectory's ``make check`` before the timeout factor (math/ and nptl/
#: take tens of minutes on 2 cores); what is left after it is merged and reported.
CHECK_TIMEOUT = 3 * 3600.0
#: Seconds the script gets, after make, to merge and send the results back.
REPORT_TIMEOUT = 300.0
#: Make jobs for one subdirectory: the container may use this many CPUs (CONTAINER_LIMITS).
CHECK_JOBS = max(1, min(os.cpu_count() or 1, 2))
OUT_TAIL_BYTES = 6000
_SUBDIR_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_FILE_LINE_RE = re.compile(r"farm-file (sum|out|result|log) (\S+) ([A-Za-z0-9+/=]*)")
_MAKE_STATUS_RE = re.compile(r"^farm-make-status (\d+)$", re.MULTILINE)

_SCRIPT = r"""
source={source} build={build} sub={subdir}
cd "$build" || exit 126
emit() {{ printf 'farm-file %s %s ' "$1" "$2"; base64 -w0; echo; }}
if [ ! -d "$source/$sub" ]; then echo "farm-no-subdir"; exit 0; fi
rm -f "$build/$sub/subdir-tests.sum"
echo "farm: make -k -j{jobs} -C $source/$sub objdir=$build check"
timeout -k 10 {make_timeout} make -k -j{jobs} -C "$source/$sub" objdir="$build" check \
    >/tmp/farm-check.log 2>&1
echo "farm-make-status $?"
if [ ! -s "$build/$sub/subdir-tests.sum" ]; then
    # make stopped before glibc merged the verdicts: merge them glibc's way, so a test that
    # left no .test-result is listed as UNRESOLVED instead of missing.
    printf '%s\n\t%s %s %s\n' 'farm-merge:' \
        '$(..)scripts/merge-test-results.sh -s $(objpfx) $(subdir)' \
        '$(sort $(tests-expected) $(tests-special-notdir:.out=))' \
        '> $(objpfx)subdir-tests.sum' >/tmp/farm-merge.mk
    make -s -C "$source/$sub" objdir="$build" -f Makefile -f /tmp/farm-merge.mk farm-merge \
        >>/tmp/farm-check.log 2>&1
    echo "farm-merged-by-farm"
fi
emit sum "$sub/subdir-tests.sum" <"$build/$sub/subdir-tests.sum"
while IFS= read -r line; do
    case $line in PASS:\ *) continue ;; esac
    name=${{line#*: }}
    case $name in *[!A-Za-z0-9_.+/-]* | */../* | ../*) continue ;; esac
    tail -c {tail} "$build/$name.out" 2>/dev/null | emit out "$name"
    if [ -f "$build/$name.test-result" ]; then emit result "$name" <"$build/$name.test-result"; fi
done <"$build/$sub/subdir-tests.sum"
tail -n 40 /tmp/farm-check.log | emit log make
"""


def check_subdir_name(subdir: str) -> None:
    """SUBDIR becomes a make directory and paths in a root shell."""
    if not _SUBDIR_RE.fullmatch(subdir) or subdir in (".", ".."):
        raise ValueError(f"glibc subdirectory {subdir!r} must be a plain name like 'elf'")


def subdir_check_script(
    subdir: str,
    *,
    jobs: int = CHECK_JOBS,
    make_timeout: float = CHECK_TIMEOUT,
    source: str = glibc_test.SOURCE_DIR,
    build: str = glibc_test.BUILD_DIR,
) -> str:
    """The sh script that runs ``make check`` in SUBDIR and sends the verdicts back."""
    check_subdir_name(subdir)
    return _SCRIPT.format(
        source=shlex.quote(source),
        build=shlex.quote(build),
        subdir=shlex.quote(subdir),
        jobs=int(jobs),
        make_timeout=f"{make_timeout:.0f}",
        tail=OUT_TAIL_BYTES,
    )


@dataclass(frozen=True, slots=True)
class CheckedTest:
    """One glibc test as a subdirectory check left it."""

    name: str  # subdir/test
    outcome: Outcome
    signal: str | None
    exit_status: int | None
    output: str  # the tail of its .out (empty for a PASS)


@dataclass(frozen=True, slots=True)
class SubdirCheck:
    """What one subdirectory's ``make check`` gave: per-test verdicts and what went wrong."""

    subdir: str
    tests: tuple[CheckedTest, ...]
    anomalies: tuple[Anomaly, ...]
    make_status: int | None
    make_log: str


def read_check_output(subdir: str, output: str, *, exit_code: int) -> SubdirCheck:
    """Parse what ``subdir_check_script`` printed (its exec exited EXIT_CODE)."""
    where = f"make check in {subdir}/"
    files: dict[tuple[str, str], str] = {}
    anomalies: list[Anomaly] = []
    for line in output.splitlines():
        found = _FILE_LINE_RE.fullmatch(line.strip())
        if found is None:
            continue
        kind, name, encoded = found.groups()
        try:
            text = base64.b64decode(encoded, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            anomalies.append(Anomaly(where, f"unreadable {kind} of {name}"))
            continue
        if (kind, name) in files:
            # A second copy could say PASS where the first said FAIL: neither is believed.
            anomalies.append(Anomaly(where, f"a second {kind} of {name}; the first is kept"))
            continue
        files[(kind, name)] = text
    status_found = _MAKE_STATUS_RE.search(output)
    make_status = int(status_found.group(1)) if status_found else None
    make_log = files.get(("log", "make"), "")
    if "farm-no-subdir" in output.splitlines():
        anomalies.append(Anomaly(where, f"this glibc tree has no subdirectory {subdir}/"))
        return SubdirCheck(subdir, (), tuple(anomalies), None, "")
    if exit_code != 0 or make_status is None:
        anomalies.append(
            Anomaly(where, f"the check script stopped early (exit {exit_code}): {output[-500:]}")
        )
    if make_status == glibc_test.TIMEOUT_STATUS:
        anomalies.append(Anomaly(where, "make check was stopped at its timeout"))
    sum_name = f"{subdir}/subdir-tests.sum"
    summary = parse_summary(files.get(("sum", sum_name), ""), source=sum_name)
    anomalies += summary.anomalies
    if not summary.entries:
        anomalies.append(Anomaly(sum_name, f"no verdicts (make status {make_status})"))
    tests: list[CheckedTest] = []
    for entry in summary.entries:
        if not entry.test.startswith(f"{subdir}/"):
            anomalies.append(Anomaly(entry.where, f"{entry.test} is not a test of {subdir}/"))
            continue
        out_text = files.get(("out", entry.test), "")
        result_text = files.get(("result", entry.test))
        exit_status = None
        if result_text is not None and result_text.strip():
            exit_status = parse_test_result(result_text, source=entry.test).exit_status
        outcome, crash_signal = glibc_test.driver_outcome(
            entry.outcome, out_text, exit_status=exit_status
        )
        tests.append(CheckedTest(entry.test, outcome, crash_signal, exit_status, out_text))
    return SubdirCheck(subdir, tuple(tests), tuple(anomalies), make_status, make_log)


_LIST_SUBDIRS = r"""
sed -n 's/^sorted-subdirs *:= *//p' /build/glibc/sysd-sorted
"""


def resolve_subdirs(container: TestContainer, selected: tuple[str, ...]) -> tuple[str, ...]:
    """SELECTED (``elf``, ``dlfcn`` or ``all``) as this tree's subdirectories, in glibc's order
    for ``all`` (its ``sorted-subdirs``, which lists the ones this configuration builds)."""
    if ALL_SUBDIRS not in selected:
        return selected
    ran = container.exec(_LIST_SUBDIRS, timeout=60)
    subdirs = tuple(ran.output.split())
    if ran.exit_code != 0 or not subdirs:
        raise EngineError(
            f"cannot list glibc's subdirectories in {container.image} (sysd-sorted):\n"
            f"{ran.output[-2000:]}"
        )
    for subdir in subdirs:
        check_subdir_name(subdir)
    return subdirs


@dataclass(frozen=True, slots=True)
class CellContext:
    """Where the records of a check go: the cell's names and the image, as runner.TestItem."""

    scenario: str
    arch: str
    variant: str
    image: str
    factor: float  # the timeout factor, arch included


def run_subdir_check(
    container: TestContainer,
    subdir: str,
    cell: CellContext,
    *,
    record: Callable[[TestResult], None],
    reruns: int,
    jobs: int = CHECK_JOBS,
) -> tuple[SubdirCheck, tuple[TestResult, ...]]:
    """Run SUBDIR's ``make check`` in CONTAINER, RECORD one result per glibc test, rerun
    each bad one up to RERUNS times the single-test way; returns the check and every
    test's last attempt."""
    script = subdir_check_script(subdir, jobs=jobs, make_timeout=CHECK_TIMEOUT * cell.factor)
    ran = container.exec(
        script,
        timeout=CHECK_TIMEOUT * cell.factor + REPORT_TIMEOUT,
        user="root",
        environment={"TIMEOUTFACTOR": f"{cell.factor:g}"},
    )
    check = read_check_output(subdir, ran.output, exit_code=ran.exit_code)
    if check.anomalies:
        # The summary was not read cleanly, so a test may be missing from it: the item's own
        # ERROR record tells the gate to hold this subdirectory's verdict (farm.judging.gate).
        record(
            _record(
                cell,
                f"{subdir}/",
                outcome=Outcome.ERROR,
                output="\n".join(str(anomaly) for anomaly in check.anomalies)[-OUT_TAIL_BYTES:],
                details={"run_by": f"make check in {subdir}/", "summary": "anomalies"},
            )
        )
    finals: list[TestResult] = []
    for test in check.tests:
        result = _record(
            cell,
            test.name,
            outcome=test.outcome,
            signal=test.signal,
            exit_code=test.exit_status,
            output=test.output,
            details={"run_by": f"make check in {subdir}/"},
        )
        record(result)
        while result.rerun_follows(reruns):
            rerun = glibc_test.run_glibc_test(container, test.name, factor=cell.factor)
            result = _record(
                cell,
                test.name,
                outcome=rerun.outcome,
                signal=rerun.signal,
                exit_code=rerun.ran.exit_code,
                duration=round(rerun.ran.elapsed, 3),
                output=rerun.ran.output[-OUT_TAIL_BYTES:],
                attempt=result.attempt + 1,
                details={"run_by": "make test (rerun)"},
            )
            record(result)
        finals.append(result)
    return check, tuple(finals)


def _record(cell: CellContext, name: str, **fields: Any) -> TestResult:
    """The result record of glibc test NAME in CELL."""
    return TestResult(
        scenario=cell.scenario,
        arch=cell.arch,
        variant=cell.variant,
        test=ids.glibc_test_id(name),
        image=cell.image,
        **fields,
    )
