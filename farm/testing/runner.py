"""Running tests inside test images: one long-lived container per image, tests by ``docker exec``.

Each pytest-xdist worker starts one container per image it is given (``farm.containers.container``)
and runs every test there, one ``docker exec`` each. Each command carries its own
``timeout`` inside the container (scaled per arch, like glibc's TIMEOUTFACTOR), so nothing
waits forever.

Outcomes follow glibc's test protocol (exit 0 PASS, 1 FAIL, 77 UNSUPPORTED) plus what the
farm adds: a kill at the timeout is TIMEOUT, a death by signal is CRASH with the signal's name.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from farm import cases as case_library
from farm import ids
from farm.containers.container import CONTAINER_LIMITS, ExecOutcome, TestContainer
from farm.containers.engine import Engine
from farm.errors import EngineError
from farm.plan.scenario import Arch
from farm.results import Outcome, TestResult
from farm.rundir import RunDir
from farm.testing import glibc_check, glibc_test

#: Like glibc's TIMEOUTFACTOR: 32-bit code built with -m32 is a little slower here.
ARCH_TIMEOUT_FACTOR = {Arch.X86_64: 1.0, Arch.I686: 1.5}
OUTPUT_TAIL_BYTES = 8000


@dataclass(frozen=True, slots=True)
class TestItem:
    """One test to run in one image."""

    __test__ = False  # not a pytest test class, whatever its name says

    scenario: str
    arch: Arch
    variant: str
    image: str  # test image tag
    test: str  # farm/<case id> or glibc/<subdir>/<name>
    timeout_factor: float
    #: The toolchain's name when the scenario has several (its cells' ids carry it), else "".
    toolchain: str = ""

    @property
    def id(self) -> str:
        return ids.item_id(self.arch.value, self.variant, self.test, toolchain=self.toolchain)

    @property
    def cell(self) -> str:
        return ids.cell_id(self.scenario, self.arch.value, self.variant)

    def to_dict(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "arch": self.arch.value,
            "variant": self.variant,
            "image": self.image,
            "test": self.test,
            "timeout_factor": self.timeout_factor,
            "toolchain": self.toolchain,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestItem:
        return cls(
            scenario=str(data["scenario"]),
            arch=Arch(data["arch"]),
            variant=str(data["variant"]),
            image=str(data["image"]),
            test=str(data["test"]),
            timeout_factor=float(data["timeout_factor"]),
            toolchain=str(data.get("toolchain", "")),
        )

    @property
    def scaled_timeout_factor(self) -> float:
        """The scenario's timeout factor times the arch's (ARCH_TIMEOUT_FACTOR)."""
        return self.timeout_factor * ARCH_TIMEOUT_FACTOR[self.arch]

    @property
    def writes_build_tree(self) -> bool:
        """glibc's in-tree tests are built and run by make inside /build/glibc."""
        return ids.is_glibc_test(self.test)


class ContainerPool:
    """Test containers started on first use: per image, a read-only one for the farm's cases
    and, when glibc tests run, one whose build tree is writable (see TestContainer)."""

    def __init__(
        self, connect: Callable[[], Engine], role: ids.ContainerRole, *, worker: str = ""
    ) -> None:
        self._connect = connect
        self._engine: Engine | None = None
        self.role = role
        self.worker = worker
        self._started: dict[tuple[str, bool], TestContainer] = {}

    def for_item(self, item: TestItem) -> TestContainer:
        key = (item.image, item.writes_build_tree)
        if key not in self._started:
            if self._engine is None:
                self._engine = self._connect()
            kind = "glibc" if item.writes_build_tree else "cases"
            name = ids.container_name(
                self.role, item.image, os.getpid(), worker=self.worker, kind=kind
            )
            container = TestContainer(
                self._engine, item.image, name, writable_root=item.writes_build_tree
            )
            container.start()
            self._started[key] = container
        return self._started[key]

    def stop_all(self) -> None:
        for container in self._started.values():
            container.stop()
        self._started.clear()


def probe(container: TestContainer) -> dict[str, str]:
    """The environment probe of an image: kernel, rseq, ``-z unique``, glibc version."""
    outcome = container.exec("/farm/bin/probe", timeout=120)
    facts: dict[str, str] = {}
    for line in outcome.output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            facts[key.strip()] = value.strip()
    return facts


_PRINT_TESTS = r"""
set -e
for dir in $FARM_SUBDIRS; do
  [ -d /src/glibc/$dir ] || continue
  vars='$(tests) $(tests-internal) $(tests-container)'
  printf 'farm-print-tests:\n\t@echo $(addprefix %s/,%s)\n' "$dir" "$vars" >/tmp/print-tests.mk
  make -s --no-print-directory -C /src/glibc/$dir objdir=/build/glibc \
    -f Makefile -f /tmp/print-tests.mk farm-print-tests
done
"""


def list_glibc_tests(container: TestContainer, globs: tuple[str, ...]) -> list[str]:
    """glibc's own tests in this tree matching ``subdir/name`` globs, from its Makefiles.

    The list comes from the build system's ``tests`` variables, so helper modules never
    count as tests and a test a series adds appears only in that variant.
    """
    import fnmatch

    subdirs = sorted({glob.split("/", 1)[0] for glob in globs})
    outcome = container.exec(
        _PRINT_TESTS, timeout=300, user="root", environment={"FARM_SUBDIRS": " ".join(subdirs)}
    )
    if outcome.exit_code != 0:
        raise EngineError(
            f"cannot list glibc's tests in {container.image}:\n{outcome.output[-2000:]}"
        )
    names = sorted(set(outcome.output.split()))
    return [name for name in names if any(fnmatch.fnmatchcase(name, glob) for glob in globs)]


def check_context(item: TestItem) -> glibc_check.CellContext:
    """Where a whole-subdirectory check of ITEM's image writes: its cell, image and timeout
    factor (the arch's included, as for a single test)."""
    return glibc_check.CellContext(
        scenario=item.scenario,
        arch=item.arch.value,
        variant=item.variant,
        image=item.image,
        factor=item.scaled_timeout_factor,
    )


def run_item(container: TestContainer, item: TestItem, *, attempt: int = 1) -> TestResult:
    """Run one item and classify its outcome."""
    factor = item.scaled_timeout_factor
    if ids.is_farm_test(item.test):
        return _run_case(container, item, factor, attempt)
    return _run_glibc_test(container, item, factor, attempt)


def run_with_reruns(
    run: Callable[[int], TestResult], *, reruns: int, record: Callable[[TestResult], None]
) -> TestResult:
    """Run attempt 1, then repeat while ``farm.outcome`` says the last attempt needs
    confirming, up to ``reruns`` more; ``record`` gets every attempt as it finishes."""
    result = run(1)
    record(result)
    while result.rerun_follows(reruns):
        result = run(result.attempt + 1)
        record(result)
    return result


def _result(
    item: TestItem, outcome: Outcome, exec_outcome: ExecOutcome, attempt: int, **extra: Any
) -> TestResult:
    return TestResult(
        scenario=item.scenario,
        arch=item.arch.value,
        variant=item.variant,
        test=item.test,
        outcome=outcome,
        exit_code=exec_outcome.exit_code,
        duration=round(exec_outcome.elapsed, 3),
        output=exec_outcome.output[-OUTPUT_TAIL_BYTES:],
        image=item.image,
        attempt=attempt,
        **extra,
    )


def _run_case(container: TestContainer, item: TestItem, factor: float, attempt: int) -> TestResult:
    case_id = item.test.removeprefix(ids.FARM_TEST_PREFIX)
    case = case_library.packaged_case(case_id)
    workdir = f"/farm/scratch/{case_id.replace('/', '_')}-{attempt}"
    script = case.shell_script(workdir=workdir, timeout_factor=factor)
    # The case script applies its own (scaled) timeout to the program; this outer one only
    # catches a build step or the script itself hanging.
    outer = case.timeout * factor + 120
    case_exec = container.run_case(
        script,
        timeout=outer,
        environment={"FARM_ARCH": item.arch.value, "FARM_GLIBC_PREFIX": "/opt/glibc"},
    )
    ran = case_exec.outcome
    status = case_library.decode_exit_status(ran.exit_code)
    if case_exec.harness_killed:
        # The case killed the harness that was to report its status: nothing it printed
        # about itself can be trusted, and the outcome is unknown.
        status = case_library.ScriptStatus(
            Outcome.ERROR, ran.exit_code, reason="the case killed the farm's harness"
        )
    details: dict[str, str] = {}
    notes: list[str] = []
    # A case that demonstrates a hazard (expect: crash) records the crash as it is; the
    # detail tells reports it was the natural outcome rather than a failure.
    if status.outcome is Outcome.CRASH and case.is_expected(status):
        details["natural_crash"] = "yes"
    if case_exec.harness_killed:
        details["harness_killed"] = "yes"
        notes.append(
            f"the case killed the farm's harness (exec status {ran.exit_code}): its outcome "
            "is unknown; the farm cleaned up after it"
        )
    if case_exec.oom_killed:
        details["oom_killed"] = "yes"
        notes.append(f"the kernel OOM-killed a process: over {CONTAINER_LIMITS['mem_limit']}")
    if case_exec.restarted:
        details["container_restarted"] = "yes"
        notes.append("the case left a container that could not be cleaned up; it was replaced")
    if notes:
        ran = dataclasses.replace(ran, output=ran.output + "".join(f"\nfarm: {n}\n" for n in notes))
    return _result(item, status.outcome, ran, attempt, signal=status.signal, details=details)


def _run_glibc_test(
    container: TestContainer, item: TestItem, factor: float, attempt: int
) -> TestResult:
    run = glibc_test.run_glibc_test(
        container, item.test.removeprefix(ids.GLIBC_TEST_PREFIX), factor=factor
    )
    return _result(item, run.outcome, run.ran, attempt, signal=run.signal)


def write_spec(run_dir: RunDir, items: list[TestItem], *, reruns: int) -> None:
    """The file the pytest plugin reads in every xdist worker: what to run and where to write.

    The reruns also go to run.json, from which the gate knows whether a regression seen once
    was ever going to be rerun."""
    run_dir.write_run_info(reruns=reruns)
    run_dir.spec.write_text(
        json.dumps(
            {
                "items": [item.to_dict() for item in items],
                "run_dir": str(run_dir.root),
                "reruns": reruns,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
