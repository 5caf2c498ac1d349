"""Fetching what a ``farm try`` SERIES names (`farm.inputs.try_series.classify`) into one
revision of a series, with where it came from and the base it names, before anything else is made.

Everything here happens before the run directory exists, so a series that cannot be had (an
unknown patchwork id, a Message-ID the inbox does not have, a thread without patches, an
empty range, a range that is no ancestry, a missing file) is an error that leaves nothing
behind. Downloads go through `farm.inputs.sources.download` (bounded, into the cache's tmp, removed
once read); mails are read by `farm.inputs.series` (git's own mailsplit and mailinfo); git ranges
are made with ``git format-patch``, as the scenario's ``git`` series source makes them.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from farm import command
from farm.errors import NotFound, SeriesError, SourceError, UsageError
from farm.inputs import patchwork_config, series, sources, try_series
from farm.inputs.patchwork_api import ApiRoot, PatchworkClient
from farm.inputs.series import Revision
from farm.inputs.try_series import (
    GitRange,
    MessageId,
    PatchworkSeries,
    RemoteBranch,
    Resolver,
    SeriesArgument,
    SeriesFile,
)
from farm.plan.scenario import PatchFormat

#: Seconds for one patchwork API request.
PATCHWORK_TIMEOUT = 30.0
#: Seconds for one local git command (format-patch of a long range included).
GIT_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class FetchedSeries:
    """One revision of a series, fetched, with what the output says about it."""

    argument: SeriesArgument
    revision: Revision
    #: Where it came from and which revision, said to the user ("patchwork series 12 at ...").
    origin: str
    #: The commit the series says it is based on (its base-commit: trailer, a range's A).
    base: str | None
    base_origin: str
    #: A bare diff (not a mail): saved as a ``patch`` series, applied with ``patch -p1``.
    bare_diff: bool = False
    #: The range's tip commit (for a git range's series name).
    tip: str = ""


@dataclass(frozen=True, slots=True)
class TemplateGlibc:
    """The template's git glibc, as the cache mirrors it, and the revision a remote
    branch is taken to fork from (``--base``, else the template's ref)."""

    repository: Path
    url: str
    fork_from: str


@dataclass(frozen=True, slots=True)
class Where:
    """Where remote series are fetched from: the public-inbox, the patchwork API root, and
    the template's git glibc (for a remote branch), None when the template's is no git."""

    cache: sources.Cache
    inbox: str
    api_url: str | None
    progress: Callable[[str], None]
    glibc: TemplateGlibc | None = None


def fetch(argument: SeriesArgument, where: Where) -> FetchedSeries:
    """The series ``argument`` names, as one revision; a FarmError saying what is wrong."""
    if isinstance(argument, PatchworkSeries):
        return _patchwork(argument, where)
    if isinstance(argument, MessageId):
        return _thread(argument, where)
    if isinstance(argument, GitRange):
        return _git_range(argument)
    if isinstance(argument, SeriesFile):
        return _file(argument)
    return _remote_branch(argument, where)


def trailer_base(revision: Revision) -> tuple[str | None, str]:
    """The base a revision names by its ``base-commit:`` trailer, and where that came from."""
    return revision.base_commit, "the series' base-commit: trailer"


# --- patchwork ---------------------------------------------------------------------------


def _patchwork(argument: PatchworkSeries, where: Where) -> FetchedSeries:
    """A patchwork series' mbox (``/series/<id>/mbox/``), after asking its API (for a bare
    id) whether the series exists and is complete."""
    number = argument.series_id
    name = ""
    web_root = argument.web_root
    if web_root is None:
        api_url = where.api_url or patchwork_config.git_config("pw.server")
        if not api_url:
            raise UsageError(
                f"patchwork series {number}: no patchwork server; pass --api-url, set git "
                "config pw.server (as for git-pw, e.g. https://patchwork.sourceware.org/api/1.3) "
                "or give the series' URL"
            )
        root = ApiRoot.parse(api_url)
        info = PatchworkClient(root, None, PATCHWORK_TIMEOUT).series(number)
        if not info.complete:
            raise SourceError(
                f"patchwork series {number} ({info.name!r}) at {root.url()} is incomplete: "
                "patchwork has not received all its patches yet; try again later"
            )
        name = info.name
        web_root = try_series.web_root(root.url())
    mbox_url = f"{web_root}/series/{number}/mbox/"
    what = f"patchwork series {number}"
    try:
        data = _download(mbox_url, where, key=what)
    except NotFound:
        raise SourceError(
            f"{what}: patchwork at {web_root} has no such series ({mbox_url} answered not "
            "found); check the number on the series' page"
        ) from None
    revision = series.chosen_revision(data, what=what)
    shown = f" {name!r}" if name else ""
    origin = f"patchwork series {number}{shown} at {web_root}"
    if revision.other_versions:  # a patchwork series is one revision; say so if it is not
        origin += f": {_which(revision, 'in its mbox')}"
    return FetchedSeries(argument, revision, origin, *trailer_base(revision))


# --- a public-inbox thread -----------------------------------------------------------------


def _thread(argument: MessageId, where: Where) -> FetchedSeries:
    what = f"<{argument.message_id}>"
    url = sources.thread_mbox_url(where.inbox, argument.message_id)
    try:
        data = _download(url, where, key=what)
    except NotFound:
        raise SourceError(
            f"Message-ID {what} is not in {where.inbox} ({url} answered not found); check "
            "the id, or name the archive that has it with --inbox URL"
        ) from None
    mbox = sources.maybe_gunzip(data, what=what)
    try:
        revision = series.chosen_revision(mbox, what=what, mboxrd=True)
    except SeriesError as error:
        raise SeriesError(f"the thread of {what} in {where.inbox}: {error}") from None
    return FetchedSeries(
        argument, revision,
        f"the thread of {what} in {where.inbox}: {_which(revision, 'in the thread')}",
        *trailer_base(revision),
    )  # fmt: skip


def _which(revision: Revision, where: str) -> str:
    """Which revision of the series was taken: the newest, naming the others there."""
    others = ", ".join(f"v{v}" for v in revision.other_versions)
    if others:
        return f"v{revision.version}, the newest revision {where} (also there: {others})"
    return f"v{revision.version}, the only revision {where}"


def _download(url: str, where: Where, *, key: str) -> bytes:
    """``url``'s bytes (at most a series' size), with no file left behind."""
    path = sources.download(
        url, into=where.cache.root / "tmp", key=key, drop=where.cache.manual_drop(url),
        max_bytes=series.MAX_SERIES_BYTES, progress=where.progress,
    )  # fmt: skip
    try:
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


# --- a local git range ---------------------------------------------------------------------


def _git(repository: Path, *arguments: str) -> command.CommandOutcome:
    return command.run(["git", "-C", repository, *arguments], timeout=GIT_TIMEOUT)


def _commit(repository: Path, revision: str) -> str | None:
    found = _git(repository, "rev-parse", "--verify", "--quiet", "--end-of-options",
                 f"{revision}^{{commit}}")  # fmt: skip
    return found.output.strip() if found.ok and found.output.strip() else None


def git_resolver(repository: Path) -> Resolver:
    """Resolves a revision to its commit id in ``repository``, None if it has none such."""
    return lambda revision: _commit(repository, revision)


def _git_range(argument: GitRange) -> FetchedSeries:
    repository, shown = argument.repository, f"{argument.repository} {argument.range}"
    if not repository.is_dir():
        raise UsageError(f"{shown}: {repository} is no directory; give PATH A..B of a git clone")
    inside = _git(repository, "rev-parse", "--git-dir")
    if not inside.ok:
        raise UsageError(f"{shown}: {repository} is not a git repository")
    return _commits(argument, repository, argument.base, argument.tip, shown=shown)


def _commits(
    argument: SeriesArgument, repository: Path, base_name: str, tip_name: str, *, shown: str
) -> FetchedSeries:
    """The commits ``base_name..tip_name`` of ``repository`` as a series, refused when the
    range is empty, no ancestry, or holds merges (which format-patch would leave out)."""
    base, tip = _commit(repository, base_name), _commit(repository, tip_name)
    for given, commit in ((base_name, base), (tip_name, tip)):
        if commit is None:
            raise UsageError(f"{shown}: {given!r} is no commit in {repository}")
    assert base is not None and tip is not None
    if not _git(repository, "merge-base", "--is-ancestor", base, tip).ok:
        raise UsageError(
            f"{shown}: {base_name} is not an ancestor of {tip_name}, so the range is "
            f"not one line of history; give the fork point: "
            f"$(git -C {repository} merge-base {base_name} {tip_name})..{tip_name}"
        )
    counted = _git(repository, "rev-list", "--count", f"{base}..{tip}")
    merges = _git(repository, "rev-list", "--merges", f"{base}..{tip}")
    if counted.ok and counted.output.strip() == "0":
        raise UsageError(f"{shown}: the range is empty ({tip_name} is {base_name})")
    if merges.ok and merges.output.strip():
        first = merges.output.split()[0][:12]
        raise UsageError(
            f"{shown}: the range holds merge commits ({first}...), which git format-patch "
            "leaves out; give a range of plain commits (rebase it first)"
        )
    formatted = _git(repository, "format-patch", "--stdout", "--no-signature",
                     "--end-of-options", f"{base}..{tip}")  # fmt: skip
    if not formatted.ok:
        raise SourceError(f"{shown}: git format-patch failed:\n{formatted.tail(3)}")
    revision = series.chosen_revision(formatted.output.encode(), what=shown)
    count = len(revision.patches)
    return FetchedSeries(
        argument, revision,
        f"{shown}: {count} commit{'s' if count != 1 else ''} on {base[:12]}",
        base, "the range's base", tip=tip,
    )  # fmt: skip


# --- a remote branch ---------------------------------------------------------------------


def _remote_branch(argument: RemoteBranch, where: Where) -> FetchedSeries:
    """The commits of a remote branch since it forked from the template's glibc (a template
    whose glibc is no git source: `_branch_of_its_remote`).

    The branch is fetched into the cache's mirror of the template's repository (only the
    objects it lacks travel; no ref is written, FETCH_HEAD is read under the mirror's lock),
    so the fork point is found in one history: the series is ``merge-base..branch``."""
    shown = f"{argument.url} {argument.branch}"
    glibc = where.glibc
    if glibc is None:
        return _branch_of_its_remote(argument, where, shown=shown)
    with FileLock(str(glibc.repository) + ".flock", timeout=sources.GIT_TIMEOUT):
        where.progress(f"fetching {argument.branch} from {argument.url}")
        fetched = _git(glibc.repository, "fetch", "--quiet", "--no-tags", "--", argument.url,
                       f"refs/heads/{argument.branch}")  # fmt: skip
        if not fetched.ok:
            raise SourceError(
                f"{shown}: cannot fetch the branch:\n{fetched.tail(3)}\nCheck the URL and "
                "that the branch exists (git ls-remote URL)"
            )
        tip = _commit(glibc.repository, "FETCH_HEAD")
    if tip is None:
        raise SourceError(f"{shown}: git fetch wrote no FETCH_HEAD")
    fork = _git(glibc.repository, "merge-base", glibc.fork_from, tip)
    if not fork.ok or not fork.output.strip():
        raise UsageError(
            f"{shown}: the branch shares no history with {glibc.fork_from} of {glibc.url}; is "
            "it a branch of glibc?"
        )
    found = _commits(argument, glibc.repository, fork.output.strip(), tip, shown=shown)
    return dataclasses.replace(
        found,
        origin=f"{shown}: {found.origin.partition(': ')[2]} (forked from {glibc.fork_from})",
        base_origin=f"the branch's fork point from {glibc.fork_from}",
    )


#: Where a remote branch and its remote's HEAD go in a scratch repository.
_BRANCH_REF, _HEAD_REF = "refs/farm-try/branch", "refs/farm-try/head"


def _branch_of_its_remote(argument: RemoteBranch, where: Where, *, shown: str) -> FetchedSeries:
    """A remote branch for a template whose glibc is no git source (a Debian package, a
    tarball): there is no glibc history to fork from but the remote's own, so the series is
    the branch's commits since it forked from the remote's default branch (its ``HEAD``), as
    a ``users/*`` try branch forks from master. Both are fetched, whole, into a scratch
    repository in the cache's tmp, removed once the series is read."""
    scratch_root = where.cache.root / "tmp"
    scratch_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_root, prefix="branch-") as scratch:
        repository = Path(scratch)
        made = _git(repository, "init", "--quiet", "--bare")
        if not made.ok:
            raise SourceError(f"{shown}: git init failed in {repository}:\n{made.tail(3)}")
        where.progress(f"fetching {argument.branch} and HEAD from {argument.url}")
        fetched = _git(repository, "fetch", "--quiet", "--no-tags", "--", argument.url,
                       f"refs/heads/{argument.branch}:{_BRANCH_REF}",
                       f"HEAD:{_HEAD_REF}")  # fmt: skip
        if not fetched.ok:
            raise SourceError(
                f"{shown}: cannot fetch the branch and the remote's HEAD:\n{fetched.tail(3)}\n"
                "Check the URL and that the branch exists (git ls-remote URL)"
            )
        tip, head = _commit(repository, _BRANCH_REF), _commit(repository, _HEAD_REF)
        fork = _git(repository, "merge-base", _HEAD_REF, _BRANCH_REF)
        if tip is None or head is None or not fork.ok or not fork.output.strip():
            raise UsageError(
                f"{shown}: the branch shares no history with the remote's HEAD, so where it "
                "forks is unknown; give PATH A..B of a clone instead"
            )
        if fork.output.strip() == tip:
            raise UsageError(
                f"{shown}: {argument.branch} has no commits beyond where the remote's HEAD "
                "is (it is the default branch, or merged into it); give a branch that forks "
                "from it, or PATH A..B of a clone"
            )
        found = _commits(argument, repository, fork.output.strip(), tip, shown=shown)
    return dataclasses.replace(
        found,
        origin=f"{shown}: {found.origin.partition(': ')[2]} (forked from the remote's HEAD)",
        base_origin="the branch's fork point from the remote's HEAD",
    )


# --- a file --------------------------------------------------------------------------------

#: A mail or mbox: a ``From `` line or mail headers before the first diff line.
_MAIL_RE = re.compile(rb"\A(?:From |(?:[A-Za-z-]+: .*\n)*Subject: )")


def _file(argument: SeriesFile) -> FetchedSeries:
    path = argument.path
    if not path.exists():
        raise UsageError(
            f"{path}: no such file, and no patchwork id, Message-ID or PATH A..B either; give "
            "an mbox or patch file, a patchwork series id or URL, a Message-ID, or PATH A..B"
        )
    if path.is_dir():
        raise UsageError(f"{path} is a directory; for a git clone give PATH A..B")
    data = sources.read_local(path)
    if _MAIL_RE.match(data):
        revision = series.chosen_revision(data, what=str(path))
        origin = f"the mails of {path}"
        if revision.other_versions:
            origin += f": {_which(revision, 'in the file')}"
        return FetchedSeries(argument, revision, origin, *trailer_base(revision))
    (patch,) = series.single_diff(data, name=path.name)
    found = re.search(rb"^base-commit: ([0-9a-f]{40})\s*$", data, re.MULTILINE)
    revision = Revision(
        version=1, patches=(patch,), mails=(data,), cover_subject="",
        base_commit=found.group(1).decode() if found else None,
    )  # fmt: skip
    assert patch.format is PatchFormat.DIFF
    return FetchedSeries(
        argument, revision, f"the diff {path}", *trailer_base(revision), bare_diff=True
    )
