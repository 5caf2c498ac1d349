"""Rendering: tags are a pure function of the inputs, patched builds stack on the baseline,
and a change to one series' bytes re-tags that variant only."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farm.errors import ScenarioError
from farm.inputs.series import Patch
from farm.inputs.sources import Blob, GlibcTree, sha256_bytes
from farm.plan.matrix import cells, github_matrix, select, table
from farm.plan.render import ImagePlan, render_plan, write_plan
from farm.plan.scenario import Arch, PatchFormat, load_scenario

REPO = Path(__file__).resolve().parents[2]
DIFF = b"--- a/elf/dl-load.c\n+++ b/elf/dl-load.c\n@@ -1 +1 @@\n-old\n+new\n"


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
    return render_plan(load_scenario(scenario_path).image_decisions(), glibc, patches)


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
        load_scenario(scenario_path).image_decisions(),
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
        plan = render_plan(hostile.image_decisions(), GlibcTree(blob, prepare=()), {})
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
    from farm.plan.render import patch_list

    hostile = "elf: x\tTAB\rCR\nNL\x1b[2K\x85\u2028end"
    files = patch_list((("one", Patch(1, hostile, PatchFormat.MAIL, b"x")),), "series")
    listing = next(f for f in files if f.dest == "series/list").read().decode()
    assert listing.count("\n") == 1 and len(listing.splitlines()) == 1
    fields = listing.rstrip("\n").split("\t")
    assert len(fields) == 6 and fields[-1].isprintable()


# --- toolchains -----------------------------------------------------------------------------

DEFAULT_SCENARIO = REPO / "scenarios" / "debian-2.36-backports.yaml"
#: The toolchain image every scenario on bookworm has used since toolchains became an axis
#: (it depends only on the template, the package list and the base image): changing it
#: rebuilds every glibc of every scenario, so it may change only on purpose.
BOOKWORM_TOOLCHAIN_TAG = "glibc-farm/toolchain:17e1d4fa369d927f"


def _with_toolchains(source: Path, target: Path, toolchains: str) -> Path:
    """``source`` (a scenario file) with a ``toolchains:`` line, written next to it."""
    text = source.read_text().replace("\narches:", f"\ntoolchains: {toolchains}\narches:", 1)
    assert "toolchains:" in text
    target.write_text(text)
    return target


def _default_plan(path: Path, tmp_path: Path) -> ImagePlan:
    tarball = tmp_path / "glibc_2.36.orig.tar.xz"
    tarball.write_bytes(b"not really a tarball")
    glibc = GlibcTree(Blob(tarball.name, sha256_bytes(b"2.36"), tarball), prepare=())
    patches = {"git-updates": (Patch(1, "git updates", PatchFormat.DIFF, DIFF),)}
    return render_plan(load_scenario(path).image_decisions(), glibc, patches)


def test_one_toolchain_keeps_the_default_scenarios_image_names_and_tags(tmp_path: Path) -> None:
    implicit = _default_plan(DEFAULT_SCENARIO, tmp_path)
    explicit = _default_plan(
        _with_toolchains(DEFAULT_SCENARIO, tmp_path / "one.yaml", "[bookworm]"), tmp_path
    )
    assert tags(explicit) == tags(implicit)
    assert tags(implicit)["toolchain"] == BOOKWORM_TOOLCHAIN_TAG
    assert tags(implicit)["build-x86_64-baseline"].startswith("glibc-farm/build:x86_64-baseline-")
    assert sorted(tags(implicit)) == sorted(
        ["toolchain", "source"]
        + [f"{k}-{a}-{v}" for k in ("build", "test") for a in ("x86_64", "i686")
           for v in ("baseline", "git-updates")]
    )  # fmt: skip


def test_a_second_toolchain_adds_its_own_images_and_shares_the_defaults(tmp_path: Path) -> None:
    default = tags(_default_plan(DEFAULT_SCENARIO, tmp_path))
    two = _default_plan(
        _with_toolchains(DEFAULT_SCENARIO, tmp_path / "two.yaml", "[bullseye, bookworm]"), tmp_path
    )
    bookworm = {i.name: i.tag for i in two.images if i.toolchain.name == "bookworm"}
    bullseye = {i.name: i.tag for i in two.images if i.toolchain.name == "bullseye"}
    assert bookworm == default
    assert sorted(bullseye) == sorted(f"{n.split('-', 1)[0]}-bullseye" + (
        f"-{n.split('-', 1)[1]}" if "-" in n else "") for n in default)  # fmt: skip
    assert bullseye["build-bullseye-x86_64-baseline"].startswith(
        "glibc-farm/build:bullseye-x86_64-baseline-"
    )
    assert not set(bullseye.values()) & set(default.values())
    toolchain = two.by_name("toolchain-bullseye")
    assert "FROM glibc-farm/base:bullseye\n" in toolchain.dockerfile
    build = two.build_image(Arch.I686, "git-updates", toolchain.toolchain)
    assert build.tag == bullseye["build-bullseye-i686-git-updates"]
    assert build.parent == "build-bullseye-i686-baseline"


def test_configure_variables_reach_configure_quoted_and_per_toolchain(tmp_path: Path) -> None:
    path = tmp_path / "vars.yaml"
    path.write_text(
        "name: vars\n"
        "glibc:\n  version: '2.36'\n  source:\n    tarball:\n"
        "      url: https://ftp.gnu.org/gnu/glibc/glibc-2.36.tar.xz\n"
        "  configure: [--disable-werror, --enable-stack-protector=strong]\n"
        '  configure_vars:\n    CFLAGS: "-O2 -g \'$(x)"\n'
        "toolchains:\n  - bullseye\n  - name: bookworm\n"
        "    configure_vars: {CXX: 'false'}\n    configure: [--enable-bind-now]\n"
        "arches: [x86_64, i686]\n"
        "tests:\n  glibc: [elf/tst-dlmopen1]\n"
    )
    plan = _default_plan(path, tmp_path)
    run_lines = {
        image.name: next(
            line
            for line in image.dockerfile.splitlines()
            if line.startswith("RUN /farm/bin/glibc-configure")
        )
        for image in plan.images
        if image.name.startswith("build-") and image.name.endswith("-baseline")
    }
    base = "RUN /farm/bin/glibc-configure --disable-werror --enable-stack-protector=strong"
    cflags = "'CFLAGS=-O2 -g '\"'\"'$(x)'"
    assert run_lines == {
        "build-bullseye-x86_64-baseline": f"{base} {cflags}",
        "build-bullseye-i686-baseline": f"{base} {cflags}",
        "build-x86_64-baseline": f"{base} --enable-bind-now {cflags} CXX=false",
        "build-i686-baseline": f"{base} --enable-bind-now {cflags} 'CXX=false -m32'",
    }


def test_the_toolchain_axis_is_in_cell_ids_and_the_github_matrix_only_when_there_are_two(
    tmp_path: Path,
) -> None:
    import json

    one = cells([load_scenario(DEFAULT_SCENARIO)])
    assert [c.id for c in one] == [
        "debian-2.36-backports-x86_64-baseline",
        "debian-2.36-backports-x86_64-git-updates",
        "debian-2.36-backports-i686-baseline",
        "debian-2.36-backports-i686-git-updates",
    ]
    two_path = _with_toolchains(DEFAULT_SCENARIO, tmp_path / "two.yaml", "[bullseye, bookworm]")
    two = cells([load_scenario(two_path)])
    assert [c.id for c in two][:2] == [
        "debian-2.36-backports-bullseye-x86_64-baseline",
        "debian-2.36-backports-bullseye-x86_64-git-updates",
    ]
    assert len({c.id for c in two}) == 8
    rows = json.loads(github_matrix(two))["include"]
    assert {(r["id"], r["toolchain"]) for r in rows} == {(c.id, c.toolchain.name) for c in two}
    assert {r["toolchain"] for r in json.loads(github_matrix(one))["include"]} == {"bookworm"}
    assert "toolchain" not in table(one).splitlines()[0]
    assert table(two).splitlines()[0].split() == [
        "cell",
        "scenario",
        "toolchain",
        "arch",
        "variant",
    ]
    assert [c.id for c in select(two, ["*-bookworm-*-baseline"])] == [
        "debian-2.36-backports-bookworm-x86_64-baseline",
        "debian-2.36-backports-bookworm-i686-baseline",
    ]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(max_size=40) | st.sampled_from(["a\x85b", "a\u2028b", "x'\"$(id)`\\"]))
def test_any_configure_variable_value_is_refused_or_reaches_configure_intact(
    tmp_path: Path, value: str
) -> None:
    import json
    import shlex

    from farm.errors import ScenarioError

    path = tmp_path / "fuzz.yaml"
    path.write_text(
        "name: fuzz\nglibc:\n  version: '2.36'\n  source:\n    tarball:\n"
        "      url: https://ftp.gnu.org/gnu/glibc/glibc-2.36.tar.xz\n"
        f"  configure_vars:\n    CFLAGS: {json.dumps(value)}\n"
        "arches: [x86_64]\ntests:\n  glibc: [elf/tst-dlmopen1]\n",
        encoding="utf-8",
    )
    try:
        plan = _default_plan(path, tmp_path)
    except ScenarioError as error:
        assert str(error).startswith(f"{path}:8:"), error
        return
    line = next(
        line
        for line in plan.build_image(Arch.X86_64, "baseline").dockerfile.splitlines()
        if line.startswith("RUN /farm/bin/glibc-configure")
    )
    assert shlex.split(line.removeprefix("RUN "))[1:] == [f"CFLAGS={value}"]


def test_render_takes_the_decisions_it_is_handed_not_the_scenarios(
    scenario_path: Path, tmp_path: Path
) -> None:
    scenario = load_scenario(scenario_path)
    decisions = scenario.image_decisions()
    assert decisions.arches == (Arch.X86_64, Arch.I686)
    assert decisions.series_of == {
        "baseline": (), "one": ("one",), "two": ("two",), "stacked": ("one", "two"),
    }  # fmt: skip
    glibc = GlibcTree(Blob("glibc-2.36.tar.xz", sha256_bytes(b"x"), tmp_path / "t"), prepare=())
    patches = {"one": (Patch(1, "elf: one", PatchFormat.DIFF, DIFF),)}
    narrowed = dataclasses.replace(
        decisions, arches=(Arch.I686,), series_of={"baseline": (), "one": ("one",)}
    )
    plan = render_plan(narrowed, glibc, patches)
    # Only what the decisions name is rendered, though the scenario has more arches and series.
    assert {image.name for image in plan.images} == {
        "toolchain", "source", "build-i686-baseline", "test-i686-baseline", "build-i686-one",
        "test-i686-one",
    }  # fmt: skip
    assert plan.scenario is scenario
