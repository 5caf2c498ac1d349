"""Splitting one run's test items over N CI jobs (``--shard I/N``), stably.

Whole glibc subdirectories take minutes each, so one cell's testsuite is worth spreading
over several jobs that reuse the same built image; ``farm gate`` then merges their run
directories as it merges cells. The unit of assignment is what runs together: a glibc
subdirectory (its ``make check`` item and any single tests picked from it) or a family of
the farm's cases. Within each cell, those units are sorted and dealt out round-robin, so
every job of one run, given the same scenario and image, computes the same split without
talking to the others, each item lands in exactly one shard, and the shards are balanced
by unit count.

A shard job's run directory says which shard it holds (`ShardRecord`: index, total, and the
image id and series hash of each cell it tested), so the gate can tell a missing shard from
a cell with fewer tests, and shards of one build from a mixture of two (`problems`): a cell
whose shards are not all there, or not all of one build, is UNDECIDED, never accepted on
the part that is.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
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


@dataclass(frozen=True, slots=True)
class ShardedCell:
    """One cell a shard job tested, and the build it tested: what must agree across shards."""

    cell: str
    image_id: str
    series_sha256: str


@dataclass(frozen=True, slots=True)
class ShardRecord:
    """What a shard job's run directory says about itself (``shard.json``)."""

    index: int
    total: int
    cells: tuple[ShardedCell, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.total:
            raise ValueError(f"shard {self.index}/{self.total}: expected 1 <= index <= total")


@dataclass(frozen=True, slots=True)
class Build:
    """One claim of which build of a cell a directory holds: a shard's, or a cell status's."""

    cell: str
    image_id: str
    series_sha256: str
    where: str


def problems(
    shards: Iterable[tuple[str, ShardRecord]],
    builds: Iterable[Build],
    expected: Mapping[str, int],
) -> list[tuple[str, str]]:
    """``(cell, problem)`` for each cell whose shards are incomplete or disagree on their
    number, and each cell held as two builds (other image id or series hash).

    ``shards`` are (where, record) pairs, one per shard directory; ``expected`` the number
    of shards each cell of the scenario is split into (1: unsharded, so any shard record of
    it is a stray from another configuration).
    """
    found: list[tuple[str, str]] = []
    held: dict[str, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    where_of: dict[tuple[str, int, int], list[str]] = defaultdict(list)
    claims = list(builds)
    for where, record in shards:
        for tested in record.cells:
            held[tested.cell][record.total].add(record.index)
            where_of[(tested.cell, record.index, record.total)].append(where)
            claims.append(Build(tested.cell, tested.image_id, tested.series_sha256, where))
    for cell, by_total in sorted(held.items()):
        want = expected.get(cell)
        totals = sorted(by_total)
        if len(totals) > 1 or (want is not None and totals != [want]):
            seen = ", ".join(
                f"{index}/{total} ({where_of[(cell, index, total)][0]})"
                for total in totals
                for index in sorted(by_total[total])
            )
            said = f"; the scenario splits it into {want}" if want is not None else ""
            found.append((cell, f"shards of {cell} disagree on how many there are: {seen}{said}"))
            continue
        (total,) = totals
        missing = [index for index in range(1, total + 1) if index not in by_total[total]]
        if missing:
            names = ", ".join(f"{index}/{total}" for index in missing)
            found.append(
                (
                    cell,
                    f"shard {names} of {cell} is missing: no run directory holds it (its job "
                    "failed or its artifact was lost?); gate every shard of the cell",
                )
            )
    by_cell: dict[str, dict[tuple[str, str], list[str]]] = defaultdict(lambda: defaultdict(list))
    for claim in claims:
        if claim.image_id:
            by_cell[claim.cell][(claim.image_id, claim.series_sha256)].append(claim.where)
    for cell, identities in sorted(by_cell.items()):
        if len(identities) > 1:
            listed = "; ".join(
                f"image {image} series {series[:12] or '(none)'} in {', '.join(sorted(set(w)))}"
                for (image, series), w in sorted(identities.items())
            )
            found.append(
                (
                    cell,
                    f"run directories hold {len(identities)} different builds of {cell}: "
                    f"{listed}; gate the directories of one build",
                )
            )
    return found
