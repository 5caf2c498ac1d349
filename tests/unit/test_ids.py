"""The identities keep the exact spelling run directories and CI job names already use."""

from __future__ import annotations

from pathlib import Path

from farm import ids, results
from farm.outcome import Outcome
from farm.plan import matrix
from farm.plan.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]


def test_ids_are_byte_identical_to_what_earlier_runs_wrote() -> None:
    assert ids.cell_id("debian-2.36-backports", "i686", "git-updates") == (
        "debian-2.36-backports-i686-git-updates"
    )
    assert ids.test_image_name("x86_64", "baseline") == "test-x86_64-baseline"
    assert ids.image_name(ids.ImageKind.BUILD, "i686", "fix") == "build-i686-fix"
    assert ids.prefix_variant("fix", 3) == "fix.prefix3"
    assert ids.farm_test_id("rseq/static-executable") == "farm/rseq/static-executable"
    assert ids.glibc_test_id("misc/tst-rseq") == "glibc/misc/tst-rseq"
    assert ids.item_id("x86_64", "fix", "glibc/misc/tst-rseq") == "x86_64-fix-glibc/misc/tst-rseq"
    assert ids.BuildPhase.PATCH_APPLY == "patch-apply"


def test_a_sharded_cells_jobs_are_named_after_the_cell() -> None:
    cell = ids.cell_id("debian-2.36-backports", "x86_64", "baseline")
    assert ids.shard_job_id(cell, 1, 2) == "debian-2.36-backports-x86_64-baseline-shard-1of2"
    assert ids.build_job_id(cell) == "debian-2.36-backports-x86_64-baseline-build"


def test_a_cell_and_its_records_spell_the_same_id() -> None:
    scenario = load_scenario(REPO / "scenarios" / "debian-2.36-backports.yaml")
    for cell in matrix.cells([scenario]):
        record = results.TestResult(
            cell.scenario, cell.arch.value, cell.variant, "farm/x", Outcome.PASS
        )
        assert record.cell == cell.id == f"{cell.scenario}-{cell.arch.value}-{cell.variant}"
