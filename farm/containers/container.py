"""The locked-down, long-lived test container, and the harness that runs one case in it.

A container per case would cost a second of engine work each; a ``docker exec`` costs about
50 ms. So each image gets one container for many cases, and everything a case needs is done
in one exec: the case script, then the cleanup after it (kill what it left, empty scratch,
read the cgroup's OOM-kill count), by a small sh harness that reports back in a trailer line.

A hostile case can kill that harness (it runs as the same user). The trailer is trusted only
when the exec itself exited 0, which a killed harness cannot do; in every other case the
farm cleans up with an exec of its own, and replaces the container when even that fails.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from typing import Any

from farm.cases.script import KILL_GRACE_SECONDS
from farm.containers.engine import Engine
from farm.errors import EngineError

#: Resource limits of a test container: a runaway case must not take the host down.
CONTAINER_LIMITS: dict[str, Any] = {
    "mem_limit": "2g",
    "memswap_limit": "2g",
    "pids_limit": 512,
    "nano_cpus": 2_000_000_000,
}
#: The only writable places of a case container; everything else of its root is read-only.
#: tmpfs counts against the container's memory limit, so the sizes stay well under it.
SCRATCH_TMPFS = {
    "/farm/scratch": "rw,exec,nosuid,nodev,size=768m,mode=1777",
    "/tmp": "rw,exec,nosuid,nodev,size=256m,mode=1777",
}
#: Kill every process of user farm but this shell (``kill -1`` spares the caller and PID 1),
#: empty the scratch space, read the OOM-kill count, and say so in one trailer line. Only
#: shell builtins run before the kill: a fork bomb may hold every process slot until then.
#: ``$farm_status`` is the case's exit status when the case harness ran first, else unset.
_SETTLE = r"""
kill -KILL -1 2>/dev/null
farm_clean=yes
rm -rf /farm/scratch/* /farm/scratch/.[!.]* /farm/scratch/..?* \
    /tmp/* /tmp/.[!.]* /tmp/..?* 2>/dev/null || farm_clean=no
farm_oom=0
for farm_events in /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control; do
    [ -r "$farm_events" ] || continue
    while read -r farm_key farm_value; do
        [ "$farm_key" = oom_kill ] && farm_oom=$farm_value
    done < "$farm_events"
done
printf '\nfarm-settled %s %s %s\n' "${farm_status:--}" "$farm_oom" "$farm_clean"
"""

#: ``sh -c _CASE_HARNESS farm-case SCRIPT TIMEOUT``: the case script under ``timeout``
#: (the script times its program itself; this one only catches the script hanging), then
#: the cleanup, all in one exec.
_CASE_HARNESS = (
    f'timeout -k {KILL_GRACE_SECONDS} "$2" sh -c "$1"\nfarm_status=$?\n{_SETTLE}exit 0\n'
)

_TRAILER_RE = re.compile(r"\nfarm-settled (-|\d+) (\d+) (yes|no)\n\Z")


@dataclass(frozen=True, slots=True)
class Settled:
    """What the harness's trailer says: the case's exit status (None when only the cleanup
    ran), the cgroup's OOM-kill count so far, and whether scratch could be emptied."""

    status: int | None
    oom_kills: int
    clean: bool


def split_trailer(output: str) -> tuple[str, Settled | None]:
    """Separate the harness's trailer from what the case printed before it.

    The trailer is the last line, after a newline of the harness's own, which goes with it.
    Output without one (the harness was killed) comes back whole, with None.
    """
    found = _TRAILER_RE.search(output)
    if found is None:
        return output, None
    status, oom_kills, clean = found.groups()
    settled = Settled(None if status == "-" else int(status), int(oom_kills), clean == "yes")
    return output[: found.start()], settled


@dataclass(frozen=True, slots=True)
class ExecOutcome:
    exit_code: int
    output: str
    elapsed: float


@dataclass(frozen=True, slots=True)
class CaseExec:
    """One case run by the harness: its exit status and output, and what cleaning up found."""

    outcome: ExecOutcome
    oom_killed: bool  # the kernel OOM-killed a process during the case
    harness_killed: bool  # the case killed the harness: its exit status is unknown
    restarted: bool  # the container could not be cleaned in place and was replaced


class TestContainer:
    """A long-lived, locked-down container of one test image.

    No network, no capabilities, no privilege gain, limited memory, processes and CPU. With
    ``writable_root`` False (the farm's cases and the probe) the root filesystem is read-only
    and only the scratch tmpfs mounts are writable. glibc's own ``make test`` must write
    into the build tree, so its container keeps a writable root; that layer is thrown away
    with the container and shared with nothing.
    """

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(
        self, engine: Engine, image: str, name: str, *, writable_root: bool = False
    ) -> None:
        self.engine = engine
        self.image = image
        self.name = name
        self.writable_root = writable_root
        self._container: str | None = None  # its id, while it runs
        self._oom_kills = 0

    def start(self) -> None:
        self._container = self.engine.start_container(
            self.image,
            self.name,
            command=["sleep", "infinity"],  # as root: the cleanup's `kill -1` (user farm) spares it
            init=True,  # reaps what crashed cases leave behind
            network_mode="none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            environment={"LANG": "C.UTF-8"},
            read_only=not self.writable_root,
            tmpfs={} if self.writable_root else SCRATCH_TMPFS,
            **CONTAINER_LIMITS,
        )
        settled = self._settle()
        self._oom_kills = settled.oom_kills if settled else 0

    def restart(self) -> None:
        """A fresh container of the same image: what is left of a hostile case goes with it."""
        self.stop()
        self.start()

    def _settle(self) -> Settled | None:
        """Clean up with an exec of its own. None if it could not even start a shell (a fork
        bomb holding every process slot) or could not empty scratch."""
        if self._container is None:
            return None
        try:
            status, output = self.engine.exec(self._container, ["sh", "-c", _SETTLE], user="farm")
        except EngineError:
            return None
        _, settled = split_trailer(output.decode("utf-8", "replace"))
        return settled if status == 0 and settled and settled.clean else None

    def settle(self) -> tuple[bool, bool]:
        """Clean up after whatever ran last: (the kernel OOM-killed something, the container
        was replaced because it could not be cleaned up in place)."""
        settled = self._settle()
        if settled is None:
            self.restart()
            return False, True
        return self._count_oom_kills(settled.oom_kills), False

    def _count_oom_kills(self, count: int) -> bool:
        oom_killed = count > self._oom_kills
        self._oom_kills = count
        return oom_killed

    def run_case(
        self, script: str, *, timeout: float, environment: dict[str, str] | None = None
    ) -> CaseExec:
        """Run a case script as user farm and clean up after it, in one exec when the case
        lets the harness finish, with a second one (or a new container) when it does not."""
        ran = self._exec(
            ["sh", "-c", _CASE_HARNESS, "farm-case", script, f"{timeout:.0f}"],
            user="farm",
            workdir="/",
            environment=environment,
        )
        output, settled = split_trailer(ran.output)
        if ran.exit_code != 0 or settled is None or settled.status is None:
            # The harness did not finish, so the trailer (if any) may be the case's forgery,
            # and nothing was cleaned up.
            oom_killed, restarted = self.settle()
            return CaseExec(ran, oom_killed, harness_killed=True, restarted=restarted)
        outcome = ExecOutcome(settled.status, output, ran.elapsed)
        if not settled.clean:
            oom_killed, restarted = self.settle()
            return CaseExec(outcome, oom_killed, harness_killed=False, restarted=restarted)
        oom_killed = self._count_oom_kills(settled.oom_kills)
        return CaseExec(outcome, oom_killed, harness_killed=False, restarted=False)

    def exec(
        self,
        script: str,
        *,
        timeout: float,
        user: str = "farm",
        workdir: str = "/",
        environment: dict[str, str] | None = None,
    ) -> ExecOutcome:
        """Run ``script`` with sh under ``timeout`` (enforced inside the container)."""
        argv = ["timeout", "-k", str(KILL_GRACE_SECONDS), f"{timeout:.0f}", "sh", "-c", script]
        return self._exec(argv, user=user, workdir=workdir, environment=environment)

    def _exec(
        self, argv: list[str], *, user: str, workdir: str, environment: dict[str, str] | None
    ) -> ExecOutcome:
        if self._container is None:
            raise EngineError(f"{self.name} is not running; start it first")
        started = time.monotonic()
        try:
            status, raw = self.engine.exec(
                self._container, argv, user=user, workdir=workdir, environment=environment
            )
        except EngineError as error:
            raise EngineError(f"while running a test in {self.name}: {error}") from None
        output = raw.decode("utf-8", "replace")
        return ExecOutcome(status, output, time.monotonic() - started)

    def stop(self) -> None:
        if self._container is None:
            return
        # If the engine refuses, `farm gc` finds the container by its label later.
        with contextlib.suppress(EngineError):
            self.engine.remove_container(self._container)
        self._container = None
