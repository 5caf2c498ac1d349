"""farm.testing.glibc_test on a real glibc build tree: one glibc test, run both ways.

The default scenario's x86_64 baseline is glibc 2.36, which has ``make test t=``; the
``.out`` rule that trees without it (2.30) need is forced here on the same tree, and must
build the test from scratch, run it and leave the same ``.test-result``.
"""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from farm.results import Outcome
from farm.testing.glibc_test import classify, glibc_test_script
from tests.integration.conftest import DEFAULT, farm, in_image
from tests.integration.test_build import plan

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def baseline_test_image(run_root: Path) -> str:
    built = farm(
        "build", DEFAULT, "--only", "*-x86_64-baseline", "--run-dir", run_root / "glibc-test"
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return plan(run_root, DEFAULT)["test-x86_64-baseline"]


@pytest.mark.parametrize(
    ("has_test_target", "way"),
    [(None, "via make test t=elf/tst-dlmopen1"), (False, "via the .out rule in elf/")],
)
def test_one_glibc_test_runs_with_make_test_and_with_the_out_rule(
    client: docker.DockerClient,
    baseline_test_image: str,
    has_test_target: bool | None,
    way: str,
) -> None:
    script = glibc_test_script("elf/tst-dlmopen1", has_test_target=has_test_target)
    # The test binary is not in the image: the make call must build it, then run it.
    output = in_image(
        client, baseline_test_image, f"test ! -e /build/glibc/elf/tst-dlmopen1 || exit 3\n{script}"
    )
    assert f"farm: glibc test elf/tst-dlmopen1 {way}" in output, output
    assert "PASS: elf/tst-dlmopen1" in output.splitlines(), output
    assert classify(0, output) == (Outcome.PASS, None)
