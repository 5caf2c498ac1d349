"""`farm gc` against the real engine, on throwaway objects only.

The machine's glibc images take 25 minutes to rebuild and other runs may be building next
to this test, so every object made here carries a label unique to the test, and gc runs with
``--label`` restricted to it and a temporary ``FARM_CACHE`` holding the records. The objects
are tiny images ``FROM`` the base image (no glibc build) and ``sleep infinity`` containers.
"""

from __future__ import annotations

import datetime
import io
import os
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from farm.containers import engine, gc
from farm.containers.container import TestContainer
from farm.plan.render import BASE_IMAGE
from tests.integration.conftest import farm

pytestmark = pytest.mark.integration

#: Carried by every object of one test, and the only thing its `farm gc` looks at.
RUN_LABEL = "org.glibc-farm.test-gc"
REPOSITORY = "glibc-farm/gc-test"


@pytest.fixture
def run_id(client: docker.DockerClient, farm_engine: engine.Engine) -> Iterator[str]:
    """A fresh label value; whatever carries it is removed afterwards, whatever happened."""
    if farm_engine.image_id(BASE_IMAGE) is None:
        pytest.fail(f"{BASE_IMAGE} is missing; `farm build` makes it", pytrace=False)
    value = uuid.uuid4().hex[:12]
    yield value
    mine = {"label": f"{RUN_LABEL}={value}"}
    for container in client.containers.list(all=True, filters=mine):
        container.remove(force=True)
    for image in client.images.list(filters=mine):
        for tag in image.tags:
            client.images.remove(tag, force=True)
    for image in client.images.list(filters={**mine, "dangling": True}):
        client.images.remove(image.id, force=True)


def tiny_image(client: docker.DockerClient, tag: str, run_id: str, content: str) -> str:
    """A farm-labelled image of one metadata layer on the base image; returns its id."""
    dockerfile = (
        f"FROM {BASE_IMAGE}\n"
        f'LABEL {engine.MANAGED_LABEL}="true" {RUN_LABEL}="{run_id}" content="{content}"\n'
    )
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    return str(image.id)


def sleeper(client: docker.DockerClient, image: str, owner: str, run_id: str) -> str:
    container = client.containers.run(
        image,
        ["sleep", "infinity"],
        detach=True,
        network_mode="none",
        labels={engine.MANAGED_LABEL: "true", engine.OWNER_LABEL: owner, RUN_LABEL: run_id},
    )
    return str(container.id)


def dead_pid() -> int:
    """The pid of a process that has finished (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait(timeout=10)
    return process.pid


def exists(getter: Callable[[str], object], reference: str) -> bool:
    try:
        getter(reference)
    except docker.errors.NotFound:
        return False
    return True


def test_gc_removes_leftovers_and_keeps_records_and_live_owners(
    client: docker.DockerClient,
    run_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = socket.gethostname()
    kept_tag = f"{REPOSITORY}:kept-{run_id}"
    stale_tag = f"{REPOSITORY}:stale-{run_id}"
    busy_tag = f"{REPOSITORY}:busy-{run_id}"
    dangling_tag = f"{REPOSITORY}:dangling-{run_id}"
    kept_id = tiny_image(client, kept_tag, run_id, "kept")
    stale_id = tiny_image(client, stale_tag, run_id, "stale")
    busy_id = tiny_image(client, busy_tag, run_id, "busy")
    # Building the tag again leaves the first image dangling, as a rebuild does.
    dangling_id = tiny_image(client, dangling_tag, run_id, "first")
    tiny_image(client, dangling_tag, run_id, "second")
    assert client.images.get(dangling_id).tags == []
    # A leftover of a farm that is gone, running the stale image (so that image can only
    # go after the container), and a container of a farm that runs (this test process).
    leftover = sleeper(client, stale_tag, f"{host}:{dead_pid()}", run_id)
    live = sleeper(client, busy_tag, f"{host}:{os.getpid()}", run_id)
    monkeypatch.setenv("FARM_CACHE", str(tmp_path / "cache"))
    now = datetime.datetime.now(datetime.UTC)
    gc.write_record(gc.records_dir(), "gc-test", [kept_tag, dangling_tag], now=now)
    only_mine = ("--label", f"{RUN_LABEL}={run_id}")

    dry = farm("gc", "--dry-run", *only_mine, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert f"would remove image {stale_tag}: in no scenario's newest record" in dry.stdout
    assert f"would remove image {dangling_id.removeprefix('sha256:')[:12]}" in dry.stdout
    assert "would remove container" in dry.stdout and "is gone" in dry.stdout
    assert exists(client.containers.get, leftover) and exists(client.images.get, stale_id)

    done = farm("gc", *only_mine, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not exists(client.containers.get, leftover)
    assert not exists(client.images.get, stale_id)
    assert not exists(client.images.get, dangling_id)
    # What the newest record lists, what a live farm's container uses, and the base stay.
    assert client.images.get(kept_tag).id == kept_id
    assert client.images.get(busy_tag).id == busy_id
    assert client.containers.get(live).status == "running"
    assert f"kept image {busy_tag}: in no record, but" in done.stdout
    assert client.images.get(BASE_IMAGE) is not None
    removed = [line for line in done.stdout.splitlines() if line.startswith("removed ")]
    assert len(removed) == 4, done.stdout  # container, stale tag, dangling image, summary
    assert "reclaimed" in removed[-1]

    # The live farm's container goes once its owner is gone (or with --all-containers).
    again = farm("gc", "--all-containers", *only_mine, timeout=120)
    assert again.returncode == 0, again.stderr
    assert not exists(client.containers.get, live)
    assert not exists(client.images.get, busy_id)  # no container uses it any more
    assert client.images.get(kept_tag).id == kept_id


def test_test_containers_carry_the_owner_of_the_farm_process(
    client: docker.DockerClient, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(engine.OWNER_ENV, f"{socket.gethostname()}:{os.getpid()}")
    container = TestContainer(engine.Engine.connect(), BASE_IMAGE, f"farm-gc-test-{run_id}")
    container.start()
    try:
        labels = client.containers.get(f"farm-gc-test-{run_id}").labels
    finally:
        container.stop()
    assert labels[engine.MANAGED_LABEL] == "true"
    assert labels[engine.OWNER_LABEL] == f"{socket.gethostname()}:{os.getpid()}"


def test_gc_without_an_engine_says_so_and_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = farm("gc", "--dry-run", timeout=60)
    assert result.returncode == 2
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in result.stderr
    assert "Traceback" not in result.stderr
