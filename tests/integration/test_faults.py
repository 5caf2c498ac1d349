"""Faults during a run: SIGTERM and resume, and the Docker engine going away.

Both run `farm test` as a child process on the sandbox fixture scenario and the default
scenario's x86_64 baseline, interrupt it once some results are written, and check what the
user is told, what is kept, and what is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import yaml

from farm.containers import engine
from tests.integration.conftest import DEFAULT, FIXTURES, REPO

pytestmark = pytest.mark.integration

CELL = "debian-2.36-backports-x86_64-baseline"
HARMLESS = FIXTURES.parent / "series" / "harmless"
ENGINE_SOCKET = "/var/run/docker.sock"
#: The label every farm image (and so every step container of its build) carries.
VARIANT_LABEL = "org.glibc-farm.variant"


def start_farm(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "farm", *map(str, args)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def wait_for_results(run_dir: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 900  # the first call may build the test image
    while time.monotonic() < deadline:
        lines = sum(len(p.read_text().splitlines()) for p in run_dir.glob("results/*.jsonl"))
        if lines >= count:
            return
        if process.poll() is not None:
            pytest.fail(f"farm ended early:\n{process.communicate()[1][-3000:]}")
        time.sleep(0.2)
    pytest.fail("no results appeared")


def records(run_dir: Path) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for path in sorted(run_dir.glob("results/*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def containers_of_image(
    client: docker.DockerClient,
    image: object,
    process: subprocess.Popen[str] | None = None,
    *,
    variant: str | None = None,
) -> list[str]:
    """The containers of ``image`` (or of an image built on it); with ``process``, only
    those that farm process owns (its owner label, ``host:pid``); with ``variant``, only
    those carrying that variant's label, as the step containers of its image build do (the
    engine makes those, without the farm's owner label). Another farm on the same engine
    may be testing or building on that image."""
    labels = []
    if process is not None:
        labels.append(f"{engine.OWNER_LABEL}={socket.gethostname()}:{process.pid}")
    if variant is not None:
        labels.append(f"{VARIANT_LABEL}={variant}")
    filters: dict[str, object] = {"ancestor": str(image)}
    if labels:
        filters["label"] = labels
    return [c.name for c in client.containers.list(all=True, filters=filters)]


def test_sigterm_stops_keeps_results_and_resume_finishes(
    client: docker.DockerClient, run_root: Path
) -> None:
    run_dir = run_root / "sigterm"
    first = start_farm("test", DEFAULT, "--only", CELL, "--run-dir", run_dir, "-n", "1")
    wait_for_results(run_dir, 3, first)
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 130, stderr[-3000:]
    assert "interrupted; the farm's containers are stopped" in stderr
    assert f"--run-dir {run_dir} --resume" in stderr
    assert "Traceback" not in stderr
    kept = records(run_dir)
    assert len(kept) >= 3
    assert containers_of_image(client, kept[0]["image"], first) == []
    all_tests = {item["test"] for item in json.loads((run_dir / "spec.json").read_text())["items"]}

    again = start_farm("test", DEFAULT, "--only", CELL, "--run-dir", run_dir, "-n", "1", "--resume")
    _, stderr = again.communicate(timeout=1800)
    assert again.returncode == 0, stderr[-3000:]
    assert "resuming:" in stderr
    finished = records(run_dir)
    # Every test of the cell has its result now, none twice over, and no finished result of
    # the first run was lost or redone.
    assert {r["test"] for r in finished} == all_tests
    attempts = [(r["test"], r["attempt"]) for r in finished]
    assert len(attempts) == len(set(attempts))
    assert all(r in finished for r in kept if r["outcome"] in ("PASS", "UNSUPPORTED"))


def test_sigterm_during_a_build_keeps_its_log_and_resume_reuses_the_finished_steps(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    # A series no earlier run built (a unique comment), so its incremental build really runs.
    series = tmp_path / "series"
    series.mkdir()
    patch = (HARMLESS / "0001-elf-Mark-the-opening-comment-of-dl-load.c.patch").read_text()
    marked = patch.replace("(glibc-farm fixture)", f"(glibc-farm {uuid.uuid4().hex})")
    (series / "0001.patch").write_text(marked)
    (series / "series").write_text("0001.patch\n")
    scenario = tmp_path / "interrupted.yaml"
    default = yaml.safe_load(DEFAULT.read_text())
    scenario.write_text(
        yaml.safe_dump(
            {
                "name": "interrupted",
                "glibc": default["glibc"],
                "arches": ["x86_64"],
                "series": [{"name": "marked", "quilt": "series"}],
                "tests": {"cases": ["static"]},
            }
        )
    )
    run_dir = tmp_path / "run"
    log = run_dir / "logs" / "build-x86_64-marked.log"
    tags_before = farm_tags(client)
    first = start_farm("run", scenario, "--run-dir", run_dir)
    deadline = time.monotonic() + 600
    while not (log.is_file() and "farm-phase: build" in log.read_text()):  # make is running
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()[1]
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 130, stderr[-3000:]
    assert f"resume with: farm run {scenario} --run-dir {run_dir} --resume" in stderr
    assert "Traceback" not in stderr
    assert "farm-apply: series: applied 1 patch(es)" in log.read_text()  # the log is kept
    # The engine stopped the build: no build container of the series is left (those of
    # another farm on the same baseline may be running), no half-built image tagged.
    baseline = marked_parent(log.read_text())
    assert containers_of_image(client, baseline, variant="marked") == []
    assert farm_tags(client) == tags_before

    again = start_farm("run", scenario, "--run-dir", run_dir, "--resume")
    stdout, stderr = again.communicate(timeout=1800)
    # Each run of this test builds images of a series no one will build again: remove them.
    for tag in sorted(farm_tags(client) - tags_before, reverse=True):  # test images first
        client.images.remove(tag, force=True)
    assert again.returncode == 0, stderr[-3000:]
    assert "# glibc-farm gate: ACCEPT" in stdout
    # The interrupted build's log is kept beside the one of the build that finished it.
    interrupted = log.with_name(f"{log.name}.1").read_text()
    assert "farm-phase: build" in interrupted and "# INTERRUPTED" in interrupted
    # The series was applied before the interruption; that step is not done again.
    resumed = log.read_text()
    assert re.search(r"Step 5/\d+ : RUN /farm/bin/apply-series .*\n ---> Using cache", resumed)


def farm_tags(client: docker.DockerClient) -> set[str]:
    """The tags of the farm's build and test images."""
    return {
        tag
        for repository in ("glibc-farm/build", "glibc-farm/test")
        for image in client.images.list(name=repository)
        for tag in image.tags
    }


def marked_parent(log: str) -> str:
    """The image the interrupted build started FROM, as its log names it."""
    found = re.search(r"^Step 1/\d+ : FROM (\S+)$", log, re.MULTILINE)
    assert found, log[:2000]
    return found.group(1)


class EngineProxy:
    """A unix socket that forwards to the Docker engine until ``cut()``: from the farm's side
    that is the engine going away, while the real engine (and this test) carry on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(64)
        self.sockets: list[socket.socket] = [self.server]
        self.cut_off = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut_off:
            try:
                downstream, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(ENGINE_SOCKET)
            self.sockets += [downstream, upstream]
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.cut_off = True
        for end in self.sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
        self.path.unlink(missing_ok=True)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[EngineProxy]:
    proxy = EngineProxy(tmp_path / "docker.sock")
    yield proxy
    proxy.cut()


def test_engine_going_away_is_reported_as_such_not_as_test_failures(
    client: docker.DockerClient, run_root: Path, proxy: EngineProxy
) -> None:
    run_dir = run_root / "engine-gone"
    process = start_farm(
        "test", DEFAULT, "--only", CELL, "--run-dir", run_dir, "-n", "1",
        env={"DOCKER_HOST": f"unix://{proxy.path}"},
    )  # fmt: skip
    wait_for_results(run_dir, 3, process)
    proxy.cut()
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 2, stderr[-3000:]
    assert "the Docker engine went away during the test run" in stderr, stderr[-3000:]
    assert f"--run-dir {run_dir} --resume" in stderr
    assert "Traceback" not in stderr
    # What was recorded is what the tests did; no result blames a test for the engine.
    assert all("Docker engine" not in str(r["output"]) for r in records(run_dir))
    # The real engine is still up: the containers the farm could not stop are labelled as
    # the farm's, which is what `farm gc` finds. Remove them here.
    for name in containers_of_image(client, records(run_dir)[0]["image"], process):
        client.containers.get(name).remove(force=True)
