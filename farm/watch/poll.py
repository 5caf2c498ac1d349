"""What patchwork has posted since the watcher last looked, and the mails of one series.

Polling asks ``GET /series/?project=P&since=D&order=date`` (`PatchworkClient.series_since`,
every page). Patchwork's ``since`` is on the series' ``date``, which is the date of its first
mail as the sender's clock and the list's delays made it, not when patchwork received it: a
series can appear after a later one was seen. So the query reaches back `LOOKBACK` before
the cursor, and the state's table of series ids (not the cursor) decides what is new; the
cursor only moves forward, to the newest (date, id) listed. On the very first start the
cursor is now (nothing posted before the watcher existed is tested), or ``--since``; that
first cursor is also the floor no look-back reaches below.

The mboxes come from patchwork's own views (``/series/<id>/mbox/``, ``/cover/<id>/mbox/``),
whose URLs the API gives. They are fetched only from the API's own host (a URL pointing
elsewhere is refused: what the farm tests must come from the patchwork it reports to),
never through a redirect, with a deadline and a size bound (`farm.inputs.series.MAX_SERIES_BYTES`).
"""

from __future__ import annotations

import datetime
import http.client
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from farm.errors import FarmError
from farm.inputs import series as series_mod
from farm.inputs.patchwork_api import ApiRoot, ListedSeries, PatchworkClient
from farm.nofollow import replace_file
from farm.watch.state import Cursor, WatchedSeries, WatchState, format_date, parse_date

#: How far before the cursor each poll reaches, for series whose date is older than their
#: arrival (a delayed mail, a sender's clock behind).
LOOKBACK = datetime.timedelta(hours=6)


class MboxUnavailable(FarmError):
    """A series' mbox could not be fetched (retried with backoff, then given up)."""


#: How long a series patchwork has not received whole (``received_all`` false: a patch
#: of it still on its way, or lost) is waited for before it is tested as it is.
INCOMPLETE_PATIENCE = datetime.timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class PollResult:
    listed: int  # series patchwork listed in the window
    queued: tuple[WatchedSeries, ...]  # of which new to the state, now queued
    waiting: tuple[int, ...]  # incomplete series left for a later poll
    cursor: Cursor


def watched(listed: ListedSeries) -> WatchedSeries:
    return WatchedSeries(
        id=listed.id,
        version=listed.version,
        name=listed.name,
        submitter=listed.submitter,
        date=listed.date,
        mbox_url=listed.mbox,
        cover_mbox_url=listed.cover_mbox,
        patch_ids=tuple(p.id for p in listed.patches),
    )


def first_cursor(since: datetime.datetime | None, now: datetime.datetime) -> Cursor:
    """Where a new state starts: ``--since``, else now (nothing earlier is tested)."""
    return Cursor(format_date(since or now), 0)


def poll(
    client: PatchworkClient, state: WatchState, project: str, *, lookback: datetime.timedelta,
    now: float, patience: datetime.timedelta = INCOMPLETE_PATIENCE,
) -> PollResult:  # fmt: skip
    """List what is new, queue it and move the cursor (one transaction); patchwork's
    faults (`PatchworkPostError`, `PatchworkError`) are raised with nothing changed.

    A series patchwork has not received whole is not queued yet (its last patch is on its
    way), unless it is older than ``patience``; the cursor stays at or before it, so the
    next polls list it again."""
    cursor = state.cursor()
    if cursor is None:
        raise FarmError(f"{state.path}: no cursor yet; the watcher sets one on its first start")
    floor = state.floor()
    reach = cursor.when - lookback
    since = format_date(reach if floor is None else max(reach, floor))
    listed = client.series_since(project, since)
    utc_now = datetime.datetime.fromtimestamp(now, datetime.UTC).replace(tzinfo=None)
    dated = [(parse_date(item.date, what=f"series {item.id}'s date"), item) for item in listed]
    dated = [(when, item) for when, item in dated if floor is None or when >= floor]
    ready = [(when, item) for when, item in dated if item.complete or utc_now - when > patience]
    waiting = [(when, item) for when, item in dated if (when, item) not in ready]
    newest = max([(cursor.when, cursor.series_id)] + [(when, i.id) for when, i in ready])
    if waiting:
        oldest_waiting = min(when for when, _item in waiting)
        newest = max((cursor.when, cursor.series_id), min(newest, (oldest_waiting, 0)))
    moved = Cursor(format_date(newest[0]), newest[1])
    found = [watched(item) for _when, item in ready]
    known = state.known([s.id for s in found])
    state.add_series(found, moved, now=now)
    return PollResult(
        len(listed),
        tuple(s for s in found if s.id not in known),
        tuple(item.id for _when, item in waiting),
        moved,
    )


def fetch_mbox(url: str, *, root: ApiRoot, timeout: float, what: str) -> bytes:
    """The bytes at ``url`` (a patchwork mbox view), from the API's host only."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise MboxUnavailable(f"{what}: patchwork gave a malformed mbox URL {url!r:.200}") from exc
    if (parts.scheme, parts.hostname, port) != (root.scheme, root.host, root.port):
        raise MboxUnavailable(
            f"{what}: the mbox URL {url!r:.200} is not on the patchwork API's host "
            f"{root.url()}; the farm fetches series only from the patchwork it reports to"
        )
    selector = parts.path + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            root.host, root.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(root.host, root.port, timeout=timeout)
    limit = series_mod.MAX_SERIES_BYTES
    try:
        connection.request("GET", selector, headers={"User-Agent": "glibc-farm"})
        response = connection.getresponse()
        data = response.read(limit + 1)
    except (OSError, http.client.HTTPException) as exc:
        stalled = isinstance(exc, TimeoutError | socket.timeout)
        why = f"no answer within {timeout:g} s" if stalled else f"{type(exc).__name__}: {exc}"
        raise MboxUnavailable(f"{what}: cannot fetch {url}: {why}") from exc
    finally:
        connection.close()
    if response.status != 200:
        raise MboxUnavailable(f"{what}: {url} answered HTTP {response.status} {response.reason}")
    if len(data) > limit:
        raise MboxUnavailable(f"{what}: {url} is larger than {limit} bytes; no series is")
    return data


def keep_mbox(path: Path, data: bytes) -> Path:
    """Write the series' mbox once, atomically: the run tests the bytes the skip rules read,
    even when patchwork's view changes later (it adds the Reviewed-by tags that arrive)."""
    return replace_file(path, data)
