"""Hostile mboxes: the series the farm takes is the series ``git am`` would apply, or none.

Mails are split by git itself (``git mailsplit``/``git mailinfo``), and what the farm
accepts is checked by applying it with the real ``git am --keep-cr``, as the image's
``apply-series`` does. An mbox whose numbering leaves any doubt about which patches make
the series (a duplicate, a gap, a number out of range, an unnumbered patch among numbered
ones) is refused with the mail named: a patch is never silently dropped.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farm.errors import SeriesError
from farm.inputs import series

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git splits the mails")

LINES = 40


def mail(number: int | None, total: int, *, line: int, body: str = "Why.\n") -> str:
    """A format-patch mail changing the ``line``-th of the file's spaced-out lines, with
    one line of context each side, so that any subset of such mails applies in order."""
    tag = f"[PATCH {number}/{total}]" if number is not None else "[PATCH]"
    at = 3 * line - 1
    return (
        f"From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
        f"From: A U Thor <author@example.org>\nSubject: {tag} change line {line}\n\n"
        f"{body}---\n"
        "diff --git a/file.c b/file.c\n--- a/file.c\n+++ b/file.c\n"
        f"@@ -{at - 1},3 +{at - 1},3 @@\n line {at - 1}\n-line {at}\n+changed {at}\n"
        f" line {at + 1}\n-- \n2.39.5\n\n"
    )


def git_am(patches: list[series.Patch], tmp_path: Path) -> str:
    """Apply ``patches`` one by one with ``git am --keep-cr``; file.c afterwards."""
    repo = tmp_path / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir()
    env = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "file.c").write_text("".join(f"line {i}\n" for i in range(1, LINES + 1)))
    subprocess.run(["git", "add", "file.c"], cwd=repo, check=True)
    subprocess.run(["git", *env, "commit", "-qm", "base"], cwd=repo, check=True)
    for patch in patches:
        (tmp_path / "p.mbox").write_bytes(patch.content)
        applied = subprocess.run(
            ["git", *env, "am", "--keep-cr", str(tmp_path / "p.mbox")],
            cwd=repo, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert applied.returncode == 0, applied.stdout + applied.stderr
    return (repo / "file.c").read_text()


def refused(text: str) -> str:
    with pytest.raises(SeriesError) as raised:
        series.patches_from_mbox(text.encode(), what="s.mbox")
    return str(raised.value)


def test_a_duplicate_number_is_refused_naming_both_mails() -> None:
    message = refused(mail(1, 2, line=1) + mail(2, 2, line=2) + mail(1, 2, line=3))
    assert "mail 1 ('[PATCH 1/2] change line 1') and mail 3" in message
    assert "both patch 1/2" in message


def test_a_number_over_the_total_is_refused() -> None:
    message = refused(mail(1, 2, line=1) + mail(2, 2, line=2) + mail(3, 2, line=3))
    assert "mail 3" in message and "numbered 3/2" in message


def test_an_unnumbered_patch_among_numbered_ones_is_refused() -> None:
    message = refused(mail(1, 2, line=1) + mail(None, 2, line=5) + mail(2, 2, line=2))
    assert "mail 2 ('[PATCH] change line 5') carries a diff but no n/m number" in message


def test_totals_that_disagree_are_refused() -> None:
    message = refused(mail(1, 2, line=1) + mail(2, 3, line=2) + mail(3, 3, line=3))
    assert "says the series has 3 patches" in message


def test_a_cover_letter_with_a_diff_is_refused() -> None:
    assert "numbered 0/2" in refused(mail(0, 2, line=4) + mail(1, 2, line=1) + mail(2, 2, line=2))


def test_a_body_paragraph_starting_with_from_stays_in_its_mail(tmp_path: Path) -> None:
    body = "Why.\n\nFrom now on the loader checks.\n\nFrom: is not a header here.\n"
    patches = series.patches_from_mbox(
        (mail(1, 2, line=1, body=body) + mail(2, 2, line=2)).encode(), what="s.mbox"
    )
    assert [p.subject for p in patches] == ["change line 1", "change line 2"]
    assert b"From now on the loader checks." in patches[0].content
    assert "changed 2\nline 3\nline 4\nchanged 5\n" in git_am(patches, tmp_path)


def test_a_crlf_mbox_is_taken_as_git_takes_it_and_applies(tmp_path: Path) -> None:
    text = (mail(1, 2, line=3) + mail(2, 2, line=6)).replace("\n", "\r\n")
    patches = series.patches_from_mbox(text.encode(), what="s.mbox")
    assert len(patches) == 2
    result = git_am(patches, tmp_path)
    assert "changed 8\n" in result and "changed 17\n" in result and "\r" not in result


@st.composite
def numbered_series(draw: st.DrawFn) -> tuple[str, int]:
    """A series of 1-6 patch mails in any order, perhaps mutated: a duplicate, a gap, a
    number out of range, an unnumbered patch. Returns the mbox and how many diff mails."""
    total = draw(st.integers(1, 6))
    numbers: list[int | None] = list(range(1, total + 1))
    mutation = draw(st.sampled_from(["none", "duplicate", "gap", "over", "unnumbered", "zero"]))
    if mutation == "duplicate":
        numbers.append(draw(st.sampled_from(numbers)))
    elif mutation == "gap" and total > 1:
        numbers.remove(draw(st.sampled_from(numbers)))
    elif mutation == "over":
        numbers.append(total + draw(st.integers(1, 3)))
    elif mutation == "unnumbered":
        numbers.append(None)
    elif mutation == "zero":
        numbers.append(0)
    order = draw(st.permutations(range(len(numbers))))
    mbox = "".join(mail(numbers[i], total, line=i + 1) for i in order)
    return mbox, len(numbers)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(case=numbered_series())
def test_every_patch_mail_is_applied_or_the_series_refused(
    case: tuple[str, int], tmp_path: Path
) -> None:
    mbox, diff_mails = case
    try:
        patches = series.patches_from_mbox(mbox.encode(), what="s.mbox")
    except SeriesError as error:
        assert str(error).startswith("s.mbox: ")
        return
    assert len(patches) == diff_mails  # none dropped
    numbers = [int(p.content.split(b"[PATCH ")[1].split(b"/")[0]) for p in patches]
    assert numbers == sorted(numbers)
    git_am(patches, tmp_path)


def test_a_public_inbox_thread_is_unescaped_as_mboxrd(tmp_path: Path) -> None:
    """public-inbox writes mboxrd: a body line ``From ...`` is stored as ``>From ...``."""
    text = mail(1, 1, line=1, body="Why.\n\n>From now on.\n").replace(
        "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001",
        "From mboxrd@z Thu Jan  1 00:00:00 1970",
    )
    patches = series.patches_from_mbox(text.encode(), what="t.mbox.gz", mboxrd=True)
    assert b"\nFrom now on.\n" in patches[0].content
    assert "changed 2\n" in git_am(patches, tmp_path)
