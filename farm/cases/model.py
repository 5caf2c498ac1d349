"""The typed model of a C case: what to build, how to run it, what outcome is natural.

Instances come from ``farm.cases.manifest`` (which validates ``case.yaml``); nothing here
reads files. ``Case.shell_script`` renders the POSIX sh script that builds and runs the
case inside an image (see ``farm.cases.script`` for the exit-status convention).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from farm.outcome import Outcome, is_bad

#: Where the runner mounts or copies the case library inside a container.
DEFAULT_CASES_DIR = "/farm/cases"
#: The compiler wrapper inside a container (``farm/cases/farm-cc`` of this package).
DEFAULT_FARM_CC = "/farm/cases/farm-cc"


class StepKind(enum.StrEnum):
    """What one build step produces; the manifest key that names its output."""

    SHARED = "shared"  # farm-cc -shared -fPIC -o <output> ...
    PROGRAM = "program"  # farm-cc -o <output> ... common/farm_case.c


class Expectation(enum.StrEnum):
    """The natural outcome of a case on a glibc that behaves as designed.

    Most cases pass (or are UNSUPPORTED where the feature is absent). A few demonstrate a
    hazard, and their natural outcome is death by a signal: overwriting a mapped .so in
    place, or unloading code a thread still runs. Those say ``expect: crash`` and list the
    signals that count as the expected death.
    """

    PASS = "pass"
    CRASH = "crash"


@dataclass(frozen=True, slots=True)
class BuildStep:
    """One farm-cc invocation, run in the scratch copy of the case directory."""

    kind: StepKind
    output: str  # a bare file name in the case directory: "libstate.so", "main"
    sources: tuple[str, ...]  # relative to the case directory; may reach siblings (../x/y.c)
    cflags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    ldlibs: tuple[str, ...] = ()
    static: bool = False  # programs only: link with -static
    #: shared objects only: flag the object DF_GNU_1_UNIQUE, with ``ld -z unique`` where the
    #: linker writes it and with ``common/mark_unique.c`` where it does not (see script.py).
    unique: bool = False


@dataclass(frozen=True, slots=True)
class Detection:
    """A choice made at build time by what links against the glibc under test.

    Headers cannot make it: farm-cc puts the prefix's headers first, but a header the
    prefix lacks still comes from the image's own /usr/include (Debian's newer glibc), so a
    case would compile against an ABI the glibc under test does not have and fail to link.
    Linking a probe program is the question asked of the glibc itself. The script tries
    ``probes`` in order; the first that links names the choice, else ``otherwise``, and
    every build step is compiled with ``-D<macro>=<macro>_<choice>``.
    """

    macro: str  # "FARM_RSEQ_ABI"
    probes: tuple[tuple[str, str], ...]  # (choice, source relative to the case directory)
    otherwise: str  # the choice when no probe links: "NONE"

    def choices(self) -> tuple[str, ...]:
        return (*(choice for choice, _ in self.probes), self.otherwise)


@dataclass(frozen=True, slots=True)
class RunSpec:
    """How the built program is started: argv in the case directory, extra environment."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()  # sorted (name, value) pairs: hashable and stable


@dataclass(frozen=True, slots=True)
class ScriptStatus:
    """What a case script's exit status means, decoded by ``decode_exit_status``."""

    outcome: Outcome
    exit_code: int
    signal: str | None = None  # "SIGSEGV" when outcome is CRASH
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Case:
    """One C case: ``<family>/<name>``, its manifest's content and where it lives."""

    id: str  # "dlmopen/newlm-isolation": stable, used in test ids and selections
    family: str
    name: str
    directory: Path  # the case directory on the host (holds case.yaml and sources)
    summary: str
    needs: tuple[str, ...]
    timeout: float  # seconds, before the per-arch timeout factor
    build: tuple[BuildStep, ...]
    run: RunSpec
    expect: Expectation = Expectation.PASS
    detect: tuple[Detection, ...] = ()  # build-time choices, made before the first step
    crash_signals: tuple[str, ...] = ()  # with expect: crash, the signals that count

    @property
    def manifest(self) -> Path:
        return self.directory / "case.yaml"

    def is_expected(self, status: ScriptStatus) -> bool:
        """Whether STATUS is this case's natural outcome.

        For ``expect: pass`` that is any outcome `farm.outcome` does not call bad: PASS, or
        UNSUPPORTED (the glibc lacks the feature: glibc's own protocol counts that as good).
        For ``expect: crash`` it is a CRASH by one of ``crash_signals``; anything else,
        including PASS, means the hazard the case demonstrates did not show, which is worth
        a look.
        """
        if self.expect is Expectation.CRASH:
            return status.outcome is Outcome.CRASH and status.signal in self.crash_signals
        return not is_bad(status.outcome)

    def shell_script(
        self,
        *,
        workdir: str,
        timeout_factor: float,
        cases_dir: str = DEFAULT_CASES_DIR,
        farm_cc: str = DEFAULT_FARM_CC,
    ) -> str:
        """The POSIX sh script that builds this case in WORKDIR and runs it.

        ``cases_dir`` is where the case library is inside the container and ``farm_cc``
        the compiler wrapper; the exit status follows ``farm.cases.script``'s convention.
        """
        from farm.cases.script import render_case_script

        return render_case_script(
            self,
            workdir=workdir,
            timeout_factor=timeout_factor,
            cases_dir=cases_dir,
            farm_cc=farm_cc,
        )
