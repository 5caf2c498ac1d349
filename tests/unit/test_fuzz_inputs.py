"""Fuzzing the two parsers that read strangers' input: scenario files and patch series.

Whatever the bytes, the result is a value or a FarmError with a message: never another
exception (a traceback), and never a patch that writes outside the glibc tree.
Deterministic (derandomize) so that CI sees the same examples every run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farm import series
from farm.errors import FarmError
from farm.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIO_LINES = (REPO / "scenarios" / "debian-2.36-backports.yaml").read_text().splitlines()
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

yaml_values = st.one_of(
    st.sampled_from(["", "~", "[]", "{}", "[a, b]", "{a: 1}", "yes", "0x80", "1e999",
                     "!!binary AA==", "&a [*a]", "'unterminated", '"\\x00"', "- -", ": :"]),
    st.text(max_size=40),
)  # fmt: skip


def _load(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzzed.yaml"
    path.write_bytes(data)
    try:
        load_scenario(path)
    except FarmError as error:
        assert str(error).strip(), "an error must say something"


@FUZZ
@given(data=st.binary(max_size=2000))
def test_scenario_loader_on_arbitrary_bytes(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    _load(tmp_path_factory.mktemp("s"), data)


@FUZZ
@given(
    line=st.integers(min_value=0, max_value=len(SCENARIO_LINES) - 1),
    action=st.sampled_from(["delete", "duplicate", "value", "indent", "truncate"]),
    value=yaml_values,
)
def test_scenario_loader_on_mutations_of_a_real_scenario(
    tmp_path_factory: pytest.TempPathFactory, line: int, action: str, value: str
) -> None:
    lines = list(SCENARIO_LINES)
    if action == "delete":
        del lines[line]
    elif action == "duplicate":
        lines.insert(line, lines[line])
    elif action == "value" and ":" in lines[line]:
        key = lines[line].split(":", 1)[0]
        lines[line] = f"{key}: {value}"
    elif action == "indent":
        lines[line] = "   " + lines[line]
    else:
        lines = [*lines[:line], lines[line][: len(lines[line]) // 2]]
    _load(tmp_path_factory.mktemp("s"), ("\n".join(lines) + "\n").encode())


paths = st.one_of(
    st.sampled_from(["elf/dl-open.c", "../../etc/passwd", "/etc/passwd", "elf/../../x", "/dev/null",
                     "a b", "elf/", ".", "..", ""]),
    st.text(alphabet="abc./-_\\\n", max_size=20),
)  # fmt: skip


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    """An mbox of 1-3 mails whose headers, subjects and diffs are drawn from odd pieces."""
    total = draw(st.integers(min_value=1, max_value=3))
    parts = []
    for number in range(1, total + 1):
        subject = draw(
            st.sampled_from(
                [f"[PATCH {number}/{total}] elf: x", "no patch tag", "", "=?utf-8?q?=FF?="]
            )
        )
        old, new = draw(paths), draw(paths)
        hunk = draw(
            st.sampled_from(["@@ -1 +1 @@\n-a\n+b\n", "@@ -1,0 +1 @@\n+x\n", "@@ garbage\n", ""])
        )
        body = draw(st.sampled_from(["", "Signed-off-by: A <a@b>\n", "\x00\xff"]))
        parts.append(
            f"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
            f"From: A <a@example.org>\nSubject: {subject}\nMessage-ID: <{number}@x>\n\n"
            f"{body}---\ndiff --git a/{old} b/{new}\n--- a/{old}\n+++ b/{new}\n{hunk}"
        )
    return "".join(parts).encode("utf-8", "surrogateescape") + draw(st.binary(max_size=20))


def _parsed_paths_stay_inside(patches: list[series.Patch]) -> None:
    for patch in patches:
        for line in patch.content.decode("utf-8", "replace").splitlines():
            if line.startswith(("--- ", "+++ ")):
                target = line[4:].split("\t")[0].strip()
                if target == "/dev/null":
                    continue
                # What patch -p1 and git am write to: the path without its first component.
                stripped = "/" in target and not target.startswith("/")
                relative = target.split("/", 1)[1] if stripped else target
                assert relative.strip(), line
                assert not relative.startswith("/") and ".." not in relative.split("/"), line


@FUZZ
@given(data=st.one_of(mails(), st.binary(max_size=3000)))
def test_mbox_parser_refuses_cleanly_and_never_escapes_the_tree(data: bytes) -> None:
    try:
        patches = series.patches_from_mbox(data, what="fuzzed.mbox")
    except FarmError as error:
        assert str(error).strip()
        return
    _parsed_paths_stay_inside(patches)


@FUZZ
@given(data=st.one_of(mails(), st.binary(max_size=3000)))
def test_single_diff_parser_refuses_cleanly_and_never_escapes_the_tree(data: bytes) -> None:
    try:
        patches = series.single_diff(data, name="fuzzed.diff")
    except FarmError as error:
        assert str(error).strip()
        return
    _parsed_paths_stay_inside(patches)


@FUZZ
@given(text=st.text(max_size=300), names=st.lists(paths, max_size=4))
def test_quilt_series_parser_refuses_cleanly(text: str, names: list[str]) -> None:
    series_text = text + "\n" + "\n".join(names)
    try:
        listed = series.quilt_series_names(series_text, what="fuzzed/series")
    except FarmError as error:
        assert str(error).strip()
        return
    for name in listed:
        assert not name.startswith("/") and ".." not in Path(name).parts, name
