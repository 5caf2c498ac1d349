"""Running one of glibc's own tests in a test image, on any glibc a scenario can name.

glibc builds and runs one test with ``make test t=<subdir>/<name>`` in the build tree, and
records the verdict in ``<name>.test-result`` (``PASS: elf/tst-x`` and so on, written by
``scripts/evaluate-test.sh``). That target is younger than some trees the farm builds:
glibc 2.30 (the rseq v12 series' base) has no ``test`` target, and asking for it made every
glibc test there an ERROR. What the target does is run the test's ``.out`` rule in its
subdirectory, which every glibc since 2.21 has (the ``.test-result`` files too), so where
the target is missing the script asks for that rule directly, the way the target would:

    make -r -C /src/glibc/<subdir> subdir=<subdir> ..=../ objdir=/build/glibc \\
        /build/glibc/<subdir>/<name>.out

Where ``make test`` exists it is used as before. The log names the way taken.

This module owns the script (``glibc_test_script``) and the reading of its output
(``classify``), both pure, and ``run_glibc_test``, which runs the script in a container.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import signal
from dataclasses import dataclass

from farm.containers.container import ExecOutcome, TestContainer
from farm.results import Outcome

#: Seconds for one glibc test before the arch's timeout factor: the make call relinks the
#: test (and on a first run builds its helpers) before running it.
GLIBC_TEST_TIMEOUT = 300.0
#: What ``timeout`` exits with when it had to stop the command.
TIMEOUT_STATUS = 124

SOURCE_DIR = "/src/glibc"
BUILD_DIR = "/build/glibc"

#: ``subdir/name``: a glibc subdirectory and a test in it; both become make targets and paths.
_TEST_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*/[A-Za-z0-9_][A-Za-z0-9_.+-]*")
#: The ``.test-result`` the script prints first: a verdict line and, from evaluate-test.sh, the
#: test's exit status on the next line.
_TEST_RESULT_RE = re.compile(
    r"^(PASS|FAIL|UNSUPPORTED|XFAIL|XPASS|ERROR): [^\n]*(?:\noriginal exit status (\d+)$)?",
    re.MULTILINE,
)
_SIGNAL_RE = re.compile(r"Didn't expect signal from child: got `([^']+)'")
#: support_test_main.c's words when it had to kill a test at its (TIMEOUTFACTOR-scaled) limit.
_DRIVER_TIMEOUT_RE = re.compile(r"^Timed out: ", re.MULTILINE)

_SCRIPT = """\
cd {build} || exit 126
rm -f {result} {out}
if {has_test_target}; then
    echo "farm: glibc test {name} via make test t={name}"
    make -s test t={name_q} >/tmp/farm-make.log 2>&1
else
    echo "farm: glibc test {name} via the .out rule in {subdir}/ (this tree has no 'make test')"
    make -r -s -C {source}/{subdir} subdir={subdir} ..=../ objdir={build} {out} \\
        >/tmp/farm-make.log 2>&1
fi
echo "farm: make exit $?"
cat {result} 2>/dev/null
echo '--- {name}.out'; tail -c 6000 {out} 2>/dev/null
echo '--- make'; tail -n 30 /tmp/farm-make.log
"""


@dataclass(frozen=True, slots=True)
class GlibcTestRun:
    """What one glibc test gave: its outcome, the signal that killed it, and the exec."""

    outcome: Outcome
    signal: str | None
    ran: ExecOutcome


def check_test_name(name: str) -> None:
    """NAME must be ``subdir/test``: it becomes make targets and paths in a root shell."""
    if not _TEST_NAME_RE.fullmatch(name):
        raise ValueError(
            f"glibc test {name!r} must be <subdir>/<test> (letters, digits, '._+-'), "
            "e.g. elf/tst-dlmopen1"
        )


def glibc_test_script(
    name: str,
    *,
    source: str = SOURCE_DIR,
    build: str = BUILD_DIR,
    has_test_target: bool | None = None,
) -> str:
    """The sh script that builds and runs glibc test NAME (``elf/tst-x``) in the build tree
    BUILD of the sources SOURCE, and prints its ``.test-result``, the tail of its ``.out``
    and of make's log.

    HAS_TEST_TARGET None asks the tree (does its top Makefile have a ``test`` target?);
    True or False says so, e.g. to run the ``.out`` rule on a tree that has both.
    """
    check_test_name(name)
    subdir = name.split("/", 1)[0]
    if has_test_target is None:
        ask = f"grep -q '^test *:' {shlex.quote(source + '/Makefile')}"
    else:
        ask = "true" if has_test_target else "false"
    return _SCRIPT.format(
        has_test_target=ask,
        build=shlex.quote(build),
        source=shlex.quote(source),
        name=name,
        name_q=shlex.quote(name),
        subdir=subdir,
        result=shlex.quote(f"{build}/{name}.test-result"),
        out=shlex.quote(f"{build}/{name}.out"),
    )


def classify(exit_code: int, output: str) -> tuple[Outcome, str | None]:
    """The outcome and crash signal of a glibc test from its script's status and output.

    TIMEOUT when ``timeout`` stopped the script; the verdict of ``.test-result`` when it was
    written, refined by ``driver_outcome`` with the exit status written under it (so a test
    that died by a signal without glibc's driver is CRASH here as in ``make check``); ERROR
    when it was not (the test did not build, or the harness did not run it).
    """
    found = _TEST_RESULT_RE.search(output)
    if exit_code == TIMEOUT_STATUS:
        return Outcome.TIMEOUT, None
    if found is None:
        return Outcome.ERROR, None
    status = int(found.group(2)) if found.group(2) else None
    return driver_outcome(Outcome(found.group(1)), output, exit_status=status)


def driver_outcome(
    verdict: Outcome, out_text: str, *, exit_status: int | None
) -> tuple[Outcome, str | None]:
    """A test's outcome from glibc's VERDICT and what its driver said, and its crash signal.

    glibc's summaries only say FAIL; its test driver (support_test_main.c) says why in the
    test's ``.out`` (OUT_TEXT): ``Timed out: ...`` makes it TIMEOUT, ``Didn't expect signal
    from child`` CRASH with that signal. A test run without that driver died by a signal
    when its EXIT_STATUS (``original exit status`` of ``.test-result``) is 128 + signal.
    Only a FAIL is refined: an XFAIL stays expected whatever killed it.
    """
    signal_found = _SIGNAL_RE.search(out_text)
    crash_signal = signal_from_description(signal_found.group(1)) if signal_found else None
    if crash_signal is None and exit_status is not None and exit_status > 128:
        with contextlib.suppress(ValueError):
            crash_signal = signal.Signals(exit_status - 128).name
    if verdict is not Outcome.FAIL:
        return verdict, crash_signal
    if _DRIVER_TIMEOUT_RE.search(out_text):
        return Outcome.TIMEOUT, None
    if crash_signal is not None:
        return Outcome.CRASH, crash_signal
    return verdict, None


def signal_from_description(text: str) -> str | None:
    """glibc's test driver prints strsignal() text; map it back to a name."""
    for candidate in signal.Signals:
        if signal.strsignal(candidate) == text:
            return candidate.name
    return None


def run_glibc_test(container: TestContainer, name: str, *, factor: float) -> GlibcTestRun:
    """Build and run glibc test NAME in CONTAINER's build tree, timeouts scaled by FACTOR."""
    script = glibc_test_script(name)
    # glibc's tests run as root inside the container: its harness writes into the build tree.
    ran = container.exec(
        script,
        timeout=GLIBC_TEST_TIMEOUT * factor,
        user="root",
        environment={"TIMEOUTFACTOR": f"{factor:g}"},
    )
    outcome, crash_signal = classify(ran.exit_code, ran.output)
    return GlibcTestRun(outcome=outcome, signal=crash_signal, ran=ran)
