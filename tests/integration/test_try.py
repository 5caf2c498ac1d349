"""`farm try` end to end on real glibc: a series given as an mbox file, on the fixture
scenario as template, gets `farm run`'s verdict, bisection and reports, and the scenario it
made repeats the run; a series by patchwork id and by Message-ID comes through the loopback
patchwork and public-inbox stand-ins (the unit tests' own, which answer as the real ones); a
local git range and a remote branch (``file://``) come from a tiny repository made here.

The fixture scenario's baseline images are the default scenario's, so after test_build.py
only the series' variant is new (an incremental build). x86_64 only: what is tested here is
the composition, which is the same on i686 (test_run.py gates both arches).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from farm.inputs.sources import Cache, Fetcher
from farm.plan.scenario import MboxPatches, load_scenario
from tests.integration.conftest import FIXTURES, REPO, farm
from tests.unit import inbox_fake, patchwork_fake
from tests.unit.test_try_series import commit, git

pytestmark = pytest.mark.integration

TEMPLATE = FIXTURES / "fixture-series.yaml"
MBOX = REPO / "tests" / "fixtures" / "series" / "broken-isolation.mbox"
SERIES = "file-broken-isolation"  # the made series' name, from the file's name


@pytest.fixture(scope="module")
def try_run(run_root: Path) -> tuple[int, str, Path]:
    directory = run_root / "try-mbox"
    result = farm("try", MBOX, "--scenario", TEMPLATE, "--run-dir", directory, "--only",
                  "*x86_64*")  # fmt: skip
    return result.returncode, result.stdout, directory


def _report(directory: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((directory / "report.json").read_text())
    return report


def test_try_gates_the_mbox_series_with_run_s_verdict_and_bisection(
    try_run: tuple[int, str, Path],
) -> None:
    status, stdout, directory = try_run
    assert status == 1, stdout[-5000:]  # the series breaks dlmopen isolation
    report = _report(directory)
    (series,) = report["series"]
    assert series["series"] == SERIES
    (arch,) = series["arches"]
    assert (arch["arch"], arch["verdict"]) == ("x86_64", "REJECT")
    regressed = {t["test"] for t in arch["transitions"] if t["kind"] == "REGRESSION"}
    assert "farm/dlmopen/newlm-isolation" in regressed, arch
    assert arch["first_bad_patch"] == {
        "number": 2,
        "subject": "elf: Reuse the base namespace for LM_ID_NEWLM in dlmopen",
    }
    for name in ("report.md", "report.html", "junit.xml", "patchwork-checks.json"):
        assert (directory / name).is_file(), name
    # The whole of elf/ ran, as the series touches only elf/ (the template named two tests).
    tests = {t["test"] for t in report["tests"] if t["variant"] == "baseline"}
    assert len({t for t in tests if t.startswith("glibc/elf/")}) > 50, sorted(tests)[:20]


def test_try_says_what_it_chose_and_why_and_how_to_repeat(
    try_run: tuple[int, str, Path],
) -> None:
    _, stdout, directory = try_run
    made = directory / "try-scenario.yaml"
    assert f"series:      the mails of {MBOX}" in stdout
    assert "base:        the template's glibc, debian:glibc=2.36-9+deb12u14" in stdout
    assert "glibc tests: elf/\n  elf/dl-open.c -> elf/ (in elf/)" in stdout
    assert stdout.count(f"repeat with: farm run {made}") == 2  # before the run and after
    scenario = load_scenario(made)
    assert [s.name for s in scenario.series] == [SERIES]
    assert scenario.tests.glibc == ("elf/",)
    source = scenario.series[0].source
    assert isinstance(source, MboxPatches)
    template = load_scenario(TEMPLATE)
    fetcher = Fetcher(Cache(directory / "cache-check"), scenario)
    assert [p.content for p in fetcher.patches(source, what="made")] == [
        p.content
        for p in Fetcher(Cache(directory / "cache-check"), template).patches(
            template.series_named("broken-isolation").source, what="template"
        )
    ]


def test_the_made_scenario_repeats_the_run_on_the_same_images(
    try_run: tuple[int, str, Path], run_root: Path
) -> None:
    _, _, directory = try_run
    again = run_root / "try-repeat"
    result = farm("build", directory / "try-scenario.yaml", "--run-dir", again, "--only",
                  "*x86_64*")  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    def images(run_dir: Path) -> dict[str, str]:
        cells = [json.loads(p.read_text()) for p in sorted((run_dir / "cells").glob("*.json"))]
        return {cell["variant"]: cell["image_tag"] for cell in cells}

    first = images(directory)
    assert set(first) == {"baseline", SERIES}
    assert images(again) == first


def _note_mail(version: int, message_id: str) -> bytes:
    """A one-patch series that adds a file under manual/ (which has no tests and is not
    built): it applies to any glibc, adds no glibc subdirectory to the template's tests,
    and must be accepted."""
    tag = "PATCH" if version == 1 else f"PATCH v{version}"
    return (
        "From: Dev <dev@example.org>\n"
        f"Subject: [{tag}] manual: a note for farm try\n"
        f"Message-ID: <{message_id}>\n"
        "Date: Tue, 1 Dec 2026 00:00:00 +0000\n"
        "\n"
        f"Revision {version} of a note.\n"
        "---\n"
        "diff --git a/manual/farm-try.texi b/manual/farm-try.texi\n"
        "new file mode 100644\n"
        "--- /dev/null\n"
        "+++ b/manual/farm-try.texi\n"
        "@@ -0,0 +1 @@\n"
        f"+@c farm try, revision {version}\n"
    ).encode()


def _accepted_on_the_template_s_tests(
    status: int, stdout: str, directory: Path, series: str
) -> None:
    assert status == 0, stdout[-5000:]
    report = _report(directory)
    assert [(s["series"], [a["verdict"] for a in s["arches"]]) for s in report["series"]] == [
        (series, ["ACCEPT"])
    ]
    assert (
        "glibc tests: elf/tst-dlmopen1 elf/tst-dlmopen3\n  manual/farm-try.texi -> nothing"
        in stdout
    )
    ran = {t["test"] for t in report["tests"]}
    glibc = {t for t in ran if not t.startswith("farm/dlmopen/")}
    assert glibc == {"glibc/elf/tst-dlmopen1", "glibc/elf/tst-dlmopen3"}, sorted(ran)


def test_try_a_patchwork_series_by_id(run_root: Path) -> None:
    directory = run_root / "try-patchwork"
    with patchwork_fake.serve() as patchwork:
        patchwork.add_series(4711, "manual: a note for farm try", [90001])
        patchwork.mboxes[4711] = _note_mail(1, "note-1@example.org")
        result = farm("try", "4711", "--api-url", patchwork.url, "--scenario", TEMPLATE,
                      "--run-dir", directory, "--only", "*x86_64*")  # fmt: skip
    assert "series:      patchwork series 4711 'manual: a note for farm try'" in result.stdout
    _accepted_on_the_template_s_tests(result.returncode, result.stdout, directory, "patchwork-4711")


def test_try_a_message_id_takes_the_newest_revision(run_root: Path) -> None:
    directory = run_root / "try-thread"
    with inbox_fake.serve() as inbox:
        inbox.add_thread([_note_mail(1, "note-1@example.org"), _note_mail(2, "note-2@example.org")])
        result = farm("try", "<note-1@example.org>", "--inbox", inbox.url, "--scenario",
                      TEMPLATE, "--run-dir", directory, "--only", "*x86_64*")  # fmt: skip
    assert "v2, the newest revision in the thread (also there: v1)" in result.stdout
    _accepted_on_the_template_s_tests(result.returncode, result.stdout, directory, "thread-v2")
    assert b"revision 2" in (directory / "try-series.mbox").read_bytes()


def _note_repository(tmp_path: Path) -> tuple[Path, str, str]:
    """A tiny git repository: an initial commit on main, then on branch ``note`` (checked
    out) a commit adding what `_note_mail`'s series adds, manual/farm-try.texi: it applies
    to the template's glibc 2.36 and changes no test. Its (base, tip) commits."""
    repo = tmp_path / "notes"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = commit(repo, {"README": "A repository for farm try's tests.\n"}, "Start")
    git(repo, "checkout", "-q", "-b", "note")
    tip = commit(
        repo, {"manual/farm-try.texi": "@c farm try, revision 1\n"}, "manual: a note for farm try"
    )
    return repo, base, tip


def _repeats_the_same_series(stdout: str, directory: Path, series: str) -> None:
    """The reproducer farm try prints is `farm run` on the scenario it made, whose one series
    is the one judged, holding the note the repository's commit adds; report.md says what was
    tried (the Tried section)."""
    made = directory / "try-scenario.yaml"
    assert stdout.count(f"repeat with: farm run {made}") == 2, stdout[-3000:]
    scenario = load_scenario(made)
    assert [s.name for s in scenario.series] == [series]
    source = scenario.series[0].source
    assert isinstance(source, MboxPatches)
    (patch,) = Fetcher(Cache(directory / "cache-check"), scenario).patches(source, what="made")
    assert patch.subject == "manual: a note for farm try"
    assert b"+@c farm try, revision 1" in patch.content
    report = (directory / "report.md").read_text()
    assert "## Tried" in report and f"- series: `{series}`" in report


def test_try_a_local_git_range(run_root: Path, tmp_path: Path) -> None:
    repo, base, tip = _note_repository(tmp_path)
    directory = run_root / "try-range"
    result = farm("try", repo, "HEAD~1..HEAD", "--scenario", TEMPLATE, "--run-dir", directory,
                  "--only", "*x86_64*")  # fmt: skip
    assert f"series:      {repo} HEAD~1..HEAD: 1 commit on {base[:12]}\n" in result.stdout
    series = f"range-{tip[:12]}"
    _accepted_on_the_template_s_tests(result.returncode, result.stdout, directory, series)
    _repeats_the_same_series(result.stdout, directory, series)


def test_try_a_remote_branch(run_root: Path, tmp_path: Path) -> None:
    repo, base, _ = _note_repository(tmp_path)
    git(repo, "checkout", "-q", "main")  # the remote's HEAD, which the branch forks from
    directory = run_root / "try-branch"
    result = farm("try", f"file://{repo}", "note", "--scenario", TEMPLATE, "--run-dir",
                  directory, "--only", "*x86_64*")  # fmt: skip
    assert (
        f"series:      file://{repo} note: 1 commit on {base[:12]} (forked from the remote's "
        "HEAD)\n" in result.stdout
    )
    _accepted_on_the_template_s_tests(result.returncode, result.stdout, directory, "branch")
    _repeats_the_same_series(result.stdout, directory, "branch")
