"""Rendering: tags are a pure function of the inputs, patched builds stack on the baseline,
and a change to one series' bytes re-tags that variant only."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farm.errors import ScenarioError
from farm.matrix import cells, github_matrix
from farm.render import ImagePlan, render_plan, write_plan
from farm.scenario import Arch, PatchFormat, load_scenario
from farm.series import Patch
from farm.sources import Blob, GlibcTree, sha256_bytes

REPO = Path(__file__).resolve().parents[2]
DIFF = b"--- a/elf/dl-load.c\n+++ b/elf/dl-load.c\n@@ -1 +1 @@\n-old\n+new\n"


@pytest.fixture
def scenario_path(tmp_path: Path) -> Path:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "series").write_text("a.patch\n")
    path = tmp_path / "demo.yaml"
    path.write_text(
        "name: demo\n"
        "glibc:\n  version: '2.36'\n  source:\n    tarball:\n"
        "      url: https://ftp.gnu.org/gnu/glibc/glibc-2.36.tar.xz\n"
        f"      sha256: {'b' * 64}\n  configure: [--disable-werror]\n"
        "arches: [x86_64, i686]\n"
        "series:\n  - name: one\n    quilt: one\n  - name: two\n    quilt: two\n"
        "stacked: true\n"
        "tests:\n  glibc: [elf/tst-dlmopen*]\n"
    )
    return path


def plan_for(
    scenario_path: Path, tmp_path: Path, one: bytes = DIFF, two: bytes = DIFF
) -> ImagePlan:
    tarball = tmp_path / "glibc.tar.xz"
    tarball.write_bytes(b"not really a tarball")
    glibc = GlibcTree(Blob("glibc-2.36.tar.xz", sha256_bytes(b"x"), tarball), prepare=())
    patches = {
        "one": (Patch(1, "elf: one", PatchFormat.DIFF, one),),
        "two": (Patch(1, "elf: two", PatchFormat.DIFF, two),),
    }
    return render_plan(load_scenario(scenario_path), glibc, patches)


def tags(plan: ImagePlan) -> dict[str, str]:
    return {image.name: image.tag for image in plan.images}


def test_plan_has_every_image_of_the_graph(scenario_path: Path, tmp_path: Path) -> None:
    plan = plan_for(scenario_path, tmp_path)
    assert [image.name for image in plan.images] == [
        "toolchain", "source",
        "build-x86_64-baseline", "test-x86_64-baseline",
        "build-x86_64-one", "test-x86_64-one", "build-x86_64-two", "test-x86_64-two",
        "build-x86_64-stacked", "test-x86_64-stacked",
        "build-i686-baseline", "test-i686-baseline",
        "build-i686-one", "test-i686-one", "build-i686-two", "test-i686-two",
        "build-i686-stacked", "test-i686-stacked",
    ]  # fmt: skip


def test_patched_build_starts_from_the_baseline_of_its_arch(
    scenario_path: Path, tmp_path: Path
) -> None:
    plan = plan_for(scenario_path, tmp_path)
    for arch in Arch:
        baseline = plan.build_image(arch, "baseline")
        for variant in ("one", "two", "stacked"):
            patched = plan.build_image(arch, variant)
            assert patched.dockerfile.count(f"FROM {baseline.tag}\n") == 1
            assert patched.parent == baseline.name
            assert "configure" not in patched.dockerfile.split("FROM", 1)[1].split("LABEL")[0]
    stacked = plan.build_image(Arch.X86_64, "stacked")
    listing = next(f for f in stacked.context if f.dest == "series/list").read().decode()
    assert [line.split("\t")[4] for line in listing.splitlines()] == ["one", "two"]


def test_rendering_twice_gives_identical_files_and_tags(
    scenario_path: Path, tmp_path: Path
) -> None:
    first, second = plan_for(scenario_path, tmp_path), plan_for(scenario_path, tmp_path)
    assert tags(first) == tags(second)
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    write_plan(first, out_a)
    write_plan(second, out_b)
    files_a = {p.relative_to(out_a): p.read_bytes() for p in out_a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(out_b): p.read_bytes() for p in out_b.rglob("*") if p.is_file()}
    assert files_a == files_b
    assert (out_a / "build-i686-one" / "Dockerfile").is_file()


def test_one_byte_of_a_patch_retags_only_its_variants(scenario_path: Path, tmp_path: Path) -> None:
    before = tags(plan_for(scenario_path, tmp_path))
    after = tags(plan_for(scenario_path, tmp_path, one=DIFF.replace(b"+new", b"+nex")))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {
        f"{kind}-{arch}-{variant}"
        for kind in ("build", "test")
        for arch in ("x86_64", "i686")
        for variant in ("one", "stacked")
    }


def test_configure_flags_retag_builds_but_not_the_source(
    scenario_path: Path, tmp_path: Path
) -> None:
    before = tags(plan_for(scenario_path, tmp_path))
    scenario_path.write_text(
        scenario_path.read_text().replace("--disable-werror", "--enable-bind-now")
    )
    after = tags(plan_for(scenario_path, tmp_path))
    assert before["source"] == after["source"] and before["toolchain"] == after["toolchain"]
    assert before["build-x86_64-baseline"] != after["build-x86_64-baseline"]


def test_a_series_that_could_not_be_fetched_only_loses_its_variants(
    scenario_path: Path, tmp_path: Path
) -> None:
    full = plan_for(scenario_path, tmp_path)
    tarball = tmp_path / "glibc.tar.xz"
    glibc = GlibcTree(Blob("glibc-2.36.tar.xz", sha256_bytes(b"x"), tarball), prepare=())
    partial = render_plan(
        load_scenario(scenario_path),
        glibc,
        {"two": (Patch(1, "elf: two", PatchFormat.DIFF, DIFF),)},
    )
    names = {image.name for image in partial.images}
    assert "build-x86_64-one" not in names and "build-x86_64-stacked" not in names
    assert partial.build_image(Arch.X86_64, "two").tag == full.build_image(Arch.X86_64, "two").tag


def test_github_matrix_has_one_cell_per_scenario_arch_variant(scenario_path: Path) -> None:
    import json

    data = json.loads(github_matrix(cells([load_scenario(scenario_path)])))
    ids = [cell["id"] for cell in data["include"]]
    assert len(ids) == len(set(ids)) == 2 * 4
    assert "demo-i686-stacked" in ids
    assert dataclasses.is_dataclass(cells([load_scenario(scenario_path)])[0])


def test_only_the_toolchain_image_is_built_with_a_network(
    scenario_path: Path, tmp_path: Path
) -> None:
    plan = plan_for(scenario_path, tmp_path)
    assert [image.name for image in plan.images if image.needs_network] == ["toolchain"]
    # The toolchain is the only image that installs packages.
    assert [image.name for image in plan.images if "apt-get" in image.dockerfile] == ["toolchain"]


# --- no scenario value adds a line to a Dockerfile --------------------------------------

#: Text with a bias to what splits lines for Docker or a reader: \n, \r, NEL, U+2028...
HOSTILE_TEXT = st.text(
    alphabet=st.sampled_from("ab-=/ '\"$;`\\\n\r\t\x0b\x0c\x1c\x85\u2028\u2029\x1b\x00")
    | st.characters(),
    max_size=40,
)


def _line_shape(plan: ImagePlan) -> dict[str, list[str]]:
    """Per image, the first word of every line, by both ways of splitting lines."""
    return {
        image.name: [line.split(" ", 1)[0] for line in image.dockerfile.split("\n")]
        + [str(len(image.dockerfile.splitlines()))]
        for image in plan.images
    }


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(flag=HOSTILE_TEXT, tarball=HOSTILE_TEXT, version=HOSTILE_TEXT)
def test_no_value_adds_a_line_to_a_rendered_dockerfile(
    scenario_path: Path, tmp_path: Path, flag: str, tarball: str, version: str
) -> None:
    """Values that bypass the loader (a Scenario built in code, a fetched file name): the
    renderer refuses them or renders exactly the lines it renders for harmless ones."""
    reference = _line_shape(plan_for(scenario_path, tmp_path))
    scenario = load_scenario(scenario_path)
    hostile = dataclasses.replace(
        scenario, configure=("--disable-werror", f"--with-x={flag}"), glibc_version=f"2.{version}"
    )
    blob = Blob(f"glibc{tarball}.tar.xz", sha256_bytes(b"x"), tmp_path / "glibc.tar.xz")
    try:
        plan = render_plan(hostile, GlibcTree(blob, prepare=()), {})
    except ScenarioError as error:
        assert str(error).startswith("image ")
        return
    shape = _line_shape(plan)
    assert {name: shape[name] for name in shape} == {name: reference[name] for name in shape}


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(flag=HOSTILE_TEXT)
def test_no_scenario_file_adds_a_line_to_a_rendered_dockerfile(
    scenario_path: Path, tmp_path: Path, flag: str
) -> None:
    """Through the loader: a configure flag as the user wrote it in YAML."""
    reference = _line_shape(plan_for(scenario_path, tmp_path))
    document = yaml.safe_load(scenario_path.read_text())
    document["glibc"]["configure"] = ["--disable-werror", f"--with-x={flag}"]
    hostile_path = scenario_path.with_name("hostile.yaml")
    hostile_path.write_text(yaml.safe_dump(document, allow_unicode=True))
    try:
        plan = plan_for(hostile_path, tmp_path)
    except ScenarioError as error:
        assert str(error).startswith(f"{hostile_path}:")
        return
    assert _line_shape(plan) == reference


def test_a_patch_subject_stays_one_printable_field_of_the_list() -> None:
    from farm.render import patch_list

    hostile = "elf: x\tTAB\rCR\nNL\x1b[2K\x85\u2028end"
    files = patch_list((("one", Patch(1, hostile, PatchFormat.MAIL, b"x")),), "series")
    listing = next(f for f in files if f.dest == "series/list").read().decode()
    assert listing.count("\n") == 1 and len(listing.splitlines()) == 1
    fields = listing.rstrip("\n").split("\t")
    assert len(fields) == 6 and fields[-1].isprintable()
