"""The online scenarios (series fetched from public archives and forks): each loads into the
cells CI will run, and offline each fails fast with exit 2 and a message that names what
could not be fetched and where to put it by hand, never with a traceback.

Hermetic: the farm's cache is a temporary directory (FARM_CACHE), each scenario is copied
there first (so a lock file written on "first fetch" never lands in the repository), HTTP
is replaced by a stub that fails like a host without name resolution, and git may use no
network transport at all. Nothing here waits on the network.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from farm.cli import main
from farm.inputs.sources import Cache

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"


@dataclass(frozen=True)
class Online:
    """One online scenario and what its first fetch asks for."""

    file: str
    series: str
    glibc_url: str  # tarball URL, or the git URL the source is cloned from
    glibc_pin: str | None  # the tarball's sha256 as the scenario pins it
    series_url: str  # the thread's t.mbox.gz URL, or the git URL of the series
    glibc_ref: str | None = None  # the commit a git source names
    #: Every online series is built with a linker with and one without -z unique, on the
    #: toolchain of its era and on bookworm.
    toolchains: tuple[str, ...] = ("bullseye", "bookworm")

    @property
    def name(self) -> str:
        return self.file.removesuffix(".yaml")


RTLD_V12 = Online(
    "rtld-shared-v12.yaml",
    "rtld-shared-v12",
    "https://ftp.gnu.org/gnu/glibc/glibc-2.34.tar.gz",
    "255b7632746b5fdd478cb7b36bebd1ec1f92c2b552ee364c940f48eb38d07f62",
    "https://inbox.sourceware.org/libc-alpha/20210708163255.812-1-vivek%40collabora.com/t.mbox.gz",
)
RTLD_GOHAR94 = Online(
    "rtld-shared-gohar94.yaml",
    "rtld-shared-gohar94",
    "https://github.com/gohar94/glibc.git",
    None,
    "https://github.com/gohar94/glibc.git",
    "12327f92e52979be70a85ee0b7bd1636898dada2~1",
)
RSEQ_V10 = Online(
    "rseq.yaml",
    "rseq-v10",
    "https://ftp.gnu.org/gnu/glibc/glibc-2.29.tar.gz",
    "2fc8c555fd0e5dab5b91e7dd0422865c1885be89ff080b2c1357041afbbc717f",
    "https://inbox.sourceware.org/libc-alpha/"
    "20190503184219.19266-2-mathieu.desnoyers%40efficios.com/t.mbox.gz",
)
RSEQ_V12 = Online(
    "rseq-v12.yaml",
    "rseq-v12",
    "https://github.com/compudj/glibc-dev.git",
    None,
    "https://github.com/compudj/glibc-dev.git",
    "0a8262a1b269f8f1602933248e69dfb041aab7a2",  # "Tag 2.30 release."
)
ALL = (RTLD_V12, RTLD_GOHAR94, RSEQ_V10, RSEQ_V12)
TARBALL_SOURCED = tuple(s for s in ALL if s.glibc_pin is not None)
GIT_SOURCED = tuple(s for s in ALL if s.glibc_ref is not None)


def ids(scenarios: tuple[Online, ...]) -> list[str]:
    return [s.name for s in scenarios]


# --- the matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ALL, ids=ids(ALL))
def test_matrix_has_baseline_and_series_cells_on_both_arches_and_toolchains(
    scenario: Online, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["matrix", str(SCENARIOS / scenario.file), "--format", "github"]) == 0
    include = json.loads(capsys.readouterr().out)["include"]
    assert sorted(cell["id"] for cell in include) == sorted(
        f"{scenario.name}-{toolchain}-{arch}-{variant}"
        for toolchain in scenario.toolchains
        for arch in ("x86_64", "i686")
        for variant in ("baseline", scenario.series)
    )
    assert {cell["scenario"] for cell in include} == {str(SCENARIOS / scenario.file)}
    assert sorted({cell["toolchain"] for cell in include}) == sorted(scenario.toolchains)


@pytest.mark.parametrize("scenario", ALL, ids=ids(ALL))
def test_each_online_scenario_has_a_linker_with_and_one_without_z_unique(
    scenario: Online,
) -> None:
    from farm.plan.scenario import load_scenario

    loaded = load_scenario(SCENARIOS / scenario.file)
    linkers = {entry.toolchain.ld_z_unique for entry in loaded.build_toolchains}
    assert linkers == {True, False}
    # Older trees than bookworm's host glibc cannot link its libstdc++: C++ is off there,
    # and only there (bullseye's libstdc++ needs GLIBC_2.18, so the tree builds whole).
    for entry in loaded.build_toolchains:
        variables = dict(loaded.configure_for(entry.toolchain).variables)
        assert variables.get("CXX") == ("false" if entry.toolchain.name == "bookworm" else None)


def test_online_scenario_names_are_unique_across_files(capsys: pytest.CaptureFixture[str]) -> None:
    """CI passes every scenario to one `farm matrix`, which refuses a name used twice."""
    paths = [str(SCENARIOS / s.file) for s in ALL]
    assert main(["matrix", *paths, "--format", "github"]) == 0
    expected = sum(4 * len(s.toolchains) for s in ALL)
    assert len(json.loads(capsys.readouterr().out)["include"]) == expected


# --- offline -------------------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """No network: HTTP fails as without DNS, git may not use https; returns URLs asked for."""
    requested: list[str] = []

    def no_network(request: urllib.request.Request | str, *args: object, **kwargs: object) -> None:
        requested.append(request if isinstance(request, str) else request.full_url)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    # git refuses the https transport before any name lookup, and never prompts for
    # credentials (GitHub answers a missing repository with a login request).
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    monkeypatch.setenv("FARM_CACHE", str(tmp_path / "cache"))
    return requested


def copy_scenario(scenario: Online, directory: Path, *, unpin: bool = False) -> Path:
    """The scenario beside its own lock file in ``directory``; ``unpin`` drops the tarball's
    sha256 so that a stand-in tarball can be supplied by hand."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / scenario.file
    shutil.copyfile(SCENARIOS / scenario.file, path)
    if unpin:
        text = path.read_text(encoding="utf-8")
        assert scenario.glibc_pin is not None and scenario.glibc_pin in text
        path.write_text(re.sub(rf"\n\s*sha256: {scenario.glibc_pin}", "", text), encoding="utf-8")
    return path


def render(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["render", str(path), "-o", str(tmp_path / "out")])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


@pytest.mark.parametrize("scenario", TARBALL_SOURCED, ids=ids(TARBALL_SOURCED))
def test_offline_render_names_the_tarball_and_where_to_drop_it(
    scenario: Online, offline: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = copy_scenario(scenario, tmp_path / "scenarios")
    status, output = render(path, tmp_path, capsys)
    drop = Cache(tmp_path / "cache").manual_drop(scenario.glibc_url)
    assert status == 2
    assert offline == [scenario.glibc_url]
    assert f"cannot download {scenario.glibc_url}" in output
    assert str(drop) in output and "Offline?" in output
    assert "Traceback" not in output
    # Nothing was fetched, so nothing was locked.
    assert not path.with_suffix(".lock").exists()


@pytest.mark.parametrize("scenario", GIT_SOURCED, ids=ids(GIT_SOURCED))
def test_offline_render_names_the_git_source_and_where_its_mirror_goes(
    scenario: Online, offline: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scenario.glibc_ref is not None
    path = copy_scenario(scenario, tmp_path / "scenarios")
    status, output = render(path, tmp_path, capsys)
    assert status == 2
    assert f"cannot clone {scenario.glibc_url}" in output
    assert str(tmp_path / "cache" / "git") in output and "Offline?" in output
    assert scenario.glibc_ref in output  # which ref was wanted
    assert "Traceback" not in output


def test_offline_the_master_scenario_names_sourceware_and_where_its_mirror_goes(
    offline: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """glibc-master has no series of its own (`farm try` brings one); offline, its source
    fails as the other git sources do, naming master and the mirror to put there."""
    path = tmp_path / "scenarios" / "glibc-master.yaml"
    path.parent.mkdir()
    shutil.copyfile(SCENARIOS / "glibc-master.yaml", path)
    status, output = render(path, tmp_path, capsys)
    assert status == 2
    assert "cannot clone https://sourceware.org/git/glibc.git" in output
    assert "git:https://sourceware.org/git/glibc.git@master" in output
    assert str(tmp_path / "cache" / "git") in output and "Offline?" in output
    assert "Traceback" not in output and not path.with_suffix(".lock").exists()


def stand_in_tarball(path: Path, top: str) -> None:
    """A tiny glibc-shaped tarball: the farm only hashes it before rendering."""
    source = path.parent / "stand-in" / top
    source.mkdir(parents=True)
    (source / "version.h").write_text('#define VERSION "stand-in"\n', encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        archive.add(source, arcname=top)


@pytest.mark.parametrize("scenario", TARBALL_SOURCED, ids=ids(TARBALL_SOURCED))
def test_offline_series_is_reported_as_not_rendered_with_its_drop_or_mirror(
    scenario: Online, offline: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the glibc tarball supplied by hand, the baseline renders and the series that
    cannot be fetched is named, with where to put it; the exit status stays 2."""
    path = copy_scenario(scenario, tmp_path / "scenarios", unpin=True)
    cache = Cache(tmp_path / "cache")
    stand_in_tarball(cache.manual_drop(scenario.glibc_url), "glibc-stand-in")

    status, output = render(path, tmp_path, capsys)

    assert status == 2
    assert "build-x86_64-baseline" in output and "build-i686-baseline" in output
    assert "build-bullseye-x86_64-baseline" in output and "build-bullseye-i686-baseline" in output
    assert f"build-x86_64-{scenario.series}" not in output
    assert f"build-bullseye-x86_64-{scenario.series}" not in output
    (reason,) = re.findall(r"^not rendered: (.*)$", output, re.MULTILINE)
    assert f"series '{scenario.series}'" in reason and f"{scenario.file}:" in reason
    if scenario.series_url.endswith("t.mbox.gz"):
        assert offline == [scenario.series_url]  # the tarball came from the drop
        assert f"cannot download {scenario.series_url}" in output
        assert str(cache.manual_drop(scenario.series_url)) in output
    else:
        assert f"cannot clone {scenario.series_url}" in output
        assert str(tmp_path / "cache" / "git") in output
    assert "Offline?" in output and "Traceback" not in output
    # The hand-supplied tarball was locked beside the (copied) scenario, and only it.
    locked = json.loads(path.with_suffix(".lock").read_text(encoding="utf-8"))["sha256"]
    assert list(locked) == [f"url:{scenario.glibc_url}"]
