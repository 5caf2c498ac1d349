"""`farm try`'s decisions (farm.inputs.try_series) and fetching (farm.inputs.try_sources), with
real git: repositories are made in tmp_path, series are real ``git format-patch`` output, the
patchwork and public-inbox are loopback stand-ins, and made scenarios are read back by the
farm's own scenario loader and fetcher."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from farm.commands import try_cmd
from farm.errors import FarmError, SeriesError, SourceError, UsageError
from farm.inputs import sources, try_series, try_sources
from farm.inputs.series import chosen_revision, files_touched
from farm.inputs.try_series import (
    GitRange,
    MessageId,
    PatchworkSeries,
    RemoteBranch,
    SeriesFile,
    classify,
    select_glibc_tests,
)
from farm.plan.scenario import (
    DebianSource,
    GitSource,
    MboxPatches,
    QuiltPatches,
    load_scenario,
)
from tests.unit import inbox_fake, patchwork_fake

REPO = Path(__file__).resolve().parents[2]
FIXTURE_TEMPLATE = REPO / "tests" / "fixtures" / "scenarios" / "fixture-series.yaml"
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Farm Test", "GIT_AUTHOR_EMAIL": "farm@example.org",
    "GIT_COMMITTER_NAME": "Farm Test", "GIT_COMMITTER_EMAIL": "farm@example.org",
    "GIT_AUTHOR_DATE": "2026-12-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-12-01T00:00:00Z",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **_GIT_ENV},
    )
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture()
def glibc_repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A small "glibc": a base commit, then two commits (elf/, sysdeps nptl/)."""
    repo = tmp_path / "glibc"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = commit(repo, {"elf/dl-open.c": "int x;\n", "sysdeps/nptl/lock.h": "/* l */\n"}, "base")
    commit(repo, {"elf/dl-open.c": "int x;\nint y;\n"}, "elf: add y")
    tip = commit(repo, {"sysdeps/nptl/lock.h": "/* lock */\n"}, "nptl: reword")
    return repo, base, tip


# --- classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["12345"], PatchworkSeries(12345)),
        (
            ["https://patchwork.sourceware.org/project/glibc/list/?series=4711"],
            PatchworkSeries(4711, "https://patchwork.sourceware.org"),
        ),
        (
            ["https://patchwork.sourceware.org/series/4711/mbox/"],
            PatchworkSeries(4711, "https://patchwork.sourceware.org"),
        ),
        (
            ["http://127.0.0.1:8000/api/1.3/series/9/"],
            PatchworkSeries(9, "http://127.0.0.1:8000"),
        ),
        (["<20261201.abc@example.org>"], MessageId("20261201.abc@example.org")),
        (["20261201.abc@example.org"], MessageId("20261201.abc@example.org")),
        (["~/src/glibc", "origin/master..HEAD"],
         GitRange(Path("~/src/glibc").expanduser(), "origin/master", "HEAD")),
        (["https://github.com/x/glibc.git", "users/x/try"],
         RemoteBranch("https://github.com/x/glibc.git", "users/x/try")),
        (["fix.mbox"], SeriesFile(Path("fix.mbox"))),
        (["fix@v2.patch"], SeriesFile(Path("fix@v2.patch"))),
        (["patches/0001-elf-fix.patch"], SeriesFile(Path("patches/0001-elf-fix.patch"))),
    ],
)  # fmt: skip
def test_each_form_of_series_is_told_apart(
    arguments: list[str], expected: try_series.SeriesArgument
) -> None:
    assert classify(arguments) == expected


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ([], "got 0 arguments"),
        (["a", "b", "c"], "got 3 arguments"),
        (["origin/master..HEAD"], "give the repository first"),
        (["~/src/glibc", "HEAD"], "is no commit range"),
        (["~/src/glibc", "a...b"], "is no commit range"),
        (["https://example.org/glibc.git"], "names no patchwork series"),
        (["git://sourceware.org/git/glibc.git"], "give its branch too"),
        (["x\ny"], "control character"),
        ([""], "empty"),
    ],
)
def test_what_matches_nothing_is_said_plainly(arguments: list[str], said: str) -> None:
    with pytest.raises(UsageError, match=said):
        classify(arguments)


# --- glibc tests from the diffstat ----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "subdirs"),
    [
        ("elf/dl-open.c", ("elf",)),
        ("nptl/pthread_create.c", ("nptl",)),
        ("sysdeps/unix/sysv/linux/x86_64/nptl/tls.h", ("nptl",)),
        ("sysdeps/nptl/lowlevellock.h", ("nptl",)),
        ("sysdeps/pthread/tst-cond26.c", ("nptl",)),
        ("sysdeps/ieee754/dbl-64/e_exp.c", ("math",)),
        ("sysdeps/x86_64/fpu/multiarch/s_sin.c", ("math",)),
        ("sysdeps/unix/sysv/linux/rseq-internal.h", try_series.WIDE_SET),
        ("sysdeps/x86_64/dl-machine.h", ("elf",)),
        ("include/link.h", try_series.WIDE_SET),
        ("Makerules", try_series.WIDE_SET),
        ("Makeconfig", try_series.WIDE_SET),
        ("configure.ac", try_series.WIDE_SET),
        ("configure", try_series.WIDE_SET),
        ("scripts/versions.awk", try_series.WIDE_SET),
        ("NEWS", ()),
        ("manual/threads.texi", ()),
        ("htl/pt-create.c", ()),
        ("newdir/x.c", try_series.WIDE_SET),
    ],
)
def test_each_file_selects_the_subdirectories_it_can_break(
    path: str, subdirs: tuple[str, ...]
) -> None:
    assert try_series.subdirs_for_file(path)[0] == subdirs


def test_a_series_selects_each_subdirectory_once_and_says_why() -> None:
    selection = select_glibc_tests(
        ["elf/dl-open.c", "elf/dl-close.c", "sysdeps/nptl/lock.h", "NEWS"], full=False
    )
    assert selection.entries == ("elf/", "nptl/")
    assert selection.reasons == (
        "elf/dl-open.c -> elf/ (in elf/)",
        "elf/dl-close.c -> elf/ (in elf/)",
        "sysdeps/nptl/lock.h -> nptl/ (sysdeps for nptl/)",
        "NEWS -> nothing (documentation: no test)",
    )


def test_full_runs_all_of_glibc_whatever_was_touched() -> None:
    selection = select_glibc_tests(["NEWS"], full=True)
    assert selection.entries == ("all",)


# --- the series' own base ---------------------------------------------------------------------


def test_format_patch_base_and_cover_letter_are_read_from_the_mails(
    glibc_repo: tuple[Path, str, str],
) -> None:
    repo, base, tip = glibc_repo
    mbox = git(
        repo, "format-patch", "--stdout", "--cover-letter", f"--base={base}", f"{base}..{tip}"
    )
    revision = chosen_revision(mbox.encode() + b"\n", what="test")
    assert revision.base_commit == base
    assert [p.subject for p in revision.patches] == ["elf: add y", "nptl: reword"]
    assert revision.cover_subject == "*** SUBJECT HERE ***"
    assert len(revision.mails) == 3  # the cover letter is kept with the patches
    assert [files_touched(p) for p in revision.patches] == [
        ("elf/dl-open.c",),
        ("sysdeps/nptl/lock.h",),
    ]


def _git_template(tmp_path: Path, repo: Path, ref: str = "main") -> Path:
    (tmp_path / "prep.diff").write_text(
        "--- a/elf/dl-open.c\n+++ b/elf/dl-open.c\n@@ -1 +1 @@\n-int x;\n+int x = 0;\n"
    )
    path = tmp_path / "templates" / "master.yaml"
    path.parent.mkdir()
    path.write_text(
        f"""name: try-master
glibc:
  version: "2.44"
  source:
    git: {{url: "{repo}", ref: {ref}}}
  prepare:
    - patch: ../prep.diff
arches: [x86_64]
series:
  - name: other
    patch: ../prep.diff
  - name: more
    patch: ../prep.diff
stacked: true
tests:
  cases: ["dlmopen/*"]
  glibc: [misc/]
expect:
  - variant: other
    test: farm/dlmopen/newlm-isolation
    outcome: FAIL
  - variant: "*"
    test: farm/dlmopen/newlm-isolation
    outcome: PASS
  - variant: baseline
    test: glibc/misc/tst-x
    outcome: PASS
  - variant: "*"
    test: glibc/elf/tst-*
    outcome: PASS
"""
    )
    return path


def test_the_base_commit_trailer_is_the_base_when_the_repository_has_it(
    glibc_repo: tuple[Path, str, str],
) -> None:
    repo, base, _ = glibc_repo
    choice = try_series.choose_base(
        GitSource(str(repo), "main"), series_base=base, series_base_origin="its trailer",
        requested=None, resolve=try_sources.git_resolver(repo),
    )  # fmt: skip
    assert choice.commit == base
    assert choice.reason == f"its trailer, {base[:12]}"


def test_an_unknown_base_commit_falls_back_to_the_template_ref_and_says_so(
    glibc_repo: tuple[Path, str, str],
) -> None:
    repo, _, tip = glibc_repo
    unknown = "0123456789abcdef0123456789abcdef01234567"
    choice = try_series.choose_base(
        GitSource(str(repo), "main"), series_base=unknown, series_base_origin="its trailer",
        requested=None, resolve=try_sources.git_resolver(repo),
    )  # fmt: skip
    assert choice.commit == tip
    assert "names 0123456789ab, which" in choice.reason
    assert choice.reason.endswith(f"the template's ref main, {tip[:12]}")


def test_without_a_trailer_the_template_ref_is_resolved_to_a_commit(
    glibc_repo: tuple[Path, str, str],
) -> None:
    repo, _, tip = glibc_repo
    choice = try_series.choose_base(
        GitSource(str(repo), "main"), series_base=None, series_base_origin="",
        requested=None, resolve=try_sources.git_resolver(repo),
    )  # fmt: skip
    assert (choice.commit, choice.reason) == (tip, f"the template's ref main, {tip[:12]}")


def test_an_explicit_base_wins_and_an_unknown_one_is_refused(
    glibc_repo: tuple[Path, str, str],
) -> None:
    repo, base, tip = glibc_repo
    source = GitSource(str(repo), "main")
    choice = try_series.choose_base(
        source, series_base=tip, series_base_origin="its trailer", requested=base[:10],
        resolve=try_sources.git_resolver(repo),
    )  # fmt: skip
    assert (choice.commit, choice.reason) == (base, f"--base {base[:10]}, {base[:12]}")
    with pytest.raises(UsageError, match="has no such commit"):
        try_series.choose_base(
            source, series_base=None, series_base_origin="", requested="no-such-branch",
            resolve=try_sources.git_resolver(repo),
        )  # fmt: skip


def test_a_debian_template_keeps_its_glibc_and_says_the_trailer_was_not_used() -> None:
    source = DebianSource("glibc", "2.36-9", None)
    choice = try_series.choose_base(
        source, series_base="ab" * 20, series_base_origin="its trailer", requested=None,
        resolve=None,
    )  # fmt: skip
    assert choice.commit is None
    assert choice.reason.startswith("the template's glibc, debian:glibc=2.36-9; the series' base")
    with pytest.raises(UsageError, match="not a git source"):
        try_series.choose_base(
            source, series_base=None, series_base_origin="", requested="HEAD", resolve=None
        )


# --- fetching ------------------------------------------------------------------------------


@pytest.fixture()
def where(tmp_path: Path) -> try_sources.Where:
    return try_sources.Where(sources.Cache(tmp_path / "cache"), "", None, lambda _: None)


def test_a_local_range_is_its_commits_on_its_base(
    glibc_repo: tuple[Path, str, str], where: try_sources.Where
) -> None:
    repo, base, tip = glibc_repo
    fetched = try_sources.fetch(classify([str(repo), f"{base[:8]}..main"]), where)
    assert (fetched.base, fetched.tip) == (base, tip)
    assert fetched.base_origin == "the range's base"
    assert fetched.origin == f"{repo} {base[:8]}..main: 2 commits on {base[:12]}"
    assert [p.subject for p in fetched.revision.patches] == ["elf: add y", "nptl: reword"]


def test_bad_ranges_are_refused_with_what_to_do(
    glibc_repo: tuple[Path, str, str], where: try_sources.Where, tmp_path: Path
) -> None:
    repo, base, _ = glibc_repo
    git(repo, "checkout", "-q", "-b", "side", base)
    commit(repo, {"misc/x.c": "1\n"}, "misc: side")
    cases = [
        ([str(repo), "main..main"], "the range is empty"),
        ([str(repo), "side..main"], "is not an ancestor of main"),
        ([str(repo), "main..nonesuch"], "'nonesuch' is no commit"),
        ([str(tmp_path), "a..b"], "is not a git repository"),
        ([str(tmp_path / "absent"), "a..b"], "is no directory"),
    ]
    for arguments, said in cases:
        with pytest.raises(UsageError, match=said):
            try_sources.fetch(classify(arguments), where)


def test_an_unknown_file_is_an_error(where: try_sources.Where) -> None:
    with pytest.raises(UsageError, match="no such file"):
        try_sources.fetch(classify(["no-such.mbox"]), where)


def test_a_remote_branch_is_its_commits_since_it_forked_from_the_template_glibc(
    glibc_repo: tuple[Path, str, str], where: try_sources.Where, tmp_path: Path
) -> None:
    repo, _, tip = glibc_repo
    remote = tmp_path / "remote"
    git(tmp_path, "clone", "-q", str(repo), str(remote))
    git(remote, "checkout", "-q", "-b", "try", f"{tip}~1")  # forks one commit before main
    fix = commit(remote, {"elf/dl-close.c": "int z;\n"}, "elf: add z")
    git(repo, "commit", "-q", "--allow-empty", "-m", "upstream moves on")
    template = load_scenario(_git_template(tmp_path, repo))
    assert isinstance(template.source, GitSource)
    mirror = sources.Fetcher(where.cache, template).git_repository(template.source)
    at = try_sources.Where(
        where.cache, "", None, lambda _: None,
        try_sources.TemplateGlibc(mirror, str(repo), template.source.ref),
    )  # fmt: skip
    fetched = try_sources.fetch(classify([f"file://{remote}", "try"]), at)
    assert [p.subject for p in fetched.revision.patches] == ["elf: add z"]
    assert fetched.base == git(repo, "rev-parse", f"{tip}~1") and fetched.tip == fix
    assert fetched.base_origin == "the branch's fork point from main"
    with pytest.raises(SourceError, match="cannot fetch the branch"):
        try_sources.fetch(classify([f"file://{remote}", "no-such-branch"]), at)


def test_a_remote_branch_for_a_template_without_git_forks_from_the_remote_s_head(
    glibc_repo: tuple[Path, str, str], where: try_sources.Where, tmp_path: Path
) -> None:
    """A Debian template has no glibc history: the branch's commits are those since it
    forked from its own remote's HEAD (main here, which moved on after the fork)."""
    repo, _, tip = glibc_repo
    git(repo, "checkout", "-q", "-b", "try", f"{tip}~1")
    fix = commit(repo, {"elf/dl-close.c": "int z;\n"}, "elf: add z")
    git(repo, "checkout", "-q", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "upstream moves on")
    fetched = try_sources.fetch(classify([f"file://{repo}", "try"]), where)
    assert [p.subject for p in fetched.revision.patches] == ["elf: add z"]
    assert fetched.base == git(repo, "rev-parse", f"{tip}~1") and fetched.tip == fix
    assert fetched.base_origin == "the branch's fork point from the remote's HEAD"
    assert fetched.origin == (
        f"file://{repo} try: 1 commit on {fetched.base[:12]} (forked from the remote's HEAD)"
    )
    scratch = where.cache.root / "tmp"
    assert list(scratch.iterdir()) == []  # the scratch repository is gone
    with pytest.raises(UsageError, match="has no commits beyond where the remote's HEAD is"):
        try_sources.fetch(classify([f"file://{repo}", "main"]), where)
    with pytest.raises(SourceError, match="cannot fetch the branch and the remote's HEAD"):
        try_sources.fetch(classify([f"file://{repo}", "no-such-branch"]), where)
    assert list(scratch.iterdir()) == []


def test_an_mbox_file_with_two_revisions_gives_the_newest_and_says_so(
    glibc_repo: tuple[Path, str, str], where: try_sources.Where, tmp_path: Path
) -> None:
    repo, base, tip = glibc_repo
    mbox = tmp_path / "both.mbox"
    mbox.write_text(
        git(repo, "format-patch", "--stdout", f"{tip}~1..{tip}") + "\n"
        + git(repo, "format-patch", "--stdout", "-v2", f"{base}..{tip}") + "\n"
    )  # fmt: skip
    fetched = try_sources.fetch(classify([str(mbox)]), where)
    assert (
        fetched.origin
        == f"the mails of {mbox}: v2, the newest revision in the file (also there: v1)"
    )
    assert len(fetched.revision.patches) == 2


def test_a_bare_diff_file_is_one_patch_applied_with_patch(
    tmp_path: Path, where: try_sources.Where
) -> None:
    diff = tmp_path / "fix.diff"
    diff.write_text("Fix y\n\n--- a/elf/x.c\n+++ b/elf/x.c\n@@ -1 +1 @@\n-a\n+b\n")
    fetched = try_sources.fetch(classify([str(diff)]), where)
    assert fetched.bare_diff
    assert [p.subject for p in fetched.revision.patches] == ["Fix y"]


def _thread(repo: Path, base: str, tip: str) -> list[bytes]:
    """v1 (one patch), v2 (a cover letter with base-commit:, two patches), and a reply."""
    v1 = git(repo, "format-patch", "--stdout", "--cover-letter", f"{tip}~1..{tip}")
    v2 = git(repo, "format-patch", "--stdout", "-v2", "--cover-letter", f"--base={base}",
             f"{base}..{tip}")  # fmt: skip
    mails = [
        b"Message-ID: <" + f"v{n}-{i}@example.org".encode() + b">\n" + mail
        for n, text in ((1, v1), (2, v2))
        for i, mail in enumerate(
            m.split(b"\n", 1)[1] for m in (b"\n" + text.encode()).split(b"\nFrom ")[1:]
        )
    ]
    reply = (b"Message-ID: <reply@example.org>\nFrom: r@example.org\n"
             b"Subject: Re: [PATCH v2 1/2] elf: add y\n\nLooks good.\n")  # fmt: skip
    return [*mails, reply]


def test_a_message_id_takes_the_newest_revision_of_its_thread_and_says_which(
    glibc_repo: tuple[Path, str, str], where: try_sources.Where
) -> None:
    repo, base, tip = glibc_repo
    with inbox_fake.serve() as inbox:
        inbox.add_thread(_thread(repo, base, tip))
        fetched = try_sources.fetch(
            MessageId("v1-0@example.org"), try_sources.Where(where.cache, inbox.url, None, print)
        )
    assert fetched.revision.version == 2
    assert fetched.origin == (
        f"the thread of <v1-0@example.org> in {inbox.url}: v2, the newest revision in the "
        "thread (also there: v1)"
    )
    assert fetched.base == base
    assert [p.subject for p in fetched.revision.patches] == ["elf: add y", "nptl: reword"]
    assert not list((where.cache.root / "tmp").iterdir())  # the download is not kept


def test_a_message_id_the_inbox_lacks_and_a_thread_without_patches_are_errors(
    where: try_sources.Where,
) -> None:
    with inbox_fake.serve() as inbox:
        inbox.add_thread(
            [b"Message-ID: <talk@example.org>\nSubject: glibc 2.44 plans\n\nWhat next?\n"]
        )
        at = try_sources.Where(where.cache, inbox.url, None, lambda _: None)
        with pytest.raises(SourceError, match=r"<nope@example.org> is not in http://127"):
            try_sources.fetch(MessageId("nope@example.org"), at)
        with pytest.raises(SeriesError, match=r"the thread of <talk@example.org> .*no patch found"):
            try_sources.fetch(MessageId("talk@example.org"), at)


def test_a_patchwork_series_by_id_and_by_url(
    glibc_repo: tuple[Path, str, str], where: try_sources.Where
) -> None:
    repo, base, tip = glibc_repo
    mbox = git(repo, "format-patch", "--stdout", f"{base}..{tip}").encode() + b"\n"
    with patchwork_fake.serve() as fake:
        fake.add_series(77, "[v3,0/2] elf: y", [701, 702])
        fake.add_series(79, "half", [791], received_all=False)
        fake.mboxes[77] = mbox
        at = try_sources.Where(where.cache, "", fake.url, lambda _: None)
        by_id = try_sources.fetch(classify(["77"]), at)
        web = fake.url.removesuffix(patchwork_fake.API)
        by_url = try_sources.fetch(classify([f"{web}/project/glibc/list/?series=77"]), at)
        with pytest.raises(FarmError, match="series"):
            try_sources.fetch(classify(["78"]), at)  # the API has no series 78
        with pytest.raises(SourceError, match="is incomplete"):
            try_sources.fetch(classify(["79"]), at)
        with pytest.raises(SourceError, match="has no such series"):
            try_sources.fetch(classify([f"{web}/series/78/"]), at)
    assert by_id.origin == f"patchwork series 77 '[v3,0/2] elf: y' at {web}"
    assert by_url.origin == f"patchwork series 77 at {web}"
    assert by_id.revision.patches == by_url.revision.patches
    assert len(by_id.revision.patches) == 2


# --- the scenario made ------------------------------------------------------------------------


def made_for(template_path: Path, fetched: try_sources.FetchedSeries) -> try_cmd.MadeScenario:
    """What ``farm try`` makes of ``fetched`` on the template, deciding as it does."""
    template = load_scenario(template_path)
    resolve = (
        try_sources.git_resolver(Path(template.source.url))
        if isinstance(template.source, GitSource)
        else None
    )
    base = try_series.choose_base(
        template.source, series_base=fetched.base, series_base_origin=fetched.base_origin,
        requested=None, resolve=resolve,
    )  # fmt: skip
    files = [f for p in fetched.revision.patches for f in files_touched(p)]
    selection = select_glibc_tests(files, full=False, template=template.tests.glibc)
    return try_cmd.make(template, fetched, base, selection)


def _made(template_path: Path, fetched: try_sources.FetchedSeries, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    return made_for(template_path, fetched).write(out)


def test_the_made_scenario_is_the_template_with_this_one_series(
    glibc_repo: tuple[Path, str, str], where: try_sources.Where, tmp_path: Path
) -> None:
    repo, base, tip = glibc_repo
    fetched = try_sources.fetch(classify([str(repo), f"{base}..{tip}"]), where)
    scenario = load_scenario(_made(FIXTURE_TEMPLATE, fetched, tmp_path))
    template = load_scenario(FIXTURE_TEMPLATE)
    assert scenario.name == template.name  # same images, same flaky history
    assert scenario.source == template.source and scenario.prepare == template.prepare
    assert [s.name for s in scenario.series] == [f"range-{tip[:12]}"]
    assert scenario.series[0].source == MboxPatches(tmp_path / "run" / "try-series.mbox")
    assert scenario.tests.glibc == ("elf/", "nptl/")
    assert scenario.tests.cases == template.tests.cases
    assert [e.test for e in scenario.expectations] == ["farm/dlmopen/newlm-isolation"]
    assert "the series' base" in scenario.description  # a Debian glibc: the base is not used
    # The saved mbox is exactly the series: the fetcher reads the same patches back.
    fetcher = sources.Fetcher(sources.Cache(tmp_path / "c2"), scenario)
    again = fetcher.patches(scenario.series[0].source, what="again")
    assert [(p.subject, p.content) for p in again] == [
        (p.subject, p.content) for p in fetched.revision.patches
    ]


def test_a_git_template_is_pinned_to_the_chosen_commit_and_keeps_its_paths(
    glibc_repo: tuple[Path, str, str], where: try_sources.Where, tmp_path: Path
) -> None:
    repo, base, tip = glibc_repo
    template = _git_template(tmp_path, repo)
    fetched = try_sources.fetch(classify([str(repo), f"{base}..{tip}"]), where)
    scenario = load_scenario(_made(template, fetched, tmp_path))
    assert scenario.source == GitSource(str(repo), base)  # the range's base, a full id
    assert scenario.prepare[0] == load_scenario(template).prepare[0]  # absolute now
    assert not scenario.stacked and len(scenario.series) == 1
    # Kept: "*" and baseline ones; dropped: the one about the template's other series.
    assert [(e.variant, e.test) for e in scenario.expectations] == [
        ("*", "farm/dlmopen/newlm-isolation"),
        ("baseline", "glibc/misc/tst-x"),
        ("*", "glibc/elf/tst-*"),
    ]
    assert scenario.tests.glibc == ("elf/", "misc/", "nptl/")  # the template's misc/ too


def test_the_template_glibc_tests_are_kept_beside_the_series_subdirectories() -> None:
    template = ("elf/tst-dlmopen*", "misc/tst-rseq*", "nptl/tst-rseq-nptl", "dlfcn/")
    selection = select_glibc_tests(["elf/dl-open.c"], full=False, template=template)
    assert selection.entries == ("dlfcn/", "elf/", "misc/tst-rseq*", "nptl/tst-rseq-nptl")
    assert selection.reasons[1:] == (
        "dlfcn/ (the template's)",
        "elf/tst-dlmopen* (the template's, run with elf/)",
        "misc/tst-rseq* (the template's)",
        "nptl/tst-rseq-nptl (the template's)",
    )
    docs = select_glibc_tests(["NEWS"], full=False, template=template)
    assert docs.entries == ("dlfcn/", "elf/tst-dlmopen*", "misc/tst-rseq*", "nptl/tst-rseq-nptl")
    assert select_glibc_tests(["NEWS"], full=False, template=("all",)).entries == ("all",)


def test_a_documentation_series_runs_the_template_s_own_tests(
    tmp_path: Path, where: try_sources.Where
) -> None:
    diff = tmp_path / "news.diff"
    diff.write_text("--- a/NEWS\n+++ b/NEWS\n@@ -1 +1 @@\n-a\n+b\n")
    fetched = try_sources.fetch(classify([str(diff)]), where)
    scenario = load_scenario(_made(FIXTURE_TEMPLATE, fetched, tmp_path))
    assert scenario.tests.glibc == load_scenario(FIXTURE_TEMPLATE).tests.glibc


def test_the_quilt_series_of_the_template_is_not_in_the_made_scenario(
    tmp_path: Path, where: try_sources.Where
) -> None:
    diff = tmp_path / "x.diff"
    diff.write_text("--- a/elf/x.c\n+++ b/elf/x.c\n@@ -1 +1 @@\n-a\n+b\n")
    scenario = load_scenario(
        _made(FIXTURE_TEMPLATE, try_sources.fetch(classify([str(diff)]), where), tmp_path)
    )
    assert not any(isinstance(s.source, QuiltPatches) for s in scenario.series)
    assert scenario.series[0].name == "file-x"


def test_a_subject_with_control_characters_is_shown_and_written_harmless(
    tmp_path: Path, where: try_sources.Where
) -> None:
    mail = tmp_path / "evil.mbox"
    mail.write_bytes(
        b"From: x@example.org\nSubject: [PATCH] elf: \x1b[31mred\x1b[0m =?utf-8?q?a=07b?=\n\n"
        b"body\n---\n--- a/elf/x.c\n+++ b/elf/x.c\n@@ -1 +1 @@\n-a\n+b\n"
    )
    fetched = try_sources.fetch(classify([str(mail)]), where)
    assert "\x1b" in fetched.revision.patches[0].subject  # the mail says so; the farm shows
    scenario = load_scenario(_made(FIXTURE_TEMPLATE, fetched, tmp_path))
    assert "?[31mred?[0m a?b" in scenario.series[0].summary
    assert "\x1b" not in scenario.description and "\x07" not in scenario.description


# --- bad input through the command leaves nothing behind -------------------------------------


@pytest.fixture()
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FARM_CACHE", str(tmp_path / "cache"))
    yield tmp_path


@pytest.mark.parametrize(
    ("series", "said"),
    [
        (["missing.mbox"], "no such file"),
        (["HEAD..HEAD"], "give the repository first"),
        (["."], "is a directory"),
        (
            [str(REPO / "tests/fixtures/series/broken-isolation.mbox"), "--base", "HEAD"],
            "not a git source",
        ),
    ],
)
def test_bad_series_through_the_cli_is_exit_2_and_no_run_directory(
    in_tmp: Path, series: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from farm import cli

    status = cli.main(["try", *series, "--scenario", str(FIXTURE_TEMPLATE), "--run-dir", "run"])
    assert status == 2
    assert said in capsys.readouterr().err
    assert not (in_tmp / "run").exists() and not (in_tmp / "farm-runs").exists()


def test_a_range_that_is_empty_through_the_cli_leaves_nothing(
    in_tmp: Path, glibc_repo: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from farm import cli

    repo, _, _ = glibc_repo
    status = cli.main(["try", str(repo), "main..main", "--scenario", str(FIXTURE_TEMPLATE)])
    assert status == 2
    assert "the range is empty" in capsys.readouterr().err
    assert not (in_tmp / "farm-runs").exists()
