"""Downloads into the cache, from a real HTTP server on the loopback interface.

A URL in a scenario is untrusted: it may be wrong, truncated, or served by something that
never stops sending. Whatever happens, the cache holds only whole, hash-checked files.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from farm.errors import FarmError, ScenarioError, SourceError
from farm.inputs.sources import Fetcher, sha256_bytes
from farm.plan.scenario import PatchFormat, UrlPatches, with_extra_series

REPO = Path(__file__).resolve().parents[2]
BODY = b"From: someone\nSubject: [PATCH] elf: nothing\n\n" * 100


class _Server(BaseHTTPRequestHandler):
    """whole.mbox is BODY; lying.mbox claims twice what it sends; bad-length.mbox says its
    length in words; endless.mbox has no length."""

    def do_GET(self) -> None:
        if self.path == "/whole.mbox":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path == "/lying.mbox":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY) * 2))
            self.end_headers()
            self.wfile.write(BODY)
            self.close_connection = True
        elif self.path == "/bad-length.mbox":
            self.send_response(200)
            self.send_header("Content-Length", "lots")
            self.end_headers()
            self.wfile.write(BODY)
            self.close_connection = True
        elif self.path in ("/copy-of-whole.mbox", "/rejected.mbox"):
            body = BODY if self.path == "/copy-of-whole.mbox" else self.server.rejected  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/slow.mbox":
            self.send_response(200)  # a trickle, so a download is under way when stopped
            self.end_headers()
            try:
                for _ in range(300):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif self.path == "/endless.mbox":
            self.send_response(200)  # HTTP/1.0 without a length: the body ends at close
            self.end_headers()
            try:
                for _ in range(10_000):  # bounded: 640 MiB at most, stops when refused
                    self.wfile.write(b"x" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Server) as httpd:
        httpd.rejected = b"not a patch at all\n"  # type: ignore[attr-defined]
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
        httpd.shutdown()


def _cache_files(fetcher: Fetcher) -> list[Path]:
    return sorted(p for p in fetcher.cache.root.rglob("*") if p.is_file())


def test_a_whole_download_is_cached_by_hash_and_locked(fetcher: Fetcher, server: str) -> None:
    blob = fetcher.url_blob(f"{server}/whole.mbox", None, key="k", max_bytes=len(BODY))
    assert blob.sha256 == sha256_bytes(BODY)
    assert blob.path.read_bytes() == BODY
    assert _cache_files(fetcher) == [blob.path]  # nothing left in tmp
    assert fetcher.lock.get("k") == sha256_bytes(BODY)


def test_a_length_that_is_no_number_counts_as_none(fetcher: Fetcher, server: str) -> None:
    blob = fetcher.url_blob(f"{server}/bad-length.mbox", None, key="k", max_bytes=len(BODY))
    assert blob.path.read_bytes() == BODY


def test_a_declared_size_over_the_limit_is_refused_before_reading(
    fetcher: Fetcher, server: str
) -> None:
    with pytest.raises(SourceError) as raised:
        fetcher.url_blob(f"{server}/whole.mbox", None, key="k", max_bytes=len(BODY) - 1)
    assert f"is {len(BODY)} bytes, more than the {len(BODY) - 1} accepted" in str(raised.value)
    assert _cache_files(fetcher) == []
    assert fetcher.lock.get("k") is None


def test_a_body_without_a_length_is_cut_off_at_the_limit(fetcher: Fetcher, server: str) -> None:
    with pytest.raises(SourceError) as raised:
        fetcher.url_blob(f"{server}/endless.mbox", None, key="k", max_bytes=1 << 20)
    assert "/endless.mbox is over " in str(raised.value)  # counted, not declared
    assert f"more than the {1 << 20} accepted" in str(raised.value)
    assert _cache_files(fetcher) == []


def test_a_truncated_download_is_refused(fetcher: Fetcher, server: str) -> None:
    with pytest.raises(SourceError) as raised:
        fetcher.url_blob(f"{server}/lying.mbox", None, key="k", max_bytes=1 << 20)
    assert f"k: truncated download ({len(BODY)} of {2 * len(BODY)} bytes)" in str(raised.value)
    assert _cache_files(fetcher) == []


def test_a_hash_mismatch_leaves_nothing_behind(fetcher: Fetcher, server: str) -> None:
    with pytest.raises(SourceError) as raised:
        fetcher.url_blob(f"{server}/whole.mbox", "0" * 64, key="k", max_bytes=1 << 20)
    assert "sha256 mismatch" in str(raised.value)
    assert sha256_bytes(BODY) in str(raised.value)
    assert _cache_files(fetcher) == []


def test_an_oversized_manual_drop_is_refused(fetcher: Fetcher, server: str) -> None:
    url = f"{server}/never-fetched.mbox"
    drop = fetcher.cache.manual_drop(url)
    drop.parent.mkdir(parents=True)
    drop.write_bytes(BODY)
    with pytest.raises(SourceError) as raised:
        fetcher.url_blob(url, None, key="k", max_bytes=10)
    assert f"({drop}) is {len(BODY)} bytes, more than the 10 accepted" in str(raised.value)
    assert _cache_files(fetcher) == [drop]  # the user's file stays; nothing was cached


# --- no debris: temp files, interrupted downloads, rejected content in the lock ----------


def _tmp_files(fetcher: Fetcher) -> list[str]:
    return sorted(p.name for p in (fetcher.cache.root / "tmp").iterdir())


def test_a_download_whose_blob_is_cached_leaves_no_temp_file(fetcher: Fetcher, server: str) -> None:
    first = fetcher.url_blob(f"{server}/whole.mbox", None, key="k1", max_bytes=1 << 20)
    second = fetcher.url_blob(f"{server}/copy-of-whole.mbox", None, key="k2", max_bytes=1 << 20)
    assert first.sha256 == second.sha256
    assert _tmp_files(fetcher) == []


@pytest.mark.parametrize("hostile", ["/whole.mbox\nHost: evil", "/whole.mbox\r\n", "/who le"])
def test_a_url_with_a_line_break_is_refused_and_leaves_nothing(
    fetcher: Fetcher, server: str, hostile: str
) -> None:
    with pytest.raises(FarmError):
        fetcher.url_blob(f"{server}{hostile}", None, key="k", max_bytes=1 << 20)
    assert _tmp_files(fetcher) == []
    assert not fetcher.lock.path.exists()
    with pytest.raises(ScenarioError):  # and the command line's series URL says so first
        with_extra_series(fetcher.scenario, f"{server}{hostile}", origin="--series-url")


def test_content_the_farm_refused_is_not_locked(fetcher: Fetcher, server: str) -> None:
    """Refused once, fixed upstream, taken the next time: the lock holds only what passed."""
    source = UrlPatches(url=f"{server}/rejected.mbox", sha256=None, format=PatchFormat.MAIL)
    with pytest.raises(FarmError):
        fetcher.patches(source, what="series[0]")
    assert fetcher.lock.get(f"url:{source.url}") is None
    fixed = (
        b"From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
        b"From: A U Thor <author@example.org>\nSubject: [PATCH] elf: Reword\n\nWhy.\n---\n"
        b"diff --git a/elf/x.c b/elf/x.c\nindex 1111111..2222222 100644\n--- a/elf/x.c\n"
        b"+++ b/elf/x.c\n@@ -1 +1 @@\n-/* old */\n+/* new */\n-- \n2.39.5\n\n"
    )
    fetcher.cache.manual_drop(source.url).parent.mkdir(parents=True, exist_ok=True)
    fetcher.cache.manual_drop(source.url).write_bytes(fixed)
    taken = fetcher.patches(source, what="series[0]")
    assert len(taken) == 1
    assert fetcher.lock.get(f"url:{source.url}") == sha256_bytes(fixed)
    assert fetcher.patches(source, what="series[0]") == taken  # now locked and cached


def test_sigterm_mid_download_leaves_no_temp_file(tmp_path: Path, server: str) -> None:
    """A real SIGTERM, handled as the CLI handles it, while a download trickles in."""
    scenario = tmp_path / "scenario.yaml"
    shutil.copyfile(REPO / "scenarios" / "debian-2.36-backports.yaml", scenario)
    cache = tmp_path / "cache"
    program = (
        "import signal\n"
        "from pathlib import Path\n"
        "from farm.cli import _terminate\n"
        "from farm.plan.scenario import load_scenario\n"
        "from farm.inputs.sources import Cache, Fetcher\n"
        "signal.signal(signal.SIGTERM, _terminate)\n"
        f"fetcher = Fetcher(Cache(Path({str(cache)!r})), load_scenario(Path({str(scenario)!r})))\n"
        f"fetcher.url_blob({server + '/slow.mbox'!r}, None, key='k', max_bytes=1 << 20)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", program], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not (cache / "tmp").is_dir() or not any((cache / "tmp").iterdir()):
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.05)
        time.sleep(0.3)
        os.kill(child.pid, signal.SIGTERM)
        _, stderr = child.communicate(timeout=10)
    finally:
        child.kill()
    assert b"KeyboardInterrupt" in stderr
    assert list((cache / "tmp").iterdir()) == []
    assert not list((cache / "blobs").iterdir())
