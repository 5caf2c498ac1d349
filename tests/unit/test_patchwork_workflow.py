"""The workflow's patchwork steps: pending when the plan is made, the verdicts after the gate,
only where a patchwork and its token are configured; their scripts run for real with a
stand-in ``farm`` whose arguments the real ``farm`` parser must accept."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from farm.cli import _parser
from tests.unit.test_workflows import FARM_WORKFLOW, load

STUB_FARM = """\
#!/usr/bin/env bash
# Stand-in for `farm post-checks ...`: records its arguments, fails when told to.
printf '%s\\n' "$(printf '%q ' "$@")" >> "$STUB_LOG"
exit "${STUB_STATUS:-0}"
"""
CONDITION = "vars.PATCHWORK_API_URL != '' && inputs.patchwork_series != ''"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return load(FARM_WORKFLOW)


def patchwork_step(workflow: dict[str, Any], job: str) -> dict[str, Any]:
    steps = [s for s in workflow["jobs"][job]["steps"] if "farm post-checks" in s.get("run", "")]
    assert len(steps) == 1, f"{job}: expected one step posting to patchwork"
    return steps[0]


@pytest.mark.parametrize("job", ["plan", "gate"])
def test_posts_only_where_configured_and_the_token_only_in_that_step(
    workflow: dict[str, Any], job: str
) -> None:
    step = patchwork_step(workflow, job)
    assert CONDITION in step["if"]
    assert step["env"]["FARM_PATCHWORK_TOKEN"] == "${{ secrets.PATCHWORK_TOKEN }}"
    # The secret reaches no other step, job or the workflow's env.
    assert "secrets." not in str(workflow.get("env", {}))
    for name, other in workflow["jobs"].items():
        assert "secrets." not in str(other.get("env", {})), name
        for candidate in other["steps"]:
            if candidate is not step and "secrets." in str(candidate):
                if candidate.get("uses") == "./.github/actions/farm-host":
                    # The host setup gets the registry's password, and no other secret.
                    assert "PATCHWORK" not in str(candidate), candidate
                    continue
                assert "farm post-checks" in candidate.get("run", ""), candidate
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]
    assert not inputs["patchwork_series"].get("required", False)


def test_pending_cannot_stop_the_farm_and_the_verdict_is_posted_after_any_gate(
    workflow: dict[str, Any],
) -> None:
    pending = patchwork_step(workflow, "plan")
    assert pending["continue-on-error"] is True
    plan_steps = workflow["jobs"]["plan"]["steps"]
    assert plan_steps.index(pending) > next(
        i for i, s in enumerate(plan_steps) if s.get("id") == "matrix"
    )
    verdict = patchwork_step(workflow, "gate")
    assert verdict["if"].startswith("always() && ")
    gate_steps = workflow["jobs"]["gate"]["steps"]
    assert gate_steps.index(verdict) > next(
        i for i, s in enumerate(gate_steps) if "farm gate" in s.get("run", "")
    )


def run_step(
    step: dict[str, Any], tmp_path: Path, env: dict[str, str], status: int = 0
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    if shutil.which("bash") is None:
        pytest.fail("the workflow's scripts need bash", pytrace=False)
    (tmp_path / "step.sh").write_text(step["run"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "farm").write_text(STUB_FARM)
    (bin_dir / "farm").chmod(0o755)
    log = tmp_path / "calls.log"
    log.write_text("")
    completed = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "step.sh"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STUB_LOG": str(log),
             "STUB_STATUS": str(status), "PATCHWORK_API_URL": "https://pw.example/api/1.3",
             "PATCHWORK_SERIES": "123", "PATCHWORK_PROJECT": step["env"]["PATCHWORK_PROJECT"]
             .removeprefix("${{ vars.PATCHWORK_PROJECT || '").removesuffix("' }}"), **env},
    )  # fmt: skip
    calls = [shlex.split(line) for line in log.read_text().splitlines()]
    for call in calls:
        _parser().parse_args(call)  # the real farm takes these arguments
    return completed, calls


def test_pending_names_every_planned_scenario(workflow: dict[str, Any], tmp_path: Path) -> None:
    step = patchwork_step(workflow, "plan")
    (tmp_path / "scenarios").mkdir()
    for name in ("a", "b"):
        (tmp_path / "scenarios" / f"{name}.yaml").write_text("")
    completed, calls = run_step(step, tmp_path, {"FARM_PATCHWORK_TOKEN": "t", "SCENARIO": ""})
    assert completed.returncode == 0, completed.stderr
    assert calls == [
        ["post-checks", "--pending", "scenarios/a.yaml", "--pending", "scenarios/b.yaml",
         "--api-url", "https://pw.example/api/1.3", "--project", "glibc", "--series", "extra=123"],
    ]  # fmt: skip


def test_the_verdicts_of_every_gate_are_posted_and_a_failure_fails_the_step(
    workflow: dict[str, Any], tmp_path: Path
) -> None:
    step = patchwork_step(workflow, "gate")
    for name in ("a", "b"):
        (tmp_path / "reports" / name).mkdir(parents=True)
        (tmp_path / "reports" / name / "patchwork-checks.json").write_text("{}")
    completed, calls = run_step(step, tmp_path, {"FARM_PATCHWORK_TOKEN": "t"}, status=3)
    assert completed.returncode == 3
    assert [call[1] for call in calls] == [
        "reports/a/patchwork-checks.json",
        "reports/b/patchwork-checks.json",
    ]  # a failed post does not keep the other scenario's verdict off patchwork
    assert all("--only-given" in call and "extra=123" in call for call in calls)


def test_no_token_is_a_warning_and_no_gate_output_an_error(
    workflow: dict[str, Any], tmp_path: Path
) -> None:
    step = patchwork_step(workflow, "gate")
    completed, calls = run_step(step, tmp_path, {"FARM_PATCHWORK_TOKEN": ""})
    assert completed.returncode == 0 and calls == []
    assert "::warning::" in completed.stdout and "PATCHWORK_TOKEN" in completed.stdout
    completed, calls = run_step(step, tmp_path, {"FARM_PATCHWORK_TOKEN": "t"})
    assert completed.returncode == 2 and calls == []
    assert "::error::" in completed.stdout
