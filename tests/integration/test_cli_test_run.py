"""``farm test`` when pytest itself could not run the items: an error (exit 2) that says so,
never the exit 0 of a run that tested nothing.

A -k expression is pytest's and only pytest can parse it, so it is judged once the images
are there; one baseline cell keeps this to a probe and a pytest start on a warm machine.
"""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from tests.integration.conftest import DEFAULT, farm

pytestmark = pytest.mark.integration

CELL = "debian-2.36-backports-x86_64-baseline"


def test_a_malformed_keyword_expression_is_an_error(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    result = farm("test", DEFAULT, "--only", CELL, "-k", "((", "--run-dir", tmp_path / "run")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "farm: error: pytest could not run the tests" in result.stderr
    assert "Check -n and -k" in result.stderr


def test_a_keyword_that_selects_nothing_is_an_error(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    result = farm("test", DEFAULT, "--only", CELL, "-k", "no_such_test", "--run-dir", tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "-k 'no_such_test' selected none of the" in result.stderr
    assert "x86_64-baseline-farm/" in result.stderr  # an item id to match instead
