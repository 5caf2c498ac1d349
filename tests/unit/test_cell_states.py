"""A build's cells as the judge records them: the build hands each cell's images over
(`pipeline.cell_images`), and the judge reads them there, asking neither the image plan nor
the pipeline again."""

from __future__ import annotations

from pathlib import Path

import pytest

from farm import ids
from farm.errors import BuildError
from farm.inputs.series import Patch
from farm.inputs.sources import Blob, GlibcTree, sha256_bytes
from farm.judging import gate, verdict
from farm.plan import matrix
from farm.plan.render import ImagePlan, render_plan
from farm.plan.scenario import PatchFormat, Scenario, load_scenario
from farm.run import pipeline
from farm.run.build import ImageState, ImageStatus, PreparedScenario
from tests.unit.test_render import DIFF


@pytest.fixture
def scenario(scenario_path: Path) -> Scenario:
    """The two-series scenario of ``scenario_path`` (conftest), selecting the rseq cases too."""
    text = scenario_path.read_text().replace("tests:\n", "tests:\n  cases: [rseq]\n", 1)
    scenario_path.write_text(text)
    return load_scenario(scenario_path)


def prepared_without_two(scenario: Scenario, tmp_path: Path) -> PreparedScenario:
    """The scenario prepared with series ``one`` fetched and ``two`` not (so neither its
    variant nor ``stacked`` has images)."""
    tarball = tmp_path / "glibc.tar.xz"
    tarball.write_bytes(b"not really a tarball")
    glibc = GlibcTree(Blob("glibc-2.36.tar.xz", sha256_bytes(b"x"), tarball), prepare=())
    patches = {"one": (Patch(1, "elf: one", PatchFormat.DIFF, DIFF),)}
    decisions = scenario.image_decisions()
    plan = render_plan(decisions, glibc, patches)
    failures = {"two": "demo.yaml:9: series 'two': not found"}
    return PreparedScenario(plan, decisions, glibc.sha256, patches, failures)


def statuses_of(plan: ImagePlan) -> dict[str, ImageStatus]:
    """x86_64: everything built but series one's build image, whose patch 1 did not apply
    (its test image blocked). i686: the baseline's test image never built (no status)."""
    refused = BuildError(
        "patch 1 does not apply\nhunk #1 FAILED", phase=ids.BuildPhase.PATCH_APPLY,
        patch_number=1, patch_subject="elf: one", reject="@@ -1 +1 @@",
    )  # fmt: skip
    statuses: dict[str, ImageStatus] = {}
    for number, image in enumerate(plan.images, start=1):
        if image.name == "test-i686-baseline":
            continue
        if image.name == "build-x86_64-one":
            statuses[image.name] = ImageStatus(
                image.name, image.tag, ImageState.FAILED, error=refused
            )
        elif image.name == "test-x86_64-one":
            statuses[image.name] = ImageStatus(
                image.name, image.tag, ImageState.BLOCKED, error=refused
            )
        else:
            statuses[image.name] = ImageStatus(
                image.name, image.tag, ImageState.BUILT, image_id=f"sha256:{number:064x}"
            )
    return statuses


def built_without_two(scenario: Scenario, tmp_path: Path) -> pipeline.BuiltCells:
    """Every cell of ``scenario`` as built from `prepared_without_two` with `statuses_of`."""
    prepared = prepared_without_two(scenario, tmp_path)
    statuses = statuses_of(prepared.plan)
    cells = matrix.cells([scenario])
    images = pipeline.cell_images(cells, prepared, statuses)
    return pipeline.BuiltCells(scenario, cells, prepared, statuses, "stand-in", images)


def test_the_build_hands_over_each_fetched_cells_images_from_its_plan(
    scenario: Scenario, tmp_path: Path
) -> None:
    prepared = prepared_without_two(scenario, tmp_path)
    plan = prepared.plan
    statuses = statuses_of(plan)
    cells = matrix.cells([scenario])
    images = pipeline.cell_images(cells, prepared, statuses)
    # Series two did not fetch: its cells and the stacked ones have no images.
    fetched = sorted(c.id for c in cells if c.variant in (ids.BASELINE, "one"))
    assert sorted(images) == fetched, sorted(images)
    for cell in cells:
        if cell.id not in images:
            continue
        handed = images[cell.id]
        test_image = pipeline.test_image_name(cell)
        assert handed.series_sha256 == plan.build_image(cell.arch, cell.variant).series_sha256
        assert handed.chain == tuple(
            statuses[i.name] for i in plan.ancestry(test_image) if i.name in statuses
        )
        assert handed.test_image == statuses.get(test_image)
    one = images["demo-x86_64-one"]
    assert one.series_sha256 and one.chain[-1].state is ImageState.BLOCKED
    assert images["demo-i686-baseline"].test_image is None


def test_the_judge_records_each_cell_from_the_images_handed_to_it(
    scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = built_without_two(scenario, tmp_path)
    statuses, images = built.statuses, built.images

    def asked(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the judge asked the image plan or the pipeline again")

    for name in ("by_name", "build_image", "test_image", "ancestry"):
        monkeypatch.setattr(ImagePlan, name, asked)
    monkeypatch.setattr(pipeline, "test_image_name", asked)
    recorded = {status.cell: status for status in verdict.cell_statuses(built)}

    assert {cell: status.state for cell, status in recorded.items()} == {
        "demo-x86_64-baseline": gate.CellState.BUILT,
        "demo-x86_64-one": gate.CellState.PATCH_FAILED,
        "demo-x86_64-two": gate.CellState.SOURCE_FAILED,
        "demo-x86_64-stacked": gate.CellState.SOURCE_FAILED,
        "demo-i686-baseline": gate.CellState.NOT_RUN,
        "demo-i686-one": gate.CellState.BUILT,
        "demo-i686-two": gate.CellState.SOURCE_FAILED,
        "demo-i686-stacked": gate.CellState.SOURCE_FAILED,
    }
    built_one = recorded["demo-i686-one"]
    test_image = statuses["test-i686-one"]
    assert (built_one.image_tag, built_one.image_id) == (test_image.tag, test_image.image_id)
    assert built_one.series_sha256 == images["demo-i686-one"].series_sha256 != ""
    failed = recorded["demo-x86_64-one"]
    assert failed.message == "patch 1 does not apply"
    assert failed.failed_patch == gate.FailedPatch(1, "elf: one", "@@ -1 +1 @@")
    assert failed.series_sha256 == images["demo-x86_64-one"].series_sha256
    assert recorded["demo-x86_64-two"].message == "demo.yaml:9: series 'two': not found"
    assert recorded["demo-i686-baseline"].image_tag == ""


def test_the_test_items_take_the_cases_the_scenario_selected(
    scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from farm import cases

    built = built_without_two(scenario, tmp_path)

    def loaded_again(*_args: object) -> tuple[cases.Case, ...]:
        raise AssertionError("the test items loaded the case library again")

    monkeypatch.setattr(cases, "load_cases", loaded_again)
    probes = {"demo-i686-one": pipeline.CellProbe("demo-i686-one", {}, ("elf/tst-dlmopen1",))}
    items = pipeline.test_items(built, probes)
    assert [item.test for item in items] == [
        *(ids.farm_test_id(case.id) for case in scenario.tests.selected_cases),
        "glibc/elf/tst-dlmopen1",
    ]
    assert {case.family for case in scenario.tests.selected_cases} == {"rseq"}
