"""Patch series that are empty, binary, huge, not UTF-8 or that reach outside their tree.

Each is refused before anything is built, with a FarmError whose message names the file
and says what is wrong. The checks run where the farm meets the input: ``Fetcher.patches``
for what lives on the file system (quilt directories, symlinks, sizes, gzip), the
``farm.inputs.series`` functions for what is in the bytes. A few well-formed series are accepted,
so that none of these checks is satisfied by refusing everything.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import os
import quopri
import subprocess
from pathlib import Path

import pytest

from farm.containers.engine import BuildSpec, _build_failure
from farm.errors import FarmError, SeriesError, SourceError
from farm.inputs import series
from farm.inputs.sources import Cache, Fetcher
from farm.judging import gate
from farm.plan import render
from farm.plan.scenario import (
    DiffPatch,
    MboxPatches,
    PatchFormat,
    PatchSource,
    QuiltPatches,
    UrlPatches,
    load_scenario,
)
from farm.report.common import TAIL_LINES
from farm.report.markdown import render_markdown
from farm.results import Outcome, TestResult
from tests.unit.test_try_series import commit, git

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "series"

SCENARIO = """\
name: bad-input
glibc:
  version: "2.36"
  source:
    path: glibc
arches: [x86_64]
tests:
  glibc: [elf/tst-dlmopen1]
"""


def git_diff(path: str = "elf/dl-open.c", *, new: str | None = None, extra: str = "") -> str:
    """A one-line git diff of ``path`` (renamed to ``new``), with extended headers ``extra``."""
    new = new or path
    return (
        f"diff --git a/{path} b/{new}\n{extra}index 1111111..2222222 100644\n"
        f"--- a/{path}\n+++ b/{new}\n@@ -1 +1 @@\n-/* old */\n+/* new */\n"
    )


def mail(body: str, *, subject: str = "[PATCH] elf: Reword a comment", headers: str = "") -> str:
    return (
        "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
        f"From: A U Thor <author@example.org>\nSubject: {subject}\n{headers}\n"
        f"A change.\n\nSigned-off-by: A U Thor <author@example.org>\n---\n{body}-- \n2.39.5\n\n"
    )


@pytest.fixture
def fetcher(tmp_path: Path) -> Fetcher:
    (tmp_path / "glibc").mkdir()
    scenario_path = tmp_path / "bad-input.yaml"
    scenario_path.write_text(SCENARIO, encoding="utf-8")
    return Fetcher(Cache(tmp_path / "cache"), load_scenario(scenario_path))


def refused(fetcher: Fetcher, source: PatchSource) -> str:
    with pytest.raises(FarmError) as caught:
        fetcher.patches(source, what="series[0]")
    assert isinstance(caught.value, SeriesError | SourceError)
    return str(caught.value)


def quilt(tmp_path: Path, series_text: str, **patches: str | bytes) -> Path:
    directory = tmp_path / "patches"
    directory.mkdir()
    (directory / "series").write_text(series_text, encoding="utf-8")
    for name, content in patches.items():
        data = content.encode() if isinstance(content, str) else content
        (directory / name).write_bytes(data)
    return directory


# --- mboxes ------------------------------------------------------------------------------


def test_an_empty_mbox_is_refused_as_empty(fetcher: Fetcher, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    message = refused(fetcher, MboxPatches(empty))
    assert str(empty) in message and "it is empty" in message


def test_an_mbox_of_mails_without_diffs_says_so(fetcher: Fetcher, tmp_path: Path) -> None:
    chatter = tmp_path / "chatter.mbox"
    chatter.write_text(mail("").replace("---\n", ""), encoding="utf-8")
    message = refused(fetcher, MboxPatches(chatter))
    assert str(chatter) in message and "no mail in it carries a diff" in message


def test_binary_garbage_is_refused_as_binary(fetcher: Fetcher, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mbox"
    garbage.write_bytes(bytes(range(256)) * 8)
    message = refused(fetcher, MboxPatches(garbage))
    assert str(garbage) in message and "NUL bytes" in message


def test_an_mbox_over_the_size_limit_is_refused_without_reading_it(
    fetcher: Fetcher, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.mbox"
    with huge.open("wb") as stream:  # sparse: costs no disk and, if read, 64 MiB of memory
        stream.truncate(series.MAX_SERIES_BYTES + 1)
    message = refused(fetcher, MboxPatches(huge))
    assert str(huge) in message and "larger than any real series" in message
    assert str(series.MAX_SERIES_BYTES) in message


def test_huge_mbox_bytes_are_refused_by_the_parser_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(series, "MAX_SERIES_BYTES", 4096)
    data = mail(git_diff()).encode() * 40
    with pytest.raises(SeriesError, match=r"^big\.mbox: \d+ bytes is larger than any real"):
        series.patches_from_mbox(data, what="big.mbox")


def test_a_gzip_bomb_is_refused_while_decompressing(
    fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(series, "MAX_SERIES_BYTES", 1 << 20)
    url = "https://example.invalid/bomb.mbox.gz"
    drop = fetcher.cache.manual_drop(url)
    drop.parent.mkdir(parents=True)
    drop.write_bytes(gzip.compress(b"\n" * (8 << 20)))  # 8 KiB that inflate to 8 MiB
    message = refused(fetcher, UrlPatches(url, sha256=None, format=PatchFormat.MAIL))
    assert url in message and "decompresses to more than 1048576 bytes" in message


def test_corrupt_gzip_names_the_url(fetcher: Fetcher) -> None:
    url = "https://example.invalid/cut.mbox.gz"
    drop = fetcher.cache.manual_drop(url)
    drop.parent.mkdir(parents=True)
    drop.write_bytes(gzip.compress(mail(git_diff()).encode())[:40])
    message = refused(fetcher, UrlPatches(url, sha256=None, format=PatchFormat.MAIL))
    assert url in message and "corrupt gzip data" in message


def test_a_device_given_as_a_patch_is_refused_without_reading_it(fetcher: Fetcher) -> None:
    message = refused(fetcher, DiffPatch(Path("/dev/zero")))
    assert "/dev/zero" in message and "not a regular file" in message


def test_a_subject_claiming_millions_of_patches_is_refused_at_once() -> None:
    data = mail(git_diff(), subject="[PATCH 1/99999999] elf: x").encode()
    with pytest.raises(SeriesError, match=r"claims a series of 99999999 patches.*at most 999"):
        series.patches_from_mbox(data, what="claims.mbox")


def test_missing_patches_are_listed_briefly() -> None:
    data = mail(git_diff(), subject="[PATCH 1/40] elf: x").encode()
    with pytest.raises(SeriesError) as caught:
        series.patches_from_mbox(data, what="gappy.mbox")
    assert str(caught.value) == (
        "gappy.mbox: v1 is 40 patches but 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ... are missing from it"
    )


def test_a_thread_whose_root_revision_has_no_diff_is_refused() -> None:
    cover = mail("", subject="[PATCH v3 0/1] cover", headers="Message-ID: <root@x>\n")
    v2 = mail(git_diff(), subject="[PATCH v2 1/1] elf: x", headers="Message-ID: <old@x>\n")
    with pytest.raises(SeriesError, match=r"^<root@x>: no mail of v3 .* carries a diff"):
        series.patches_from_mbox((cover + v2).encode(), what="<root@x>", root_message_id="root@x")


# --- quilt directories -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x.patch", "/etc/passwd", "ok/../../x.patch"])
def test_a_quilt_series_naming_a_path_outside_is_refused(
    fetcher: Fetcher, tmp_path: Path, name: str
) -> None:
    directory = quilt(tmp_path, f"# comment\n{name}\n")
    message = refused(fetcher, QuiltPatches(directory))
    assert f"{directory}/series:2: path '{name}' escapes the quilt directory" in message


def test_a_symlink_in_the_quilt_dir_pointing_outside_is_refused(
    fetcher: Fetcher, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.patch"
    outside.write_text(git_diff(), encoding="utf-8")
    directory = quilt(tmp_path, "0001-x.patch\n")
    (directory / "0001-x.patch").symlink_to(outside)
    message = refused(fetcher, QuiltPatches(directory))
    assert f"{directory}/0001-x.patch: a symlink to {outside}, outside the quilt" in message


def test_a_symlinked_subdirectory_pointing_outside_is_refused(
    fetcher: Fetcher, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.patch").write_text(git_diff(), encoding="utf-8")
    directory = quilt(tmp_path, "sub/x.patch\n")
    (directory / "sub").symlink_to(elsewhere)
    message = refused(fetcher, QuiltPatches(directory))
    assert f"{directory}/sub/x.patch: resolves to {elsewhere}/x.patch, outside" in message


def test_a_symlink_loop_is_refused_cleanly(fetcher: Fetcher, tmp_path: Path) -> None:
    directory = quilt(tmp_path, "loop/x.patch\n")
    (directory / "loop").symlink_to("loop")
    message = refused(fetcher, QuiltPatches(directory))
    assert f"{directory}/loop/x.patch: cannot resolve" in message


def test_a_series_file_that_is_a_symlink_outside_is_refused(
    fetcher: Fetcher, tmp_path: Path
) -> None:
    directory = quilt(tmp_path, "")
    (directory / "series").unlink()
    (directory / "series").symlink_to("/etc/passwd")
    message = refused(fetcher, QuiltPatches(directory))
    assert f"{directory}/series: a symlink to /etc/passwd, outside the quilt" in message


def test_a_symlink_that_stays_inside_the_quilt_dir_is_followed(
    fetcher: Fetcher, tmp_path: Path
) -> None:
    directory = quilt(tmp_path, "0001-x.patch\n", **{"real.diff": git_diff()})
    (directory / "0001-x.patch").symlink_to("real.diff")
    (patch,) = fetcher.patches(QuiltPatches(directory), what="series[0]")
    assert patch.content == git_diff().encode()


def test_a_quilt_series_file_that_is_not_utf8_is_refused(fetcher: Fetcher, tmp_path: Path) -> None:
    directory = quilt(tmp_path, "")
    (directory / "series").write_bytes(b"0001-caf\xe9.patch\n")
    message = refused(fetcher, QuiltPatches(directory))
    assert f"{directory}/series: not UTF-8 text (byte 8)" in message


def test_a_quilt_series_naming_a_missing_patch_is_refused(fetcher: Fetcher, tmp_path: Path) -> None:
    directory = quilt(tmp_path, "0001-gone.patch\n")
    message = refused(fetcher, QuiltPatches(directory))
    assert f"{directory}/series names '0001-gone.patch', which does not exist" in message


def test_a_quilt_series_naming_no_patch_is_refused(fetcher: Fetcher, tmp_path: Path) -> None:
    directory = quilt(tmp_path, "# nothing yet\n\n")
    assert f"{directory}/series: names no patch" in refused(fetcher, QuiltPatches(directory))


def test_quilt_patches_together_over_the_limit_are_refused(
    fetcher: Fetcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(series, "MAX_SERIES_BYTES", 3000)
    padding = "# " + "x" * 2000 + "\n"
    directory = quilt(tmp_path, "a.patch\nb.patch\n", **{
        "a.patch": padding + git_diff(), "b.patch": padding + git_diff()
    })  # fmt: skip
    message = refused(fetcher, QuiltPatches(directory))
    assert f"{directory}: the patches up to b.patch are more than 3000 bytes" in message


def test_quilt_files_after_the_limit_are_not_read(
    fetcher: Fetcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory is read only as far as the limit: c.patch, a FIFO that would be refused
    (or block) if opened, is never reached once a and b are more than a series may hold."""
    monkeypatch.setattr(series, "MAX_SERIES_BYTES", 3000)
    padding = "# " + "x" * 2000 + "\n"
    directory = quilt(tmp_path, "a.patch\nb.patch\nc.patch\n", **{
        "a.patch": padding + git_diff(), "b.patch": padding + git_diff()
    })  # fmt: skip
    os.mkfifo(directory / "c.patch")
    message = refused(fetcher, QuiltPatches(directory))
    assert f"{directory}: the patches up to b.patch are more than 3000 bytes" in message


# --- diffs that write outside the tree -----------------------------------------------------


ESCAPING_DIFFS = {
    "dotdot": (git_diff("../../etc/x"), "'../../etc/x' escapes"),
    "absolute": (
        "--- /abs/path\n+++ /abs/path\n@@ -1 +1 @@\n-a\n+b\n",
        "'/abs/path' escapes",
    ),
    "double-slash": (git_diff("/etc/x"), "'/etc/x' escapes"),
    "git-quoted": (
        git_diff().replace("a/elf/dl-open.c", '"a/\\056\\056/etc/x"'),
        "'../etc/x' escapes",
    ),
    "rename-to": (
        git_diff("elf/a.c", new="elf/b.c", extra="rename from elf/a.c\nrename to ../b.c\n"),
        "'../b.c' escapes",
    ),
    "context-diff": (
        git_diff() + "*** a/../x\n--- b/elf/x\n***************\n*** 1 ****\n! a\n--- 1 ----\n! b\n",
        "'../x' escapes",
    ),
    "index-line": (
        # -p1 strips the first component, as patch does: "../../x" becomes "../x".
        "Index: ../../x\n--- x\n+++ x\n@@ -1 +1 @@\n-a\n+b\n",
        "'../x' escapes",
    ),
    "empty-name": (git_diff("", new="elf/x.c"), "an empty file name"),
    "symlink": (
        "diff --git a/elf/l b/elf/l\nnew file mode 120000\n--- /dev/null\n+++ b/elf/l\n"
        "@@ -0,0 +1 @@\n+/etc\n\\ No newline at end of file\n",
        "make a symbolic link",
    ),
}


@pytest.mark.parametrize("case", ESCAPING_DIFFS, ids=list(ESCAPING_DIFFS))
def test_a_diff_file_touching_a_path_outside_the_tree_is_refused(
    fetcher: Fetcher, tmp_path: Path, case: str
) -> None:
    text, reason = ESCAPING_DIFFS[case]
    path = tmp_path / f"{case}.diff"
    path.write_text(text, encoding="utf-8")
    message = refused(fetcher, DiffPatch(path))
    assert message.startswith(f"{path.name}: patch 1") and reason in message


@pytest.mark.parametrize("case", ESCAPING_DIFFS, ids=list(ESCAPING_DIFFS))
def test_a_mail_touching_a_path_outside_the_tree_is_refused(
    fetcher: Fetcher, tmp_path: Path, case: str
) -> None:
    text, reason = ESCAPING_DIFFS[case]
    path = tmp_path / f"{case}.mbox"
    path.write_text(mail(text), encoding="utf-8")
    message = refused(fetcher, MboxPatches(path))
    assert message.startswith(f"{path}: patch 1") and reason in message


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
def test_an_encoded_mail_body_cannot_hide_an_escaping_path(encoding: str) -> None:
    """git am decodes the body before it applies it, so the checks must too."""

    def encoded_mail(path: str) -> bytes:
        body = f"A change.\n---\n{git_diff(path)}".encode()
        encode = base64.encodebytes if encoding == "base64" else quopri.encodestring
        headers = mail("", headers=f"Content-Transfer-Encoding: {encoding}\n").split("\n\n")[0]
        return headers.encode() + b"\n\n" + encode(body)

    with pytest.raises(SeriesError, match=r"^enc\.mbox: patch 1: path '\.\./\.\./etc/x' escapes"):
        series.patches_from_mbox(encoded_mail("../../etc/x"), what="enc.mbox")
    # The same mail with a harmless path is a patch: encoding alone is no reason to refuse.
    (patch,) = series.patches_from_mbox(encoded_mail("elf/x.c"), what="enc.mbox")
    assert patch.subject == "elf: Reword a comment"


def test_a_quilt_patch_touching_a_path_outside_is_refused(fetcher: Fetcher, tmp_path: Path) -> None:
    directory = quilt(tmp_path, "0001-x.patch\n", **{"0001-x.patch": git_diff("../../etc/x")})
    message = refused(fetcher, QuiltPatches(directory))
    assert f"{directory}/0001-x.patch: patch 1: path '../../etc/x' escapes" in message


# --- encodings ---------------------------------------------------------------------------


def test_a_utf16_patch_file_is_refused_with_what_to_do(fetcher: Fetcher, tmp_path: Path) -> None:
    path = tmp_path / "windows.patch"
    path.write_bytes("\ufeff".encode("utf-16-le") + git_diff().encode("utf-16-le"))
    message = refused(fetcher, DiffPatch(path))
    assert message.startswith("windows.patch: patch 1: UTF-16 text") and "UTF-8" in message


def test_a_utf16_patch_without_bom_is_refused_as_not_text(fetcher: Fetcher, tmp_path: Path) -> None:
    path = tmp_path / "nobom.patch"
    path.write_bytes(git_diff().encode("utf-16-le"))
    message = refused(fetcher, DiffPatch(path))
    assert message.startswith("nobom.patch: patch 1: contains NUL bytes") and "UTF-16" in message


def test_a_file_name_that_is_not_utf8_is_refused(fetcher: Fetcher, tmp_path: Path) -> None:
    path = tmp_path / "latin1-name.patch"
    path.write_bytes(git_diff("elf/caf\xe9.c").encode("latin-1"))
    message = refused(fetcher, DiffPatch(path))
    assert "latin1-name.patch: patch 1: file name 'elf/caf\\xe9.c' is not UTF-8" in message


def test_latin1_bytes_in_hunk_lines_are_applied_as_they_are(
    fetcher: Fetcher, tmp_path: Path
) -> None:
    """Not every byte in a glibc diff is UTF-8 (iconvdata's test inputs are in the
    encodings they test), and patch applies bytes: only file names must be text."""
    path = tmp_path / "iconv.patch"
    content = git_diff("iconvdata/testdata/ISO-8859-1").encode().replace(b"new", b"n\xe9w")
    path.write_bytes(content)
    (patch,) = fetcher.patches(DiffPatch(path), what="series[0]")
    assert patch.content == content


# --- well-formed series pass the same checks ------------------------------------------------


def test_the_fixture_series_are_accepted(fetcher: Fetcher) -> None:
    harmless = fetcher.patches(QuiltPatches(FIXTURES / "harmless"), what="series[0]")
    assert [p.subject for p in harmless] == ["elf: Mark the opening comment of dl-load.c"]
    broken = fetcher.patches(MboxPatches(FIXTURES / "broken-isolation.mbox"), what="series[1]")
    assert [p.number for p in broken] == [1, 2, 3]


def test_dev_null_and_a_subdirectory_in_the_quilt_dir_are_fine(
    fetcher: Fetcher, tmp_path: Path
) -> None:
    new_file = "diff --git a/elf/new.c b/elf/new.c\nnew file mode 100644\n--- /dev/null\n"
    new_file += "+++ b/elf/new.c\n@@ -0,0 +1 @@\n+/* new */\n"
    directory = quilt(tmp_path, "sub/0001.patch -p1\n")
    (directory / "sub").mkdir()
    (directory / "sub" / "0001.patch").write_text(new_file, encoding="utf-8")
    (patch,) = fetcher.patches(QuiltPatches(directory), what="series[0]")
    assert patch.number == 1 and patch.format is PatchFormat.DIFF


# --- a patch that does not apply ------------------------------------------------------------

APPLY_SERIES = render.IMAGES_DIR / "scripts" / "apply-series"
_LINES = [f"line {n}" for n in range(1, 81)]


def _lines(changed: dict[int, str]) -> str:
    return "".join(changed.get(n, line) + "\n" for n, line in enumerate(_LINES, start=1))


def _applied_in(tree: Path, patches: list[series.Patch], tmp_path: Path) -> tuple[int, str]:
    """Run the images' apply-series, as shipped but for the tree it changes (/src/glibc in
    an image), on ``patches`` listed as the build image's context lists them."""
    script = APPLY_SERIES.read_text()
    assert script.count("cd /src/glibc ") == 1
    local = tmp_path / "apply-series"
    local.write_text(script.replace("cd /src/glibc ", f"cd {tree} "))
    listed = tmp_path / "context"
    for item in render.patch_list(tuple(("fix", p) for p in patches), "series"):
        (listed / item.dest).parent.mkdir(parents=True, exist_ok=True)
        (listed / item.dest).write_bytes(item.read())
    quiet = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(
        ["bash", str(local), "series", str(listed / "series")], capture_output=True, text=True,
        timeout=120, env={**os.environ, **quiet},
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def test_a_patch_that_does_not_apply_is_named_with_git_am_s_output_and_the_rest_left_out(
    tmp_path: Path,
) -> None:
    """Three patches from git format-patch; the second's 40-line hunk meets a tree changed
    under it. The real apply-series and git am run; what they print becomes the cell's
    failure, its reason and report: patch 2/3 and its subject, the commit tried, git am's
    own error (kept above the long reject), and patch 3/3 named as not applied."""
    author = tmp_path / "author"
    author.mkdir()
    git(author, "init", "-q", "-b", "main")
    commit(author, {"elf/dl-open.c": _lines({})}, "base")
    base = git(author, "rev-parse", "HEAD")
    commit(author, {"elf/dl-open.c": _lines({2: "line two"})}, "elf: Reword line 2")
    changed = {2: "line two", **{n: f"line {n}, reworded" for n in range(30, 70)}}
    commit(author, {"elf/dl-open.c": _lines(changed)}, "elf: Reword lines 30 to 69")
    commit(author, {"elf/dl-open.c": _lines({**changed, 79: "line 79!"})}, "elf: Add a mark")
    mbox = git(author, "format-patch", "--stdout", f"{base}..HEAD").encode() + b"\n"
    patches = list(series.chosen_revision(mbox, what="the series").patches)
    assert [p.subject for p in patches] == [
        "elf: Reword line 2", "elf: Reword lines 30 to 69", "elf: Add a mark",
    ]  # fmt: skip

    tree = tmp_path / "glibc"
    tree.mkdir()
    git(tree, "init", "-q", "-b", "main")
    commit(tree, {"elf/dl-open.c": _lines({50: "line 50, changed upstream"})}, "upstream")
    tried_on = git(tree, "rev-parse", "HEAD")
    status, output = _applied_in(tree, patches, tmp_path)

    assert status == 1, output
    assert "farm-failed: patch-apply: fix patch 2/3: elf: Reword lines 30 to 69" in output
    # Patch 1 is in, patch 3 was never tried: the tree has the first patch's commit alone.
    assert git(tree, "log", "--format=%s", f"{tried_on}..HEAD").splitlines() == [
        "elf: Reword line 2"
    ]
    assert "line 79!" not in (tree / "elf/dl-open.c").read_text()
    assert "farm-apply: series: fix patch 3/3" not in output

    log = tmp_path / "build.log"
    log.write_text(output)
    spec = BuildSpec(name="build-x86_64-fix", tag="t", kind="build", dockerfile="", context=())
    error = _build_failure(spec, log, "")
    assert (error.patch_number, error.patch_subject) == (2, "elf: Reword lines 30 to 69")
    assert "error: patch failed: elf/dl-open.c:" in error.reject  # git am's own words
    assert "Patch failed at 0001 elf: Reword lines 30 to 69" in error.reject
    said = str(error).splitlines()
    assert said[:2] == [
        "build-x86_64-fix: patch-apply failed: fix patch 2/3: elf: Reword lines 30 to 69",
        "not applied after it: fix patch 3/3 (a series stops at its first failure)",
    ]

    failed = gate.FailedPatch(error.patch_number, error.patch_subject, error.reject)
    cells = [
        gate.CellStatus("s", "x86_64", "baseline", gate.CellState.BUILT, source_commit=tried_on),
        gate.CellStatus("s", "x86_64", "fix", gate.CellState.PATCH_FAILED, message=said[0],
                        failed_patch=failed, source_commit=tried_on),
    ]  # fmt: skip
    info = gate.SeriesInfo("fix", tuple(gate.SeriesPatch(p.number, p.subject) for p in patches))
    passed = TestResult(scenario="s", arch="x86_64", variant="baseline", test="t",
                        outcome=Outcome.PASS)  # fmt: skip
    result = gate.evaluate([passed], cells, require_reproduction=True,
                           today=datetime.date(2026, 12, 3), series=[info])  # fmt: skip
    ((reason, *_),) = [a.reasons for s in result.series for a in s.arches]
    assert reason.startswith(
        f"patch 2/3 'elf: Reword lines 30 to 69' does not apply on glibc {tried_on[:12]}: "
        "error: patch failed: elf/dl-open.c:"
    ), reason
    assert reason.endswith("; the patch after it was not applied: 3/3 'elf: Add a mark'")
    report = render_markdown(result)
    assert reason in report
    # The reject is longer than a report shows (git apply --reject's hunks, the .rej file):
    # the report keeps its start, where git am said what failed.
    assert len(error.reject.splitlines()) > TAIL_LINES
    assert "Patch failed at 0001 elf: Reword lines 30 to 69" in report
