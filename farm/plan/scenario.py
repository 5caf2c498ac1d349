"""The scenario model: what a scenario YAML says, typed, frozen and validated.

A scenario names one glibc source, the patches every variant needs to build at all
(``prepare``), the patch series under test, the architectures, the configure flags, the tests
to run and what each variant is expected to show. Everything is checked here, before any
image is rendered, so a typo costs a second and an error message rather than a build.

Relative paths in a scenario are relative to the scenario file's directory.
"""

from __future__ import annotations

import difflib
import enum
import fnmatch
import functools
import re
import signal
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from farm import ids
from farm.errors import ScenarioError
from farm.plan.expectation import Expectation, FlakyEntry
from farm.plan.toolchain import Toolchain, default_toolchain, known_toolchains
from farm.yamlnode import Node, control_character

if TYPE_CHECKING:
    from farm.cases import Case

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: Series and scenario names end up in image tags, pytest ids and GitHub job names.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
#: Variant names the farm owns; a series may not take them.
RESERVED_VARIANTS = (ids.BASELINE, ids.STACKED)
DEFAULT_DEBIAN_ARCHIVE = "http://deb.debian.org/debian"
DEFAULT_PUBLIC_INBOX = "https://inbox.sourceware.org/libc-alpha"
#: A Message-ID without its angle brackets: one ``@``, no blanks or slashes.
_MESSAGE_ID_RE = re.compile(r"[^\s<>@/]+@[^\s<>@/]+")
#: The series added by ``FARM_EXTRA_SERIES_URL`` (the workflow's "series URL" input).
EXTRA_SERIES = "extra"
#: Set (by the GitHub workflow's "series URL" input, or by hand) to test one more series.
EXTRA_SERIES_ENV = "FARM_EXTRA_SERIES_URL"
#: URL path endings of mail archives (patchwork's ``/mbox/``, public-inbox's ``t.mbox.gz``,
#: ``raw`` messages): applied with ``git am``; anything else is a plain diff for ``patch``.
_MAIL_URL_RE = re.compile(r"(\.mbox(\.gz)?|\.eml|/mbox/?|/raw/?|\.mbx)$")

#: Outcome labels an expectation may name; ``absent``/``present`` speak of the test's existence.
EXPECTABLE = (
    "PASS",
    "FAIL",
    "UNSUPPORTED",
    "XFAIL",
    "XPASS",
    "TIMEOUT",
    "CRASH",
    "absent",
    "present",
)
_CRASH_RE = re.compile(r"^CRASH\((SIG[A-Z0-9]+)\)$")
#: The variables glibc's configure takes (its "influential environment variables", and the
#: tools its checks look up), the only ones a scenario may set: a typo must not be a silently
#: ignored variable.
CONFIGURE_VARIABLES = (
    "CC",
    "CFLAGS",
    "CPP",
    "CPPFLAGS",
    "CXX",
    "CXXFLAGS",
    "LDFLAGS",
    "LIBS",
    "AR",
    "AS",
    "LD",
    "NM",
    "OBJCOPY",
    "OBJDUMP",
    "RANLIB",
    "READELF",
)
#: Configure options the farm sets itself.
_FARM_CONFIGURE_OPTIONS = ("--prefix", "--host", "--build")
#: autoconf's configure takes any prefix of a long option down to these (its
#: _AC_INIT_PARSE_ARGS lists ``--p``/``--pr`` for --prefix, ``--ho`` for --host, ``--bu``
#: for --build), and the bare form takes the next argument as its value.
_SHORTEST_ABBREVIATION = {"--prefix": "--p", "--host": "--ho", "--build": "--bu"}


def farm_configure_option(flag: str) -> str | None:
    """The farm's own configure option ``flag`` names, spelled out or abbreviated as
    autoconf accepts it (``--pre=/usr`` is --prefix); None for any other option."""
    name = flag.split("=", 1)[0]
    return next(
        (
            full
            for full in _FARM_CONFIGURE_OPTIONS
            if full.startswith(name) and name.startswith(_SHORTEST_ABBREVIATION[full])
        ),
        None,
    )


#: What may not appear in a configure flag or variable: they reach a Dockerfile RUN line.
#: C0/C1 controls and Unicode's line and paragraph separators (a line break to some readers).
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Slow emulated hosts need 10-20; beyond this a timeout is "never", which the farm refuses.
MAX_TIMEOUT_FACTOR = 100.0
#: ``tests.shards``: past this many jobs per cell, each job's setup (checkout, loading the
#: image) outweighs the tests it runs, and GitHub's 256-job matrix fills with one scenario.
MAX_SHARDS = 32


class Arch(enum.StrEnum):
    """Architectures the farm builds; i686 is a 32-bit glibc built with ``gcc -m32``."""

    X86_64 = "x86_64"
    I686 = "i686"


# --- where glibc comes from ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DebianSource:
    """A Debian source package, fetched with ``apt-get source --download-only``."""

    package: str
    version: str
    dsc_sha256: str | None  # the .dsc pins every other file through its checksums
    archive: str = DEFAULT_DEBIAN_ARCHIVE
    suite: str = "bookworm"
    #: file:line of its ``version:``, for errors found when fetching (a version gone from
    #: the archive's pool); not part of what the source is, so not compared.
    where: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return f"debian:{self.package}={self.version}"


@dataclass(frozen=True, slots=True)
class TarballSource:
    """An upstream release tarball (``glibc-2.36.tar.xz``) from a URL, pinned by sha256."""

    url: str
    sha256: str | None

    @property
    def key(self) -> str:
        return f"url:{self.url}"


@dataclass(frozen=True, slots=True)
class GitSource:
    """A git repository and ref; a full commit id keeps the scenario reproducible."""

    url: str
    ref: str

    @property
    def key(self) -> str:
        return f"git:{self.url}@{self.ref}"


@dataclass(frozen=True, slots=True)
class PathSource:
    """A local glibc tree or tarball, for a developer's own work in progress."""

    path: Path

    @property
    def key(self) -> str:
        return f"path:{self.path}"


GlibcSource: TypeAlias = DebianSource | TarballSource | GitSource | PathSource


# --- where patches come from ---------------------------------------------------------------


class PatchFormat(enum.StrEnum):
    """How one patch file is applied inside the image."""

    MAIL = "mail"  # git am: a mail or mbox with headers and a commit message
    DIFF = "diff"  # patch -p1: a bare unified diff


@dataclass(frozen=True, slots=True)
class QuiltPatches:
    """A directory with a quilt ``series`` file naming the patches in order."""

    directory: Path


@dataclass(frozen=True, slots=True)
class MboxPatches:
    """An mbox holding the series as mails, applied with ``git am``."""

    path: Path


@dataclass(frozen=True, slots=True)
class DiffPatch:
    """One local unified diff, applied with ``patch -p1``."""

    path: Path


@dataclass(frozen=True, slots=True)
class UrlPatches:
    """A patch or mbox at a URL, pinned by sha256 (or locked on first fetch)."""

    url: str
    sha256: str | None
    format: PatchFormat


@dataclass(frozen=True, slots=True)
class ThreadPatches:
    """A mailing-list thread by Message-ID from a public-inbox archive, as ``b4`` fetches it."""

    message_id: str
    archive: str
    sha256: str | None


@dataclass(frozen=True, slots=True)
class DebianPatch:
    """A patch shipped inside the glibc Debian source package (``debian/patches/<path>``)."""

    path: str


@dataclass(frozen=True, slots=True)
class GitRangePatches:
    """Commits ``base..tip`` of a git repository, turned into mails with ``format-patch``."""

    url: str
    range: str


PatchSource: TypeAlias = (
    QuiltPatches
    | MboxPatches
    | DiffPatch
    | UrlPatches
    | ThreadPatches
    | DebianPatch
    | GitRangePatches
)


@dataclass(frozen=True, slots=True)
class Series:
    """One patch series under test; it becomes the variant of the same name."""

    name: str
    summary: str
    source: PatchSource
    where: str  # file:line of its entry, for errors found later (fetching, applying)


# --- tests and expectations ---------------------------------------------------------------


#: A ``tests.glibc`` entry that selects all of glibc's testsuite, subdirectory by subdirectory.
ALL_SUBDIRS = "all"
_GLIBC_SUBDIR_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*/")
_GLIBC_GLOB_RE = re.compile(r"[A-Za-z0-9_.*?\[\]-]+/[A-Za-z0-9_.*?\[\]+-]+")


@dataclass(frozen=True, slots=True)
class TestSelection:
    """Which tests run: farm cases by id glob; glibc in-tree tests by ``subdir/test`` glob,
    or whole subdirectories (``elf/``, or ``all`` of them) run by glibc's own ``make check``."""

    cases: tuple[str, ...]
    glibc: tuple[str, ...]
    #: The library's cases the ``cases`` globs select (`farm.cases.select_cases`); none
    #: without globs. Resolved once, when the scenario is loaded: the test items and the
    #: judge's selection read them here, and never load the case library again.
    selected_cases: tuple[Case, ...] = field(repr=False)

    @property
    def glibc_subdirs(self) -> tuple[str, ...]:
        """Subdirectories run whole (``elf``, no slash); ``("all",)`` for every one."""
        return tuple(e.rstrip("/") for e in self.glibc if e == ALL_SUBDIRS or e.endswith("/"))

    @property
    def glibc_globs(self) -> tuple[str, ...]:
        """The ``subdir/test`` globs run test by test."""
        return tuple(e for e in self.glibc if e != ALL_SUBDIRS and not e.endswith("/"))


@dataclass(frozen=True, slots=True)
class Configure:
    """What glibc's configure is given: options (``--disable-werror``) and variables
    (``CXX=false``), passed as ``VAR=VALUE`` arguments so configure records them."""

    flags: tuple[str, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()  # (name, value), sorted by name

    def merged(self, override: Configure) -> Configure:
        """These settings with ``override``'s flags appended and its variables winning."""
        variables = dict(self.variables) | dict(override.variables)
        return Configure(
            flags=(*self.flags, *override.flags), variables=tuple(sorted(variables.items()))
        )


@dataclass(frozen=True, slots=True)
class ScenarioToolchain:
    """A toolchain a scenario builds with, and what configure needs on it in particular
    (``CXX=false`` where the host's libstdc++ is newer than the glibc under test)."""

    toolchain: Toolchain
    configure: Configure
    where: str


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario file."""

    path: Path
    name: str
    description: str
    glibc_version: str
    source: GlibcSource
    prepare: tuple[PatchSource, ...]
    configure: tuple[str, ...]
    arches: tuple[Arch, ...]
    series: tuple[Series, ...]
    stacked: bool
    tests: TestSelection
    expectations: tuple[Expectation, ...]
    flaky: tuple[FlakyEntry, ...]
    timeout_factor: float
    configure_vars: tuple[tuple[str, str], ...] = ()  # for every toolchain
    toolchains: tuple[ScenarioToolchain, ...] = ()  # empty: the default toolchain only
    #: ``tests.shards``: how many CI jobs share each cell's tests (``farm matrix --format
    #: github``); 1 is one job per cell. What a job runs is ``--shard I/N``'s (farm.plan.shard).
    shards: int = 1

    @property
    def build_toolchains(self) -> tuple[ScenarioToolchain, ...]:
        """The toolchains to build with, the default one when the scenario names none."""
        if self.toolchains:
            return self.toolchains
        return (ScenarioToolchain(default_toolchain(), Configure(), where=str(self.path)),)

    @property
    def has_toolchain_axis(self) -> bool:
        """More than one toolchain: ids then carry the toolchain (with one they do not, so
        ids stay what they were before toolchains existed)."""
        return len(self.build_toolchains) > 1

    def configure_for(self, toolchain: Toolchain) -> Configure:
        """The scenario's configure settings merged with those of ``toolchain``."""
        common = Configure(flags=self.configure, variables=self.configure_vars)
        for entry in self.build_toolchains:
            if entry.toolchain == toolchain:
                return common.merged(entry.configure)
        raise KeyError(toolchain.name)

    @property
    def variants(self) -> tuple[str, ...]:
        """``baseline``, one per series, and ``stacked`` (all series in order) when asked."""
        names = [ids.BASELINE, *(series.name for series in self.series)]
        if self.stacked:
            names.append(ids.STACKED)
        return tuple(names)

    def series_named(self, name: str) -> Series:
        for series in self.series:
            if series.name == name:
                return series
        raise KeyError(name)

    def series_of_variant(self, variant: str) -> tuple[Series, ...]:
        """The series applied, in order, to build ``variant``."""
        if variant == ids.BASELINE:
            return ()
        if variant == ids.STACKED:
            return self.series
        return (self.series_named(variant),)

    def image_decisions(self) -> ImageDecisions:
        """What this scenario decides about its images, asked of it once."""
        return ImageDecisions(
            scenario=self,
            glibc_version=self.glibc_version,
            toolchains=tuple(
                (entry.toolchain, self.configure_for(entry.toolchain))
                for entry in self.build_toolchains
            ),
            arches=self.arches,
            series_of={
                variant: tuple(s.name for s in self.series_of_variant(variant))
                for variant in self.variants
            },
        )


@dataclass(frozen=True, slots=True)
class ImageDecisions:
    """What a scenario decides about its images, made once (`Scenario.image_decisions`) and
    handed to `farm.plan.render.render_plan`, which then never asks the scenario again, image by
    image; the build and the judge read which series a variant applies from here too.
    """

    scenario: Scenario  # only for the plan it is rendered into (`ImagePlan.scenario`)
    glibc_version: str
    #: Each toolchain built with, and configure's settings on it (the scenario's merged
    #: with the toolchain's own).
    toolchains: tuple[tuple[Toolchain, Configure], ...]
    arches: tuple[Arch, ...]
    #: Every variant, baseline first, to the names of the series it applies, in order.
    series_of: Mapping[str, tuple[str, ...]]


def with_extra_series(scenario: Scenario, url: str, *, origin: str) -> Scenario:
    """``scenario`` plus one series named ``extra`` fetched from ``url``.

    This is how a patch posted anywhere is tested without editing a scenario file (the
    GitHub workflow's "series URL" input). Its hash is locked on first fetch like any
    unpinned URL. ``origin`` names where the URL came from, for errors. A Message-ID
    (``<x@y>`` or ``x@y``) instead of a URL names a series posted to libc-alpha: its thread
    is taken from the public-inbox, as a scenario's ``message_id:`` series is.
    """
    if any(series.name == EXTRA_SERIES for series in scenario.series):
        raise ScenarioError(
            f"{origin}: {scenario.path} already has a series named '{EXTRA_SERIES}'; rename it"
        )
    source: PatchSource
    message_id = url.strip().removeprefix("<").removesuffix(">")
    if "://" not in url and _MESSAGE_ID_RE.fullmatch(message_id):
        source = ThreadPatches(message_id, DEFAULT_PUBLIC_INBOX, sha256=None)
        summary = f"extra series: the thread of <{message_id}> on {DEFAULT_PUBLIC_INBOX}"
    else:
        try:
            parsed = urllib.parse.urlparse(url)
        except ValueError:  # "http://[::1" and the like
            parsed = urllib.parse.urlparse("")
        if (
            parsed.scheme not in ("http", "https", "ftp", "file")
            or not parsed.path
            or any(c.isspace() for c in url)
            or control_character(url)
        ):
            raise ScenarioError(
                f"{origin}: expected an http(s), ftp or file URL of an mbox or a patch, or a "
                f"Message-ID (<x@example.com>), got {url!r}"
            )
        fmt = PatchFormat.MAIL if _MAIL_URL_RE.search(parsed.path) else PatchFormat.DIFF
        source = UrlPatches(url=url, sha256=None, format=fmt)
        summary = f"extra series from {url}"
    extra = Series(name=EXTRA_SERIES, summary=summary, source=source, where=origin)
    return replace(scenario, series=(*scenario.series, extra))


#: What ``--base`` takes: a commit id (7 to 40 hex digits, as git log abbreviates them).
_BASE_COMMIT_RE = re.compile(r"[0-9a-f]{7,40}")


def with_base(scenario: Scenario, commit: str, *, origin: str) -> Scenario:
    """``scenario`` with its git source's ref replaced by ``commit``.

    A scenario on a branch (``ref: master``) is judged on the commit the branch named when
    the run started, and every report and reproducer names that commit; ``--base COMMIT``
    is how that run is repeated on the same glibc once the branch has moved on.
    """
    if not isinstance(scenario.source, GitSource):
        raise ScenarioError(
            f"{origin}: {scenario.path}'s glibc source is {scenario.source.key}, not a git "
            "repository; a base commit is only for `glibc.source.git` scenarios"
        )
    if not _BASE_COMMIT_RE.fullmatch(commit):
        raise ScenarioError(
            f"{origin}: expected a commit id (7 to 40 lowercase hex digits), got {commit!r:.60}"
        )
    return replace(scenario, source=GitSource(url=scenario.source.url, ref=commit))


# --- loading ------------------------------------------------------------------------------


def load_scenario(path: Path) -> Scenario:
    """Load and validate one scenario file; every problem is a located ScenarioError."""
    root = Node.load(path)
    top = root.mapping(
        required=("name", "glibc", "arches", "tests"),
        optional=(
            "description",
            "series",
            "stacked",
            "expect",
            "flaky",
            "timeout_factor",
            "toolchains",
        ),
    )
    base_dir = path.parent
    name = _name(top["name"])
    glibc = top["glibc"].mapping(
        required=("version", "source"), optional=("prepare", "configure", "configure_vars")
    )
    version = glibc["version"].scalar_text()
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", version):
        glibc["version"].fail(f"expected a glibc version like '2.36', got {version!r}")
    source = _glibc_source(glibc["source"], base_dir)
    prepare_items = glibc["prepare"].sequence() if "prepare" in glibc else []
    prepare = tuple(_prepare_entry(item, base_dir, source) for item in prepare_items)
    common_configure = _configure(glibc)
    toolchains = _toolchains(top["toolchains"]) if "toolchains" in top else ()

    arches = _arches(top["arches"])
    series = _series_list(top["series"], base_dir, source) if "series" in top else ()
    stacked = top["stacked"].boolean() if "stacked" in top else False
    if stacked and len(series) < 2:
        top["stacked"].fail("a stacked variant needs at least two series")
    variants = (ids.BASELINE, *(s.name for s in series), *((ids.STACKED,) if stacked else ()))

    tests_map = top["tests"].mapping(optional=("cases", "glibc", "shards"))
    case_globs = tests_map["cases"].string_list() if "cases" in tests_map else ()
    glibc_tests = tests_map["glibc"].string_list() if "glibc" in tests_map else ()
    if not case_globs and not glibc_tests:
        top["tests"].fail("select at least one test: 'cases' globs or 'glibc' globs")
    if "glibc" in tests_map:
        _check_glibc_selection(tests_map["glibc"])
    tests = TestSelection(
        cases=case_globs,
        glibc=glibc_tests,
        selected_cases=_selected_cases(tests_map["cases"]) if "cases" in tests_map else (),
    )

    shards = (
        tests_map["shards"].integer(minimum=1, maximum=MAX_SHARDS) if "shards" in tests_map else 1
    )

    expectations = tuple(
        _expectation(item, variants, tests)
        for item in (top["expect"].sequence() if "expect" in top else [])
    )
    flaky = tuple(_flaky(item) for item in (top["flaky"].sequence() if "flaky" in top else []))
    timeout_factor = (
        top["timeout_factor"].number(minimum=0.1, maximum=MAX_TIMEOUT_FACTOR)
        if "timeout_factor" in top
        else 1.0
    )
    return Scenario(
        path=path,
        name=name,
        description=top["description"].string(multiline=True) if "description" in top else "",
        glibc_version=version,
        source=source,
        prepare=prepare,
        configure=common_configure.flags,
        configure_vars=common_configure.variables,
        toolchains=toolchains,
        arches=arches,
        series=series,
        stacked=stacked,
        tests=tests,
        expectations=expectations,
        flaky=flaky,
        timeout_factor=timeout_factor,
        shards=shards,
    )


def _name(node: Node) -> str:
    value = node.string()
    if not NAME_RE.fullmatch(value):
        node.fail(
            "expected a name of lowercase letters, digits, '.', '_' or '-' "
            f"(it becomes part of image tags and job names), got {value!r}"
        )
    return value


def _sha256(node: Node) -> str:
    value = node.scalar_text()
    if not SHA256_RE.fullmatch(value):
        detail = f"got {len(value)}" if re.fullmatch(r"[0-9a-fA-F]*", value) else "got non-hex"
        node.fail(f"sha256 must be 64 lowercase hex digits, {detail}: {value!r}")
    return value


def _url(node: Node) -> str:
    value = node.string()
    if not re.fullmatch(r"(https?|ftp)://[^\s/]+\S*", value):
        # Whitespace too: the URL is written into sources.list and passed to tools.
        node.fail(f"expected an http(s) or ftp URL without spaces, got {value!r}")
    try:
        # The fetcher parses it again; a bad host or port must fail here, with a line number.
        _ = urllib.parse.urlsplit(value).port
    except ValueError as error:
        node.fail(f"malformed URL {value!r}: {error}")
    return value


def _git_url(node: Node) -> str:
    """A repository URL or path for ``git clone``; never one git could take as an option.

    ``--upload-pack=...`` runs a command and ``--output=...`` writes a file, so a leading
    ``-`` is refused here, with the line, as well as passed after ``--`` by the fetcher;
    ``ext::`` and ``fd::`` transports run commands or read descriptors, and are refused too.
    """
    value = node.string()
    if value.startswith("-"):
        node.fail(f"a git URL may not start with '-' (git would read it as an option): {value!r}")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*::", value) or any(c.isspace() for c in value):
        node.fail(
            f"expected a git URL (https://, git://, ssh:// or a path) without spaces, got {value!r}"
        )
    return value


def _git_revision(node: Node, what: str) -> str:
    """A ref or range for git; a leading ``-`` would be read as an option."""
    value = node.string()
    if value.startswith("-") or any(c.isspace() for c in value):
        node.fail(f"a git {what} may not start with '-' or hold spaces, got {value!r}")
    return value


def _local_path(node: Node, base_dir: Path, *, directory: bool) -> Path:
    """A path relative to the scenario; it must exist now, so the error comes early."""
    path = _resolve(node, base_dir)
    try:
        found = path.is_dir() if directory else path.is_file()
    except OSError as error:  # a name too long for the file system, a permission
        node.fail(f"cannot use {path}: {error.strerror or error}")
    if not found:
        node.fail(f"no such {'directory' if directory else 'file'}: {path}")
    return path


def _resolve(node: Node, base_dir: Path) -> Path:
    """The absolute path ``node`` names; a symlink loop or an unusable name is its error."""
    given = node.string()
    try:
        return (base_dir / given).resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (Python 3.11)
        node.fail(f"cannot resolve {given!r}: {error}")


def _glibc_source(node: Node, base_dir: Path) -> GlibcSource:
    kind, value = node.one_of(("debian", "tarball", "git", "path"))
    if kind == "debian":
        fields = value.mapping(
            required=("version",), optional=("package", "dsc_sha256", "archive", "suite")
        )
        package = fields["package"].string() if "package" in fields else "glibc"
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", package):
            fields["package"].fail(
                f"expected a Debian source package name like 'glibc', got {package!r}"
            )
        suite = fields["suite"].string() if "suite" in fields else "bookworm"
        # It becomes a field of a sources.list line: one word, as Debian names suites.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", suite):
            fields["suite"].fail(
                f"expected a Debian suite like 'bookworm' or 'bookworm-backports', got {suite!r}"
            )
        version = fields["version"].scalar_text()
        if not re.fullmatch(r"[0-9][A-Za-z0-9.+~:-]*", version):
            fields["version"].fail(
                f"expected a Debian version like '2.36-9+deb12u4', got {version!r}"
            )
        return DebianSource(
            package=package,
            version=version,
            dsc_sha256=_sha256(fields["dsc_sha256"]) if "dsc_sha256" in fields else None,
            archive=_url(fields["archive"]) if "archive" in fields else DEFAULT_DEBIAN_ARCHIVE,
            suite=suite,
            where=fields["version"].where,
        )
    if kind == "tarball":
        fields = value.mapping(required=("url",), optional=("sha256",))
        return TarballSource(
            url=_url(fields["url"]),
            sha256=_sha256(fields["sha256"]) if "sha256" in fields else None,
        )
    if kind == "git":
        fields = value.mapping(required=("url", "ref"))
        return GitSource(url=_git_url(fields["url"]), ref=_git_revision(fields["ref"], "ref"))
    path = _resolve(value, base_dir)
    try:
        found = path.exists()
        kind_ok = path.is_file() or path.is_dir()
    except OSError as error:
        value.fail(f"cannot use {path}: {error.strerror or error}")
    if not found:
        value.fail(f"no such file or directory: {path}")
    if not kind_ok:  # /dev/zero, a FIFO, a socket: never read from
        value.fail(f"{path} is neither a glibc tarball nor a source directory")
    return PathSource(path=path)


_PATCH_KINDS = ("quilt", "mbox", "patch", "url", "message_id", "debian", "git")


def _patch_source(kind: str, value: Node, base_dir: Path) -> PatchSource:
    """One patch source given as ``kind: value`` (a prepare entry or a series' source key)."""
    if kind == "quilt":
        directory = _local_path(value, base_dir, directory=True)
        if not (directory / "series").is_file():
            value.fail(f"{directory} has no quilt 'series' file")
        return QuiltPatches(directory=directory)
    if kind == "mbox":
        return MboxPatches(path=_local_path(value, base_dir, directory=False))
    if kind == "patch":
        return DiffPatch(path=_local_path(value, base_dir, directory=False))
    if kind == "url":
        fields = value.mapping(required=("url",), optional=("sha256", "format"))
        fmt = fields["format"].string() if "format" in fields else "mail"
        if fmt not in ("mail", "diff"):
            fields["format"].fail(f"expected 'mail' (git am) or 'diff' (patch -p1), got {fmt!r}")
        return UrlPatches(
            url=_url(fields["url"]),
            sha256=_sha256(fields["sha256"]) if "sha256" in fields else None,
            format=PatchFormat(fmt),
        )
    if kind == "message_id":
        fields = value.mapping(required=("id",), optional=("archive", "sha256"))
        message_id = fields["id"].string().strip("<>")
        if not _MESSAGE_ID_RE.fullmatch(message_id):
            fields["id"].fail(f"expected a Message-ID like 'abc@example.com', got {message_id!r}")
        return ThreadPatches(
            message_id=message_id,
            archive=_url(fields["archive"]) if "archive" in fields else DEFAULT_PUBLIC_INBOX,
            sha256=_sha256(fields["sha256"]) if "sha256" in fields else None,
        )
    if kind == "debian":
        relative = value.string()
        if relative.startswith("/") or ".." in Path(relative).parts:
            value.fail(f"expected a path inside debian/patches/, got {relative!r}")
        return DebianPatch(path=relative)
    fields = value.mapping(required=("url", "range"))
    commit_range = _git_revision(fields["range"], "range")
    if not re.fullmatch(r"[^\s]*[^\s.]\.\.[^\s.][^\s]*", commit_range) or "..." in commit_range:
        fields["range"].fail(f"expected a commit range 'base..tip', got {commit_range!r}")
    return GitRangePatches(url=_git_url(fields["url"]), range=commit_range)


def _prepare_entry(node: Node, base_dir: Path, source: GlibcSource) -> PatchSource:
    kind, value = node.one_of(_PATCH_KINDS)
    patch_source = _patch_source(kind, value, base_dir)
    if isinstance(patch_source, DebianPatch) and not isinstance(source, DebianSource):
        value.fail("a 'debian' patch needs the glibc source to be a Debian source package")
    return patch_source


def _configure(fields: dict[str, Node]) -> Configure:
    """The ``configure`` options and ``configure_vars`` of a mapping (``glibc:`` or one
    ``toolchains:`` entry), each checked where it is written."""
    flags: list[str] = []
    for flag_node in fields["configure"].sequence() if "configure" in fields else []:
        flag = _configure_text(flag_node)
        if not flag.startswith("--"):
            flag_node.fail(
                f"expected a configure option starting with '--', got {flag!r} "
                "(variables such as CC=... go under 'configure_vars')"
            )
        if (owned := farm_configure_option(flag)) is not None:
            spelled = flag.split("=", 1)[0]
            named = owned if spelled == owned else f"{spelled} (configure reads it as {owned})"
            flag_node.fail(f"{named} is set by the farm (prefix /opt/glibc; host per arch)")
        flags.append(flag)
    variables: dict[str, str] = {}
    if "configure_vars" in fields:
        given = fields["configure_vars"].mapping(optional=CONFIGURE_VARIABLES)
        for name, value_node in given.items():
            if not _is_string(value_node):  # CXX: false would be YAML's boolean
                value_node.fail(
                    f"{name}: expected the value as a quoted string, like {name}: "
                    f'"{value_node.scalar_text()}"'
                )
            variables[name] = _configure_text(value_node, non_empty=False)
    return Configure(flags=tuple(flags), variables=tuple(sorted(variables.items())))


def _is_string(node: Node) -> bool:
    try:
        node.string(non_empty=False)
    except ScenarioError:
        return False
    return True


def _configure_text(node: Node, *, non_empty: bool = True) -> str:
    """A configure option or variable value: text on one line, no control characters, as it
    reaches a Dockerfile ``RUN`` line (quoted) and configure's command line."""
    value = node.string(non_empty=non_empty)
    if bad := _CONTROL_RE.search(value):
        node.fail(
            f"contains the control character {bad.group()!r}; configure options and variables "
            "must be one line of printable text"
        )
    return value


def _toolchains(node: Node) -> tuple[ScenarioToolchain, ...]:
    """``toolchains:``: release names, or mappings with a name and its own configure."""
    known = known_toolchains()
    result: list[ScenarioToolchain] = []
    for item in node.sequence(non_empty=True):
        if _is_string(item):
            name_node, configure = item, Configure()
        else:
            fields = item.mapping(required=("name",), optional=("configure", "configure_vars"))
            name_node, configure = fields["name"], _configure(fields)
        name = name_node.string()
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            name_node.fail(
                f"unknown toolchain {name!r}; {hint}the farm knows: {', '.join(known)} "
                "(Debian releases, listed in farm/data/toolchains.toml)"
            )
        for earlier in result:
            if earlier.toolchain.name == name:
                name_node.fail(f"toolchain {name!r} listed twice (first at {earlier.where})")
        result.append(ScenarioToolchain(known[name], configure, where=item.where))
    return tuple(result)


def _arches(node: Node) -> tuple[Arch, ...]:
    arches: list[Arch] = []
    for item in node.sequence(non_empty=True):
        text = item.string()
        try:
            arch = Arch(text)
        except ValueError:
            known = ", ".join(a.value for a in Arch)
            item.fail(f"unknown architecture {text!r}; the farm builds: {known}")
        if arch in arches:
            item.fail(f"architecture {text!r} listed twice")
        arches.append(arch)
    return tuple(arches)


def _series_list(node: Node, base_dir: Path, source: GlibcSource) -> tuple[Series, ...]:
    result: list[Series] = []
    for item in node.sequence():
        fields = item.mapping(required=("name",), optional=("summary", *_PATCH_KINDS))
        name = _name(fields["name"])
        if name in RESERVED_VARIANTS:
            fields["name"].fail(f"'{name}' is a variant the farm defines; choose another name")
        for earlier in result:
            if earlier.name == name:
                fields["name"].fail(f"duplicate series name (first at {earlier.where})")
        kinds = [key for key in fields if key in _PATCH_KINDS]
        if len(kinds) != 1:
            item.fail(
                f"expected exactly one patch source ({', '.join(_PATCH_KINDS)}), "
                f"given: {', '.join(kinds) or 'none'}"
            )
        patch_source = _patch_source(kinds[0], fields[kinds[0]], base_dir)
        if isinstance(patch_source, DebianPatch) and not isinstance(source, DebianSource):
            fields[kinds[0]].fail("a 'debian' patch needs the glibc source to be a Debian package")
        result.append(
            Series(
                name=name,
                summary=fields["summary"].string(multiline=True) if "summary" in fields else "",
                source=patch_source,
                where=item.where,
            )
        )
    return tuple(result)


def _expectation(node: Node, variants: tuple[str, ...], tests: TestSelection) -> Expectation:
    """One ``expect:`` entry, refused when it could never be met (so it could never fail):
    a variant or test glob that matches nothing this scenario runs, an unclosed ``[``, an
    unknown outcome or signal name."""
    import fnmatch

    fields = node.mapping(required=("variant", "test", "outcome"), optional=("arch",))
    variant = _glob(fields["variant"])
    if not any(fnmatch.fnmatchcase(v, variant) for v in variants):
        fields["variant"].fail(
            f"no variant matches {variant!r}; this scenario's variants: {', '.join(variants)}"
        )
    test = _glob(fields["test"])
    if not test.startswith(("farm/", "glibc/", "*")):
        fields["test"].fail(
            f"expected a test id starting with 'farm/' or 'glibc/' (globs allowed), got {test!r}"
        )
    outcome = fields["outcome"].string()
    crash = _CRASH_RE.fullmatch(outcome)
    if outcome not in EXPECTABLE and not crash:
        fields["outcome"].fail(
            f"unknown outcome {outcome!r}; expected one of {', '.join(EXPECTABLE)} "
            "or CRASH(SIGNAME)"
        )
    if crash and crash[1] not in _SIGNAL_NAMES:
        close = difflib.get_close_matches(crash[1], _SIGNAL_NAMES, n=2)
        fields["outcome"].fail(
            f"unknown signal {crash[1]!r} in {outcome!r}"
            + (f"; perhaps you meant {' or '.join(close)}?" if close else "")
        )
    _check_expected_test_runs(fields["test"], test, tests, absent=outcome == "absent")
    return Expectation(
        variant=variant,
        test=test,
        expected=outcome,
        arch=_arch(fields["arch"]) if "arch" in fields else None,
        where=node.where,
    )


#: Signal names a CRASH(...) expectation may name: what the runner can report.
_SIGNAL_NAMES = tuple(sorted(s.name for s in signal.Signals))


def _glob(node: Node) -> str:
    """A string used as an fnmatch glob; an unclosed ``[`` would match only itself."""
    text = node.string()
    if (problem := _unclosed_bracket(text)) is not None:
        node.fail(problem)
    return text


def _check_expected_test_runs(node: Node, test: str, tests: TestSelection, *, absent: bool) -> None:
    """A ``farm/`` expectation must name a case of the library and, unless it expects the test
    ``absent``, one the scenario runs; a ``glibc/`` one needs glibc tests selected at all (which
    of glibc's tests exist is known only in the tree)."""
    if test.startswith("glibc/") and not tests.glibc and not absent:
        node.fail(f"{test!r} can never be met: this scenario selects no glibc tests")
    if not test.startswith("farm/"):
        return
    library = [f"farm/{case.id}" for case in _case_library()]
    if not any(fnmatch.fnmatchcase(case_id, test) for case_id in library):
        close = difflib.get_close_matches(test, library, n=3)
        node.fail(
            f"{test!r} matches no case this scenario runs, nor any of the farm's case library, "
            "so it can never be met" + (f"; perhaps you meant {', '.join(close)}?" if close else "")
        )
    if absent:
        return
    selected = [f"farm/{case.id}" for case in tests.selected_cases]
    if not any(fnmatch.fnmatchcase(case_id, test) for case_id in selected):
        close = difflib.get_close_matches(test, selected, n=3)
        node.fail(
            f"{test!r} matches no case this scenario runs, so it can never be met"
            + (f"; perhaps you meant {', '.join(close)}?" if close else "")
        )


@functools.cache
def _case_library() -> tuple[Case, ...]:
    """The packaged case library, parsed once per process (~25 ms a parse)."""
    from farm import cases

    return cases.load_cases()


def _unclosed_bracket(glob: str) -> str | None:
    """Why ``glob`` has a ``[`` that fnmatch would take literally (no closing ``]``)."""
    index = 0
    while (index := glob.find("[", index)) != -1:
        end = index + 1
        if end < len(glob) and glob[end] == "!":
            end += 1
        if end < len(glob) and glob[end] == "]":
            end += 1
        end = glob.find("]", end)
        if end == -1:
            return (
                f"unclosed '[' in glob {glob!r}: the '[' at character {index + 1} is never "
                "closed, so it would match only a literal '['; close it or write [[] for a "
                "literal bracket"
            )
        index = end + 1
    return None


def _flaky(node: Node) -> FlakyEntry:
    fields = node.mapping(required=("test", "reason", "expires"), optional=("arch",))
    return FlakyEntry(
        test=_glob(fields["test"]),
        reason=fields["reason"].string(),
        expires=fields["expires"].date(),
        arch=_arch(fields["arch"]) if "arch" in fields else None,
        where=node.where,
    )


def _arch(node: Node) -> Arch:
    text = node.string()
    try:
        return Arch(text)
    except ValueError:
        node.fail(f"unknown architecture {text!r}; expected one of x86_64, i686")


def _check_glibc_selection(node: Node) -> None:
    """Each entry is a ``subdir/test`` glob, a whole ``subdir/`` or ``all``; no test may be
    selected both ways, which would run it twice in one cell."""
    whole: dict[str, str] = {}  # subdir (or "all") -> where it was selected
    entries = [(item, item.string()) for item in node.sequence()]
    for item, entry in entries:
        if entry == ALL_SUBDIRS or _GLIBC_SUBDIR_RE.fullmatch(entry):
            subdir = entry.rstrip("/")
            if subdir in whole or (whole and ALL_SUBDIRS in (subdir, *whole)):
                first = whole.get(subdir) or next(iter(whole.values()))
                item.fail(f"{entry!r} overlaps the subdirectories selected at {first}; keep one")
            whole[subdir] = item.where
        elif not _GLIBC_GLOB_RE.fullmatch(entry):
            item.fail(
                "expected a glibc test as 'subdir/test' (globs allowed), like "
                f"'elf/tst-dlmopen*', a whole subdirectory like 'elf/', or 'all'; got {entry!r}"
            )
    import fnmatch

    for item, entry in entries:
        if not entry.endswith("/") and entry != ALL_SUBDIRS:
            subdir_glob = entry.split("/", 1)[0]
            selected_at = whole.get(ALL_SUBDIRS) or next(
                (at for s, at in whole.items() if fnmatch.fnmatchcase(s, subdir_glob)), None
            )
            if selected_at:
                item.fail(
                    f"{entry!r} is already run with its whole subdirectory (selected at "
                    f"{selected_at}); remove one of them"
                )


def _selected_cases(node: Node) -> tuple[Case, ...]:
    """The cases of the farm's library the ``tests.cases`` globs in ``node`` select (none
    without a glob); every glob must select at least one."""
    from farm import cases

    library = _case_library()
    globs = []
    for glob_node in node.sequence():
        glob = glob_node.string()
        try:
            cases.select_cases(library, (glob,))
        except ScenarioError as error:
            glob_node.fail(str(error))
        globs.append(glob)
    return cases.select_cases(library, globs) if globs else ()
