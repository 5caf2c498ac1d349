"""Hostile scenario values and local sources: refused with file:line, never obeyed.

The tests find the places themselves: every string value of a real scenario is replaced in
turn by one holding a line break (or another control character), and every git value by
one starting with ``-``; each must be refused by the loader, naming the file and line. The
fetcher is also driven with such values directly (a Scenario built in code does not pass
the loader), against a real git repository, and must neither obey an option nor write a
file outside its cache.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from farm.errors import FarmError, ScenarioError, SourceError
from farm.inputs.sources import Cache, Fetcher, pack_tree
from farm.plan.scenario import GitRangePatches, GitSource, PathSource, load_scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))
#: Values that would start a new line (or hide text) wherever a scenario value is written.
LINE_BREAKERS = ("\n", "\r", "\x1b[2K", "\u2028", "\x85", "\u202e", "\x0b")


def _string_paths(node: object, path: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    """The key path of every string value (not key) in a loaded YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _string_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _string_paths(value, (*path, index))
    elif isinstance(node, str):
        yield path


def _replaced(document: object, path: tuple[object, ...], value: str) -> object:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        return {k: (_replaced(v, rest, value) if k == head else v) for k, v in document.items()}
    assert isinstance(document, list) and isinstance(head, int)
    return [_replaced(v, rest, value) if i == head else v for i, v in enumerate(document)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's scenarios with the files they name, so they load."""
    root = tmp_path_factory.mktemp("scenarios")
    shutil.copytree(REPO / "scenarios", root / "scenarios")
    if (REPO / "tests" / "fixtures").is_dir():
        shutil.copytree(REPO / "tests" / "fixtures", root / "tests" / "fixtures")
    return root / "scenarios"


def _mutants(workspace: Path) -> Iterator[tuple[str, Path, str]]:
    """Every string value of every real scenario in turn, with a line breaker appended
    (the breakers taken in rotation, so each kind meets many positions)."""
    count = 0
    for original in SCENARIOS:
        document = yaml.safe_load(original.read_text())
        for path in _string_paths(document):
            breaker = LINE_BREAKERS[count % len(LINE_BREAKERS)]
            count += 1
            if path[-1] in ("description", "summary") and breaker in "\n\t":
                breaker = "\r"  # prose may span lines; it still may not hold a CR
            mutant = _replaced(document, path, f"{_get(document, path)}{breaker}RUN touch /p")
            target = workspace / f"mutant-{original.stem}.yaml"
            target.write_text(yaml.safe_dump(mutant, allow_unicode=False))
            yield f"{original.name}:{'.'.join(map(str, path))}", target, breaker


def _get(document: object, path: tuple[object, ...]) -> object:
    for part in path:
        document = document[part]  # type: ignore[index]
    return document


def test_a_control_character_in_any_scenario_value_is_refused_with_its_line(
    workspace: Path,
) -> None:
    checked: set[str] = set()
    for where, target, breaker in _mutants(workspace):
        with pytest.raises(ScenarioError) as raised:
            load_scenario(target)
        message = str(raised.value)
        assert re.match(rf"{re.escape(str(target))}:\d+: ", message), (where, message)
        assert "control character" in message or "expected" in message, (where, message)
        checked.add(breaker)
    assert checked == set(LINE_BREAKERS)


def test_a_multi_line_description_is_still_prose(workspace: Path) -> None:
    document = yaml.safe_load(SCENARIOS[0].read_text())
    document["description"] = "First line.\nSecond line,\tindented."
    target = workspace / "prose.yaml"
    target.write_text(yaml.safe_dump(document))
    assert load_scenario(target).description == "First line.\nSecond line,\tindented."


GIT_SCENARIO = """\
name: git-input
glibc:
  version: "2.36"
  source:
    git:
      url: {url}
      ref: {ref}
arches: [x86_64]
series:
  - name: one
    git:
      url: {url}
      range: {range}
tests:
  glibc: [elf/tst-dlmopen1]
"""


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "--upload-pack=touch /tmp/pwned"),
        ("url", "-u/tmp/x"),
        ("url", "ext::sh -c touch% /tmp/pwned"),
        ("ref", "--output=/etc/passwd"),
        ("range", "--output=/tmp/x..HEAD"),
        ("range", "-o/tmp/x..HEAD"),
    ],
)
def test_a_git_value_that_git_would_take_as_an_option_is_refused(
    tmp_path: Path, field: str, value: str
) -> None:
    values = {"url": "https://sourceware.org/git/glibc.git", "ref": "glibc-2.36", "range": "a..b"}
    values[field] = value
    path = tmp_path / "git-input.yaml"
    path.write_text(
        GIT_SCENARIO.format(**{k: yaml.safe_dump(v).split("\n")[0] for k, v in values.items()})
    )
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    assert re.match(rf"{re.escape(str(path))}:\d+: ", str(raised.value))


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "upstream"
    run = {"cwd": repo, "check": True, "capture_output": True}
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], **run)  # type: ignore[call-overload]
    for index in range(2):
        (repo / "f.c").write_text(f"int x = {index};\n")
        subprocess.run(["git", "add", "f.c"], **run)  # type: ignore[call-overload]
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", f"c{index}"],
            **run,  # type: ignore[arg-type]
        )
    return repo


def _fetcher(tmp_path: Path, source_dir: Path) -> Fetcher:
    path = tmp_path / "plain.yaml"
    path.write_text(
        "name: plain\nglibc:\n  version: '2.36'\n  source:\n"
        f"    path: {source_dir}\narches: [x86_64]\ntests:\n  glibc: [elf/tst-x]\n"
    )
    return Fetcher(Cache(tmp_path / "cache"), load_scenario(path))


def test_the_fetcher_passes_git_values_after_end_of_options(tmp_path: Path, git_repo: Path) -> None:
    """Values that bypass the loader: git must read them as names, never as options."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    marker = tmp_path / "pwned"
    fetcher = _fetcher(tmp_path, git_repo)
    for hostile in (f"--output={victim}", f"--output={victim}..HEAD", f"-o{tmp_path}"):
        with pytest.raises(SourceError):
            fetcher.patches(GitRangePatches(url=str(git_repo), range=hostile), what="s")
    with pytest.raises(SourceError):
        fetcher._git_archive(GitSource(url=str(git_repo), ref=f"--output={victim}"))
    with pytest.raises(SourceError):
        fetcher._git_archive(GitSource(url=f"--upload-pack=touch {marker};", ref="HEAD"))
    assert victim.read_text() == "precious\n"
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cache", "plain.yaml", "upstream", "victim",
    ]  # fmt: skip


def test_a_git_range_from_a_real_repository_still_works(tmp_path: Path, git_repo: Path) -> None:
    fetcher = _fetcher(tmp_path, git_repo)
    patches = fetcher.patches(GitRangePatches(url=str(git_repo), range="HEAD~1..HEAD"), what="s")
    assert [p.subject for p in patches] == ["c1"]


# --- path: sources ---------------------------------------------------------------------


def _tree(root: Path) -> Path:
    (root / "elf").mkdir(parents=True)
    (root / "elf" / "dl-open.c").write_text("int dl_open;\n")
    (root / "configure").write_text("#!/bin/sh\n")
    (root / "configure").chmod(0o755)
    (root / "Makefile").write_text("all:\n")
    return root


def _pack(root: Path) -> bytes:
    out = io.BytesIO()
    pack_tree(root, out, what="path:t")
    return out.getvalue()


def test_packing_a_tree_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    """Same tree, other mtimes, owners' umask and a second later: byte-identical tarballs,
    so an unchanged local tree keeps its image tags."""
    root = _tree(tmp_path / "glibc")
    first = _pack(root)
    time.sleep(1.1)  # the gzip header's mtime once changed every second
    os.utime(root / "Makefile", (1, 1))
    (root / "Makefile").chmod(0o600)
    (root / "link").symlink_to("Makefile")
    os.link(root / "configure", root / "configure.hard")
    second_root = _tree(tmp_path / "other")
    (second_root / "link").symlink_to("Makefile")
    os.link(second_root / "configure", second_root / "configure.hard")
    assert _pack(root) == _pack(second_root)
    (root / "link").unlink()
    (root / "configure.hard").unlink()
    (root / "Makefile").chmod(0o644)
    assert _pack(root) == first
    assert gzip.decompress(first)  # a valid gzip stream with mtime 0
    assert first[4:8] == b"\0\0\0\0"


def test_a_hard_link_is_packed_as_a_file_with_its_content(tmp_path: Path) -> None:
    import tarfile

    root = _tree(tmp_path / "glibc")
    os.link(root / "configure", root / "configure.hard")
    with tarfile.open(fileobj=io.BytesIO(_pack(root))) as archive:
        member = archive.getmember("glibc/configure.hard")
        assert member.isfile() and member.mode == 0o755
        extracted = archive.extractfile(member)
        assert extracted is not None and extracted.read() == b"#!/bin/sh\n"


def _refused_tree(tmp_path: Path, make: object) -> str:
    root = _tree(tmp_path / "glibc")
    make(root)  # type: ignore[operator]
    fetcher = _fetcher(tmp_path, root)
    with pytest.raises(SourceError) as raised:
        fetcher._glibc_tarball(PathSource(root))
    assert os.listdir(tmp_path / "cache" / "tmp") == []  # no half-written tarball left
    return str(raised.value)


def test_a_socket_in_the_tree_is_refused_by_name(tmp_path: Path) -> None:
    def make(root: Path) -> None:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(root / "elf" / "sock"))
        server.close()

    assert "elf/sock is a socket" in _refused_tree(tmp_path, make)


def test_a_fifo_in_the_tree_is_refused_without_reading_it(tmp_path: Path) -> None:
    assert "fifo is a FIFO" in _refused_tree(tmp_path, lambda root: os.mkfifo(root / "fifo"))


def test_a_huge_sparse_file_in_the_tree_is_refused_by_its_size(tmp_path: Path) -> None:
    def make(root: Path) -> None:
        with (root / "disk.img").open("wb") as stream:
            stream.truncate(64 << 30)

    assert "disk.img is 68719476736 bytes" in _refused_tree(tmp_path, make)


def test_a_symlink_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    for target in ("/etc/passwd", "../../outside"):
        shutil.rmtree(tmp_path, ignore_errors=True)
        tmp_path.mkdir()
        message = _refused_tree(tmp_path, lambda root, t=target: (root / "l").symlink_to(t))
        assert f"is a symlink to {target}, outside the tree" in message


@pytest.mark.parametrize("given", ["/etc/passwd", "/dev/null", "/dev/zero"])
def test_a_file_that_is_no_tarball_is_refused(tmp_path: Path, given: str) -> None:
    if not Path(given).exists():
        pytest.skip(f"{given} does not exist here")
    fetcher = _fetcher(tmp_path, _tree(tmp_path / "glibc"))
    with pytest.raises(SourceError) as raised:
        fetcher._glibc_tarball(PathSource(Path(given)))
    assert f"path:{given}: " in str(raised.value)
    assert os.listdir(tmp_path / "cache" / "blobs") == []


def test_a_real_local_tarball_is_taken(tmp_path: Path) -> None:
    tarball = tmp_path / "glibc 2.36;x.tar.gz"
    tarball.write_bytes(_pack(_tree(tmp_path / "glibc")))
    fetcher = _fetcher(tmp_path, tmp_path / "glibc")
    blob = fetcher._glibc_tarball(PathSource(tarball))
    assert blob.name == "glibc_2.36_x.tar.gz"  # safe in the Dockerfile's RUN line
    assert blob.path.read_bytes() == tarball.read_bytes()


def test_farm_errors_are_the_only_exceptions(tmp_path: Path) -> None:
    """A device as a glibc path: a FarmError, not an OSError or a hang."""
    fetcher = _fetcher(tmp_path, _tree(tmp_path / "glibc"))
    with pytest.raises(FarmError):
        fetcher._glibc_tarball(PathSource(Path("/dev/zero")))


@pytest.mark.parametrize("given", ["/dev/zero", "/dev/null"])
def test_a_device_as_a_path_source_is_refused_at_load_with_its_line(
    tmp_path: Path, given: str
) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text(
        "name: dev\nglibc:\n  version: '2.36'\n  source:\n"
        f"    path: {given}\narches: [x86_64]\ntests:\n  glibc: [elf/tst-x]\n"
    )
    with pytest.raises(ScenarioError, match=rf"^{re.escape(str(path))}:5: .*neither a glibc"):
        load_scenario(path)
