"""A small patchwork on loopback, answering the farm's requests as patchwork 3.x does.

What it imitates was read from patchwork's source (``patchwork/api/check.py``, ``series.py``,
``filters.py``, the ``Check`` model) and Django REST framework: ``201`` with the check echoed
(state as its name, an absent target_url as null); ``403 {"detail": "Invalid token."}`` for
a token it does not know (DRF answers 403, not 401, because patchwork's first
authentication class, the session, sends no challenge); ``403`` "You do not have
permission" for a user who is no maintainer; ``404 {"detail": "Not found."}``; ``400`` with
field errors for a context that is not a slug or a target_url over 200 characters; a series
listing its patches; ``?msgid=`` without the angle brackets. And what a reviewer sees: the
newest check per (user, context), combined worst-first (fail, warning, pending, success),
as patchwork's ``Patch.combined_check_state`` does.

The shapes of the JSON are patchwork's own (``patchwork/api/patch.py``, ``series.py`` and
``embedded.py``, API 1.3): a patch's detail and the patch list (``PatchListSerializer``) embed
its ``project`` (``id``, ``link_name``, ``name``, ...) and its ``series`` as a list of zero
or one embedded series (``id``, ``name``, ``version``, ...; the list is kept from when the
relation was many-to-many); a series' ``patches`` are embedded patches, which carry no
project. ``patch_fields`` / ``series_fields`` override fields of an answer, for answers no
honest patchwork gives (an id ``true``, a 5000-digit number, a patch of another project).

For a watcher (`post_series`): the series list ``GET /series/?project=&since=&order=date``
(``since`` inclusive on the series' ``date``, naive UTC as patchwork keeps it), paged by
``per_page``/``page`` with a ``Link: <...>; rel="next"`` header as patchwork's
``LinkHeaderPagination`` writes it, each series with its version, submitter, cover letter and
patches in the JSON shape of ``patchwork/api/series.py`` and ``embedded.py``; and the mbox
views outside the API, ``/series/<id>/mbox/`` and ``/cover/<id>/mbox/``.

Faults on demand (``fault``): a redirect, a connection closed after the request was read
(the check stored first, as a server that crashes after its commit), a stalled answer, an
answer trickled one byte at a time (each read of the socket gets a byte in time, the whole
never comes), a 500, a ``201`` without the echo (a proxy answering for patchwork), a reason
phrase or an error body with terminal escape sequences, a token echoed in the reason phrase
or in a malformed status line; ``fault_path`` limits a fault to requests whose path holds
it, and ``fault_times`` to that many requests (then the server is well again). The server
binds 127.0.0.1 only and stops itself after `LIFETIME` seconds if a test forgets to.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

LIFETIME = 60.0
API = "/api/1.3"
STATES = ("pending", "success", "warning", "fail")
WORST_FIRST = ("fail", "warning", "pending")
#: What a hostile server puts in what the farm may print: clear the screen, move the cursor
#: home, set the window title (OSC 0, ended by BEL), a carriage return and a bidi override.
ESCAPES = "\x1b[2J\x1b[H\x1b]0;pwned\x07\rfine\u202e"


@dataclass
class ListedSeries:
    """What the series list and the mbox views show of a series posted with `post_series`."""

    project: str
    version: int
    date: str
    submitter: tuple[str, str]
    tags: str  # patchwork's prefixes for the patches' names, e.g. "RFC,v2"
    cover_body: str | None  # None: no cover letter
    patch_body: str


@dataclass
class FakePatch:
    name: str
    msgid: str
    series_id: int | None
    project: str = "glibc"


@dataclass
class FakePatchwork:
    """The server's data and its behaviour; tests change it between requests."""

    tokens: dict[str, str] = field(default_factory=lambda: {"s3cret": "maintainer"})
    maintainers: set[str] = field(default_factory=lambda: {"maintainer"})
    #: project link name -> project id
    projects: dict[str, int] = field(default_factory=lambda: {"glibc": 1, "gdb": 2})
    patches: dict[int, FakePatch] = field(default_factory=dict)
    #: patch id -> fields replacing those of its detail (and of the patch list)
    patch_fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: series id -> fields replacing those of its detail
    series_fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: series id -> (name, received_all)
    series: dict[int, tuple[str, bool]] = field(default_factory=dict)
    #: cover letter msgid -> series id
    covers: dict[str, int] = field(default_factory=dict)
    #: series id -> what its web page's ``/series/<id>/mbox/`` serves (outside the API)
    mboxes: dict[int, bytes] = field(default_factory=dict)
    checks: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: None, "redirect-301" (any 3xx code), "close", "stall", "500", "no-echo", "html-404",
    #: "leak" (a 403 repeating the Authorization header), "trickle" (the right answer, one
    #: byte per `trickle_seconds`), "escape-reason" / "escape-body" (a 500 with `ESCAPES` in
    #: its reason phrase / its detail), "leak-reason" (a 403 whose reason phrase is the
    #: Authorization header), "leak-status-line" (a status line that is not HTTP, holding it)
    fault: str | None = None
    trickle_seconds: float = 0.05
    fault_on: str = "POST"  # the method the fault applies to, or "*"
    fault_path: str = ""  # only requests whose path holds this
    fault_times: int | None = None  # None: every request; N: the next N, then no fault
    #: series id -> what the series list shows (`post_series`)
    listed: dict[int, ListedSeries] = field(default_factory=dict)
    web: str = ""  # the web root, where the mbox views are
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: False: ignore ?msgid= and list every patch, as patchwork's API before 1.2 does
    filters_msgid: bool = True
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    stop: threading.Event = field(default_factory=threading.Event)

    def add_series(
        self, series_id: int, name: str, patch_ids: list[int], *, project: str = "glibc", **kw: Any
    ) -> None:
        self.series[series_id] = (name, kw.get("received_all", True))
        for number, patch_id in enumerate(patch_ids, 1):
            subject = f"[{number}/{len(patch_ids)}] {name} part {number}"
            msgid = f"{series_id}.{number}@example.org"
            self.patches[patch_id] = FakePatch(subject, msgid, series_id, project)

    def post_series(
        self,
        series_id: int,
        name: str,
        patch_ids: list[int],
        *,
        date: str,
        version: int = 1,
        project: str = "glibc",
        tags: str = "",
        cover_body: str | None = None,
        patch_body: str = "Make it better.\n\nSigned-off-by: A U Thor <author@example.org>\n",
        submitter: tuple[str, str] = ("A U Thor", "author@example.org"),
    ) -> None:
        """A series as a mailing list delivers it to patchwork: listed, with its mails."""
        self.add_series(series_id, name, patch_ids, project=project)
        prefix = ",".join(filter(None, [tags, f"v{version}" if version > 1 else ""]))
        for number, patch_id in enumerate(patch_ids, 1):
            head = ",".join(filter(None, [prefix, f"{number}/{len(patch_ids)}"]))
            subject = f"[{head}] {name} part {number}"
            self.patches[patch_id] = FakePatch(
                subject, f"{series_id}.{number}@example.org", series_id, project
            )
        if cover_body is not None:
            self.covers[f"{series_id}.0@example.org"] = series_id
        self.listed[series_id] = ListedSeries(
            project, version, date, submitter, prefix, cover_body, patch_body
        )

    def series_json(self, series_id: int) -> dict[str, Any]:
        """``GET /series/<id>/`` as patchwork's SeriesSerializer answers it; a series posted
        with `post_series` has its own date, version, submitter and cover letter."""
        name, received_all = self.series[series_id]
        listed_ids = [i for i, p in self.patches.items() if p.series_id == series_id]
        body: dict[str, Any] = {
            "id": series_id, "url": f"{self.url}/series/{series_id}/", "name": name,
            "date": "2026-12-01T10:00:00", "version": 1, "total": len(listed_ids),
            "received_total": len(listed_ids), "received_all": received_all,
            "cover_letter": None, "patches": [self.embedded_patch_json(i) for i in listed_ids],
        }  # fmt: skip
        listed = self.listed.get(series_id)
        if listed is not None:
            cover = None
            if listed.cover_body is not None:
                tags = listed.tags + "," if listed.tags else ""
                cover = {
                    "id": 9000 + series_id, "url": f"{self.url}/covers/{9000 + series_id}/",
                    "msgid": f"<{series_id}.0@example.org>", "date": listed.date,
                    "name": f"[{tags}0/{len(listed_ids)}] {name}",
                    "mbox": f"{self.web}/cover/{9000 + series_id}/mbox/",
                }  # fmt: skip
            body.update(
                web_url=f"{self.web}/project/{listed.project}/list/?series={series_id}",
                project={"id": 1, "link_name": listed.project, "name": listed.project},
                date=listed.date,
                submitter={"id": 7, "name": listed.submitter[0], "email": listed.submitter[1]},
                version=listed.version,
                received_total=(len(listed_ids) if received_all else max(len(listed_ids) - 1, 0)),
                mbox=f"{self.web}/series/{series_id}/mbox/",
                cover_letter=cover,
            )
        body.update(self.series_fields.get(series_id, {}))
        return body

    def embedded_patch_json(self, patch_id: int) -> dict[str, Any]:
        """A patch as a series embeds it (``embedded.PatchSerializer``): no project."""
        patch = self.patches[patch_id]
        url = f"{self.url}/patches/{patch_id}/"
        return {
            "id": patch_id, "url": url, "web_url": f"{self.url}/../../patch/{patch_id}/",
            "msgid": f"<{patch.msgid}>", "list_archive_url": None,
            "date": "2026-12-01T10:00:00", "name": patch.name, "mbox": f"{url}mbox/",
        }  # fmt: skip

    def patch_json(self, patch_id: int) -> dict[str, Any]:
        """A patch's detail, and an item of the patch list (``PatchListSerializer``)."""
        fake = self
        patch = fake.patches[patch_id]
        project_id = fake.projects[patch.project]
        series = []
        if patch.series_id is not None:
            series = [
                {
                    "id": patch.series_id,
                    "url": f"{fake.url}/series/{patch.series_id}/",
                    "web_url": f"{fake.url}/../../project/{patch.project}/list/"
                    f"?series={patch.series_id}",
                    "date": "2026-12-01T10:00:00",
                    "name": fake.series.get(patch.series_id, ("s", True))[0],
                    "version": 1,
                    "mbox": f"{fake.url}/series/{patch.series_id}/mbox/",
                }
            ]
        detail = {
            **self.embedded_patch_json(patch_id),
            "project": {
                "id": project_id, "url": f"{fake.url}/projects/{project_id}/",
                "name": patch.project.upper(), "link_name": patch.project,
                "list_id": f"{patch.project}.sourceware.org",
                "list_email": f"{patch.project}@sourceware.org", "web_url": "", "scm_url": "",
                "webscm_url": "", "list_archive_url": "", "list_archive_url_format": "",
                "commit_url_format": "",
            },
            "commit_ref": None, "pull_url": None, "state": "new", "archived": False,
            "hash": "0" * 40, "submitter": {"id": 7, "url": "", "name": "A", "email": "a@b"},
            "delegate": None, "series": series,
            "check": self.shown_state(patch_id),
            "checks": f"{fake.url}/patches/{patch_id}/checks/", "tags": {}, "related": [],
        }  # fmt: skip
        detail.update(fake.patch_fields.get(patch_id, {}))
        return detail

    def mbox(self, series_id: int, *, cover: bool) -> bytes:
        """The series' (or its cover letter's) mbox as patchwork's ``series_to_mbox`` and
        ``cover_to_mbox`` write it: the patches only, by number (the cover letter has its
        own view), each mail with the headers it was sent with (so the Subject keeps its
        ``[PATCH v2 1/3]``, unlike patchwork's ``name``), ``X-Patchwork-Id`` and a
        ``From patchwork <date>`` line, joined by an empty line."""
        listed = self.listed[series_id]
        name = self.series[series_id][0]
        author = f"{listed.submitter[0]} <{listed.submitter[1]}>"
        numbered = sorted(i for i, p in self.patches.items() if p.series_id == series_id)
        sent = " ".join(
            [*(t for t in listed.tags.split(",") if t and not t.startswith("v")), "PATCH"]
            + [f"v{listed.version}"] * (listed.version > 1)
        )
        mails = []
        if cover:
            subject = f"[{sent} 0/{len(numbered)}] {name}"
            mails.append((9000 + series_id, subject, f"{series_id}.0", listed.cover_body or "", ""))
        else:
            for number, patch_id in enumerate(numbered, 1):
                diff = (
                    f"diff --git a/watch-{patch_id}.txt b/watch-{patch_id}.txt\n"
                    "new file mode 100644\n--- /dev/null\n"
                    f"+++ b/watch-{patch_id}.txt\n@@ -0,0 +1 @@\n+{patch_id}\n"
                )
                subject = f"[{sent} {number}/{len(numbered)}] {name} part {number}"
                mails.append((patch_id, subject, f"{series_id}.{number}", listed.patch_body, diff))
        when = datetime.datetime.fromisoformat(listed.date)
        return "\n".join(
            f'From patchwork {when.ctime()}\nContent-Type: text/plain; charset="utf-8"\n'
            f"MIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n"
            f"X-Patchwork-Submitter: {author}\nX-Patchwork-Id: {number}\nFrom: {author}\n"
            f"Date: {email.utils.format_datetime(when)}\nSubject: {subject}\n"
            f"Message-Id: <{msgid}@example.org>\n\n{body}" + (f"---\n\n{diff}" if diff else "")
            for number, subject, msgid, body, diff in mails
        ).encode()

    def shown_state(self, patch_id: int) -> str:
        """The state patchwork shows for a patch: newest per (user, context), worst first."""
        newest: dict[tuple[str, str], str] = {}
        for check in self.checks.get(patch_id, []):
            newest[(check["user"]["username"], check["context"])] = check["state"]
        states = set(newest.values())
        return next((s for s in WORST_FIRST if s in states), "success" if states else "pending")

    def contexts(self, patch_id: int) -> list[str]:
        return [check["context"] for check in self.checks.get(patch_id, [])]


class _Handler(BaseHTTPRequestHandler):
    fake: FakePatchwork

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with fake.lock:
            fake.requests.append((method, self.path))
            fault = (
                fake.fault
                if fake.fault_on in (method, "*") and fake.fault_path in self.path
                else None
            )
            if fault and fake.fault_times is not None:
                fake.fault_times -= 1
                if fake.fault_times <= 0:
                    fake.fault, fake.fault_times = None, None
        if fault and fault.startswith("redirect-"):
            self.send_response(int(fault.removeprefix("redirect-")))
            self.send_header("Location", "https://patchwork.example.org" + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault == "stall":
            fake.stop.wait(LIFETIME)
            self.close_connection = True
            return
        if fault == "html-404":  # Django's own page: a URL that is not the API
            data = b"<!DOCTYPE html><html><title>Page not found</title></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if fault == "leak":  # a server (or proxy) that repeats the credentials it was sent
            self._answer(403, {"detail": f"{self.headers.get('Authorization')} lacks rights"})
            return
        if fault == "500":
            self._answer(500, {"detail": "A server error occurred."})
            return
        if fault == "escape-reason":
            # A status line is Latin-1 to http.server and http.client: send ESCAPES' UTF-8.
            reason = ESCAPES.encode("utf-8").decode("latin-1")
            self._answer(500, {"detail": "A server error occurred."}, reason=reason)
            return
        if fault == "escape-body":
            self._answer(500, {"detail": f"A server error{ESCAPES} occurred."})
            return
        if fault == "leak-reason":
            self._answer(403, {"detail": "No."}, reason=str(self.headers.get("Authorization")))
            return
        if fault == "leak-status-line":
            self.wfile.write(f"PWNED {self.headers.get('Authorization')}\r\n\r\n".encode())
            self.close_connection = True
            return
        if fault == "close" and method == "GET":  # the connection dies before any answer
            self.close_connection = True
            return
        user = None
        auth = self.headers.get("Authorization")
        if auth is not None:
            token = auth.removeprefix("Token ")
            if token not in fake.tokens:
                self._answer(403, {"detail": "Invalid token."})
                return
            user = fake.tokens[token]
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if method == "GET" and (mbox := re.fullmatch(r"/(series|cover)/(\d+)/mbox/", url.path)):
            self._mbox(mbox.group(1), int(mbox.group(2)))
            return
        path = url.path.removeprefix(API)
        if method == "GET":
            self._get(path, query)
            return
        match = re.fullmatch(r"/patches/(\d+)/checks/", path)
        if not match:
            self._answer(405, {"detail": f'Method "{method}" not allowed.'})
            return
        patch_id = int(match.group(1))
        if patch_id not in fake.patches:
            self._answer(404, {"detail": "Not found."})
            return
        if user not in fake.maintainers:
            self._answer(403, {"detail": "You do not have permission to perform this action."})
            return
        body = json.loads(raw)
        errors = {}
        if body.get("state") not in STATES:
            errors["state"] = [f'"{body.get("state")}" is not a valid choice.']
        if not re.fullmatch(r"[-a-zA-Z0-9_]+", str(body.get("context", "default"))):
            errors["context"] = ["Enter a valid “slug” consisting of letters, numbers, ..."]
        if len(body.get("target_url") or "") > 200:
            errors["target_url"] = ["Ensure this field has no more than 200 characters."]
        if errors:
            self._answer(400, errors)
            return
        stored = {
            "id": sum(map(len, fake.checks.values())) + 1,
            "user": {"username": user},
            "state": body["state"],
            "target_url": body.get("target_url") or None,
            "context": body.get("context", "default"),
            "description": body.get("description"),
        }
        stored["url"] = f"{fake.url}/patches/{patch_id}/checks/{stored['id']}/"
        fake.checks.setdefault(patch_id, []).append(stored)
        if fault == "close":  # stored, then the connection dies before the answer
            self.close_connection = True
            return
        self._answer(201, {"id": stored["id"]} if fault == "no-echo" else stored)

    def _get(self, path: str, query: dict[str, str]) -> None:
        fake = self.fake
        if match := re.fullmatch(r"/patches/(\d+)/", path):
            patch_id = int(match.group(1))
            if patch_id in fake.patches:
                self._answer(200, self._patch(patch_id))
            else:
                self._answer(404, {"detail": "Not found."})
        elif match := re.fullmatch(r"/patches/(\d+)/checks/", path):
            patch_id = int(match.group(1))
            if patch_id in fake.patches:
                self._answer(200, fake.checks.get(patch_id, []))
            else:
                self._answer(404, {"detail": "Not found."})
        elif match := re.fullmatch(r"/series/(\d+)/", path):
            series_id = int(match.group(1))
            if series_id not in fake.series:
                self._answer(404, {"detail": "Not found."})
                return
            self._answer(200, fake.series_json(series_id))
        elif path == "/series/":
            self._series_list(query)
        elif path == "/patches/":
            msgid = "<" + query.get("msgid", "") + ">"
            hits = [
                self._patch(i)
                for i, p in fake.patches.items()
                if f"<{p.msgid}>" == msgid or not fake.filters_msgid
            ]
            self._answer(200, hits)
        elif path == "/covers/":
            msgid = query.get("msgid", "")
            hits = [
                {"id": 9000 + s, "name": "cover", "msgid": f"<{m}>", "series": [{"id": s}]}
                for m, s in fake.covers.items()
                if m == msgid
            ]
            self._answer(200, hits)
        else:
            self._answer(404, {"detail": "Not found."})

    def _patch(self, patch_id: int) -> dict[str, Any]:
        return self.fake.patch_json(patch_id)

    def _series_list(self, query: dict[str, str]) -> None:
        """Filtered by project and ``since`` (inclusive), ordered by date then id, paged."""
        fake = self.fake
        since = query.get("since")
        if since is not None:
            try:
                datetime.datetime.fromisoformat(since)
            except ValueError:
                self._answer(400, {"since": ["Enter a valid date/time."]})
                return
        hits = sorted(
            (
                (listed.date, series_id)
                for series_id, listed in fake.listed.items()
                if listed.project == query.get("project", listed.project)
                and (since is None or _when(listed.date) >= _when(since))
            ),
            reverse=query.get("order") == "-date",
        )
        per_page = min(int(query.get("per_page", "30")), 250)
        page = int(query.get("page", "1"))
        shown = hits[(page - 1) * per_page : page * per_page]
        if page > 1 and not shown:
            self._answer(404, {"detail": "Invalid page."})
            return
        links = []
        if page * per_page < len(hits):
            following = urllib.parse.urlencode({**query, "page": str(page + 1)})
            links.append(f'<http://{self.headers["Host"]}{API}/series/?{following}>; rel="next"')
        if page > 1:
            earlier = urllib.parse.urlencode({**query, "page": str(page - 1)})
            links.append(f'<http://{self.headers["Host"]}{API}/series/?{earlier}>; rel="prev"')
        body = [fake.series_json(series_id) for _date, series_id in shown]
        self._answer(200, body, headers={"Link": ", ".join(links)} if links else {})

    def _mbox(self, kind: str, number: int) -> None:
        """patchwork's ``series_mbox`` / ``cover_mbox`` views (outside the API): the mails as
        text (a series' given whole in `FakePatchwork.mboxes`, else made from what
        `post_series` listed), or Django's 404 page (``get_object_or_404``)."""
        series_id = number - 9000 if kind == "cover" else number
        listed = self.fake.listed.get(series_id)
        data: bytes | None = None
        if kind == "series" and series_id in self.fake.mboxes:
            data = self.fake.mboxes[series_id]
        elif listed is not None and (kind == "series" or listed.cover_body is not None):
            data = self.fake.mbox(series_id, cover=kind == "cover")
        if data is None:
            page = b"<!DOCTYPE html><html><title>Not Found</title></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Disposition", f"attachment; filename={number}.patch")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _answer(
        self,
        status: int,
        body: object,
        *,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        trickle = self.fake.fault == "trickle" and self.fake.fault_on in (self.command, "*")
        if trickle:  # everything, status line first, one byte at a time
            self.wfile = _Trickle(self.wfile, self.fake)
        self.send_response(status, reason)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Trickle:
    """A writer that sends one byte every `FakePatchwork.trickle_seconds`, flushing each."""

    def __init__(self, stream: Any, fake: FakePatchwork) -> None:
        self._stream, self._fake = stream, fake

    def write(self, data: bytes) -> int:
        for index in range(len(data)):
            if self._fake.stop.is_set():
                break
            self._stream.write(data[index : index + 1])
            self._stream.flush()
            time.sleep(self._fake.trickle_seconds)
        return len(data)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # closed, close, ...: the stream's own
        return getattr(self._stream, name)


def _when(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


@contextmanager
def serve(*, lifetime: float = LIFETIME) -> Iterator[FakePatchwork]:
    """A fake patchwork on 127.0.0.1; its API root is ``fake.url``. It stops itself after
    ``lifetime`` seconds (an integration test that builds glibc inside needs longer)."""
    fake = FakePatchwork()
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake.web = f"http://127.0.0.1:{server.server_port}"
    fake.url = f"{fake.web}{API}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    watchdog = threading.Timer(lifetime, server.shutdown)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield fake
    finally:
        fake.stop.set()
        watchdog.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


#: What a machine running the tests may have set that a patchwork test must not see.
OUTSIDE_ENVIRONMENT = (
    "FARM_PATCHWORK_TOKEN", "FARM_EXTRA_SERIES_URL", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID", "GITHUB_STEP_SUMMARY",
)  # fmt: skip


def without_git_pw_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No git-pw settings (``pw.server``, ``pw.token`` in a git config), token or CI run of
    the machine running the tests; the current directory is ``tmp_path``."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    for name in OUTSIDE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
