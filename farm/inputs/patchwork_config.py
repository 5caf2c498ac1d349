"""Where ``farm post-checks`` takes its settings from when the command line does not say.

glibc maintainers already keep their patchwork settings for ``git-pw`` in git config
(``pw.server``, the API root; ``pw.project``; ``pw.token``), so the farm reads the same keys
rather than asking for them again. The token may also come from ``$FARM_PATCHWORK_TOKEN``
(a CI secret) or a file; it is stripped (``$(cat file)`` and editors leave a newline) and
never put into a message. The checks' ``target_url`` (the link reviewers follow) is the
GitHub Actions run when the standard ``GITHUB_*`` variables say so.

The token file and the checks file are read by `read_regular_file`, the one reader of a file
``post-checks`` is given: a FIFO (a process substitution ``<(...)`` is one), ``/dev/zero``,
a directory or a link to one of them is refused by what it is, before a byte is read,
because reading it would block forever or never end.
"""

from __future__ import annotations

import os
import re
import stat
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from farm import command
from farm.inputs.patchwork_api import TARGET_URL_MAX, PatchworkError, Token
from farm.scrub import PLAIN, without_url_credentials

TOKEN_ENV = "FARM_PATCHWORK_TOKEN"
#: The largest token file read; a token is 40 characters.
_TOKEN_FILE_MAX = 4096
_GIT_TIMEOUT = 10.0
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def git_config(key: str, *, cwd: Path | None = None) -> str:
    """``git config --get key`` (repository, then global), or "" when unset or no git."""
    outcome = command.run(["git", "config", "--get", key], timeout=_GIT_TIMEOUT, cwd=cwd)
    return outcome.output.strip() if outcome.ok else ""


def read_regular_file(path: Path, *, limit: int, what: str, expected: str) -> bytes:
    """The bytes of ``path`` when it is a regular file (a link to one is fine) of at most
    ``limit`` bytes; else `PatchworkError` naming ``what`` (``--token-file``), the file, what
    it is and ``expected`` (what to give instead)."""
    shown = f"{what} {PLAIN.line(str(path))}"
    try:
        # O_NONBLOCK: opening a FIFO without a writer would block before fstat could tell.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise PatchworkError(
            f"{shown}: cannot open it: {exc.strerror or exc}; give {expected}"
        ) from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise PatchworkError(
                f"{shown}: is {_kind(info.st_mode)}, not a regular file (reading it could block "
                f"or never end); give {expected}"
            )
        if info.st_size > limit:
            raise PatchworkError(
                f"{shown}: {info.st_size} bytes, more than the {limit} it can be; give {expected}"
            )
        with os.fdopen(descriptor, "rb", closefd=False) as stream:
            raw = stream.read(limit + 1)
    except OSError as exc:
        raise PatchworkError(f"{shown}: cannot read it: {exc.strerror or exc}") from None
    finally:
        os.close(descriptor)
    if len(raw) > limit:  # it grew while being read
        raise PatchworkError(f"{shown}: more than the {limit} bytes it can be; give {expected}")
    return raw


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a FIFO (a pipe)", stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device", stat.S_ISDIR: "a directory", stat.S_ISSOCK: "a socket",
    }  # fmt: skip
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def load_token(*, token_file: Path | None, environ: Mapping[str, str], git_token: str) -> Token:
    """The token from ``--token-file``, else ``$FARM_PATCHWORK_TOKEN``, else ``pw.token``."""
    if token_file is not None:
        origin = f"--token-file {PLAIN.line(str(token_file))}"
        raw = read_regular_file(
            token_file,
            limit=_TOKEN_FILE_MAX,
            what="--token-file",
            expected="a file holding only the token (write it to a file of mode 0600; a pipe "
            "such as <(...) cannot be read safely), or set $FARM_PATCHWORK_TOKEN",
        )
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise PatchworkError(f"{origin}: not an ASCII token") from exc
        return Token.parse(text, origin=origin)
    if environ.get(TOKEN_ENV, "").strip():
        return Token.parse(environ[TOKEN_ENV], origin=f"${TOKEN_ENV}")
    if git_token.strip():
        return Token.parse(git_token, origin="git config pw.token")
    raise PatchworkError(
        f"no patchwork token: set ${TOKEN_ENV}, pass --token-file FILE or set git config "
        "pw.token (as for git-pw); it is on your patchwork profile page, and posting checks "
        "needs a maintainer of the project"
    )


def github_run_url(environ: Mapping[str, str]) -> str:
    """The GitHub Actions run's page, or "" outside GitHub Actions."""
    server = environ.get("GITHUB_SERVER_URL", "").rstrip("/")
    repository = environ.get("GITHUB_REPOSITORY", "")
    run_id = environ.get("GITHUB_RUN_ID", "")
    if not (server and _REPOSITORY.fullmatch(repository) and run_id.isdigit()):
        return ""
    return f"{server}/{repository}/actions/runs/{run_id}"


def check_target_url(url: str, *, origin: str) -> str:
    """An http(s) URL patchwork will store as a check's target_url (at most 200 characters)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        parts = urllib.parse.urlsplit("")
    shown = f"'{PLAIN.line(url)}'"
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url)
    ):
        raise PatchworkError(f"{origin}: expected an http(s) URL of the report, got {shown}")
    if without_url_credentials(url) != url or "@" in parts.netloc:
        raise PatchworkError(
            f"{origin}: {shown} carries credentials (user:password@); patchwork shows a check's "
            "target URL to everyone, so give the report's URL without them"
        )
    if len(url) > TARGET_URL_MAX:
        raise PatchworkError(
            f"{origin}: patchwork stores target URLs of at most {TARGET_URL_MAX} characters, "
            f"this one has {len(url)}"
        )
    return url
