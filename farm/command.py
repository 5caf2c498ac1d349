"""The one place the farm starts a host subprocess.

Every call has a timeout (nothing waits forever), is logged with its quoted command line, and
returns what happened instead of raising, so callers decide what a failure means to the user.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    argv: tuple[str, ...]
    returncode: int  # -1 when the command could not be started or timed out
    output: str  # stdout and stderr interleaved
    elapsed: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def quoted(self) -> str:
        return shlex.join(self.argv)

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    passthrough: bool = False,
) -> CommandOutcome:
    """Run ``argv`` to completion or ``timeout`` seconds, capturing its output.

    With ``passthrough`` the output goes straight to the farm's own stdout/stderr (for a
    child whose progress the user should watch live) and ``output`` is empty.
    """
    words = tuple(str(arg) for arg in argv)
    log.debug("run: %s", shlex.join(words))
    started = time.monotonic()
    full_env = None if env is None else {**os.environ, **env}
    try:
        completed = subprocess.run(
            words,
            cwd=cwd,
            env=full_env,
            input=stdin,
            stdout=None if passthrough else subprocess.PIPE,
            stderr=None if passthrough else subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        return CommandOutcome(words, -1, f"{words[0]}: command not found", 0.0)
    except subprocess.TimeoutExpired as expired:
        output = (expired.output or b"").decode("utf-8", "replace")
        return CommandOutcome(
            words, -1, output + f"\n(timed out after {timeout:.0f} s)", timeout, timed_out=True
        )
    return CommandOutcome(
        words,
        completed.returncode,
        (completed.stdout or b"").decode("utf-8", "replace"),
        time.monotonic() - started,
    )


def run_supervised(argv: Sequence[str], *, timeout: float, grace: float = 30.0) -> CommandOutcome:
    """Run a long child whose output goes straight to the terminal, and stop it cleanly.

    The child gets its own process group, so it and everything it starts (pytest-xdist
    workers) can be stopped together. On Ctrl-C, SIGTERM (made a KeyboardInterrupt by the
    CLI) or the timeout, the group gets SIGINT and ``grace`` seconds to tidy up (stop its
    containers, flush its results) before SIGKILL; the interrupt is then raised again.
    """
    words = tuple(str(arg) for arg in argv)
    log.debug("run (supervised): %s", shlex.join(words))
    started = time.monotonic()
    try:
        process = subprocess.Popen(words, start_new_session=True)
    except FileNotFoundError:
        return CommandOutcome(words, -1, f"{words[0]}: command not found", 0.0)
    try:
        returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(process, grace)
        return CommandOutcome(words, -1, f"(timed out after {timeout:.0f} s)", timeout, True)
    except KeyboardInterrupt:
        _stop_group(process, grace)
        raise
    return CommandOutcome(words, returncode, "", time.monotonic() - started)


def _stop_group(process: subprocess.Popen[bytes], grace: float) -> None:
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            continue  # a second Ctrl-C: stop waiting politely
