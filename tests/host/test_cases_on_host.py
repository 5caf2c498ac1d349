"""Every C case, built with farm-cc and run through its generated script on this host.

With ``FARM_GLIBC_PREFIX=system`` farm-cc compiles against the host's own glibc (Debian
bookworm's 2.36 here), so this proves each case compiles, runs and reaches the outcome it
claims on a known glibc, without Docker: the RTLD_SHARED cases are UNSUPPORTED (stock glibc
has no series) and, when forced past that check, FAIL rather than pass by accident, with
their objects flagged unique by the linker or, forced with FARM_UNIQUE_MARKER=tool, by
farm-mark-unique (readelf checks both, for both ELF classes); rseq is registered, the
upstream ABI is the one detected, and with the detection forced to find no ABI every rseq
case is UNSUPPORTED (each ABI's branch of every rseq source compiles); the lttng-ust pin
holds and its control dies with SIGSEGV; cp over a loaded .so dies with SIGBUS. x86_64
always runs (gcc is required); i686 runs when gcc -m32 can link, i.e. gcc-multilib is
installed, and is skipped with that advice otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farm.cases import (
    CASES_ROOT,
    Case,
    Expectation,
    StepKind,
    decode_exit_status,
    load_cases,
)
from farm.cases.script import UNIQUE_MARKER_VARIABLE
from farm.results import Outcome

# The sandbox family attacks its container (fork bomb, memory hog): never run it on a host.
# tests/integration/test_containment.py runs it where it belongs, in a farm container.
CASES = tuple(case for case in load_cases() if case.family != "sandbox")
ARCHES = ("x86_64", "i686")
UNIQUE_MARKERS = ("linker", "tool")
SYSTEM_LOADER = {"x86_64": "/lib64/ld-linux-x86-64.so.2", "i686": "/lib/ld-linux.so.2"}
#: The cases that only pass with the RTLD_SHARED series; forced to run anyway, they FAIL.
SERIES_BEHAVIOUR_CASES = (
    "unique/rtld-shared-same-object",
    "unique/z-unique-auto-shared",
    "unique/z-unique-needed",
)


def host_glibc() -> tuple[str, tuple[int, int]]:
    text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    match = re.fullmatch(r"glibc (\d+)\.(\d+).*", text)
    if match is None:
        pytest.fail(f"this host's libc is not glibc ({text!r}); the cases need glibc")
    version = text.split()[1]
    return version, (int(match.group(1)), int(match.group(2)))


@cache
def arch_unavailable(arch: str) -> str | None:
    """Why ARCH cannot be built here, or None. Only i686 may be missing (gcc-multilib)."""
    if shutil.which("gcc") is None:
        pytest.fail("the host case tests need gcc: apt-get install -y gcc")
    if arch == "x86_64":
        return None
    probe = subprocess.run(
        ["gcc", "-m32", "-static", "-x", "c", "-o", os.devnull, "-"],
        input="int main (void) { return 0; }\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        return "gcc -m32 cannot link here: apt-get install -y gcc-multilib"
    return None


def expected_outcome(case: Case, glibc: tuple[int, int]) -> Outcome:
    if case.expect is Expectation.CRASH:
        return Outcome.CRASH
    if case.family == "unique":
        return Outcome.UNSUPPORTED  # no distribution glibc carries the RTLD_SHARED series
    if case.family == "rseq" and glibc < (2, 35):
        return Outcome.UNSUPPORTED  # no <sys/rseq.h> before 2.35
    return Outcome.PASS


def run_case(
    case: Case, arch: str, workdir: Path, extra_env: dict[str, str] | None = None
) -> tuple[int, str]:
    script = case.shell_script(
        workdir=str(workdir),
        timeout_factor=1.5,
        cases_dir=str(CASES_ROOT),
        farm_cc=str(CASES_ROOT / "farm-cc"),
    )
    env = dict(os.environ, FARM_GLIBC_PREFIX="system", FARM_ARCH=arch, **(extra_env or {}))
    ran = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    return ran.returncode, ran.stdout + ran.stderr


def is_static(case: Case) -> bool:
    return any(step.kind is StepKind.PROGRAM and step.static for step in case.build)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case_reaches_its_claimed_outcome_on_host_glibc(
    case: Case, arch: str, tmp_path: Path
) -> None:
    reason = arch_unavailable(arch)
    if reason is not None:
        pytest.skip(reason)
    version, glibc = host_glibc()

    status, output = run_case(case, arch, tmp_path / "work")
    decoded = decode_exit_status(status)
    expected = expected_outcome(case, glibc)
    assert decoded.outcome is expected, f"exit {status}, expected {expected.value}:\n{output}"
    assert case.is_expected(decoded), output
    if expected is Outcome.CRASH:
        assert f"farm: signal {status - 128}" in output.splitlines()

    # The banner proves which glibc and which loader the program really ran with.
    lines = output.splitlines()
    assert f"farm: glibc {version}" in lines, output
    loader_lines = [line for line in lines if line.startswith("farm: loader ")]
    assert len(loader_lines) == 1, output
    if is_static(case):
        assert loader_lines[0] == "farm: loader static"
    else:
        loader = loader_lines[0].removeprefix("farm: loader ")
        assert os.path.realpath(loader) == os.path.realpath(SYSTEM_LOADER[arch]), output

    if case.family == "unique":
        assert "has no RTLD_SHARED" in output, output
    if case.family == "rseq" and glibc >= (2, 35):
        assert "farm: detected FARM_RSEQ_ABI=UPSTREAM" in lines, output
    if case.family == "rseq" and case.name != "tunable-disabled":
        sizes = re.findall(r"^__rseq_size (\d+),", output, re.MULTILINE)
        assert sizes and int(sizes[-1]) in (20, 32), output
        # Every rseq case shows which area the kernel holds.
        assert re.search(r": the kernel holds 0x[0-9a-f]+ \(EBUSY at length \d+\)$", output, re.M)


@pytest.mark.parametrize("marker", UNIQUE_MARKERS)
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("case_id", SERIES_BEHAVIOUR_CASES)
def test_series_cases_fail_on_stock_glibc_when_forced(
    case_id: str, arch: str, marker: str, tmp_path: Path
) -> None:
    """Built with -DFARM_IGNORE_MISSING_SERIES, a series case runs its checks on the host's
    stock glibc, which ignores RTLD_SHARED and DF_GNU_1_UNIQUE: each must FAIL, so its PASS
    in the farm can only come from the series, whoever wrote the flag."""
    reason = arch_unavailable(arch)
    if reason is not None:
        pytest.skip(reason)
    case = forced(next(c for c in CASES if c.id == case_id))
    status, output = run_case(case, arch, tmp_path / "work", {UNIQUE_MARKER_VARIABLE: marker})
    assert decode_exit_status(status).outcome is Outcome.FAIL, output
    assert "running anyway (FARM_IGNORE_MISSING_SERIES)" in output
    assert re.search(r"^FAIL: main\.c:\d+: ", output, re.MULTILINE), output


def dynamic_section(path: Path) -> str:
    return subprocess.run(
        ["readelf", "-d", str(path)], capture_output=True, text=True, timeout=60, check=True
    ).stdout


@pytest.mark.parametrize("marker", UNIQUE_MARKERS)
@pytest.mark.parametrize("arch", ARCHES)
def test_unique_objects_are_flagged_by_the_linker_or_the_marker(
    arch: str, marker: str, tmp_path: Path
) -> None:
    """Both ways a `unique: true` object gets DF_GNU_1_UNIQUE, for both ELF classes: ld -z
    unique (this host's binutils 2.40 has it), and farm-mark-unique, which a linker without
    the option (bullseye's 2.35) needs and FARM_UNIQUE_MARKER=tool forces here. readelf,
    not the farm's own reader, is the judge; the plain twin and libld.so show that the
    linker alone behaves as the log says."""
    reason = arch_unavailable(arch)
    if reason is not None:
        pytest.skip(reason)
    case = forced(next(c for c in CASES if c.id == "unique/gnu-flags-1-written"))
    work = tmp_path / "work"
    status, output = run_case(case, arch, work, {UNIQUE_MARKER_VARIABLE: marker})
    assert decode_exit_status(status).outcome is Outcome.PASS, output
    built = work / "unique" / "gnu-flags-1-written"
    assert re.search(r"\(GNU_FLAGS_1\)\s+Flags: UNIQUE", dynamic_section(built / "libuniq.so"))
    assert re.search(r"\(GNU_FLAGS_1\)\s+Flags: UNIQUE", dynamic_section(built / "libld.so"))
    assert "GNU_FLAGS_1" not in dynamic_section(built / "libplain.so")
    assert "libplain.so: DT_GNU_FLAGS_1 absent" in output
    assert "farm: note the linker writes DF_GNU_1_UNIQUE for -z unique" in output
    elf_class = 32 if arch == "i686" else 64
    if marker == "linker":
        assert "farm: libuniq.so: DF_GNU_1_UNIQUE written by the linker" in output, output
    else:
        assert (
            "farm: libuniq.so: the linker did not write DF_GNU_1_UNIQUE; farm-mark-unique "
            "wrote DT_GNU_FLAGS_1 into dynamic entry" in output
        ), output
        assert f"(ELFCLASS{elf_class})" in output, output


@pytest.mark.parametrize("arch", ARCHES)
def test_unique_case_without_room_for_the_flag_is_unsupported(arch: str, tmp_path: Path) -> None:
    """Where neither the linker nor the marker can flag the object (no spare DT_NULL
    entry), the case's precondition is unmet: UNSUPPORTED with the reason, not a FAIL
    charged to glibc, and the program is never run."""
    reason = arch_unavailable(arch)
    if reason is not None:
        pytest.skip(reason)
    case = forced(next(c for c in CASES if c.id == "unique/z-unique-auto-shared"))
    build = tuple(
        dataclasses.replace(step, ldflags=(*step.ldflags, "-Wl,--spare-dynamic-tags=0"))
        if step.unique
        else step
        for step in case.build
    )
    case = dataclasses.replace(case, build=build)
    status, output = run_case(case, arch, tmp_path / "work", {UNIQUE_MARKER_VARIABLE: "tool"})
    assert decode_exit_status(status).outcome is Outcome.UNSUPPORTED, output
    assert "UNSUPPORTED: libuniq.so: the linker did not write DT_GNU_FLAGS_1" in output
    assert "farm: run:" not in output


def forced(case: Case) -> Case:
    build = tuple(
        dataclasses.replace(step, cflags=(*step.cflags, "-DFARM_IGNORE_MISSING_SERIES"))
        if step.kind is StepKind.PROGRAM
        else step
        for step in case.build
    )
    return dataclasses.replace(case, build=build)


RSEQ_CASES = tuple(case for case in CASES if case.family == "rseq")


def without_rseq_abi(case: Case) -> Case:
    """CASE as a glibc with no rseq ABI builds it: only the series probe is tried, and it
    cannot link against this host's glibc (no __rseq_abi, no __rseq_handled)."""
    detect = tuple(
        dataclasses.replace(
            detection, probes=tuple(p for p in detection.probes if p[0] == "SERIES")
        )
        if detection.macro == "FARM_RSEQ_ABI"
        else detection
        for detection in case.detect
    )
    assert detect != case.detect, f"{case.id} does not detect FARM_RSEQ_ABI"
    return dataclasses.replace(case, detect=detect)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("case", RSEQ_CASES, ids=[case.id for case in RSEQ_CASES])
def test_rseq_case_is_unsupported_where_glibc_has_no_rseq_abi(
    case: Case, arch: str, tmp_path: Path
) -> None:
    """Where no probe links (glibc 2.30 without the series), every rseq case compiles
    and says UNSUPPORTED with the reason, never ERROR; the image's newer <sys/rseq.h>
    (this host's) must not mislead it."""
    reason = arch_unavailable(arch)
    if reason is not None:
        pytest.skip(reason)
    status, output = run_case(without_rseq_abi(case), arch, tmp_path / "work")
    assert decode_exit_status(status).outcome is Outcome.UNSUPPORTED, output
    assert "farm: detected FARM_RSEQ_ABI=NONE" in output.splitlines(), output
    assert re.search(r"^UNSUPPORTED: .*: this glibc exports neither __rseq_offset", output, re.M)


RSEQ_SOURCES = sorted(
    {
        source.resolve()
        for case in RSEQ_CASES
        for step in case.build
        for source in (case.directory / name for name in step.sources)
    }
)


@pytest.mark.parametrize("abi", ["SERIES", "NONE", "UPSTREAM"])
@pytest.mark.parametrize("arch", ARCHES)
def test_every_rseq_source_compiles_for_every_abi(abi: str, arch: str, tmp_path: Path) -> None:
    """The series cannot run here (no glibc carries it), but each ABI's branch of every rseq
    source must at least compile cleanly, so a farm cell with the series reports what the
    cases found rather than a build ERROR. Compiled against this host's headers, as the
    series' own declarations do not depend on them."""
    reason = arch_unavailable(arch)
    if reason is not None:
        pytest.skip(reason)
    env = dict(os.environ, FARM_GLIBC_PREFIX="system", FARM_ARCH=arch)
    for source in RSEQ_SOURCES:
        compiled = subprocess.run(
            [str(CASES_ROOT / "farm-cc"), "-std=gnu11", "-O1", "-Wall", "-Werror",
             "-D_GNU_SOURCE", "-fPIC", "-I", str(CASES_ROOT / "common"),
             f"-DFARM_RSEQ_ABI=FARM_RSEQ_ABI_{abi}", "-c", "-o", str(tmp_path / "x.o"),
             str(source)],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert compiled.returncode == 0, f"{source} ({abi}):\n{compiled.stderr}"


@pytest.fixture(scope="module")
def mark_unique_tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """farm-mark-unique, built as the case scripts build it, and a real shared object."""
    directory = tmp_path_factory.mktemp("mark-unique")
    subprocess.run(
        ["gcc", "-std=gnu11", "-O1", "-Wall", "-Werror", "-o", str(directory / "tool"),
         str(CASES_ROOT / "common" / "mark_unique.c")],
        check=True, timeout=120,
    )  # fmt: skip
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-o", str(directory / "lib.so"),
         str(CASES_ROOT / "unique" / "value.c")],
        check=True, timeout=120,
    )  # fmt: skip
    return directory


def dynamic_segment(path: Path) -> tuple[int, int]:
    """File offset and size of PATH's PT_DYNAMIC, as readelf reports them."""
    listing = subprocess.run(
        ["readelf", "-lW", str(path)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    match = re.search(r"^\s*DYNAMIC\s+(0x[0-9a-f]+)\s+\S+\s+\S+\s+(0x[0-9a-f]+)", listing, re.M)
    assert match is not None, listing
    return int(match.group(1), 16), int(match.group(2), 16)


@settings(max_examples=200, deadline=None)
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(["headers", "dynamic"]),
            st.integers(0, 1 << 16),
            st.binary(min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_mark_unique_survives_corrupt_objects(
    mark_unique_tool: Path, edits: list[tuple[str, int, bytes]]
) -> None:
    """The tool reads an ELF file's headers and dynamic section: bytes corrupted there (the
    ELF and program headers, the first 1 KiB, and .dynamic of a real object) must give exit
    0, 1 or 77, never a crash."""
    library = mark_unique_tool / "lib.so"
    image = bytearray(library.read_bytes())
    dyn_offset, dyn_size = dynamic_segment(library)
    for region, position, data in edits:
        start = position % 1024 if region == "headers" else dyn_offset + position % dyn_size
        image[start : start + len(data)] = data
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "lib.so"
        target.write_bytes(bytes(image))
        ran = subprocess.run(
            [str(mark_unique_tool / "tool"), str(target)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    assert ran.returncode in (0, 1, 77), (ran.returncode, ran.stdout, ran.stderr)
