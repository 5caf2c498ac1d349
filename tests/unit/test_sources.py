"""The rules of `farm.inputs.sources` that the other source tests leave out: where the cache
keeps what (``blobs/<sha256>``, the manual-drop place, the cache directory itself), the names
a file may have in a build context, the lock file beside a scenario, and when something
already fetched is used again or refused.

Real files in ``tmp_path``; a download is from `tests.unit.inbox_fake`, a public-inbox on the
loopback interface that counts the requests it answers; a Debian source package is one saved
by hand (the path that needs no apt). Downloads that go wrong are test_download.py's, local
trees and tarballs test_hostile_input.py's, git sources test_git_base.py's, patch files
test_bad_series.py's, apt and the archive test_debian_archive.py's.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from farm.errors import SourceError
from farm.inputs import sources
from farm.inputs.sources import Cache, Fetcher, LockFile, sha256_bytes
from farm.plan.scenario import DebianSource, ThreadPatches
from tests.unit import inbox_fake
from tests.unit.test_debian_archive import _source_package


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# ------------------------------------------------------------------ names in a build context


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("glibc-2.36.tar.xz", "glibc-2.36.tar.xz"),
        ("glibc_2.36-9+deb12u4.orig.tar.xz", "glibc_2.36-9+deb12u4.orig.tar.xz"),
        ("a b;$(reboot).tar.gz", "a_b___reboot_.tar.gz"),
        ("-rf.tar.gz", "rf.tar.gz"),  # never taken for an option
        ("..tar.gz", "tar.gz"),  # nor hidden, nor a way up
        ("", "download"),
        ("...", "download"),
        ("x" * 300 + ".tar.xz", "x" * 193 + ".tar.xz"),  # the end kept: tar needs the suffix
    ],
)
def test_a_context_file_name_keeps_what_is_safe_and_the_suffix(raw: str, name: str) -> None:
    assert sources.context_file_name(raw) == name


@given(st.text(max_size=300))
def test_every_context_file_name_is_safe_in_a_run_line(raw: str) -> None:
    name = sources.context_file_name(raw)
    assert sources.SAFE_FILE_NAME_RE.fullmatch(name)
    assert not name.startswith(("-", "."))


# ------------------------------------------------------------------ the cache's layout


def test_the_cache_directory_is_farm_cache_then_xdg_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FARM_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert sources.default_cache_dir() == tmp_path / "home" / ".cache" / "glibc-farm"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sources.default_cache_dir() == tmp_path / "xdg" / "glibc-farm"
    monkeypatch.setenv("FARM_CACHE", str(tmp_path / "farm"))
    assert sources.default_cache_dir() == tmp_path / "farm"


def test_a_local_file_is_copied_in_under_its_hash_and_left_where_it_was(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    given_file = tmp_path / "glibc.tar.xz"
    given_file.write_bytes(b"tarball")
    blob = cache.put_file(given_file, "glibc.tar.xz", what="glibc")
    assert blob.path == cache.root / "blobs" / sha256_bytes(b"tarball")
    assert blob.path.read_bytes() == b"tarball" and blob.sha256 == sha256_bytes(b"tarball")
    assert given_file.read_bytes() == b"tarball"  # the user's file: copied, never moved
    assert not list((cache.root / "tmp").iterdir())
    # The same bytes under another name are the same blob, named as this context wants.
    again = cache.put_file(given_file, "other.tar.xz", what="glibc")
    assert (again.path, again.name) == (blob.path, "other.tar.xz")
    assert cache.lookup(blob.sha256, "n") == sources.Blob("n", blob.sha256, blob.path)
    assert cache.lookup(sha256_bytes(b"not cached"), "n") is None


def test_a_users_file_that_fails_its_hash_is_named_and_kept(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    saved = tmp_path / "saved.mbox"
    saved.write_bytes(b"changed")
    with pytest.raises(SourceError) as raised:
        cache.put_file(saved, "saved.mbox", expected="0" * 64, what="series[0] (saved.mbox)")
    assert str(raised.value).startswith("series[0] (saved.mbox): sha256 mismatch")
    assert f"expected {'0' * 64}\n  got      {sha256_bytes(b'changed')}" in str(raised.value)
    assert saved.read_bytes() == b"changed"  # only the farm's own downloads are removed
    assert _files(cache.root) == []


def test_each_url_has_its_own_manual_drop_named_like_its_file(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    first = cache.manual_drop("https://a.example/glibc/glibc-2.36.tar.xz")
    second = cache.manual_drop("https://b.example/mirror/glibc-2.36.tar.xz")
    assert first.parent == second.parent == cache.root / "downloads"
    assert first.name.endswith("-glibc-2.36.tar.xz") and second.name.endswith("-glibc-2.36.tar.xz")
    assert first != second  # two servers' files of one name are two files
    hostile = cache.manual_drop("https://x.example/..%2F..%2Fetc%2Fpasswd")
    assert hostile.parent == cache.root / "downloads"


# ------------------------------------------------------------------ the lock file


def test_the_lock_file_lies_beside_the_scenario_and_keeps_every_key(tmp_path: Path) -> None:
    lock = LockFile(tmp_path / "demo.yaml")
    assert lock.path == tmp_path / "demo.lock"
    assert lock.read() == {}
    lock.record("url:b", "b" * 64)
    lock.record("url:a", "a" * 64)
    lock.record("url:b", "b" * 64)  # the same again: nothing changes
    assert lock.read() == {"url:a": "a" * 64, "url:b": "b" * 64}
    assert list(json.loads(lock.path.read_text())["sha256"]) == ["url:a", "url:b"]  # diffable
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.lock", "demo.lock.flock"]


@pytest.mark.parametrize(
    "text", ["{not json", "[]", '"sha256"', '{"sha256": "abc"}', '{"sha256": {"url:a": 5}}']
)
def test_a_lock_file_that_is_not_the_farms_is_refused_naming_it(tmp_path: Path, text: str) -> None:
    """Read as empty, it was overwritten by the next record; some of these were tracebacks."""
    lock = LockFile(tmp_path / "demo.yaml")
    lock.path.write_text(text)
    with pytest.raises(SourceError, match=rf"^{re.escape(str(lock.path))}: .*delete it to re-lock"):
        lock.get("url:a")
    with pytest.raises(SourceError):
        lock.record("url:a", "a" * 64)
    assert lock.path.read_text() == text


# ------------------------------------------------------------------ used again, or refused

PATCH = (
    b"Message-ID: <p1@example.org>\nFrom: A U Thor <author@example.org>\n"
    b"Subject: [PATCH] elf: Reword\n\nWhy.\n---\n"
    b"diff --git a/elf/x.c b/elf/x.c\nindex 1111111..2222222 100644\n--- a/elf/x.c\n"
    b"+++ b/elf/x.c\n@@ -1 +1 @@\n-/* old */\n+/* new */\n-- \n2.39.5\n"
)
REPLY = (
    b"Message-ID: <r1@example.org>\nIn-Reply-To: <p1@example.org>\nFrom: r@example.org\n"
    b"Subject: Re: [PATCH] elf: Reword\n\nLooks good.\n"
)


def test_a_thread_fetched_once_is_read_from_the_cache_after(fetcher: Fetcher) -> None:
    with inbox_fake.serve() as inbox:
        inbox.add_thread([PATCH])
        source = ThreadPatches("p1@example.org", inbox.url, sha256=None)
        first = fetcher.patches(source, what="series[0]")
        assert inbox.requests == ["/libc-alpha/p1%40example.org/t.mbox.gz"]
        inbox.add_thread([PATCH, REPLY])  # upstream moved on: the locked thread is what counts
        assert fetcher.patches(source, what="series[0]") == first
        assert len(inbox.requests) == 1
    assert [p.subject for p in first] == ["elf: Reword"]


def test_a_thread_that_changed_since_it_was_locked_is_refused(
    fetcher: Fetcher, tmp_path: Path
) -> None:
    with inbox_fake.serve() as inbox:
        inbox.add_thread([PATCH])
        source = ThreadPatches("p1@example.org", inbox.url, sha256=None)
        fetcher.patches(source, what="series[0]")
        locked = fetcher.lock.read()
        inbox.add_thread([PATCH, REPLY])
        # Another machine: the same scenario and lock file, an empty cache.
        elsewhere = Fetcher(Cache(tmp_path / "other-cache"), fetcher.scenario)
        with pytest.raises(SourceError, match=r"^message-id:p1@example.org: sha256 mismatch"):
            elsewhere.patches(source, what="series[0]")
    assert fetcher.lock.read() == locked
    assert _files(elsewhere.cache.root) == []


def test_a_pinned_hash_that_is_cached_asks_no_server(fetcher: Fetcher) -> None:
    with inbox_fake.serve() as inbox:
        inbox.add_thread([PATCH])
        source = ThreadPatches("p1@example.org", inbox.url, sha256=None)
        first = fetcher.patches(source, what="series[0]")
        pinned = ThreadPatches(
            "p1@example.org", inbox.url, sha256=fetcher.lock.read()["message-id:p1@example.org"]
        )
        inbox.threads.clear()  # the inbox would now answer 404
        assert fetcher.patches(pinned, what="series[0]") == first
        assert len(inbox.requests) == 1


# ------------------------------------------------------------------ a Debian package saved by hand


def _saved_by_hand(fetcher: Fetcher, version: str) -> tuple[DebianSource, Path]:
    source = DebianSource("glibc", version, None, archive="http://127.0.0.1:9/debian", suite="sid")
    directory = fetcher.cache.work_dir("debian", f"glibc_{version}")
    files, _stanza = _source_package(version)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return source, directory


def test_a_file_that_fails_its_dsc_checksum_is_removed_and_named(fetcher: Fetcher) -> None:
    source, directory = _saved_by_hand(fetcher, "2.36-1")
    (directory / "glibc_2.36.orig.tar.xz").write_bytes(b"not what the .dsc lists")
    with pytest.raises(SourceError) as raised:
        fetcher.debian_package(source)
    assert str(raised.value) == (
        f"{source.key}: glibc_2.36.orig.tar.xz does not match its sha256 in glibc_2.36-1.dsc; "
        "removed it, run again"
    )
    assert not (directory / "glibc_2.36.orig.tar.xz").exists()  # fetched again next time
    assert fetcher.lock.get(source.key) is None


def test_a_dsc_that_is_not_the_pinned_one_is_refused(fetcher: Fetcher) -> None:
    source, directory = _saved_by_hand(fetcher, "2.36-1")
    pinned = DebianSource(
        source.package, source.version, "0" * 64, archive=source.archive, suite=source.suite
    )
    dsc = hashlib.sha256((directory / "glibc_2.36-1.dsc").read_bytes()).hexdigest()
    with pytest.raises(SourceError) as raised:
        fetcher.debian_package(pinned)
    assert (
        f"sha256 of glibc_2.36-1.dsc does not match\n  expected {'0' * 64}\n  got      {dsc}"
        in (str(raised.value))
    )
    # The same files, unpinned, pass every check and are locked by the .dsc's hash.
    assert fetcher.debian_package(source) == directory
    assert fetcher.lock.get(source.key) == dsc
