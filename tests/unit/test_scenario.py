"""The scenario loader: valid files load into the typed model; every malformed one is refused
with a one-screen error naming file, line and key, and ``farm`` exits 2 without a traceback."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from farm.cli import main
from farm.errors import ScenarioError
from farm.scenario import (
    Arch,
    DebianPatch,
    DebianSource,
    QuiltPatches,
    TarballSource,
    ThreadPatches,
    load_scenario,
)

REPO = Path(__file__).resolve().parents[2]
SHA = "a" * 64

VALID = f"""\
name: demo
glibc:
  version: "2.36"
  source:
    tarball:
      url: https://ftp.gnu.org/gnu/glibc/glibc-2.36.tar.xz
      sha256: {SHA}
  configure: [--disable-werror]
arches: [x86_64, i686]
series:
  - name: one
    quilt: quilt
  - name: two
    message_id:
      id: <20210708163255.812-1-vivek@collabora.com>
stacked: true
tests:
  glibc: [elf/tst-dlmopen*]
expect:
  - variant: one
    test: glibc/elf/tst-dlmopen1
    outcome: PASS
flaky:
  - test: glibc/elf/tst-dlmopen3
    reason: races with the kernel
    expires: 2027-01-31
"""


def write(tmp_path: Path, text: str) -> Path:
    quilt = tmp_path / "quilt"
    quilt.mkdir(exist_ok=True)
    (quilt / "series").write_text("a.patch\n")
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_valid_scenario_loads_into_the_model(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID))
    assert scenario.name == "demo"
    assert scenario.arches == (Arch.X86_64, Arch.I686)
    assert isinstance(scenario.source, TarballSource) and scenario.source.sha256 == SHA
    assert isinstance(scenario.series[0].source, QuiltPatches)
    thread = scenario.series[1].source
    assert isinstance(thread, ThreadPatches)
    assert thread.message_id == "20210708163255.812-1-vivek@collabora.com"
    assert thread.archive == "https://inbox.sourceware.org/libc-alpha"
    assert scenario.variants == ("baseline", "one", "two", "stacked")
    assert scenario.series_of_variant("stacked") == scenario.series
    assert scenario.flaky[0].expires.isoformat() == "2027-01-31"
    assert scenario.expectations[0].where.endswith("scenario.yaml:20")


def test_glibc_entries_split_into_whole_subdirectories_and_globs(tmp_path: Path) -> None:
    text = VALID.replace("[elf/tst-dlmopen*]", "[dlfcn/, nptl/tst-rseq*, elf/]")
    tests = load_scenario(write(tmp_path, text)).tests
    assert tests.glibc_subdirs == ("dlfcn", "elf")
    assert tests.glibc_globs == ("nptl/tst-rseq*",)
    everything = load_scenario(write(tmp_path, VALID.replace("[elf/tst-dlmopen*]", "[all]")))
    assert everything.tests.glibc_subdirs == ("all",)
    assert everything.tests.glibc_globs == ()


def test_shipped_scenarios_load() -> None:
    paths = sorted((REPO / "scenarios").glob("*.yaml"))
    assert {p.stem for p in paths} >= {"debian-2.36-backports", "rtld-shared-v12", "rseq"}
    for path in paths:
        scenario = load_scenario(path)
        assert scenario.name == path.stem
    default = load_scenario(REPO / "scenarios" / "debian-2.36-backports.yaml")
    assert isinstance(default.source, DebianSource)
    assert default.series[0].source == DebianPatch("git-updates.diff")


# (description, edit applied to VALID as (old, new), expected line, expected text in error)
MALFORMED = [
    (
        "unknown top-level key",
        ("stacked: true", "stacked: true\nstackd: true"),
        17,
        "did you mean 'stacked'",
    ),
    ("unknown nested key", ("  configure:", "  confgure:"), 8, "did you mean 'configure'"),
    ("unknown arch", ("[x86_64, i686]", "[x86_64, arm64]"), 9, "unknown architecture 'arm64'"),
    ("arch twice", ("[x86_64, i686]", "[x86_64, x86_64]"), 9, "listed twice"),
    ("arches not a list", ("arches: [x86_64, i686]", "arches: x86_64"), 9, "expected a list"),
    ("empty arches", ("arches: [x86_64, i686]", "arches: []"), 9, "non-empty list"),
    ("sha256 too short", (f"sha256: {SHA}", f"sha256: {SHA[:63]}"), 7, "got 63"),
    ("sha256 not hex", (f"sha256: {SHA}", "sha256: " + "z" * 64), 7, "non-hex"),
    ("duplicate series", ("  - name: two", "  - name: one"), 13, "duplicate series name"),
    (
        "reserved series name",
        ("  - name: two", "  - name: baseline"),
        13,
        "variant the farm defines",
    ),
    ("bad series name", ("  - name: two", "  - name: Two Words"), 13, "lowercase letters"),
    (
        "two patch sources",
        ("    quilt: quilt", "    quilt: quilt\n    mbox: x.mbox"),
        11,
        "exactly one patch source",
    ),
    (
        "no patch source",
        ("    quilt: quilt\n", "    summary: nothing\n"),
        11,
        "exactly one patch source",
    ),
    ("quilt dir missing", ("quilt: quilt", "quilt: nowhere"), 12, "no such directory"),
    (
        "bad message id",
        ("<20210708163255.812-1-vivek@collabora.com>", "not-a-message-id"),
        15,
        "Message-ID",
    ),
    ("version not a version", ('version: "2.36"', "version: two"), 3, "glibc version"),
    (
        "missing source",
        (
            "  source:\n    tarball:\n      url: https://ftp.gnu.org/gnu/glibc/glibc-2.36.tar.xz\n"
            f"      sha256: {SHA}\n",
            "",
        ),
        3,
        "missing required key 'source'",
    ),
    (
        "url not a url",
        ("url: https://ftp.gnu.org/gnu/glibc/glibc-2.36.tar.xz", "url: ftp.gnu.org"),
        6,
        "URL",
    ),
    (
        "configure flag owned by the farm",
        ("[--disable-werror]", "[--prefix=/usr]"),
        8,
        "set by the farm",
    ),
    (
        "configure flag not an option",
        ("[--disable-werror]", "[disable-werror]"),
        8,
        "starting with '--'",
    ),
    ("stacked is not a bool", ("stacked: true", "stacked: yes please"), 16, "true or false"),
    ("glibc test not subdir/test", ("[elf/tst-dlmopen*]", "[tst-dlmopen1]"), 18, "subdir/test"),
    (
        "a glob inside a whole subdirectory",
        ("[elf/tst-dlmopen*]", "[el*/tst-dlmopen1, elf/]"),
        18,
        "'el*/tst-dlmopen1' is already run with its whole subdirectory (selected at ",
    ),
    ("a subdirectory twice", ("[elf/tst-dlmopen*]", "[elf/, dlfcn/, elf/]"), 18, "overlaps"),
    ("all and a subdirectory", ("[elf/tst-dlmopen*]", "[dlfcn/, all]"), 18, "overlaps"),
    ("a subdirectory escaping", ("[elf/tst-dlmopen*]", "[../]"), 18, "like 'elf/'"),
    ("no tests selected", ("  glibc: [elf/tst-dlmopen*]", "  {}"), 18, "select at least one test"),
    (
        "expectation for unknown variant",
        ("  - variant: one", "  - variant: three"),
        20,
        "no variant matches",
    ),
    ("unknown outcome", ("outcome: PASS", "outcome: PASSED"), 22, "unknown outcome 'PASSED'"),
    ("bad expiry date", ("expires: 2027-01-31", "expires: soon"), 26, "YYYY-MM-DD"),
    ("duplicate key", ("name: demo", "name: demo\nname: again"), 2, "duplicate key"),
    ("YAML syntax error", ("tests:", "tests: [unclosed"), 18, "invalid YAML"),
    ("tab-indented YAML", ("  configure:", "\tconfigure:"), 8, "invalid YAML"),
]


@pytest.mark.parametrize(
    ("old_new", "line", "needle"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_scenario_names_file_line_and_key(
    tmp_path: Path,
    old_new: tuple[str, str],
    line: int,
    needle: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old, new = old_new
    assert old in VALID, f"test is stale: {old!r} no longer in VALID"
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    message = str(raised.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert needle in message, message
    # The CLI prints it on one screen and exits 2, never a traceback.
    assert main(["matrix", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}:" in err and "Traceback" not in err
    assert len(err.splitlines()) < 25


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary", "NUL"),
        (b"\xff\xfe not utf8", "UTF-8"),
        (b"- just\n- a list\n", "expected a mapping"),
        (b"name: a\n---\nname: b\n", "second document"),
        (b"x: " + b"[" * 5000 + b"]" * 5000, "YAML"),
    ],
    ids=["empty", "binary", "not-utf8", "list", "two-documents", "deeply-nested"],
)
def test_garbage_files_are_refused(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(ScenarioError, match=needle):
        load_scenario(path)


def test_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "absent.yaml")
