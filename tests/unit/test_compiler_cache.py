"""The compiler cache's rules: where each image's cache is, that it never reaches a tag,
how a compile step is pointed at it, and how its bound is given.

That a real build with the cache gives the same glibc as one without (cold, warm, damaged)
is tests/integration/test_compiler_cache.py's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from farm import cli
from farm.containers.engine import COMPILER_CACHE_MOUNT, CcacheMode, CompilerCache, ListedImage
from farm.errors import UsageError
from farm.inputs.sources import Cache
from farm.plan import matrix
from farm.plan.render import GLIBC_COMPILE_STEPS, TOOLCHAIN_PACKAGES, ImagePlan, write_plan
from farm.plan.scenario import load_scenario
from farm.run import build, compiler_cache, stages
from farm.run.compiler_cache import CompilerCaches, max_size_option
from tests.unit.test_render import DEFAULT_SCENARIO, _default_plan, _with_toolchains


@pytest.fixture
def plan(tmp_path: Path) -> ImagePlan:
    two = _with_toolchains(DEFAULT_SCENARIO, tmp_path / "two.yaml", "[bullseye, bookworm]")
    return _default_plan(two, tmp_path)


def test_only_build_images_compile_and_each_toolchain_and_arch_has_its_own_cache(
    plan: ImagePlan, tmp_path: Path
) -> None:
    caches = CompilerCaches.under(tmp_path)
    directories = {}
    for image in plan.images:
        cache = caches.for_image(image)
        if image.kind == "build":
            assert image.compile_steps == GLIBC_COMPILE_STEPS
            assert cache is not None and cache.max_size == "2G"
            directories.setdefault(cache.directory, set()).add(image.name)
        else:
            assert image.compile_steps == () and cache is None
    # A series variant shares its baseline's cache; toolchains and arches never share one.
    assert {d.name for d in directories} == {
        "bookworm-x86_64", "bookworm-i686", "bullseye-x86_64", "bullseye-i686"
    }  # fmt: skip
    assert all(d.parent == tmp_path / "ccache" for d in directories)
    assert directories[tmp_path / "ccache" / "bookworm-x86_64"] == {
        "build-x86_64-baseline", "build-x86_64-git-updates"
    }  # fmt: skip


def test_the_cache_never_reaches_a_tag_or_the_dockerfile(plan: ImagePlan, tmp_path: Path) -> None:
    caches = CompilerCaches.under(tmp_path, "500M")
    for image in plan.images:
        with_cache = build.build_spec(image, caches)
        without = build.build_spec(image, None)
        assert with_cache.tag == without.tag == image.tag
        assert with_cache.dockerfile == without.dockerfile == image.dockerfile
        assert with_cache.context == without.context
        assert with_cache.compile_steps == without.compile_steps == image.compile_steps
        assert without.compiler_cache is None
        if image.kind != "toolchain":  # which installs it, used or not
            assert "ccache" not in image.dockerfile


def test_the_compile_steps_are_part_of_the_tag(plan: ImagePlan) -> None:
    from farm.plan.render import _tag

    image = plan.by_name("build-x86_64-baseline")
    assert _tag(image.name, image.dockerfile, image.context, image.compile_steps) == image.tag
    assert _tag(image.name, image.dockerfile, image.context, GLIBC_COMPILE_STEPS[:1]) != image.tag
    assert _tag(image.name, image.dockerfile, image.context, ()) != image.tag


def test_ccache_is_in_every_toolchain_image_used_or_not() -> None:
    assert "ccache" in TOOLCHAIN_PACKAGES


def test_the_written_plan_builds_the_same_image_with_plain_docker_build(
    plan: ImagePlan, tmp_path: Path
) -> None:
    write_plan(plan, tmp_path / "out")
    written = (tmp_path / "out" / "build-x86_64-baseline" / "Dockerfile").read_text()
    image = plan.by_name("build-x86_64-baseline")
    assert written == image.dockerfile + (
        "RUN /farm/bin/glibc-make build\nRUN /farm/bin/glibc-make install\n"
    )
    test = (tmp_path / "out" / "test-x86_64-baseline" / "Dockerfile").read_text()
    assert test == plan.by_name("test-x86_64-baseline").dockerfile


def test_a_compile_step_finds_ccache_first_on_the_images_own_path() -> None:
    cache = CompilerCache(Path("/host/ccache/bookworm-x86_64"), "2G", CcacheMode.PREPROCESSOR)
    image_env = ["FARM_ARCH=x86_64", "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]
    argv = cache.command(("/farm/bin/glibc-make", "build"), image_env)
    assert argv[0] == "env" and argv[-2:] == ["/farm/bin/glibc-make", "build"]
    assert f"CCACHE_DIR={COMPILER_CACHE_MOUNT}" in argv
    assert "CCACHE_MAXSIZE=2G" in argv
    # The compiler's content, not its mtime, decides a hit.
    assert "CCACHE_COMPILERCHECK=content" in argv
    assert "PATH=/usr/lib/ccache:/usr/local/bin:/usr/bin:/bin" in argv
    # An image without PATH gets the shell's default behind ccache.
    assert "PATH=/usr/lib/ccache:/usr/bin:/bin" in cache.command(("true",), [])


def test_only_the_depend_mode_tells_ccache_to_skip_the_preprocessor(plan: ImagePlan) -> None:
    step = ("/farm/bin/glibc-make", "build")
    directory = Path("/host/ccache/bookworm-x86_64")
    preprocessor = CompilerCache(directory, "2G", CcacheMode.PREPROCESSOR)
    assert not any(a.startswith("CCACHE_DEPEND") for a in preprocessor.command(step, []))
    depend = CompilerCache(directory, "2G", CcacheMode.DEPEND)
    assert "CCACHE_DEPEND=1" in depend.command(step, [])
    # The mode given to a farm cache reaches every image's cache; the farm's default is the
    # depend mode (the overhead of an empty cache: 1.08x against 1.53x, README).
    image = plan.by_name("build-x86_64-baseline")
    caches = CompilerCaches.under(Path("/cache"), mode=CcacheMode.PREPROCESSOR)
    assert caches.for_image(image) == CompilerCache(
        Path("/cache/ccache") / image.compiler_cache_key, "2G", CcacheMode.PREPROCESSOR
    )
    assert CompilerCaches.under(Path("/cache")).mode is CcacheMode.DEPEND
    assert CompilerCaches(Path("/cache")).mode is CcacheMode.DEPEND


@pytest.mark.parametrize("text", ["2G", "500M", "1.5G", "64k", " 3T "])
def test_a_size_is_a_number_and_a_unit(text: str) -> None:
    assert max_size_option(text) == text.strip().upper()


@pytest.mark.parametrize("text", ["", "2", "0G", "-1G", "2GB", "two G", "2 G", "1e3M"])
def test_a_size_without_a_unit_or_number_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--ccache-size"):
        max_size_option(text)


def test_run_options_hand_the_build_its_caches_or_none(tmp_path: Path) -> None:
    scenario = load_scenario(DEFAULT_SCENARIO)
    every = matrix.cells([scenario])

    def options(**extra: object) -> stages.RunOptions:
        return stages.RunOptions(
            scenario=scenario, cells=every, scenario_cells=every, run_dir=tmp_path / "run",
            cache=Cache(tmp_path / "cache"), **extra,  # type: ignore[arg-type]
        )  # fmt: skip

    assert options().compiler_caches == CompilerCaches(tmp_path / "cache" / "ccache", "2G")
    assert options(ccache_size="1g").compiler_caches == CompilerCaches(
        tmp_path / "cache" / "ccache", "1G"
    )
    assert options(ccache=False).compiler_caches is None
    with pytest.raises(UsageError, match="--ccache-size"):
        options(ccache_size="lots")


def test_the_command_line_refuses_a_bad_size_before_it_does_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "--ccache-size", "2GB"])
    assert exited.value.code == 2
    assert "--ccache-size" in capsys.readouterr().err


def test_gc_trims_with_the_newest_toolchain_image_of_each_release() -> None:
    class Images:
        def images(self, labels: list[str]) -> tuple[ListedImage, ...]:
            assert labels == ["org.glibc-farm.kind=toolchain"]
            base = "org.glibc-farm.base"
            bookworm, bullseye = (
                {base: "glibc-farm/base:bookworm"},
                {base: "glibc-farm/base:bullseye"},
            )
            return (
                ListedImage("a", ("glibc-farm/toolchain:old",), 1, bookworm),
                ListedImage("b", ("glibc-farm/toolchain:new",), 2, bookworm),
                ListedImage("c", ("glibc-farm/toolchain:b11",), 1, bullseye),
                ListedImage("d", (), 3, bookworm),  # untagged
            )  # fmt: skip

    assert compiler_cache.toolchain_images(Images()) == {  # type: ignore[arg-type]
        "bookworm": "glibc-farm/toolchain:new",
        "bullseye": "glibc-farm/toolchain:b11",
    }


def test_gc_leaves_a_cache_whose_toolchain_image_is_gone(tmp_path: Path) -> None:
    caches = CompilerCaches.under(tmp_path)
    (caches.root / "trixie-x86_64").mkdir(parents=True)
    said = caches.trim(engine=None, toolchain_images={})  # type: ignore[arg-type]
    assert said == [
        f"{caches.root / 'trixie-x86_64'}: kept as it is (no trixie toolchain image here)"
    ]
    assert caches.remove() == [str(caches.root / "trixie-x86_64")]
    assert list(caches.directories()) == []
