"""Pulling a glibc build image from a registry against building it, per arch.

The farm's registry path (`farm.containers.registry`, ``--pull``/``--push``) rests on one claim: a
runner that pulls an image it lacks pays far less than one that builds it. This benchmark
measures that claim from one run, on the image where it matters most, a baseline build
image (glibc compiled): it rebuilds that image from scratch under a throwaway
``glibc-farm/bench`` tag (every step of its own, its parent the farm's own image), pushes it
with the farm's own push to a real registry on loopback (Debian's docker-registry), removes
it from the engine, and pulls it back with the farm's own ``--pull`` code, which checks its
labels and that its layers extend its parent's. It prints each wall time and the ratio of
the pull to the build. The farm's own images are left as they are.

    python -m bench.registry_bench                     # default scenario, both arches
    python -m bench.registry_bench SCENARIO --arch x86_64

The registry is on the same machine, so the pull is the engine's own cost (layer
download over loopback, decompression, extraction) without a network's: a runner pulling
from ghcr.io adds its download time. The parent image (toolchain and source) is present
here and is not pulled; its size is printed beside, as what a fresh runner pulls once more.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from bench.build_bench import REPO, prepare_bench, rebuild, remove_bench_image
from farm.containers import registry
from farm.containers.engine import Engine
from farm.plan.scenario import Arch
from farm.run import build
from tests import registry_server

DEFAULT_SCENARIO = REPO / "scenarios" / "debian-2.36-backports.yaml"


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    arch: str
    image: str
    build: float
    push: float
    pull: float
    size: int  # bytes of the image, as the engine reports it
    parent_size: int


def _say(message: str) -> None:
    if "farm-phase" in message or "built in" in message or "registry:" in message:
        print(f"  {message}", file=sys.stderr, flush=True)


def _size(client: Engine, tag: str) -> int:
    facts = client.image_facts(tag)
    if facts is None:
        raise SystemExit(f"registry_bench: {tag} vanished from the engine during the bench")
    return facts.size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path, nargs="?", default=DEFAULT_SCENARIO)
    parser.add_argument("--arch", action="append", choices=[a.value for a in Arch])
    args = parser.parse_args()

    scenario, arches, client, prepared = prepare_bench(args.scenario, args.arch, _say)
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="farm-bench-") as temporary,
        registry_server.serve("farm-bench") as prefix,
    ):
        log_dir = Path(temporary)
        target = registry.Registry.parse(prefix, option="--push")
        for arch in arches:
            image = prepared.plan.build_image(arch, "baseline")
            if image.parent is None:
                raise SystemExit(f"registry_bench: {image.name} has no parent image")
            # Its parents (toolchain, source) must exist; they are not timed.
            build.build_images(
                client,
                prepared.plan,
                names=[image.name],
                log_dir=log_dir,
                progress=_say,
                compiler_caches=None,
            )
            print(f"{arch.value}: building {image.name} from scratch ...", file=sys.stderr)
            built = rebuild(client, image, log_dir, keep=True)
            bench_image = dataclasses.replace(image, tag=built.tag)
            try:
                built_id = client.image_id(built.tag)
                size = _size(client, built.tag)
                started = time.monotonic()
                (pushed,) = registry.push(client, target, [bench_image], _say)
                push_wall = time.monotonic() - started
                if pushed.state is not registry.Transfer.PUSHED:
                    raise SystemExit(f"registry_bench: the push failed: {pushed.describe()}")
                remove_bench_image(client, built.tag)
                if client.image_id(built.tag) is not None:
                    raise SystemExit(f"registry_bench: {built.tag} is still on the engine")
                print(f"{arch.value}: pulling it back ...", file=sys.stderr)
                started = time.monotonic()
                (pulled,) = registry.pull_missing(
                    client, target, prepared.plan, [bench_image], _say
                )
                pull_wall = time.monotonic() - started
                if pulled.state is not registry.Transfer.PULLED:
                    raise SystemExit(f"registry_bench: the pull failed: {pulled.describe()}")
                if client.image_id(built.tag) != built_id:
                    raise SystemExit("registry_bench: the pulled image is not the image built")
            finally:
                if client.image_id(built.tag) is not None:
                    remove_bench_image(client, built.tag)
            parent_size = _size(client, prepared.plan.by_name(image.parent).tag)
            rows.append(
                Row(arch.value, image.name, built.wall, push_wall, pull_wall, size, parent_size)
            )

    print(f"\nscenario {scenario.name}, registry on loopback\n")
    print("| arch | image | build from scratch | push | pull | pull / build | image | parent |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.arch} | {row.image} | {row.build:.0f} s | {row.push:.0f} s | "
            f"{row.pull:.0f} s | {row.pull / row.build:.1%} | {row.size / 2**30:.2f} GiB | "
            f"{row.parent_size / 2**30:.2f} GiB |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
