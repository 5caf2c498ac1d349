"""Hostile patch series, judged by the real tools that would apply them.

A mode line is refused or harmless according to what ``git apply`` and GNU ``patch``
(both on the host, as in the image) actually do with it, not according to a rule written
again here: every spelling the series check accepts is applied by both tools in a scratch
repository, and no symbolic link may come out. And the diff parser must read a 1 MB line
in one pass: it is run in a subprocess that is killed after 10 s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farm.errors import SeriesError
from farm.inputs import series

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("patch") is None,
    reason="needs git and GNU patch, the tools the image applies series with",
)

#: Mode spellings seen to make links with one tool or the other, plus the exact forms.
MODES = (
    "120000", "0120000", "00120000", "+120000", " 120000", "120000 ", "120000\r", "120777",
    "120644", "20120000", "160000", "100644", "100755", "0100644", "1200000",
)  # fmt: skip


def _patches(mode: str, indent: str) -> dict[str, str]:
    """Ways to give ``mode`` to a file: a new file, a mode change, the index line."""
    new_file = (
        f"diff --git a/link b/link\nnew file mode {mode}\nindex 0000000..1111111\n"
        "--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+/etc\n\\ No newline at end of file\n"
    )
    mode_change = f"diff --git a/existing b/existing\nold mode 100644\nnew mode {mode}\n"
    index_line = (
        "diff --git a/link b/link\nnew file mode 100644\n"
        f"index 0000000..1111111 {mode}\n--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+/etc\n"
        "\\ No newline at end of file\n"
    )
    texts = {"new-file": new_file, "mode-change": mode_change, "index-line": index_line}
    return {
        kind: "".join(indent + line for line in text.splitlines(keepends=True))
        for kind, text in texts.items()
    }


def _links_made(text: str, tmp_path: Path) -> list[str]:
    """Apply ``text`` with git apply and with patch -p1; which of them made a symlink."""
    made = []
    for tool in ("git", "patch"):
        work = tmp_path / tool
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        subprocess.run(["git", "init", "-q", str(work)], check=True)
        (work / "existing").write_text("a\n")
        (work / "p.diff").write_text(text)
        argv = (
            ["git", "apply", "p.diff"]
            if tool == "git"
            else ["patch", "-p1", "--batch", "--forward", "-i", "p.diff"]
        )
        subprocess.run(argv, cwd=work, capture_output=True, timeout=30, check=False)
        if any(path.is_symlink() for path in work.iterdir()):
            made.append(tool)
    return made


def _accepted(text: str) -> bool:
    try:
        series.single_diff(text.encode(), name="hostile.diff")
    except SeriesError:
        return False
    return True


@pytest.mark.parametrize("indent", ["", "  ", "X", "\t"], ids=["flush", "spaces", "X", "tab"])
@pytest.mark.parametrize("mode", MODES, ids=[repr(m) for m in MODES])
def test_no_accepted_mode_line_makes_a_symlink(mode: str, indent: str, tmp_path: Path) -> None:
    for kind, text in _patches(mode, indent).items():
        if _accepted(text):
            assert _links_made(text, tmp_path) == [], f"{kind} with mode {mode!r} made a link"


def test_the_exact_modes_git_writes_are_accepted() -> None:
    for mode in ("100644", "100755"):
        assert all(_accepted(text) for text in _patches(mode, "").values())


def test_a_symlink_mode_line_is_refused_with_the_line_and_why() -> None:
    with pytest.raises(SeriesError) as raised:
        series.single_diff(_patches("0120000", "")["new-file"].encode(), name="x.diff")
    message = str(raised.value)
    assert "x.diff: patch 1: 'new file mode 0120000'" in message
    assert "symbolic link" in message


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(mode=st.text(alphabet="0121467 +\t\rx", min_size=1, max_size=9))
def test_no_generated_mode_spelling_slips_through(mode: str, tmp_path: Path) -> None:
    for text in _patches(mode, "").values():
        if _accepted(text):
            assert _links_made(text, tmp_path) == []


#: Header starts whose path pattern once backtracked on a long line (``*** `` took minutes).
LONG_LINE_HEADS = ("*** ", "--- ", "+++ ", "Index: ", "diff --git ", "rename from ", '--- "')


@pytest.mark.parametrize("head", LONG_LINE_HEADS)
def test_a_one_megabyte_line_is_parsed_in_one_pass(head: str) -> None:
    """A header start followed by 1 MB of path-like bytes, parsed in a child process
    killed after 10 s (the old pattern needed minutes for 0.2 MB)."""
    program = (
        "from farm.inputs import series\n"
        "from farm.errors import SeriesError\n"
        f"head = {head!r}\n"
        "for filler in ('a', '\\\\', '\"', '['):\n"
        "    body = ('diff --git a/x b/x\\n--- a/x\\n+++ b/x\\n@@ -1 +1 @@\\n-a\\n+b\\n'\n"
        "            + head + filler * (1 << 20) + '\\n').encode()\n"
        "    for parse in (lambda: series.single_diff(body, name='x'),\n"
        "                  lambda: series.patches_from_mbox(b'Subject: [PATCH] x\\n\\n' + body,"
        " what='m')):\n"
        "        try:\n"
        "            parse()\n"
        "        except SeriesError:\n"
        "            pass\n"
        "print('done')\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=10, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "done"
