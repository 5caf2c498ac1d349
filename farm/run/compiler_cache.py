"""The compiler cache: glibc compiled once, whatever image asks for it again.

A series variant and each of its bisection prefixes start FROM the baseline's build tree,
so make recompiles only what they touch; but a series that touches a header or a build file
(Makeconfig, Makerules) makes make recompile most of glibc, and the baseline of a master a
day later is compiled from scratch, although most of its files and the headers they read
are what they were. ccache answers those from a directory that outlives the images: one
per toolchain and arch (`farm.plan.render.ImageSpec.compiler_cache_key`) under the farm
cache, read and filled by the baseline, every series variant, every prefix and the next
baseline alike.

What keeps a hit from changing a result is ccache's own hashing (the compiler binary's
content, every argument, the source and every header it read, each entry checksummed;
`CcacheMode` says how it learns the headers), and that the cache
never enters an image: the compile steps mount it (`farm.containers.engine.CompilerCache`),
ccache is installed in every toolchain image whether it is used or not, and an image's tag
is a hash of its inputs, which the cache is not. So the same tags come out with the cache
on, off, cold or warm, and ``--no-ccache`` builds the same images without it.

Each directory is bounded by ``max_size`` (ccache evicts the oldest entries as it fills);
``farm gc`` trims them to it again (`trim`) and ``farm gc --drop-ccache`` empties them.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from farm import ids
from farm.containers.engine import COMPILER_CACHE_MOUNT, CcacheMode, CompilerCache, Engine
from farm.errors import EngineError, UsageError
from farm.plan.render import ImageSpec

#: Per toolchain and arch: the default scenario's baseline and series variant
#: fill 225 MB (ccache compresses); a bound of 2 GB keeps several trees of one arch (a
#: master followed for weeks, its series).
DEFAULT_MAX_SIZE = "2G"
#: The depend mode: filling an empty cache in ccache's own default mode took 1.53x a build
#: without it here (the preprocessor runs twice per miss), in depend mode 1.08x
#: (`bench.ccache_bench --overhead-only`, the README's "The compiler cache").
DEFAULT_MODE = CcacheMode.DEPEND
_SIZE_RE = re.compile(r"^[1-9][0-9]*(?:\.[0-9]+)?[KMGT]$")


def max_size_option(text: str) -> str:
    """``--ccache-size`` as ccache reads it: a number and K, M, G or T (``2G``, ``500M``)."""
    size = text.strip().upper()
    if not _SIZE_RE.match(size):
        raise UsageError(
            f"--ccache-size {text!r}: give a size as a number and K, M, G or T (2G, 500M)"
        )
    return size


@dataclass(frozen=True, slots=True)
class CompilerCaches:
    """The compiler caches of one farm cache: ``root/<toolchain>-<arch>/``."""

    root: Path  # <farm cache>/ccache
    max_size: str = DEFAULT_MAX_SIZE
    mode: CcacheMode = DEFAULT_MODE

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_size", max_size_option(self.max_size))

    @classmethod
    def under(
        cls, cache_root: Path, max_size: str | None = None, mode: CcacheMode | None = None
    ) -> CompilerCaches:
        """The caches of the farm cache at ``cache_root``; None: the default size or mode."""
        return cls(cache_root / "ccache", max_size or DEFAULT_MAX_SIZE, mode or DEFAULT_MODE)

    def for_image(self, image: ImageSpec) -> CompilerCache | None:
        """The cache an image's compile steps mount; None for an image that compiles none."""
        if not image.compile_steps:
            return None
        return CompilerCache(self.root / image.compiler_cache_key, self.max_size, self.mode)

    def directories(self) -> Iterator[Path]:
        if self.root.is_dir():
            yield from sorted(p for p in self.root.iterdir() if p.is_dir())

    def trim(self, engine: Engine, toolchain_images: dict[str, str]) -> list[str]:
        """Trim each directory to ``max_size`` with ccache itself (it alone knows its
        layout), run in the toolchain image of the directory's toolchain
        (``toolchain_images``: toolchain name to an image of it); what was done, a line each.

        A directory whose toolchain image is gone is left: it trims itself the next time a
        build uses it, and ``farm gc --drop-ccache`` empties it.
        """
        said: list[str] = []
        for directory in self.directories():
            toolchain = directory.name.rsplit("-", 1)[0]
            image = toolchain_images.get(toolchain)
            if image is None:
                said.append(f"{directory}: kept as it is (no {toolchain} toolchain image here)")
                continue
            status, output = engine.run_once(
                image,
                ["ccache", "--cleanup", "--show-stats"],
                binds={directory: COMPILER_CACHE_MOUNT},
                environment={"CCACHE_DIR": COMPILER_CACHE_MOUNT, "CCACHE_MAXSIZE": self.max_size},
            )
            if status == 127:  # a toolchain image made before the farm installed ccache
                said.append(f"{directory}: kept as it is ({image} has no ccache)")
                continue
            if status != 0:
                raise EngineError(
                    f"ccache --cleanup of {directory} failed (exit {status}):\n"
                    f"{output.decode(errors='replace')[-2000:]}"
                )
            said.append(f"{directory}: trimmed to {self.max_size} ({_cache_size(output)})")
        return said

    def remove(self) -> list[str]:
        """Empty every directory (``farm gc --drop-ccache``): the next builds refill them."""
        removed = list(self.directories())
        for directory in removed:
            shutil.rmtree(directory)
        return [str(directory) for directory in removed]


def toolchain_images(engine: Engine) -> dict[str, str]:
    """The newest toolchain image of each toolchain on this engine, by toolchain name: the
    ccache that filled a toolchain's directories is the one to trim them with."""
    newest: dict[str, tuple[int, str]] = {}
    for image in engine.images(["org.glibc-farm.kind=toolchain"]):
        base = image.labels.get("org.glibc-farm.base", "")
        if not image.tags or not base:
            continue
        name = ids.split_image_ref(base)[1]
        if name not in newest or image.created > newest[name][0]:
            newest[name] = (image.created, image.tags[0])
    return {name: tag for name, (_, tag) in newest.items()}


def _cache_size(stats: bytes) -> str:
    """ccache's "Cache size" line (4.2 and 4.8 word it alike), or "size not reported"."""
    for line in stats.decode(errors="replace").splitlines():
        if line.strip().lower().startswith("cache size"):
            return " ".join(line.split())
    return "size not reported"
