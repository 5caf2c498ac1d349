"""Rendering a scenario into the Dockerfiles of its images, each tagged by its inputs' hash.

The image graph of one scenario, once per toolchain (Debian release)::

    base:<release> ─ toolchain ─ source ─┬─ build-<arch>-baseline ─┬─ build-<arch>-<series> ─ test-…
                                         │                         ├─ build-<arch>-stacked  ─ test-…
                                         │                         └─ test-<arch>-baseline
                                         └─ (one baseline per arch)

Image names (and the readable part of tags) carry the toolchain, ``build-bullseye-x86_64-
baseline``, except for the default toolchain, whose images keep their names: a scenario that
adds a toolchain reuses every image a single-toolchain scenario built.

A patched build image starts FROM the baseline build image of its arch and runs make in the
same build tree, so only what the series touched is recompiled.

An image's tag is the sha256 of its rendered Dockerfile (which names its parent's tag and
carries the hashes of the glibc source and the series in labels) and of every file in its
build context. Equal inputs give equal tags, and the engine skips an image whose tag exists.
Jinja2 holds the Dockerfile text; this module only decides what goes in.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from farm import ids
from farm.errors import ScenarioError
from farm.inputs.series import Patch
from farm.inputs.sources import SAFE_FILE_NAME_RE, Blob, GlibcTree
from farm.plan.scenario import Arch, Configure, ImageDecisions, Scenario
from farm.plan.toolchain import Toolchain, default_toolchain, known_toolchains
from farm.yamlnode import control_character

#: The package's folder (farm/).
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def images_dir(package_dir: Path = PACKAGE_DIR) -> Path:
    """The Dockerfile templates and the scripts they copy in. A wheel carries them as
    ``farm/images`` (pyproject.toml maps the checkout's top-level ``images/`` there); a
    checkout, editable or not, has them at its top, beside ``pyproject.toml``."""
    installed = package_dir / "images"
    checkout = package_dir.parent / "images"
    if not installed.is_dir() and (package_dir.parent / "pyproject.toml").is_file():
        return checkout
    return installed


IMAGES_DIR = images_dir()
CASES_DIR = PACKAGE_DIR / "cases"
#: The default toolchain's Debian base image (each toolchain has its own, see farm.plan.toolchain).
BASE_IMAGE = default_toolchain().base_image
#: Every toolchain's base image: made once (pull or debootstrap), kept by ``farm gc``.
BASE_IMAGES = frozenset(t.base_image for t in known_toolchains().values())

#: Debian packages of the toolchain image: what glibc's configure and make need, multilib
#: for i686, what the test runner uses (timeout, readelf), and ccache for the compile steps
#: (installed whether or not a build uses the compiler cache, so a tag never depends on it).
TOOLCHAIN_PACKAGES = (
    "bison",
    "build-essential",
    "ca-certificates",
    "ccache",
    "file",
    "g++-multilib",
    "gawk",
    "gcc-multilib",
    "gettext",
    "git",
    "libc6-dev-i386",
    "patch",
    "perl",
    "python3",
    "xz-utils",
)


@dataclass(frozen=True, slots=True)
class ContextFile:
    """One file of an image's build context: where it goes and what it is."""

    dest: str  # path inside the context, e.g. "input/glibc_2.36.orig.tar.xz"
    sha256: str
    source: Path | None = None  # a file on the host (cache blob, script, case)
    data: bytes | None = None  # or literal bytes (a patch, a list)
    mode: int = 0o644

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.source is not None
        return self.source.read_bytes()


#: The compile steps of every build image (`ImageSpec.compile_steps`): two, so that a
#: failing install names its own phase after a finished build.
GLIBC_COMPILE_STEPS = (("/farm/bin/glibc-make", "build"), ("/farm/bin/glibc-make", "install"))


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """One image to build: its Dockerfile, its context and its content-derived tag."""

    name: str  # "build-x86_64-git-updates"; unique within a scenario
    kind: str  # toolchain | source | build | test
    arch: Arch | None
    variant: str | None
    parent: str | None  # name of the parent ImageSpec (None: FROM the base image)
    dockerfile: str
    context: tuple[ContextFile, ...]
    tag: str
    patches: tuple[Patch, ...] = field(default=())  # for build images of a series variant
    series_sha256: str = ""  # of the patches applied (build images of a series variant)
    toolchain: Toolchain = field(default_factory=default_toolchain)
    #: Commands run after the Dockerfile, each in a container of the image so far and
    #: committed as a layer (build images: make and make install), so that the compiler
    #: cache can be mounted into them. Part of the tag, as a RUN step would be.
    compile_steps: tuple[tuple[str, ...], ...] = ()

    @property
    def compiler_cache_key(self) -> str:
        """Which compiler cache the compile steps read and fill: one per toolchain and arch
        (ccache's own hash tells compilers and flags apart already; separate directories
        keep each one's size bound and its CI cache key its own)."""
        return f"{self.toolchain.name}-{self.arch.value}" if self.arch else self.toolchain.name

    @property
    def standalone_dockerfile(self) -> str:
        """The Dockerfile with the compile steps as RUN lines: what ``docker build`` of the
        written plan needs to make the same image without the farm (no compiler cache)."""
        steps = "".join(f"RUN {' '.join(step)}\n" for step in self.compile_steps)
        return self.dockerfile + steps

    @property
    def needs_network(self) -> bool:
        """Only the toolchain image installs packages. Every later step (unpacking glibc,
        applying a series, configure, make) runs code that came with the series, so it is
        built with no network at all."""
        return self.kind == "toolchain"


@dataclass(frozen=True, slots=True)
class ImagePlan:
    """All images of a scenario, parents before children."""

    scenario: Scenario
    images: tuple[ImageSpec, ...]

    def by_name(self, name: str) -> ImageSpec:
        for image in self.images:
            if image.name == name:
                return image
        raise KeyError(name)

    def build_image(
        self, arch: Arch, variant: str, toolchain: Toolchain | None = None
    ) -> ImageSpec:
        """The build image of a variant; ``toolchain`` defaults to the default toolchain."""
        return self.by_name(image_name("build", toolchain or default_toolchain(), arch, variant))

    def test_image(self, arch: Arch, variant: str, toolchain: Toolchain | None = None) -> ImageSpec:
        """The test image of a variant; ``toolchain`` defaults to the default toolchain."""
        return self.by_name(image_name("test", toolchain or default_toolchain(), arch, variant))

    def ancestry(self, name: str) -> tuple[ImageSpec, ...]:
        """``name`` and every image it is built FROM, root first."""
        chain: list[ImageSpec] = []
        current: str | None = name
        while current is not None:
            image = self.by_name(current)
            chain.append(image)
            current = image.parent
        return tuple(reversed(chain))


def image_name(
    kind: str, toolchain: Toolchain, arch: Arch | None = None, variant: str | None = None
) -> str:
    """The name of an image of a plan (`farm.ids.image_name`) for a `Toolchain`."""
    return ids.image_name(
        ids.ImageKind(kind),
        arch.value if arch is not None else None,
        variant,
        toolchain=toolchain.image_qualifier,
    )


def configure_arguments(configure: Configure, arch: Arch) -> str:
    """The shell-quoted arguments of ``glibc-configure``: options, then ``VAR=VALUE``.

    configure takes variables as arguments and lets them override the environment, where
    ``glibc-configure`` puts the arch's compiler (``gcc -m32`` for i686); so a scenario's
    ``CC``/``CXX`` get the arch's flag here, to stay compilers for that arch.
    """
    arch_flag = " -m32" if arch is Arch.I686 else ""
    variables = [
        f"{name}={value}{arch_flag if name in ('CC', 'CXX') else ''}"
        for name, value in configure.variables
    ]
    return shlex.join((*configure.flags, *variables))


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(IMAGES_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _script(name: str) -> ContextFile:
    path = IMAGES_DIR / "scripts" / name
    return ContextFile(f"scripts/{name}", _sha256(path.read_bytes()), source=path, mode=0o755)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _refuse_line_breaks(image: str, values: Mapping[str, object]) -> None:
    """The last check before a value goes into Dockerfile text: no control characters.

    The loader refuses them with file:line already; this catches what did not come through
    it (a fetched file name, a Scenario built in code), since in a Dockerfile a line break
    starts a new instruction and in a RUN line a shell metacharacter starts a new command.
    """
    for key, value in values.items():
        for text in value if isinstance(value, tuple) else (value,):
            if isinstance(text, str) and (problem := control_character(text)):
                raise ScenarioError(
                    f"image {image}: {key} {text[:80]!r} contains the control character "
                    f"{problem}; it would add a line to the Dockerfile. Fix the scenario value "
                    "it came from"
                )
    tarball = values.get("tarball")
    if isinstance(tarball, str) and not SAFE_FILE_NAME_RE.fullmatch(tarball):
        raise ScenarioError(
            f"image {image}: the glibc tarball name {tarball!r} is not a plain file name "
            "(letters, digits, '.', '_', '+', '~', '-'); it goes into a shell line"
        )


def _tag(
    name: str,
    dockerfile: str,
    context: tuple[ContextFile, ...],
    compile_steps: tuple[tuple[str, ...], ...] = (),
) -> str:
    digest = hashlib.sha256(dockerfile.encode())
    for step in compile_steps:
        digest.update(b"\0step\0" + "\0".join(step).encode())
    for item in sorted(context, key=lambda c: c.dest):
        digest.update(f"\0{item.dest}\0{item.sha256}\0{item.mode:o}".encode())
    return ids.image_tag(name, digest.hexdigest()[:16])


def patch_list(patches: tuple[tuple[str, Patch], ...], directory: str) -> tuple[ContextFile, ...]:
    """A patch directory of a context: one file per patch and the ordered ``list`` that
    ``apply-series`` reads (number, total, format, file, series, subject)."""
    files: list[ContextFile] = []
    lines: list[str] = []
    totals: dict[str, int] = {}
    for series_name, _ in patches:
        totals[series_name] = totals.get(series_name, 0) + 1
    for index, (series_name, patch) in enumerate(patches, start=1):
        file_name = f"{index:04d}-{series_name}-{patch.number:04d}.patch"
        files.append(
            ContextFile(f"{directory}/{file_name}", _sha256(patch.content), data=patch.content)
        )
        # A mail's subject is the stranger's text: one line, and no escape sequence that
        # would rewrite the terminal or the build log apply-series prints it into.
        subject = " ".join(patch.subject.split()) or "(no subject)"
        subject = "".join(char if char.isprintable() else "?" for char in subject)
        lines.append(
            "\t".join(
                (
                    str(patch.number),
                    str(totals[series_name]),
                    patch.format.value,
                    file_name,
                    series_name,
                    subject,
                )
            )
        )
    listing = ("\n".join(lines) + "\n").encode() if lines else b""
    files.append(ContextFile(f"{directory}/list", _sha256(listing), data=listing))
    return tuple(files)


def case_files(cases_dir: Path = CASES_DIR) -> tuple[ContextFile, ...]:
    """The farm's C case library as context files (sources, manifests, farm-cc)."""
    files: list[ContextFile] = []
    for path in sorted(cases_dir.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".py", ".pyc"):
            continue
        mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
        files.append(
            ContextFile(
                f"cases/{path.relative_to(cases_dir)}",
                _sha256(path.read_bytes()),
                source=path,
                mode=mode,
            )
        )
    return tuple(files)


class _PlanBuilder:
    """Accumulates ImageSpecs; each one's tag is computed from its rendered text and context."""

    def __init__(self) -> None:
        self.env = _environment()
        self.images: list[ImageSpec] = []

    def add(
        self,
        name: str,
        template: str,
        parent: ImageSpec | None,
        context: tuple[ContextFile, ...],
        *,
        toolchain: Toolchain,
        arch: Arch | None = None,
        variant: str | None = None,
        patches: tuple[Patch, ...] = (),
        series_sha256: str = "",
        compile_steps: tuple[tuple[str, ...], ...] = (),
        **values: object,
    ) -> ImageSpec:
        _refuse_line_breaks(name, values)
        dockerfile = self.env.get_template(template).render(
            parent=parent.tag if parent else None, arch=arch.value if arch else None,
            variant=variant, series_sha256=series_sha256, **values,
        )  # fmt: skip
        image = ImageSpec(
            name=name,
            kind=name.split("-", 1)[0],
            toolchain=toolchain,
            arch=arch,
            variant=variant,
            parent=parent.name if parent else None,
            dockerfile=dockerfile,
            context=context,
            tag=_tag(name, dockerfile, context, compile_steps),
            patches=patches,
            series_sha256=series_sha256,
            compile_steps=compile_steps,
        )
        self.images.append(image)
        return image

    def series_build(
        self,
        baseline: ImageSpec,
        variant: str,
        applied: tuple[tuple[str, Patch], ...],
    ) -> ImageSpec:
        """The build image of a variant: the baseline build plus ``applied`` patches, in order."""
        assert baseline.arch is not None
        series_files = patch_list(applied, "series")
        series_sha256 = _sha256(json.dumps([f.sha256 for f in series_files]).encode())
        return self.add(
            image_name("build", baseline.toolchain, baseline.arch, variant),
            "build-series.Dockerfile.j2",
            baseline,
            (_script("apply-series"), _script("glibc-make"), *series_files),
            toolchain=baseline.toolchain,
            arch=baseline.arch,
            variant=variant,
            patches=tuple(patch for _, patch in applied),
            patch_count=len(applied),
            series_sha256=series_sha256,
            compile_steps=GLIBC_COMPILE_STEPS,
        )

    def test_image(self, build: ImageSpec, tests_context: tuple[ContextFile, ...]) -> ImageSpec:
        assert build.arch is not None and build.variant is not None
        return self.add(
            image_name("test", build.toolchain, build.arch, build.variant),
            "test.Dockerfile.j2",
            build,
            tests_context,
            toolchain=build.toolchain,
            arch=build.arch,
            variant=build.variant,
        )


def render_plan(
    decisions: ImageDecisions,
    glibc: GlibcTree,
    series_patches: Mapping[str, tuple[Patch, ...]],
    *,
    cases_dir: Path = CASES_DIR,
) -> ImagePlan:
    """Every image of a scenario (as ``decisions`` has it) on each of its toolchains, given
    its fetched glibc tree and series patches.

    A variant whose series is missing from ``series_patches`` (it could not be fetched) gets
    no images; the others are unaffected.
    """
    builder = _PlanBuilder()
    tests_context = (*case_files(cases_dir), _script("probe"))
    for toolchain, configure in decisions.toolchains:
        _render_toolchain(
            builder, decisions, toolchain, configure, glibc, series_patches, tests_context
        )
    return ImagePlan(scenario=decisions.scenario, images=tuple(builder.images))


def _render_toolchain(
    builder: _PlanBuilder,
    decisions: ImageDecisions,
    toolchain: Toolchain,
    configure: Configure,
    glibc: GlibcTree,
    series_patches: Mapping[str, tuple[Patch, ...]],
    tests_context: tuple[ContextFile, ...],
) -> None:
    """The images of ``scenario`` built with one toolchain, from its base image up."""
    toolchain_image = builder.add(
        image_name("toolchain", toolchain),
        "toolchain.Dockerfile.j2",
        None,
        (),
        toolchain=toolchain,
        base_image=toolchain.base_image,
        packages=TOOLCHAIN_PACKAGES,
    )
    tarball: Blob = glibc.tarball
    prepare_files = patch_list(tuple(("prepare", p) for p in glibc.prepare), "input/prepare")
    source = builder.add(
        image_name("source", toolchain),
        "source.Dockerfile.j2",
        toolchain_image,
        (
            _script("apply-series"),
            ContextFile(f"input/{tarball.name}", tarball.sha256, source=tarball.path),
            *prepare_files,
        ),
        toolchain=toolchain,
        glibc_version=decisions.glibc_version,
        source_sha256=glibc.sha256,
        tarball=tarball.name,
    )
    for arch in decisions.arches:
        baseline = builder.add(
            image_name("build", toolchain, arch, ids.BASELINE),
            "build-baseline.Dockerfile.j2",
            source,
            (_script("glibc-configure"), _script("glibc-make")),
            toolchain=toolchain,
            arch=arch,
            variant=ids.BASELINE,
            glibc_version=decisions.glibc_version,
            source_sha256=glibc.sha256,
            configure_flags=configure_arguments(configure, arch),
            compile_steps=GLIBC_COMPILE_STEPS,
        )
        builder.test_image(baseline, tests_context)
        for variant, series_names in decisions.series_of.items():
            if variant == ids.BASELINE:
                continue  # built above
            if any(name not in series_patches for name in series_names):
                continue  # its series could not be fetched; the caller reports why
            applied = tuple(
                (name, patch) for name in series_names for patch in series_patches[name]
            )
            builder.test_image(builder.series_build(baseline, variant, applied), tests_context)


def prefix_plan(
    plan: ImagePlan, toolchain: Toolchain, arch: Arch, series_name: str, count: int
) -> ImagePlan:
    """``plan`` plus the build and test images of the first ``count`` patches of a series.

    Used to bisect a regression to the first bad patch: each prefix builds incrementally on
    the baseline build tree, like the full series does.
    """
    series_build = plan.build_image(arch, series_name, toolchain)
    patches = series_build.patches[:count]
    builder = _PlanBuilder()
    builder.images = list(plan.images)
    baseline = plan.build_image(arch, ids.BASELINE, toolchain)
    variant = ids.prefix_variant(series_name, count)
    build = builder.series_build(baseline, variant, tuple((series_name, p) for p in patches))
    test_context = plan.test_image(arch, ids.BASELINE, toolchain).context
    builder.test_image(build, test_context)
    return ImagePlan(scenario=plan.scenario, images=tuple(builder.images))


def write_plan(plan: ImagePlan, out_dir: Path) -> list[Path]:
    """Write each image's Dockerfile and a manifest of its inputs under ``out_dir/<name>/``.

    Large inputs (the glibc tarball) are listed by hash rather than copied; ``farm build``
    assembles full contexts from the cache.
    """
    written: list[Path] = []
    index: dict[str, object] = {"scenario": plan.scenario.name, "images": []}
    for image in plan.images:
        directory = out_dir / image.name
        directory.mkdir(parents=True, exist_ok=True)
        dockerfile = directory / "Dockerfile"
        dockerfile.write_text(image.standalone_dockerfile, encoding="utf-8")
        written.append(dockerfile)
        for item in image.context:
            if item.data is not None:
                target = directory / item.dest
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(item.data)
        entry = {
            "name": image.name,
            "tag": image.tag,
            "parent": image.parent,
            "toolchain": image.toolchain.name,
            "arch": image.arch.value if image.arch else None,
            "variant": image.variant,
            "context": {item.dest: item.sha256 for item in image.context},
        }
        (directory / "image.json").write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
        index["images"].append(entry)  # type: ignore[attr-defined]
    (out_dir / "plan.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return written
