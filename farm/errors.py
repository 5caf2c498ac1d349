"""The farm's exceptions, each carrying the exit status the CLI maps it to.

The core raises these and never prints or exits; ``farm.cli`` catches them, prints their
message (which must tell the user what to do) and exits with ``exit_code``.
"""

from __future__ import annotations


class FarmError(Exception):
    """Base of every error the farm reports to a user instead of a traceback."""

    #: 2 means "the farm could not decide": bad input, missing engine, unfetchable source.
    exit_code: int = 2


class ScenarioError(FarmError):
    """A scenario file is malformed; the message starts with ``file:line:``."""


class SourceError(FarmError):
    """A glibc source or patch series could not be fetched or failed its sha256 check."""


class NotFound(SourceError):
    """The server answered that it has no such thing (HTTP 404 or 410): a series id or a
    Message-ID it does not know, not a network failure."""


class SeriesError(FarmError):
    """A patch series is malformed (not a patch, escaping paths, empty)."""


class EngineError(FarmError):
    """The Docker engine is missing, unreachable, or went away mid-run."""


class BuildError(FarmError):
    """An image failed to build; ``phase`` says where (patch-apply, configure, build...)."""

    def __init__(
        self,
        message: str,
        *,
        phase: str,
        log_path: str | None = None,
        patch_number: int | None = None,
        patch_subject: str = "",
        reject: str = "",
    ) -> None:
        super().__init__(message)
        self.phase = phase
        self.log_path = log_path
        #: For phase "patch-apply": which patch of the series failed, and what was rejected.
        self.patch_number = patch_number
        self.patch_subject = patch_subject
        self.reject = reject


class UsageError(FarmError):
    """The command line itself is wrong."""


class Interrupted(FarmError):
    """Ctrl-C or SIGTERM: the farm stopped its containers; the message says how to resume."""

    exit_code = 130
