"""Turning a patch series, in whatever form it was posted, into an ordered list of patches.

Whatever the source (an mbox, a public-inbox thread, a quilt directory, a single diff, a git
range), the farm applies a series as numbered patches, one at a time, so that a patch that does
not apply can be named by number and subject, and a regression can be bisected to the first
bad patch. This module is pure: it parses bytes and validates them; fetching is ``sources``.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from farm.errors import SeriesError
from farm.scenario import PatchFormat

#: A whole series larger than this is refused: no real glibc series comes near it.
MAX_SERIES_BYTES = 64 << 20

_PATCH_TAG_RE = re.compile(r"^\s*\[(?P<tags>[^\]]*?)\]\s*(?P<title>.*)$", re.DOTALL)
_NUMBER_RE = re.compile(r"(?:^|\s)(?P<n>\d+)/(?P<total>\d+)(?:\s|$)")
_VERSION_RE = re.compile(r"(?:^|\s)v(?P<v>\d+)(?:\s|$)", re.IGNORECASE)
_DIFF_FILE_RE = re.compile(r"^(?:---|\+\+\+) (?P<path>\S+)", re.MULTILINE)
_GIT_DIFF_RE = re.compile(r"^diff --git (?P<a>\S+) (?P<b>\S+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Patch:
    """One patch of a series, as it will be applied."""

    number: int  # 1-based position in the series
    subject: str  # without the [PATCH vN m/n] tag
    format: PatchFormat
    content: bytes


@dataclass(frozen=True, slots=True)
class ParsedMail:
    subject: str
    title: str
    number: int | None
    total: int | None
    version: int
    is_reply: bool
    raw: bytes


def split_mbox(data: bytes) -> list[bytes]:
    """Split an mbox into messages at ``From `` separator lines (mboxo/mboxrd)."""
    _refuse_binary(data, "mbox")
    messages: list[bytes] = []
    current: list[bytes] = []
    for line in data.splitlines(keepends=True):
        if line.startswith(b"From ") and (not current or current[-1].strip() == b""):
            if current:
                messages.append(b"".join(current))
            current = [line]
        else:
            current.append(line)
    if current:
        messages.append(b"".join(current))
    # A file without separator lines is a single mail (what ``git format-patch`` writes
    # per file also starts with "From <sha>", so this is only plain saved mails).
    return [message for message in messages if message.strip()]


def parse_mail(raw: bytes) -> ParsedMail:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    subject = _decode_header(message.get("Subject", ""))
    subject = " ".join(subject.split())
    is_reply = bool(re.match(r"^\s*(re|aw|sv):", subject, re.IGNORECASE))
    title, number, total, version = subject, None, None, 1
    tagged = _PATCH_TAG_RE.match(subject)
    if tagged and "patch" in tagged.group("tags").lower():
        tags = tagged.group("tags")
        title = tagged.group("title").strip()
        if numbered := _NUMBER_RE.search(tags):
            number, total = int(numbered.group("n")), int(numbered.group("total"))
        if versioned := _VERSION_RE.search(tags):
            version = int(versioned.group("v"))
    return ParsedMail(subject, title, number, total, version, is_reply, raw)


def patches_from_mbox(data: bytes, *, what: str, root_message_id: str | None = None) -> list[Patch]:
    """The patches of a series posted as mails, in ``m/n`` order, without the cover letter.

    A public-inbox thread also holds replies and sometimes a later revision; the farm keeps
    the revision of the root message (``root_message_id``), or the newest one, and only mails
    that carry a diff.
    """
    mails = [parse_mail(raw) for raw in split_mbox(data)]
    candidates = [m for m in mails if not m.is_reply and _has_diff(m.raw)]
    if not candidates:
        raise SeriesError(f"{what}: no patch found (no mail in it carries a diff)")
    if root_message_id is not None:
        roots = [m for m in mails if root_message_id in _message_ids(m.raw)]
        version = roots[0].version if roots else max(m.version for m in candidates)
    else:
        version = max(m.version for m in candidates)
    chosen = [m for m in candidates if m.version == version]
    numbered = [m for m in chosen if m.number is not None]
    if numbered:
        total = numbered[0].total or len(numbered)
        by_number: dict[int, ParsedMail] = {}
        for mail in numbered:
            if mail.number in by_number or mail.number == 0:
                continue
            by_number[mail.number] = mail  # type: ignore[index]
        missing = [n for n in range(1, total + 1) if n not in by_number]
        if missing:
            raise SeriesError(
                f"{what}: v{version} is {total} patches but {', '.join(map(str, missing))} "
                f"{'is' if len(missing) == 1 else 'are'} missing from it"
            )
        ordered = [by_number[n] for n in range(1, total + 1)]
    else:
        ordered = chosen
    patches = [
        Patch(number=index, subject=mail.title, format=PatchFormat.MAIL, content=mail.raw)
        for index, mail in enumerate(ordered, start=1)
    ]
    for patch in patches:
        check_patch(patch, what=what)
    return patches


def patches_from_quilt(series_text: str, read: dict[str, bytes], *, what: str) -> list[Patch]:
    """The patches a quilt ``series`` file names, in order (``read`` maps name -> bytes)."""
    patches: list[Patch] = []
    for name in quilt_series_names(series_text, what=what):
        content = read[name]
        subject = _diff_subject(content) or name
        patch = Patch(
            number=len(patches) + 1, subject=subject, format=PatchFormat.DIFF, content=content
        )
        check_patch(patch, what=f"{what}/{name}")
        patches.append(patch)
    if not patches:
        raise SeriesError(f"{what}/series: names no patch")
    return patches


def quilt_series_names(series_text: str, *, what: str) -> list[str]:
    """Patch file names from a quilt series file; options such as ``-p1`` are allowed."""
    names: list[str] = []
    for line_number, line in enumerate(series_text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        name = fields[0]
        options = fields[1:]
        if any(option not in ("-p1", "-p 1") for option in options):
            raise SeriesError(
                f"{what}/series:{line_number}: only -p1 patches are supported, got {line!r}"
            )
        check_relative_path(name, where=f"{what}/series:{line_number}")
        names.append(name)
    return names


def single_diff(content: bytes, *, name: str) -> list[Patch]:
    patch = Patch(
        number=1, subject=_diff_subject(content) or name, format=PatchFormat.DIFF, content=content
    )
    check_patch(patch, what=name)
    return [patch]


def check_patch(patch: Patch, *, what: str) -> None:
    """Refuse patches that are not text diffs or that write outside the source tree."""
    _refuse_binary(patch.content, f"{what}: patch {patch.number}")
    if not _has_diff(patch.content):
        raise SeriesError(f"{what}: patch {patch.number} ({patch.subject!r}) contains no diff")
    text = patch.content.decode("utf-8", "replace")
    for match in _GIT_DIFF_RE.finditer(text):
        for side in (match.group("a"), match.group("b")):
            check_relative_path(_strip_prefix(side), where=f"{what}: patch {patch.number}")
    for match in _DIFF_FILE_RE.finditer(text):
        path = match.group("path")
        if path == "/dev/null":
            continue
        check_relative_path(_strip_prefix(path), where=f"{what}: patch {patch.number}")


def check_relative_path(path: str, *, where: str) -> None:
    pure = PurePosixPath(path)
    if not path.strip() or path.startswith("/") or pure.is_absolute() or ".." in pure.parts:
        raise SeriesError(f"{where}: path {path!r} escapes the source tree; refusing the series")


def _strip_prefix(path: str) -> str:
    """``a/elf/dl-open.c`` -> ``elf/dl-open.c``: what ``-p1`` does, textually, so that
    ``b//etc/x`` becomes ``/etc/x`` (and is refused) as it would for ``patch``."""
    if path.startswith("/") or "/" not in path:
        return path
    return path.split("/", 1)[1]


def _has_diff(data: bytes) -> bool:
    return (
        re.search(rb"^diff --git ", data, re.MULTILINE) is not None
        or re.search(rb"^--- \S.*\n\+\+\+ \S", data, re.MULTILINE) is not None
    )


def _refuse_binary(data: bytes, what: str) -> None:
    if len(data) > MAX_SERIES_BYTES:
        raise SeriesError(f"{what}: {len(data)} bytes is larger than any real series; refusing")
    if b"\x00" in data:
        raise SeriesError(f"{what}: contains NUL bytes; expected a text patch or mbox")


def _diff_subject(content: bytes) -> str:
    """A subject for a bare diff: a ``Subject:`` header, else the first description line."""
    text = content.decode("utf-8", "replace")
    if header := re.search(r"^Subject:\s*(.+)$", text, re.MULTILINE):
        return parse_mail(f"Subject: {header.group(1)}\n\n".encode()).title
    for line in text.splitlines():
        if line.startswith(("diff ", "--- ", "Index:", "===")):
            break
        if line.strip() and not re.match(r"^[A-Za-z-]+:\s", line):
            return line.strip()[:200]
    return ""


def _decode_header(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (UnicodeDecodeError, LookupError, email.errors.HeaderParseError):
        return value


def _message_ids(raw: bytes) -> set[str]:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    return {str(message.get("Message-ID", "")).strip().strip("<>")}
