"""Fetching glibc sources and patch series into a host-side cache keyed by sha256.

The cache is content-addressed (``blobs/<sha256>``), written atomically (a download lands in a
temporary file and is renamed only after its hash is checked), so a half-written file is
never taken for a good one and two farms may share a cache. A source whose hash the scenario
does not pin is recorded, on first successful fetch, in a lock file beside the scenario
(``<scenario>.lock``), as package managers do; a pinned or locked hash is always checked.

Offline, a URL fails with a message that says where to put the file by hand.

Each kind of patch source has one reader (`PATCH_READERS`) that fetches its bytes and hands
them to `farm.inputs.series` to parse, in one pass; `farm.inputs.series` never calls back here.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock

from farm import command
from farm.errors import NotFound, SourceError
from farm.inputs import debian_archive
from farm.inputs import series as series_mod
from farm.inputs.series import Patch
from farm.plan.scenario import (
    DebianPatch,
    DebianSource,
    DiffPatch,
    GitRangePatches,
    GitSource,
    MboxPatches,
    PatchFormat,
    PatchSource,
    PathSource,
    QuiltPatches,
    Scenario,
    TarballSource,
    ThreadPatches,
    UrlPatches,
)
from farm.yamlnode import control_character

T = TypeVar("T")

DOWNLOAD_TIMEOUT = 120.0
#: The largest glibc tarball accepted from a URL: releases are 20-50 MB compressed, so this
#: only stops a wrong URL or a hostile server from filling the disk.
MAX_TARBALL_BYTES = 512 << 20
APT_TIMEOUT = 600.0
#: The Debian archive's signing keys (package debian-archive-keyring, on Ubuntu too). apt
#: is told to trust only it for the archive when it is there; without it apt falls back on
#: the host's own trusted keys, which on a non-Debian host (a stock GitHub runner) do not
#: sign Debian's archive, and refuses it.
DEBIAN_ARCHIVE_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
GIT_TIMEOUT = 1800.0


#: What a file name in an image's build context may hold: it is written into a RUN line.
SAFE_FILE_NAME_RE = re.compile(r"[A-Za-z0-9_+~][A-Za-z0-9._+~-]{0,200}")


def context_file_name(raw: str) -> str:
    """``raw`` (the last part of a URL or path) as a name safe in a build context and a
    shell line: other characters become ``_``; the suffix (``.tar.xz``) stays for tar."""
    name = re.sub(r"[^A-Za-z0-9._+~-]", "_", raw).lstrip(".-")[-200:]
    return name if SAFE_FILE_NAME_RE.fullmatch(name) else "download"


def is_commit_id(ref: str) -> bool:
    """A full SHA-1 commit id: the one kind of git ref that cannot move."""
    return re.fullmatch(r"[0-9a-f]{40}", ref) is not None


def default_cache_dir() -> Path:
    if explicit := os.environ.get("FARM_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "glibc-farm"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Blob:
    """A cached file that goes into an image's build context."""

    name: str  # the file name it gets in the context
    sha256: str
    path: Path


@dataclass(frozen=True, slots=True)
class GlibcTree:
    """A glibc source ready for the source image: a tarball plus its preparation patches."""

    tarball: Blob
    prepare: tuple[Patch, ...]
    #: The commit a git source's ref named when it was fetched ("" for other sources): a
    #: branch such as ``master`` moves, so this is what a report and a rerun must name.
    commit: str = ""

    @property
    def sha256(self) -> str:
        return self.tarball.sha256


class Cache:
    """The content-addressed store under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(parents=True, exist_ok=True)

    def lookup(self, sha256: str, name: str) -> Blob | None:
        path = self.root / "blobs" / sha256
        return Blob(name, sha256, path) if path.is_file() else None

    def put_file(self, path: Path, name: str, *, expected: str | None = None, what: str) -> Blob:
        """Copy (or move, from the cache's tmp) a file in after checking its hash."""
        digest = sha256_file(path)
        if expected is not None and digest != expected:
            if path.parent == self.root / "tmp":
                path.unlink(missing_ok=True)  # a download of ours: no debris in the cache
            raise SourceError(
                f"{what}: sha256 mismatch\n  expected {expected}\n  got      {digest}\n"
                "The file changed upstream, the download was truncated, or the pin is wrong."
            )
        if (found := self.lookup(digest, name)) is not None:
            if path.parent == self.root / "tmp":
                path.unlink(missing_ok=True)  # a download of ours, already cached: no debris
            return found
        if path.parent == self.root / "tmp":
            return self._commit(path, digest, name)
        with tempfile.NamedTemporaryFile(dir=self.root / "tmp", delete=False) as stream:
            temporary = Path(stream.name)
        shutil.copyfile(path, temporary)
        return self._commit(temporary, digest, name)

    def _commit(self, temporary: Path, digest: str, name: str) -> Blob:
        final = self.root / "blobs" / digest
        os.replace(temporary, final)  # atomic: readers see no file or the whole file
        return Blob(name, digest, final)

    def manual_drop(self, url: str) -> Path:
        """Where a user may put a file that cannot be downloaded from here."""
        name = context_file_name(Path(urllib.parse.urlparse(url).path).name)
        return self.root / "downloads" / f"{sha256_bytes(url.encode())[:12]}-{name}"

    def work_dir(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


class LockFile:
    """``<scenario>.lock``: hashes of sources first fetched without a pinned sha256."""

    def __init__(self, scenario_path: Path) -> None:
        self.path = scenario_path.with_suffix(".lock")

    def read(self) -> dict[str, str]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SourceError(
                f"{self.path}: unreadable lock file ({error}); delete it to re-lock"
            ) from None
        hashes = data.get("sha256", {}) if isinstance(data, dict) else None
        if not isinstance(hashes, dict) or not all(isinstance(v, str) for v in hashes.values()):
            # Taken for empty, it would be overwritten by the next record: say so instead.
            raise SourceError(
                f"{self.path}: not a glibc-farm lock file (expected an object whose sha256 "
                'maps each source to its hash: {"sha256": {"KEY": "HEX"}}); delete it to re-lock'
            )
        return dict(hashes)

    def get(self, key: str) -> str | None:
        return self.read().get(key)

    def record(self, key: str, digest: str) -> None:
        with FileLock(str(self.path) + ".flock", timeout=60):
            hashes = self.read()
            if hashes.get(key) == digest:
                return
            hashes[key] = digest
            text = json.dumps(
                {
                    "comment": "Written by glibc-farm on first fetch of unpinned sources. "
                    "Commit it; a changed upstream file then fails its check.",
                    "sha256": dict(sorted(hashes.items())),
                },
                indent=2,
            )
            temporary = self.path.with_suffix(".lock.tmp")
            temporary.write_text(text + "\n", encoding="utf-8")
            os.replace(temporary, self.path)


class Fetcher:
    """Resolves a scenario's sources and series to cached blobs, fetching what is missing."""

    def __init__(
        self, cache: Cache, scenario: Scenario, *, progress: Callable[[str], None] | None = None
    ) -> None:
        self.cache = cache
        self.scenario = scenario
        self.lock = LockFile(scenario.path)
        self._progress = progress or (lambda _message: None)
        self._debian_dir: Path | None = None

    # -- glibc ----------------------------------------------------------------------------

    def glibc_tree(self) -> GlibcTree:
        source = self.scenario.source
        commit = ""
        if isinstance(source, GitSource):
            commit, tarball = self._git_archive(source)
        else:
            tarball = self._glibc_tarball(source)
        prepare: list[Patch] = []
        for patch_source in self.scenario.prepare:
            for patch in self.patches(patch_source, what="glibc.prepare"):
                prepare.append(Patch(len(prepare) + 1, patch.subject, patch.format, patch.content))
        return GlibcTree(tarball=tarball, prepare=tuple(prepare), commit=commit)

    def _glibc_tarball(self, source: DebianSource | TarballSource | PathSource) -> Blob:
        """The tarball of a source that names no commit (a git source is `_git_archive`'s)."""
        if isinstance(source, DebianSource):
            directory = self.debian_package(source)
            orig = sorted(directory.glob(f"{source.package}_*.orig.tar.*"))
            if not orig:
                raise SourceError(f"{source.key}: the source package has no .orig tarball")
            return self.cache.put_file(orig[0], context_file_name(orig[0].name), what=source.key)
        if isinstance(source, TarballSource):

            def tarball(blob: Blob) -> Blob:
                _refuse_non_tarball(blob.path, what=source.url)
                return blob

            return self.url_content(
                source.url, source.sha256, key=source.key, max_bytes=MAX_TARBALL_BYTES,
                read=tarball,
            )  # fmt: skip
        return self._path_tarball(source)

    def debian_package(self, source: DebianSource) -> Path:
        """The unpacked-to-files source package (.dsc, orig, debian tarball), verified."""
        directory = self.cache.work_dir("debian", f"{source.package}_{source.version}")
        expected = source.dsc_sha256 or self.lock.get(source.key)
        with FileLock(str(directory) + ".flock", timeout=APT_TIMEOUT):
            dscs = sorted(directory.glob("*.dsc"))
            if dscs and not (directory / ".verified").is_file() and _dsc_complete(dscs[0]):
                # Saved by hand (a version gone from the pool, or no network): taken as it
                # is, checked below like apt's. apt moves the .dsc in last, so a .dsc
                # without its files is an interrupted fetch and apt fetches again.
                _refuse_other_version(dscs[0], source)
                self._progress(f"using {dscs[0]}, saved by hand")
            elif not dscs or not (directory / ".verified").is_file():
                self._apt_source(source, directory)
                dscs = sorted(directory.glob("*.dsc"))
            dsc = dscs[0]
            digest = sha256_file(dsc)
            if expected is not None and digest != expected:
                raise SourceError(
                    f"{source.key}: sha256 of {dsc.name} does not match\n"
                    f"  expected {expected}\n  got      {digest}\n"
                    "Debian republished this version, or the pin is wrong."
                )
            _verify_dsc_files(dsc, what=source.key)
            if expected is None:  # only content that passed every check gets locked
                self.lock.record(source.key, digest)
        return directory

    def _apt_source(self, source: DebianSource, directory: Path) -> None:
        apt_dir = self.cache.work_dir(
            "apt", re.sub(r"[^A-Za-z0-9]+", "_", source.archive + source.suite)
        )
        (apt_dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (apt_dir / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        keyring = DEBIAN_ARCHIVE_KEYRING
        (apt_dir / "sources.list").write_text(sources_list_line(source, keyring), encoding="utf-8")
        options = [
            "-o", f"Dir::Etc::SourceList={apt_dir / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={apt_dir / 'lists'}",
            "-o", f"Dir::Cache::archives={apt_dir / 'archives'}",
            "-o", "Debug::NoLocking=1",
            "-o", "APT::Sandbox::User=root",
        ]  # fmt: skip
        self._progress(
            f"fetching Debian source {source.package}={source.version} from {source.archive}"
        )
        update = command.run(["apt-get", *options, "update"], timeout=APT_TIMEOUT)
        if not update.ok or "Err:" in update.output:
            if not keyring.is_file():
                raise SourceError(
                    f"{source.key}: apt cannot check the Debian archive {source.archive} "
                    f"({source.suite}): no Debian archive key is trusted here ({keyring} is "
                    "missing).\nInstall it: sudo apt-get install debian-archive-keyring (Ubuntu "
                    f"has the package too; `farm doctor` checks it).\napt said:\n{update.tail(5)}"
                )
            raise SourceError(
                f"{source.key}: cannot read the Debian archive {source.archive} ({source.suite}):\n"
                f"{update.tail(5)}\nIs the network up? Offline, copy the .dsc and its files into "
                f"{directory} by hand."
            )
        staging = Path(tempfile.mkdtemp(dir=self.cache.root / "tmp"))
        try:
            fetched = command.run(
                [
                    "apt-get",
                    *options,
                    "source",
                    "--download-only",
                    f"{source.package}={source.version}",
                ],
                timeout=APT_TIMEOUT,
                cwd=staging,
            )
            if not fetched.ok:
                available = command.run(
                    ["apt-cache", *options, "showsrc", source.package], timeout=120
                )
                listed = debian_archive.listed_versions(
                    available.output, source.package, source.archive
                )
                message = debian_archive.unfetchable_version(
                    source,
                    listed=listed,
                    pool=debian_archive.check_pool(listed),
                    apt_said=_apt_errors(fetched.output),
                    directory=directory,
                )
                raise SourceError(message)
            # The .dsc last: one without its files is then an interrupted move, never
            # taken for a set saved by hand.
            for path in sorted(staging.iterdir(), key=lambda p: p.suffix == ".dsc"):
                if path.is_file():
                    os.replace(path, directory / path.name)
            (directory / ".verified").write_text("apt-get source\n", encoding="utf-8")
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _git_archive(self, source: GitSource) -> tuple[str, Blob]:
        """The commit ``source.ref`` names and its tree as a tarball.

        A full commit id is fixed, so the mirror made once serves it forever. Any other ref
        (``master``, a tag, ``users/x/try``) is fetched from ``source.url`` first, so a
        branch is resolved when the run starts; the lock file then pins the tarball of that
        commit (``git:URL@COMMIT``), never of the branch, whose next commit is no mismatch.
        """
        repo = self.git_repository(source)
        resolved = command.run(
            [
                "git",
                "-C",
                repo,
                "rev-parse",
                "--verify",
                "--end-of-options",
                f"{source.ref}^{{commit}}",
            ],
            timeout=60,
        )
        if not resolved.ok:
            raise SourceError(f"{source.key}: ref {source.ref!r} not found in {source.url}")
        commit = resolved.output.strip()
        if commit != source.ref:
            self._progress(f"{source.ref} of {source.url} is commit {commit}")
        pinned = GitSource(source.url, commit).key
        archive = command.run(
            ["git", "-C", repo, "archive", "--format=tar.gz", f"--prefix=glibc-{commit[:12]}/",
             "-o", self.cache.root / "tmp" / f"{commit}.tar.gz", "--end-of-options", commit],
            timeout=GIT_TIMEOUT,
        )  # fmt: skip
        if not archive.ok:
            raise SourceError(f"{source.key}: git archive failed:\n{archive.tail(5)}")
        expected = self.lock.get(pinned)
        blob = self.cache.put_file(
            self.cache.root / "tmp" / f"{commit}.tar.gz", f"glibc-{commit[:12]}.tar.gz",
            expected=expected, what=pinned,
        )  # fmt: skip
        if expected is None:
            self.lock.record(pinned, blob.sha256)
        return commit, blob

    def git_repository(self, source: GitSource) -> Path:
        """The cache's mirror of a git glibc source, cloned on first use. A full commit id is
        fixed, so the mirror made once serves it forever; any other ref (``master``, a tag,
        ``users/x/try``) is fetched from ``source.url`` first, so that it names what it
        names now (``farm try`` resolves a template's branch here too)."""
        repo = self._git_mirror(source.url, key=source.key)
        if not is_commit_id(source.ref):
            self._progress(f"fetching {source.ref} from {source.url}")
            fetched = command.run(
                ["git", "-C", repo, "fetch", "--prune", "--quiet", "--", source.url,
                 "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                timeout=GIT_TIMEOUT,
            )  # fmt: skip
            if not fetched.ok:
                raise SourceError(
                    f"{source.key}: cannot fetch {source.ref!r} from {source.url}:\n"
                    f"{fetched.tail(3)}\nOffline? Give a commit the farm's mirror already "
                    f"has (`git -C {repo} log {source.ref}`) as `--base COMMIT` or as the ref."
                )
        return repo

    def _git_mirror(self, url: str, *, key: str) -> Path:
        repo = self.cache.root / "git" / sha256_bytes(url.encode())[:16]
        with FileLock(str(repo) + ".flock", timeout=GIT_TIMEOUT):
            if not (repo / "HEAD").is_file():
                self._progress(f"cloning {url}")
                cloned = command.run(
                    ["git", "clone", "--mirror", "--quiet", "--", url, repo], timeout=GIT_TIMEOUT
                )
                if not cloned.ok:
                    shutil.rmtree(repo, ignore_errors=True)
                    raise SourceError(
                        f"{key}: cannot clone {url}:\n{cloned.tail(3)}\n"
                        f"Offline? Clone it elsewhere and copy the mirror to {repo}."
                    )
        return repo

    def _path_tarball(self, source: PathSource) -> Blob:
        """A local tarball as it is, or a local tree packed deterministically.

        Only a regular file that is a tar archive, or a directory, is taken: a device, a
        FIFO or ``/etc/passwd`` is refused before anything is read from it.
        """
        what = source.key
        try:
            info = source.path.stat()
        except OSError as error:
            raise SourceError(f"{what}: cannot read: {error.strerror or error}") from None
        if stat.S_ISREG(info.st_mode):
            if info.st_size > MAX_TARBALL_BYTES:
                raise SourceError(_too_large(what, info.st_size, MAX_TARBALL_BYTES))
            _refuse_non_tarball(source.path, what=what)
            return self.cache.put_file(source.path, context_file_name(source.path.name), what=what)
        if not stat.S_ISDIR(info.st_mode):
            raise SourceError(
                f"{what}: {_file_kind(info.st_mode)}, not a glibc tarball or source tree"
            )
        fd, name = tempfile.mkstemp(dir=self.cache.root / "tmp", suffix=".tar.gz")
        temporary = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                pack_tree(source.path, out, what=what)
            return self.cache.put_file(temporary, "glibc-local.tar.gz", what=what)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    # -- patches --------------------------------------------------------------------------

    def patches(self, source: PatchSource, *, what: str) -> list[Patch]:
        """The ordered patches of one patch source, fetched and validated by the reader of
        its kind (`PATCH_READERS`), in one pass."""
        return PATCH_READERS[type(source)](self, source, what)

    def debian_file(self, source: DebianSource, member: str) -> bytes:
        directory = self.debian_package(source)
        tarballs = sorted(directory.glob(f"{source.package}_*.debian.tar.*"))
        if not tarballs:
            raise SourceError(f"{source.key}: no debian tarball in the source package")
        with tarfile.open(tarballs[0]) as archive:
            try:
                extracted = archive.extractfile(member)
            except KeyError:
                extracted = None
            if extracted is None:
                raise SourceError(f"{source.key}: the source package has no {member}")
            return extracted.read()

    def url_blob(self, url: str, pinned: str | None, *, key: str, max_bytes: int) -> Blob:
        """A URL's content from the cache, a manual drop, or the network; hash-checked, and
        refused when larger than ``max_bytes``."""
        return self.url_content(url, pinned, key=key, max_bytes=max_bytes, read=lambda b: b)

    def url_content(
        self, url: str, pinned: str | None, *, key: str, max_bytes: int, read: Callable[[Blob], T]
    ) -> T:
        """``url_blob``, then ``read`` (parse it, check it is a tarball) and its result.

        An unpinned hash is written to the lock file only once ``read`` accepted the
        content: content the farm refused must not stay locked, or fixing the file upstream
        or in the drop directory would then fail as a hash mismatch.
        """
        expected = pinned or self.lock.get(key)
        name = context_file_name(Path(urllib.parse.urlparse(url).path).name)
        if expected is not None and (cached := self.cache.lookup(expected, name)) is not None:
            return read(cached)
        drop = self.cache.manual_drop(url)
        if drop.is_file():
            if (size := drop.stat().st_size) > max_bytes:
                raise SourceError(_too_large(f"{key} ({drop})", size, max_bytes))
            blob = self.cache.put_file(drop, name, expected=expected, what=f"{key} ({drop})")
        else:
            temporary = self._download(url, key=key, drop=drop, max_bytes=max_bytes)
            blob = self.cache.put_file(temporary, name, expected=expected, what=key)
        result = read(blob)
        if expected is None:
            self.lock.record(key, blob.sha256)
        return result

    def _download(self, url: str, *, key: str, drop: Path, max_bytes: int) -> Path:
        return download(
            url, into=self.cache.root / "tmp", key=key, drop=drop, max_bytes=max_bytes,
            progress=self._progress,
        )  # fmt: skip


def thread_mbox_url(archive: str, message_id: str) -> str:
    """Where a public-inbox serves the thread of ``message_id`` as a gzipped mboxrd."""
    return f"{archive.rstrip('/')}/{urllib.parse.quote(message_id)}/t.mbox.gz"


# -- patch sources, one reader per kind --------------------------------------------------------

S = TypeVar("S")
#: A reader: a fetcher, a patch source of its kind and what to call it in errors, to patches.
PatchReader = Callable[[Fetcher, S, str], list[Patch]]
#: Each kind of patch source (`farm.plan.scenario.PatchSource`) and its reader. A reader fetches
#: the source's bytes (a file, a download, a member of the Debian package, a git range) and
#: hands them to `farm.inputs.series`, which only parses and checks bytes, in one pass; the reader's
#: kind is the table's key, so adding a kind means adding its reader, not a branch.
PATCH_READERS: dict[type[Any], PatchReader[Any]] = {}


def _reads(kind: type[S]) -> Callable[[PatchReader[S]], PatchReader[S]]:
    """Register the decorated function as the reader of ``kind``."""

    def register(reader: PatchReader[S]) -> PatchReader[S]:
        PATCH_READERS[kind] = reader
        return reader

    return register


@_reads(QuiltPatches)
def _quilt(_fetcher: Fetcher, source: QuiltPatches, _what: str) -> list[Patch]:
    """A quilt directory is read by its index: the names in ``series`` first (parsed by
    `farm.inputs.series`), then the files they name, from inside the directory only."""
    return _quilt_patches(source.directory)


@_reads(MboxPatches)
def _mbox(_fetcher: Fetcher, source: MboxPatches, _what: str) -> list[Patch]:
    return series_mod.patches_from_mbox(read_local(source.path), what=str(source.path))


@_reads(DiffPatch)
def _diff(_fetcher: Fetcher, source: DiffPatch, _what: str) -> list[Patch]:
    return series_mod.single_diff(read_local(source.path), name=source.path.name)


@_reads(UrlPatches)
def _url(fetcher: Fetcher, source: UrlPatches, _what: str) -> list[Patch]:
    def parse(blob: Blob) -> list[Patch]:
        data = maybe_gunzip(read_local(blob.path, what=source.url), what=source.url)
        if source.format is PatchFormat.DIFF:
            return series_mod.single_diff(data, name=source.url)
        return series_mod.patches_from_mbox(data, what=source.url)

    return fetcher.url_content(
        source.url, source.sha256, key=f"url:{source.url}",
        max_bytes=series_mod.MAX_SERIES_BYTES, read=parse,
    )  # fmt: skip


@_reads(ThreadPatches)
def _thread(fetcher: Fetcher, source: ThreadPatches, _what: str) -> list[Patch]:
    what = f"<{source.message_id}>"

    def parse(blob: Blob) -> list[Patch]:
        return series_mod.patches_from_mbox(
            maybe_gunzip(read_local(blob.path, what=what), what=what), what=what,
            root_message_id=source.message_id, mboxrd=True,
        )  # fmt: skip

    return fetcher.url_content(
        thread_mbox_url(source.archive, source.message_id), source.sha256,
        key=f"message-id:{source.message_id}", max_bytes=series_mod.MAX_SERIES_BYTES,
        read=parse,
    )  # fmt: skip


@_reads(DebianPatch)
def _debian(fetcher: Fetcher, source: DebianPatch, what: str) -> list[Patch]:
    glibc = fetcher.scenario.source
    if not isinstance(glibc, DebianSource):
        raise SourceError(f"{what}: a 'debian' patch needs a Debian glibc source")
    data = fetcher.debian_file(glibc, f"debian/patches/{source.path}")
    return series_mod.single_diff(data, name=source.path)


@_reads(GitRangePatches)
def _git_range(fetcher: Fetcher, source: GitRangePatches, _what: str) -> list[Patch]:
    repo = fetcher._git_mirror(source.url, key=f"git:{source.url}")
    formatted = command.run(
        [
            "git",
            "-C",
            repo,
            "format-patch",
            "--stdout",
            "--no-signature",
            "--end-of-options",
            source.range,
        ],
        timeout=GIT_TIMEOUT,
    )
    if not formatted.ok:
        raise SourceError(f"git:{source.url}: range {source.range} not found:\n{formatted.tail(3)}")
    return series_mod.patches_from_mbox(
        formatted.output.encode(), what=f"{source.url} {source.range}"
    )


def download(
    url: str,
    *,
    into: Path,
    key: str,
    drop: Path,
    max_bytes: int,
    progress: Callable[[str], None],
) -> Path:
    """``url``'s content in a new file in directory ``into``, at most ``max_bytes``; a
    SourceError (`NotFound` when the server answered 404 or 410) otherwise, leaving no file.
    ``drop`` is where a user may save the file by hand when this machine is offline."""
    if any(char.isspace() for char in url) or control_character(url):
        # http.client would refuse it too, but only after a temp file exists.
        raise SourceError(f"{key}: {url!r} is no URL: it holds spaces or control characters")
    progress(f"downloading {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "glibc-farm"})
    fd, name = tempfile.mkstemp(dir=into)
    temporary = Path(name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response,
        ):
            length = response.headers.get("Content-Length", "")
            declared = int(length) if length.isdigit() else None  # a bad one counts as none
            if declared is not None and declared > max_bytes:
                raise SourceError(_too_large(f"{key}: {url}", declared, max_bytes))
            copied = 0
            while chunk := response.read(1 << 20):
                copied += len(chunk)
                if copied > max_bytes:  # no or a false Content-Length: stop all the same
                    raise SourceError(_too_large(f"{key}: {url}", copied, max_bytes, "over "))
                out.write(chunk)
            if declared is not None and copied != declared:
                raise SourceError(f"{key}: truncated download ({copied} of {declared} bytes)")
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        temporary.unlink(missing_ok=True)
        reason = getattr(error, "reason", None) or error
        missing = isinstance(error, urllib.error.HTTPError) and error.code in (404, 410)
        raise (NotFound if missing else SourceError)(
            f"{key}: cannot download {url}: {reason}\n"
            f"Offline? Fetch it on a connected machine and save it as\n  {drop}\n"
            "then run the farm again (its sha256 is checked against the scenario or lock)."
        ) from None
    except BaseException:  # SourceError, and SIGTERM/Ctrl-C mid-download (KeyboardInterrupt)
        temporary.unlink(missing_ok=True)
        raise
    return temporary


#: A local tree's file larger than this is no glibc source (a sparse disk image, a core
#: dump): refused by its size before a byte of it is read.
MAX_TREE_FILE_BYTES = 256 << 20
#: All files of a local tree together: glibc's own tree is ~250 MB with its .git left out.
MAX_TREE_BYTES = 2 << 30
#: Magic numbers of what ``tar -xf`` unpacks: gzip, xz, bzip2, zstd, lzip.
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"\xfd7zXZ\x00", b"BZh", b"\x28\xb5\x2f\xfd", b"LZIP")


def pack_tree(root: Path, out: io.BufferedIOBase | io.BufferedWriter, *, what: str) -> None:
    """Write ``root`` as a tar.gz to ``out``, the same bytes for the same tree every time.

    Names sorted, owners 0, mtimes 0 (in the tar and in the gzip header), modes 0755 or
    0644 by whether the file is executable, hard links as plain files, ``.git`` left out:
    an unchanged tree gives the same hash and so the same image tags, run after run.
    A device, FIFO or socket, a file over ``MAX_TREE_FILE_BYTES``, or a symlink leading out
    of the tree is refused, naming it.
    """
    total = 0
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=1) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for directory, subdirs, files in os.walk(root, onerror=_walk_error(what)):
            subdirs[:] = sorted(d for d in subdirs if d != ".git")
            here = Path(directory)
            entries = [here] if here == root else []
            entries += [here / d for d in subdirs] + [here / f for f in sorted(files)]
            for path in entries:
                if path.name == ".git":
                    continue
                total += _add_to_tar(archive, root, path, what=what)
                if total > MAX_TREE_BYTES:
                    raise SourceError(
                        _too_large(f"{what}: the tree", total, MAX_TREE_BYTES, "over ")
                    )


def _add_to_tar(archive: tarfile.TarFile, root: Path, path: Path, *, what: str) -> int:
    """Add one entry of a tree with normalised metadata; the bytes of content added."""
    relative = path.relative_to(root)
    try:
        info = path.lstat()
    except OSError as error:
        raise SourceError(f"{what}: cannot read {path}: {error.strerror or error}") from None
    entry = tarfile.TarInfo("glibc" if relative == Path() else f"glibc/{relative.as_posix()}")
    entry.mtime, entry.uid, entry.gid, entry.uname, entry.gname = 0, 0, 0, "", ""
    if stat.S_ISDIR(info.st_mode):
        entry.type, entry.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(entry)
        return 0
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        inside = os.path.normpath(os.path.join(os.path.dirname(relative), target))
        if os.path.isabs(target) or inside == ".." or inside.startswith("../"):
            raise SourceError(
                f"{what}: {path} is a symlink to {target}, outside the tree; glibc's own "
                "tree has none such. Remove it"
            )
        entry.type, entry.mode, entry.linkname = tarfile.SYMTYPE, 0o777, target
        archive.addfile(entry)
        return 0
    if not stat.S_ISREG(info.st_mode):
        raise SourceError(
            f"{what}: {path} is {_file_kind(info.st_mode)}; a glibc tree holds only files, "
            "directories and symlinks. Remove it"
        )
    if info.st_size > MAX_TREE_FILE_BYTES:
        raise SourceError(
            f"{what}: {path} is {info.st_size} bytes, more than the {MAX_TREE_FILE_BYTES} a "
            "source file may have (a disk image or core dump?); remove it from the tree"
        )
    entry.type, entry.size = tarfile.REGTYPE, info.st_size
    entry.mode = 0o755 if info.st_mode & 0o111 else 0o644
    try:
        with path.open("rb") as stream:
            archive.addfile(entry, stream)
    except OSError as error:  # unreadable, or it shrank while being packed
        raise SourceError(f"{what}: cannot pack {path}: {error.strerror or error}") from None
    return info.st_size


def _walk_error(what: str) -> Callable[[OSError], None]:
    def fail(error: OSError) -> None:
        raise SourceError(f"{what}: cannot read {error.filename}: {error.strerror or error}")

    return fail


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
        stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket", stat.S_ISDIR: "a directory",
        stat.S_ISREG: "a regular file", stat.S_ISLNK: "a symlink",
    }  # fmt: skip
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def _refuse_non_tarball(path: Path, *, what: str) -> None:
    """Refuse a file that is no (compressed) tar archive, by its first bytes."""
    with path.open("rb") as stream:
        head = stream.read(512)
    if head.startswith(_COMPRESSED_MAGIC) or head[257:262] == b"ustar":
        return
    raise SourceError(
        f"{what}: not a tar archive (gzip, xz, bzip2, zstd or plain tar); expected a glibc "
        "release tarball or a glibc source tree"
    )


def _too_large(what: str, size: int, limit: int, qualifier: str = "") -> str:
    return (
        f"{what} is {qualifier}{size} bytes, more than the {limit} accepted; refusing it.\n"
        "Check the URL; nothing of it was cached."
    )


def _quilt_patches(directory: Path) -> list[Patch]:
    """A quilt directory's patches: only regular files that stay inside the directory.

    A ``series`` line like ``../x.patch`` is refused by the parser; a symlink
    (``0001.patch -> /etc/shadow``, or a linked subdirectory) is caught here, where the
    file system is, before anything is read through it.
    """
    where = str(directory)
    series_file = _inside(directory, "series")
    raw = read_local(series_file)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SourceError(
            f"{series_file}: not UTF-8 text (byte {error.start}); a quilt series file lists "
            "patch file names, one a line"
        ) from None
    if "\x00" in text:
        raise SourceError(f"{series_file}: contains NUL bytes; expected a quilt series file")
    names = series_mod.quilt_series_names(text, what=where)
    contents: dict[str, bytes] = {}
    size = 0
    for name in names:
        path = _inside(directory, name)
        if not path.exists():
            raise SourceError(f"{where}/series names {name!r}, which does not exist")
        if name not in contents:
            contents[name] = read_local(path)
            size += len(contents[name])
        if size > series_mod.MAX_SERIES_BYTES:
            break  # the parser refuses it, naming the patch; nothing more is read
    return series_mod.patches_from_quilt(names, contents, what=where)


def _inside(directory: Path, name: str) -> Path:
    """``directory/name`` if it resolves inside ``directory``, else a SourceError."""
    path = directory / name
    try:
        resolved = path.resolve()
        inside = resolved.is_relative_to(directory.resolve())
    except (OSError, RuntimeError, ValueError) as error:  # RuntimeError: a symlink loop
        raise SourceError(f"{path}: cannot resolve: {error}; refusing the series") from None
    if not inside:
        via = f"a symlink to {resolved}" if path.is_symlink() else f"resolves to {resolved}"
        raise SourceError(f"{path}: {via}, outside the quilt directory {directory}; refusing")
    return path


def read_local(path: Path, *, what: str | None = None) -> bytes:
    """A patch file's bytes; a device, a FIFO or more than a series may hold is refused
    before reading (``mbox: /dev/zero`` must not fill the memory)."""
    shown = what or str(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(f"{shown}: not a regular file; expected a patch or an mbox")
        if info.st_size > series_mod.MAX_SERIES_BYTES:
            raise SourceError(
                f"{shown}: {info.st_size} bytes is larger than any real series "
                f"(limit {series_mod.MAX_SERIES_BYTES}); refusing"
            )
        return path.read_bytes()
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise SourceError(f"{shown}: cannot read: {reason}") from None


def maybe_gunzip(data: bytes, *, what: str) -> bytes:
    """``data`` decompressed if it is gzip, never to more than a series may hold."""
    if data[:2] != b"\x1f\x8b":
        return data
    limit = series_mod.MAX_SERIES_BYTES
    out: list[bytes] = []
    size = 0
    try:
        while data:  # a .gz may hold several members, one after the other
            member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            out.append(member.decompress(data, limit + 1 - size))
            size += len(out[-1])
            if size > limit:
                raise SourceError(
                    f"{what}: decompresses to more than {limit} bytes, larger than any real "
                    "series; refusing"
                )
            if not member.eof:
                raise SourceError(f"{what}: corrupt gzip data: truncated")
            data = member.unused_data.lstrip(b"\x00")  # gzip tolerates zero padding too
    except zlib.error as error:
        raise SourceError(f"{what}: corrupt gzip data: {error}") from None
    return b"".join(out)


def sources_list_line(source: DebianSource, keyring: Path) -> str:
    """The one ``deb-src`` line of a source's private apt configuration.

    Signed by the Debian archive keyring when it is there. A snapshot.debian.org archive
    is taken with ``check-valid-until=no``, as snapshot.debian.org says to: its Release
    files are the archive's of that day, their Valid-Until long past; the signature is
    still checked, and a pinned version's files are what Debian signed then.
    """
    options = [f"signed-by={keyring}"] if keyring.is_file() else []
    if debian_archive.is_snapshot(source.archive):
        options.append("check-valid-until=no")
    shown = f"[{' '.join(options)}] " if options else ""
    return f"deb-src {shown}{source.archive} {source.suite} main\n"


def _apt_errors(output: str) -> str:
    """apt's ``E:`` lines (each names what failed and why), or its last lines when it
    printed none: what failed, without the progress around it."""
    lines = output.rstrip().splitlines()
    errors = [line for line in lines if line.startswith("E:")]
    return "\n".join(errors[-6:] if errors else lines[-3:])


def _dsc_checksums(dsc: Path, *, what: str) -> list[tuple[str, str]]:
    """(sha256, file name) of every file a .dsc lists in its Checksums-Sha256 field."""
    text = dsc.read_text(encoding="utf-8", errors="replace")
    block = re.search(r"^Checksums-Sha256:\n((?:[ \t].*\n?)+)", text, re.MULTILINE)
    if block is None:
        raise SourceError(f"{what}: {dsc.name} has no Checksums-Sha256 field")
    return [
        (fields[0], fields[2])
        for fields in (line.split() for line in block.group(1).splitlines())
        if len(fields) == 3
    ]


def _dsc_complete(dsc: Path) -> bool:
    """Every file the .dsc lists is beside it (a set saved by hand, or moved in whole)."""
    try:
        return all((dsc.parent / name).is_file() for _, name in _dsc_checksums(dsc, what=""))
    except SourceError:
        return False


def _refuse_other_version(dsc: Path, source: DebianSource) -> None:
    """A .dsc saved by hand is of the pinned version, not one saved in the wrong place."""
    text = dsc.read_text(encoding="utf-8", errors="replace")
    found = re.search(r"^Version: *(\S+)", text, re.MULTILINE)
    if found is None or found.group(1) != source.version:
        where = f"{source.where}: " if source.where else ""
        what = f"of version {found.group(1)}" if found else "no .dsc"
        raise SourceError(
            f"{where}{source.key}: {dsc} is {what}, not {source.version}; remove it, or save "
            f"the {source.version} one there"
        )


def _verify_dsc_files(dsc: Path, *, what: str) -> None:
    """Check every file a .dsc lists against its Checksums-Sha256 field."""
    for digest, name in _dsc_checksums(dsc, what=what):
        path = dsc.parent / name
        if not path.is_file():
            raise SourceError(f"{what}: {name}, listed in {dsc.name}, is missing")
        if sha256_file(path) != digest:
            path.unlink()
            (dsc.parent / ".verified").unlink(missing_ok=True)
            raise SourceError(
                f"{what}: {name} does not match its sha256 in {dsc.name}; removed it, run again"
            )
