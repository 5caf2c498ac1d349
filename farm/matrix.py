"""The matrix: scenario x toolchain x arch x variant cells, with one stable id each.

The same id names a cell everywhere: ``farm matrix`` rows, ``--only`` filters, pytest item
ids, run-directory file names and GitHub Actions job names, so a failing CI job can be
rerun locally with exactly its id.

The toolchain is part of a cell's id only when its scenario has more than one
(``demo-bullseye-x86_64-baseline``); with one, ids are what they were before toolchains
were an axis. Results, the gate and the reports know a cell by its ``scenario_label`` (the
scenario name, qualified by the toolchain when there is an axis), arch and variant, so each
toolchain's series are judged against the baseline built with the same toolchain.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from farm import ids
from farm.errors import UsageError
from farm.scenario import Arch, Scenario
from farm.toolchain import Toolchain, default_toolchain

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
                    cell = Cell(scenario.name, scenario.path, arch, variant, entry.toolchain, axis)
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


def github_matrix(all_cells: tuple[Cell, ...]) -> str:
    """JSON for ``strategy.matrix: ${{ fromJSON(...) }}``: ``{"include": [...]}``.

    Past GitHub's 256-job limit this refuses rather than let GitHub reject the workflow:
    split the scenarios over several workflow runs, or select cells with ``--only``.
    """
    if len(all_cells) > GITHUB_MATRIX_LIMIT:
        raise UsageError(
            f"the matrix has {len(all_cells)} cells, more than the {GITHUB_MATRIX_LIMIT} jobs "
            "GitHub Actions allows in one matrix; run fewer scenarios per workflow or use --only"
        )
    include = [
        {
            "id": cell.id,
            "scenario": str(cell.scenario_path),
            "scenario_name": cell.scenario,
            "arch": cell.arch.value,
            "variant": cell.variant,
            "toolchain": cell.toolchain.name,
        }
        for cell in all_cells
    ]
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
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
