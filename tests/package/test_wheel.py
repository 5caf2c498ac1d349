"""A built wheel works on its own: installed (not editable) into a fresh venv, and run from
outside the checkout, ``farm render`` and ``farm matrix`` do what they do in the checkout.

Every other test runs the farm from the checkout, where files the package forgot to carry
are still at hand; a user's ``pip install .`` gets only what the wheel holds. Templates
outside the package once made every installed ``farm render`` fail with TemplateNotFound.
The oracle is the checkout itself: the wheel's rendering must equal the checkout's byte for
byte (same Dockerfiles, same context files, same tags).

Needs a package index for the build backend and the farm's dependencies (pip's cache makes
a second run fast), and the default scenario's glibc in the farm cache (fetched if absent).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from farm.cli import DEFAULT_SCENARIO

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / DEFAULT_SCENARIO
PIP_TIMEOUT = 300
FARM_TIMEOUT = 600
#: Never copied into the build tree: a stale ``build/`` or egg-info would let a file the
#: package no longer declares slip into the wheel, and the rest is only weight.
_NOT_SOURCES = {".git", ".venv", ".tox", "build", "dist", "farm-runs", "out"}


def _run(argv: list[str | Path], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` without the checkout on the import path; output shown if a test fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    completed = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env={**env, "PYTHONUNBUFFERED": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    sys.stdout.write(completed.stdout[-20000:])
    sys.stderr.write(completed.stderr[-20000:])
    return completed


def _ignore(directory: str, names: list[str]) -> set[str]:
    top = Path(directory) == REPO
    return {
        name
        for name in names
        if (top and name in _NOT_SOURCES)
        or name == "__pycache__"
        or name.endswith((".egg-info", ".pyc"))
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin/`` of a fresh venv holding the farm built as a wheel from a clean copy of
    the checkout."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=_ignore, symlinks=True)
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", root / "dist", source],
        cwd=root,
        timeout=PIP_TIMEOUT,
    )
    assert built.returncode == 0, "pip wheel failed"
    (wheel,) = (root / "dist").glob("glibc_farm-*.whl")
    venv = _run([sys.executable, "-m", "venv", root / "venv"], cwd=root, timeout=PIP_TIMEOUT)
    assert venv.returncode == 0
    bin_dir = root / "venv" / "bin"
    install = _run([bin_dir / "pip", "install", "-q", wheel], cwd=root, timeout=PIP_TIMEOUT)
    assert install.returncode == 0, "pip install of the wheel failed"
    return bin_dir


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory with no checkout in it or above it."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    return directory


def test_the_installed_farm_is_the_wheel_not_the_checkout(installed: Path, outside: Path) -> None:
    shown = _run(
        [installed / "python", "-c", "import farm; print(farm.__file__)"],
        cwd=outside,
        timeout=60,
    )
    assert shown.returncode == 0
    location = Path(shown.stdout.strip())
    assert location.is_relative_to(installed.parent), location
    assert not location.is_relative_to(REPO), location


def test_render_from_the_wheel_equals_render_from_the_checkout(
    installed: Path, outside: Path
) -> None:
    from_wheel = _run(
        [installed / "farm", "render", SCENARIO, "-o", outside / "wheel"],
        cwd=outside,
        timeout=FARM_TIMEOUT,
    )
    assert from_wheel.returncode == 0, "farm render from the wheel failed"
    from_checkout = _run(
        [sys.executable, "-m", "farm", "render", SCENARIO, "-o", outside / "checkout"],
        cwd=REPO,
        timeout=FARM_TIMEOUT,
    )
    assert from_checkout.returncode == 0
    # The image names and tags it prints, then every file it wrote.
    assert from_wheel.stdout == from_checkout.stdout
    assert "glibc-farm/toolchain:" in from_wheel.stdout
    wheel_files = sorted(p.relative_to(outside / "wheel") for p in (outside / "wheel").rglob("*"))
    checkout_files = sorted(
        p.relative_to(outside / "checkout") for p in (outside / "checkout").rglob("*")
    )
    assert wheel_files == checkout_files
    assert any(p.name == "Dockerfile" for p in wheel_files)
    for relative in wheel_files:
        if (outside / "wheel" / relative).is_file():
            wheel_bytes = (outside / "wheel" / relative).read_bytes()
            assert wheel_bytes == (outside / "checkout" / relative).read_bytes(), relative


def test_matrix_from_the_wheel(installed: Path, outside: Path) -> None:
    listed = _run([installed / "farm", "matrix", SCENARIO], cwd=outside, timeout=FARM_TIMEOUT)
    assert listed.returncode == 0
    assert "debian-2.36-backports-x86_64-baseline" in listed.stdout
    assert "debian-2.36-backports-i686-git-updates" in listed.stdout
