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
