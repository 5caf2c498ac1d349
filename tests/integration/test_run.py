"""`farm run` end to end on real glibc: the default scenario, the fixture series, a split run.

The fixture scenario reuses the default scenario's baseline images, so after
test_build.py only the series variants (incremental builds of a few seconds) are new.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import FIXTURES, farm, final_labels

pytestmark = pytest.mark.integration

FIXTURE = FIXTURES / "fixture-series.yaml"


def verdicts(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (series["series"], arch["arch"]): arch["verdict"]
        for series in report["series"]
        for arch in series["arches"]
    }


@pytest.fixture(scope="module")
def default_run(run_root: Path) -> tuple[int, str, dict[str, Any]]:
    # No scenario argument: `farm run` takes the default offline scenario.
    result = farm("run", "--run-dir", run_root / "default-run")
    report = json.loads((run_root / "default-run" / "report.json").read_text())
    return result.returncode, result.stdout, report


def test_default_run_ends_with_a_verdict_and_the_report_paths(
    default_run: tuple[int, str, dict[str, Any]], run_root: Path
) -> None:
    status, stdout, report = default_run
    assert status == 0, stdout[-5000:]
    assert report["verdict"] == "ACCEPT"
    assert verdicts(report) == {
        ("git-updates", "i686"): "ACCEPT",
        ("git-updates", "x86_64"): "ACCEPT",
    }
    assert stdout.count("# glibc-farm gate: ACCEPT") == 1  # the Markdown summary, once
    for kind, name in (("html", "report.html"), ("json", "report.json"), ("junit", "junit.xml")):
        assert re.search(rf"^{kind}:\s+{re.escape(str(run_root / 'default-run' / name))}$",
                         stdout, re.MULTILINE), stdout[-2000:]  # fmt: skip


def test_default_run_shows_what_the_scenario_is_about(
    default_run: tuple[int, str, dict[str, Any]],
) -> None:
    _, _, report = default_run
    labels = final_labels(report)
    for arch in ("x86_64", "i686"):
        for variant in ("baseline", "git-updates"):
            cell = {
                test: label for (a, v, test), label in labels.items() if (a, v) == (arch, variant)
            }
            # RTLD_SHARED / DF_GNU_1_UNIQUE do not exist in 2.36, with or without backports.
            unique = {t: lbl for t, lbl in cell.items() if t.startswith("farm/unique/")}
            assert unique and set(unique.values()) == {"UNSUPPORTED"}, unique
            rseq = {t: lbl for t, lbl in cell.items() if t.startswith("farm/rseq/")}
            assert rseq and set(rseq.values()) == {"PASS"}, rseq
            assert cell["farm/unload/runtime-pinned"] == "PASS"
            assert cell["farm/unload/runtime-unpinned-crash"] == "CRASH(SIGSEGV)"
            # The backport series adds elf/tst-dlmopen-twice: only the patched tree runs it.
            twice = cell.get("glibc/elf/tst-dlmopen-twice")
            assert (twice == "PASS") if variant == "git-updates" else twice is None, cell
    # The rseq ABI differs: upstream 2.36 registers 32 bytes, Debian's backports 20.
    outputs = {
        (t["arch"], t["variant"]): t["attempts"][-1]["output"]
        for t in report["tests"]
        if t["test"] == "farm/rseq/registered-at-startup-and-in-threads"
    }
    for arch in ("x86_64", "i686"):
        assert "__rseq_size 32," in outputs[(arch, "baseline")], outputs[(arch, "baseline")]
        assert "__rseq_size 20," in outputs[(arch, "git-updates")]


@pytest.fixture(scope="module")
def fixture_run(run_root: Path) -> tuple[int, str, dict[str, Any]]:
    result = farm("run", FIXTURE, "--run-dir", run_root / "fixture-run")
    report = json.loads((run_root / "fixture-run" / "report.json").read_text())
    return result.returncode, result.stdout, report


def test_fixture_series_verdicts(fixture_run: tuple[int, str, dict[str, Any]]) -> None:
    status, stdout, report = fixture_run
    assert status == 1
    assert verdicts(report) == {
        ("harmless", "x86_64"): "ACCEPT",
        ("harmless", "i686"): "ACCEPT",
        ("broken-isolation", "x86_64"): "REJECT",
        ("broken-isolation", "i686"): "REJECT",
        ("does-not-apply", "x86_64"): "REJECT",
        ("does-not-apply", "i686"): "REJECT",
    }
    by_series = {s["series"]: s for s in report["series"]}
    for arch in by_series["broken-isolation"]["arches"]:
        regressed = {t["test"] for t in arch["transitions"] if t["kind"] == "REGRESSION"}
        assert "farm/dlmopen/newlm-isolation" in regressed, arch
        assert arch["first_bad_patch"] == {
            "number": 2,
            "subject": "elf: Reuse the base namespace for LM_ID_NEWLM in dlmopen",
        }
    for arch in by_series["does-not-apply"]["arches"]:
        assert arch["series_cell"]["state"] == "PATCH_FAILED"
        assert arch["first_bad_patch"]["number"] == 2
        assert any(
            "patch 2/2" in reason and "does not apply" in reason for reason in arch["reasons"]
        )
    assert "patch 2/3 'elf: Reuse the base namespace for LM_ID_NEWLM in dlmopen'" in stdout


def test_split_run_gives_the_same_verdict_as_one_run(
    fixture_run: tuple[int, str, dict[str, Any]], run_root: Path
) -> None:
    """What the GitHub workflow does: one `farm run --only CELL --no-gate` per cell, then
    `farm gate` over the cells' run directories."""
    _, _, local = fixture_run
    listed = farm("matrix", FIXTURE, "--format", "github")
    cells = [cell["id"] for cell in json.loads(listed.stdout)["include"]]
    assert len(cells) == 8
    directories = []
    for cell_id in cells:
        directory = run_root / "split" / cell_id
        farm("run", FIXTURE, "--only", cell_id, "--run-dir", directory, "--no-gate")
        directories.append(directory)
    gated = farm("gate", FIXTURE, *directories, "--report-dir", run_root / "split-report")
    split = json.loads((run_root / "split-report" / "report.json").read_text())
    assert gated.returncode == 1
    assert split["verdict"] == local["verdict"]
    assert verdicts(split) == verdicts(local)
    # A lost artifact (one cell missing) is never accepted: its series becomes undecided.
    harmless_i686 = next(d for d in directories if d.name.endswith("i686-harmless"))
    partial = farm(
        "gate", FIXTURE, *(d for d in directories if d != harmless_i686),
        "--report-dir", run_root / "partial-report",
    )  # fmt: skip
    report = json.loads((run_root / "partial-report" / "report.json").read_text())
    assert verdicts(report)[("harmless", "i686")] == "UNDECIDED"
    assert partial.returncode == 1  # broken-isolation still rejects
