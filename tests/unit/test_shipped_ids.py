"""The ids every shipped scenario makes stay byte-identical across refactors.

Cell ids name run-directory files, CI jobs and artifacts; image tags name the images every
farm on a machine shares, and a flaky history remembers both. A refactor of how ids, tags and
Dockerfiles are made (issue #20 moved their spelling into `farm.ids` and the engine below
render) must not change one byte of them, or old run directories lose their meaning and every
machine rebuilds glibc. So this compares them, for every scenario in ``scenarios/``, with
``golden/shipped_ids.json``, captured on main before the refactor and reviewed.

Tags are a hash of the inputs, and the online scenarios' inputs cannot be fetched here; so
each scenario is rendered with fixed stand-in inputs (a tarball record and two patches per
series, made from the names alone). That still covers everything the farm itself decides:
image names, the graph, every template and script, the case library and the tag function.

A change that is *meant* to re-tag images (a template, a case, a script) regenerates the file
with ``python -m tests.unit.test_shipped_ids`` and shows the diff in review.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from farm.inputs.series import Patch
from farm.inputs.sources import Blob, GlibcTree, sha256_bytes
from farm.plan import matrix
from farm.plan.render import prefix_plan, render_plan
from farm.plan.scenario import PatchFormat, Scenario, load_scenario

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden" / "shipped_ids.json"


def _stand_in_inputs(scenario: Scenario) -> tuple[GlibcTree, dict[str, tuple[Patch, ...]]]:
    """Fixed inputs made from names alone: equal names give equal tags, on any machine."""
    name = f"glibc-{scenario.glibc_version}.tar.xz"
    tarball = Blob(name, sha256_bytes(name.encode()), Path("/nonexistent") / name)
    prepare = (Patch(1, "prepare", PatchFormat.DIFF, b"--- a/x\n+++ b/x\n"),)
    patches = {
        series.name: tuple(
            Patch(n, f"{series.name}: {n}", PatchFormat.DIFF, f"{series.name} {n}\n".encode())
            for n in (1, 2)
        )
        for series in scenario.series
    }
    return GlibcTree(tarball, prepare), patches


def shipped_ids() -> dict[str, object]:
    """Per shipped scenario: its cell ids in matrix order and its images' name -> tag,
    with the images of the first bisection step of its first series."""
    found: dict[str, object] = {}
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        scenario = load_scenario(path)
        glibc, patches = _stand_in_inputs(scenario)
        plan = render_plan(scenario.image_decisions(), glibc, patches)
        images = {image.name: image.tag for image in plan.images}
        for entry in scenario.build_toolchains:
            for series in scenario.series[:1]:  # a bisection step's images, too
                step = prefix_plan(plan, entry.toolchain, scenario.arches[0], series.name, 1)
                images.update((image.name, image.tag) for image in step.images[-2:])
        found[path.name] = {
            "cells": [cell.id for cell in matrix.cells([scenario])],
            "images": images,
        }
    return found


def test_cell_ids_and_image_tags_of_every_shipped_scenario_are_unchanged() -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    found = shipped_ids()
    assert sorted(found) == sorted(expected), "a scenario was added or removed: regenerate"
    for scenario, ids in expected.items():
        assert found[scenario] == ids, f"{scenario}: its cell ids or image tags changed"


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(shipped_ids(), indent=1, sort_keys=True) + "\n")
    sys.exit(0)
