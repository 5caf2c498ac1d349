"""Which series ask not to be tested: a pure rule over a series' subjects and mails.

Linaro's pre-commit CI was asked for a way to skip it ("a popular request"); the farm skips:

- an ``[RFC]`` series: ``RFC`` is one of the words inside the leading bracketed tags of the
  series name or of any patch's subject (``[RFC]``, ``[RFC PATCH v2 1/3]``, ``[PATCH RFC]``,
  and patchwork's own ``[RFC,v2,1/3]``). "RFC" in the title itself ("Follow RFC 9110") is
  no tag and skips nothing.
- a series with ``CI-tag: skip`` (any case) on a line of its own, with nothing before it, in
  the cover letter or in any patch mail. Nothing before it: a diff line starts with ``+``,
  ``-`` or a space and a quoted reply with ``>``, so a patch that adds or quotes the line to
  a file, or a reviewer quoting it, skips nothing.

What a skipped series gets on patchwork: **no check**. A check is the farm's word about a
series, and it has tested nothing; ``success`` would claim it passed, ``warning`` would flag
a series whose author asked for exactly this. The skip and its reason are logged and shown
by ``farm watch --status``; the author sees no farm context on the series, as asked.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from farm.inputs import series as series_mod

#: The leading bracketed tags of a subject, each group on its own: "[RFC][PATCH] x".
_LEADING_TAGS_RE = re.compile(r"^\s*((?:\[[^\]]*\]\s*)+)")
_TAG_WORD_RE = re.compile(r"[^\s,/:\[\]]+")
CI_TAG_SKIP_RE = re.compile(r"^CI-tag:[ \t]*skip[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Mail:
    """One mail of a series as the rule reads it: its subject and its plain-text body."""

    subject: str
    body: str


def is_rfc(subject: str) -> bool:
    """True when ``RFC`` is a word of the subject's leading bracketed tags."""
    tags = _LEADING_TAGS_RE.match(subject)
    if tags is None:
        return False
    return any(word.upper() == "RFC" for word in _TAG_WORD_RE.findall(tags.group(1)))


def skip_reason(
    series_name: str, patch_subjects: Iterable[str], cover: Sequence[Mail], patches: Sequence[Mail]
) -> str | None:
    """Why this series is not to be tested, or None to test it."""
    for where, subject in [("the series name", series_name)] + [
        ("a patch subject", s) for s in patch_subjects
    ]:
        if is_rfc(subject):
            return f"[RFC] in {where}: {' '.join(subject.split())[:120]!r}"
    for where, mails in (("the cover letter", cover), ("a patch", patches)):
        for mail in mails:
            if is_rfc(mail.subject):
                return f"[RFC] in {where}'s subject: {' '.join(mail.subject.split())[:120]!r}"
            if CI_TAG_SKIP_RE.search(mail.body):
                subject = " ".join(mail.subject.split())[:120]
                return f"'CI-tag: skip' in {where} ({subject!r})"
    return None


def mails(mbox: bytes, *, what: str) -> list[Mail]:
    """The mails of an mbox, split as ``git am`` splits them (`farm.inputs.series.split_mbox`),
    with each body decoded (quoted-printable, base64, charsets) as its reader sees it."""
    found = []
    for raw in series_mod.split_mbox(mbox, what=what):
        message = email.message_from_bytes(raw, policy=email.policy.default)
        subject = str(message.get("Subject", ""))
        part = message.get_body(preferencelist=("plain",))
        try:
            body = part.get_content() if part is not None else ""
        except (LookupError, ValueError):  # an unknown charset: read what ASCII there is
            payload = part.get_payload(decode=True) if part is not None else b""
            body = payload.decode("ascii", "replace") if isinstance(payload, bytes) else ""
        found.append(Mail(subject, body if isinstance(body, str) else ""))
    return found
