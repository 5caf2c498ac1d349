"""The C case library's loader, validation, selection and generated scripts.

No compiler runs here: the packaged manifests are loaded and checked, malformed manifests
written to tmp_path must be refused with ``path:line:`` errors, and the generated sh script
is run for real against a fake farm-cc whose "programs" are tiny sh scripts, which pins the
exit-status convention the runner relies on (0/1/77, 124, 125, 126, 128+N).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

from farm.cases import (
    CASES_ROOT,
    BuildStep,
    Case,
    Detection,
    Expectation,
    RunSpec,
    ScriptStatus,
    StepKind,
    decode_exit_status,
    load_cases,
    scaled_timeout,
    select_cases,
)
from farm.cases import script as script_module
from farm.errors import ScenarioError
from farm.results import Outcome

FAMILIES = {"dlmopen", "unique", "unload", "replace", "rseq", "static", "sandbox"}

MINIMAL = """\
summary: "A minimal case."
build:
  - program: main
    sources: [main.c]
run:
  argv: [./main]
"""


DETECT = """\
detect:
  - macro: FARM_ABI
    probes: {NEW: new.c, OLD: old.c}
    otherwise: NONE
"""


def write_case(
    root: Path, case_id: str, manifest: str, files: tuple[str, ...] = ("main.c",)
) -> Path:
    case_dir = root / case_id
    case_dir.mkdir(parents=True)
    (case_dir / "case.yaml").write_text(textwrap.dedent(manifest))
    for name in files:
        (case_dir / name).write_text("int main (void) { return 0; }\n")
    return case_dir


def load_error(tmp_path: Path, manifest: str, files: tuple[str, ...] = ("main.c",)) -> str:
    write_case(tmp_path, "fam/broken", manifest, files)
    with pytest.raises(ScenarioError) as caught:
        load_cases(tmp_path)
    return str(caught.value)


# --- the packaged library ---------------------------------------------------------------


def test_packaged_library_loads_sorted_unique_ids_in_every_family() -> None:
    cases = load_cases()
    ids = [case.id for case in cases]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    assert {case.family for case in cases} == FAMILIES
    for family in FAMILIES:
        assert sum(case.family == family for case in cases) >= 1
    assert len(cases) >= 20


def test_packaged_cases_have_sources_and_a_program_to_run() -> None:
    for case in load_cases():
        assert case.id == f"{case.family}/{case.name}"
        assert case.manifest.is_file()
        for step in case.build:
            for source in step.sources:
                assert (case.directory / source).is_file(), (case.id, source)
        programs = {f"./{s.output}" for s in case.build if s.kind is StepKind.PROGRAM}
        assert case.run.argv[0] in programs


def test_packaged_crash_cases_say_so() -> None:
    by_id = {case.id: case for case in load_cases()}
    assert by_id["unload/runtime-unpinned-crash"].expect is Expectation.CRASH
    assert by_id["unload/runtime-unpinned-crash"].crash_signals == ("SIGSEGV",)
    assert by_id["replace/cp-in-place-crash"].expect is Expectation.CRASH
    assert set(by_id["replace/cp-in-place-crash"].crash_signals) == {"SIGBUS", "SIGSEGV"}
    crashing = {case.id for case in by_id.values() if case.expect is Expectation.CRASH}
    assert crashing == {
        "unload/runtime-unpinned-crash",
        "replace/cp-in-place-crash",
        "sandbox/memory-hog",  # killed by the OOM killer at the container's memory limit
    }


def test_packaged_unique_cases_need_the_series_and_static_cases_link_static() -> None:
    cases = load_cases()
    for case in cases:
        if case.family == "unique":
            assert "rtld-shared" in case.needs
    static_programs = {c.id for c in cases if any(s.static for s in c.build)}
    assert static_programs == {
        "rseq/static-executable",
        "rseq/static-dlopen-dormant-libc",
        "static/dlopen-shared-object",
    }


def test_packaged_farm_cc_is_an_executable_posix_sh_script() -> None:
    farm_cc = CASES_ROOT / "farm-cc"
    assert farm_cc.stat().st_mode & stat.S_IXUSR
    assert farm_cc.read_text().startswith("#!/bin/sh\n")


def test_packaged_common_protocol_prints_the_banner_lines() -> None:
    source = (CASES_ROOT / "common" / "farm_case.c").read_text()
    assert '"farm: glibc %s\\n"' in source
    assert '"farm: loader static"' in source
    header = (CASES_ROOT / "common" / "farm_case.h").read_text()
    for name in ("FARM_FAIL", "FARM_UNSUPPORTED", "FARM_PASS", "FARM_EXIT_UNSUPPORTED 77"):
        assert name in header


# --- manifest validation ----------------------------------------------------------------


def test_minimal_manifest_gets_the_defaults(tmp_path: Path) -> None:
    write_case(tmp_path, "fam/ok", MINIMAL)
    (case,) = load_cases(tmp_path)
    assert case.id == "fam/ok"
    assert case.timeout == 10.0
    assert case.needs == ()
    assert case.expect is Expectation.PASS
    assert case.run == RunSpec(argv=("./main",), env=())
    assert case.build == (BuildStep(StepKind.PROGRAM, "main", ("main.c",)),)


def test_full_manifest_round_trips(tmp_path: Path) -> None:
    write_case(
        tmp_path,
        "fam/full",
        """\
        summary: "Everything."
        needs: [dlmopen, pthread]
        timeout: 2.5
        expect: crash
        crash_signals: [SIGBUS, SIGSEGV]
        build:
          - shared: libx.so
            sources: [x.c]
            cflags: [-DX=1]
            ldflags: ["-Wl,-z,unique"]
          - program: main
            sources: [main.c]
            ldlibs: [-ldl, -lpthread]
            static: true
        run:
          argv: [./main, --flag]
          env: {ZED: "1", ALPHA: "glibc.pthread.rseq=0"}
        """,
        files=("main.c", "x.c"),
    )
    (case,) = load_cases(tmp_path)
    assert case.needs == ("dlmopen", "pthread")
    assert case.timeout == 2.5
    assert case.crash_signals == ("SIGBUS", "SIGSEGV")
    assert case.build[0] == BuildStep(
        StepKind.SHARED, "libx.so", ("x.c",), cflags=("-DX=1",), ldflags=("-Wl,-z,unique",)
    )
    assert case.build[1].static and case.build[1].ldlibs == ("-ldl", "-lpthread")
    assert case.run.env == (("ALPHA", "glibc.pthread.rseq=0"), ("ZED", "1"))


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        pytest.param(MINIMAL + "timout: 5\n", "case.yaml:7: timout: unknown key", id="unknown-top"),
        pytest.param(
            MINIMAL.replace("sources: [main.c]", "sources: [main.c]\n    ldlib: [-ldl]"),
            "case.yaml:5: build[0].ldlib: unknown key",
            id="unknown-step-key",
        ),
        pytest.param(MINIMAL + "summary: again\n", "summary: duplicate key", id="duplicate"),
        pytest.param(
            MINIMAL.replace('summary: "A minimal case."\n', ""),
            "missing required key 'summary'",
            id="no-summary",
        ),
        pytest.param(
            MINIMAL.replace("program: main", "shared: main\n    program: main"),
            "exactly one of",
            id="two-kinds",
        ),
        pytest.param(
            MINIMAL.replace("program: main", "program: bin/main"),
            "plain file name",
            id="output-dir",
        ),
        pytest.param(
            MINIMAL.replace("[main.c]", "[missing.c]"),
            "'missing.c' does not exist",
            id="missing-source",
        ),
        pytest.param(
            MINIMAL.replace("[main.c]", "[../../outside.c]"),
            "leaves the family directory",
            id="escape",
        ),
        pytest.param(
            MINIMAL.replace("[main.c]", "[/etc/passwd]"), "must be relative", id="absolute-source"
        ),
        pytest.param(
            MINIMAL.replace("[./main]", "[./other]"),
            "argv[0] must be a program the build makes",
            id="argv0",
        ),
        pytest.param(
            MINIMAL + "  env: {X: 1}\n",
            "run.env.X: expected a string, got int 1; quote",
            id="env-int",
        ),
        pytest.param(
            MINIMAL + "expect: crash\n", "crash_signals: expect: crash needs", id="crash-no-signals"
        ),
        pytest.param(
            MINIMAL + "crash_signals: [SIGSEGV]\n",
            "only meaningful with expect: crash",
            id="signals-no-crash",
        ),
        pytest.param(
            MINIMAL + "expect: crash\ncrash_signals: [SEGV]\n",
            "'SEGV' is not one of",
            id="bad-signal",
        ),
        pytest.param(
            MINIMAL + "expect: maybe\n", "'maybe' is not one of pass, crash", id="bad-expect"
        ),
        pytest.param(MINIMAL + "needs: [dlmopn]\n", "did you mean 'dlmopen'?", id="bad-need"),
        pytest.param(MINIMAL + "timeout: -1\n", "timeout: expected seconds", id="negative-timeout"),
        pytest.param(MINIMAL + "timeout: true\n", "timeout: expected seconds", id="bool-timeout"),
        pytest.param(
            MINIMAL.replace("program: main", "program: main\n    static: yes please"),
            "expected true or false",
            id="static-str",
        ),
        pytest.param(
            MINIMAL.replace("build:\n  - program: main\n    sources: [main.c]\n", "build: []\n"),
            "needs at least one step",
            id="no-steps",
        ),
        pytest.param(
            MINIMAL.replace("program: main", 'program: "main\\n"'),
            "plain file name",
            id="output-trailing-newline",
        ),
        pytest.param(
            MINIMAL.replace("program: main", "program: main\n    unique: true"),
            "only a shared object can be flagged unique",
            id="unique-program",
        ),
        pytest.param(
            MINIMAL.replace(
                "build:\n", "build:\n  - shared: libx.so\n    sources: [main.c]\n    unique: 1\n"
            ),
            "unique: expected true or false",
            id="unique-int",
        ),
        pytest.param(
            MINIMAL + DETECT.replace("FARM_ABI", "ABI"),
            "detect[0].macro: 'ABI' must look like FARM_NAME",
            id="detect-macro",
        ),
        pytest.param(
            MINIMAL + DETECT.replace("NEW:", "new:"),
            "detect[0].probes: choice 'new' must be upper-case",
            id="detect-choice",
        ),
        pytest.param(
            MINIMAL + DETECT.replace("OLD: old.c", "NEW: old.c"),
            "detect[0].probes.NEW: duplicate choice",
            id="detect-duplicate-choice",
        ),
        pytest.param(
            MINIMAL + DETECT.replace("otherwise: NONE", "otherwise: OLD"),
            "detect[0].otherwise: 'OLD' is also a probe's choice",
            id="detect-otherwise-is-a-probe",
        ),
        pytest.param(
            MINIMAL + DETECT.replace("new.c", "gone.c"),
            "detect[0].probes.NEW: 'gone.c' does not exist",
            id="detect-missing-probe",
        ),
        pytest.param(
            MINIMAL + DETECT.replace("    otherwise: NONE\n", ""),
            "detect[0]: missing required key 'otherwise'",
            id="detect-no-otherwise",
        ),
        pytest.param(
            MINIMAL + DETECT.replace("{NEW: new.c, OLD: old.c}", "{}"),
            "detect[0].probes: expected a mapping of choice: probe source",
            id="detect-no-probes",
        ),
        pytest.param(
            MINIMAL + DETECT + DETECT.replace("detect:\n", ""),
            "detect[1].macro: FARM_ABI is detected twice",
            id="detect-twice",
        ),
        pytest.param("summary: [unclosed\n", "case.yaml:2: not valid YAML", id="bad-yaml"),
        pytest.param("", "the manifest is empty", id="empty"),
        pytest.param("- a list\n", "the manifest must be a mapping", id="not-mapping"),
    ],
)
def test_malformed_manifests_are_refused_with_location(
    tmp_path: Path, manifest: str, expected: str
) -> None:
    message = load_error(tmp_path, manifest, ("main.c", "new.c", "old.c"))
    assert str(tmp_path / "fam" / "broken" / "case.yaml") in message
    assert expected in message


def test_shared_object_cannot_be_static(tmp_path: Path) -> None:
    manifest = MINIMAL.replace(
        "build:\n", "build:\n  - shared: libx.so\n    sources: [main.c]\n    static: true\n"
    )
    assert "build[0].static: a shared object cannot be static" in load_error(tmp_path, manifest)


def test_step_output_built_twice_is_refused(tmp_path: Path) -> None:
    manifest = MINIMAL.replace("build:\n", "build:\n  - shared: main\n    sources: [main.c]\n")
    assert "'main' is built twice" in load_error(tmp_path, manifest)


def test_build_without_program_is_refused(tmp_path: Path) -> None:
    manifest = MINIMAL.replace("program: main", "shared: libx.so")
    assert "no step builds a program" in load_error(tmp_path, manifest)


def test_sibling_sources_in_the_same_family_are_allowed(tmp_path: Path) -> None:
    write_case(tmp_path, "fam/first", MINIMAL, files=("main.c", "shared.c"))
    write_case(tmp_path, "fam/second", MINIMAL.replace("[main.c]", "[main.c, ../first/shared.c]"))
    second = {case.id: case for case in load_cases(tmp_path)}["fam/second"]
    assert second.build[0].sources == ("main.c", "../first/shared.c")


def test_manifest_at_the_wrong_depth_is_refused(tmp_path: Path) -> None:
    write_case(tmp_path, "fam/ok", MINIMAL)
    write_case(tmp_path, "fam/ok/nested", MINIMAL)
    with pytest.raises(ScenarioError, match=r"must be at <family>/<case>/case.yaml"):
        load_cases(tmp_path)


def test_family_without_cases_is_refused(tmp_path: Path) -> None:
    write_case(tmp_path, "fam/ok", MINIMAL)
    (tmp_path / "empty" / "notacase").mkdir(parents=True)
    with pytest.raises(ScenarioError, match=r"empty: a family directory without any"):
        load_cases(tmp_path)


def test_directory_names_must_be_lower_case_ids(tmp_path: Path) -> None:
    write_case(tmp_path, "fam/Bad_Name", MINIMAL)
    with pytest.raises(ScenarioError, match=r"case name 'Bad_Name' must be lower-case"):
        load_cases(tmp_path)


def test_common_and_hidden_directories_are_not_families(tmp_path: Path) -> None:
    write_case(tmp_path, "fam/ok", MINIMAL)
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "farm_case.h").write_text("")
    (tmp_path / ".git").mkdir()
    assert [case.id for case in load_cases(tmp_path)] == ["fam/ok"]


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="does not exist"):
        load_cases(tmp_path / "nowhere")


# --- selection --------------------------------------------------------------------------


def make_case(case_id: str) -> Case:
    family, _, name = case_id.partition("/")
    return Case(
        id=case_id,
        family=family,
        name=name,
        directory=Path("/nonexistent") / case_id,
        summary="s",
        needs=(),
        timeout=10.0,
        build=(BuildStep(StepKind.PROGRAM, "main", ("main.c",)),),
        run=RunSpec(argv=("./main",)),
    )


LIBRARY = tuple(
    make_case(i)
    for i in (
        "unload/runtime-pinned",
        "dlmopen/newlm-isolation",
        "dlmopen/audit-lmid",
        "rseq/tunable-disabled",
    )
)


def ids(cases: tuple[Case, ...]) -> list[str]:
    return [case.id for case in cases]


def test_select_by_globs_returns_a_sorted_union() -> None:
    chosen = select_cases(LIBRARY, ["rseq/*", "dlmopen/a*", "*/audit-lmid"])
    assert ids(chosen) == ["dlmopen/audit-lmid", "rseq/tunable-disabled"]


def test_select_bare_family_name_means_the_whole_family() -> None:
    assert ids(select_cases(LIBRARY, ["dlmopen"])) == [
        "dlmopen/audit-lmid",
        "dlmopen/newlm-isolation",
    ]


def test_select_nothing_means_everything() -> None:
    assert ids(select_cases(LIBRARY, [])) == sorted(ids(LIBRARY))


def test_select_glob_matching_nothing_names_close_ids() -> None:
    with pytest.raises(ScenarioError) as caught:
        select_cases(LIBRARY, ["dlmopen/*", "dlmopen/newlm-isolaton"])
    message = str(caught.value)
    assert "no case matches 'dlmopen/newlm-isolaton'" in message
    assert "close ids: dlmopen/newlm-isolation" in message


def test_select_glob_with_nothing_close_lists_families() -> None:
    with pytest.raises(ScenarioError, match=r"families: dlmopen, rseq, unload"):
        select_cases(LIBRARY, ["zzz"])


def test_select_is_case_sensitive() -> None:
    with pytest.raises(ScenarioError):
        select_cases(LIBRARY, ["RSEQ/*"])


# --- exit-status convention -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome", "signal"),
    [
        (0, Outcome.PASS, None),
        (1, Outcome.FAIL, None),
        (77, Outcome.UNSUPPORTED, None),
        (124, Outcome.TIMEOUT, None),
        (125, Outcome.ERROR, None),
        (126, Outcome.ERROR, None),
        (139, Outcome.CRASH, "SIGSEGV"),
        (135, Outcome.CRASH, "SIGBUS"),
        (134, Outcome.CRASH, "SIGABRT"),
        (-11, Outcome.CRASH, "SIGSEGV"),
        (2, Outcome.FAIL, None),
        (128, Outcome.FAIL, None),
    ],
)
def test_decode_exit_status(status: int, outcome: Outcome, signal: str | None) -> None:
    decoded = decode_exit_status(status)
    assert (decoded.outcome, decoded.signal, decoded.exit_code) == (outcome, signal, status)


def test_decode_names_unnamed_signals() -> None:
    assert decode_exit_status(128 + 50).signal == "SIG50"


def test_is_expected_for_pass_and_crash_cases() -> None:
    passing = make_case("fam/pass")
    crashing = dataclasses.replace(
        make_case("fam/crash"), expect=Expectation.CRASH, crash_signals=("SIGBUS", "SIGSEGV")
    )
    assert passing.is_expected(decode_exit_status(0))
    assert passing.is_expected(decode_exit_status(77))
    assert not passing.is_expected(decode_exit_status(139))
    assert crashing.is_expected(decode_exit_status(135))
    assert not crashing.is_expected(decode_exit_status(134))  # SIGABRT is not listed
    assert not crashing.is_expected(decode_exit_status(0))
    assert not crashing.is_expected(ScriptStatus(Outcome.CRASH, 139, signal=None))


@pytest.mark.parametrize(
    ("timeout", "factor", "seconds"), [(10, 1.0, 10), (10, 1.5, 15), (0.2, 1.0, 1), (3, 1.1, 4)]
)
def test_scaled_timeout_rounds_up_to_whole_seconds(
    timeout: float, factor: float, seconds: int
) -> None:
    assert scaled_timeout(timeout, factor) == seconds


# --- generated scripts ------------------------------------------------------------------


def script_case(tmp_path: Path, manifest: str, files: tuple[str, ...] = ("main.c",)) -> Case:
    write_case(tmp_path / "lib", "fam/demo", manifest, files)
    (case,) = load_cases(tmp_path / "lib")
    return case


def test_script_lists_build_steps_in_order_with_farm_cc(tmp_path: Path) -> None:
    case = script_case(
        tmp_path,
        """\
        summary: s
        build:
          - shared: libx.so
            sources: [x.c]
            ldflags: ["-Wl,-rpath,$ORIGIN"]
          - program: main
            sources: [main.c]
            ldlibs: [-ldl]
            static: true
        run:
          argv: [./main]
          env: {GLIBC_TUNABLES: "glibc.pthread.rseq=0"}
        """,
        files=("main.c", "x.c"),
    )
    script = case.shell_script(workdir="/farm/scratch/demo-1", timeout_factor=1.5)
    assert script.startswith("#!/bin/sh\n")
    assert "farm_cases=/farm/cases\n" in script
    assert "farm_cc=/farm/cases/farm-cc\n" in script
    assert "farm_work=/farm/scratch/demo-1\n" in script
    lines = script.splitlines()
    builds = [line for line in lines if line.startswith(('"$farm_cc"', "farm_static_link "))]
    assert len(builds) == 2
    assert "-shared -fPIC -o libx.so x.c '-Wl,-rpath,$ORIGIN' || farm_build_failed" in builds[0]
    assert '-I "$farm_common"' in builds[0]
    # A static program links through farm_static_link (see test_static_link_*).
    assert builds[1].startswith("farm_static_link ")
    assert builds[1].endswith('-static -o main main.c "$farm_common/farm_case.c" -ldl')
    assert "farm_timeout=15" in lines
    assert 'timeout -k 5 "$farm_timeout" env GLIBC_TUNABLES=glibc.pthread.rseq=0 ./main' in lines


def test_script_paths_are_configurable(tmp_path: Path) -> None:
    case = script_case(tmp_path, MINIMAL)
    script = case.shell_script(
        workdir="/w/x y",
        timeout_factor=1.0,
        cases_dir="/srv/cases",
        farm_cc="/usr/local/bin/farm-cc",
    )
    assert "farm_cases=/srv/cases\n" in script
    assert "farm_cc=/usr/local/bin/farm-cc\n" in script
    assert "farm_work='/w/x y'\n" in script


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workdir": "/", "timeout_factor": 1.0}, "must not be '/'"),
        ({"workdir": "/tmp/..", "timeout_factor": 1.0}, "must not be '/'"),
        ({"workdir": "relative", "timeout_factor": 1.0}, "absolute path"),
        ({"workdir": "/w", "timeout_factor": 0.0}, "positive number"),
        ({"workdir": "/w", "timeout_factor": float("nan")}, "positive number"),
        ({"workdir": "/w", "timeout_factor": 1.0, "farm_cc": "farm-cc"}, "absolute path"),
    ],
)
def test_script_refuses_dangerous_arguments(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    case = script_case(tmp_path, MINIMAL)
    with pytest.raises(ValueError, match=message):
        case.shell_script(**kwargs)  # type: ignore[arg-type]


FAKE_FARM_CC = r"""#!/bin/sh
# A stand-in for farm-cc: "compiles" by writing the program named by -o as a sh script that
# behaves as $FAKE_BEHAVIOUR says, so the generated case script can be run without gcc.
out=
while [ $# -gt 0 ]; do
    case $1 in -o) out=$2; shift ;; esac
    shift
done
[ "${FAKE_BUILD:-ok}" = ok ] || { echo "fake-cc: error" >&2; exit 1; }
[ -f "$FARM_COMMON_CHECK" ] || { echo "fake-cc: common/ was not copied" >&2; exit 1; }
cat > "$out" <<EOF
#!/bin/sh
echo "farm: glibc fake"
echo "env says \$FARM_SAYS"
case "$FAKE_BEHAVIOUR" in
    exit:*) exit \${FAKE_BEHAVIOUR#exit:} ;;
    signal:*) kill -\${FAKE_BEHAVIOUR#signal:} \$\$ ;;
    hang) exec sleep 30 ;;
esac
EOF
chmod +x "$out"
"""


def run_script(
    tmp_path: Path, behaviour: str, *, build: str = "ok", timeout: str = "5"
) -> subprocess.CompletedProcess[str]:
    if not shutil.which("timeout"):
        pytest.fail("the case scripts need coreutils' timeout on PATH")
    library = tmp_path / "lib"
    manifest = MINIMAL + f"  env: {{FARM_SAYS: hello}}\ntimeout: {timeout}\n"
    write_case(library, "fam/demo", manifest)
    (library / "common").mkdir(exist_ok=True)
    (library / "common" / "farm_case.c").write_text("/* fake */\n")
    fake = library / "farm-cc"
    fake.write_text(FAKE_FARM_CC)
    fake.chmod(0o755)
    (case,) = load_cases(library)
    workdir = tmp_path / "work"
    script = case.shell_script(
        workdir=str(workdir), timeout_factor=1.0, cases_dir=str(library), farm_cc=str(fake)
    )
    env = dict(
        os.environ,
        FAKE_BEHAVIOUR=behaviour,
        FAKE_BUILD=build,
        FARM_COMMON_CHECK=str(workdir / "common" / "farm_case.c"),
    )
    return subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("code", "outcome"), [(0, Outcome.PASS), (1, Outcome.FAIL), (77, Outcome.UNSUPPORTED)]
)
def test_script_passes_the_protocol_statuses_through(
    tmp_path: Path, code: int, outcome: Outcome
) -> None:
    ran = run_script(tmp_path, f"exit:{code}")
    assert ran.returncode == code, ran.stdout
    assert decode_exit_status(ran.returncode).outcome is outcome
    assert "farm: case fam/demo" in ran.stdout
    assert "farm: glibc fake" in ran.stdout
    assert "env says hello" in ran.stdout  # run.env reached the program
    assert ran.stderr == ""  # the script sends everything to stdout, in order


def test_script_reports_death_by_signal(tmp_path: Path) -> None:
    ran = run_script(tmp_path, "signal:SEGV")
    assert ran.returncode == 139
    assert "farm: signal 11" in ran.stdout.splitlines()
    assert decode_exit_status(ran.returncode).signal == "SIGSEGV"


def test_script_reports_a_build_failure_as_125(tmp_path: Path) -> None:
    ran = run_script(tmp_path, "exit:0", build="fail")
    assert ran.returncode == 125
    assert "fake-cc: error" in ran.stdout
    assert ran.stdout.splitlines()[-1] == "farm: build failed"
    assert "farm: glibc fake" not in ran.stdout


def test_script_reports_a_timeout_as_124(tmp_path: Path) -> None:
    ran = run_script(tmp_path, "hang", timeout="1")
    assert ran.returncode == 124
    assert "farm: timeout after 1s" in ran.stdout


def test_script_reports_other_statuses_as_protocol_breaks(tmp_path: Path) -> None:
    ran = run_script(tmp_path, "exit:3")
    assert ran.returncode == 3
    assert "farm: exit status 3" in ran.stdout
    assert decode_exit_status(3).outcome is Outcome.FAIL


def test_script_reports_a_missing_farm_cc_as_harness_error(tmp_path: Path) -> None:
    write_case(tmp_path / "lib", "fam/demo", MINIMAL)
    (case,) = load_cases(tmp_path / "lib")
    script = case.shell_script(
        workdir=str(tmp_path / "work"),
        timeout_factor=1.0,
        cases_dir=str(tmp_path / "lib"),
        farm_cc=str(tmp_path / "no-such-farm-cc"),
    )
    ran = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode == 126
    assert "farm: harness error: farm-cc is missing" in ran.stdout


def test_script_starts_from_an_empty_workdir(tmp_path: Path) -> None:
    stale = tmp_path / "work" / "fam" / "demo" / "stale-output"
    stale.parent.mkdir(parents=True)
    stale.write_text("from a previous attempt")
    ran = run_script(tmp_path, "exit:0")
    assert ran.returncode == 0, ran.stdout
    assert not stale.exists()
    assert (tmp_path / "work" / "fam" / "demo" / "main").exists()


def test_hostile_sandbox_cases_run_only_when_named() -> None:
    cases = load_cases()
    for selection in ([], ["*"], ["*/*"], ["*/hang"]):
        if selection == ["*/hang"]:
            with pytest.raises(ScenarioError, match="no case matches"):
                select_cases(cases, selection)
            continue
        chosen = select_cases(cases, selection)
        assert chosen and not any(c.family == "sandbox" for c in chosen), selection
    assert {c.id for c in select_cases(cases, ["sandbox"])} == {
        c.id for c in cases if c.family == "sandbox"
    }
    assert [c.id for c in select_cases(cases, ["sandbox/hang"])] == ["sandbox/hang"]


# --- build-time detection and unique objects --------------------------------------------


def test_detect_and_unique_are_parsed(tmp_path: Path) -> None:
    case = script_case(
        tmp_path,
        MINIMAL.replace("build:\n", "build:\n  - shared: libu.so\n    sources: [main.c]\n"
                        "    unique: true\n") + DETECT,
        files=("main.c", "new.c", "old.c"),
    )  # fmt: skip
    (detection,) = case.detect
    assert detection == Detection("FARM_ABI", (("NEW", "new.c"), ("OLD", "old.c")), "NONE")
    assert detection.choices() == ("NEW", "OLD", "NONE")
    assert [step.unique for step in case.build] == [True, False]
    assert script_case(tmp_path / "plain", MINIMAL).detect == ()


DETECT_FARM_CC = r"""#!/bin/sh
# Fails to "link" when given the source named by $FAKE_UNLINKABLE; otherwise writes the
# program named by -o as a script that prints the -D flags it was compiled with.
out=
defines=
while [ $# -gt 0 ]; do
    case $1 in
        -o) out=$2; shift ;;
        -D*) defines="$defines $1" ;;
        *) for bad in $FAKE_UNLINKABLE; do [ "$1" = "$bad" ] && exit 1; done ;;
    esac
    shift
done
printf '#!/bin/sh\necho "compiled with:%s"\n' "$defines" > "$out"
chmod +x "$out"
"""


@pytest.mark.parametrize(
    ("unlinkable", "choice"),
    [("", "NEW"), ("new.c", "OLD"), ("new.c old.c", "NONE"), ("old.c", "NEW")],
)
def test_script_detects_the_first_probe_that_links(
    tmp_path: Path, unlinkable: str, choice: str
) -> None:
    """The first probe that links, in manifest order, names the choice, else `otherwise`;
    every build step then gets -D<macro>=<macro>_<choice>."""
    library = tmp_path / "lib"
    write_case(library, "fam/demo", MINIMAL + DETECT, ("main.c", "new.c", "old.c"))
    (library / "common").mkdir()
    (library / "common" / "farm_case.c").write_text("/* fake */\n")
    fake = library / "farm-cc"
    fake.write_text(DETECT_FARM_CC)
    fake.chmod(0o755)
    (case,) = load_cases(library)
    script = case.shell_script(
        workdir=str(tmp_path / "work"), timeout_factor=1.0, cases_dir=str(library),
        farm_cc=str(fake),
    )  # fmt: skip
    ran = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, timeout=60, check=False,
        env=dict(os.environ, FAKE_UNLINKABLE=unlinkable),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout
    lines = ran.stdout.splitlines()
    assert f"farm: detected FARM_ABI={choice}" in lines
    assert f"compiled with: -D_GNU_SOURCE -DFARM_ABI=FARM_ABI_{choice}" in lines
    # The log shows the command with the choice in it, not the variable holding it.
    (logged,) = [line for line in lines if line.startswith("farm: $ farm-cc ")]
    assert f" -DFARM_ABI=FARM_ABI_{choice} -o main main.c $farm_common/farm_case.c" in logged
    assert not (tmp_path / "work" / "fam" / "demo" / "farm-probe").exists()


def test_script_flags_unique_objects_by_linker_or_marker(tmp_path: Path) -> None:
    case = script_case(
        tmp_path,
        MINIMAL.replace("build:\n", "build:\n  - shared: libu.so\n    sources: [main.c]\n"
                        "    unique: true\n"),
    )  # fmt: skip
    script = case.shell_script(workdir="/w", timeout_factor=1.0)
    lines = script.splitlines()
    (link,) = [line for line in lines if "-o libu.so" in line and line.startswith('"$farm_cc"')]
    assert " $farm_z_unique " in link  # unquoted: vanishes when the marker is forced
    assert lines[lines.index(link) + 1] == "farm_mark_unique libu.so"
    assert "    linker) farm_z_unique=-Wl,-z,unique ;;" in lines
    assert "    tool) farm_z_unique= ;;" in lines
    assert "farm_mark_unique" not in script_case(tmp_path / "p", MINIMAL).shell_script(
        workdir="/w", timeout_factor=1.0
    )


#: What bookworm's ld printed linking rseq/static-executable against glibc 2.30's libc.a.
_RUNTIME_NEEDS_NEWER_GLIBC = """\
/usr/bin/ld: /usr/lib/gcc/x86_64-linux-gnu/12/libgcc_eh.a(unwind-dw2-fde-dip.o): in function \
`_Unwind_Find_FDE':
(.text+0x1902): undefined reference to `_dl_find_object'
collect2: error: ld returned 1 exit status
"""
#: rseq/static-dlopen-dormant-libc on bookworm/i686: a warning from the case's own object
#: first, then the runtime's undefined reference.
_WARNING_THEN_RUNTIME_NEEDS = """\
/usr/bin/ld: /tmp/cclKTRIr.o: in function `main':
/farm/scratch/x/main.c:53: warning: Using 'dlopen' in statically linked applications requires \
at runtime the shared libraries from the glibc version used for linking
/usr/bin/ld: /usr/lib/gcc/x86_64-linux-gnu/12/32/libgcc_eh.a(unwind-dw2-fde-dip.o): in \
function `_Unwind_Find_FDE':
(.text+0x1998): undefined reference to `_dl_find_object'
collect2: error: ld returned 1 exit status
"""
_CASE_NEEDS_MISSING_SYMBOL = """\
/usr/bin/ld: /tmp/ccAbCdEf.o: in function `main':
main.c:(.text+0x11): undefined reference to `no_such_function'
/usr/bin/ld: /usr/lib/gcc/x86_64-linux-gnu/12/libgcc_eh.a(unwind-dw2-fde-dip.o): in function \
`_Unwind_Find_FDE':
(.text+0x1902): undefined reference to `_dl_find_object'
collect2: error: ld returned 1 exit status
"""


def _static_link(
    tmp_path: Path, linker_output: str, status: int
) -> subprocess.CompletedProcess[str]:
    """Run the script's static-link step with a stand-in compiler that prints LINKER_OUTPUT
    and exits STATUS: the sh the case containers run, on the host's sh."""
    cc = tmp_path / "cc"
    (tmp_path / "out.txt").write_text(linker_output)
    cc.write_text(f"#!/bin/sh\ncat {tmp_path / 'out.txt'}\nexit {status}\n")
    cc.chmod(0o755)
    prelude = script_module._STATIC_PRELUDE.format(unsupported=script_module.EXIT_UNSUPPORTED)
    body = (
        f"farm_cc={cc}\nfarm_work={tmp_path}\n"
        'farm_build_failed() { echo "farm: build failed"; exit 125; }\n'
        f"{prelude}farm_static_link -static -o main main.c\necho linked\n"
    )
    return subprocess.run(["sh", "-c", body], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    "linker_output",
    [_RUNTIME_NEEDS_NEWER_GLIBC, _WARNING_THEN_RUNTIME_NEEDS],
    ids=["x86_64", "i686"],
)
def test_static_link_that_the_compilers_runtime_cannot_meet_is_unsupported(
    tmp_path: Path, linker_output: str
) -> None:
    ran = _static_link(tmp_path, linker_output, 1)
    assert ran.returncode == script_module.EXIT_UNSUPPORTED, ran.stdout
    assert "the compiler's static runtime needs _dl_find_object, which this glibc's" in ran.stdout
    assert "undefined reference to `_dl_find_object'" in ran.stdout  # the linker's words kept


def test_static_link_failing_in_the_cases_own_code_is_a_build_failure(tmp_path: Path) -> None:
    ran = _static_link(tmp_path, _CASE_NEEDS_MISSING_SYMBOL, 1)
    assert ran.returncode == script_module.EXIT_BUILD_FAILED, ran.stdout
    assert "farm: build failed" in ran.stdout


def test_static_link_that_fails_otherwise_is_a_build_failure(tmp_path: Path) -> None:
    ran = _static_link(tmp_path, "/usr/bin/ld: cannot find -lc\n", 1)
    assert ran.returncode == script_module.EXIT_BUILD_FAILED, ran.stdout


def test_static_link_that_works_goes_on(tmp_path: Path) -> None:
    ran = _static_link(tmp_path, "", 0)
    assert ran.returncode == 0 and ran.stdout.endswith("linked\n"), ran.stdout
