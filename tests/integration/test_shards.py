"""`farm gate` over a sharded run judges exactly as over the same tests run unsplit.

The fixture scenario has a series that must be rejected (broken-isolation), one that must be
accepted (harmless) and one that does not apply, on two arches, and says ``tests.shards: 2``
(the gate requires every shard a scenario defines). It is run the way the GitHub workflow
runs it: one ``farm build`` (the build job: it
records every cell's state, the failed patch included), then two ``farm run --shard I/2
--no-gate --no-build`` over the images it left (the shard jobs), then ``farm gate`` over the
three directories; and once unsplit. Every image exists after test_run.py (the series
variants are incremental builds of seconds), so nothing here builds glibc.

The unsplit run is given ``--no-bisect``: the split jobs never bisect (no job sees every
test), so the first bad patch is the one thing the two reports may not share. Both ways run
with the default one rerun and with ``--reruns 0``, where a single bad attempt rejects only
if no directory the gate reads is taken for one whose runner reran: the build job's
directory, which ran no tests, once was.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from farm.rundir import RunDir
from tests.integration.conftest import FIXTURES, farm, final_labels
from tests.integration.test_build import plan

pytestmark = pytest.mark.integration

#: fixture-series.yaml split in two shards; its images are fixture-series.yaml's.
SCENARIO = FIXTURES / "fixture-series-shards.yaml"
#: The cells whose images build; does-not-apply's fail at its patch 2/2.
TESTED = ("--only", "*-baseline", "--only", "*-harmless", "--only", "*-broken-isolation")


def judged(report: dict[str, Any]) -> dict[str, Any]:
    """What the gate judged: the report without timings and raw output (addresses, pids)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("duration", "output")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return {key: strip(value) for key, value in report.items() if key != "today"}


@pytest.fixture(scope="module", params=[1, 0], ids=lambda n: f"reruns-{n}")
def reruns(request: pytest.FixtureRequest) -> int:
    number: int = request.param
    return number


@pytest.fixture(scope="module")
def unsplit(run_root: Path, reruns: int) -> tuple[int, dict[str, Any]]:
    directory = run_root / f"shards-unsplit-{reruns}"
    ran = farm("run", SCENARIO, "--no-bisect", "--reruns", str(reruns), "--run-dir", directory)
    return ran.returncode, json.loads((directory / "report.json").read_text())


@pytest.fixture(scope="module")
def sharded(run_root: Path, reruns: int) -> tuple[int, dict[str, Any], list[Path]]:
    build_dir = run_root / f"shards-build-{reruns}"
    built = farm("build", SCENARIO, "--run-dir", build_dir)
    assert built.returncode == 1, built.stderr[-3000:]  # does-not-apply cannot be built
    shard_dirs = [run_root / f"shards-{index}of2-{reruns}" for index in (1, 2)]
    for index, directory in enumerate(shard_dirs, start=1):
        ran = farm(
            "run", SCENARIO, *TESTED, "--shard", f"{index}/2", "--no-gate", "--no-build",
            "--reruns", str(reruns), "--run-dir", directory,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr[-3000:]
        assert "logs" not in {p.name for p in directory.iterdir()}, "a shard job built an image"
    report_dir = run_root / f"shards-report-{reruns}"
    gated = farm("gate", SCENARIO, build_dir, *shard_dirs, "--report-dir", report_dir)
    return gated.returncode, json.loads((report_dir / "report.json").read_text()), shard_dirs


def test_the_gate_over_build_and_shard_directories_judges_as_one_run(
    unsplit: tuple[int, dict[str, Any]],
    sharded: tuple[int, dict[str, Any], list[Path]],
    reruns: int,
) -> None:
    status, report = unsplit
    split_status, split_report, _ = sharded
    assert status == split_status == 1
    verdicts = {
        (s["series"], a["arch"]): a["verdict"] for s in split_report["series"] for a in s["arches"]
    }
    assert verdicts == {
        (series, arch): verdict
        for series, verdict in (
            ("harmless", "ACCEPT"), ("broken-isolation", "REJECT"), ("does-not-apply", "REJECT"),
        )
        for arch in ("x86_64", "i686")
    }  # fmt: skip
    assert final_labels(split_report) == final_labels(report)
    assert len(final_labels(report)) > 30
    assert split_report["warnings"] == report["warnings"] == []
    assert split_report["require_reproduction"] is report["require_reproduction"] is (reruns > 0)
    assert judged(split_report) == judged(report)


def test_each_shard_ran_its_own_part_of_every_cell(
    sharded: tuple[int, dict[str, Any], list[Path]],
) -> None:
    _, _, shard_dirs = sharded
    tested: list[set[tuple[str, str]]] = []
    for directory in shard_dirs:
        found, unreadable = RunDir(directory).read_results()
        assert not unreadable, unreadable
        tested.append({(r.cell, r.test) for r in found})
        assert len({r.cell for r in found}) == 6, "a shard left a built cell untested"
    assert tested[0] and tested[1] and not tested[0] & tested[1]


def test_a_shard_job_without_its_image_refuses_instead_of_building(run_root: Path) -> None:
    directory = run_root / "shards-no-image"
    ran = farm(
        "run", SCENARIO, "--only", "*-x86_64-does-not-apply", "--shard", "1/2", "--no-gate",
        "--no-build", "--run-dir", directory,
    )  # fmt: skip
    assert ran.returncode == 2
    tag = plan(run_root, SCENARIO)["test-x86_64-does-not-apply"]
    assert f"test-x86_64-does-not-apply ({tag})" in ran.stderr
    assert not (directory / "results").exists() and not (directory / "logs").exists()


def test_the_build_jobs_archive_holds_the_test_image_under_its_tag(run_root: Path) -> None:
    directory = run_root / "shards-save"
    archive = directory / "images.tar"
    built = farm(
        "build", SCENARIO, "--only", "*-x86_64-harmless", "--run-dir", directory, "--save", archive
    )
    assert built.returncode == 0, built.stderr[-3000:]
    tag = plan(run_root, SCENARIO)["test-x86_64-harmless"]
    with tarfile.open(archive) as saved:
        member = saved.extractfile("manifest.json")
        assert member is not None
        manifest = json.load(member)
    assert [entry["RepoTags"] for entry in manifest] == [[tag]]
    assert (directory / "cells" / "fixture-series-shards-x86_64-harmless.json").is_file()
