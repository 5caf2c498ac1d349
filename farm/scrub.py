"""What the farm shows of text it did not write: one scrubber for secrets and terminal control.

A patchwork server's answer (its reason phrase, error body, a redirect's Location, the text of
a malformed status line), a file name and a file's content are a stranger's text, and the farm
prints them in its messages. Two things must never come out of that:

- a secret: the API token (echoed back by a server or a proxy, raw, split by control
  characters, in any letter case), and credentials written into a URL (``user:password@``);
- terminal control: an ESC or CSI sequence moves the cursor, clears the screen or sets the
  window title (OSC), a carriage return overwrites what the line said, a bidi override
  reorders it. Every control and format character is shown as a visible escape (``\\x1b``),
  so the message stays readable and the terminal stays the user's.

`Scrubber` is the one place that does both; the patchwork client, ``farm post-checks`` and
the CLI's error printer all pass what they show through it. Secrets are removed before a
message is shortened, so no prefix of a token survives a cut.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

#: What a secret is shown as.
HIDDEN = "<token>"
#: What credentials in a URL are shown as.
HIDDEN_CREDENTIALS = "<credentials>"
#: The longest one-line message piece kept (after scrubbing).
LINE_LIMIT = 300

#: ``scheme://userinfo@``: everything between ``//`` and the last ``@`` before the host ends
#: (a password may hold ``@`` itself; ``urlsplit`` also takes the last one).
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")
#: Control and format characters a terminal or a viewer acts on: C0, DEL, C1 (0x9b is CSI
#: for 8-bit terminals), bidi overrides and other format characters, line and paragraph
#: separators, lone surrogates (which cannot even be written to a UTF-8 stream).
_ACTING = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: Whole terminal sequences (CSI with its parameters, OSC up to BEL or ST, two-character
#: escapes): what a terminal swallows, so what a secret split by one shows as whole.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[@-_]"
)


def _acts(char: str) -> bool:
    return unicodedata.category(char) in _ACTING


def visible(char: str) -> str:
    """A control character as a visible escape: ``\\x1b``, ``\\u202e``."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def without_url_credentials(text: str) -> str:
    """``https://user:password@host`` as ``https://<credentials>@host``."""
    return _URL_CREDENTIALS.sub(rf"\1{HIDDEN_CREDENTIALS}@", text)


@dataclass(frozen=True, slots=True)
class Scrubber:
    """Scrubs text for the terminal, hiding ``secrets`` (never shown, not even by repr)."""

    secrets: tuple[str, ...] = field(default=(), repr=False)

    def with_secret(self, secret: str) -> Scrubber:
        return Scrubber((*self.secrets, secret)) if secret else self

    def text(self, text: str) -> str:
        """``text`` safe to print, keeping its lines (newline and tab stay)."""
        return self._scrub(text, keep="\n\t")

    def line(self, text: str, *, limit: int = LINE_LIMIT) -> str:
        """``text`` safe to print on one line: whitespace runs become one space, and it is
        cut to ``limit`` characters (after scrubbing)."""
        flat = " ".join(self._scrub(text, keep="\t\n\r\v\f").split())
        return flat if len(flat) <= limit else flat[: limit - 3] + "..."

    def _scrub(self, text: str, *, keep: str) -> str:
        text = self._hide_secrets(without_url_credentials(text))
        return "".join(visible(c) if _acts(c) and c not in keep else c for c in text)

    def _hide_secrets(self, text: str) -> str:
        for secret in self.secrets:
            text = _replace_folded(text, secret)
        # A secret split by control characters ("s3\x00cret", an ESC sequence inside) would
        # come out whole on a terminal that swallows them: look again without them. Then once
        # more with each control character removed alone: shown as a visible escape, a
        # "sequence" such as "\x9bs" swallows nothing, and its "s" begins the secret.
        for swallowed in (True, False):
            if not self.secrets:
                break
            view = _SEQUENCE.sub("", text) if swallowed else text
            bare = "".join(c for c in view if not _acts(c))
            if any(secret.casefold() in bare.casefold() for secret in self.secrets):
                for secret in self.secrets:
                    bare = _replace_folded(bare, secret)
                text = bare
        return text


def _replace_folded(text: str, secret: str) -> str:
    if not secret:
        return text
    return re.sub(re.escape(secret), HIDDEN, text, flags=re.IGNORECASE)


#: The scrubber for text with no secret known (a message the CLI prints for any command).
PLAIN = Scrubber()
