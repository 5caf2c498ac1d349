"""A loopback HTTP proxy in front of the test registry (`tests.registry_server`) that fails
the requests it is told to and passes every other one through, so a test can make a real
Docker engine meet the registry failure seen under act (a 500 on a blob ``HEAD`` while
several pushes wrote to one ``docker-registry``) at will, and see what the farm does next.

A `Fault` matches requests by method and path and answers the first ``times`` of them
(every one with ``times=None``) with ``status`` instead of forwarding them. The proxy keeps
a record of every request it saw and what it answered (`Proxy.seen`), so a test can show
that the failure it is about did happen, not only that the push ended well.

Docker pushes over plain HTTP to a registry on 127.0.0.0/8 with no daemon setting, so the
proxy, on 127.0.0.1, is such a registry to the engine. The ``Host`` header goes through as
the engine sent it, so the upload URLs the registry hands out (``Location``) name the proxy
and the rest of an upload comes through it too.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.registry_server import free_port

#: Headers that belong to one connection, not to the request or answer forwarded.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
     "proxy-connection"}
)  # fmt: skip
_CHUNK = 1 << 16
#: How long the proxy waits for the registry behind it (it answers a test image in ms).
UPSTREAM_TIMEOUT = 60


@dataclass(frozen=True, slots=True)
class Fault:
    """Answer ``status`` to requests whose method is ``method`` and whose path matches
    ``path`` (a regular expression, searched), the first ``times`` of them or all (None).

    The answer carries the distribution spec's error body (``code``, ``message``), which the
    engine reads for a 4xx; ``drop`` instead closes the connection with no answer at all, as
    a registry that went away mid-request does."""

    method: str
    path: str
    times: int | None = 1
    status: int = 500
    code: str = "UNKNOWN"
    message: str = "failed by the test proxy"
    drop: bool = False


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    path: str
    status: int  # 0: dropped with no answer
    injected: bool  # answered by the proxy (a `Fault`), not by the registry


@dataclass
class Proxy:
    """A running proxy: ``prefix`` is what ``--push``/``--pull`` take (``127.0.0.1:PORT/path``)."""

    prefix: str
    faults: tuple[Fault, ...]
    seen: list[Seen] = field(default_factory=list)
    _used: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def injected(self) -> list[Seen]:
        """The requests the proxy failed on purpose."""
        with self._lock:
            return [s for s in self.seen if s.injected]

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self.faults):
                if fault.method == method and re.search(fault.path, path):
                    used = self._used.get(index, 0)
                    if fault.times is None or used < fault.times:
                        self._used[index] = used + 1
                        return fault
        return None

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)


def _handler(proxy: Proxy, upstream: str) -> type[BaseHTTPRequestHandler]:
    host, _, port = upstream.partition(":")

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the engine's client expects

        def log_message(self, format: str, *args: object) -> None:
            pass  # `Proxy.seen` is the record

        def _forward(self) -> None:
            fault = proxy._fault_for(self.command, self.path)
            if fault is not None:
                self._drain_body()
                self._answer_fault(fault)
                return
            connection = http.client.HTTPConnection(host, int(port), timeout=UPSTREAM_TIMEOUT)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
                connection.request(
                    self.command,
                    self.path,
                    body=self._body() if chunked or "Content-Length" in self.headers else None,
                    headers=headers,
                    encode_chunked=chunked,
                )
                reply = connection.getresponse()
                self.send_response_only(reply.status, reply.reason)
                length = reply.getheader("Content-Length")
                for key, value in reply.getheaders():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                has_body = self.command != "HEAD" and reply.status not in (204, 304)
                if has_body and length is None:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if has_body:
                    while data := reply.read(_CHUNK):
                        if length is None:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        else:
                            self.wfile.write(data)
                    if length is None:
                        self.wfile.write(b"0\r\n\r\n")
                proxy._record(Seen(self.command, self.path, reply.status, injected=False))
            finally:
                connection.close()

        def _answer_fault(self, fault: Fault) -> None:
            proxy._record(Seen(self.command, self.path, 0 if fault.drop else fault.status, True))
            if fault.drop:
                self.close_connection = True
                return
            error = {"errors": [{"code": fault.code, "message": fault.message}]}
            body = b"" if self.command == "HEAD" else json.dumps(error).encode()
            self.send_response_only(fault.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "0" if not body else str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> Iterator[bytes]:
            """The request's body as it arrives, chunked or of a Content-Length."""
            if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
                yield from self._read(int(self.headers.get("Content-Length") or 0))
                return
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                yield from self._read(size)
                self.rfile.readline()  # the CRLF after a chunk
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers, up to the empty line

        def _read(self, remaining: int) -> Iterator[bytes]:
            while remaining and (data := self.rfile.read(min(remaining, _CHUNK))):
                remaining -= len(data)
                yield data

        def _drain_body(self) -> None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower() or (
                "Content-Length" in self.headers
            ):
                for _ in self._body():
                    pass

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

    return Forward


@contextlib.contextmanager
def serve(registry: str, faults: tuple[Fault, ...] = ()) -> Iterator[Proxy]:
    """A proxy on 127.0.0.1 in front of ``registry`` (``127.0.0.1:PORT/path``, as
    `tests.registry_server.serve` yields it); yields it with the same path below its own
    host."""
    upstream, _, path = registry.partition("/")
    port = free_port()
    proxy = Proxy(f"127.0.0.1:{port}/{path}", faults)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(proxy, upstream))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="registry-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
