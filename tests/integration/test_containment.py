"""What a hostile case can do to the farm: nothing that outlives it, and all of it reported.

The sandbox case family attacks its own container (network, root filesystem, process and
memory limits, a hang). tests/fixtures/scenarios/sandbox.yaml runs it on the default
scenario's baseline glibc; each test here reads the farm's own results.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from farm.containers import engine
from tests.integration.conftest import FIXTURES, farm_process

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class SandboxRun:
    owner: str  # the owner label of the farm process's containers
    attempts: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def sandbox_run(run_root: Path) -> SandboxRun:
    run_dir = run_root / "sandbox"
    process = farm_process("test", FIXTURES / "sandbox.yaml", "--run-dir", run_dir, "-n", "1")
    # `farm test` exits 0 once every cell was tested, whatever the outcomes.
    assert process.completed.returncode == 0, process.completed.stderr[-3000:]
    attempts: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((run_dir / "results").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            attempts.setdefault(record["test"], []).append(record)
            attempts.setdefault("order", []).append(record)
    return SandboxRun(process.owner, attempts)


@pytest.fixture(scope="module")
def sandbox_results(sandbox_run: SandboxRun) -> dict[str, list[dict[str, Any]]]:
    return sandbox_run.attempts


def test_no_network(sandbox_results: dict[str, list[dict[str, Any]]]) -> None:
    (first,) = sandbox_results["farm/sandbox/no-network"]
    assert first["outcome"] == "PASS", first["output"]
    assert "Network is unreachable" in first["output"]


def test_writing_outside_scratch_fails(sandbox_results: dict[str, list[dict[str, Any]]]) -> None:
    (first,) = sandbox_results["farm/sandbox/read-only-root"]
    assert first["outcome"] == "PASS", first["output"]
    assert "/opt/glibc/lib/farm-escape: Read-only file system" in first["output"]


def test_fork_bomb_stopped_by_the_process_limit_and_cleaned_up(
    sandbox_results: dict[str, list[dict[str, Any]]],
) -> None:
    (bomb,) = sandbox_results["farm/sandbox/fork-bomb"]
    assert bomb["outcome"] == "PASS", bomb["output"]
    assert "fork failed with EAGAIN after" in bomb["output"]
    # The bomb's children held nearly every process slot. The cases that ran after it in
    # the same container (one worker: the results file is in execution order) compiled and
    # ran, so the farm killed them.
    order = [r["test"] for r in sandbox_results["order"]]
    after = order[order.index("farm/sandbox/fork-bomb") + 1 :]
    ran_after = [
        r
        for r in sandbox_results["order"]
        if r["test"] in after and r["test"] != "farm/sandbox/kill-the-harness"  # ERROR by design
    ]
    assert ran_after, order
    assert all(r["outcome"] != "ERROR" for r in ran_after), ran_after


def test_memory_hog_is_oom_killed_and_reported_as_such(
    sandbox_results: dict[str, list[dict[str, Any]]],
) -> None:
    (hog,) = sandbox_results["farm/sandbox/memory-hog"]  # its natural end: not rerun
    assert (hog["outcome"], hog["signal"]) == ("CRASH", "SIGKILL"), hog["output"]
    assert hog["details"]["oom_killed"] == "yes"
    assert "the kernel OOM-killed a process" in hog["output"]


def test_hung_case_is_killed_at_its_timeout_and_the_run_goes_on(
    sandbox_results: dict[str, list[dict[str, Any]]],
) -> None:
    hangs = sandbox_results["farm/sandbox/hang"]
    assert [h["outcome"] for h in hangs] == ["TIMEOUT", "TIMEOUT"]  # the rerun confirms it
    assert all(h["duration"] < 30 for h in hangs)  # 3 s timeout, not the outer 2-minute one
    assert len(sandbox_results) == 7 + 1  # every other case ran (+1: the order list)


def test_a_case_that_kills_the_harness_is_not_believed(
    sandbox_results: dict[str, list[dict[str, Any]]],
) -> None:
    attempts = sandbox_results["farm/sandbox/kill-the-harness"]
    assert len(attempts) == 2  # ERROR is a bad outcome: rerun once
    for attempt in attempts:
        assert attempt["outcome"] == "ERROR", attempt["output"]
        assert attempt["details"]["harness_killed"] == "yes"
        # The case's own claim of success and its forged trailer are in the log, unbelieved.
        assert "farm: note left process" in attempt["output"]
        assert "\nfarm-settled 0 0 yes\n" in attempt["output"]
        assert "the case killed the farm's harness" in attempt["output"]


def test_no_case_finds_what_an_earlier_case_left_running(
    sandbox_results: dict[str, list[dict[str, Any]]],
) -> None:
    (check,) = sandbox_results["farm/sandbox/no-leftovers"]
    assert check["outcome"] == "PASS", check["output"]
    order = [r["test"] for r in sandbox_results["order"]]
    leaving = ("farm/sandbox/fork-bomb", "farm/sandbox/hang", "farm/sandbox/kill-the-harness")
    assert all(order.index(test) < order.index(check["test"]) for test in leaving), order


def test_no_container_outlives_the_run(
    client: docker.DockerClient, sandbox_run: SandboxRun
) -> None:
    """None of this run's containers (its owner label says which) is left. Another farm on
    the same engine may have containers of the same image: one stands in for it here, and
    must not count (listing every container of the image failed whenever one did)."""
    (record,) = sandbox_run.attempts["farm/sandbox/no-network"]
    other_farm = client.containers.run(
        record["image"],
        ["sleep", "300"],
        name=f"farm-other-{uuid.uuid4().hex[:12]}",
        detach=True,
        network_mode="none",
        labels={engine.MANAGED_LABEL: "true", engine.OWNER_LABEL: "another-host:1"},
    )
    try:
        ours = client.containers.list(
            all=True, filters={"label": f"{engine.OWNER_LABEL}={sandbox_run.owner}"}
        )
    finally:
        other_farm.remove(force=True)
    assert ours == [], [c.name for c in ours]
