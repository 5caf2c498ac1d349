"""Why ``apt-get source`` could not fetch a pinned Debian version, and what to do about it.

Debian's archive keeps only current versions' files in its pool, while a suite's Sources
index can still list older ones (``Extra-Source-Only`` entries kept for ``Built-Using``,
or an index not yet rewritten): in sid, on one day, glibc 2.43-4, -5 and -7 were listed and
their ``.dsc`` answered 404. apt then prints a bare "Failed to fetch ... 404", which reads
as a network fault. A pinned version fails in one of three ways, told apart here from the
index (``apt-cache showsrc``) and a HEAD of each listed ``.dsc`` in the pool:

- the index does not list the version at all: which versions it does list;
- the index lists it but the pool answers 404: the version left the pool;
- anything else (network, a signature): apt's own words.

For the first two the message says what to do: pin a version the pool serves now (named,
and those listed whose files are gone named apart), take the version from a snapshot of
the archive as the scenario's ``archive:``, or save the ``.dsc`` and its files by hand
where the farm reads them.
"""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from farm.plan.scenario import DebianSource

#: Every version Debian ever published, by the time it was in the archive; a scenario's
#: ``archive:`` set to one of its timestamps serves a version gone from the live pool.
SNAPSHOT_ARCHIVE = "http://snapshot.debian.org/archive/debian/"
SNAPSHOT_HOST = "snapshot.debian.org"
#: A HEAD of a .dsc is one small answer; a pool that says nothing in this long is "unknown".
POOL_CHECK_TIMEOUT = 20.0
#: Listed versions checked at once: sid's index lists about ten versions of glibc.
POOL_CHECK_WORKERS = 8


@dataclass(frozen=True, slots=True)
class ListedVersion:
    """One version of a package a suite's Sources index lists, and its .dsc in the pool."""

    version: str
    dsc_url: str  # "" when the index entry names no .dsc (then nothing can be checked)


@dataclass(frozen=True, slots=True)
class PoolAnswer:
    """What a HEAD of each listed version's .dsc said: served, gone (404/410), or unknown."""

    served: tuple[str, ...]
    gone: tuple[str, ...]
    unknown: tuple[str, ...]

    def of(self, version: str) -> bool | None:
        if version in self.served:
            return True
        return False if version in self.gone else None


def is_snapshot(archive: str) -> bool:
    """An archive on snapshot.debian.org, whose Release files expired long ago by design."""
    return urllib.parse.urlparse(archive).hostname == SNAPSHOT_HOST


def listed_versions(showsrc: str, package: str, archive: str) -> tuple[ListedVersion, ...]:
    """The versions of ``package`` in ``apt-cache showsrc`` output, in the index's order.

    showsrc also prints source packages that build a binary named ``package``; only
    stanzas whose ``Package:`` is ``package`` count.
    """
    found: dict[str, ListedVersion] = {}
    for stanza in re.split(r"\n[ \t]*\n", showsrc):
        name = re.search(r"^Package: *(\S+)", stanza, re.MULTILINE)
        version = re.search(r"^Version: *(\S+)", stanza, re.MULTILINE)
        if name is None or version is None or name.group(1) != package:
            continue
        directory = re.search(r"^Directory: *(\S+)", stanza, re.MULTILINE)
        dsc = re.search(r"^[ \t]+\S+[ \t]+\d+[ \t]+(\S+\.dsc)[ \t]*$", stanza, re.MULTILINE)
        url = (
            f"{archive.rstrip('/')}/{directory.group(1).strip('/')}/{dsc.group(1)}"
            if directory is not None and dsc is not None
            else ""
        )
        found.setdefault(version.group(1), ListedVersion(version.group(1), url))
    return tuple(found.values())


def pool_serves(url: str) -> bool | None:
    """Whether the pool serves ``url``: True, False when it answers 404 or 410 (the file is
    gone), None when there is no answer to judge by (network down, another error)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path)).is_file()
    if parsed.scheme not in ("http", "https"):
        return None
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "glibc-farm"})
    try:
        with urllib.request.urlopen(request, timeout=POOL_CHECK_TIMEOUT):
            return True
    except urllib.error.HTTPError as error:
        return False if error.code in (404, 410) else None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
        return None


def check_pool(listed: tuple[ListedVersion, ...]) -> PoolAnswer:
    """A HEAD of every listed .dsc, a few at a time."""
    with_url = [entry for entry in listed if entry.dsc_url]
    with ThreadPoolExecutor(max_workers=POOL_CHECK_WORKERS) as pool:
        answers = dict(
            zip(
                (entry.version for entry in with_url),
                pool.map(pool_serves, (entry.dsc_url for entry in with_url)),
                strict=True,
            )
        )
    return PoolAnswer(
        served=tuple(e.version for e in listed if answers.get(e.version) is True),
        gone=tuple(e.version for e in listed if answers.get(e.version) is False),
        unknown=tuple(e.version for e in listed if answers.get(e.version) is None),
    )


def unfetchable_version(
    source: DebianSource,
    *,
    listed: tuple[ListedVersion, ...],
    pool: PoolAnswer,
    apt_said: str,
    directory: Path,
) -> str:
    """The message for a pinned version ``apt-get source`` could not fetch."""
    where = f"{source.where}: " if source.where else ""
    head = f"{where}{source.key}"
    index = f"{source.suite}'s Sources index at {source.archive}"
    mine = next((entry for entry in listed if entry.version == source.version), None)
    if mine is None:
        lists = (
            f"it lists {', '.join(entry.version for entry in listed)}"
            if listed
            else f"it lists no source package {source.package}"
        )
        return (
            f"{head}: {index} has no version {source.version} of {source.package}; {lists}.\n"
            f"{_what_to_do(source, pool, directory, listed=False)}"
        )
    gone = pool.of(source.version) is False or (
        pool.of(source.version) is None and _apt_saw_404(apt_said, mine.dsc_url)
    )
    if gone:
        return (
            f"{head}: {source.version} has left the pool: {index} still lists it, but the "
            f"archive answers 404 for its files ({mine.dsc_url or 'its .dsc'}). Debian keeps "
            "only current versions in its pool; the index can go on listing older ones.\n"
            f"{_what_to_do(source, pool, directory, listed=True)}\n"
            f"apt said:\n{_indented(apt_said)}"
        )
    return (
        f"{head}: apt-get source failed although {index} lists {source.version}:\n"
        f"{_indented(apt_said)}\n"
        "Is the network up, the mirror in sync (try again later)? Offline, save the .dsc and "
        f"the files it lists into\n  {directory}/\nby hand and run the farm again."
    )


def _what_to_do(source: DebianSource, pool: PoolAnswer, directory: Path, *, listed: bool) -> str:
    """The ways out; ``listed``: the index lists the version, so it was published."""
    others = [v for v in (*pool.served, *pool.unknown) if v != source.version]
    lines = ["What to do, one of:"]
    if pool.served:
        served = [v for v in pool.served if v != source.version]
        gone = [v for v in pool.gone if v != source.version]
        line = f"  - pin a version {source.suite} serves now: {', '.join(served)}"
        line += " (their .dsc answers in the pool)"
        if gone:
            line += f"; listed but gone from the pool: {', '.join(gone)}"
        if pool.unknown:
            line += f"; not checked (no answer): {', '.join(pool.unknown)}"
        lines.append(line)
    elif others:
        lines.append(
            f"  - pin a version {source.suite} lists: {', '.join(others)} (the pool gave no "
            "answer to check them by, and the index can list versions whose files are gone)"
        )
    snapshot = (
        f"glibc.source.debian.archive to {SNAPSHOT_ARCHIVE}<timestamp>/, a time when "
        f"{source.suite} had it"
    )
    package_page = f"https://snapshot.debian.org/package/{source.package}/"
    if listed:
        page = f"{package_page}{urllib.parse.quote(source.version)}/"
        lines.append(
            f"  - keep {source.version} and take it from a snapshot of the archive: set "
            f"{snapshot} ({page} lists those times)"
        )
    else:
        lines.append(
            f"  - if Debian ever published {source.version} ({package_page} lists every "
            f"version it did), take it from a snapshot of the archive: set {snapshot}"
        )
    lines.append(
        f"  - save {_dsc_name(source)} and the files it lists by hand into\n      {directory}/\n"
        "    the farm then takes them without apt, each file checked against the .dsc"
        + (" and the .dsc against dsc_sha256" if source.dsc_sha256 else "")
    )
    return "\n".join(lines)


def _dsc_name(source: DebianSource) -> str:
    """``glibc_2.43-5.dsc``: Debian's file names leave out a version's epoch."""
    return f"{source.package}_{source.version.partition(':')[2] or source.version}.dsc"


def _apt_saw_404(apt_said: str, dsc_url: str) -> bool:
    """apt's own "Failed to fetch <the .dsc> 404": the answer when a HEAD got none."""
    return any(
        "404" in line and (not dsc_url or dsc_url in line)
        for line in apt_said.splitlines()
        if line.startswith("E: Failed to fetch")
    )


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.strip().splitlines())
