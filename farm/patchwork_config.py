"""Where ``farm post-checks`` takes its settings from when the command line does not say.

glibc maintainers already keep their patchwork settings for ``git-pw`` in git config
(``pw.server``, the API root; ``pw.project``; ``pw.token``), so the farm reads the same keys
rather than asking for them again. The token may also come from ``$FARM_PATCHWORK_TOKEN``
(a CI secret) or a file; it is stripped (``$(cat file)`` and editors leave a newline) and
never put into a message. The checks' ``target_url`` (the link reviewers follow) is the
GitHub Actions run when the standard ``GITHUB_*`` variables say so.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from farm import command
from farm.patchwork_api import TARGET_URL_MAX, PatchworkError, Token

TOKEN_ENV = "FARM_PATCHWORK_TOKEN"
#: The largest token file read; a token is 40 characters.
_TOKEN_FILE_MAX = 4096
_GIT_TIMEOUT = 10.0
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def git_config(key: str, *, cwd: Path | None = None) -> str:
    """``git config --get key`` (repository, then global), or "" when unset or no git."""
    outcome = command.run(["git", "config", "--get", key], timeout=_GIT_TIMEOUT, cwd=cwd)
    return outcome.output.strip() if outcome.ok else ""


def load_token(*, token_file: Path | None, environ: Mapping[str, str], git_token: str) -> Token:
    """The token from ``--token-file``, else ``$FARM_PATCHWORK_TOKEN``, else ``pw.token``."""
    if token_file is not None:
        try:
            with token_file.open("rb") as handle:
                raw = handle.read(_TOKEN_FILE_MAX + 1)
        except OSError as exc:
            raise PatchworkError(f"--token-file {token_file}: {exc.strerror or exc}") from exc
        if len(raw) > _TOKEN_FILE_MAX:
            raise PatchworkError(f"--token-file {token_file}: too big for a token")
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise PatchworkError(f"--token-file {token_file}: not an ASCII token") from exc
        return Token.parse(text, origin=f"--token-file {token_file}")
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
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url)
    ):
        raise PatchworkError(f"{origin}: expected an http(s) URL of the report, got {url!r}")
    if len(url) > TARGET_URL_MAX:
        raise PatchworkError(
            f"{origin}: patchwork stores target URLs of at most {TARGET_URL_MAX} characters, "
            f"this one has {len(url)}"
        )
    return url
