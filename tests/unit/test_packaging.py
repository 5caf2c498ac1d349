"""What the wheel is made of: pyproject.toml lists the farm's packages by hand (the top-level
``images/`` is mapped into the wheel as ``farm/images``, which package discovery cannot see),
so a room added to farm/ and not listed would be missing from every installed farm."""

from __future__ import annotations

import tomllib
from pathlib import Path

from farm.plan import render

REPO = Path(__file__).resolve().parents[2]


def _setuptools() -> dict[str, object]:
    with (REPO / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["tool"]["setuptools"]  # type: ignore[no-any-return]


def test_every_python_folder_of_farm_is_a_listed_package() -> None:
    folders = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "farm").rglob("__init__.py")
    }
    assert set(_setuptools()["packages"]) == folders | {"farm.images"}  # type: ignore[call-overload]


def test_the_templates_are_at_the_top_and_mapped_into_the_wheel() -> None:
    assert _setuptools()["package-dir"] == {"farm.images": "images"}
    assert not (REPO / "farm" / "images").exists()
    assert render.IMAGES_DIR == REPO / "images"
    assert (REPO / "images" / "build-baseline.Dockerfile.j2").is_file()


def test_an_installed_package_reads_its_own_copy(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "farm"
    (package / "images").mkdir(parents=True)
    (tmp_path / "site-packages" / "images").mkdir()  # not a checkout: no pyproject.toml
    assert render.images_dir(package) == package / "images"


def test_a_checkout_without_the_wheels_copy_reads_the_top_level_folder(tmp_path: Path) -> None:
    (tmp_path / "farm").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    assert render.images_dir(tmp_path / "farm") == tmp_path / "images"
