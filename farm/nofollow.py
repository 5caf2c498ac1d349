"""Writing a file whole, never through a link: the one way the farm replaces a file it owns.

Run directories, report directories and the flaky history's directory are places others
can write into too (a downloaded artifact, a shared checkout, a CI cache), so a link left
there under a name the farm writes (``report.html``, ``history.jsonl.unreadable``, even the
temporary file's name) must not make the farm overwrite whatever the link points at. The
content goes to a new temporary file (``O_CREAT | O_EXCL | O_NOFOLLOW``: created here or
not at all) that is then renamed over the name: a link there is replaced, not followed, and
a reader never sees half a file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def replace_file(path: Path, content: bytes, *, mode: int = 0o644) -> Path:
    """Make ``path`` hold ``content``, atomically, replacing (never following) a link there;
    creates the parent directory. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(content)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
