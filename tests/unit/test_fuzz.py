"""Property tests for the two parsers that read strangers' input: scenarios and patch series.

Whatever the input (arbitrary bytes, the real scenarios mutated line by line, value by value
and byte by byte, mboxes built from a grammar of mails, diffs and quilt series files), the
result is a value or a FarmError whose message names the input: never another exception,
which the CLI would show as a traceback. And a series the parser accepts never writes
outside the glibc tree: the grammar records which paths each mail would write (as
``patch -p1`` and ``git am`` would), independently of the parser, and the test checks the
parser against that record, in both directions for well-formed series.

Deterministic (``derandomize``), so CI sees the same examples on every run.
"""

from __future__ import annotations

import base64
import functools
import quopri
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farm import cases
from farm.errors import FarmError, ScenarioError
from farm.inputs import series
from farm.plan.scenario import NAME_RE, Scenario, load_scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIO_FILES = sorted(
    [*(REPO / "scenarios").glob("*.yaml"), *(REPO / "tests/fixtures/scenarios").glob("*.yaml")]
)
MBOX_FILES = sorted((REPO / "tests/fixtures/series").glob("*.mbox"))
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A scenarios/ directory beside the fixture series, so that the fixture scenario's
    ``quilt: ../series/harmless`` still resolves and mutations reach the later checks.

    The case library is read once: each load validates its ``cases`` globs against it.
    """
    root = tmp_path_factory.mktemp("fuzz")
    (root / "scenarios").mkdir()
    shutil.copytree(REPO / "tests/fixtures/series", root / "series")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cases, "load_cases", functools.cache(cases.load_cases))
        yield root / "scenarios"


def load(directory: Path, data: bytes) -> Scenario | None:
    """Load ``data`` as a scenario file: a Scenario, or None after a well-formed refusal."""
    path = directory / "fuzzed.yaml"
    path.write_bytes(data)
    try:
        scenario = load_scenario(path)
    except FarmError as error:
        message = str(error)
        assert isinstance(error, ScenarioError), message
        assert message.startswith(f"{path}:"), message
        assert len(message) < 2000, message[:200]
        message.encode("utf-8")  # the CLI prints it: it must be printable
        return None
    assert NAME_RE.fullmatch(scenario.name) and scenario.arches and scenario.variants
    return scenario


def test_every_real_scenario_loads_in_the_workspace(workspace: Path) -> None:
    """The mutations start from files that load, so every check stays reachable."""
    for path in SCENARIO_FILES:
        assert load(workspace, path.read_bytes()) is not None, path


# --- the scenario loader ------------------------------------------------------------------

TRICKY_YAML = [
    "", "~", "null", "[]", "{}", "[a, b]", "{a: 1}", "yes", "off", "0x80", "0o17", "1e999",
    "-.inf", ".nan", "1_000", "1:30", "2024-02-30", "2024-01-01 10:00:00", "!!binary AA==",
    "!!bool maybe", "!!int abc", "!!float x", "!!str", "!custom 1", "!!python/object:os.system",
    "&a [*a]", "*undefined", "'unterminated", '"unterminated', '"\\0"', '"\\ud800"', '"\\x07"',
    '"\\U0010ffff"', "- -", ": :", "? a", "<<: {a: 1}", "|\n  block", ">-", "%YAML 1.1",
    "---", "...", "#", "@reserved", "`reserved", "\t", "a\tb", "http://[::1", "https://x:99999/",
    "../../etc/passwd", "/etc/passwd", "9" * 5000, "[" * 600 + "]" * 600, "- " * 600 + "x",
    "{a: " * 300 + "1" + "}" * 300,
    "[&a [a,a,a,a,a,a,a,a], &b [*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b]]",
]  # fmt: skip
SCHEMA_KEYS = [
    "name", "description", "glibc", "version", "source", "prepare", "configure", "arches",
    "series", "stacked", "tests", "cases", "expect", "flaky", "timeout_factor", "debian",
    "tarball", "git", "path", "url", "sha256", "dsc_sha256", "package", "archive", "suite",
    "quilt", "mbox", "patch", "message_id", "id", "range", "format", "summary", "variant",
    "test", "outcome", "arch", "reason", "expires", "ref",
]  # fmt: skip
yaml_text = st.one_of(st.sampled_from(TRICKY_YAML), st.text(max_size=40))
huge_text = st.builds(
    lambda char, size: char * size,
    st.sampled_from(["x", "é", "\\", "'", "a: "]),
    st.sampled_from([1000, 100_000, 600_000, 1_100_000]),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers() | st.sampled_from([2**70, -(2**70), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["\x00", "\ud800", "x86_64", "i686", "2.36", "--enable-x", "elf/tst-*",
                     "rseq/*", "baseline", "stacked", "PASS", "CRASH(SIGSEGV)", "2030-01-01",
                     "a" * 65, "ab@cd", "a..b", "0" * 64, "../series/harmless"]),
)  # fmt: skip
python_values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(SCHEMA_KEYS) | st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def line_mutations(draw: st.DrawFn) -> bytes:
    """A real scenario with a few lines deleted, duplicated, moved, re-indented, cut,
    replaced, or with a value swapped for odd YAML."""
    lines = draw(st.sampled_from(SCENARIO_FILES)).read_text(encoding="utf-8").splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        line = lines[index]
        action = draw(
            st.sampled_from(["delete", "duplicate", "move", "indent", "dedent", "cut", "line",
                             "value", "value", "value", "huge"])
        )  # fmt: skip
        if action == "delete":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, line)
        elif action == "move":
            lines.insert(draw(st.integers(min_value=0, max_value=len(lines))), lines.pop(index))
        elif action == "indent":
            lines[index] = " " * draw(st.integers(min_value=1, max_value=4)) + line
        elif action == "dedent":
            lines[index] = line.lstrip()
        elif action == "cut":
            lines[index] = line[: draw(st.integers(min_value=0, max_value=len(line)))]
        elif action == "line":
            lines[index] = draw(yaml_text)
        else:
            head, colon, _ = line.partition(": ")
            if not colon:
                head = line.rstrip(":").rstrip() if line.rstrip().endswith(":") else line
            value = draw(huge_text) if action == "huge" else draw(yaml_text)
            lines[index] = f"{head}: {value}"
        if not lines:
            break
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


def _replace_somewhere(draw: st.DrawFn, document: Any, value: Any) -> Any:
    """``document`` with one node (the root, or one reached by drawn keys) set to ``value``."""
    if not isinstance(document, dict | list) or not document or draw(st.booleans()):
        if isinstance(document, dict) and draw(st.booleans()):
            return {**document, draw(st.sampled_from(SCHEMA_KEYS)): value}  # add or replace
        return value if draw(st.integers(min_value=0, max_value=3)) == 0 else document
    if isinstance(document, dict):
        key = draw(st.sampled_from(sorted(document)))
        return {**document, key: _replace_somewhere(draw, document[key], value)}
    index = draw(st.integers(min_value=0, max_value=len(document) - 1))
    return [*document[:index], _replace_somewhere(draw, document[index], value), *document[index + 1 :]]  # fmt: skip  # noqa: E501


@st.composite
def value_mutations(draw: st.DrawFn) -> bytes:
    """A real scenario, parsed, with a random YAML value put somewhere in its tree: the
    structure stays YAML, so the mutation reaches the validation of that very key."""
    document = yaml.safe_load(draw(st.sampled_from(SCENARIO_FILES)).read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        document = _replace_somewhere(draw, document, draw(python_values))
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode()


@st.composite
def byte_mutations(draw: st.DrawFn) -> bytes:
    """A real scenario with bytes inserted, flipped or removed: NUL, invalid UTF-8, a BOM,
    YAML indicators, control characters."""
    data = bytearray(draw(st.sampled_from(SCENARIO_FILES)).read_bytes())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(data)))
        piece = draw(
            st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x07",
                             b"\r", b"\t", b":", b"-", b"[", b"{", b"&", b"*", b"!", b"%", b"#",
                             b"'", b'"', b"\n"])
            | st.binary(min_size=1, max_size=4)
        )  # fmt: skip
        if draw(st.booleans()):
            data[at:at] = piece
        else:
            data[at : at + len(piece)] = piece
    return bytes(data)


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    """A real scenario with one value nested hundreds or thousands of levels deep."""
    lines = draw(st.sampled_from(SCENARIO_FILES)).read_text(encoding="utf-8").splitlines()
    depth = draw(st.sampled_from([10, 300, 600, 2500]))
    style = draw(st.sampled_from(["flow-list", "flow-map", "block-list", "block-map"]))
    if style == "flow-list":  # PyYAML's scanner slows down past ~600 open brackets
        value = "[" * min(depth, 600) + "x" + "]" * min(depth, 600)
    elif style == "flow-map":
        value = "{a: " * depth + "x" + "}" * depth
    elif style == "block-list":
        value = "\n  " + "- " * depth + "x"
    else:  # indentation grows with depth: 400 levels are 80 KB
        value = "\n" + "".join(" " * (level + 1) + "a:\n" for level in range(min(depth, 400)))
    index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    head = lines[index].partition(":")[0] or "name"
    lines[index] = f"{head}: {value}"
    return ("\n".join(lines) + "\n").encode()


@FUZZ
@given(data=st.binary(max_size=3000) | st.text(max_size=1500).map(str.encode))
def test_scenario_loader_on_arbitrary_input(workspace: Path, data: bytes) -> None:
    load(workspace, data)


@FUZZ
@given(data=line_mutations())
def test_scenario_loader_on_line_mutations(workspace: Path, data: bytes) -> None:
    load(workspace, data)


@FUZZ
@given(data=value_mutations())
def test_scenario_loader_on_random_values_in_real_scenarios(workspace: Path, data: bytes) -> None:
    load(workspace, data)


@FUZZ
@given(data=byte_mutations())
def test_scenario_loader_on_byte_mutations(workspace: Path, data: bytes) -> None:
    load(workspace, data)


@settings(FUZZ, max_examples=20)
@given(data=deep_nesting())
def test_scenario_loader_on_deep_nesting(workspace: Path, data: bytes) -> None:
    load(workspace, data)


# --- the series parsers ---------------------------------------------------------------------

SAFE_PATHS = [
    b"elf/dl-open.c",
    b"nptl/pthread_create.c",
    b"sysdeps/unix/sysv/linux/rseq.h",
    b"Makeconfig",
    b"elf/./dl-load.c",
    b"manual/dynlink.texi",
    b"elf/tst-x y.c",
]
UNSAFE_PATHS = [b"../x", b"../../etc/passwd", b"elf/../../x", b"/etc/passwd", b"", b"/",
                b"elf/caf\xe9.c", b"\xff", b"..", b"elf/.."]  # fmt: skip
COMPONENTS = [b"elf", b"..", b".", b"", b"x.c", b"caf\xc3\xa9", b"caf\xe9", b"nptl", b"-"]


def is_safe(path: bytes) -> bool:
    """What the farm must allow ``patch -p1`` to write: a relative UTF-8 path that does not
    climb. Written independently of ``farm.inputs.series``, as the oracle."""
    try:
        path.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(path.strip()) and not path.startswith(b"/") and b".." not in path.split(b"/")


paths = st.one_of(
    st.sampled_from(SAFE_PATHS),
    st.sampled_from(UNSAFE_PATHS),
    st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=4).map(b"/".join),
)


def quoted(path: bytes, draw: st.DrawFn) -> bytes:
    """``path`` as git writes it: bare, or C-quoted with octal escapes (always when it has
    bytes git would escape, and sometimes anyway, escaping dots too)."""
    odd = any(byte > 126 or byte < 33 or byte in b'"\\' for byte in path)
    if not odd and draw(st.integers(min_value=0, max_value=3)) != 0:
        return path
    escape_dots = draw(st.booleans())
    out = b"".join(
        b"\\%03o" % byte if byte > 126 or byte < 33 or (escape_dots and byte == ord(".")) else
        b"\\" + bytes([byte]) if byte in b'"\\' else bytes([byte])
        for byte in path
    )  # fmt: skip
    return b'"' + out + b'"'


@dataclass
class FileDiff:
    text: bytes
    written: list[bytes] = field(default_factory=list)  # paths as -p1 / git apply see them
    symlink: bool = False


DIFF_KINDS = ("modify", "modify", "new", "delete", "rename", "symlink")


@st.composite
def file_diffs(
    draw: st.DrawFn,
    path_strategy: st.SearchStrategy[bytes] = paths,
    kinds: tuple[str, ...] = DIFF_KINDS,
) -> FileDiff:
    """One file's git diff: modified, new, deleted, renamed, or a new symlink."""
    old, new = draw(path_strategy), draw(path_strategy)
    kind = draw(st.sampled_from(kinds))
    if kind in ("modify", "delete", "new", "symlink"):
        new = old
    a, b = quoted(b"a/" + old, draw), quoted(b"b/" + new, draw)
    extra, minus, plus = b"", a, b
    written = [old, new]
    if kind == "new":
        extra, minus = b"new file mode 100644\n", b"/dev/null"
    elif kind == "symlink":
        extra, minus = b"new file mode 120000\n", b"/dev/null"
    elif kind == "delete":
        extra, plus = b"deleted file mode 100644\n", b"/dev/null"
    elif kind == "rename":
        extra = b"similarity index 90%\nrename from " + quoted(old, draw)
        extra += b"\nrename to " + quoted(new, draw) + b"\n"
    text = b"diff --git " + a + b" " + b + b"\n" + extra + b"index 1111111..2222222 100644\n"
    text += b"--- " + minus + b"\n+++ " + plus + b"\n@@ -1 +1 @@\n-/* a */\n+/* b */\n"
    return FileDiff(text, written, symlink=kind == "symlink")


@dataclass
class Mail:
    text: bytes
    safe: bool  # would git am write only inside the tree?


COMMIT_LINES = [b"elf: Reword a comment.", b"", b"Signed-off-by: A <a@example.org>",
                b"--- a note on the change", b"*** warning", b"Index: entry", b"Caf\xc3\xa9.",
                b"Caf\xe9 (latin-1).", b"=?utf-8?q?x?=", b"> From a quoted mail"]  # fmt: skip
SUBJECTS = ["[PATCH {n}/{m}] elf: change {n}", "[PATCH v{v} {n}/{m}] elf: change {n}",
            "[RFC PATCH v{v} {n}/{m}] elf: change {n}", "Re: [PATCH {n}/{m}] elf: change {n}",
            "[PATCH] elf: change", "no tag", "", "[PATCH 99999999/99999999] x",
            "[PATCH {n}/" + "9" * 5000 + "] x", "=?utf-8?q?=FF=FE?=", "[PATCH v0 0/0]"]  # fmt: skip


def render_mail(
    *, number: int, subject: str, body: bytes, encoding: str, extra_headers: bytes = b""
) -> bytes:
    if encoding == "base64":
        body = base64.encodebytes(body)
    elif encoding == "quoted-printable":
        body = quopri.encodestring(body)
    headers = (
        b"From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
        b"From: A U Thor <a@example.org>\nSubject: " + subject.encode() + b"\n"
        b"Message-ID: <" + str(number).encode() + b"@fuzz>\n" + extra_headers
    )
    if encoding != "8bit":
        headers += b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        headers += b"Content-Transfer-Encoding: " + encoding.encode() + b"\n"
    return headers + b"\n" + body + b"\n"


@st.composite
def mails(draw: st.DrawFn, number: int, total: int, *, well_formed: bool) -> Mail:
    """One mail of a series; ``well_formed`` keeps to what real series look like."""
    diff = (
        file_diffs(st.sampled_from(SAFE_PATHS), kinds=DIFF_KINDS[:-1])
        if well_formed
        else file_diffs()
    )
    diffs = draw(st.lists(diff, min_size=1, max_size=3))
    message = b"\n".join(draw(st.lists(st.sampled_from(COMMIT_LINES), max_size=4)))
    body = message + b"\n---\n" + b"".join(d.text for d in diffs) + b"-- \n2.39.5\n"
    if well_formed:
        subject = f"[PATCH v2 {number}/{total}] elf: change {number}"
    else:
        subject = draw(st.sampled_from(SUBJECTS)).format(n=number, m=total, v=2)
        body = draw(st.sampled_from([body, body, body + b"\x00", b"\xff\xfe" + body, b""]))
    encoding = draw(st.sampled_from(["8bit", "8bit", "base64", "quoted-printable"]))
    safe = all(is_safe(path) for d in diffs for path in d.written) and not any(
        d.symlink for d in diffs
    )
    return Mail(render_mail(number=number, subject=subject, body=body, encoding=encoding), safe)


@st.composite
def mboxes(draw: st.DrawFn, *, well_formed: bool = False) -> tuple[bytes, dict[str, Mail]]:
    """An mbox of 1-4 mails in any order, with a cover letter, a reply and an older
    revision thrown in; returns it with the series' mails by Message-ID (the older
    revision and the reply, which carry an escaping diff, are under 90@ and 91@)."""
    total = draw(st.integers(min_value=1, max_value=4))
    by_id = {f"{n}@fuzz": draw(mails(n, total, well_formed=well_formed)) for n in range(1, total + 1)}  # fmt: skip  # noqa: E501
    parts = [mail.text for mail in by_id.values()]
    if draw(st.booleans()):  # a cover letter: no diff, number 0
        parts.append(render_mail(number=0, subject=f"[PATCH v2 0/{total}] cover",
                                 body=b"The series.\n", encoding="8bit"))  # fmt: skip
    if draw(st.booleans()):  # an older revision and a reply, each quoting an escaping diff
        evil = next(iter(draw(file_diffs(st.just(b"../../etc/x"))).text.splitlines(True)))
        parts.append(render_mail(number=90, subject=f"[PATCH v1 1/{total}] elf: old",
                                 body=b"Old.\n---\n" + evil + draw(file_diffs()).text,
                                 encoding="8bit"))  # fmt: skip
        parts.append(render_mail(number=91, subject=f"Re: [PATCH v2 1/{total}] elf: change 1",
                                 body=b"Comment.\n" + draw(file_diffs()).text,
                                 encoding="8bit"))  # fmt: skip
    order = draw(st.permutations(parts))
    trailer = draw(st.sampled_from([b"", b"\n\n"] if well_formed else [b"", b"\n\n", b"junk"]))
    return b"".join(order) + trailer, by_id


def message_id(patch: series.Patch) -> str:
    for line in patch.content.decode("utf-8", "replace").splitlines():
        if line.startswith("Message-ID: <"):
            return line.removeprefix("Message-ID: <").rstrip(">")
    raise AssertionError(f"patch {patch.number} has no Message-ID")


def parse_or_refuse(parse: Any, data: Any, *, what: str) -> list[series.Patch] | None:
    try:
        patches: list[series.Patch] = parse(data)
    except FarmError as error:
        message = str(error)
        assert message.startswith(what), message
        assert len(message) < 2000, message[:200]
        message.encode("utf-8")
        return None
    return patches


@FUZZ
@given(case=mboxes())
def test_an_mbox_is_parsed_or_refused_and_never_escapes_the_tree(
    case: tuple[bytes, dict[str, Mail]],
) -> None:
    data, by_id = case
    patches = parse_or_refuse(
        lambda d: series.patches_from_mbox(d, what="fuzz.mbox"), data, what="fuzz.mbox"
    )
    for patch in patches or []:
        mail = by_id.get(message_id(patch))
        assert mail is not None and mail.safe, patch.content[:2000]


@FUZZ
@given(case=mboxes(well_formed=True))
def test_a_well_formed_series_is_accepted_in_order(case: tuple[bytes, dict[str, Mail]]) -> None:
    """However it is encoded, quoted or ordered, a series that writes only inside the tree
    is accepted: the checks above are not met by refusing what they cannot read."""
    data, by_id = case
    patches = series.patches_from_mbox(data, what="fuzz.mbox")
    assert [message_id(patch) for patch in patches] == list(by_id)
    assert [patch.subject for patch in patches] == [f"elf: change {n}" for n in range(1, len(by_id) + 1)]  # fmt: skip  # noqa: E501


@FUZZ
@given(diffs=st.lists(file_diffs(), min_size=1, max_size=3), prefix=st.sampled_from(
    [b"", b"Subject: [PATCH] elf: x\n\n", b"A description.\n\n", b"\xef\xbb\xbf"]))  # fmt: skip
def test_a_single_diff_is_accepted_exactly_when_it_stays_inside(
    diffs: list[FileDiff], prefix: bytes
) -> None:
    data = prefix + b"".join(diff.text for diff in diffs)
    safe = all(is_safe(p) for d in diffs for p in d.written) and not any(d.symlink for d in diffs)
    patches = parse_or_refuse(
        lambda d: series.single_diff(d, name="fuzz.diff"), data, what="fuzz.diff"
    )
    assert (patches is not None) == safe, data


@FUZZ
@given(
    data=st.binary(max_size=4000)
    | st.sampled_from(MBOX_FILES)
    .map(Path.read_bytes)
    .flatmap(
        lambda mbox: st.builds(
            lambda at, piece: mbox[:at] + piece + mbox[at:],
            st.integers(min_value=0, max_value=len(mbox)),
            st.sampled_from([b"\x00", b"../", b"/", b"\n", b"From x\n", b"\xff", b'"', b"\\"])
            | st.binary(max_size=8),
        )
    )
)
def test_the_series_parsers_on_arbitrary_and_mutated_bytes(data: bytes) -> None:
    parse_or_refuse(lambda d: series.patches_from_mbox(d, what="m.mbox"), data, what="m.mbox")
    parse_or_refuse(lambda d: series.single_diff(d, name="m.diff"), data, what="m.diff")


quilt_lines = st.one_of(
    paths.map(lambda path: path.decode("utf-8", "replace")),
    st.sampled_from(["# a comment", "", "   ", "x.patch -p1", "x.patch -p0", "x.patch -R",
                     "x.patch #-p1", "missing.patch", "\x00", "x.patch\r"]),
    st.text(max_size=20),
)  # fmt: skip


@FUZZ
@given(lines=st.lists(quilt_lines, max_size=6), contents=st.lists(file_diffs(), max_size=6))
def test_a_quilt_series_is_parsed_or_refused_and_names_only_files_inside(
    lines: list[str], contents: list[FileDiff]
) -> None:
    text = "\n".join(lines)
    names = [line.split("#", 1)[0].split() for line in lines]
    read = {fields[0]: diff.text for fields, diff in zip(names, contents, strict=False) if fields}
    patches = parse_or_refuse(
        lambda t: series.patches_from_quilt(series.quilt_series_names(t, what="q"), read, what="q"),
        text,
        what="q",
    )
    if patches is None:
        return
    listed = series.quilt_series_names(text, what="q")
    assert len(patches) == len(listed) > 0
    for name in listed:
        assert is_safe(name.encode()), name
    by_content = {diff.text: diff for diff in contents}
    for patch in patches:
        diff = by_content[patch.content]
        assert not diff.symlink and all(is_safe(path) for path in diff.written)


# --- what the fuzzer found, kept as plain regressions ----------------------------------------

BASE = """\
name: found
glibc:
  version: "2.36"
  source:
    tarball:
      url: https://example.org/glibc-2.36.tar.gz
arches: [x86_64]
tests:
  glibc: [elf/tst-x]
"""
FOUND = {
    "explicit-bool-tag": ("stacked: !!bool '[a'\n", "stacked: expected true or false"),
    "bool-that-is-not": ("stacked: !!bool nonsense\n", "expected true or false, got 'nonsense'"),
    "explicit-int-tag": ("timeout_factor: !!int abc\n", "expected a number, got 'abc'"),
    "infinite-factor": ("timeout_factor: .inf\n", "expected a finite number"),
    "huge-factor": ("timeout_factor: " + "9" * 400 + "\n", "expected a number"),
    "factor-over-max": ("timeout_factor: 1000.0\n", "expected a number <= 100"),
    "nul-escape": ('description: "a\\0b"\n', "description: contains a NUL character"),
    "surrogate-escape": ('description: "\\ud800"\n', "a lone UTF-16 surrogate"),
    "long-path": ("series: [{name: a, mbox: " + "a" * 5000 + "}]\n", "series[0].mbox: cannot"),
    "control-char": ("description: a\x07b\n", ":10: invalid YAML: unacceptable character #x0007"),
    "merge-key": ("<<: {a: 1}\n", "a YAML merge key"),
    "date-mapping": (
        "flaky: [{test: a, reason: b, expires: {a: 1}}]\n",
        "flaky[0].expires: expected a date as YYYY-MM-DD, got a mapping",
    ),
    "ipv6-url": (
        "series: [{name: a, url: {url: 'http://[x/p.mbox'}}]\n",
        "malformed URL 'http://[x/p.mbox'",
    ),
    "port-url": (
        "series: [{name: a, url: {url: 'https://x:99999/p.mbox'}}]\n",
        "malformed URL",
    ),
    "long-unknown-key": ("? " + "x" * 3000 + "\n: 1\n", "[... "),
}


@pytest.mark.parametrize("case", FOUND, ids=list(FOUND))
def test_what_the_fuzzer_found_is_a_located_error(tmp_path: Path, case: str) -> None:
    addition, expected = FOUND[case]
    path = tmp_path / "found.yaml"
    path.write_text(BASE + addition, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}:") and expected in str(caught.value)


def test_a_symlink_loop_as_a_series_path_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    path = tmp_path / "found.yaml"
    path.write_text(BASE + "series: [{name: a, mbox: loop/x.mbox}]\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r":10: series\[0\]\.mbox: cannot resolve 'loop/"):
        load_scenario(path)


def test_a_device_as_a_scenario_is_refused_without_reading_it() -> None:
    with pytest.raises(ScenarioError, match=r"^/dev/zero: not a regular file"):
        load_scenario(Path("/dev/zero"))
