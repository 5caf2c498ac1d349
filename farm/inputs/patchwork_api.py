"""Patchwork's REST API as the farm uses it: find a series' patches, post a check, verify it.

Why a client of its own rather than ``urllib.request.urlopen``: a check that silently did not
land is worse than no check, and urllib hides exactly the cases that matter. It follows a
301/302 by turning the POST into a GET (nothing stored, yet a 200 comes back), it reports a
closed connection and a stall alike, and it cannot say whether a request was sent before it
failed. Here every request goes over one ``http.client`` connection, so:

- a redirect is never followed; the error names where it points and the ``--api-url`` to use;
- "could not connect" (nothing was sent, so nothing stored) is told apart from "sent, then no
  answer" (closed or stalled: patchwork may have stored the check);
- a check is posted only when patchwork answers ``201 Created`` and echoes the check back;
- every refusal is explained from patchwork's own ``detail`` (a wrong token is 403
  ``{"detail": "Invalid token."}`` there, not 401: Django REST framework answers 403 when its
  first authentication class, the session, sends no challenge);
- every request has a deadline for the whole of it (``--timeout``), not only for each read of
  the socket: a server that accepts and then sends one byte a second would pass every read
  timeout and hold the farm forever, so a watchdog shuts the socket down when time is up;
- every id taken from an answer is a positive integer (`is_patchwork_id`): ``true`` is an
  ``int`` to Python and would have been patch 1;
- a patch's detail carries its ``project`` and ``series`` (`PatchInfo`), so the caller can
  refuse a patch of another project or series before posting anything.

Errors: `PatchworkError` (exit 2) is input the user must fix, found before anything is
posted (a bad URL, an invalid token, an unknown patch or series). `PatchworkPostError`
(exit 3) is a post that failed or whose fate is unknown. The token is never part of a
message, even when a server echoes it back: whatever of an answer reaches a message passes
through the client's `farm.scrub.Scrubber` (the token, URL credentials, terminal control).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import re
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from farm.errors import FarmError
from farm.scrub import PLAIN, Scrubber

#: Longest answer read from patchwork; a series of a few hundred patches is well below.
MAX_ANSWER_BYTES = 4 << 20
#: A timeout longer than this is a typo, not a slow server.
MAX_TIMEOUT = 600.0
#: Patchwork's ``Check.context`` is a Django SlugField of at most 255 characters ...
CONTEXT_MAX = 255
CONTEXT_RE = re.compile(r"[-a-zA-Z0-9_]+")
#: ... and ``Check.target_url`` a URLField, which Django caps at 200 characters.
TARGET_URL_MAX = 200
#: Check states patchwork knows (its ``Check.STATE_CHOICES``).
STATES = ("pending", "success", "warning", "fail")
#: Patchwork's ids are database keys: positive, and at most a BigAutoField's maximum.
MAX_ID = 2**63 - 1
_ID_TEXT = re.compile(r"[0-9]{1,19}")

_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;[^,;<]*)*)")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CONTROL = re.compile(r"[\x00-\x20\x7f]")  # no space either: nothing in a URL or token needs one


class PatchworkError(FarmError):
    """Input to fix before anything can be posted (exit 2, like all bad input)."""


class PatchworkPostError(FarmError):
    """A post failed, or patchwork may or may not have stored it (exit 3)."""

    exit_code = 3

    def __init__(self, message: str, *, maybe_stored: bool = False) -> None:
        super().__init__(message)
        #: True when the request reached patchwork and its fate is unknown.
        self.maybe_stored = maybe_stored


class _Unreachable(PatchworkPostError):
    """Nothing was sent: the connection could not be made."""


def is_patchwork_id(value: object) -> bool:
    """An id as patchwork's JSON has it: a positive ``int`` of at most `MAX_ID`; not a bool
    (``True == 1``), a float, a string or a number past any database key."""
    return type(value) is int and 0 < value <= MAX_ID


def parse_patchwork_id(text: str) -> int | None:
    """An id typed by a user (``--series 40``): ASCII digits only (``str.isdecimal`` also takes
    Arabic-Indic digits, and ``int`` of 5000 digits raises), positive, at most `MAX_ID`;
    None otherwise, for the caller to say what it expected."""
    text = text.strip()
    if not _ID_TEXT.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def check_timeout(timeout: float) -> float:
    """A finite, positive timeout of at most `MAX_TIMEOUT` seconds, else `PatchworkError`."""
    if not math.isfinite(timeout) or not 0 < timeout <= MAX_TIMEOUT:
        raise PatchworkError(
            f"--timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, "
            f"got {timeout!r}"
        )
    return timeout


@dataclass(frozen=True, slots=True)
class ApiRoot:
    """A validated patchwork API root such as ``https://patchwork.sourceware.org/api/1.3``."""

    scheme: str
    host: str
    port: int | None
    path: str  # without the trailing slash

    @classmethod
    def parse(cls, url: str) -> ApiRoot:
        """Validate ``url`` (what git-pw keeps as ``pw.server``); `PatchworkError` if unusable."""
        example = "e.g. https://patchwork.sourceware.org/api/1.3"
        url = url.strip()  # a variable or file may end in a newline
        shown = f"'{PLAIN.line(url)}'"  # without credentials or control characters
        if not url or _CONTROL.search(url):
            raise PatchworkError(
                f"patchwork API URL {shown} is empty or has spaces or control characters; {example}"
            )
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as exc:
            message = f"patchwork API URL {shown} is malformed ({PLAIN.line(str(exc))}); {example}"
            raise PatchworkError(message) from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PatchworkError(f"patchwork API URL must be http(s)://host/api/..., got {shown}")
        if parts.username is not None or parts.password is not None:
            raise PatchworkError(
                "patchwork API URL must not carry credentials (they would be shown in messages); "
                "give the token with $FARM_PATCHWORK_TOKEN, --token-file or git config pw.token"
            )
        if parts.query or parts.fragment:
            raise PatchworkError(f"patchwork API URL {shown} must not have a query or fragment")
        path = parts.path.rstrip("/")
        if "api" not in path.split("/"):
            raise PatchworkError(
                f"{shown} is not patchwork's API: its path has no /api part; "
                f"use {PLAIN.line(url.rstrip('/'))}/api/1.3 (as in git-pw's pw.server)"
            )
        return cls(parts.scheme, parts.hostname, port, path)

    def url(self, path: str = "") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = host if self.port is None else f"{host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.path}/{path}"


@dataclass(frozen=True, slots=True)
class Token:
    """A patchwork API token: stripped, checked, and never shown (not even by ``repr``)."""

    value: str = field(repr=False)

    @classmethod
    def parse(cls, raw: str, *, origin: str) -> Token:
        value = raw.strip()  # `$(cat token-file)` and editors leave a newline
        if not value:
            raise PatchworkError(f"the patchwork token from {origin} is empty")
        if _CONTROL.search(value) or not value.isascii():
            raise PatchworkError(
                f"the patchwork token from {origin} has a space, control or non-ASCII character "
                "inside it (not shown); a patchwork token is one word of letters and digits"
            )
        return cls(value)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    reason: str
    location: str
    body: Any  # parsed JSON, or None
    text: str
    link: str = ""  # the Link header: patchwork's pagination (rel="next")


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    """A patchwork project as a patch's detail embeds it (``id``, ``link_name``, ``name``)."""

    id: int
    link_name: str
    name: str = ""

    def is_named(self, configured: str) -> bool:
        """Whether ``configured`` (``--project``, git-pw's ``pw.project``) names this project
        the way patchwork's ``?project=`` filter takes it: an id, else the link name in any
        case."""
        number = parse_patchwork_id(configured)
        if number is not None:
            return number == self.id
        return configured.strip().casefold() == self.link_name.casefold()

    def __str__(self) -> str:
        return f"{self.link_name} (id {self.id})"


@dataclass(frozen=True, slots=True)
class PatchInfo:
    """A patch as patchwork lists it: its id, subject line, series (if any) and, from its
    detail (not from a series' listing, which embeds no project), its project."""

    id: int
    name: str
    series_ids: tuple[int, ...] = ()
    project: ProjectInfo | None = None


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """A patchwork series and its patches, in patchwork's order."""

    id: int
    name: str
    patches: tuple[PatchInfo, ...]
    complete: bool  # patchwork has received every patch the cover letter announced


@dataclass(frozen=True, slots=True)
class ListedSeries:
    """A series as patchwork's series list shows it (``GET /series/``), for a watcher."""

    id: int
    name: str
    version: int
    date: str  # ISO 8601, UTC without a zone (patchwork runs with USE_TZ = False)
    submitter: str  # "Name <email>"
    mbox: str  # the absolute URL of the series' mbox, as patchwork gives it
    cover_mbox: str  # the cover letter's mbox URL, "" without a cover letter
    patches: tuple[PatchInfo, ...]
    complete: bool  # received_all


@dataclass(frozen=True, slots=True)
class PostedCheck:
    """A check patchwork answered ``201 Created`` for and echoed back unchanged."""

    patch_id: int
    context: str
    state: str
    url: str


@dataclass(frozen=True, slots=True)
class PatchworkClient:
    """One patchwork instance, one token, one deadline per request (``timeout`` seconds)."""

    root: ApiRoot
    token: Token | None
    timeout: float

    @property
    def scrubber(self) -> Scrubber:
        """The one scrubber for whatever of this client's requests and answers is shown."""
        return Scrubber((self.token.value,) if self.token is not None else ())

    # ------------------------------------------------------------------ lookups

    def patch(self, patch_id: int) -> PatchInfo:
        """The patch ``patch_id`` with its project and series, from its detail; `PatchworkError`
        when patchwork has no such patch."""
        answer = self._request("GET", f"patches/{_id(patch_id)}/")
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise self._refusal(answer, f"looking up patch {patch_id}", not_found="patch")
        info = self._patch_info(answer.body, f"patch {patch_id}")
        if info.id != patch_id:
            raise PatchworkPostError(
                f"{self.root.url()}: asked for patch {patch_id}, patchwork answered with patch "
                f"{info.id}: this is not patchwork's API at this URL, or a proxy mixes answers"
            )
        project = answer.body.get("project")
        if not isinstance(project, dict) or not is_patchwork_id(project.get("id")):
            raise PatchworkPostError(
                f"{self.root.url()}: patchwork's detail of patch {patch_id} names no project "
                "(an object with a positive id); the farm will not post on a patch whose "
                "project it cannot check"
            )
        link_name, name = project.get("link_name"), project.get("name")
        return PatchInfo(
            info.id,
            info.name,
            info.series_ids,
            ProjectInfo(
                project["id"],
                link_name if isinstance(link_name, str) else "",
                name if isinstance(name, str) else "",
            ),
        )

    def series(self, series_id: int) -> SeriesInfo:
        """The series ``series_id`` (the number in patchwork's ``/series/<id>/`` URLs)."""
        answer = self._request("GET", f"series/{_id(series_id)}/")
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise self._refusal(answer, f"looking up series {series_id}", not_found="series")
        body = answer.body
        if body.get("id") != series_id or not is_patchwork_id(body.get("id")):
            raise PatchworkPostError(
                f"{self.root.url()}: asked for series {series_id}, patchwork answered with "
                f"{self.scrubber.line(repr(body.get('id')), limit=40)} as its id"
            )
        patches = body.get("patches")
        if not isinstance(patches, list):
            raise PatchworkPostError(f"{self.root.url()}: series {series_id} has no patch list")
        infos = tuple(self._patch_info(p, f"series {series_id}") for p in patches)
        if not infos:
            raise PatchworkError(
                f"series {series_id} at {self.root.url()} has no patches (a cover letter only?)"
            )
        name = body.get("name")
        return SeriesInfo(
            id=series_id,
            name=name if isinstance(name, str) else "",
            patches=tuple(PatchInfo(p.id, p.name, (series_id,)) for p in infos),
            complete=body.get("received_all") is not False,
        )

    def series_of_message(self, message_id: str, *, project: str = "") -> SeriesInfo:
        """The series of the patch or cover letter with this Message-ID."""
        msgid = message_id.strip().removeprefix("<").removesuffix(">")
        if not msgid or _CONTROL.search(msgid) or "@" not in msgid:
            raise PatchworkError(
                f"Message-ID '{self.scrubber.line(message_id)}' is not a mail's Message-ID "
                "(expected id@host)"
            )
        query = {"msgid": msgid, **({"project": project} if project else {})}
        for kind in ("patches", "covers"):
            answer = self._request("GET", f"{kind}/?{urllib.parse.urlencode(query)}")
            if answer.status != 200 or not isinstance(answer.body, list):
                raise self._refusal(answer, f"looking up Message-ID <{msgid}>")
            # Before API 1.2 patchwork ignores ?msgid= and lists everything: check each hit.
            hits = [
                i for i in answer.body if isinstance(i, dict) and i.get("msgid") == f"<{msgid}>"
            ]
            if answer.body and not hits:
                raise PatchworkError(
                    f"patchwork at {self.root.url()} did not filter by Message-ID (an API "
                    "before 1.2?); use an API URL ending in /api/1.2 or later"
                )
            if len(hits) > 1:
                raise PatchworkError(
                    f"Message-ID <{msgid}> is in {len(hits)} projects at "
                    f"{self.root.url()}; say which with --project (or git config pw.project)"
                )
            if hits:
                found = self._patch_info(hits[0], f"Message-ID <{msgid}>")
                if not found.series_ids:
                    if kind == "covers":
                        break
                    return SeriesInfo(0, found.name, (found,), complete=True)
                return self.series(found.series_ids[0])
        where = f" in project {project}" if project else ""
        raise PatchworkError(
            f"patchwork at {self.root.url()} has no patch or cover letter with Message-ID "
            f"<{msgid}>{where}"
        )

    def series_since(
        self, project: str, since: str, *, per_page: int = 100, max_pages: int = 100
    ) -> tuple[ListedSeries, ...]:
        """Every series of ``project`` whose ``date`` is ``since`` or later, oldest first.

        Patchwork's ``since`` is inclusive (``date >= since``); ``order=date`` sorts by the
        series' date; pages are followed through the ``Link: <...>; rel="next"`` header
        (only its query is taken: the next page is asked of this API root, never of a host
        the header names). More than ``max_pages`` pages is refused, not truncated."""
        query = {"project": project, "since": since, "order": "date", "per_page": str(per_page)}
        path = f"series/?{urllib.parse.urlencode(query)}"
        found: list[ListedSeries] = []
        for _page in range(max_pages):
            answer = self._request("GET", path)
            if answer.status != 200 or not isinstance(answer.body, list):
                raise self._refusal(answer, f"listing the series of {project} since {since}")
            found.extend(self._listed_series(item) for item in answer.body)
            following = _next_link(answer.link)
            if following is None:
                return tuple(found)
            path = f"series/?{following}"
        raise PatchworkPostError(
            f"{self.root.url('series/')}: more than {max_pages} pages of series since {since}; "
            "give a later --since"
        )

    # ------------------------------------------------------------------ posting

    def post_check(self, patch_id: int, check: Mapping[str, str]) -> PostedCheck:
        """POST ``check`` to the patch; returns only once patchwork stored it as sent."""
        what = f"check {check.get('context')} on patch {patch_id}"
        answer = self._request("POST", f"patches/{_id(patch_id)}/checks/", body=check)
        if answer.status != 201:
            raise self._refusal(answer, f"posting {what}", not_found="patch", posting=True)
        echoed = answer.body if isinstance(answer.body, dict) else {}
        differs = [
            key
            for key, sent in check.items()
            if (echoed.get(key) or "") != sent  # patchwork echoes an empty target_url as null
        ]
        if not is_patchwork_id(echoed.get("id")):
            differs.append("id (not a positive integer)")
        if differs:
            raise PatchworkPostError(
                f"patchwork answered 201 to {what} but did not echo it back as sent "
                f"({', '.join(differs)} differ): it may have stored something else; look at "
                f"{self.root.url(f'patches/{patch_id}/checks/')}",
                maybe_stored=True,
            )
        url = echoed.get("url")
        return PostedCheck(
            patch_id, check["context"], check["state"], url if isinstance(url, str) else ""
        )

    def checks(self, patch_id: int) -> list[dict[str, Any]]:
        """The checks stored on a patch (to read back what was posted)."""
        answer = self._request("GET", f"patches/{_id(patch_id)}/checks/")
        if answer.status != 200 or not isinstance(answer.body, list):
            doing = f"reading the checks of patch {patch_id}"
            raise self._refusal(answer, doing, not_found="patch")
        return [item for item in answer.body if isinstance(item, dict)]

    # ------------------------------------------------------------------ HTTP

    def _request(self, method: str, path: str, *, body: Mapping[str, str] | None = None) -> Answer:
        url = self.root.url(path)
        target = urllib.parse.urlsplit(url)
        selector = target.path + (f"?{target.query}" if target.query else "")
        headers = {"Accept": "application/json", "User-Agent": "glibc-farm"}
        if self.token is not None:
            headers["Authorization"] = f"Token {self.token.value}"
        data = None
        if body is not None:
            data = json.dumps(dict(body)).encode()
            headers["Content-Type"] = "application/json"
        connection: http.client.HTTPConnection
        if self.root.scheme == "https":
            connection = http.client.HTTPSConnection(
                self.root.host, self.root.port, timeout=self.timeout,
                context=ssl.create_default_context(),
            )  # fmt: skip
        else:
            connection = http.client.HTTPConnection(
                self.root.host, self.root.port, timeout=self.timeout
            )
        deadline = _Deadline(connection, self.timeout)
        try:
            try:
                connection.connect()
            except (OSError, ssl.SSLError) as exc:
                if deadline.expired.is_set():
                    raise _Unreachable(self._late(url, "while connecting")) from exc
                raise _Unreachable(
                    f"could not connect to patchwork at {self.root.url()} ({self._why(exc)}); "
                    "nothing was sent. Check the API URL and the network"
                ) from exc
            if deadline.expired.is_set():  # connected only as time ran out: nothing can stop
                # the reads that would follow, since the watchdog found no socket to shut down
                connection.close()
                raise _Unreachable(self._late(url, "while connecting") + "; nothing was sent")
            try:
                connection.request(method, selector, body=data, headers=headers)
            except OSError as exc:  # the server went away before it had the whole request
                happened = (
                    self._late(url, "while the farm was sending")
                    if deadline.expired.is_set()
                    else f"patchwork at {self.root.url()} closed the connection while the farm "
                    f"was sending ({self._why(exc)})"
                )
                raise PatchworkPostError(
                    f"{happened}; the request did not arrive whole, so nothing was stored by it"
                ) from exc
            try:
                response = connection.getresponse()
                raw = response.read(MAX_ANSWER_BYTES + 1)
            except (OSError, http.client.HTTPException) as exc:
                stalled = deadline.expired.is_set() or isinstance(
                    exc, TimeoutError | socket.timeout
                )
                happened = (
                    self._late(url)
                    if stalled
                    else f"patchwork at {url} closed the connection without a whole answer "
                    f"({self._why(exc)})"
                )
                raise PatchworkPostError(happened, maybe_stored=method == "POST") from exc
            if deadline.expired.is_set():  # the socket was shut down under a short read
                raise PatchworkPostError(self._late(url), maybe_stored=method == "POST")
        finally:
            deadline.cancel()
            connection.close()
        if len(raw) > MAX_ANSWER_BYTES:
            raise PatchworkPostError(f"patchwork at {url} answered more than {MAX_ANSWER_BYTES} B")
        text = raw.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, a 5000-digit number, nested too deep
            parsed = None
        return Answer(
            response.status,
            self.scrubber.line(response.reason or ""),
            self.scrubber.line(response.getheader("Location") or "", limit=2000),
            parsed,
            self.scrubber.text(text),
            self.scrubber.line(response.getheader("Link") or "", limit=8000),
        )

    def _late(self, url: str, when: str = "") -> str:
        where = f" {when}" if when else ""
        return (
            f"patchwork at {url} did not answer within {self.timeout:g} s{where} (the deadline "
            "of one whole request, --timeout): it stalled, or sent its answer too slowly"
        )

    def _why(self, exc: BaseException) -> str:
        """An exception's words (a malformed status line quotes the server) for a message."""
        said = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return self.scrubber.line(said)

    def _listed_series(self, item: object) -> ListedSeries:
        """A series of a list answer: its id (and every patch's) a positive integer."""
        if not isinstance(item, dict) or not is_patchwork_id(item.get("id")):
            shown = self.scrubber.line(repr(item), limit=200)
            raise PatchworkPostError(f"patchwork listed something that is no series: {shown}")
        where = f"series {item['id']}"
        patches = item.get("patches")
        submitter = item.get("submitter")
        submitter = submitter if isinstance(submitter, dict) else {}
        cover = item.get("cover_letter")
        cover = cover if isinstance(cover, dict) else {}
        version, date, mbox = item.get("version"), item.get("date"), item.get("mbox")
        if not isinstance(version, int) or not isinstance(date, str) or not isinstance(mbox, str):
            shown = self.scrubber.line(repr(item), limit=200)
            raise PatchworkPostError(
                f"patchwork's {where} has no version, date or mbox (an API before 1.1?): {shown}"
            )
        name = " ".join(str(submitter.get("name") or "").split())
        email = str(submitter.get("email") or "")
        return ListedSeries(
            id=item["id"],
            name=self.scrubber.line(str(item.get("name") or "")),
            version=version,
            date=date,
            submitter=self.scrubber.line(f"{name} <{email}>" if name else email),
            mbox=mbox,
            cover_mbox=str(cover.get("mbox") or ""),
            patches=tuple(
                self._patch_info(p, where) for p in (patches if isinstance(patches, list) else [])
            ),
            complete=item.get("received_all") is not False,
        )

    def _patch_info(self, item: object, where: str) -> PatchInfo:
        """A patch in an answer: its id a positive integer, and every series it names too."""
        if not isinstance(item, dict) or not is_patchwork_id(item.get("id")):
            shown = self.scrubber.line(repr(item), limit=200)
            raise PatchworkPostError(
                f"patchwork's answer for {where} is not a patch with a positive integer id: {shown}"
            )
        series = item.get("series", [])
        entries = series if isinstance(series, list) else [series]
        if not all(isinstance(s, dict) and is_patchwork_id(s.get("id")) for s in entries):
            shown = self.scrubber.line(repr(series), limit=200)
            raise PatchworkPostError(
                f"patchwork's answer for {where}: patch {item['id']} names its series as "
                f"{shown}, not as series with positive integer ids"
            )
        name = item.get("name")
        return PatchInfo(
            item["id"], name if isinstance(name, str) else "", tuple(s["id"] for s in entries)
        )

    def _refusal(
        self, answer: Answer, doing: str, *, not_found: str = "", posting: bool = False
    ) -> FarmError:
        """Explain an answer that is not the one expected, from patchwork's own detail."""
        said = self._detail(answer)
        head = f"{doing}: patchwork answered HTTP {answer.status} {answer.reason}".rstrip()
        if answer.status in _REDIRECTS:
            location = answer.location
            why = "(a POST would silently turn into a GET and store nothing)"
            if not location:
                return PatchworkError(
                    f"{head} without saying where to. The farm never follows a redirect {why}: "
                    "check the API URL"
                )
            return PatchworkError(
                f"{head}, pointing to {location}. The farm never follows a redirect {why}: use "
                f"--api-url {self.scrubber.line(_suggested_root(self.root, location))}"
            )
        if answer.status in (401, 403) and "token" in said.lower():
            return PatchworkError(
                f"{head} ({said}): patchwork does not accept this token; copy it again from your "
                "patchwork profile page ($FARM_PATCHWORK_TOKEN, --token-file or git config "
                "pw.token)"
            )
        if answer.status == 401:
            return PatchworkError(f"{head} ({said}): patchwork wants a token for this")
        if answer.status == 403:
            return PatchworkError(
                f"{head} ({said}): the token's user may not do this; a check needs a maintainer "
                "of the patch's project (or its submitter or delegate)"
            )
        if answer.status == 404 and not_found:
            other = "series" if not_found == "patch" else "patch"
            return PatchworkError(
                f"{head} ({said}): no such {not_found} at {self.root.url()} (a {other} id "
                f"given as a {not_found} id, or the wrong API URL?)"
            )
        if answer.status == 400:
            return PatchworkError(f"{head}: patchwork refused the values: {said}")
        if answer.status >= 500 and posting:
            return PatchworkPostError(
                f"{head} ({said}): patchwork failed while storing; the check may have been "
                "stored anyway",
                maybe_stored=True,
            )
        if 200 <= answer.status < 300:
            return PatchworkPostError(
                f"{head}, not the answer expected ({said or 'empty'}); this is not patchwork's "
                "API at this URL, or a proxy in between answers for it",
                maybe_stored=posting,
            )
        return PatchworkPostError(f"{head} ({said})", maybe_stored=posting and answer.status >= 500)

    def _detail(self, answer: Answer) -> str:
        """Patchwork's own words: ``detail``, or field errors as ``field: message``; scrubbed."""
        body = answer.body
        if isinstance(body, dict):
            if isinstance(body.get("detail"), str):
                return self.scrubber.line(body["detail"])
            parts = []
            for key, value in body.items():
                messages = value if isinstance(value, list) else [value]
                parts.append(f"{key}: {' '.join(str(m) for m in messages)}")
            return self.scrubber.line("; ".join(parts))
        if answer.text.lstrip().startswith("<"):
            return "an HTML page, not an answer of patchwork's API: is the API URL right?"
        return self.scrubber.line(answer.text)


class _Deadline:
    """The deadline of one request: when it passes, the connection's socket is shut down, which
    wakes a read blocked on it (the per-read socket timeout alone restarts with every byte a
    trickling server sends)."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.expired = threading.Event()
        self._connection = connection
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired.set()
            sock = self._connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed by the other side
                    sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


def _next_link(header: str) -> str | None:
    """The query of the ``rel="next"`` URL of a Link header (RFC 8288), or None."""
    for target, params in _LINK_RE.findall(header):
        if re.search(r'(?:^|;)\s*rel\s*=\s*"?next"?\s*(?:;|$)', params):
            return str(urllib.parse.urlsplit(target).query)
    return None


def _id(value: int) -> int:
    """An id about to go into a request path: the callers validated it; this makes sure."""
    if not is_patchwork_id(value):
        raise PatchworkError(f"{value!r} is not a patchwork id (a positive integer)")
    return value


def _suggested_root(root: ApiRoot, location: str) -> str:
    """The API root a redirect implies: the Location with the request's own suffix removed."""
    try:
        moved = urllib.parse.urlsplit(urllib.parse.urljoin(root.url(), location))
    except ValueError:
        return "(the URL patchwork points to)"
    path = moved.path
    index = path.find(root.path + "/") if root.path else -1
    kept = path[: index + len(root.path)] if index >= 0 else path.rstrip("/")
    return urllib.parse.urlunsplit((moved.scheme, moved.netloc, kept, "", ""))
