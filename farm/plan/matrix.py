"""The matrix: scenario x toolchain x arch x variant cells, with one stable id each.

The same id names a cell everywhere: ``farm matrix`` rows, ``--only`` filters, pytest item
ids, run-directory file names and GitHub Actions job names, so a failing CI job can be
rerun locally with exactly its id.

A scenario with ``tests.shards: N`` spreads each cell's tests over N GitHub jobs: one build
job per cell (``<cell>-build``) makes its images once, and N shard jobs
(``<cell>-shard-1ofN``...) load them and run ``--shard I/N``; ``github_matrix`` lays out
those jobs. With N = 1 (the default) a cell is one job named by its id, as before shards.

The toolchain is part of a cell's id only when its scenario has more than one
(``demo-bullseye-x86_64-baseline``); with one, ids are what they were before toolchains
were an axis. Results, the gate and the reports know a cell by its ``scenario_label`` (the
scenario name, qualified by the toolchain when there is an axis), arch and variant, so each
toolchain's series are judged against the baseline built with the same toolchain.
"""

from __future__ import annotations

import enum
import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from farm import ids
from farm.errors import UsageError
from farm.plan.scenario import Arch, Scenario
from farm.plan.shard import Shard
from farm.plan.toolchain import Toolchain, default_toolchain

#: GitHub Actions refuses a matrix with more jobs than this.
GITHUB_MATRIX_LIMIT = 256


@dataclass(frozen=True, slots=True)
class Cell:
    scenario: str
    scenario_path: Path
    arch: Arch
    variant: str
    toolchain: Toolchain = field(default_factory=default_toolchain)
    toolchain_axis: bool = False  # the scenario builds with more than one toolchain
    shards: int = 1  # CI jobs sharing this cell's tests (its scenario's tests.shards)

    @property
    def toolchain_label(self) -> str:
        """The toolchain as ids name it: its name when the scenario has several, else ""."""
        return self.toolchain.name if self.toolchain_axis else ""

    @property
    def scenario_label(self) -> str:
        """The scenario as results, the gate and reports name this cell's column."""
        return ids.scenario_label(self.scenario, self.toolchain_label)

    @property
    def id(self) -> str:
        return ids.cell_id(self.scenario_label, self.arch.value, self.variant)


def cells(scenarios: Iterable[Scenario]) -> tuple[Cell, ...]:
    result: list[Cell] = []
    seen: dict[str, Path] = {}
    #: Ids are joined with '-', which names may contain too: scenario 'a-x86_64' with
    #: arch x86_64 and scenario 'a' with a series 'x86_64-baseline' would share a cell id,
    #: and so its images, results and CI job.
    by_id: dict[str, Cell] = {}
    for scenario in scenarios:
        if scenario.name in seen:
            raise UsageError(
                f"{scenario.path}: scenario name {scenario.name!r} is also used by "
                f"{seen[scenario.name]}; names must be unique"
            )
        seen[scenario.name] = scenario.path
        axis = scenario.has_toolchain_axis
        for entry in scenario.build_toolchains:
            for arch in scenario.arches:
                for variant in scenario.variants:
                    cell = Cell(
                        scenario.name, scenario.path, arch, variant, entry.toolchain, axis,
                        scenario.shards,
                    )  # fmt: skip
                    if (other := by_id.get(cell.id)) is not None:
                        raise UsageError(
                            f"{scenario.path} and {other.scenario_path} both make the cell "
                            f"{cell.id!r} (scenario {cell.scenario!r}, {arch.value}, variant "
                            f"{variant!r}; and scenario {other.scenario!r}, "
                            f"{other.arch.value}, variant {other.variant!r}); rename a "
                            "scenario or a series"
                        )
                    by_id[cell.id] = cell
                    result.append(cell)
    return tuple(result)


def select(all_cells: tuple[Cell, ...], only: Iterable[str]) -> tuple[Cell, ...]:
    """Cells whose id matches any ``--only`` glob; a glob matching nothing is an error."""
    patterns = tuple(only)
    if not patterns:
        return all_cells
    chosen = [c for c in all_cells if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)]
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(c.id, pattern) for c in all_cells):
            ids = ", ".join(c.id for c in all_cells)
            raise UsageError(f"--only {pattern!r} matches no cell; the cells are: {ids}")
    return tuple(chosen)


class MatrixJobs(enum.StrEnum):
    """Which GitHub jobs ``farm matrix --format github --jobs`` lays out.

    A GitHub job has one matrix, so the workflow asks for each job's list: ``cells`` (one
    job per unsharded cell, which builds and tests it), ``builds`` (one per sharded cell:
    build its images once), ``shards`` (one per shard of a sharded cell). ``tests`` is every
    job that leaves test results, cells and shards, plus for a shard the build job whose run
    directory also belongs to the gate; without shards it is exactly ``cells``.
    """

    TESTS = "tests"
    CELLS = "cells"
    BUILDS = "builds"
    SHARDS = "shards"


def _row(cell: Cell) -> dict[str, str]:
    return {
        "id": cell.id,
        "scenario": str(cell.scenario_path),
        "scenario_name": cell.scenario,
        "arch": cell.arch.value,
        "variant": cell.variant,
        "toolchain": cell.toolchain.name,
    }


def _build_row(cell: Cell) -> dict[str, str | int]:
    """The job that builds a sharded cell: its run directory goes to the gate, its images
    (artifact ``images-<cell>``) to the cell's shard jobs."""
    return {**_row(cell), "id": ids.build_job_id(cell.id), "cell": cell.id, "shards": cell.shards}


def _shard_rows(cell: Cell) -> list[dict[str, str]]:
    """One job per shard: ``farm run --only <cell> --shard <shard> --no-gate --no-build``."""
    return [
        {
            **_row(cell),
            "id": ids.shard_job_id(cell.id, index, cell.shards),
            "cell": cell.id,
            "shard": str(Shard(index, cell.shards)),
            "build": ids.build_job_id(cell.id),
        }
        for index in range(1, cell.shards + 1)
    ]


def github_jobs(all_cells: tuple[Cell, ...], jobs: MatrixJobs) -> list[dict[str, str | int]]:
    """The rows of one job list; see `MatrixJobs`. Every job id of the whole plan is unique
    (a cell id may end like another cell's shard or build job), or this refuses."""
    plain = [c for c in all_cells if c.shards == 1]
    sharded = [c for c in all_cells if c.shards > 1]
    cell_rows: list[dict[str, str | int]] = [dict(_row(c)) for c in plain]
    build_rows = [_build_row(c) for c in sharded]
    shard_rows: list[dict[str, str | int]] = [dict(r) for c in sharded for r in _shard_rows(c)]
    owner: dict[str, str] = {}
    for row in cell_rows + build_rows + shard_rows:
        job, cell = str(row["id"]), str(row.get("cell", row["id"]))
        if job in owner:
            raise UsageError(
                f"the GitHub job id {job!r} would name a job of cell {owner[job]!r} and one of "
                f"cell {cell!r}; rename a scenario or a series"
            )
        owner[job] = cell
    if jobs is MatrixJobs.CELLS:
        return cell_rows
    if jobs is MatrixJobs.BUILDS:
        return list(build_rows)
    if jobs is MatrixJobs.SHARDS:
        return shard_rows
    # In the order of the cells, each cell's shards where the cell would be.
    by_cell: dict[str, list[dict[str, str | int]]] = {
        c.id: [dict(_row(c))] if c.shards == 1 else [] for c in all_cells
    }
    for row in shard_rows:
        by_cell[str(row["cell"])].append(row)
    return [row for rows in by_cell.values() for row in rows]


def github_matrix(all_cells: tuple[Cell, ...], jobs: MatrixJobs = MatrixJobs.TESTS) -> str:
    """JSON for ``strategy.matrix: ${{ fromJSON(...) }}``: ``{"include": [...]}``.

    Past GitHub's 256-job limit this refuses rather than let GitHub reject the workflow:
    split the scenarios over several workflow runs, or select cells with ``--only``.
    """
    include = github_jobs(all_cells, jobs)
    if len(include) > GITHUB_MATRIX_LIMIT:
        shards = sum(1 for row in include if "shard" in row)
        split = f" ({shards} of them shards of cells)" if shards else ""
        raise UsageError(
            f"the {jobs.value} matrix has {len(include)} jobs{split}, more than the "
            f"{GITHUB_MATRIX_LIMIT} GitHub Actions allows in one matrix; run fewer scenarios "
            "per workflow, use --only" + (", or lower tests.shards" if shards else "")
        )
    return json.dumps({"include": include}, sort_keys=True)


def table(all_cells: tuple[Cell, ...]) -> str:
    """The matrix for people: one row per cell; a toolchain column when there is an axis."""
    rows: list[tuple[str, ...]]
    if any(c.toolchain_axis for c in all_cells):
        rows = [("cell", "scenario", "toolchain", "arch", "variant")]
        rows += [(c.id, c.scenario, c.toolchain.name, c.arch.value, c.variant) for c in all_cells]
    else:
        rows = [("cell", "scenario", "arch", "variant")]
        rows += [(c.id, c.scenario, c.arch.value, c.variant) for c in all_cells]
    if any(c.shards > 1 for c in all_cells):  # a column only where it says something
        shards = [str(c.shards) for c in all_cells]
        rows = [(*rows[0], "shards"), *((*r, n) for r, n in zip(rows[1:], shards, strict=True))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
