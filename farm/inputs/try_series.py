"""``farm try``'s decisions: what a SERIES argument names, which base it is tried on, which of
glibc's tests it gets, and the scenario made from a template to run it. Pure functions: what
they need from git or the network is passed in, so each rule can be tested alone and reads
the same from any caller (fetching is `farm.inputs.try_sources`, the command
`farm.commands.try_cmd`).

What SERIES may be (`classify`), in the order it is tried:

1. a patchwork series: its number (``12345``) or a URL with ``/series/12345/`` or
   ``?series=12345`` in it;
2. a Message-ID, ``<id@host>`` or ``id@host`` (no ``/``, no ``://``): its thread in a
   public-inbox;
3. two arguments: ``PATH A..B``, the commits ``A..B`` of the git repository at PATH, or
   ``URL BRANCH`` (a first argument with ``://`` or ``host:``), a remote branch: its commits
   since it forked from the template's git glibc (``--base``, else the template's ref), or,
   when the template's glibc is no git source, from the remote's own default branch (HEAD);
4. anything else is a file: an mbox, a mail or a bare diff.

The base (`choose_base`), first that applies:

1. ``--base COMMIT``: what the user asked for is never silently ignored (and it is how a
   run is repeated on the same commit). It needs a template whose glibc is a ``git`` source.
2. The series' own base (its ``base-commit:`` trailer, from ``git format-patch --base``, a
   git range's ``A``, a remote branch's fork point), when the template's glibc is ``git`` and
   its repository has that commit. When it does not (a local commit, a mirror older than the
   series), the template's ref is used instead and the output says so: a series usually
   still applies to the current head, and a refusal would block every series based on a
   commit not yet public.
3. The template's own glibc: a ``git`` ref is resolved to the commit it names now, so the
   made scenario repeats exactly (``farm watch`` gives its shared baseline instead, a commit
   the ref named up to N hours ago, so that a day's series share one build); a Debian
   package, tarball or path is used as it is (a series' base commit cannot be applied to
   those, and the output says it was not used).

The glibc tests (`select_glibc_tests`), from the files the series touches:

- ``elf/dl-open.c`` -> ``elf/``: a file in one of glibc's subdirectories (`GLIBC_SUBDIRS`,
  glibc's ``all-subdirs`` and the ``Subdirs`` its Linux sysdeps add) selects that subdirectory;
- ``sysdeps/.../nptl/x.c`` -> ``nptl/``: a sysdeps file selects the first component of its
  path that is a glibc subdirectory (``sysdeps/pthread`` counts as nptl's, ``ieee754`` and
  ``fpu`` as math's); ``sysdeps/.../dl-*.c`` (the dynamic linker's machine parts) selects
  ``elf/``; any other sysdeps file selects the wide set;
- headers (``include/``, ``bits/``), the build's own files (``Makerules``, ``Makeconfig``,
  ``Rules``, ``Makefile``, ``configure*``, ``config.h.in``, ``shlib-versions``, ``scripts/``)
  and files the farm does not know select `WIDE_SET`: what nearly every change of glibc's
  core can break;
- documentation (``NEWS``, ``manual/``, ``po/``, ``ChangeLog*``...) and the Hurd-only
  directories select nothing;
- ``--full`` selects ``all``: every subdirectory, glibc's whole testsuite.

The template's own ``tests.glibc`` (the glibc tests about what the farm is for: dlmopen,
rseq, ...) is kept beside them, and the farm's case families are the template's
``tests.cases``, unchanged.
"""

from __future__ import annotations

import copy
import fnmatch
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeAlias

import yaml

from farm import ids
from farm.errors import UsageError
from farm.inputs.series import MAX_SERIES_PATCHES
from farm.judging.gate import SeriesPatch
from farm.plan.scenario import ALL_SUBDIRS, NAME_RE, GitSource, GlibcSource

# --- what SERIES names -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatchworkSeries:
    """A patchwork series; ``web_root`` is the server named by a URL, None for a bare id
    (then the server is ``pw.server``'s)."""

    series_id: int
    web_root: str | None = None


@dataclass(frozen=True, slots=True)
class MessageId:
    """A mail of the series' thread, by Message-ID, without the angle brackets."""

    message_id: str


@dataclass(frozen=True, slots=True)
class GitRange:
    """Commits ``base..tip`` of a local repository."""

    repository: Path
    base: str
    tip: str

    @property
    def range(self) -> str:
        return f"{self.base}..{self.tip}"


@dataclass(frozen=True, slots=True)
class RemoteBranch:
    """A branch of a remote repository, tried from where it forks from the template's git
    glibc (or, for another template, from the remote's HEAD)."""

    url: str
    branch: str


@dataclass(frozen=True, slots=True)
class SeriesFile:
    """An mbox, a mail or a bare diff on disk."""

    path: Path


SeriesArgument: TypeAlias = PatchworkSeries | MessageId | GitRange | RemoteBranch | SeriesFile

_USAGE = (
    "SERIES is a patchwork series id or URL, a Message-ID (<id@host>), PATH A..B (a git "
    "range), URL BRANCH (a remote branch), or an mbox or patch file"
)
_SERIES_ID_RE = re.compile(r"[0-9]{1,12}")
_SERIES_IN_URL_RE = re.compile(r"/series/(?P<id>[0-9]{1,12})(?:/|$)")
#: A name ending so is a file even with an ``@`` in it (``fix@v2.patch``): no Message-ID.
_FILE_SUFFIXES = (".patch", ".diff", ".mbox", ".mbx", ".eml", ".txt", ".gz")
_MESSAGE_ID_RE = re.compile(r"<?(?P<id>[^\s<>@/]+@[^\s<>@/]+)>?")
_URL_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|[^/\s]+@[^/\s]+:)")
_RANGE_RE = re.compile(r"(?P<base>[^\s.][^\s]*?)\.\.(?P<tip>[^\s.][^\s]*)")


def classify(arguments: Sequence[str]) -> SeriesArgument:
    """What the SERIES argument(s) of ``farm try`` name, by their form alone (whether it
    exists is for the fetcher to find out); a UsageError says what was expected."""
    if not arguments or len(arguments) > 2:
        raise UsageError(f"expected SERIES or PATH RANGE, got {len(arguments)} arguments; {_USAGE}")
    for argument in arguments:
        if not argument.strip() or any(ord(c) < 32 or ord(c) == 127 for c in argument):
            raise UsageError(f"{argument!r} is empty or holds a control character; {_USAGE}")
    if len(arguments) == 2:
        return _two_arguments(arguments[0], arguments[1])
    (text,) = arguments
    if _SERIES_ID_RE.fullmatch(text):
        return PatchworkSeries(int(text))
    if text.startswith(("http://", "https://")):
        return _patchwork_url(text)
    if _URL_RE.match(text):
        raise UsageError(f"{text!r} is a repository URL; give its branch too: URL BRANCH")
    if (
        (found := _MESSAGE_ID_RE.fullmatch(text))
        and text.startswith("<") == text.endswith(">")
        and not text.endswith(_FILE_SUFFIXES)
    ):
        return MessageId(found.group("id"))
    if _RANGE_RE.fullmatch(text):
        raise UsageError(
            f"{text!r} looks like a git range; give the repository first: PATH {text} "
            f"(e.g. ~/src/glibc {text})"
        )
    return SeriesFile(Path(text))


def _patchwork_url(url: str) -> PatchworkSeries:
    """A patchwork URL naming a series: ``.../series/N/...`` (web or API) or ``?series=N``."""
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port
    except ValueError as error:
        raise UsageError(f"{url!r} is a malformed URL ({error}); {_USAGE}") from None
    query = urllib.parse.parse_qs(parts.query).get("series", [])
    in_path = _SERIES_IN_URL_RE.search(parts.path)
    if in_path:
        number, prefix = in_path.group("id"), parts.path[: in_path.start()]
    elif len(query) == 1 and _SERIES_ID_RE.fullmatch(query[0]):
        # /project/glibc/list/?series=N: the web root is what comes before /project/.
        number, prefix = query[0], parts.path.partition("/project/")[0]
    else:
        raise UsageError(
            f"{url!r} names no patchwork series (expected .../series/N/ or ?series=N); for an "
            "mbox at a URL, download it and give the file"
        )
    root = urllib.parse.urlunsplit((parts.scheme, parts.netloc, prefix, "", ""))
    return PatchworkSeries(int(number), web_root=web_root(root))


def web_root(url: str) -> str:
    """patchwork's web root from its API root or a URL below it (``.../api/1.3`` -> ``...``):
    where its pages, and ``/series/<id>/mbox/``, are."""
    return re.sub(r"/api(?:/[0-9.]+)?/?$", "", url.rstrip("/"))


def _two_arguments(first: str, second: str) -> SeriesArgument:
    if _URL_RE.match(first):
        if second.startswith("-") or any(c.isspace() for c in second):
            raise UsageError(f"{second!r} is no branch name; give URL BRANCH")
        return RemoteBranch(first, second)
    if first.startswith("-"):
        raise UsageError(f"{first!r} is no repository path; {_USAGE}")
    commits = _RANGE_RE.fullmatch(second)
    if commits is None or "..." in second or second.startswith("-"):
        raise UsageError(
            f"{second!r} is no commit range; give PATH A..B, e.g. {first} origin/master..HEAD"
        )
    return GitRange(Path(first).expanduser(), commits.group("base"), commits.group("tip"))


# --- the base ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BaseChoice:
    """The glibc a series is tried on, and why that one (for the output and the report).

    ``commit`` is the full commit id for a ``git`` template, None for one whose glibc is a
    Debian package, tarball or path (then the template's source is used as it is)."""

    commit: str | None
    reason: str


#: Resolves a revision to a full commit id in the template's glibc repository, None if
#: that repository does not have it.
Resolver = Callable[[str], str | None]


def check_requested_base(source: GlibcSource, requested: str | None) -> None:
    """``--base`` needs a template whose glibc is a git source (checked before anything is
    fetched, and again by `choose_base`)."""
    if requested is not None and not isinstance(source, GitSource):
        raise UsageError(
            f"--base {requested}: the template's glibc is {source.key}, not a git source; "
            "a commit can only be chosen in a template whose glibc.source is git"
        )


def choose_base(
    source: GlibcSource,
    *,
    series_base: str | None,
    series_base_origin: str,
    requested: str | None,
    resolve: Resolver | None,
    shared: BaseChoice | None = None,
) -> BaseChoice:
    """The base by the rules of this module's docstring. ``resolve`` is needed (and only
    called) for a ``git`` source; ``series_base_origin`` says where ``series_base`` came from
    ("its base-commit: trailer", "the range's base"). ``shared`` (``farm watch``'s shared
    baseline of a ``git`` template) stands for the template's ref in rule 3: it is not
    resolved again."""
    check_requested_base(source, requested)
    if not isinstance(source, GitSource):
        unused = (
            f"; the series' base {series_base[:12]} ({series_base_origin}) is not used: only a "
            "git source can be set to a commit"
            if series_base
            else ""
        )
        return BaseChoice(None, f"the template's glibc, {source.key}{unused}")
    if resolve is None:
        raise ValueError("a git template's base needs a resolver")  # a farm bug
    if requested is not None:
        commit = resolve(requested)
        if commit is None:
            raise UsageError(
                f"--base {requested}: {source.url} has no such commit; give a commit or ref of "
                "that repository"
            )
        return BaseChoice(commit, f"--base {requested}, {commit[:12]}")
    fallback = ""
    if series_base is not None:
        commit = resolve(series_base)
        if commit is not None:
            return BaseChoice(commit, f"{series_base_origin}, {commit[:12]}")
        fallback = (
            f"{series_base_origin} names {series_base[:12]}, which {source.url} does not have "
            "(a local commit, or a mirror older than the series); instead "
        )
    if shared is not None and shared.commit is not None:
        return BaseChoice(shared.commit, f"{fallback}{shared.reason}")
    commit = resolve(source.ref)
    if commit is None:
        raise UsageError(f"the template's ref {source.ref!r} is not in {source.url}")
    return BaseChoice(commit, f"{fallback}the template's ref {source.ref}, {commit[:12]}")


# --- which of glibc's tests ----------------------------------------------------------------

#: glibc's subdirectories with tests on Linux: Makeconfig's ``all-subdirs`` (glibc 2.43) and
#: the ``Subdirs`` files of Linux's sysdeps (nptl, nss, resolv, ...); ``crypt`` until 2.38.
GLIBC_SUBDIRS = frozenset((
    "argp", "assert", "catgets", "conform", "crypt", "csu", "ctype", "debug", "dirent", "dlfcn",
    "elf", "gmon", "gnulib", "hesiod", "iconv", "iconvdata", "inet", "intl", "io", "libio",
    "locale", "localedata", "login", "malloc", "math", "mathvec", "misc", "nis", "nptl",
    "nptl_db", "nscd", "nss", "posix", "resolv", "resource", "rt", "setjmp", "signal", "socket",
    "soft-fp", "stdio-common", "stdlib", "string", "sunrpc", "support", "sysvipc", "termios",
    "time", "timezone", "wcsmbs", "wctype",
))  # fmt: skip
#: sysdeps directories that belong to one subdirectory under another name: the thread tests
#: nptl and htl share (run in nptl/ on Linux), and the floating-point code of math/.
_SYSDEPS_ALIASES = {"pthread": "nptl", "ieee754": "math", "fpu": "math"}
#: Subdirectories of glibc without tests the farm can run on Linux.
_NO_TESTS = frozenset({"manual", "po", "htl", "hurd", "mach", "benchtests"})
#: Top-level files that are documentation: they select no test.
_DOCUMENTATION = (
    "NEWS", "README", "INSTALL", "MAINTAINERS", "CONTRIBUTED-BY", "COPYING*", "LICENSES",
    "ChangeLog*", "SECURITY.md", "SHARED-FILES", "*.md", ".gitattributes", ".gitignore",
)  # fmt: skip
#: What a change to glibc's headers or build, or to a file the farm cannot place, is run
#: against: startup and the dynamic linker (csu, elf, dlfcn), threads (nptl), memory and
#: strings (malloc, string), and the interfaces nearly every program uses (stdlib,
#: stdio-common, posix, misc). ``--full`` runs everything.
WIDE_SET = ("csu", "dlfcn", "elf", "malloc", "misc", "nptl", "posix", "stdio-common", "stdlib",
            "string")  # fmt: skip
_WIDE_FILES = ("Makerules", "Makeconfig", "Rules", "Makefile", "Makefile.in", "configure",
               "configure.ac", "config.h.in", "config.make.in", "shlib-versions", "version.h",
               "aclocal.m4")  # fmt: skip


@dataclass(frozen=True, slots=True)
class GlibcSelection:
    """The ``tests.glibc`` entries of the made scenario (``elf/``, or ``all``) and, for each
    file of the series, what it selected and why (the output and the report say it)."""

    entries: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def subdirs(self) -> tuple[str, ...]:
        """The subdirectories some of whose tests run: whole, or by a ``subdir/test`` glob."""
        return tuple(dict.fromkeys(entry.split("/", 1)[0] for entry in self.entries))


def subdirs_for_file(path: str) -> tuple[tuple[str, ...], str]:
    """The subdirectories whose tests a change to ``path`` is run against, and the rule."""
    parts = PurePosixPath(path).parts
    if not parts:
        return WIDE_SET, "an empty path: the wide set"
    top = parts[0]
    if len(parts) == 1:
        if any(fnmatch.fnmatchcase(top, glob) for glob in _DOCUMENTATION):
            return (), "documentation: no test"
        if top in _WIDE_FILES or top.startswith("configure"):
            return WIDE_SET, "the build's own file: the wide set"
        return WIDE_SET, "a top-level file the farm does not know: the wide set"
    if top in GLIBC_SUBDIRS:
        return (top,), f"in {top}/"
    if top in _NO_TESTS:
        return (), f"{top}/ has no tests the farm runs on Linux"
    if top == "sysdeps":
        for part in parts[1:-1]:
            if part in GLIBC_SUBDIRS:
                return (part,), f"sysdeps for {part}/"
            if part in _SYSDEPS_ALIASES:
                subdir = _SYSDEPS_ALIASES[part]
                return (subdir,), f"sysdeps/{part} is {subdir}/'s"
        if parts[-1].startswith("dl-"):
            return ("elf",), "the dynamic linker's sysdeps (dl-*): elf/"
        return WIDE_SET, "sysdeps shared by all of glibc: the wide set"
    if top in ("include", "bits"):
        return WIDE_SET, "an internal or installed header: the wide set"
    if top == "scripts":
        return WIDE_SET, "the build's scripts: the wide set"
    return WIDE_SET, f"{top}/ is no glibc subdirectory the farm knows: the wide set"


def select_glibc_tests(
    files: Iterable[str], *, full: bool, template: Sequence[str] = ()
) -> GlibcSelection:
    """``tests.glibc`` for a series touching ``files``, by the rules of the docstring, with
    the template's own ``tests.glibc`` kept (a ``subdir/test`` glob of a subdirectory now
    run whole goes, as the loader wants a test selected once)."""
    files = tuple(files)
    if full or ALL_SUBDIRS in template:
        why = "--full" if full else "the template's tests.glibc"
        return GlibcSelection((ALL_SUBDIRS,), (f"{why}: all of glibc's testsuite",))
    chosen: set[str] = set()
    reasons: list[str] = []
    for path in files:
        subdirs, why = subdirs_for_file(path)
        chosen.update(subdirs)
        selected = ", ".join(f"{s}/" for s in subdirs) if subdirs else "nothing"
        reasons.append(f"{path} -> {selected} ({why})")
    whole = [entry for entry in template if entry.endswith("/")]
    chosen.update(entry.rstrip("/") for entry in whole)
    reasons += [f"{entry} (the template's)" for entry in whole]
    kept: list[str] = []
    for glob in (entry for entry in template if not entry.endswith("/")):
        subdir_glob = glob.split("/", 1)[0]
        within = sorted(s for s in chosen if fnmatch.fnmatchcase(s, subdir_glob))
        if within:
            reasons.append(f"{glob} (the template's, run with {within[0]}/)")
        else:
            kept.append(glob)
            reasons.append(f"{glob} (the template's)")
    return GlibcSelection((*(f"{s}/" for s in sorted(chosen)), *kept), tuple(reasons))


# --- what was tried, for the reports ---------------------------------------------------------

#: Lines a try record may hold of one kind (the selection's reasons are one a file touched):
#: far more than any series, so a record with more is none ``farm try`` wrote.
MAX_TRY_RECORD_LINES = 20_000
_COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class TryRecord:
    """What ``farm try`` tried and why, as its output said it before the run: the template,
    the series (where from, which revision, its patches), the base and why, the glibc tests
    selected and why (a file's diffstat -> a subdirectory) and the farm's case families.

    Written into the run directory (`farm.rundir.RunDir.try_record`) with the made scenario,
    read back (validated, as every record there) by the report stage, which shows it as the
    reports' "Tried" section: a maintainer reading report.md sees what was run without
    opening the made scenario's comments. It is no evidence: the verdict is the gate's over
    the made scenario's records, whatever this says."""

    template: str
    #: The made scenario's one series: its name, which is its variant in the reports.
    series: str
    #: Where the series came from and which revision of it ("the thread of <id> ...: v2").
    origin: str
    patches: tuple[SeriesPatch, ...]
    #: The glibc commit tried (a git template), None when the template's glibc is a Debian
    #: package, tarball or path, used as it is.
    base_commit: str | None
    base_reason: str
    glibc_tests: tuple[str, ...]
    #: For each file of the series, what it selected and why; then the template's own.
    glibc_reasons: tuple[str, ...]
    cases: tuple[str, ...]

    def __post_init__(self) -> None:
        """Read back from disk it is untrusted: refuse what ``farm try`` never writes."""
        if not NAME_RE.fullmatch(self.series):
            raise ValueError(f"series: {self.series!r} is no series name")
        if self.base_commit is not None and not _COMMIT_RE.fullmatch(self.base_commit):
            raise ValueError(f"base_commit: {self.base_commit!r} is no full commit id")
        numbers = [patch.number for patch in self.patches]
        if numbers != list(range(1, len(numbers) + 1)) or len(numbers) > MAX_SERIES_PATCHES:
            raise ValueError(
                f"patches: expected 1 to {MAX_SERIES_PATCHES} patches numbered from 1 in "
                f"order, got numbers {numbers[:10]}"
            )
        for name in ("glibc_tests", "glibc_reasons", "cases"):
            if len(getattr(self, name)) > MAX_TRY_RECORD_LINES:
                raise ValueError(f"{name}: more than {MAX_TRY_RECORD_LINES} entries")


# --- the scenario made from the template ------------------------------------------------------

#: Keys of the template whose values are paths relative to the template's directory; the
#: made scenario lives in the run directory, so they are written out absolute.
_PATH_KINDS = ("quilt", "mbox", "patch", "path")


@dataclass(frozen=True, slots=True)
class SeriesEntry:
    """The one series of the made scenario: its name, summary and the file (beside the made
    scenario) that holds it, as ``mbox`` (mails, ``git am``) or ``patch`` (a bare diff)."""

    name: str
    summary: str
    kind: str  # "mbox" or "patch"
    file_name: str


def made_scenario(
    template: Mapping[str, Any],
    *,
    template_dir: Path,
    series: SeriesEntry,
    base: BaseChoice,
    selection: GlibcSelection,
    description: str,
) -> dict[str, Any]:
    """The template (its YAML as plain data) with its series replaced by ``series`` on
    ``base`` and ``selection``'s glibc tests (`select_glibc_tests`, given the template's);
    ``expect:`` entries that can only be about the template's other series, or about glibc
    tests not run, are dropped."""
    data = copy.deepcopy(dict(template))
    glibc = data["glibc"]
    source = glibc["source"]
    if base.commit is not None:
        source["git"]["ref"] = base.commit
    if "path" in source:
        source["path"] = _absolute(source["path"], template_dir)
    for entry in glibc.get("prepare") or []:
        for kind in _PATH_KINDS:
            if isinstance(entry, dict) and kind in entry:
                entry[kind] = _absolute(entry[kind], template_dir)
    data["description"] = description
    data["series"] = [
        {"name": series.name, "summary": series.summary, series.kind: series.file_name}
    ]
    data.pop("stacked", None)
    tests = data["tests"]
    if selection.entries:
        tests["glibc"] = list(selection.entries)
    else:
        tests.pop("glibc", None)
    variants = (ids.BASELINE, series.name)
    kept = [
        entry
        for entry in data.get("expect") or []
        if _expectation_applies(entry, variants, selection.subdirs)
    ]
    if kept:
        data["expect"] = kept
    else:
        data.pop("expect", None)
    return data


def _absolute(value: object, base: Path) -> object:
    return str((base / value).resolve()) if isinstance(value, str) else value


def _expectation_applies(
    entry: object, variants: tuple[str, ...], subdirs: tuple[str, ...]
) -> bool:
    """Whether an ``expect:`` entry speaks of a variant and a test the made scenario runs."""
    if not isinstance(entry, dict):
        return True  # the loader says what is wrong with it
    variant, test = str(entry.get("variant", "")), str(entry.get("test", ""))
    if not any(fnmatch.fnmatchcase(v, variant) for v in variants):
        return False
    if not test.startswith("glibc/"):
        return True
    subdir = test.removeprefix("glibc/").split("/", 1)[0]
    return ALL_SUBDIRS in subdirs or any(fnmatch.fnmatchcase(s, subdir) for s in subdirs)


def series_name(argument: SeriesArgument, *, version: int, tip: str = "") -> str:
    """The made scenario's series name, saying where it came from; it becomes the variant
    (and part of image tags), so it keeps to `farm.plan.scenario.NAME_RE`."""
    if isinstance(argument, PatchworkSeries):
        return f"patchwork-{argument.series_id}"
    if isinstance(argument, MessageId):
        return f"thread-v{version}"
    if isinstance(argument, GitRange):
        return f"range-{tip[:12]}" if tip else "range"
    if isinstance(argument, SeriesFile):
        stem = re.sub(r"[^a-z0-9._-]+", "-", argument.path.stem.lower()).strip("-._")
        return f"file-{stem[:40]}" if stem else "file"
    return "branch"


def scenario_yaml(data: Mapping[str, Any], *, template: Path, why: Sequence[str]) -> str:
    """The made scenario as YAML, opening with a comment on where it came from and why it
    is what it is (its base, its tests), for whoever opens the run directory later."""
    header = [
        f"# Made by `farm try` from the template {template}: the template with one series.",
        "# Repeat the run with: farm run THIS_FILE",
        *(f"# {line}" for line in why),
    ]
    body = yaml.dump(dict(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n" + body


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, writing text of several lines as a ``|`` block (the made
    scenario's description reads as the output did)."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text and not text.endswith((" ", "\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _text)
