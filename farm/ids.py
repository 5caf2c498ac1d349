"""The farm's identities, each built by exactly one function.

A cell id names one cell in ``farm matrix`` rows, ``--only`` globs, pytest item ids, run
directory file names, reproducer command lines and GitHub job names; a test id names one test
in results, expectations and reports; an image name names one image of a render plan. When
two places spelled one of these with their own f-string they could drift apart, and a gate
that looks a cell up by a differently spelled id sees a missing cell. So every spelling
lives here, and call sites call these functions.

Every id is byte-identical to what the farm wrote before this module existed, so old run
directories and CI artifacts keep their meaning.
"""

from __future__ import annotations

import enum
import threading

#: The variant that builds glibc without any series: what every series is judged against.
BASELINE = "baseline"
#: The variant that applies every series of a scenario in order (``stacked: true``).
STACKED = "stacked"

FARM_TEST_PREFIX = "farm/"
GLIBC_TEST_PREFIX = "glibc/"


def scenario_label(scenario: str, toolchain: str = "") -> str:
    """The scenario as cells, results, the gate and reports name it: ``<scenario>`` or, when a
    scenario builds with several toolchains, ``<scenario>-<toolchain>``.

    With one toolchain the label is the bare name, so the ids of every scenario that names no
    second toolchain stay what they were; with several, each toolchain is its own column and
    is judged against its own baseline.
    """
    return f"{scenario}-{toolchain}" if toolchain else scenario


def cell_id(scenario: str, arch: str, variant: str) -> str:
    """``<scenario label>-<arch>-<variant>``, e.g. ``debian-2.36-backports-x86_64-baseline``
    or ``rtld-shared-gohar94-bullseye-i686-baseline``.

    This is the one place a cell id is spelled; ``scenario`` is a `scenario_label`, which
    carries the toolchain when a scenario has several.
    """
    return f"{scenario}-{arch}-{variant}"


def shard_job_id(cell: str, index: int, count: int) -> str:
    """The GitHub job (and artifact ``cell-<job id>``) of shard ``index`` of ``count`` of a
    cell's tests: ``<cell id>-shard-<index>of<count>``, e.g.
    ``debian-2.36-backports-x86_64-baseline-shard-1of2``. A cell that is not sharded is its
    own job, named by its cell id alone."""
    return f"{cell}-shard-{index}of{count}"


def build_job_id(cell: str) -> str:
    """The GitHub job that builds a sharded cell's images once for all its shard jobs:
    ``<cell id>-build``; its run directory is the artifact ``cell-<job id>``, its images
    ``images-<cell id>``."""
    return f"{cell}-build"


def farm_test_id(case_id: str) -> str:
    """The test id of a case of the farm's own library: ``farm/<family>/<case>``."""
    return FARM_TEST_PREFIX + case_id


def glibc_test_id(name: str) -> str:
    """The test id of one of glibc's own tests: ``glibc/<subdir>/<test>``."""
    return GLIBC_TEST_PREFIX + name


def glibc_subdir_test_id(subdir: str) -> str:
    """The test id of the pytest item that checks a glibc subdirectory whole (its ``make
    check``): ``glibc/<subdir>/``, e.g. ``glibc/elf/``."""
    return f"{GLIBC_TEST_PREFIX}{subdir}/"


def subdir_of_test(test: str) -> str | None:
    """The subdirectory a whole-subdirectory item checks (`glibc_subdir_test_id`), or None
    for any other test id."""
    if is_glibc_test(test) and test.endswith("/"):
        return test.removeprefix(GLIBC_TEST_PREFIX).removesuffix("/")
    return None


def is_farm_test(test: str) -> bool:
    return test.startswith(FARM_TEST_PREFIX)


def is_glibc_test(test: str) -> bool:
    return test.startswith(GLIBC_TEST_PREFIX)


class ImageKind(enum.StrEnum):
    """The images of a render plan, in the order they are built FROM each other."""

    TOOLCHAIN = "toolchain"  # a Debian release with glibc's build tools
    SOURCE = "source"  # the glibc tree, prepared
    BUILD = "build"  # glibc configured and built, with the variant's series applied
    TEST = "test"  # the build plus the farm's cases: what tests run in


def image_name(
    kind: ImageKind, arch: str | None = None, variant: str | None = None, *, toolchain: str = ""
) -> str:
    """The name of an image in a render plan, e.g. ``test-x86_64-baseline`` or
    ``build-bullseye-i686-baseline``; the readable part of its tag is made from it.

    ``toolchain`` is the toolchain's image qualifier: empty for the default toolchain, whose
    images keep the names they had before toolchains were an axis, so that every scenario on
    it shares them.
    """
    parts = (kind.value, toolchain, arch or "", variant or "")
    return "-".join(part for part in parts if part)


#: The repository prefix of every image the farm tags; ``farm gc`` considers no other.
TAG_REPOSITORY = "glibc-farm"
#: A toolchain's Debian base image, ``glibc-farm/base:<release>``.
BASE_REPOSITORY = f"{TAG_REPOSITORY}/base"


def image_tag(name: str, digest: str) -> str:
    """The tag of the plan image ``name`` whose inputs hash to ``digest``:
    ``glibc-farm/<kind>:[<rest of its name>-]<digest>``, e.g.
    ``glibc-farm/test:x86_64-baseline-90fc334ae62b351e`` or
    ``glibc-farm/toolchain:5dd4bde3dec9137d``."""
    kind, _, rest = name.partition("-")
    prefix = f"{rest}-" if rest else ""
    return f"{TAG_REPOSITORY}/{kind}:{prefix}{digest}"


def base_image_tag(release: str) -> str:
    """A toolchain's base image: ``glibc-farm/base:<release>``."""
    return f"{BASE_REPOSITORY}:{release}"


def split_image_ref(reference: str) -> tuple[str, str]:
    """``repository:tag`` -> (repository, tag); a registry's port is part of the repository."""
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        return reference, "latest"
    return repository, tag


def prefix_variant(series: str, count: int) -> str:
    """The variant of a bisection step: the first ``count`` patches of ``series``."""
    return f"{series}.prefix{count}"


def item_id(arch: str, variant: str, test: str, *, toolchain: str = "") -> str:
    """A pytest item id: ``[<toolchain>-]<arch>-<variant>-<test>``; the scenario is one per
    run, and the toolchain is named only when the scenario has several."""
    prefix = f"{toolchain}-" if toolchain else ""
    return f"{prefix}{arch}-{variant}-{test}"


class BuildPhase(enum.StrEnum):
    """Where an image build stopped (``BuildError.phase``); a str, so old records compare equal."""

    SOURCE = "source"
    PATCH_APPLY = "patch-apply"
    CONFIGURE = "configure"
    BUILD = "build"


def test_image_name(arch: str, variant: str, *, toolchain: str = "") -> str:
    """The name of the image a cell's tests run in: ``test-[<toolchain>-]<arch>-<variant>``."""
    return image_name(ImageKind.TEST, arch, variant, toolchain=toolchain)


class ContainerRole(enum.StrEnum):
    """What a farm container is for; the first word of its name after ``farm-``."""

    PROBE = "probe"  # the environment probe of a cell's image
    TEST = "test"  # a pytest-xdist worker's container of one image
    BISECT = "bisect"  # a bisection step's


def container_name(
    role: ContainerRole, image_tag: str, pid: int, *, worker: str = "", kind: str = ""
) -> str:
    """``farm-<role>[-<worker>][-<kind>]-<image>-<pid>[-t<thread>]``, e.g.
    ``farm-test-gw0-cases-x86_64-baseline-90fc334ae62b351e-4242``: unique per process,
    worker (xdist's ``worker_id``) and thread (``farm watch --jobs 2`` probes one baseline
    image from two threads at once; the main thread adds nothing), and readable by ``docker
    ps``. ``<image>`` is the tag after its repository. The owner label, not the name, says
    whose a container is."""
    image = image_tag.rsplit(":", 1)[-1]
    main = threading.current_thread() is threading.main_thread()
    thread = "" if main else f"t{threading.get_native_id()}"
    parts = ("farm", role.value, worker, kind, image, str(pid), thread)
    return "-".join(part for part in parts if part)
