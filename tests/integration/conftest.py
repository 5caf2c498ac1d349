"""Integration tests: real Docker, real glibc builds, real binaries.

They need a running Docker engine. Without one they fail (never skip): a green run that
tested nothing would be a lie. ``scripts/setup-host.sh`` installs and starts the engine.
Images are cached by tag across runs, so only the first run on a machine builds glibc.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from farm.containers import engine
from farm.errors import EngineError
from tests import registry_server

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "scenarios" / "debian-2.36-backports.yaml"
FIXTURES = REPO / "tests" / "fixtures" / "scenarios"
#: A cold build of the default scenario takes about 25 minutes on 2 cores.
FARM_TIMEOUT = 3600


@pytest.fixture(scope="session")
def farm_engine() -> engine.Engine:
    try:
        return engine.Engine.connect()
    except EngineError as error:
        pytest.fail(f"integration tests need a Docker engine: {error}", pytrace=False)


@pytest.fixture(scope="module")
def loopback_registry() -> Iterator[str]:
    """A docker-registry on 127.0.0.1 for one test module (``127.0.0.1:PORT/farm-test``),
    its storage in a directory removed afterwards; a machine without one fails the test."""
    try:
        with registry_server.serve() as prefix:
            yield prefix
    except registry_server.RegistryUnavailable as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def client(farm_engine: engine.Engine) -> docker.DockerClient:
    """The docker client itself, only to inspect what the farm did (labels, containers);
    the farm's own code is handed `farm_engine`."""
    return docker.from_env()


@dataclass(frozen=True)
class FarmProcess:
    """A finished ``farm`` process: what it printed, and the owner label (``host:pid``) of
    every container it started, so a test asserts about its own run's containers only:
    another farm may be running on the same engine."""

    completed: subprocess.CompletedProcess[str]
    owner: str


def farm_process(*args: str | Path, timeout: float = FARM_TIMEOUT) -> FarmProcess:
    """Run the real ``farm`` CLI from the repository root, capturing its output."""
    argv = [sys.executable, "-m", "farm", *map(str, args)]
    with subprocess.Popen(
        argv,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    completed = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
    # Shown by pytest when a test fails, which is when it is needed.
    sys.stdout.write(completed.stdout[-20000:])
    sys.stderr.write(completed.stderr[-20000:])
    return FarmProcess(completed, f"{socket.gethostname()}:{process.pid}")


def farm(*args: str | Path, timeout: float = FARM_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run the real ``farm`` CLI from the repository root, capturing its output."""
    return farm_process(*args, timeout=timeout).completed


def in_image(client: docker.DockerClient, tag: str, script: str) -> str:
    """Run ``script`` in a throwaway container of ``tag`` and return its output."""
    output = client.containers.run(
        tag,
        ["sh", "-c", script],
        remove=True,
        network_mode="none",
        labels={engine.MANAGED_LABEL: "true"},
    )
    return bytes(output).decode()


def final_labels(report: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    """(arch, variant, test) -> the label of the test's last attempt, from report.json."""
    return {(t["arch"], t["variant"], t["test"]): t["label"] for t in report["tests"]}


@pytest.fixture(scope="session")
def run_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("runs")
