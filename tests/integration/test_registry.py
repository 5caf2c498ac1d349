"""Images through a real registry on loopback (Debian's docker-registry, the reference
distribution server): a farm that built a scenario pushes its images; a farm whose engine
lacks them pulls them instead of building (no build log is written), gets the same image
ids, runs the tests in them and gives the same verdict.

The engine is shared with every other farm on the machine, so "an engine that lacks the
images" is made by removing only this test's own images: the fixture scenario's series has
a name no other scenario uses, so its build and test images (named by ``farm render``) are
this test's alone. Everything below them (the default scenario's baseline) stays, and is
found present rather than pulled, as on a runner that already had the baseline.
Docker talks plain HTTP to a registry on 127.0.0.0/8 without any daemon setting.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import docker
import pytest

from tests import registry_server
from tests.integration.conftest import FIXTURES, farm

pytestmark = pytest.mark.integration

SCENARIO = FIXTURES / "registry.yaml"
#: The images only this test's scenario has; the rest of its plan is the default's baseline.
OWN_IMAGES = ("test-x86_64-registry-probe", "build-x86_64-registry-probe")


def _plan_tags(tmp_path: Path) -> dict[str, str]:
    rendered = farm("render", SCENARIO, "-o", tmp_path / "render")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    plan = json.loads((tmp_path / "render" / "plan.json").read_text())
    return {image["name"]: image["tag"] for image in plan["images"]}


def _verdicts(run_dir: Path) -> dict[str, str]:
    report = json.loads((run_dir / "report.json").read_text())
    return {"": report["verdict"], **{s["series"]: s["verdict"] for s in report["series"]}}


def _catalog(registry: str) -> list[str]:
    host = registry.split("/", 1)[0]
    with urllib.request.urlopen(f"http://{host}/v2/_catalog", timeout=10) as reply:
        return list(json.load(reply)["repositories"])


def test_a_farm_without_the_images_pulls_them_instead_of_building_and_judges_the_same(
    client: docker.DockerClient, loopback_registry: str, run_root: Path, tmp_path: Path
) -> None:
    registry = loopback_registry
    tags = _plan_tags(tmp_path)
    first = run_root / "registry-push"
    pushed = farm("run", SCENARIO, "--run-dir", first, "--no-bisect", "--no-history",
                  "--push", registry)  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    for name, tag in tags.items():
        assert f"registry: {name}: pushed {registry}/{tag}: sha256:" in pushed.stderr
    assert sorted(_catalog(registry)) == sorted(
        {f"farm-test/{tag.rsplit(':', 1)[0]}" for tag in tags.values()}
    )
    # No registry name stays on the engine after the push.
    assert not [t for image in client.images.list() for t in image.tags if registry in t]
    ids = {name: client.images.get(tags[name]).id for name in OWN_IMAGES}

    for name in OWN_IMAGES:  # this test's own images only; see the module docstring
        client.images.remove(tags[name], noprune=False)
    _refused_without_a_good_registry(client, registry, tags, run_root)
    second = run_root / "registry-pull"
    pulled = farm("run", SCENARIO, "--run-dir", second, "--no-bisect", "--no-history",
                  "--pull", registry)  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr[-3000:]
    for name in reversed(OWN_IMAGES):
        assert f"registry: {name}: pulled {registry}/{tags[name]}" in pulled.stderr
        assert client.images.get(tags[name]).id == ids[name]
    # Pulled, not built: the farm writes a build log for every image it builds.
    assert not [name for name in tags if (second / "logs" / f"{name}.log").exists()]
    assert "building" not in pulled.stderr
    assert not [t for image in client.images.list() for t in image.tags if registry in t]
    assert _verdicts(second) == _verdicts(first)
    assert _verdicts(first)["registry-probe"] == "ACCEPT"
    probe_cell = json.loads((second / "cells" / "registry-x86_64-registry-probe.json").read_text())
    assert probe_cell["image_id"] == ids["test-x86_64-registry-probe"]


def _refused_without_a_good_registry(
    client: docker.DockerClient, registry: str, tags: dict[str, str], run_root: Path
) -> None:
    """With the series' test image gone, a shard (--no-build) that cannot pull it is refused
    with the registry's reason: from a registry that does not answer, and from one whose
    image under that tag is another image (the baseline's, forged under the series' tag)."""
    test_image = OWN_IMAGES[0]
    dead = f"127.0.0.1:{registry_server.free_port()}/nobody"
    forged = registry.replace("/farm-test", "/forged")
    forged_ref = f"{forged}/{tags[test_image]}"
    client.images.get(tags["test-x86_64-baseline"]).tag(forged_ref)
    try:
        for line in client.images.push(forged_ref, stream=True, decode=True):
            assert "error" not in line, line
    finally:
        client.images.remove(forged_ref, noprune=True)
    for source, reason in ((dead, "connection refused"), (forged, "refused")):
        directory = run_root / f"registry-refused-{source.rsplit('/', 1)[1]}"
        completed = farm("run", SCENARIO, "--only", "registry-x86_64-registry-probe",
                         "--run-dir", directory, "--no-gate", "--no-build",
                         "--pull", source)  # fmt: skip
        assert completed.returncode == 2, completed.stderr[-3000:]
        assert f"registry: {test_image}: " in completed.stderr
        assert reason in completed.stderr
        assert f"--no-build: 1 image(s) to test are not on this machine: {test_image}" in (
            completed.stderr
        )
    assert "its label org.glibc-farm.variant is 'baseline', not 'registry-probe'" in (
        completed.stderr
    )
    assert not [t for image in client.images.list() for t in image.tags if forged in t]
