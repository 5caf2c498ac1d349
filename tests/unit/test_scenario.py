"""The scenario loader: valid files load into the typed model; every malformed one is refused
with a one-screen error naming file, line and key, and ``farm`` exits 2 without a traceback."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from farm.cli import main
from farm.errors import ScenarioError
from farm.plan.scenario import (
    Arch,
    DebianPatch,
    DebianSource,
    QuiltPatches,
    TarballSource,
    ThreadPatches,
    farm_configure_option,
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


def test_the_cases_a_scenario_selects_are_resolved_once_when_it_is_loaded(
    tmp_path: Path,
) -> None:
    from farm import cases

    globs = ("rseq", "sandbox/hang", "dlmopen/newlm-*")
    text = VALID.replace("tests:\n", f"tests:\n  cases: [{', '.join(globs)}]\n")
    selected = load_scenario(write(tmp_path, text)).tests.selected_cases
    assert selected == cases.select_cases(cases.load_cases(), globs)
    assert "sandbox/hang" in {case.id for case in selected}
    # No globs select no case (not the whole library, which select_cases gives for none).
    assert load_scenario(write(tmp_path, VALID)).tests.selected_cases == ()
    empty = VALID.replace("tests:\n", "tests:\n  cases: []\n")
    assert load_scenario(write(tmp_path, empty)).tests.selected_cases == ()


def test_tests_shards_spreads_every_cell_and_defaults_to_one(tmp_path: Path) -> None:
    from farm.plan.matrix import cells

    assert load_scenario(write(tmp_path, VALID)).shards == 1
    sharded = load_scenario(write(tmp_path, VALID.replace("tests:\n", "tests:\n  shards: 3\n")))
    assert sharded.shards == 3
    assert {cell.shards for cell in cells([sharded])} == {3}
    # The cells themselves, and so their ids, do not change.
    assert [c.id for c in cells([sharded])] == [
        c.id for c in cells([load_scenario(write(tmp_path, VALID))])
    ]


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
        "configure flag owned by the farm, abbreviated as configure takes it",
        ("[--disable-werror]", "[--hos=i686-linux-gnu]"),
        8,
        "--hos (configure reads it as --host) is set by the farm",
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
    ("no shards", ("  glibc: [elf/", "  shards: 0\n  glibc: [elf/"), 18, "from 1 to 32, got 0"),
    ("too many shards", ("  glibc: [elf/", "  shards: 33\n  glibc: [elf/"), 18, "got 33"),
    ("fractional shards", ("  glibc: [elf/", "  shards: 2.5\n  glibc: [elf/"), 18, "got 2.5"),
    ("quoted shards", ("  glibc: [elf/", '  shards: "2"\n  glibc: [elf/'), 18, "got '2'"),
    ("shards as a list", ("  glibc: [elf/", "  shards: [2]\n  glibc: [elf/"), 18, "got a list"),
    ("misspelled shards", ("  glibc: [elf/", "  shard: 2\n  glibc: [elf/"), 18, "'shards'"),
    ("tab-indented YAML", ("  configure:", "\tconfigure:"), 8, "invalid YAML"),
]


TOOLCHAINS_BLOCK = (
    "toolchains:\n"
    "  - bullseye\n"
    "  - name: bookworm\n"
    "    configure_vars:\n"
    '      CXX: "false"\n'
    '      CFLAGS: "-O2"\n'
    "    configure: [--enable-bind-now]\n"
)
WITH_TOOLCHAINS = VALID.replace(
    "  configure: [--disable-werror]\n",
    '  configure: [--disable-werror]\n  configure_vars:\n    CFLAGS: "-O2 -g"\n' + TOOLCHAINS_BLOCK,
)

MALFORMED_TOOLCHAINS = [
    ("unknown toolchain", ("  - bullseye\n", "  - bulseye\n"), 12, "did you mean 'bullseye'?"),
    ("not a Debian release", ("  - bullseye\n", "  - buster\n"), 12, "the farm knows: bullseye"),
    ("toolchain twice", ("  - bullseye\n", "  - bookworm\n"), 13, "listed twice (first at"),
    ("empty toolchains", (TOOLCHAINS_BLOCK, "toolchains: []\n"), 11, "expected a non-empty list"),
    (
        "toolchain entry key typo",
        ("    configure_vars:\n      CXX", "    configure_var:\n      CXX"),
        14,
        "did you mean 'configure_vars'?",
    ),
    (
        "unknown configure variable",
        ('    CFLAGS: "-O2 -g"', '    CFLAG: "-O2 -g"'),
        10,
        "did you mean 'CFLAGS'?",
    ),
    (
        "lowercase configure variable",
        ('    CFLAGS: "-O2 -g"', '    cc: "gcc"'),
        10,
        "unknown key",
    ),
    ("unquoted false", ('      CXX: "false"', "      CXX: false"), 15, 'CXX: "false"'),
    (
        "variable with a newline",
        ('    CFLAGS: "-O2 -g"', '    CFLAGS: "-O2\\nRUN id"'),
        10,
        "control character U+000A (newline)",
    ),
    (
        "variable with an escape",
        ('    CFLAGS: "-O2 -g"', '    CFLAGS: "-O2\\e[1m"'),
        10,
        "control character",
    ),
    (
        "flag with a newline",
        ("[--enable-bind-now]", '["--enable-bind-now\\nRUN id"]'),
        17,
        "control character",
    ),
    (
        "toolchain flag not an option",
        ("[--enable-bind-now]", "[CXX=false]"),
        17,
        "go under 'configure_vars'",
    ),
    (
        "toolchain flag owned by the farm",
        ("[--enable-bind-now]", "[--host=i686-linux-gnu]"),
        17,
        "set by the farm",
    ),
    ("toolchains not a list", (TOOLCHAINS_BLOCK, "toolchains: bookworm\n"), 11, "expected a list"),
]


@pytest.mark.parametrize(
    ("valid", "old_new", "line", "needle"),
    [(VALID, *m[1:]) for m in MALFORMED]
    + [(WITH_TOOLCHAINS, *m[1:]) for m in MALFORMED_TOOLCHAINS],
    ids=[m[0] for m in MALFORMED + MALFORMED_TOOLCHAINS],
)
def test_malformed_scenario_names_file_line_and_key(
    tmp_path: Path,
    valid: str,
    old_new: tuple[str, str],
    line: int,
    needle: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old, new = old_new
    assert old in valid, f"test is stale: {old!r} no longer in the valid scenario"
    path = write(tmp_path, valid.replace(old, new, 1))
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


# --- expectations that can never be met, cells that collide ------------------------------

UNMEETABLE = {
    "test": (
        "farm/no-such-family/*",
        "farm/rseq/[abc",
        "glibc/elf/tst-[dl",
        "farm/rseq/tst-rseq-nptl",
    ),
    "outcome": ("CRASH(SIGSEV)", "CRASH(SIGKIL)", "CRASH(SIG11)"),
    "variant": ("[baseline",),
}


@pytest.mark.parametrize(
    ("key", "value"), [(key, value) for key, values in UNMEETABLE.items() for value in values]
)
def test_an_expectation_that_can_never_be_met_is_refused_with_its_line(
    tmp_path: Path, key: str, value: str
) -> None:
    """Each expectation of the default scenario in turn gets the unmeetable value."""
    import yaml

    source = REPO / "scenarios" / "debian-2.36-backports.yaml"
    document = yaml.safe_load(source.read_text())
    assert document["expect"], "the default scenario has expectations to mutate"
    for index in range(len(document["expect"])):
        mutant = yaml.safe_load(source.read_text())
        mutant["expect"][index][key] = value
        path = tmp_path / "debian-2.36-backports.yaml"
        path.write_text(yaml.safe_dump(mutant))
        with pytest.raises(ScenarioError) as raised:
            load_scenario(path)
        assert str(raised.value).startswith(f"{path}:"), str(raised.value)
        assert f"expect[{index}].{key}" in str(raised.value)


def test_a_misspelled_signal_gets_the_real_name_suggested(tmp_path: Path) -> None:
    import yaml

    source = REPO / "scenarios" / "debian-2.36-backports.yaml"
    document = yaml.safe_load(source.read_text())
    document["expect"][0]["outcome"] = "CRASH(SIGSEV)"
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ScenarioError, match=r"perhaps you meant SIGSEGV"):
        load_scenario(path)


def test_real_signals_and_closed_globs_are_accepted(tmp_path: Path) -> None:
    import yaml

    source = REPO / "scenarios" / "debian-2.36-backports.yaml"
    document = yaml.safe_load(source.read_text())
    document["expect"][0].update(test="farm/[ru]*/*", outcome="CRASH(SIGBUS)")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(document))
    assert load_scenario(path).expectations[0].expected == "CRASH(SIGBUS)"


def test_two_scenarios_making_the_same_cell_id_are_refused_naming_both(tmp_path: Path) -> None:
    from farm.errors import UsageError
    from farm.plan.matrix import cells

    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "series").write_text("a.patch\n")
    common = (
        "glibc:\n  version: '2.36'\n  source:\n    tarball:\n"
        f"      url: https://ftp.gnu.org/gnu/glibc/glibc-2.36.tar.xz\n      sha256: {SHA}\n"
        "arches: [x86_64]\ntests:\n  glibc: [elf/tst-x]\n"
    )
    first = tmp_path / "a.yaml"
    first.write_text("name: a\nseries:\n  - name: x86_64-baseline\n    quilt: q\n" + common)
    second = tmp_path / "a-x86_64.yaml"
    second.write_text("name: a-x86_64\n" + common)
    scenarios = [load_scenario(first), load_scenario(second)]
    with pytest.raises(UsageError) as raised:
        cells(scenarios)
    message = str(raised.value)
    assert str(first) in message and str(second) in message
    assert "'a-x86_64-x86_64-baseline'" in message
    assert len(cells(scenarios[:1])) == 2 and len(cells(scenarios[1:])) == 1


# --- toolchains and configure variables ---------------------------------------------------


def test_toolchains_and_configure_variables_load_merged_per_toolchain(tmp_path: Path) -> None:
    from farm.plan.scenario import Configure
    from farm.plan.toolchain import toolchain

    scenario = load_scenario(write(tmp_path, WITH_TOOLCHAINS))
    assert [t.toolchain.name for t in scenario.build_toolchains] == ["bullseye", "bookworm"]
    assert scenario.has_toolchain_axis
    assert scenario.configure_for(toolchain("bullseye")) == Configure(
        flags=("--disable-werror",), variables=(("CFLAGS", "-O2 -g"),)
    )
    # The toolchain's own settings come after the scenario's and win over them.
    assert scenario.configure_for(toolchain("bookworm")) == Configure(
        flags=("--disable-werror", "--enable-bind-now"),
        variables=(("CFLAGS", "-O2"), ("CXX", "false")),
    )
    with pytest.raises(KeyError):
        scenario.configure_for(toolchain("trixie"))


def test_a_scenario_without_toolchains_builds_with_the_default_only(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID))
    assert [t.toolchain.name for t in scenario.build_toolchains] == ["bookworm"]
    assert not scenario.has_toolchain_axis
    assert scenario.toolchains == ()


def test_every_known_configure_variable_is_accepted(tmp_path: Path) -> None:
    from farm.plan.scenario import CONFIGURE_VARIABLES

    lines = "".join(f'    {name}: "x"\n' for name in CONFIGURE_VARIABLES)
    text = WITH_TOOLCHAINS.replace('    CFLAGS: "-O2 -g"\n', lines)
    scenario = load_scenario(write(tmp_path, text))
    assert dict(scenario.configure_vars) == dict.fromkeys(CONFIGURE_VARIABLES, "x")


@pytest.mark.parametrize(
    ("flag", "owned"),
    [
        ("--prefix=/usr", "--prefix"), ("--pre=/usr", "--prefix"), ("--p=/usr", "--prefix"),
        ("--pr", "--prefix"), ("--hos=i686-linux-gnu", "--host"), ("--ho", "--host"),
        ("--bu=x86_64-linux-gnu", "--build"), ("--buil", "--build"), ("--build", "--build"),
    ],
)  # fmt: skip
def test_the_farms_configure_options_are_refused_however_abbreviated(flag: str, owned: str) -> None:
    """autoconf's configure takes unique prefixes of its long options: --pre=/usr installs
    over /usr as --prefix=/usr would, and a bare --pr takes the next option as its value."""
    assert farm_configure_option(flag) == owned


@pytest.mark.parametrize(
    "flag",
    ["--program-prefix=x", "--h", "--b", "--bindir=/x", "--hostname", "--prefixes", "--enable-p"],
)
def test_other_configure_options_are_not_taken_for_the_farms(flag: str) -> None:
    assert farm_configure_option(flag) is None
