"""A pinned Debian version that apt cannot fetch, against a real apt and a loopback archive.

The archive is what Debian's is, on 127.0.0.1: a ``Sources`` index under
``dists/sid/main/source/``, an ``InRelease`` clear-signed with a key made for the session
(apt checks it: the farm's ``signed-by`` names that key instead of Debian's), and a pool
served by ``http.server``, which answers 404 for a file that is not there, as
deb.debian.org does for a version that left the pool while the index still lists it.

Versions in the index: 2.36-1 and 2.36-3 have their files; 2.36-2 and 2.36-4 are listed
but their .dsc and debian tarball are gone, as glibc 2.43-5 in sid on the day issue 21
was written; 2.36-5's debian tarball in the pool is not the one the index lists.
"""

from __future__ import annotations

import email.utils
import functools
import gzip
import hashlib
import io
import lzma
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from farm.errors import SourceError
from farm.inputs import sources
from farm.inputs.sources import Cache, Fetcher, sources_list_line
from farm.plan.scenario import DebianSource, load_scenario

SUITE = "sid"
POOL = "pool/main/g/glibc"
LISTED = ("2.36-1", "2.36-2", "2.36-3", "2.36-4", "2.36-5")
GONE = ("2.36-2", "2.36-4")
CORRUPT = "2.36-5"  # its debian tarball in the pool is not the one the index lists

pytestmark = pytest.mark.skipif(
    shutil.which("apt-get") is None or shutil.which("gpg") is None,
    reason="needs apt-get and gpg (a Debian or Ubuntu host)",
)


@dataclass(frozen=True, slots=True)
class LoopbackArchive:
    url: str  # http://127.0.0.1:PORT/debian
    keyring: Path  # the key that signs its InRelease
    saved: Path  # every version's files, kept aside as a snapshot mirror would have them
    refuse_head: threading.Event  # set: HEAD answers 501, so the pool cannot be checked


def _tar_xz(members: dict[str, bytes]) -> bytes:
    """A small, deterministic tar.xz (what a source package's tarballs are)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return lzma.compress(raw.getvalue())


def _checksums(field: str, algorithm: str, files: dict[str, bytes]) -> str:
    lines = (
        f" {hashlib.new(algorithm, data).hexdigest()} {len(data)} {name}"
        for name, data in files.items()
    )
    return f"{field}:\n" + "\n".join(lines) + "\n"


def _source_package(version: str) -> tuple[dict[str, bytes], str]:
    """A version's pool files (.dsc first) and its stanza in the Sources index."""
    upstream = version.split("-")[0]
    files = {
        f"glibc_{upstream}.orig.tar.xz": _tar_xz({f"glibc-{upstream}/README": b"glibc\n"}),
        f"glibc_{version}.debian.tar.xz": _tar_xz(
            {"debian/changelog": f"glibc ({version}) unstable; urgency=medium\n".encode()}
        ),
    }
    head = (
        f"Format: 3.0 (quilt)\nSource: glibc\nBinary: libc6\nArchitecture: any\n"
        f"Version: {version}\nMaintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\n"
    )
    dsc = head + _checksums("Checksums-Sha256", "sha256", files) + _checksums("Files", "md5", files)
    every = {f"glibc_{version}.dsc": dsc.encode(), **files}
    stanza = (
        head.replace("Source: glibc", "Package: glibc")
        + f"Directory: {POOL}\n"
        + _checksums("Files", "md5", every)
        + _checksums("Checksums-Sha256", "sha256", every)
    )
    return every, stanza


def _gpg(home: Path, *args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--quiet", *args],
        input=stdin, capture_output=True, check=True, timeout=120,
    ).stdout  # fmt: skip


def _stop_agent(home: Path) -> None:
    """Stop the gpg-agent gpg started for ``home``, and remove ``home``."""
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
        check=False, timeout=60,
    )  # fmt: skip
    shutil.rmtree(home, ignore_errors=True)


def _build_archive(root: Path, home: Path) -> tuple[Path, Path]:
    """The archive's tree under ``root/debian``, signed with a new key in ``home``."""
    debian = root / "debian"
    pool = debian / POOL
    saved = root / "saved"
    pool.mkdir(parents=True)
    saved.mkdir()
    stanzas = []
    for version in LISTED:
        files, stanza = _source_package(version)
        stanzas.append(stanza)
        for name, data in files.items():
            (saved / name).write_bytes(data)
            if not (version in GONE and not name.endswith(".orig.tar.xz")):
                (pool / name).write_bytes(data)  # a gone version keeps only its shared orig
            if version == CORRUPT and name.endswith(".debian.tar.xz"):
                (pool / name).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size
    index = ("\n".join(stanzas)).encode()
    source_dir = debian / "dists" / SUITE / "main" / "source"
    source_dir.mkdir(parents=True)
    indices = {"main/source/Sources": index, "main/source/Sources.gz": gzip.compress(index)}
    for name, data in indices.items():
        (debian / "dists" / SUITE / name).write_bytes(data)
    release = (
        f"Origin: Debian\nLabel: Debian\nSuite: unstable\nCodename: {SUITE}\n"
        f"Date: {email.utils.formatdate(usegmt=True)}\nArchitectures: amd64\n"
        "Components: main\n" + _checksums("SHA256", "sha256", indices)
    )
    (debian / "dists" / SUITE / "Release").write_text(release)
    _gpg(home, "--passphrase", "", "--quick-gen-key", "farm test archive <a@127.0.0.1>",
         "ed25519", "sign", "never")  # fmt: skip
    signed = _gpg(home, "--clearsign", "--output", "-", stdin=release.encode())
    (debian / "dists" / SUITE / "InRelease").write_bytes(signed)
    keyring = root / "archive-keyring.gpg"
    keyring.write_bytes(_gpg(home, "--export"))
    return keyring, saved


class _Pool(SimpleHTTPRequestHandler):
    """The archive's files; HEAD refused (501) while the archive's ``refuse_head`` is set,
    as a proxy that passes only GET might."""

    refuse_head = threading.Event()

    def do_HEAD(self) -> None:
        if self.refuse_head.is_set():
            self.send_error(501)
        else:
            super().do_HEAD()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackArchive]:
    root = tmp_path_factory.mktemp("archive")
    home = Path(tempfile.mkdtemp(prefix="gpg", dir="/tmp"))  # short: gpg-agent's socket
    home.chmod(0o700)
    try:
        keyring, saved = _build_archive(root, home)
    finally:
        _stop_agent(home)
    handler = functools.partial(_Pool, directory=str(root))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}/debian"
        yield LoopbackArchive(url, keyring, saved, _Pool.refuse_head)
        httpd.shutdown()


@pytest.fixture
def refuse_head(archive: LoopbackArchive) -> Iterator[None]:
    archive.refuse_head.set()
    yield
    archive.refuse_head.clear()


def _fetcher(
    tmp_path: Path, archive: LoopbackArchive, version: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Fetcher, DebianSource]:
    monkeypatch.setattr(sources, "DEBIAN_ARCHIVE_KEYRING", archive.keyring)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "name: vanish\nglibc:\n  version: '2.36'\n  source:\n    debian:\n"
        f"      package: glibc\n      version: {version}\n      archive: {archive.url}\n"
        f"      suite: {SUITE}\narches: [x86_64]\ntests:\n  glibc: [elf/tst-dlmopen1]\n"
    )
    loaded = load_scenario(scenario)
    assert isinstance(loaded.source, DebianSource)
    return Fetcher(Cache(tmp_path / "cache"), loaded), loaded.source


def _unfetchable(fetcher: Fetcher, source: DebianSource) -> str:
    with pytest.raises(SourceError) as raised:
        fetcher.debian_package(source)
    # Nothing half-fetched stays to be taken for the package, nothing is locked.
    assert not list(fetcher.cache.root.rglob("*.dsc"))
    assert not list(fetcher.cache.root.rglob(".verified"))
    assert not any((fetcher.cache.root / "tmp").iterdir())
    assert fetcher.lock.get(source.key) is None
    return str(raised.value)


def test_a_listed_version_whose_files_are_there_is_fetched(
    tmp_path: Path, archive: LoopbackArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher, source = _fetcher(tmp_path, archive, "2.36-1", monkeypatch)
    directory = fetcher.debian_package(source)
    assert directory == tmp_path / "cache" / "debian" / "glibc_2.36-1"
    assert (directory / "glibc_2.36-1.dsc").read_bytes() == (
        archive.saved / "glibc_2.36-1.dsc"
    ).read_bytes()
    assert (directory / "glibc_2.36.orig.tar.xz").is_file()
    assert (
        fetcher.lock.get(source.key)
        == hashlib.sha256((directory / "glibc_2.36-1.dsc").read_bytes()).hexdigest()
    )


def test_a_listed_version_gone_from_the_pool_says_so_and_what_to_do(
    tmp_path: Path, archive: LoopbackArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher, source = _fetcher(tmp_path, archive, "2.36-2", monkeypatch)
    message = _unfetchable(fetcher, source)
    assert message.startswith(f"{tmp_path / 'scenario.yaml'}:7: debian:glibc=2.36-2: ")
    assert "2.36-2 has left the pool" in message
    assert f"{SUITE}'s Sources index at {archive.url} still lists it" in message
    assert f"404 for its files ({archive.url}/{POOL}/glibc_2.36-2.dsc)" in message
    # Which versions really download, told apart from those listed but gone too.
    assert f"pin a version {SUITE} serves now: 2.36-1, 2.36-3, 2.36-5 (their .dsc" in message
    assert "listed but gone from the pool: 2.36-4\n" in message
    assert (
        "set glibc.source.debian.archive to http://snapshot.debian.org/archive/debian/"
        "<timestamp>/, a time when sid had it" in message
    )
    assert "https://snapshot.debian.org/package/glibc/2.36-2/" in message
    directory = tmp_path / "cache" / "debian" / "glibc_2.36-2"
    assert (
        f"save glibc_2.36-2.dsc and the files it lists by hand into\n      {directory}/\n"
        in message
    )
    assert "apt said:\n  E: Failed to fetch" in message and "404" in message


def test_a_version_the_index_does_not_list_names_the_ones_it_does(
    tmp_path: Path, archive: LoopbackArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher, source = _fetcher(tmp_path, archive, "2.36-9", monkeypatch)
    message = _unfetchable(fetcher, source)
    assert message.startswith(f"{tmp_path / 'scenario.yaml'}:7: debian:glibc=2.36-9: ")
    assert (
        f"{SUITE}'s Sources index at {archive.url} has no version 2.36-9 of glibc; "
        "it lists 2.36-1, 2.36-2, 2.36-3, 2.36-4, 2.36-5.\n" in message
    )
    assert (
        f"pin a version {SUITE} serves now: 2.36-1, 2.36-3, 2.36-5 (their .dsc answers in the "
        "pool); "
        "listed but gone from the pool: 2.36-2, 2.36-4\n" in message
    )
    assert "if Debian ever published 2.36-9 (https://snapshot.debian.org/package/glibc/" in message
    assert str(tmp_path / "cache" / "debian" / "glibc_2.36-9") in message
    assert "left the pool" not in message


def test_another_failure_of_a_listed_version_is_apts_own_words_not_a_vanished_version(
    tmp_path: Path, archive: LoopbackArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher, source = _fetcher(tmp_path, archive, CORRUPT, monkeypatch)
    message = _unfetchable(fetcher, source)
    assert (
        f"debian:glibc={CORRUPT}: apt-get source failed although {SUITE}'s Sources index at "
        f"{archive.url} lists {CORRUPT}:\n  E: Failed to fetch" in message
    )
    assert "Hash Sum mismatch" in message
    assert "left the pool" not in message and "What to do" not in message
    assert f"save the .dsc and the files it lists into\n  {fetcher.cache.root}" in message


def test_without_a_head_answer_apts_404_still_says_the_version_left_the_pool(
    tmp_path: Path, archive: LoopbackArchive, monkeypatch: pytest.MonkeyPatch, refuse_head: None
) -> None:
    fetcher, source = _fetcher(tmp_path, archive, "2.36-2", monkeypatch)
    message = _unfetchable(fetcher, source)
    assert "2.36-2 has left the pool" in message
    # Nothing could be checked, so the listing is given with that said.
    assert (
        f"pin a version {SUITE} lists: 2.36-1, 2.36-3, 2.36-4, 2.36-5 (the pool gave no answer to "
        "check them by, and the index can list versions whose files are gone)" in message
    )


def test_files_saved_by_hand_where_the_message_says_are_taken_without_apt(
    tmp_path: Path, archive: LoopbackArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher, source = _fetcher(tmp_path, archive, "2.36-2", monkeypatch)
    message = _unfetchable(fetcher, source)
    directory = tmp_path / "cache" / "debian" / "glibc_2.36-2"
    assert f"{directory}/" in message
    for name in ("glibc_2.36-2.dsc", "glibc_2.36-2.debian.tar.xz", "glibc_2.36.orig.tar.xz"):
        shutil.copyfile(archive.saved / name, directory / name)
    said: list[str] = []
    fetcher = Fetcher(fetcher.cache, fetcher.scenario, progress=said.append)
    assert fetcher.debian_package(source) == directory
    assert said == [f"using {directory / 'glibc_2.36-2.dsc'}, saved by hand"]  # no apt
    assert (
        fetcher.lock.get(source.key)
        == hashlib.sha256((directory / "glibc_2.36-2.dsc").read_bytes()).hexdigest()
    )


def test_a_hand_saved_dsc_of_another_version_is_refused(
    tmp_path: Path, archive: LoopbackArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher, source = _fetcher(tmp_path, archive, "2.36-2", monkeypatch)
    directory = fetcher.cache.work_dir("debian", "glibc_2.36-2")
    for name in ("glibc_2.36-3.dsc", "glibc_2.36-3.debian.tar.xz", "glibc_2.36.orig.tar.xz"):
        shutil.copyfile(archive.saved / name, directory / name)
    with pytest.raises(SourceError, match=r"is of version 2\.36-3, not 2\.36-2; remove it"):
        fetcher.debian_package(source)
    assert fetcher.lock.get(source.key) is None


def test_a_snapshot_archive_is_read_past_its_release_files_valid_until() -> None:
    snapshot = DebianSource(
        "glibc", "2.43-5", None,
        archive="http://snapshot.debian.org/archive/debian/20260101T000000Z/", suite="sid",
    )  # fmt: skip
    live = DebianSource("glibc", "2.43-6", None, suite="sid")
    keyring = Path(__file__)  # any file that is there
    assert sources_list_line(snapshot, keyring) == (
        f"deb-src [signed-by={keyring} check-valid-until=no] {snapshot.archive} sid main\n"
    )
    signed = f"deb-src [signed-by={keyring}] {live.archive} sid main\n"
    assert sources_list_line(live, keyring) == signed
    assert sources_list_line(live, Path("/nonexistent")) == f"deb-src {live.archive} sid main\n"


def test_the_loopback_index_is_checked_against_its_key(
    tmp_path: Path, archive: LoopbackArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index apt reads above is trusted for its signature, not taken as it comes: with
    Debian's own keyring named instead, apt refuses it and nothing is fetched."""
    fetcher, source = _fetcher(tmp_path, archive, "2.36-1", monkeypatch)
    other = tmp_path / "other-keyring.gpg"
    home = Path(tempfile.mkdtemp(prefix="gpg", dir="/tmp"))
    try:
        _gpg(home, "--passphrase", "", "--quick-gen-key", "someone else <b@127.0.0.1>",
             "ed25519", "sign", "never")  # fmt: skip
        other.write_bytes(_gpg(home, "--export"))
    finally:
        _stop_agent(home)
    monkeypatch.setattr(sources, "DEBIAN_ARCHIVE_KEYRING", other)
    with pytest.raises(SourceError, match=r"(?s)cannot read the Debian archive .*NO_PUBKEY"):
        fetcher.debian_package(source)
    assert not list(fetcher.cache.root.rglob("*.dsc"))
