"""``farm post-checks`` end to end against a patchwork on loopback: from a series id (or a
Message-ID) to verified checks with a link, pending at the start, git-pw's settings, and an
exit status that tells bad input (2) from a failed post (3)."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from farm import cases, results
from farm.cli import main
from farm.inputs.patchwork_api import ApiRoot, PatchworkClient, Token
from farm.judging import gate
from farm.plan.scenario import load_scenario
from farm.report.patchwork import PatchworkCheck, check_context
from farm.results import Outcome
from farm.rundir import RunDir
from tests.unit.patchwork_fake import FakePatchwork, serve, without_git_pw_settings

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "scenarios" / "debian-2.36-backports.yaml"
RUN_URL = "https://github.com/glibc-farm/farm/actions/runs/77"
CHECK = PatchworkCheck("fix", "s", "x86_64", "fail", "glibc-farm-s-x86_64", "REJECT: x")


@pytest.fixture()
def fake() -> Iterator[FakePatchwork]:
    with serve() as server:
        server.add_series(40, "elf: fix dlmopen", [401, 402, 403])
        yield server


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    without_git_pw_settings(monkeypatch, tmp_path)


def checks_file(tmp_path: Path, *checks: PatchworkCheck) -> str:
    path = tmp_path / "patchwork-checks.json"
    path.write_text(json.dumps({"schema": 1, "checks": [dataclasses.asdict(c) for c in checks]}))
    return str(path)


def in_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "glibc-farm/farm")
    monkeypatch.setenv("GITHUB_RUN_ID", "77")


def test_series_id_posts_on_every_patch_with_the_runs_url(
    fake: FakePatchwork,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    in_github_actions(monkeypatch)
    monkeypatch.setenv("FARM_PATCHWORK_TOKEN", "s3cret\n")  # as $(cat token-file) leaves it
    argv = ["post-checks", checks_file(tmp_path, CHECK), "--api-url", fake.url, "--series", "40"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "fix: patchwork series 40 'elf: fix dlmopen', patches 401, 402, 403" in out
    assert "posted 3 check(s) on 3 patch(es)" in out and "s3cret" not in out
    for patch_id in (401, 402, 403):
        (stored,) = fake.checks[patch_id]
        assert (stored["state"], stored["target_url"]) == ("fail", RUN_URL)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--timeout", "-1"], "--timeout"),
        (["--timeout", "nan"], "--timeout"),
        (["--timeout", "0"], "--timeout"),
        (["--api-url", "http://[::1/api"], "malformed"),
        (["--api-url", "ftp://host/api"], "http(s)"),
        (["--api-url", "https://host/"], "no /api part"),
        (["--series", "abc"], "series id, a number"),
        (["--series", "other=4"], "say which series"),
        (["--patches", "fix=1,x"], "expected SERIES=ID,ID"),
        (["--patches", "fix=0"], "expected SERIES=ID,ID"),
        (["--patches", "nope=1"], "series nope: not in the checks"),
        (["--series", "40", "--patches", "fix=1"], "given twice"),
        (["--target-url", "javascript:alert(1)"], "expected an http(s) URL"),
        (["--target-url", "https://x/" + "a" * 200], "at most 200 characters"),
        (["--token-file", "/nonexistent/token"], "--token-file"),
    ],
)
def test_bad_input_is_exit_2_with_a_message_and_nothing_posted(
    fake: FakePatchwork,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("FARM_PATCHWORK_TOKEN", "s3cret")
    argv = ["post-checks", checks_file(tmp_path, CHECK), "--api-url", fake.url]
    if not any(option in extra for option in ("--series", "--patches")):
        argv += ["--series", "40"]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert fake.checks == {}


def test_without_a_token_or_a_target_it_says_where_they_come_from(
    fake: FakePatchwork,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["post-checks", checks_file(tmp_path, CHECK), "--api-url", fake.url, "--series", "40"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "FARM_PATCHWORK_TOKEN" in err and "pw.token" in err
    monkeypatch.setenv("FARM_PATCHWORK_TOKEN", "s3cret")
    assert main(argv) == 0
    assert "no target URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("fault", "token", "status", "message"),
    [
        (None, "wrong", 2, "Invalid token"),
        ("redirect-301", "s3cret", 3, "never follows a redirect"),
        ("close", "s3cret", 3, "closed the connection"),
        ("500", "s3cret", 3, "HTTP 500"),
    ],
)
def test_a_failed_post_is_exit_3_and_never_says_posted(
    fake: FakePatchwork,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fault: str | None,
    token: str,
    status: int,
    message: str,
) -> None:
    fake.fault = fault
    monkeypatch.setenv("FARM_PATCHWORK_TOKEN", token)
    argv = ["post-checks", checks_file(tmp_path, CHECK), "--api-url", fake.url, "--series", "40"]
    assert main(argv) == status
    captured = capsys.readouterr()
    assert message in captured.err and "posted" not in captured.out
    assert token not in captured.err + captured.out


def test_git_pw_settings_and_a_token_file_are_the_defaults(
    fake: FakePatchwork, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, timeout=30)

    git("init", "-q")
    git("config", "pw.server", fake.url + "/")
    git("config", "pw.project", "glibc")
    git("config", "pw.token", "s3cret")
    fake.covers["cover.40@example.org"] = 40
    argv = ["post-checks", checks_file(tmp_path, CHECK), "--msgid", "<cover.40@example.org>"]
    assert main(argv) == 0, capsys.readouterr().err
    assert ("GET", "/api/1.3/covers/?msgid=cover.40%40example.org&project=glibc") in fake.requests
    assert sorted(fake.checks) == [401, 402, 403]

    git("config", "pw.token", "wrong")
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    assert main([*argv, "--token-file", str(token_file)]) == 0


def write_cell(run_dir: Path, arch: str, variant: str, outcome: Outcome) -> None:
    """One cell's run directory, as `farm run --only CELL --no-gate` leaves it."""
    scenario = load_scenario(DEFAULT)
    status = gate.CellStatus(scenario.name, arch, variant, gate.CellState.BUILT)
    directory = RunDir(run_dir)
    directory.write_cell(status)
    for expectation in scenario.expectations:
        if expectation.variant not in ("*", variant) or expectation.expected == "absent":
            continue
        label = "PASS" if expectation.expected == "present" else expectation.expected
        # A real test the glob names: the gate judges only tests the scenario selects.
        test = next(
            f"farm/{case.id}"
            for case in cases.load_cases()
            if fnmatch.fnmatchcase(f"farm/{case.id}", expectation.test)
        ) if "*" in expectation.test else expectation.test  # fmt: skip
        record = results.TestResult(
            scenario.name, arch, variant, test, Outcome(label.partition("(")[0]),
            signal=label.partition("(")[2].rstrip(")") or None,
        )  # fmt: skip
        directory.append_result(record, worker="gw0")
    for attempt in (1, 2) if outcome is Outcome.FAIL else (1,):  # a regression reproduces
        directory.append_result(
            results.TestResult(
                scenario.name,
                arch,
                variant,
                "glibc/elf/tst-dlmopen-probe",
                outcome,
                attempt=attempt,
            ),
            worker="gw0",
        )


def test_a_gates_checks_file_is_posted_and_read_back_as_the_gate_wrote_it(
    fake: FakePatchwork,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Run directories for the default scenario (git-updates breaks a test on i686 only),
    # judged by the real `farm gate`, whose patchwork-checks.json is then posted.
    dirs = []
    for arch in ("x86_64", "i686"):
        for variant in ("baseline", "git-updates"):
            bad = arch == "i686" and variant == "git-updates"
            dirs.append(tmp_path / f"{arch}-{variant}")
            write_cell(dirs[-1], arch, variant, Outcome.FAIL if bad else Outcome.PASS)
    reports = tmp_path / "reports"
    assert main(["gate", str(DEFAULT), *map(str, dirs), "--report-dir", str(reports)]) == 1
    capsys.readouterr()
    written = json.loads((reports / "patchwork-checks.json").read_text())["checks"]

    in_github_actions(monkeypatch)
    monkeypatch.setenv("FARM_PATCHWORK_TOKEN", "s3cret")
    argv = ["post-checks", str(reports / "patchwork-checks.json"), "--api-url", fake.url]
    assert main([*argv, "--series", "git-updates=40"]) == 0

    client = PatchworkClient(ApiRoot.parse(fake.url), Token("s3cret"), 5)
    for patch_id in (401, 402, 403):
        stored = sorted(
            (c["context"], c["state"], c["description"], c["target_url"])
            for c in client.checks(patch_id)
        )
        assert stored == sorted(
            (c["context"], c["state"], c["description"], RUN_URL) for c in written
        )
    states = {c["context"]: c["state"] for c in written}
    assert states == {
        check_context("debian-2.36-backports", "x86_64"): "success",
        check_context("debian-2.36-backports", "i686"): "fail",
    }
    assert fake.shown_state(401) == "fail"


def test_pending_at_the_start_is_replaced_by_the_verdict_in_the_same_context(
    fake: FakePatchwork,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FARM_PATCHWORK_TOKEN", "s3cret")
    argv = ["post-checks", "--pending", str(DEFAULT), "--api-url", fake.url]
    assert main([*argv, "--series", "git-updates=40", "--target-url", RUN_URL]) == 0
    assert "posted 6 check(s) on 3 patch(es)" in capsys.readouterr().out
    pending = fake.checks[402]
    assert {c["state"] for c in pending} == {"pending"}
    assert sorted(c["context"] for c in pending) == sorted(
        check_context("debian-2.36-backports", arch) for arch in ("x86_64", "i686")
    )
    assert fake.shown_state(402) == "pending"

    verdicts = [
        PatchworkCheck("git-updates", "debian-2.36-backports", arch, "success",
                       check_context("debian-2.36-backports", arch), "ACCEPT")
        for arch in ("x86_64", "i686")
    ]  # fmt: skip
    argv = ["post-checks", checks_file(tmp_path, *verdicts), "--api-url", fake.url]
    assert main([*argv, "--series", "40", "--target-url", RUN_URL]) == 0
    assert fake.shown_state(402) == "success"


def test_pending_and_a_checks_file_together_or_neither_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["post-checks", checks_file(tmp_path, CHECK), "--pending", str(DEFAULT)]
    assert main([*argv, "--series", "1"]) == 2
    assert "one of: a CHECKS_JSON file the gate wrote, or --pending" in capsys.readouterr().err
    assert main(["post-checks", "--series", "1"]) == 2
    assert "one of: a CHECKS_JSON file" in capsys.readouterr().err
