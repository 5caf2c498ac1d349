"""Turning a patch series, in whatever form it was posted, into an ordered list of patches.

Whatever the source (an mbox, a public-inbox thread, a quilt directory, a single diff, a git
range), the farm applies a series as numbered patches, one at a time, so that a patch that does
not apply can be named by number and subject, and a regression can be bisected to the first
bad patch. This module parses bytes and validates them; fetching is ``sources``. Mails are
split and read by git itself (``git mailsplit``, ``git mailinfo``), so that the farm takes
exactly the mails and diffs ``git am`` will apply, not its own guess at them.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from farm import command
from farm.errors import SeriesError
from farm.plan.scenario import PatchFormat

#: A whole series larger than this is refused: no real glibc series comes near it.
MAX_SERIES_BYTES = 64 << 20
#: "[PATCH 1/99999999]" must not make the farm list 99999999 missing patches.
MAX_SERIES_PATCHES = 999
#: ``git mailsplit`` / ``git mailinfo`` on one series: seconds, even for the size limit.
GIT_MAIL_TIMEOUT = 120.0

_PATCH_TAG_RE = re.compile(r"^\s*\[(?P<tags>[^\]]*?)\]\s*(?P<title>.*)$", re.DOTALL)
# ASCII digits, and few: int() of a 5000-digit run raises, and no series has 10**9 patches.
_NUMBER_RE = re.compile(r"(?:^|\s)(?P<n>[0-9]{1,9})/(?P<total>[0-9]{1,9})(?:\s|$)")
_VERSION_RE = re.compile(r"(?:^|\s)v(?P<v>[0-9]{1,9})(?:\s|$)", re.IGNORECASE)
# A path as git writes it: bare, or C-quoted ("a/x\ty", octal escapes) when it has odd bytes.
# Atomic ((?>...)): once a path is taken it is never re-split, so a 1 MB line that fails a
# later part of a pattern costs one pass, not one per character (it took minutes before).
_PATH = r'(?>"[^"\\\n]*(?:\\.[^"\\\n]*)*"|\S+)'
#: Header lines naming a file that patch -p1 or git am writes: unified diff headers,
#: Index: and a context diff's "*** old" (only before its "--- new", as patch reads it),
#: all with the a/ b/ prefix that -p1 strips ...
_DIFF_FILE_RE = re.compile(
    rf"^(?:---|\+\+\+|Index:) (?P<path>{_PATH})|^\*\*\* (?P<old>{_PATH})(?>[^\n]*)\n(?=--- )",
    re.MULTILINE,
)
_GIT_DIFF_RE = re.compile(rf"^diff --git (?P<a>{_PATH}) (?P<b>{_PATH})", re.MULTILINE)
#: ... and git's extended headers, whose paths have no prefix.
_GIT_RENAME_RE = re.compile(rf"^(?:rename|copy) (?:from|to) (?P<path>{_PATH})", re.MULTILINE)
#: A line that ``git apply`` or GNU ``patch`` reads a file mode from. Both parse the number
#: loosely (git: strtoul, so ``0120000``, `` 120000``, ``+120000``, ``20120000``, ``120777``;
#: patch: leading blanks, a trailing CR, and the mode at the end of an ``index`` line) and
#: both turn any mode whose type bits say "link" into a symbolic link, which a later patch
#: could write through to outside the tree. So a mode line must be one of the exact forms
#: git writes, and only the old side (a link deleted or made a file) may be a link.
_MODE_LINE_RE = re.compile(
    r"^(?P<key>old mode|new mode|new file mode|deleted file mode) (?P<mode>[^\n]*)$"
    r"|^index [0-9a-fA-F]+\.\.[0-9a-fA-F]+ (?P<index_mode>[^\n]*)$",
    re.MULTILINE,
)
_REGULAR_MODES = ("100644", "100755")
_OLD_SIDE_MODES = (*_REGULAR_MODES, "120000")
#: GNU patch also reads a diff indented by blanks or ``X`` ("Patch is indented 2 spaces"),
#: so every check also runs on the text with that indent taken off each line.
_INDENT_RE = re.compile(r"^[ \tX]+", re.MULTILINE)
_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


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


def split_mbox(data: bytes, *, what: str = "mbox", mboxrd: bool = False) -> list[bytes]:
    """Split an mbox into messages the way ``git am`` does: with ``git mailsplit``.

    A parser of our own once split a mail at a body paragraph starting ``From `` and kept
    CRLF line ends that ``git am`` then could not apply; git's own splitter only breaks at
    real ``From <id> <date>`` lines, and ends lines with LF. A file without a ``From``
    line is one mail (``-b``). ``mboxrd``: body lines were escaped as ``>From`` (as
    public-inbox writes its ``t.mbox.gz``) and are unescaped.
    """
    _refuse_binary(data, what)
    if not data.strip():
        return []
    with tempfile.TemporaryDirectory(prefix="farm-mailsplit-") as scratch:
        split = command.run(
            ["git", "mailsplit", "-b", *(["--mboxrd"] if mboxrd else []), f"-o{scratch}"],
            timeout=GIT_MAIL_TIMEOUT,
            stdin=data,
        )
        if not split.ok:
            raise SeriesError(
                f"{what}: git mailsplit cannot split it into mails: {split.tail(2)}; "
                "expected an mbox of patch mails (git needs to be installed)"
            )
        names = sorted(path for path in Path(scratch).iterdir() if path.name.isdigit())
        return [path.read_bytes() for path in names if path.read_bytes().strip()]


def mail_patch(raw: bytes) -> bytes:
    """The diff ``git am`` would apply from one mail, as ``git mailinfo`` extracts it
    (decoding base64, quoted-printable and attachments); empty if it carries none."""
    with tempfile.TemporaryDirectory(prefix="farm-mailinfo-") as scratch:
        message, patch = Path(scratch) / "msg", Path(scratch) / "patch"
        info = command.run(
            ["git", "mailinfo", "-k", message, patch], timeout=GIT_MAIL_TIMEOUT, stdin=raw
        )
        if not info.ok or not patch.is_file():
            return b""
        return patch.read_bytes()


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


def patches_from_mbox(
    data: bytes, *, what: str, root_message_id: str | None = None, mboxrd: bool = False
) -> list[Patch]:
    """The patches of a series posted as mails, in ``m/n`` order, without the cover letter.

    A public-inbox thread also holds replies and sometimes a later revision; the farm keeps
    the revision of the root message (``root_message_id``), or the newest one, and only mails
    that carry a diff.
    """
    return list(
        chosen_revision(data, what=what, root_message_id=root_message_id, mboxrd=mboxrd).patches
    )


#: ``git format-patch --base`` ends the cover letter (or the first patch) with this line.
_BASE_COMMIT_RE = re.compile(rb"^base-commit: ([0-9a-f]{40})[ \t]*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Revision:
    """One revision (``v2``) of a series as posted: its patches in order, the mails that
    make it up (the cover letter too), and the ``base-commit:`` it names, if any.

    ``mails`` is what ``farm try`` saves as the series' mbox: exactly the revision that was
    chosen, so a later run from that file applies the same patches."""

    version: int
    patches: tuple[Patch, ...]
    mails: tuple[bytes, ...]
    cover_subject: str  # "" without a cover letter
    base_commit: str | None
    #: The other revisions seen in the same mbox (a thread holding v1 and v2), oldest first.
    other_versions: tuple[int, ...] = ()

    @property
    def subject(self) -> str:
        """What the series is called: its cover letter's subject, else its first patch's."""
        return self.cover_subject or (self.patches[0].subject if self.patches else "")

    def mbox(self) -> bytes:
        """The revision's mails as one mbox, as ``git format-patch --stdout`` writes one."""
        separator = b"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        return b"".join(
            separator + mail + (b"" if mail.endswith(b"\n") else b"\n") for mail in self.mails
        )


def chosen_revision(
    data: bytes, *, what: str, root_message_id: str | None = None, mboxrd: bool = False
) -> Revision:
    """The revision of the series in ``data`` that the farm applies (see
    `patches_from_mbox`), with its cover letter and ``base-commit:``."""
    mails = [parse_mail(raw) for raw in split_mbox(data, what=what, mboxrd=mboxrd)]
    position = {id(mail): index for index, mail in enumerate(mails, start=1)}
    candidates = [m for m in mails if not m.is_reply and _carries_diff(m.raw)]
    if not candidates:
        empty = "it is empty" if not data.strip() else "no mail in it carries a diff"
        raise SeriesError(f"{what}: no patch found ({empty}); expected an mbox of patch mails")
    if root_message_id is not None:
        roots = [m for m in mails if root_message_id in _message_ids(m.raw)]
        version = roots[0].version if roots else max(m.version for m in candidates)
    else:
        version = max(m.version for m in candidates)
    chosen = [m for m in candidates if m.version == version]
    if not chosen:
        raise SeriesError(
            f"{what}: no mail of v{version} (the revision of <{root_message_id}>) carries a diff"
        )
    ordered = _in_series_order(chosen, version, what=what, position=position)
    patches = [
        Patch(number=index, subject=mail.title, format=PatchFormat.MAIL, content=mail.raw)
        for index, mail in enumerate(ordered, start=1)
    ]
    for patch in patches:
        check_patch(patch, what=what)
    covers = [m for m in mails if not m.is_reply and m.version == version and m.number == 0]
    kept = [*covers[:1], *ordered]
    bases = [found.group(1).decode() for m in kept if (found := _BASE_COMMIT_RE.search(m.raw))]
    return Revision(
        version=version,
        patches=tuple(patches),
        mails=tuple(m.raw for m in kept),
        cover_subject=covers[0].title if covers else "",
        base_commit=bases[0] if bases else None,
        other_versions=tuple(sorted({m.version for m in candidates} - {version})),
    )


def files_touched(patch: Patch) -> tuple[str, ...]:
    """The files a patch writes, as paths in the tree (``elf/dl-open.c``), in the order
    its diff names them: the diffstat the farm chooses glibc's tests by."""
    seen: dict[str, None] = {}
    for text in _texts_applied(patch.content, mail=patch.format is PatchFormat.MAIL):
        for match in _GIT_DIFF_RE.finditer(text):
            seen.setdefault(_strip_prefix(_unquote(match.group("b"))), None)
        for match in _DIFF_FILE_RE.finditer(text):
            path = _unquote(match.group("path") or match.group("old"))
            if path != "/dev/null":
                seen.setdefault(_strip_prefix(path), None)
    return tuple(seen)


def _in_series_order(
    chosen: list[ParsedMail], version: int, *, what: str, position: dict[int, int]
) -> list[ParsedMail]:
    """The patch mails of one revision in ``n/m`` order, or a SeriesError naming the mail
    that makes the order unsure: a patch is never silently dropped.

    Refused: a mail without ``n/m`` next to numbered ones, two mails with the same ``n``,
    an ``n`` of 0 (a cover letter) or over ``m`` on a mail with a diff, totals that
    disagree, and numbers missing from ``1..m``.
    """

    def named(mail: ParsedMail) -> str:
        return f"mail {position[id(mail)]} ({mail.subject[:120]!r})"

    numbered = [m for m in chosen if m.number is not None]
    if not numbered:
        return chosen
    for mail in chosen:
        if mail.number is None:
            raise SeriesError(
                f"{what}: {named(mail)} carries a diff but no n/m number, next to numbered "
                f"patches of v{version}; number it or remove it"
            )
    total = numbered[0].total or len(numbered)
    if total > MAX_SERIES_PATCHES:
        raise SeriesError(
            f"{what}: {numbered[0].subject!r} claims a series of {total} patches; "
            f"the farm takes at most {MAX_SERIES_PATCHES}"
        )
    by_number: dict[int, ParsedMail] = {}
    for mail in numbered:
        assert mail.number is not None
        if mail.total != total:
            raise SeriesError(
                f"{what}: {named(mail)} says the series has {mail.total} patches, "
                f"{named(numbered[0])} says {total}; which one is right?"
            )
        if not 1 <= mail.number <= total:
            raise SeriesError(
                f"{what}: {named(mail)} is numbered {mail.number}/{total} and carries a diff; "
                f"patches are numbered 1 to {total}"
            )
        if (first := by_number.get(mail.number)) is not None:
            raise SeriesError(
                f"{what}: {named(first)} and {named(mail)} are both patch "
                f"{mail.number}/{total} of v{version}; remove one"
            )
        by_number[mail.number] = mail
    missing = [n for n in range(1, total + 1) if n not in by_number]
    if missing:
        listed = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise SeriesError(
            f"{what}: v{version} is {total} patches but {listed} "
            f"{'is' if len(missing) == 1 else 'are'} missing from it"
        )
    return [by_number[n] for n in range(1, total + 1)]


def patches_from_quilt(
    names: Sequence[str], read: Mapping[str, bytes], *, what: str
) -> list[Patch]:
    """The patches a quilt ``series`` file names (``quilt_series_names``, parsed once by the
    caller, which reads the files it names), in order; ``read`` maps name -> bytes."""
    patches: list[Patch] = []
    size = 0
    for name in names:
        if name not in read:
            raise SeriesError(f"{what}/series names {name!r}, which does not exist")
        content = read[name]
        size += len(content)
        if size > MAX_SERIES_BYTES:
            raise SeriesError(
                f"{what}: the patches up to {name} are more than {MAX_SERIES_BYTES} bytes, "
                "larger than any real series; refusing"
            )
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
        check_relative_path(name, where=f"{what}/series:{line_number}", tree="the quilt directory")
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
    where = f"{what}: patch {patch.number}"
    _refuse_binary(patch.content, where)
    texts = _texts_applied(patch.content, mail=patch.format is PatchFormat.MAIL)
    if not _has_diff(texts):
        raise SeriesError(f"{where} ({patch.subject!r}) contains no diff")
    texts = [*texts, *(_INDENT_RE.sub("", text) for text in texts)]
    for text in texts:
        _check_mode_lines(text, where=where)
        for match in _GIT_DIFF_RE.finditer(text):
            for side in (match.group("a"), match.group("b")):
                check_relative_path(_strip_prefix(_unquote(side)), where=where)
        for match in _GIT_RENAME_RE.finditer(text):
            check_relative_path(_unquote(match.group("path")), where=where)
        for match in _DIFF_FILE_RE.finditer(text):
            path = _unquote(match.group("path") or match.group("old"))
            if path == "/dev/null":
                continue
            check_relative_path(_strip_prefix(path), where=where)


def _check_mode_lines(text: str, *, where: str) -> None:
    """Refuse a mode line that could create a symbolic link (see ``_MODE_LINE_RE``)."""
    for match in _MODE_LINE_RE.finditer(text):
        key = match.group("key") or "index"
        mode = match.group("mode") if match.group("key") else match.group("index_mode")
        allowed = _OLD_SIDE_MODES if key in ("old mode", "deleted file mode") else _REGULAR_MODES
        if mode in allowed:
            continue
        raise SeriesError(
            f"{where}: {_quoted(match.group(0))}: a file mode here must be exactly "
            f"{' or '.join(allowed)}, as git writes it; git and patch read other spellings "
            "loosely and may make a symbolic link that a later patch writes through to "
            "outside the tree. Refusing the series"
        )


def check_relative_path(path: str, *, where: str, tree: str = "the source tree") -> None:
    """Refuse a path that is empty, absolute, climbs with ``..`` or is not UTF-8 text."""
    pure = PurePosixPath(path)
    if not path.strip():
        raise SeriesError(f"{where}: an empty file name; refusing the series")
    if path.startswith("/") or pure.is_absolute() or ".." in pure.parts:
        raise SeriesError(f"{where}: path {_quoted(path)} escapes {tree}; refusing the series")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise SeriesError(
            f"{where}: file name {_quoted(path)} is not UTF-8; refusing the series"
        ) from None


def _quoted(path: str) -> str:
    """``path`` quoted for a message: undecodable bytes (kept as surrogates) as ``\\xNN``,
    control characters escaped, so that printing the message cannot fail or mislead."""
    try:
        text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        text = path.encode("utf-8", "backslashreplace").decode("utf-8")
    return "'" + "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text) + "'"


def _texts_applied(content: bytes, *, mail: bool = True) -> list[str]:
    """The texts whose file names get applied: the patch as it is, and for a mail every
    base64 or quoted-printable part decoded, as ``git am`` decodes it (an encoded body must
    not hide a ``../`` from the checks). Undecodable bytes stay as surrogates, so a file name
    that is not UTF-8 can be told from one that is."""
    texts = [content.decode("utf-8", "surrogateescape")]
    if not mail or not re.search(
        rb"^content-transfer-encoding:", content, re.MULTILINE | re.IGNORECASE
    ):
        return texts
    message = email.message_from_bytes(content, policy=email.policy.compat32)
    for part in message.walk():
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if part.is_multipart() or encoding not in ("base64", "quoted-printable"):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(payload.decode("utf-8", "surrogateescape"))
    return texts


def _unquote(path: str) -> str:
    """A path as git quotes it (``"b/\\056\\056/x"``) back to its name (``b/../x``)."""
    if len(path) < 2 or not (path.startswith('"') and path.endswith('"')):
        return path
    raw = bytearray()
    body = path[1:-1]
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\" or index + 1 == len(body):
            raw += char.encode("utf-8", "surrogateescape")
            index += 1
        elif re.match(r"[0-7]{3}", body[index + 1 : index + 4]):
            raw.append(int(body[index + 1 : index + 4], 8) & 0xFF)
            index += 4
        else:
            raw.append(_C_ESCAPES.get(body[index + 1], ord("?")))
            index += 2
    return raw.decode("utf-8", "surrogateescape")


def _strip_prefix(path: str) -> str:
    """``a/elf/dl-open.c`` -> ``elf/dl-open.c``: what ``-p1`` does, textually, so that
    ``b//etc/x`` becomes ``/etc/x`` (and is refused) as it would for ``patch``."""
    if path.startswith("/") or "/" not in path:
        return path
    return path.split("/", 1)[1]


def _carries_diff(raw: bytes) -> bool:
    """Whether ``git am`` finds a diff in this mail (cheap text check first)."""
    return _has_diff(_texts_applied(raw)) and bool(mail_patch(raw).strip())


def _has_diff(texts: list[str]) -> bool:
    return any(
        re.search(r"^diff --git ", text, re.MULTILINE) is not None
        or re.search(r"^--- \S.*\n\+\+\+ \S", text, re.MULTILINE) is not None
        for text in texts
    )


def _refuse_binary(data: bytes, what: str) -> None:
    if len(data) > MAX_SERIES_BYTES:
        raise SeriesError(
            f"{what}: {len(data)} bytes is larger than any real series "
            f"(limit {MAX_SERIES_BYTES}); refusing"
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SeriesError(
            f"{what}: UTF-16 text (it starts with a byte-order mark); save it as UTF-8"
        )
    if b"\x00" in data:
        raise SeriesError(
            f"{what}: contains NUL bytes, so it is binary or UTF-16/32 text; "
            "expected a text patch or mbox"
        )


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
