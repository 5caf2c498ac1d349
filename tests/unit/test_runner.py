"""The rules `farm.testing.runner` owns that hold without a container.

Here: the arch-scaled timeout factor and where it goes (a single test, a whole subdirectory's
check), which tests write glibc's build tree, the spec `farm test` hands the pytest plugin and
what the plugin makes of it (real pytest, collecting only), how reruns stop, and how one
attempt's result is built from what its exec returned.

What needs a real container is tested in tests/integration, through ``farm test`` on real
images:

- `run_item` for the farm's cases: a hang killed at its scaled timeout, an OOM kill noted and
  a case that killed its harness taken for ERROR, test_containment.py
  (``test_hung_case_is_killed_at_its_timeout_and_the_run_goes_on``,
  ``test_memory_hog_is_oom_killed_and_reported_as_such``,
  ``test_a_case_that_kills_the_harness_is_not_believed``); a designed crash kept as
  ``CRASH(SIGSEGV)``, test_run.py (``test_default_run_shows_what_the_scenario_is_about``);
- `run_item` for glibc's own tests, and `list_glibc_tests` from the Makefiles,
  test_glibc_check.py and test_run.py (``glibc/elf/tst-dlmopen-twice`` only where the series
  adds it);
- `probe`'s facts, test_toolchains.py
  (``test_probes_show_each_toolchains_compiler_linker_and_glibc``);
- `ContainerPool`: one container per image for the cases, in execution order, and none left
  after the run, test_containment.py
  (``test_fork_bomb_stopped_by_the_process_limit_and_cleaned_up``,
  ``test_no_container_outlives_the_run``).

The reruns written to run.json by `write_spec` are tested where the gate reads them
(test_verdict_soundness.py); an UNSUPPORTED series attempt rerun and a baseline one not, there
too (``attempts_of``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from farm import ids
from farm.containers.container import ExecOutcome
from farm.errors import EngineError
from farm.plan.scenario import Arch
from farm.results import Outcome, TestResult
from farm.run import stages
from farm.run.pipeline import TESTSUITE
from farm.rundir import RunDir
from farm.testing import runner

CASE = "farm/unload/runtime-pinned"
GLIBC_TEST = "glibc/elf/tst-dlmopen1"


def item(
    test: str = CASE,
    *,
    arch: Arch = Arch.X86_64,
    variant: str = "fix",
    factor: float = 2.0,
    toolchain: str = "",
) -> runner.TestItem:
    return runner.TestItem(
        "demo", arch, variant, f"img-{arch.value}-{variant}", test, factor, toolchain=toolchain
    )


# ------------------------------------------------------------------ timeout factor


def test_i686_runs_with_half_again_the_scenarios_timeout_factor() -> None:
    assert item(arch=Arch.X86_64, factor=2.0).scaled_timeout_factor == 2.0
    assert item(arch=Arch.I686, factor=2.0).scaled_timeout_factor == 3.0


@pytest.mark.parametrize("arch", list(Arch))
def test_every_arch_has_a_timeout_factor_that_never_shortens_the_scenarios(arch: Arch) -> None:
    assert item(arch=arch, factor=4.0).scaled_timeout_factor >= 4.0


def test_a_whole_subdirectory_check_gets_the_cell_and_the_arch_scaled_factor() -> None:
    subdir = item("glibc/elf/", arch=Arch.I686, variant="baseline", factor=2.0)
    context = runner.check_context(subdir)
    assert context.factor == 3.0  # the arch's factor too, as for one test of the subdirectory
    assert (context.scenario, context.arch, context.variant, context.image) == (
        "demo",
        "i686",
        "baseline",
        "img-i686-baseline",
    )


# ------------------------------------------------------------------ which container


@pytest.mark.parametrize(
    ("test", "writes"),
    [
        (GLIBC_TEST, True),
        ("glibc/elf/", True),
        (CASE, False),
        ("farm/sandbox/read-only-root", False),
    ],
)
def test_only_glibcs_own_tests_write_the_build_tree(test: str, writes: bool) -> None:
    """Whether an item runs in the container with a writable root: the farm's cases must run
    where the root is read-only (the sandbox cases check they cannot write it)."""
    assert item(test).writes_build_tree is writes


# ------------------------------------------------------------------ the spec


def test_an_item_survives_the_spec_with_every_field() -> None:
    original = item(GLIBC_TEST, arch=Arch.I686, factor=1.25, toolchain="bookworm")
    assert runner.TestItem.from_dict(json.loads(json.dumps(original.to_dict()))) == original


def test_a_spec_item_without_a_toolchain_is_of_a_single_toolchain_scenario() -> None:
    data = item().to_dict()
    del data["toolchain"]
    assert runner.TestItem.from_dict(data).toolchain == ""


def test_the_spec_holds_what_to_run_and_where_to_write(tmp_path: Path) -> None:
    items = [item(CASE), item(GLIBC_TEST, arch=Arch.I686)]
    run_dir = RunDir(tmp_path / "run")
    run_dir.root.mkdir()
    runner.write_spec(run_dir, items, reruns=3)
    spec = json.loads(run_dir.spec.read_text(encoding="utf-8"))
    assert [runner.TestItem.from_dict(raw) for raw in spec["items"]] == items
    assert (spec["run_dir"], spec["reruns"]) == (str(run_dir.root), 3)


def _collect(*options: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The farm's pytest suite collected (never run: no container starts), as `farm test`
    starts it, with the plugin."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(TESTSUITE), "-p", "farm.testing.pytest_plugin",
         "-c", os.devnull, "--rootdir", str(cwd), "-p", "no:cacheprovider",
         "--collect-only", "-q", *options],
        capture_output=True, text=True, timeout=120, cwd=cwd,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
    )  # fmt: skip


def test_the_plugin_makes_one_pytest_item_per_spec_item_with_its_id(tmp_path: Path) -> None:
    items = [
        item(CASE, toolchain="bullseye"),
        item(CASE, toolchain="bookworm"),  # the same test, told apart by its toolchain
        item(GLIBC_TEST, arch=Arch.I686),
        item("glibc/elf/"),
    ]
    run_dir = RunDir(tmp_path)
    runner.write_spec(run_dir, items, reruns=1)
    collected = _collect("--farm-spec", str(run_dir.spec), cwd=tmp_path)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    shown = [
        line.split("::test_item[", 1)[1].removesuffix("]")
        for line in collected.stdout.splitlines()
        if "::test_item[" in line
    ]
    assert shown == [i.id for i in items]
    assert shown[0] == "bullseye-x86_64-fix-farm/unload/runtime-pinned" != shown[1]


def test_the_plugin_without_a_spec_runs_nothing_and_says_why(tmp_path: Path) -> None:
    """pytest reports the plugin's UsageError as a collection error: a status `farm test`
    takes for "pytest could not run the tests", never for a run that found nothing."""
    collected = _collect(cwd=tmp_path)
    assert collected.returncode in stages.PYTEST_COULD_NOT_RUN, collected.stdout
    assert "needs --farm-spec" in collected.stdout


# ------------------------------------------------------------------ results and reruns


def test_a_result_keeps_the_output_tail_and_the_cell_of_its_item() -> None:
    ran = ExecOutcome(
        exit_code=1, output="head\n" + "x" * runner.OUTPUT_TAIL_BYTES, elapsed=1.23456
    )
    result = runner._result(
        item(arch=Arch.I686), Outcome.FAIL, ran, 2, signal=None, details={"k": "v"}
    )
    assert result.output == "x" * runner.OUTPUT_TAIL_BYTES  # the head is what goes
    assert (result.scenario, result.arch, result.variant, result.test) == (
        "demo",
        "i686",
        "fix",
        CASE,
    )
    assert (result.exit_code, result.duration, result.image, result.attempt) == (
        1,
        1.235,
        "img-i686-fix",
        2,
    )
    assert result.outcome is Outcome.FAIL and result.details == {"k": "v"}
    assert result.cell == ids.cell_id("demo", "i686", "fix")


class Attempts:
    """A test whose attempts show ``outcomes`` in turn, each result built as `run_item`
    builds it; it remembers which attempts were asked for."""

    def __init__(self, *outcomes: Outcome, variant: str = "fix") -> None:
        self.outcomes = outcomes
        self.item = item(variant=variant)
        self.asked: list[int] = []

    def __call__(self, attempt: int) -> TestResult:
        self.asked.append(attempt)
        if attempt > len(self.outcomes):
            raise EngineError("the engine went away")
        ran = ExecOutcome(exit_code=0, output="", elapsed=0.1)
        return runner._result(self.item, self.outcomes[attempt - 1], ran, attempt)


def test_a_good_first_attempt_is_not_rerun() -> None:
    attempts, recorded = Attempts(Outcome.PASS), []
    final = runner.run_with_reruns(attempts, reruns=3, record=recorded.append)
    assert attempts.asked == [1]
    assert recorded == [final] and final.outcome is Outcome.PASS


def test_reruns_stop_at_the_first_good_attempt() -> None:
    attempts, recorded = Attempts(Outcome.FAIL, Outcome.TIMEOUT, Outcome.PASS), []
    final = runner.run_with_reruns(attempts, reruns=5, record=recorded.append)
    assert attempts.asked == [1, 2, 3]
    assert [r.outcome for r in recorded] == [Outcome.FAIL, Outcome.TIMEOUT, Outcome.PASS]
    assert final is recorded[-1]


@pytest.mark.parametrize("reruns", [0, 1, 2])
def test_a_test_bad_every_time_runs_once_plus_its_reruns(reruns: int) -> None:
    attempts, recorded = Attempts(*[Outcome.CRASH] * 5), []
    final = runner.run_with_reruns(attempts, reruns=reruns, record=recorded.append)
    assert attempts.asked == list(range(1, reruns + 2))
    assert [r.attempt for r in recorded] == attempts.asked
    assert final.attempt == reruns + 1


def test_each_attempt_is_recorded_before_the_next_starts() -> None:
    """An attempt is kept even when the next one never ends (the engine went away, the run
    was interrupted): --resume and the gate see what did finish."""
    attempts, recorded = Attempts(Outcome.FAIL), []
    with pytest.raises(EngineError):
        runner.run_with_reruns(attempts, reruns=1, record=recorded.append)
    assert [(r.attempt, r.outcome) for r in recorded] == [(1, Outcome.FAIL)]
