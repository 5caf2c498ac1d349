"""farm.testing.glibc_check: the script that runs a subdirectory's ``make check`` and the reading of
what it sends back.

The script runs for real with sh over a scratch source and build tree whose ``make`` is a
stand-in on PATH playing glibc's harness (no glibc is built here): it writes the ``.out``,
``.test-result`` and ``subdir-tests.sum`` glibc would, or stops before the summary as glibc's
make does when a test does not build. The real thing runs in tests/integration.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from farm import ids
from farm.containers.container import ExecOutcome
from farm.results import Outcome, TestResult
from farm.testing.glibc_check import (
    CellContext,
    check_subdir_name,
    read_check_output,
    run_subdir_check,
    subdir_check_script,
)

FAKE_MAKE = r"""#!/bin/sh
# Plays glibc's make in a subdirectory: `check` runs the tests of $FAKE_TESTS
# ("name:verdict:status:out-text" separated by ';'), then merges subdir-tests.sum unless
# FAKE_NO_SUM is set (a test did not build); `farm-merge` is the farm's fallback merge.
echo "$*" >> "$FAKE_MAKE_LOG"
objdir=
for arg in "$@"; do case $arg in objdir=*) objdir=${arg#objdir=} ;; esac; done
case "$*" in
*farm-merge*)
    echo "UNRESOLVED: elf/tst-unbuilt" > "$objdir/elf/subdir-tests.sum"
    exit 0 ;;
esac
mkdir -p "$objdir/elf"
IFS=';'
for spec in $FAKE_TESTS; do
    name=${spec%%:*}; rest=${spec#*:}
    verdict=${rest%%:*}; rest=${rest#*:}
    status=${rest%%:*}; text=${rest#*:}
    printf '%b' "$text" > "$objdir/elf/$name.out"
    printf '%s: elf/%s\noriginal exit status %s\n' "$verdict" "$name" "$status" \
        > "$objdir/elf/$name.test-result"
    [ -n "$FAKE_NO_SUM" ] || head -n 1 "$objdir/elf/$name.test-result" \
        >> "$objdir/elf/subdir-tests.sum"
done
[ -z "$FAKE_NO_SUM" ] || exit 2
"""


def run_check(
    tmp_path: Path, tests: list[str], *, no_sum: bool = False, subdir: str = "elf"
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    source = tmp_path / "src"
    build = tmp_path / "build"
    (source / "elf").mkdir(parents=True, exist_ok=True)
    build.mkdir(exist_ok=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "make").write_text(FAKE_MAKE)
    (bin_dir / "make").chmod(0o755)
    log = tmp_path / "make.log"
    script = subdir_check_script(subdir, jobs=3, source=str(source), build=str(build))
    env = dict(
        os.environ,
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        FAKE_MAKE_LOG=str(log),
        FAKE_TESTS=";".join(tests),
        FAKE_NO_SUM="1" if no_sum else "",
    )
    ran = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    return ran, log.read_text().splitlines() if log.exists() else []


def test_a_check_gives_each_test_its_outcome_with_the_drivers_reasons(tmp_path: Path) -> None:
    ran, calls = run_check(
        tmp_path,
        [
            "tst-ok:PASS:0:all good\\n",
            "tst-fail:FAIL:1:error: tst-fail.c:12: not true\\n",
            "tst-slow:FAIL:1:Timed out: killed the child process\\n",
            "tst-segv:FAIL:1:Didn't expect signal from child: got `Segmentation fault'\\n",
            "tst-sh:FAIL:134:",
            "tst-nope:UNSUPPORTED:77:no rseq here\\n",
        ],
    )
    assert ran.returncode == 0, ran.stderr
    assert calls[0] == f"-k -j3 -C {tmp_path}/src/elf objdir={tmp_path}/build check"
    check = read_check_output("elf", ran.stdout, exit_code=ran.returncode)
    assert check.anomalies == ()
    assert check.make_status == 0
    assert {t.name: (t.outcome, t.signal) for t in check.tests} == {
        "elf/tst-ok": (Outcome.PASS, None),
        "elf/tst-fail": (Outcome.FAIL, None),
        "elf/tst-slow": (Outcome.TIMEOUT, None),
        "elf/tst-segv": (Outcome.CRASH, "SIGSEGV"),
        "elf/tst-sh": (Outcome.CRASH, "SIGABRT"),
        "elf/tst-nope": (Outcome.UNSUPPORTED, None),
    }
    by_name = {t.name: t for t in check.tests}
    assert by_name["elf/tst-fail"].output == "error: tst-fail.c:12: not true\n"
    assert by_name["elf/tst-ok"].output == ""  # a PASS sends nothing back


def test_what_a_test_prints_cannot_pose_as_a_verdict(tmp_path: Path) -> None:
    forged = base64.b64encode(b"PASS: elf/tst-evil\n").decode()
    ran, _ = run_check(
        tmp_path, [f"tst-evil:FAIL:1:farm-file sum elf/subdir-tests.sum {forged}\\n"]
    )
    check = read_check_output("elf", ran.stdout, exit_code=ran.returncode)
    assert [(t.name, t.outcome) for t in check.tests] == [("elf/tst-evil", Outcome.FAIL)]


def test_when_make_stops_before_the_summary_the_farm_merges_it(tmp_path: Path) -> None:
    ran, calls = run_check(tmp_path, ["tst-ok:PASS:0:"], no_sum=True)
    assert calls[-1].endswith("-f Makefile -f /tmp/farm-merge.mk farm-merge"), calls
    check = read_check_output("elf", ran.stdout, exit_code=ran.returncode)
    assert check.make_status == 2
    assert [(t.name, t.outcome) for t in check.tests] == [("elf/tst-unbuilt", Outcome.ERROR)]


def test_a_subdirectory_the_tree_lacks_is_an_anomaly(tmp_path: Path) -> None:
    ran, calls = run_check(tmp_path, [], subdir="nosuch")
    check = read_check_output("nosuch", ran.stdout, exit_code=ran.returncode)
    assert calls == []
    assert check.tests == ()
    assert [a.message for a in check.anomalies] == ["this glibc tree has no subdirectory nosuch/"]


def test_a_verdict_for_another_subdirectory_is_not_taken() -> None:
    encoded = base64.b64encode(b"PASS: elf/tst-a\nFAIL: nptl/tst-b\n").decode()
    output = f"farm-make-status 0\nfarm-file sum elf/subdir-tests.sum {encoded}\n"
    check = read_check_output("elf", output, exit_code=0)
    assert [t.name for t in check.tests] == ["elf/tst-a"]
    assert [str(a) for a in check.anomalies] == [
        "elf/subdir-tests.sum:2: nptl/tst-b is not a test of elf/"
    ]


@given(st.text(max_size=600), st.integers(min_value=-1, max_value=255))
def test_any_output_is_read_without_raising_and_no_verdicts_is_an_anomaly(
    output: str, exit_code: int
) -> None:
    check = read_check_output("elf", output, exit_code=exit_code)
    if not check.tests:
        assert check.anomalies


def test_item_ids_of_whole_subdirectories_round_trip() -> None:
    assert ids.glibc_subdir_test_id("elf") == "glibc/elf/"
    assert ids.subdir_of_test(ids.glibc_subdir_test_id("dlfcn")) == "dlfcn"
    assert ids.subdir_of_test("glibc/elf/tst-dlmopen1") is None
    assert ids.subdir_of_test("farm/unique/basic") is None


@pytest.mark.parametrize("name", ["..", "elf/x", "a b", "$(reboot)", ""])
def test_a_subdirectory_name_that_is_not_plain_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="plain name"):
        check_subdir_name(name)


def _sum_line(text: bytes) -> str:
    return f"farm-file sum elf/subdir-tests.sum {base64.b64encode(text).decode()}"


def test_a_second_summary_of_one_subdirectory_is_an_anomaly_not_a_replacement() -> None:
    # On main the second copy replaced the first silently: FAIL became PASS, no anomaly.
    output = "\n".join(
        ["farm-make-status 1", _sum_line(b"FAIL: elf/tst-a\n"), _sum_line(b"PASS: elf/tst-a\n")]
    )
    check = read_check_output("elf", output + "\n", exit_code=0)
    assert [(t.name, t.outcome) for t in check.tests] == [("elf/tst-a", Outcome.FAIL)]
    assert [a.message for a in check.anomalies] == [
        "a second sum of elf/subdir-tests.sum; the first is kept"
    ]


class _CannedCheck:
    """Stands in for the test container: answers the check script with what the real one
    prints (the farm's own farm-file protocol), so the recording can be checked alone."""

    def __init__(self, output: str) -> None:
        self.output = output

    def exec(self, script: str, **_: object) -> ExecOutcome:
        return ExecOutcome(0, self.output, 1.0)


def test_a_summary_with_anomalies_is_recorded_for_the_gate() -> None:
    # A FAIL line with a NUL in it is refused by the parser: the failing test leaves no
    # record, so the item's own ERROR record must carry the anomaly to the verdict.
    output = "farm-make-status 1\n" + _sum_line(b"PASS: elf/tst-b\nFAIL: elf/tst-a\x00\n") + "\n"
    recorded: list[TestResult] = []
    cell = CellContext("s", "x86_64", "fix", "img", 1.0)
    run_subdir_check(
        _CannedCheck(output),  # type: ignore[arg-type]
        "elf",
        cell,
        record=recorded.append,
        reruns=0,
    )
    by_test = {r.test: r for r in recorded}
    assert set(by_test) == {"glibc/elf/tst-b", "glibc/elf/"}
    item = by_test["glibc/elf/"]
    assert item.outcome is Outcome.ERROR
    assert "elf/subdir-tests.sum:2: malformed test name" in item.output
