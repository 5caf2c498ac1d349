"""`farm build` on real glibc: both arches, baseline and patched, incremental, reused."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import docker
import pytest

from farm.containers import engine
from farm.plan.render import BASE_IMAGE, ImageSpec
from farm.run.build import build_spec
from tests.integration.conftest import DEFAULT, FIXTURES, farm, in_image

pytestmark = pytest.mark.integration


def plan(run_root: Path, scenario: Path) -> dict[str, str]:
    out = run_root / f"render-{scenario.stem}"
    assert farm("render", scenario, "-o", out).returncode == 0
    data = json.loads((out / "plan.json").read_text())
    return {image["name"]: image["tag"] for image in data["images"]}


#: The default scenario's cells the suite builds: both arches' baselines (every fixture
#: scenario shares them) and x86_64's git-updates. i686's git-updates is a whole glibc build
#: of its own (the backports touch headers every object includes) that no other test uses;
#: the quick start's `farm run` builds it.
DEFAULT_CELLS = ("--only", "*-x86_64-*", "--only", "*-i686-baseline")
BUILT_VARIANTS = {"x86_64": ("baseline", "git-updates"), "i686": ("baseline",)}


def test_default_scenario_builds_glibc_236_for_both_arches(
    client: docker.DockerClient, run_root: Path
) -> None:
    built = farm("build", DEFAULT, *DEFAULT_CELLS, "--run-dir", run_root / "default")
    assert built.returncode == 0, built.stderr[-3000:]
    tags = plan(run_root, DEFAULT)
    for arch, loader, elf in (
        ("x86_64", "ld-linux-x86-64.so.2", "ELF 64-bit"),
        ("i686", "ld-linux.so.2", "ELF 32-bit"),
    ):
        for variant in BUILT_VARIANTS[arch]:
            tag = tags[f"build-{arch}-{variant}"]
            output = in_image(
                client, tag,
                f"/opt/glibc/lib/{loader} --version | head -n 1; file -L /opt/glibc/lib/libc.so.6; "
                "ls /src/glibc/elf/ | grep -c '^tst-dlmopen-twice' || true",
            )  # fmt: skip
            version_line, file_line, twice_count = output.strip().splitlines()
            assert "version 2.36" in version_line, output
            assert elf in file_line, output
            # git-updates.diff adds elf/tst-dlmopen-twice*: only the patched tree has it.
            assert (int(twice_count) > 0) == (variant == "git-updates"), output
    # The patched image really is the baseline image plus layers.
    baseline_layers = client.images.get(tags["build-x86_64-baseline"]).attrs["RootFS"]["Layers"]
    patched_layers = client.images.get(tags["build-x86_64-git-updates"]).attrs["RootFS"]["Layers"]
    assert patched_layers[: len(baseline_layers)] == baseline_layers


def test_second_build_reuses_every_image(run_root: Path) -> None:
    again = farm("build", DEFAULT, *DEFAULT_CELLS, "--run-dir", run_root / "default-again")
    assert again.returncode == 0
    states = re.findall(r"^(\S+)\s+(built|reused|failed|blocked)\s", again.stdout, re.MULTILINE)
    assert states and all(state == "reused" for _, state in states), again.stdout
    assert not list((run_root / "default-again" / "logs").glob("*.log"))


def test_series_that_does_not_apply_names_the_patch_and_others_go_on(run_root: Path) -> None:
    result = farm(
        "build", FIXTURES / "fixture-series.yaml",
        "--only", "*-x86_64-does-not-apply", "--only", "*-x86_64-harmless",
        "--run-dir", run_root / "fixtures",
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        "does-not-apply patch 2/2: elf: Reuse the base namespace for LM_ID_NEWLM in dlmopen"
        in result.stderr
    )
    assert "patch failed: elf/dl-open.c" in result.stderr  # the reject is shown
    assert re.search(r"^build-x86_64-does-not-apply\s+failed", result.stdout, re.MULTILINE)
    assert re.search(r"^test-x86_64-does-not-apply\s+blocked", result.stdout, re.MULTILINE)
    # The other variant of the same run went on and built incrementally.
    assert re.search(r"^build-x86_64-harmless\s+(built|reused)", result.stdout, re.MULTILINE)
    log = (run_root / "fixtures" / "logs" / "build-x86_64-does-not-apply.log").read_text()
    assert "farm-failed: patch-apply" in log


def test_bad_sha256_refuses_the_source_and_shows_both_hashes(run_root: Path) -> None:
    result = farm("build", FIXTURES / "bad-sha256.yaml", "--run-dir", run_root / "bad")
    assert result.returncode == 2
    assert (
        "expected cfe1f0b8dc1fa211ce5a45b3725cc38b29f88667f1140ebdca6de35cf9c6f1fe" in result.stderr
    )
    assert (
        "got      cfe1f0b8dc1fa211ce5a45b3725cc38b29f88667f1140ebdca6de35cf9c6f1fd" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not (run_root / "bad" / "logs").exists()


@pytest.mark.parametrize(("kind", "interfaces"), [("toolchain", ["eth0", "lo"]), ("build", ["lo"])])
def test_only_the_toolchain_step_is_built_with_a_network(
    client: docker.DockerClient,
    farm_engine: engine.Engine,
    tmp_path: Path,
    kind: str,
    interfaces: list[str],
) -> None:
    """Applying a series and running its configure and make is code from strangers: those
    images are built with no network interface but loopback. Only apt-get needs one."""
    run = uuid.uuid4().hex[:12]
    image = ImageSpec(
        name=f"{kind}-network",
        kind=kind,
        arch=None,
        variant=None,
        parent=None,
        dockerfile=f"FROM {BASE_IMAGE}\nRUN ls /sys/class/net > /farm-interfaces  # {run}\n",
        context=(),
        tag=f"glibc-farm/network-check:{kind}-{run}",
    )
    farm_engine.build(build_spec(image), log_path=tmp_path / "build.log", progress=lambda _: None)
    try:
        assert in_image(client, image.tag, "cat /farm-interfaces").split() == interfaces
    finally:
        client.images.remove(image.tag, force=True)


def test_a_debian_version_that_does_not_exist_is_named_with_the_ones_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FARM_CACHE", str(tmp_path / "cache"))
    result = farm("render", FIXTURES / "no-such-version.yaml", "-o", tmp_path / "render")
    assert result.returncode == 2, result.stderr[-3000:]
    assert (
        "no-such-version.yaml:9: debian:glibc=2.36-9+deb12u999: bookworm's Sources index at "
        "http://deb.debian.org/debian has no version 2.36-9+deb12u999 of glibc; it lists"
    ) in result.stderr
    assert re.search(r"pin a version bookworm serves now: .*2\.36-9\+deb12u\d+", result.stderr)
    assert "Traceback" not in result.stderr
    # Nothing half-fetched stays behind to be taken for the package next time.
    cache = tmp_path / "cache"
    assert not list(cache.rglob("*.dsc")) and not list(cache.rglob(".verified"))
    assert not any((cache / "tmp").iterdir())
    assert not (FIXTURES / "no-such-version.yaml.lock").exists()  # no hash recorded
