"""A public-inbox on loopback, answering ``/<list>/<Message-ID>/t.mbox.gz`` as public-inbox
does (``PublicInbox::Mbox``): the whole thread as a gzipped mboxrd (``From mboxrd@z`` lines,
body lines starting ``From `` escaped as ``>From ``), and ``404 Not Found`` as plain text
for a Message-ID it does not have. It binds 127.0.0.1 only."""

from __future__ import annotations

import gzip
import re
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LIST = "/libc-alpha"


@dataclass
class FakeInbox:
    #: Message-ID (without <>) -> the mails of its thread, each without a From line
    threads: dict[str, list[bytes]] = field(default_factory=dict)
    url: str = ""  # the inbox's URL, as --inbox takes it
    requests: list[str] = field(default_factory=list)

    def add_thread(self, mails: list[bytes]) -> None:
        """Every mail of ``mails`` finds the whole thread, as any Message-ID in it does."""
        for mail in mails:
            found = re.search(rb"^Message-I[Dd]: <([^>]+)>", mail, re.MULTILINE)
            assert found, mail[:200]
            self.threads[found.group(1).decode()] = mails


def mboxrd(mails: list[bytes]) -> bytes:
    out = []
    for mail in mails:
        body = re.sub(rb"^(>*From )", rb">\1", mail, flags=re.MULTILINE)
        out.append(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + body.rstrip(b"\n") + b"\n\n")
    return b"".join(out)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeInbox

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.fake.requests.append(self.path)
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        found = re.fullmatch(rf"{LIST}/(?P<mid>[^/]+)/t\.mbox\.gz", path)
        thread = self.fake.threads.get(found.group("mid")) if found else None
        if thread is None:
            body, status, kind = b"404 Not Found\n", 404, "text/plain; charset=UTF-8"
        else:
            body, status, kind = gzip.compress(mboxrd(thread)), 200, "application/gzip"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve() -> Iterator[FakeInbox]:
    fake = FakeInbox()
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_port}{LIST}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
