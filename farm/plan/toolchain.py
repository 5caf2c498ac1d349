"""Toolchains: the Debian releases glibc is built with, one axis of the matrix.

A toolchain is a Debian release's base image plus its build tools and gcc-multilib (the
toolchain image, ``images/toolchain.Dockerfile.j2``). The releases the farm knows, with the
compiler and linker each ships, are listed once, in ``farm/data/toolchains.toml``; this
module reads that file and owns the names derived from a toolchain:

- the base image ``glibc-farm/base:<release>`` (made by ``farm.containers.engine``);
- the qualifier of image names and tags: none for the default release, so a scenario that
  adds a second toolchain still reuses the images every single-toolchain scenario built.

Why toolchains matter: a glibc is built against its era's compiler and linker. An old tree
does not link against a newer host's libstdc++ (2.34 on bookworm), and the RTLD_SHARED
series takes a different path on a linker with ``-z unique`` (binutils 2.36+) than without.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from farm import ids

RELEASES_FILE = Path(__file__).resolve().parents[1] / "data" / "toolchains.toml"


@dataclass(frozen=True, slots=True)
class Toolchain:
    """One Debian release the farm builds with, as ``farm/data/toolchains.toml`` lists it."""

    name: str  # the Debian codename: bullseye, bookworm, trixie
    debian: str  # the release number, for people
    gcc: str
    binutils: str
    host_glibc: str
    ld_z_unique: bool  # whether its ld writes DF_GNU_1_UNIQUE for `-z unique`

    @property
    def base_image(self) -> str:
        """The local Debian base image: pulled ``debian:<name>`` or a debootstrap import."""
        return ids.base_image_tag(self.name)

    @property
    def is_default(self) -> bool:
        return self.name == default_toolchain().name

    @property
    def image_qualifier(self) -> str:
        """What image names and tags carry for this toolchain: nothing for the default.

        The default toolchain's images keep the names they had before toolchains were an
        axis, so every scenario on it (with or without other toolchains) shares them.
        """
        return "" if self.is_default else self.name

    def describe(self) -> str:
        return (
            f"{self.name} (Debian {self.debian}: GCC {self.gcc}, binutils {self.binutils}, "
            f"ld -z unique: {'yes' if self.ld_z_unique else 'no'})"
        )


@functools.cache
def _load() -> tuple[str, dict[str, Toolchain]]:
    data = tomllib.loads(RELEASES_FILE.read_text(encoding="utf-8"))
    releases = {
        name: Toolchain(
            name=name,
            debian=str(fields["debian"]),
            gcc=str(fields["gcc"]),
            binutils=str(fields["binutils"]),
            host_glibc=str(fields["host_glibc"]),
            ld_z_unique=bool(fields["ld_z_unique"]),
        )
        for name, fields in data["releases"].items()
    }
    default = str(data["default"])
    if default not in releases:  # a broken data file is the farm's bug, not the user's
        raise RuntimeError(f"{RELEASES_FILE}: default {default!r} is not a listed release")
    return default, releases


def known_toolchains() -> dict[str, Toolchain]:
    """Every release the farm knows, by name, in the data file's order (oldest first)."""
    return dict(_load()[1])


def default_toolchain() -> Toolchain:
    """The toolchain of a scenario that names none."""
    default, releases = _load()
    return releases[default]


def toolchain(name: str) -> Toolchain:
    """The toolchain called ``name``; KeyError if the farm does not know it."""
    return _load()[1][name]
