"""Splitting one run's test items over N CI jobs (``--shard I/N``), stably.

Whole glibc subdirectories take minutes each, so one cell's testsuite is worth spreading
over several jobs that reuse the same built image; ``farm gate`` then merges their run
directories as it merges cells. The unit of assignment is what runs together: a glibc
subdirectory (its ``make check`` item and any single tests picked from it) or a family of
the farm's cases. Within each cell, those units are sorted and dealt out round-robin, so
every job of one run, given the same scenario and image, computes the same split without
talking to the others, each item lands in exactly one shard, and the shards are balanced
by unit count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from farm.errors import UsageError

_SHARD_RE = re.compile(r"(\d+)/(\d+)")


class _Item(Protocol):
    @property
    def cell(self) -> str: ...

    @property
    def test(self) -> str: ...


ItemT = TypeVar("ItemT", bound=_Item)


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard INDEX (1-based) of COUNT."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        found = _SHARD_RE.fullmatch(text.strip())
        if found is None or not 1 <= int(found.group(1)) <= int(found.group(2)):
            raise UsageError(f"--shard: expected I/N with 1 <= I <= N, like 1/2; got {text!r}")
        return cls(int(found.group(1)), int(found.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_unit(test: str) -> str:
    """What runs together: ``glibc/elf`` for ``glibc/elf/`` and ``glibc/elf/tst-x``,
    ``farm/dlmopen`` for ``farm/dlmopen/newlm-isolation``."""
    kind, _, rest = test.partition("/")
    return f"{kind}/{rest.split('/', 1)[0]}"


def select(items: Sequence[ItemT], shard: Shard) -> list[ItemT]:
    """The items of ITEMS in SHARD, in their order."""
    units: dict[str, set[str]] = {}
    for item in items:
        units.setdefault(item.cell, set()).add(shard_unit(item.test))
    owner = {
        (cell, unit): 1 + position % shard.count
        for cell, cell_units in units.items()
        for position, unit in enumerate(sorted(cell_units))
    }
    return [item for item in items if owner[(item.cell, shard_unit(item.test))] == shard.index]
