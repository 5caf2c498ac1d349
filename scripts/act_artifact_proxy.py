#!/usr/bin/env python3
"""A loopback proxy in front of act's artifact server that puts back the padding of the
signature in its signed URLs (used by scripts/act-local.sh; standard library only).

act (0.2.89) signs its artifact URLs with ``sig=<url-safe base64>`` including ``=`` padding,
and checks them with a decoder that requires the padding; the artifact client of
actions/upload-artifact and download-artifact v4+ sends the signature back without it,
so every upload is refused ("Error unauthorized"). This proxy re-pads ``sig`` and passes
everything else through unchanged, streaming bodies (an image artifact is hundreds of MB).
act builds the signed URLs from the request's Host header, so they point back here.

usage: act_artifact_proxy.py LISTEN_PORT UPSTREAM_PORT
"""

from __future__ import annotations

import http.client
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 1 << 20
_SIG_RE = re.compile(r"(?<=[?&]sig=)([^&]*)")
#: Hop-by-hop headers are this connection's, never forwarded.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


def repad(path: str) -> str:
    """``path`` with the value of its ``sig`` query parameter padded to whole base64 quads."""

    def pad(match: re.Match[str]) -> str:
        value = match.group(1).replace("%3D", "=").replace("%3d", "=").rstrip("=")
        return value + "=" * (-len(value) % 4)

    return _SIG_RE.sub(pad, path, count=1)


class Proxy(BaseHTTPRequestHandler):
    upstream_port = 0
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=600)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = int(self.headers.get("Content-Length") or 0)
        upstream.putrequest(self.command, repad(self.path), skip_host=True,
                            skip_accept_encoding=True)  # fmt: skip
        for key, value in headers.items():
            upstream.putheader(key, value)
        if chunked:
            upstream.putheader("Transfer-Encoding", "chunked")
        upstream.endheaders()
        if chunked:
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    upstream.send(b"0\r\n\r\n")
                    break
                upstream.send(b"%x\r\n%s\r\n" % (size, self.rfile.read(size)))
                self.rfile.readline()
        else:
            while length > 0:
                block = self.rfile.read(min(CHUNK, length))
                if not block:
                    break
                upstream.send(block)
                length -= len(block)
        reply = upstream.getresponse()
        self.send_response_only(reply.status, reply.reason)
        body_length = reply.getheader("Content-Length")
        for key, value in reply.getheaders():
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        if body_length is None:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while block := reply.read(CHUNK):
            if body_length is None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
            else:
                self.wfile.write(block)
        if body_length is None:
            self.wfile.write(b"0\r\n\r\n")
        upstream.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> int:
    listen, upstream = (int(value) for value in sys.argv[1:3])
    Proxy.upstream_port = upstream
    ThreadingHTTPServer(("127.0.0.1", listen), Proxy).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
