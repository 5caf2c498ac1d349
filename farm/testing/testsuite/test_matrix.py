"""One pytest item per (image, test) of the run spec: run it in the image, record, report.

An item for a whole glibc subdirectory (``glibc/elf/``) runs its ``make check`` and
records one result per glibc test in it."""

from __future__ import annotations

import pytest

from farm.errors import EngineError
from farm.ids import subdir_of_test
from farm.rundir import RunDir
from farm.testing.pytest_plugin import report, run_and_record, run_and_record_subdir
from farm.testing.runner import ContainerPool, TestItem


def test_item(
    farm_item: TestItem,
    farm_containers: ContainerPool,
    farm_run_dir: RunDir,
    worker_id: str,
    request: pytest.FixtureRequest,
) -> None:
    reruns = int(request.config.getoption("--farm-reruns") or 0)
    subdir = subdir_of_test(farm_item.test)
    try:
        if subdir is not None:
            # A whole glibc subdirectory: one record per glibc test, reported by the call.
            run_and_record_subdir(
                farm_item, subdir, farm_containers, farm_run_dir, worker_id, reruns
            )
            return
        result = run_and_record(farm_item, farm_containers, farm_run_dir, worker_id, reruns)
    except EngineError as error:
        # No result is recorded: the test did not fail, the engine did (farm run says so).
        pytest.fail(f"ENGINE: {error}", pytrace=False)
    report(result)
