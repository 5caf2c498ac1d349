"""farm.plan.matrix's GitHub jobs: a scenario without ``tests.shards`` lays out exactly what it did
before shards (one job per cell, named by its id); with ``tests.shards: N`` each cell gets one
build job and N shard jobs whose ids, artifacts and ``--shard`` the workflow and the gate's
loop rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from farm import ids
from farm.cli import main
from farm.errors import UsageError
from farm.plan import matrix
from farm.plan.matrix import Cell, MatrixJobs, github_jobs, github_matrix
from farm.plan.scenario import Arch, load_scenario
from farm.plan.shard import Shard

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "scenarios" / "debian-2.36-backports.yaml"


def sharded_copy(tmp_path: Path, shards: int) -> Path:
    """The default scenario (it has no relative paths) with ``tests.shards``."""
    text = DEFAULT.read_text()
    assert "\ntests:\n" in text
    path = tmp_path / DEFAULT.name
    path.write_text(text.replace("\ntests:\n", f"\ntests:\n  shards: {shards}\n", 1))
    return path


@pytest.fixture
def sharded(tmp_path: Path) -> tuple[Cell, ...]:
    return matrix.cells([load_scenario(sharded_copy(tmp_path, 2))])


def rows(cells: tuple[Cell, ...], jobs: MatrixJobs) -> list[dict[str, object]]:
    data = json.loads(github_matrix(cells, jobs))
    assert set(data) == {"include"}
    included: list[dict[str, object]] = data["include"]
    return included


def test_without_shards_the_matrix_is_what_it_was_before_shards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)  # the workflow names scenarios relative to the checkout
    cells = matrix.cells([load_scenario(DEFAULT.relative_to(REPO))])
    # Byte for byte the first row as the workflow has always read it.
    assert github_matrix(cells).startswith(
        '{"include": [{"arch": "x86_64", "id": "debian-2.36-backports-x86_64-baseline", '
        '"scenario": "scenarios/debian-2.36-backports.yaml", "scenario_name": '
        '"debian-2.36-backports", "toolchain": "bookworm", "variant": "baseline"}, '
    )
    assert github_matrix(cells) == github_matrix(cells, MatrixJobs.CELLS)
    assert rows(cells, MatrixJobs.BUILDS) == rows(cells, MatrixJobs.SHARDS) == []
    assert [r["id"] for r in rows(cells, MatrixJobs.TESTS)] == [c.id for c in cells]


def test_a_sharded_cell_is_one_build_job_and_n_shard_jobs(sharded: tuple[Cell, ...]) -> None:
    assert rows(sharded, MatrixJobs.CELLS) == []
    builds = rows(sharded, MatrixJobs.BUILDS)
    assert [(b["id"], b["cell"], b["shards"]) for b in builds] == [
        (ids.build_job_id(c.id), c.id, 2) for c in sharded
    ]
    shards = rows(sharded, MatrixJobs.SHARDS)
    assert [(s["id"], s["cell"], s["shard"], s["build"]) for s in shards] == [
        (ids.shard_job_id(c.id, i, 2), c.id, f"{i}/2", ids.build_job_id(c.id))
        for c in sharded
        for i in (1, 2)
    ]
    for row in builds + shards:
        # What a job passes to --only selects its one cell, on its arch and variant.
        (chosen,) = matrix.select(sharded, [str(row["cell"])])
        assert (chosen.arch.value, chosen.variant, chosen.toolchain.name) == (
            row["arch"], row["variant"], row["toolchain"],
        )  # fmt: skip
        assert row["scenario_name"] == chosen.scenario
    assert {str(Shard.parse(str(s["shard"]))) for s in shards} == {"1/2", "2/2"}
    # The gate's list: every job that leaves test results, each naming its build job.
    assert rows(sharded, MatrixJobs.TESTS) == shards


def test_sharded_and_unsharded_scenarios_share_one_plan(
    sharded: tuple[Cell, ...], tmp_path: Path
) -> None:
    plain = matrix.cells([load_scenario(REPO / "scenarios" / "rseq.yaml")])
    both = (*plain, *sharded)
    assert [r["id"] for r in rows(both, MatrixJobs.CELLS)] == [c.id for c in plain]
    assert len(rows(both, MatrixJobs.SHARDS)) == 2 * len(sharded)
    tests = rows(both, MatrixJobs.TESTS)
    assert tests == rows(both, MatrixJobs.CELLS) + rows(both, MatrixJobs.SHARDS)
    jobs = [r["id"] for kind in MatrixJobs for r in rows(both, kind) if kind != MatrixJobs.TESTS]
    assert len(jobs) == len(set(jobs))


def test_a_job_id_two_cells_would_share_is_refused() -> None:
    path = REPO / "scenarios" / "x.yaml"
    fix = Cell("s", path, Arch.X86_64, "fix", shards=2)  # its build job: s-x86_64-fix-build
    clash = Cell("s", path, Arch.X86_64, "fix-build")
    with pytest.raises(UsageError, match="'s-x86_64-fix-build' would name a job of cell"):
        github_jobs((fix, clash), MatrixJobs.CELLS)


def test_more_shard_jobs_than_github_allows_are_refused_saying_so() -> None:
    path = REPO / "scenarios" / "x.yaml"
    many = tuple(Cell("s", path, Arch.X86_64, f"v{n}", shards=2) for n in range(129))
    assert len(rows(many, MatrixJobs.BUILDS)) == 129
    with pytest.raises(UsageError, match=r"258 jobs \(258 of them shards.*lower tests.shards"):
        github_matrix(many, MatrixJobs.SHARDS)


def test_the_table_has_a_shards_column_only_when_a_cell_is_sharded(
    sharded: tuple[Cell, ...],
) -> None:
    assert matrix.table(sharded).splitlines()[0].split() == [
        "cell", "scenario", "arch", "variant", "shards",
    ]  # fmt: skip
    assert matrix.table(sharded).splitlines()[2].split()[-1] == "2"
    plain = matrix.cells([load_scenario(DEFAULT)])
    assert "shards" not in matrix.table(plain)


def test_jobs_without_the_github_format_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", str(DEFAULT), "--jobs", "shards"]) == 2
    assert "--jobs shards lays out GitHub jobs; add --format github" in capsys.readouterr().err
    assert main(["matrix", str(DEFAULT), "--format", "github", "--jobs", "builds"]) == 0
    assert json.loads(capsys.readouterr().out) == {"include": []}
