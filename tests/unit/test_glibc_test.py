"""farm.testing.glibc_test: the script that runs one of glibc's own tests, on trees with and
without ``make test t=``, and the reading of what it printed.

The script is run for real with sh, in a scratch source and build tree whose ``make`` is a
stand-in on PATH (no glibc is built here): it records how it was called and writes the
``.test-result`` glibc's harness would, so the branch the script takes and the outcome read
back are both checked.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from farm.results import Outcome
from farm.testing.glibc_test import (
    TIMEOUT_STATUS,
    check_test_name,
    classify,
    driver_outcome,
    glibc_test_script,
    signal_from_description,
)

FAKE_MAKE = r"""#!/bin/sh
# Records its arguments, then plays glibc's harness for the target it was asked to make:
# `make test t=NAME` (from the build tree) or `make ... BUILD/NAME.out`.
echo "$*" >> "$FAKE_MAKE_LOG"
target=
for arg in "$@"; do
    case $arg in t=*) target=$PWD/${arg#t=}.out ;; *.out) target=$arg ;; esac
done
[ -n "$target" ] || exit 2
mkdir -p "$(dirname "$target")"
echo "output of the test" > "$target"
echo "$FAKE_VERDICT: ${target%.out}" > "${target%.out}.test-result"
"""


def run_script(
    tmp_path: Path, *, has_test_target: bool, verdict: str = "PASS"
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    source = tmp_path / "src"
    build = tmp_path / "build"
    (source / "elf").mkdir(parents=True)
    build.mkdir(exist_ok=True)
    top = "test :\n\t@echo run one test\n" if has_test_target else "tests:\n\t@echo all\n"
    (source / "Makefile").write_text("# glibc's top Makefile, abridged\n" + top)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text(FAKE_MAKE)
    (bin_dir / "make").chmod(0o755)
    log = tmp_path / "make.log"
    script = glibc_test_script("elf/tst-x", source=str(source), build=str(build))
    env = dict(
        os.environ,
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        FAKE_MAKE_LOG=str(log),
        FAKE_VERDICT=verdict,
    )
    ran = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    return ran, log.read_text().splitlines() if log.exists() else []


def test_tree_with_make_test_uses_it(tmp_path: Path) -> None:
    ran, calls = run_script(tmp_path, has_test_target=True)
    assert calls == ["-s test t=elf/tst-x"], ran.stdout
    assert "farm: glibc test elf/tst-x via make test t=elf/tst-x" in ran.stdout
    assert classify(ran.returncode, ran.stdout) == (Outcome.PASS, None)


def test_tree_without_make_test_makes_the_out_rule_in_the_subdir(tmp_path: Path) -> None:
    """glibc 2.30 has no `test` target: the script asks the subdirectory for the test's
    .out rule, as the target of newer trees does, and reads the same .test-result."""
    ran, calls = run_script(tmp_path, has_test_target=False, verdict="FAIL")
    build = tmp_path / "build"
    assert calls == [
        f"-r -s -C {tmp_path}/src/elf subdir=elf ..=../ objdir={build} {build}/elf/tst-x.out"
    ], ran.stdout
    assert "via the .out rule in elf/ (this tree has no 'make test')" in ran.stdout
    assert f"FAIL: {build}/elf/tst-x" in ran.stdout
    assert classify(ran.returncode, ran.stdout) == (Outcome.FAIL, None)


def test_a_stale_result_is_not_read_back(tmp_path: Path) -> None:
    """A .test-result left by an earlier run must not stand in for this one's."""
    build = tmp_path / "build" / "elf"
    build.mkdir(parents=True)
    (build / "tst-x.test-result").write_text("PASS: elf/tst-x\n")
    ran, _ = run_script(tmp_path, has_test_target=False, verdict="UNSUPPORTED")
    assert classify(ran.returncode, ran.stdout)[0] is Outcome.UNSUPPORTED, ran.stdout


@pytest.mark.parametrize(
    ("exit_code", "output", "expected"),
    [
        (0, "farm: make exit 0\nPASS: elf/tst-x\n", (Outcome.PASS, None)),
        (0, "XFAIL: elf/tst-x\n", (Outcome.XFAIL, None)),
        (0, "XPASS: elf/tst-x\n", (Outcome.XPASS, None)),
        (0, "ERROR: elf/tst-x\n", (Outcome.ERROR, None)),
        (0, "farm: make exit 2\n--- make\nerror: no rule\n", (Outcome.ERROR, None)),
        (TIMEOUT_STATUS, "PASS: elf/tst-x\n", (Outcome.TIMEOUT, None)),
        (
            0,
            "FAIL: elf/tst-x\nDidn't expect signal from child: got `Segmentation fault'\n",
            (Outcome.CRASH, "SIGSEGV"),
        ),
        (
            0,
            "FAIL: elf/tst-x\n--- elf/tst-x.out\nTimed out: killed the child process\n",
            (Outcome.TIMEOUT, None),
        ),
        (0, "FAIL: elf/tst-x\n--- elf/tst-x.out\nsome check failed\n", (Outcome.FAIL, None)),
        # A test without glibc's driver that segfaulted: evaluate-test.sh's exit status line,
        # as `make check` reads it from .test-result (seen in elf/tst-audit-tlsdesc).
        (
            0,
            "farm: make exit 0\nFAIL: elf/tst-x\noriginal exit status 139\n--- elf/tst-x.out\n",
            (Outcome.CRASH, "SIGSEGV"),
        ),
        (0, "FAIL: elf/tst-x\noriginal exit status 1\n", (Outcome.FAIL, None)),
        # An exit status printed later (by the test's own .out) is not the .test-result's.
        (0, "FAIL: elf/tst-x\n--- elf/tst-x.out\noriginal exit status 139\n", (Outcome.FAIL, None)),
    ],
)
def test_classify(exit_code: int, output: str, expected: tuple[Outcome, str | None]) -> None:
    assert classify(exit_code, output) == expected


@pytest.mark.parametrize(
    ("verdict", "out_text", "exit_status", "expected"),
    [
        (Outcome.FAIL, "", 139, (Outcome.CRASH, "SIGSEGV")),  # a test without glibc's driver
        (Outcome.FAIL, "", 1, (Outcome.FAIL, None)),
        (Outcome.FAIL, "", 255, (Outcome.FAIL, None)),  # 127 is no signal
        (Outcome.XFAIL, "", 134, (Outcome.XFAIL, "SIGABRT")),  # expected by glibc: stays XFAIL
        (Outcome.PASS, "Timed out: whatever it printed\n", 0, (Outcome.PASS, None)),
        (Outcome.FAIL, "x\nTimed out: the child process was stopped\n", 1, (Outcome.TIMEOUT, None)),
    ],
)
def test_driver_outcome(
    verdict: Outcome,
    out_text: str,
    exit_status: int,
    expected: tuple[Outcome, str | None],
) -> None:
    assert driver_outcome(verdict, out_text, exit_status=exit_status) == expected


def test_signal_descriptions_map_back_to_names() -> None:
    assert signal_from_description("Aborted") == "SIGABRT"
    assert signal_from_description("no such signal") is None


@pytest.mark.parametrize("name", ["elf/tst-dlmopen1", "nptl/tst-rseq-nptl", "math/test-double"])
def test_real_test_names_are_accepted(name: str) -> None:
    check_test_name(name)


@given(st.text(max_size=40))
def test_names_that_could_escape_are_refused(name: str) -> None:
    """The name becomes make targets and paths in a root shell: anything but subdir/test of
    plain characters is refused, and what passes has no shell or path syntax in it."""
    try:
        check_test_name(name)
    except ValueError as error:
        assert "<subdir>/<test>" in str(error)
        return
    subdir, test = name.split("/")
    assert subdir and test and subdir != ".." and not name.startswith("/")
    assert not set(name) & set(" \t\n;&|$`'\"\\*?<>()[]{}~!#")


def test_the_out_rule_can_be_forced_on_a_tree_with_make_test(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "Makefile").write_text("test :\n")
    forced = glibc_test_script("elf/tst-x", source=str(source), has_test_target=False)
    asked = glibc_test_script("elf/tst-x", source=str(source))
    assert "\nif false; then\n" in forced
    assert f"\nif grep -q '^test *:' {source}/Makefile; then\n" in asked
