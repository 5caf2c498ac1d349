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
  first authentication class, the session, sends no challenge).

Errors: `PatchworkError` (exit 2) is input the user must fix, found before anything is
posted (a bad URL, an invalid token, an unknown patch or series). `PatchworkPostError`
(exit 3) is a post that failed or whose fate is unknown. The token is never part of a
message, even when a server echoes it back.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import socket
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from farm.errors import FarmError

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
        if not url or _CONTROL.search(url):
            raise PatchworkError(f"patchwork API URL {url!r} is empty or has spaces; {example}")
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as exc:
            message = f"patchwork API URL {url!r} is malformed ({exc}); {example}"
            raise PatchworkError(message) from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PatchworkError(f"patchwork API URL must be http(s)://host/api/..., got {url!r}")
        if parts.username is not None or parts.password is not None:
            raise PatchworkError(
                "patchwork API URL must not carry credentials (they would be shown in messages); "
                "give the token with $FARM_PATCHWORK_TOKEN, --token-file or git config pw.token"
            )
        if parts.query or parts.fragment:
            raise PatchworkError(f"patchwork API URL {url!r} must not have a query or fragment")
        path = parts.path.rstrip("/")
        if "api" not in path.split("/"):
            raise PatchworkError(
                f"{url!r} is not patchwork's API: its path has no /api part; "
                f"use {url.rstrip('/')}/api/1.3 (as in git-pw's pw.server)"
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

    def scrub(self, text: str) -> str:
        return text.replace(self.value, "<token>")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    reason: str
    location: str
    body: Any  # parsed JSON, or None
    text: str
    link: str = ""  # the Link header: patchwork's pagination (rel="next")


@dataclass(frozen=True, slots=True)
class PatchInfo:
    """A patch as patchwork lists it: its id, subject line and series (if any)."""

    id: int
    name: str
    series_ids: tuple[int, ...] = ()


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
    """One patchwork instance, one token, one timeout per request."""

    root: ApiRoot
    token: Token | None
    timeout: float

    # ------------------------------------------------------------------ lookups

    def patch(self, patch_id: int) -> PatchInfo:
        """The patch ``patch_id``; `PatchworkError` when patchwork has no such patch."""
        answer = self._request("GET", f"patches/{int(patch_id)}/")
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise self._refusal(answer, f"looking up patch {patch_id}", not_found="patch")
        return _patch_info(answer.body, f"patch {patch_id}")

    def series(self, series_id: int) -> SeriesInfo:
        """The series ``series_id`` (the number in patchwork's ``/series/<id>/`` URLs)."""
        answer = self._request("GET", f"series/{int(series_id)}/")
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise self._refusal(answer, f"looking up series {series_id}", not_found="series")
        body = answer.body
        patches = body.get("patches")
        if not isinstance(patches, list):
            raise PatchworkPostError(f"{self.root.url()}: series {series_id} has no patch list")
        infos = tuple(_patch_info(p, f"series {series_id}") for p in patches)
        if not infos:
            raise PatchworkError(
                f"series {series_id} at {self.root.url()} has no patches (a cover letter only?)"
            )
        return SeriesInfo(
            id=int(series_id),
            name=str(body.get("name") or ""),
            patches=tuple(PatchInfo(p.id, p.name, (int(series_id),)) for p in infos),
            complete=body.get("received_all") is not False,
        )

    def series_of_message(self, message_id: str, *, project: str = "") -> SeriesInfo:
        """The series of the patch or cover letter with this Message-ID."""
        msgid = message_id.strip().removeprefix("<").removesuffix(">")
        if not msgid or _CONTROL.search(msgid) or "@" not in msgid:
            raise PatchworkError(
                f"Message-ID {message_id!r} is not a mail's Message-ID (expected id@host)"
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
                found = _patch_info(hits[0], f"Message-ID <{msgid}>")
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
            found.extend(_listed_series(item) for item in answer.body)
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
        answer = self._request("POST", f"patches/{int(patch_id)}/checks/", body=check)
        if answer.status != 201:
            raise self._refusal(answer, f"posting {what}", not_found="patch", posting=True)
        echoed = answer.body if isinstance(answer.body, dict) else {}
        differs = [
            key
            for key, sent in check.items()
            if (echoed.get(key) or "") != sent  # patchwork echoes an empty target_url as null
        ]
        if differs:
            raise PatchworkPostError(
                f"patchwork answered 201 to {what} but did not echo it back as sent "
                f"({', '.join(differs)} differ): it may have stored something else; look at "
                f"{self.root.url(f'patches/{int(patch_id)}/checks/')}",
                maybe_stored=True,
            )
        return PostedCheck(patch_id, check["context"], check["state"], str(echoed.get("url") or ""))

    def checks(self, patch_id: int) -> list[dict[str, Any]]:
        """The checks stored on a patch (to read back what was posted)."""
        answer = self._request("GET", f"patches/{int(patch_id)}/checks/")
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
        try:
            try:
                connection.connect()
            except (OSError, ssl.SSLError) as exc:
                raise _Unreachable(
                    f"could not connect to patchwork at {self.root.url()} ({_why(exc)}); nothing "
                    "was sent. Check the API URL and the network"
                ) from exc
            try:
                connection.request(method, selector, body=data, headers=headers)
            except OSError as exc:  # the server went away before it had the whole request
                raise PatchworkPostError(
                    f"patchwork at {self.root.url()} closed the connection while the farm was "
                    f"sending ({_why(exc)}); the request did not arrive whole, so nothing "
                    "was stored by it"
                ) from exc
            try:
                response = connection.getresponse()
                raw = response.read(MAX_ANSWER_BYTES + 1)
            except (OSError, http.client.HTTPException) as exc:
                stalled = isinstance(exc, TimeoutError | socket.timeout)
                happened = (
                    f"did not answer within {self.timeout:g} s"
                    if stalled
                    else f"closed the connection without a whole answer ({_why(exc)})"
                )
                raise PatchworkPostError(
                    f"patchwork at {url} {happened}",
                    maybe_stored=method == "POST",
                ) from exc
        finally:
            connection.close()
        if len(raw) > MAX_ANSWER_BYTES:
            raise PatchworkPostError(f"patchwork at {url} answered more than {MAX_ANSWER_BYTES} B")
        text = self._scrub(raw.decode("utf-8", errors="replace"))
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        return Answer(
            response.status, response.reason, response.getheader("Location") or "", parsed, text,
            self._scrub(response.getheader("Link") or ""),
        )  # fmt: skip

    def _scrub(self, text: str) -> str:
        return self.token.scrub(text) if self.token is not None else text

    def _refusal(
        self, answer: Answer, doing: str, *, not_found: str = "", posting: bool = False
    ) -> FarmError:
        """Explain an answer that is not the one expected, from patchwork's own detail."""
        said = _detail(answer)
        head = f"{doing}: patchwork answered HTTP {answer.status} {answer.reason}".rstrip()
        if answer.status in _REDIRECTS:
            location = _one_line(self._scrub(answer.location))
            why = "(a POST would silently turn into a GET and store nothing)"
            if not location:
                return PatchworkError(
                    f"{head} without saying where to. The farm never follows a redirect {why}: "
                    "check the API URL"
                )
            return PatchworkError(
                f"{head}, pointing to {location}. The farm never follows a redirect {why}: use "
                f"--api-url {_suggested_root(self.root, location)}"
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


def _patch_info(item: object, where: str) -> PatchInfo:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        raise PatchworkPostError(f"patchwork's answer for {where} is not a patch: {item!r:.200}")
    series = item.get("series")
    series_ids = tuple(
        s["id"]
        for s in (series if isinstance(series, list) else [])
        if isinstance(s, dict) and isinstance(s.get("id"), int)
    )
    return PatchInfo(item["id"], str(item.get("name") or ""), series_ids)


def _listed_series(item: object) -> ListedSeries:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        raise PatchworkPostError(f"patchwork listed something that is no series: {item!r:.200}")
    where = f"series {item['id']}"
    patches = item.get("patches")
    submitter = item.get("submitter")
    submitter = submitter if isinstance(submitter, dict) else {}
    cover = item.get("cover_letter")
    cover = cover if isinstance(cover, dict) else {}
    version, date, mbox = item.get("version"), item.get("date"), item.get("mbox")
    if not isinstance(version, int) or not isinstance(date, str) or not isinstance(mbox, str):
        raise PatchworkPostError(
            f"patchwork's {where} has no version, date or mbox (an API before 1.1?): {item!r:.200}"
        )
    name = " ".join(str(submitter.get("name") or "").split())
    email = str(submitter.get("email") or "")
    return ListedSeries(
        id=item["id"],
        name=str(item.get("name") or ""),
        version=version,
        date=date,
        submitter=f"{name} <{email}>" if name else email,
        mbox=mbox,
        cover_mbox=str(cover.get("mbox") or ""),
        patches=tuple(
            _patch_info(p, where) for p in (patches if isinstance(patches, list) else [])
        ),
        complete=item.get("received_all") is not False,
    )


def _next_link(header: str) -> str | None:
    """The query of the ``rel="next"`` URL of a Link header (RFC 8288), or None."""
    for target, params in _LINK_RE.findall(header):
        if re.search(r'(?:^|;)\s*rel\s*=\s*"?next"?\s*(?:;|$)', params):
            return str(urllib.parse.urlsplit(target).query)
    return None


def _detail(answer: Answer) -> str:
    """Patchwork's own words: ``detail``, or field errors as ``field: message``."""
    body = answer.body
    if isinstance(body, dict):
        if isinstance(body.get("detail"), str):
            return _one_line(body["detail"])
        parts = []
        for key, value in body.items():
            messages = value if isinstance(value, list) else [value]
            parts.append(f"{key}: {' '.join(str(m) for m in messages)}")
        return _one_line("; ".join(parts))
    if answer.text.lstrip().startswith("<"):
        return "an HTML page, not an answer of patchwork's API: is the API URL right?"
    return _one_line(answer.text)


def _one_line(text: str) -> str:
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= 300 else flat[:297] + "..."


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


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
