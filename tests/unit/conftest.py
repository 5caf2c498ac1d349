"""Fixtures more than one unit test module needs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from farm.inputs.sources import Cache, Fetcher
from farm.plan.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fetcher(tmp_path: Path) -> Fetcher:
    """A fetcher of the default scenario with its cache in ``tmp_path``; the scenario is a copy
    in ``tmp_path``, so that a recorded lock lands there too (a module may give its own)."""
    scenario = tmp_path / "scenario.yaml"
    shutil.copyfile(REPO / "scenarios" / "debian-2.36-backports.yaml", scenario)
    return Fetcher(Cache(tmp_path / "cache"), load_scenario(scenario))


@pytest.fixture
def scenario_path(tmp_path: Path) -> Path:
    """A scenario in ``tmp_path`` of a glibc tarball, two quilt series (``one``, ``two``,
    empty) and their stacked variant, on both arches."""
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "series").write_text("a.patch\n")
    path = tmp_path / "demo.yaml"
    path.write_text(
        "name: demo\n"
        "glibc:\n  version: '2.36'\n  source:\n    tarball:\n"
        "      url: https://ftp.gnu.org/gnu/glibc/glibc-2.36.tar.xz\n"
        f"      sha256: {'b' * 64}\n  configure: [--disable-werror]\n"
        "arches: [x86_64, i686]\n"
        "series:\n  - name: one\n    quilt: one\n  - name: two\n    quilt: two\n"
        "stacked: true\n"
        "tests:\n  glibc: [elf/tst-dlmopen*]\n"
    )
    return path
