"""The real CLI (``python -m farm``) on bad arguments: a message that says what to do, exit
status 2, never a traceback, and nothing fetched, built or started.

One class of bad input per test: numbers that are no numbers (or negative, NaN, infinite),
empty strings, paths that do not exist, a directory or a special file where a file belongs,
a file where a directory belongs, and a reader that goes away (``farm matrix | head -1``).
``post-checks`` parses and checks its own arguments, in farm/commands/post_checks_cmd.py.

Each child runs with its own cache and a Docker socket that does not exist, so an argument
that slipped through would end in an engine error (exit 2 but another message, which the
checks below tell apart) instead of a glibc build on the machine's engine.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from farm import cli
from farm.cli import DEFAULT_SCENARIO, EXIT_BROKEN_PIPE
from farm.errors import UsageError
from farm.run import stages
from farm.run.stages import MAX_RERUNS, MAX_WORKERS

REPO = Path(__file__).resolve().parents[2]
SCENARIO = str(REPO / DEFAULT_SCENARIO)
TIMEOUT = 60


def farm(
    *args: str, cwd: Path, stdout: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FARM_", "DOCKER_"))}
    env |= {
        "FARM_CACHE": str(cwd / "cache"),
        "DOCKER_HOST": f"unix://{cwd}/no-docker.sock",
        "PYTHONPATH": str(REPO),
    }
    return subprocess.run(
        [sys.executable, "-m", "farm", *args],
        cwd=cwd,
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working directory with a file, a directory and a FIFO in it."""
    (tmp_path / "afile").write_text("not a directory\n")
    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "afifo")
    return tmp_path


def assert_refused(completed: subprocess.CompletedProcess[str], *says: str) -> None:
    """Exit 2 with a one-error message containing ``says``, and no traceback."""
    assert "Traceback" not in completed.stderr, completed.stderr
    assert completed.returncode == 2, completed.stderr
    assert "error:" in completed.stderr, completed.stderr
    for text in says:
        assert text in completed.stderr, completed.stderr
    assert "engine" not in completed.stderr.lower(), "the argument got past the parser"


NOT_NUMBERS = ["abc", "", "-3", "0", "nan", "inf", "-inf", "1.5", "1e3", " 2", "٣", "100000"]


@pytest.mark.parametrize("command", ["test", "run"])
@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_workers_must_be_auto_or_a_positive_count(work: Path, command: str, value: str) -> None:
    completed = farm(command, SCENARIO, f"--workers={value}", cwd=work)
    assert_refused(completed, "-n/--workers", "expected auto, logical or a whole number")
    assert not (work / "farm-runs").exists()


@pytest.mark.parametrize("command", ["test", "run"])
@pytest.mark.parametrize("value", ["abc", "", "-1", "nan", "inf", "1.5", str(MAX_RERUNS + 1)])
def test_reruns_must_be_a_small_whole_number(work: Path, command: str, value: str) -> None:
    completed = farm(command, SCENARIO, f"--reruns={value}", cwd=work)
    assert_refused(completed, "--reruns", "expected a whole number from 0")


@pytest.mark.parametrize(
    "argv",
    [
        ["matrix", ""],
        ["render", "", "-o", "out"],
        ["render", SCENARIO, "-o", ""],
        ["build", SCENARIO, "--run-dir", ""],
        ["test", SCENARIO, "--run-dir", ""],
        ["run", SCENARIO, "--run-dir", " "],
        ["gate", "", "adir"],
        ["gate", SCENARIO, ""],
        ["gate", SCENARIO, "adir", "--report-dir", ""],
    ],
)
def test_an_empty_path_is_refused_not_taken_for_the_current_directory(
    work: Path, argv: list[str]
) -> None:
    assert_refused(farm(*argv, cwd=work), "an empty path")
    assert sorted(p.name for p in work.iterdir()) == ["adir", "afifo", "afile"]


def test_an_empty_keyword_expression_is_refused(work: Path) -> None:
    assert_refused(farm("test", SCENARIO, "-k", "", cwd=work), "leave -k out")


@pytest.mark.parametrize(
    "argv",
    [
        ["test", SCENARIO, "-k", "cases\nrseq"],
        ["test", SCENARIO, "-k", "\x1b[2J"],
        ["gc", "--dry-run", "--label", "org.example\n=1"],
    ],
)
def test_a_control_character_is_refused(work: Path, argv: list[str]) -> None:
    assert_refused(farm(*argv, cwd=work), "holds a control character; give")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["matrix", "missing.yaml"], "missing.yaml: cannot read"),
        (["render", "missing.yaml", "-o", "out"], "missing.yaml: cannot read"),
        (["build", "missing.yaml"], "missing.yaml: cannot read"),
        (["gate", SCENARIO, "missing-run"], "missing-run does not exist; give a run directory"),
    ],
)
def test_a_path_that_does_not_exist(work: Path, argv: list[str], says: str) -> None:
    assert_refused(farm(*argv, cwd=work), says)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["matrix", "adir"], "adir is a directory; give a scenario YAML file"),
        (["render", "adir", "-o", "out"], "adir is a directory"),
        (["test", "adir"], "adir is a directory"),
        (["gate", "adir", "adir"], "adir is a directory"),
        (["matrix", "afifo"], "afifo: not a regular file"),
        (["matrix", "/dev/null"], "not a regular file"),
    ],
)
def test_a_directory_or_special_file_where_a_file_belongs(
    work: Path, argv: list[str], says: str
) -> None:
    assert_refused(farm(*argv, cwd=work), says)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["render", SCENARIO, "-o", "afile"], "afile is a file, not a directory"),
        (["render", SCENARIO, "-o", "afile/sub"], "afile is a file, not a directory"),
        (["build", SCENARIO, "--run-dir", "afile"], "afile is a file, not a directory"),
        (["test", SCENARIO, "--run-dir", "afile"], "afile is a file, not a directory"),
        (["run", SCENARIO, "--run-dir", "afile/sub"], "afile is a file, not a directory"),
        (["gate", SCENARIO, "afile"], "afile is a file; give a run directory"),
        (["gate", SCENARIO, "adir", "--report-dir", "afile"], "afile is a file, not a directory"),
    ],
)
def test_a_file_where_a_directory_belongs(work: Path, argv: list[str], says: str) -> None:
    assert_refused(farm(*argv, cwd=work), says)
    assert (work / "afile").read_text() == "not a directory\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes regardless of mode bits")
def test_unreadable_and_unwritable_paths(work: Path) -> None:
    (work / "secret.yaml").write_text("name: x\n")
    (work / "secret.yaml").chmod(0)
    (work / "locked").mkdir(mode=0o500)
    assert_refused(farm("matrix", "secret.yaml", cwd=work), "secret.yaml: cannot read")
    assert_refused(farm("render", SCENARIO, "-o", "locked", cwd=work), "locked is not writable")


# --- a reader that goes away ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "github"])
def test_a_closed_stdout_ends_quietly_with_the_sigpipe_status(work: Path, fmt: str) -> None:
    """The reader is gone before the farm writes: every write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        completed = farm("matrix", SCENARIO, "--format", fmt, cwd=work, stdout=write_end)
    finally:
        os.close(write_end)
    assert completed.returncode == EXIT_BROKEN_PIPE, completed.stderr
    assert completed.stderr == ""


def test_head_reading_one_line_of_a_long_output(work: Path) -> None:
    """``farm matrix ... | head -1`` with more output than a pipe holds (64 KiB on Linux)."""
    # The default scenario with 500 more series (each Debian's backports again): 1000 cells.
    line = "    debian: git-updates.diff\n"
    copies = "".join(f"  - name: copy-{n:03d}\n{line}" for n in range(500))
    many = work / "many.yaml"
    many.write_text((REPO / DEFAULT_SCENARIO).read_text().replace(line, line + copies, 1))
    process = subprocess.Popen(
        [sys.executable, "-m", "farm", "matrix", str(many)],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    status = process.wait(timeout=TIMEOUT)
    assert first.startswith(b"cell "), stderr
    assert stderr == ""
    assert status == EXIT_BROKEN_PIPE


# --- the parser on any text -----------------------------------------------------------------


def parse(*argv: str) -> object:
    """The parsed namespace, or None where argparse refused (exit 2, message on stderr)."""
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            return cli._parser().parse_args(list(argv))
        except SystemExit as stop:
            assert stop.code == 2
            return None


@given(st.text(max_size=12))
def test_workers_accepts_only_auto_logical_or_a_count_in_range(text: str) -> None:
    parsed = parse("test", "-n", text)
    if parsed is not None:
        workers = parsed.workers  # type: ignore[attr-defined]
        assert workers in ("auto", "logical") or 1 <= workers <= MAX_WORKERS


@given(st.one_of(st.text(max_size=5), st.sampled_from(["auto", "logical", "0", "7", "257"])))
def test_the_cli_and_run_options_accept_the_same_workers_and_reruns(text: str) -> None:
    """One rule (stages.RunOptions'): what the parser takes a run takes, and the reverse.
    They disagreed on ``-n logical``, which the parser took and the run refused after the
    engine connection and an empty run directory."""
    rules = (
        ("-n", "workers", stages.workers_option),
        ("--reruns", "reruns", stages.reruns_option),
    )
    for option, dest, rule in rules:
        parsed = parse("test", option, text)
        try:
            expected: object = rule(text)
        except UsageError:
            expected = None
        assert (None if parsed is None else vars(parsed)[dest]) == expected, (option, text)


@given(st.text(max_size=12))
def test_reruns_accepts_only_a_count_in_range(text: str) -> None:
    parsed = parse("run", "--reruns", text)
    if parsed is not None:
        assert 0 <= parsed.reruns <= MAX_RERUNS  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "workers"), [("auto", "auto"), ("logical", "logical"), ("1", 1), ("007", 7)]
)
def test_workers_in_range_pass_through(text: str, workers: str | int) -> None:
    parsed = parse("test", "-n", text)
    assert parsed is not None and parsed.workers == workers  # type: ignore[attr-defined]


def test_a_file_in_the_way_inside_the_output_directory(work: Path) -> None:
    """Found only while writing (``-o out`` exists, ``out/toolchain`` is a file): the path and
    the system's reason, exit 2. A local glibc tree keeps the render offline."""
    (work / "glibc" / "elf").mkdir(parents=True)
    (work / "glibc" / "elf" / "dl-open.c").write_text("int x;\n")
    (work / "local.yaml").write_text(
        'name: local\nglibc:\n  version: "2.36"\n  source:\n    path: glibc\n'
        "arches: [x86_64]\ntests:\n  glibc: [elf/tst-dlmopen1]\n"
    )
    (work / "out").mkdir()
    (work / "out" / "toolchain").write_text("in the way\n")
    completed = farm("render", "local.yaml", "-o", "out", cwd=work)
    assert "Traceback" not in completed.stderr, completed.stderr
    assert completed.returncode == 2
    assert "farm: error: out/toolchain:" in completed.stderr
    assert (work / "out" / "toolchain").read_text() == "in the way\n"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["run", SCENARIO, "--no-gate", "--history", "h.jsonl"],
            "--history h.jsonl needs the gate",
        ),
        (["run", SCENARIO, "--history", "afile"], "afile:1: not a glibc-farm flaky history"),
        (["run", SCENARIO, "--history", "adir"], "adir is a directory; give a file for the flaky"),
        (["run", SCENARIO, "--history", "h", "--no-history"], "not allowed with argument"),
        (["gate", SCENARIO, "rundir", "--history", "afile"], "not a glibc-farm flaky history"),
        (["gate", SCENARIO, "rundir", "--history", ""], "an empty path"),
    ],
)
def test_a_bad_history_option_is_refused_and_the_file_left_alone(
    work: Path, argv: list[str], says: str
) -> None:
    (work / "rundir" / "cells").mkdir(parents=True)
    assert_refused(farm(*argv, cwd=work), says)
    assert (work / "afile").read_text() == "not a directory\n"
    assert not (work / "h.jsonl").exists()
    assert not (work / "farm-runs").exists()


def test_a_shard_judged_alone_is_refused_by_run_options_before_the_engine(work: Path) -> None:
    completed = farm("run", SCENARIO, "--shard", "1/2", cwd=work)
    assert_refused(completed, "--shard 1/2 needs --no-gate")
    assert completed.stderr.count("needs --no-gate") == 1
    assert not (work / "farm-runs").exists()
