"""The compiler cache on the real engine and real glibc: the compile steps run as the
Dockerfile's RUN steps did (no network, nothing of the cache in the image), and a hit, a
miss, a damaged cache, a full disk and either of ccache's modes all give the same objects.

The glibc check recompiles the dynamic loader's objects (``elf/dl-*.os``, about sixty files,
with glibc's own make and flags) on the default scenario's x86_64 baseline build tree, once
per cache state, and compares the objects' hashes: byte-identical objects are the same
glibc, so the same outcomes and verdicts. That the tags do not depend on the cache is shown
by ``farm build --no-ccache`` reusing every image a build with the cache made.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from farm.containers import engine
from farm.containers.engine import BuildSpec, CcacheMode, CompilerCache
from farm.errors import BuildError
from farm.inputs.sources import Cache, default_cache_dir
from farm.plan.render import BASE_IMAGE
from farm.plan.scenario import Arch, load_scenario
from farm.run import build
from farm.run.compiler_cache import DEFAULT_MODE, CompilerCaches
from tests.integration.conftest import DEFAULT, farm, in_image

pytestmark = pytest.mark.integration

#: The mode the farm does not compile in by default, checked beside the default one.
OTHER_MODE = next(mode for mode in CcacheMode if mode is not DEFAULT_MODE)

#: Recompile the loader's objects with glibc's own rules, then record their hashes and (with
#: a cache) ccache's counters for this step alone.
RECOMPILE_LOADER = r"""
set -eu
cd /build/glibc
if [ -n "${CCACHE_DIR:-}" ]; then ccache --zero-stats >/dev/null; fi
objects=$(ls elf/dl-*.os)
rm -f $objects
make -C /src/glibc/elf objdir=/build/glibc -j"$(nproc)" MAKEINFO=: \
    $(for o in $objects; do echo /build/glibc/$o; done) >/dev/null
sha256sum $objects >/farm-objects.sha256
if [ -n "${CCACHE_DIR:-}" ]; then ccache --print-stats >/farm-ccache.stats; fi
"""


def _tiny(run: str, steps: tuple[tuple[str, ...], ...], cache: CompilerCache | None) -> BuildSpec:
    return BuildSpec(
        name="build-compile-check",
        tag=f"glibc-farm/compile-check:{run}",
        kind="build",
        dockerfile=f"FROM {BASE_IMAGE}\nENV FARM_CHECK={run}\n",
        context=(),
        compile_steps=steps,
        compiler_cache=cache,
    )


def _farm_containers(client: docker.DockerClient) -> set[str]:
    return {c.id for c in client.containers.list(all=True, filters={"label": engine.MANAGED_LABEL})}


def test_a_compile_step_runs_as_a_run_step_did_and_leaves_the_cache_outside_the_image(
    client: docker.DockerClient, farm_engine: engine.Engine, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:12]
    cache = CompilerCache(tmp_path / "ccache", "1G", DEFAULT_MODE)
    step = ("sh", "-c", "ls /sys/class/net >/farm-interfaces; echo seen >$CCACHE_DIR/probe")
    before = _farm_containers(client)
    spec = _tiny(run, (step, ("sh", "-c", "echo second >/farm-second")), cache)
    outcome = farm_engine.build(spec, log_path=tmp_path / "build.log", progress=lambda _: None)
    try:
        assert (tmp_path / "ccache" / "probe").read_text() == "seen\n"
        # No network but loopback, as the classic builder ran a build's RUN steps.
        assert in_image(client, spec.tag, "cat /farm-interfaces").split() == ["lo"]
        assert in_image(client, spec.tag, "cat /farm-second") == "second\n"
        # Not even the mount point: the layers the steps committed hold their own files.
        assert in_image(client, spec.tag, "ls -A /mnt") == ""
        first, second = client.api.history(spec.tag)[:2]
        assert first["Size"] < 4096 and second["Size"] < 4096, (first, second)
        config = client.images.get(spec.tag).attrs["Config"]
        assert not [e for e in config["Env"] if "CCACHE" in e or "/usr/lib/ccache" in e]
        assert "FARM_CHECK=" + run in config["Env"]
        assert config["Labels"][engine.MANAGED_LABEL] == "true"
        assert config["Labels"][engine.OWNER_LABEL] == ""  # nobody's leftover
        assert outcome.image_id == client.images.get(spec.tag).id
        assert "Step compile: sh -c ls /sys/class/net" in (tmp_path / "build.log").read_text()
    finally:
        client.images.remove(spec.tag, force=True)
    assert _farm_containers(client) <= before


def test_a_failing_compile_step_is_a_build_error_and_tags_nothing(
    client: docker.DockerClient, farm_engine: engine.Engine, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:12]
    failing = ("sh", "-c", "echo 'farm-failed: build: make exited non-zero'; exit 2")
    before = _farm_containers(client)
    with pytest.raises(BuildError) as raised:
        farm_engine.build(
            _tiny(run, (failing, ("touch", "/never")), None),
            log_path=tmp_path / "build.log",
            progress=lambda _: None,
        )
    assert raised.value.phase == "build"
    assert "make exited non-zero" in str(raised.value)
    assert farm_engine.image_id(f"glibc-farm/compile-check:{run}") is None
    assert _farm_containers(client) <= before
    assert "Step compile: touch /never" not in (tmp_path / "build.log").read_text()


@pytest.fixture(scope="module")
def baseline_tag(farm_engine: engine.Engine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The default scenario's x86_64 baseline build image (built here if no test made it)."""
    prepared = build.prepare(load_scenario(DEFAULT), Cache(default_cache_dir()), lambda _: None)
    image = prepared.plan.build_image(Arch.X86_64, "baseline")
    statuses = build.build_images(
        farm_engine, prepared.plan, names=[image.name], progress=lambda _: None,
        log_dir=tmp_path_factory.mktemp("baseline-logs"),
        compiler_caches=CompilerCaches.under(default_cache_dir()),
    )  # fmt: skip
    assert statuses[image.name].state in (build.ImageState.BUILT, build.ImageState.REUSED)
    return image.tag


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on a 1 MiB tmpfs: a cache that runs out of room at once."""
    if os.geteuid() != 0:
        pytest.fail("mounting the full-disk tmpfs needs root (CI runs as root)", pytrace=False)
    directory = tmp_path / "full"
    directory.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", directory], check=True)
    try:
        yield directory
    finally:
        subprocess.run(["umount", directory], check=True)


def _stats(client: docker.DockerClient, tag: str) -> dict[str, int]:
    lines = in_image(client, tag, "cat /farm-ccache.stats").splitlines()
    return {key: int(value) for key, value in (line.split("\t") for line in lines if "\t" in line)}


def test_hits_misses_a_damaged_cache_and_a_full_disk_give_the_same_glibc_objects(
    client: docker.DockerClient,
    farm_engine: engine.Engine,
    baseline_tag: str,
    tmp_path: Path,
    full_disk: Path,
) -> None:
    run = uuid.uuid4().hex[:12]
    warm = tmp_path / "ccache"
    objects: dict[str, str] = {}
    stats: dict[str, dict[str, int]] = {}
    modes: list[tuple[str, CompilerCache | None]] = [
        ("off", None),
        ("cold", CompilerCache(warm, "2G", DEFAULT_MODE)),
        ("warm", CompilerCache(warm, "2G", DEFAULT_MODE)),
        ("damaged", CompilerCache(warm, "2G", DEFAULT_MODE)),
        ("full-disk", CompilerCache(full_disk, "2G", DEFAULT_MODE)),
        ("tiny-bound", CompilerCache(tmp_path / "tiny", "1M", DEFAULT_MODE)),
        ("other-mode-cold", CompilerCache(tmp_path / "other", "2G", OTHER_MODE)),
        ("other-mode-warm", CompilerCache(tmp_path / "other", "2G", OTHER_MODE)),
    ]
    tags = []
    try:
        for mode, cache in modes:
            if mode == "damaged":
                # Every file of the warm cache (entries, manifests, stats) overwritten in
                # its middle: ccache must treat them as misses, not hand them out.
                for path in warm.rglob("*"):
                    if path.is_file() and path.stat().st_size > 0:
                        with path.open("r+b") as handle:
                            handle.seek(path.stat().st_size // 2)
                            handle.write(b"\xde\xad\xbe\xef" * 8)
            spec = BuildSpec(
                name=f"build-ccache-check-{mode}",
                tag=f"glibc-farm/ccache-check:{mode}-{run}",
                kind="build",
                dockerfile=f"FROM {baseline_tag}\n",
                context=(),
                compile_steps=(("sh", "-c", RECOMPILE_LOADER),),
                compiler_cache=cache,
            )
            farm_engine.build(spec, log_path=tmp_path / f"{mode}.log", progress=lambda _: None)
            tags.append(spec.tag)
            objects[mode] = in_image(client, spec.tag, "cat /farm-objects.sha256")
            if cache is not None:
                stats[mode] = _stats(client, spec.tag)
    finally:
        for tag in tags:
            client.images.remove(tag, force=True)
        shutil.rmtree(warm, ignore_errors=True)
    compiled = len(objects["off"].splitlines())
    assert compiled > 40, objects["off"]
    for mode in objects:
        assert objects[mode] == objects["off"], f"{mode} built other objects than without a cache"

    def hits(mode: str) -> int:
        return stats[mode].get("direct_cache_hit", 0) + stats[mode].get("preprocessed_cache_hit", 0)

    # ccache takes nearly every compile (one in sixty it passes to gcc: not cacheable).
    missed = stats["cold"]["cache_miss"]
    assert hits("cold") == 0 and missed >= compiled - 5
    # What the cold build missed, the warm one hits: all of it, nothing else.
    assert hits("warm") == missed and stats["warm"].get("cache_miss", 0) == 0
    assert hits("damaged") < missed  # the damaged entries were not handed out
    # ccache's other mode (the one the farm does not use by default) takes the same compiles,
    # and answers the second time from its direct lookup alone.
    assert hits("other-mode-cold") == 0 and stats["other-mode-cold"]["cache_miss"] == missed
    assert stats["other-mode-warm"].get("direct_cache_hit", 0) == missed
    assert stats["other-mode-warm"].get("cache_miss", 0) == 0


def test_the_cache_is_no_input_of_a_tag(tmp_path: Path) -> None:
    """A build with the cache and one without make the same tags: the second reuses all."""
    with_cache = farm("build", "--only", "*x86_64*", "--run-dir", tmp_path / "on")
    assert with_cache.returncode == 0, with_cache.stdout[-3000:] + with_cache.stderr[-3000:]
    without = farm("build", "--no-ccache", "--only", "*x86_64*", "--run-dir", tmp_path / "off")
    assert without.returncode == 0, without.stdout[-3000:] + without.stderr[-3000:]
    rows = [line.split() for line in without.stdout.splitlines() if "glibc-farm/" in line]
    assert rows and all(row[1] == "reused" for row in rows), without.stdout
    assert sorted(r[2] for r in rows) == sorted(
        line.split()[2] for line in with_cache.stdout.splitlines() if "glibc-farm/" in line
    )
