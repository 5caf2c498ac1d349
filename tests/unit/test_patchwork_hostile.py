"""The patchwork client against a hostile server and hostile files: nothing it prints leaks the
token or URL credentials or drives the terminal, no request outlives its deadline, no file that
is not a regular one is read, no id that is not a positive integer is used, and no check lands
on a patch of another project or series (against the loopback patchwork of patchwork_fake)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farm.cli import main
from farm.inputs.patchwork_api import (
    ApiRoot,
    PatchworkClient,
    PatchworkError,
    PatchworkPostError,
    Token,
    is_patchwork_id,
    parse_patchwork_id,
)
from farm.inputs.patchwork_config import check_target_url, load_token
from farm.report.patchwork import PatchworkCheck, post_checks, read_checks
from farm.scrub import HIDDEN, PLAIN, Scrubber
from tests.unit.patchwork_fake import ESCAPES, FakePatchwork, serve, without_git_pw_settings
from tests.unit.test_patchwork_cli import checks_file

CHECK = PatchworkCheck(
    "fix", "s", "x86_64", "fail", "glibc-farm-s-x86_64", "REJECT: x", "https://ci.example/1"
)
TOKEN = "s3cret"
#: What a terminal acts on: ESC, BEL, CR, CSI in 8 bits, a bidi override.
ACTING = ("\x1b", "\x07", "\r", "\x9b", "\u202e")


@pytest.fixture()
def fake() -> Iterator[FakePatchwork]:
    with serve() as server:
        server.add_series(40, "elf: fix dlmopen", [401, 402, 403])
        server.add_series(50, "other series", [501])
        server.add_series(60, "gdb: a gdb patch", [601], project="gdb")
        yield server


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    without_git_pw_settings(monkeypatch, tmp_path)


def client(fake: FakePatchwork, timeout: float = 5) -> PatchworkClient:
    return PatchworkClient(ApiRoot.parse(fake.url), Token(TOKEN), timeout)


def assert_harmless(text: str) -> None:
    """Nothing in ``text`` a terminal acts on, and no secret."""
    for char in ACTING:
        assert char not in text, (char, text)
    assert TOKEN not in text.lower() and "hunter2" not in text


def finishes(call: Callable[[], object], seconds: float = 10) -> object:
    """``call()``'s value or exception, failing the test (not hanging it) past ``seconds``."""
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    return outcome[0]


# ------------------------------------------------------------------ 1. one scrubber


@pytest.mark.parametrize(
    "text",
    [
        "Token s3cret lacks rights",
        "Token S3CRET lacks rights",  # a server that upper-cases what it echoes
        "Token s3\x00cr\x1b[0met lacks rights",  # split by what a terminal ignores
        "Token s3\u200bcret",  # and by a zero-width space
    ],
)
def test_the_token_is_hidden_in_any_case_and_even_split_by_control_characters(
    text: str,
) -> None:
    shown = Scrubber((TOKEN,)).line(text)
    assert "<token>" in shown and "s3" not in shown.lower().replace("<token>", "")


#: What a terminal swallows between two characters: single controls and whole sequences.
SWALLOWED = st.sampled_from(
    ["", "\x00", "\x1b", "\x07", "\r", "\n", "\t", "\x9b", "\u200b", "\u202e", "\x1b[0m",
     "\x1b[38;5;196m", "\x1b]0;title\x07", "\x1b]8;;http://x\x1b\\", "\x1bc", "\x9b2J"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=40),
    st.lists(SWALLOWED, min_size=len(TOKEN) - 1, max_size=len(TOKEN) - 1),
    st.text(max_size=40),
    st.booleans(),
)
def test_no_text_a_server_sends_shows_the_token_or_acts_on_the_terminal(
    before: str, between: list[str], after: str, upper: bool
) -> None:
    token = TOKEN.upper() if upper else TOKEN
    woven = token[0] + "".join(sep + char for sep, char in zip(between, token[1:], strict=True))
    for shown in (
        Scrubber((TOKEN,)).line(before + woven + after),
        Scrubber((TOKEN,)).text(before + woven + after),
    ):
        for char in ACTING:
            assert char not in shown
        bare = "".join(c for c in shown if c.isprintable())
        assert TOKEN not in bare.casefold()


def test_the_token_is_hidden_before_a_message_is_cut_so_no_prefix_survives() -> None:
    text = "x" * 295 + TOKEN
    shown = Scrubber((TOKEN,)).line(text)
    assert "s3c" not in shown and len(shown) <= 300


@pytest.mark.parametrize(
    "url",
    [
        "https://maint:hunter2@patchwork.example.org/api/1.3",
        "http://maint:hun@ter2@patchwork.example.org/",  # an @ in the password
        "HTTPS://hunter2@patchwork.example.org",
    ],
)
def test_credentials_in_a_url_are_hidden(url: str) -> None:
    shown = PLAIN.line(f"could not reach {url} today")
    assert "hunter2" not in shown and "ter2" not in shown
    assert "<credentials>@patchwork.example.org" in shown


def test_terminal_control_is_shown_as_visible_escapes() -> None:
    shown = PLAIN.line(f"oops {ESCAPES} \x9b31m \ud800")
    assert_harmless(shown)
    assert "\\x1b[2J" in shown and "\\x07" in shown and "\\u202e" in shown
    assert "\\x9b" in shown and "\\ud800" in shown
    assert PLAIN.text("two\nlines\tkept") == "two\nlines\tkept"
    assert PLAIN.line(PLAIN.line(ESCAPES)) == PLAIN.line(ESCAPES)  # scrubbing twice is harmless


@pytest.mark.parametrize("fault", ["escape-reason", "escape-body"])
def test_a_servers_escape_sequences_never_reach_a_message(fake: FakePatchwork, fault: str) -> None:
    fake.fault, fake.fault_on = fault, "*"
    with pytest.raises(PatchworkPostError) as caught:
        client(fake).patch(401)
    message = str(caught.value)
    assert_harmless(message)
    assert "HTTP 500" in message and "\\x1b]0;pwned\\x07" in message


@pytest.mark.parametrize("fault", ["leak-reason", "leak-status-line"])
def test_a_token_echoed_in_the_reason_phrase_or_a_malformed_status_line_is_hidden(
    fake: FakePatchwork, fault: str
) -> None:
    fake.fault, fake.fault_on = fault, "*"
    with pytest.raises((PatchworkError, PatchworkPostError)) as caught:
        client(fake).patch(401)
    message = str(caught.value)
    assert_harmless(message)
    assert "Token <token>" in message


@pytest.mark.parametrize("where", ["environment", "git config"])
def test_the_cli_prints_neither_escapes_nor_the_token_from_the_environment_or_git(
    fake: FakePatchwork,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    if where == "environment":
        monkeypatch.setenv("FARM_PATCHWORK_TOKEN", TOKEN)
    else:
        (tmp_path / "home" / ".gitconfig").write_text(f"[pw]\n\ttoken = {TOKEN}\n")
    argv = ["post-checks", checks_file(tmp_path, CHECK), "--api-url", fake.url, "--series", "40"]
    for fault in ("escape-reason", "escape-body", "leak-reason", "leak-status-line"):
        fake.fault, fake.fault_on = fault, "*"
        assert main(argv) in (2, 3)
        captured = capsys.readouterr()
        assert_harmless(captured.out + captured.err)
        assert captured.err.startswith("farm: error: ")
    assert fake.checks == {}


def test_credentials_in_the_api_url_are_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    for url in (
        "https://maint:hunter2@patchwork.example.org:99999/api/1.3",  # a bad port, quoted
        "https://maint:hunter2@patchwork.example.org/api/1.3",
        "https://maint:hunter2@patchwork.example.org/no-api",
        "ftp://maint:hunter2@patchwork.example.org/api",
    ):
        with pytest.raises(PatchworkError) as caught:
            ApiRoot.parse(url)
        assert_harmless(str(caught.value))
    assert main(["post-checks", "x.json", "--api-url", "https://u:hunter2@h:0x/api/1.3"]) == 2
    assert_harmless(capsys.readouterr().err)


def test_a_target_url_with_credentials_is_refused_and_not_posted_to_everyone(
    fake: FakePatchwork, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PatchworkError, match="credentials") as caught:
        check_target_url("https://ci:hunter2@ci.example.org/run/1", origin="--target-url")
    assert_harmless(str(caught.value))
    monkeypatch.setenv("FARM_PATCHWORK_TOKEN", TOKEN)
    forged = dataclasses.replace(CHECK, target_url="https://ci:hunter2@ci.example.org/run/1")
    argv = ["post-checks", checks_file(tmp_path, forged), "--api-url", fake.url, "--series", "40"]
    assert main(argv) == 2
    assert fake.checks == {}


def test_the_cli_scrubs_a_file_name_that_holds_escapes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = tmp_path / "\x1b]0;pwned\x07.json"
    assert main(["post-checks", str(name), "--api-url", "http://127.0.0.1:9/api/1.3"]) == 2
    err = capsys.readouterr().err
    assert_harmless(err)
    assert "\\x1b]0;pwned\\x07.json" in err


def test_a_series_name_from_the_server_is_printed_scrubbed(
    fake: FakePatchwork,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FARM_PATCHWORK_TOKEN", TOKEN)
    fake.series[40] = (f"elf {ESCAPES} {TOKEN}", True)
    argv = ["post-checks", checks_file(tmp_path, CHECK), "--api-url", fake.url, "--series", "40"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert_harmless(captured.out + captured.err)
    assert "patchwork series 40 'elf \\x1b[2J" in captured.out


# ------------------------------------------------------------------ 2. a deadline per request


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_server_trickling_its_answer_is_stopped_at_the_deadline(
    fake: FakePatchwork, method: str
) -> None:
    # One byte every 0.05 s: every read of the socket gets its byte long before a 0.5 s read
    # timeout, and the whole answer (some 800 bytes) would take about 40 s.
    fake.fault, fake.fault_on, fake.trickle_seconds = "trickle", method, 0.05
    started = time.monotonic()
    outcome = finishes(
        lambda: post_checks([CHECK], client=client(fake, timeout=0.5), patch_ids={"fix": [401]})
    )
    elapsed = time.monotonic() - started
    assert isinstance(outcome, PatchworkPostError), outcome
    message = str(outcome)
    assert "did not answer within 0.5 s" in message and "deadline" in message
    assert "http://127.0.0.1:" in message and "/api/1.3/patches/401/" in message
    assert elapsed < 5, elapsed
    if method == "POST":
        assert outcome.maybe_stored and "may have been stored" in message
    else:
        assert not outcome.maybe_stored and fake.checks == {}


def test_the_whole_request_fits_its_deadline_when_the_server_is_merely_slow(
    fake: FakePatchwork,
) -> None:
    fake.fault, fake.fault_on, fake.trickle_seconds = "trickle", "GET", 0.001
    assert client(fake, timeout=20).patch(401).id == 401


# ------------------------------------------------------------------ 3. regular files only


def _special_files(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    directory = tmp_path / "directory"
    directory.mkdir()
    link = tmp_path / "link-to-fifo"
    link.symlink_to(fifo)
    huge = tmp_path / "huge"
    with huge.open("wb") as stream:
        stream.truncate(64 << 20)  # sparse: 64 MiB of nothing
    return {
        "a FIFO": fifo,
        "a character device": Path("/dev/zero"),
        "a directory": directory,
        "a FIFO (through a link)": link,
        "bytes, more than": huge,
    }


def test_a_token_file_that_is_no_regular_file_is_refused_at_once(tmp_path: Path) -> None:
    for kind, path in _special_files(tmp_path).items():
        outcome = finishes(
            lambda path=path: load_token(token_file=path, environ={}, git_token=""), 5
        )
        assert isinstance(outcome, PatchworkError), (kind, outcome)
        message = str(outcome)
        assert f"--token-file {path}" in message, message
        assert kind.partition(" (")[0] in message and "give a file holding only the token" in (
            message
        )
    good = tmp_path / "token"
    good.write_text(TOKEN + "\n")
    (tmp_path / "link-to-token").symlink_to(good)
    token = load_token(token_file=tmp_path / "link-to-token", environ={}, git_token="")
    assert token.value == TOKEN


def test_a_checks_file_that_is_no_regular_file_is_refused_at_once(tmp_path: Path) -> None:
    for kind, path in _special_files(tmp_path).items():
        outcome = finishes(lambda path=path: read_checks(path), 5)
        assert isinstance(outcome, PatchworkError), (kind, outcome)
        message = str(outcome)
        assert f"checks file {path}" in message and kind.partition(" (")[0] in message
        assert "patchwork-checks.json that farm gate" in message


def test_a_fifo_as_checks_file_is_exit_2_from_the_cli(tmp_path: Path) -> None:
    fifo = tmp_path / "checks.json"
    os.mkfifo(fifo)
    argv = ["post-checks", str(fifo), "--api-url", "http://127.0.0.1:9/api/1.3", "--series", "1"]
    # The real CLI in a subprocess: if it blocked on the FIFO, the timeout would say so.
    done = subprocess.run(
        [sys.executable, "-m", "farm", *argv],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"checks file {fifo}: is a FIFO (a pipe), not a regular file" in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000, "nested too deeply"),
        ('{"schema": 1, "checks": [], "n": ' + "9" * 5000 + "}", "digits"),
    ],
)
def test_a_checks_file_nested_too_deep_or_with_a_huge_number_is_named(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "checks.json"
    path.write_text(content)
    with pytest.raises(PatchworkError, match=message) as caught:
        read_checks(path)
    assert str(path) in str(caught.value)


def test_a_checks_file_smuggling_escapes_in_its_series_is_refused(tmp_path: Path) -> None:
    path = Path(checks_file(tmp_path, dataclasses.replace(CHECK, series=f"fix{ESCAPES}")))
    with pytest.raises(PatchworkError, match="control") as caught:
        read_checks(path)
    assert_harmless(str(caught.value))


# ------------------------------------------------------------------ 4. ids are positive ints


@pytest.mark.parametrize(
    "value", [True, False, 0, -401, 401.0, "401", None, [401], 2**63, int("9" * 4000)]
)
def test_an_id_from_json_is_a_positive_int_and_nothing_else(value: object) -> None:
    assert not is_patchwork_id(value)


def test_an_id_from_the_command_line_is_ascii_digits() -> None:
    assert parse_patchwork_id(" 401 ") == 401
    for text in ("", "0", "-1", "+1", "1.0", "true", "٤٠", "9" * 5000, "1e3", str(2**63)):
        assert parse_patchwork_id(text) is None, text


@pytest.mark.parametrize(
    "extra",
    [
        ["--series", "9" * 5000],
        ["--patches", "fix=401," + "9" * 5000],
        ["--series", "٤٠"],  # Arabic-Indic 40: str.isdecimal() said yes, int() made it 40
        ["--patches", "fix=٤٠١"],
    ],
)
def test_an_id_that_is_no_ascii_number_is_a_usage_error_never_a_traceback(
    fake: FakePatchwork,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
) -> None:
    monkeypatch.setenv("FARM_PATCHWORK_TOKEN", TOKEN)
    argv = ["post-checks", checks_file(tmp_path, CHECK), "--api-url", fake.url, *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "positive" in err and "Traceback" not in err and len(err) < 1000
    assert fake.requests == [] and fake.checks == {}


@pytest.mark.parametrize("bad", [True, 0, -1, 401.0, "401"])
def test_a_series_listing_a_patch_id_that_is_no_positive_int_posts_nothing(
    fake: FakePatchwork, bad: object
) -> None:
    fake.add_series(1, "patch one", [1])  # a `true` would have been this patch
    fake.series_fields[40] = {"patches": [{"id": bad, "name": "forged"}]}
    with pytest.raises(PatchworkPostError, match="not a patch with a positive integer id"):
        client(fake).series(40)
    assert fake.checks == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"series": [{"id": True}]},
        {"series": [{"id": "40"}]},
        {"series": [{"name": "no id"}]},
        {"project": {"id": True, "link_name": "glibc"}},
        {"project": "glibc"},
        {"project": None},
    ],
)
def test_a_patch_detail_whose_series_or_project_has_no_positive_id_is_refused(
    fake: FakePatchwork, fields: dict[str, Any]
) -> None:
    fake.patch_fields[401] = fields
    with pytest.raises(PatchworkPostError):
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [401]}, project="glibc")
    assert fake.checks == {}


def test_a_201_echoing_an_id_that_is_no_positive_int_is_not_counted_as_posted(
    fake: FakePatchwork,
) -> None:
    class TrueIds(dict[int, list[dict[str, Any]]]):
        def setdefault(self, key: int, default: Any = None) -> Any:
            stored: list[dict[str, Any]] = super().setdefault(key, default)
            return _IdTrue(stored)

    fake.checks = TrueIds()
    with pytest.raises(PatchworkPostError, match=r"id \(not a positive integer\)") as caught:
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [401]})
    assert caught.value.maybe_stored


class _IdTrue(list[dict[str, Any]]):
    """A check list whose appended check is echoed with the id ``true``."""

    def __init__(self, backing: list[dict[str, Any]]) -> None:
        super().__init__()
        self._backing = backing

    def append(self, check: dict[str, Any]) -> None:
        check["id"] = True
        self._backing.append(check)


# ------------------------------------------------------------------ 5. project and series


def test_a_patch_of_another_project_is_refused_and_nothing_is_posted(fake: FakePatchwork) -> None:
    with pytest.raises(PatchworkError) as caught:
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [401, 601]}, project="glibc")
    message = str(caught.value)
    assert "nothing posted" in message and "patch 601" in message
    assert "project gdb (id 2), not glibc" in message and "patch 401" not in message
    assert fake.checks == {} and not any(method == "POST" for method, _ in fake.requests)


@pytest.mark.parametrize("project", ["glibc", "GLIBC", "1", " glibc "])
def test_the_project_is_named_as_patchworks_filter_takes_it(
    fake: FakePatchwork, project: str
) -> None:
    post_checks([CHECK], client=client(fake), patch_ids={"fix": [401]}, project=project)
    assert len(fake.checks[401]) == 1


@pytest.mark.parametrize("project", ["gdb", "2", "glib", "11"])
def test_any_other_project_is_refused(fake: FakePatchwork, project: str) -> None:
    with pytest.raises(PatchworkError, match="is in patchwork project"):
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [401]}, project=project)
    assert fake.checks == {}


def test_without_a_project_patches_of_two_projects_are_refused(fake: FakePatchwork) -> None:
    with pytest.raises(PatchworkError, match="in 2 patchwork projects"):
        post_checks(
            [CHECK, dataclasses.replace(CHECK, series="other")],
            client=client(fake),
            patch_ids={"fix": [401], "other": [601]},
        )
    assert fake.checks == {}


def test_a_series_listing_a_patch_of_another_series_posts_nothing(fake: FakePatchwork) -> None:
    listed = client(fake).series(40).patches  # honest so far: 401, 402, 403
    fake.series_fields[40] = {"patches": [{"id": p.id, "name": p.name} for p in listed]}
    fake.series_fields[40]["patches"].append({"id": 501, "name": "from series 50"})
    info = client(fake).series(40)
    with pytest.raises(PatchworkError) as caught:
        post_checks(
            [CHECK],
            client=client(fake),
            patch_ids={"fix": [p.id for p in info.patches]},
            project="glibc",
            series_ids={"fix": 40},
        )
    message = str(caught.value)
    assert "patch 501 (for fix) is in patchwork series 50, not in series 40" in message
    assert fake.checks == {}  # not even on 401..403: all or nothing


def test_a_lone_patch_asked_for_must_still_be_in_no_series(fake: FakePatchwork) -> None:
    with pytest.raises(PatchworkError, match="is in patchwork series 40, not in no series"):
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [401]}, series_ids={"fix": 0})


def test_the_cli_honours_project_for_series(
    fake: FakePatchwork,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FARM_PATCHWORK_TOKEN", TOKEN)
    argv = ["post-checks", checks_file(tmp_path, CHECK), "--api-url", fake.url]
    assert main([*argv, "--series", "60", "--project", "glibc"]) == 2
    assert "patch 601 (for fix) is in patchwork project gdb" in capsys.readouterr().err
    assert fake.checks == {}
    (tmp_path / "home" / ".gitconfig").write_text("[pw]\n\tproject = glibc\n")
    assert main([*argv, "--series", "60"]) == 2  # pw.project counts as well
    assert fake.checks == {}
    assert main([*argv, "--series", "40"]) == 0
    assert sorted(fake.checks) == [401, 402, 403]


def test_the_cli_without_a_project_warns_that_it_checked_only_one_project(
    fake: FakePatchwork,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FARM_PATCHWORK_TOKEN", TOKEN)
    argv = ["post-checks", checks_file(tmp_path, CHECK), "--api-url", fake.url, "--series", "40"]
    assert main(argv) == 0
    assert "no --project (or git config pw.project)" in capsys.readouterr().err


@pytest.mark.parametrize("lead", ["\x9b", "\x1b[", "\x1b[0;"])
def test_a_secret_whose_first_letter_could_end_a_sequence_is_hidden(lead: str) -> None:
    """Found by the property above: "\\x9bs3cre\\nt" hid nothing, because "\\x9bs" is a
    whole CSI sequence to a terminal, yet the farm shows \\x9b as a visible escape, after
    which "s3cret" reads whole."""
    for shown in (
        Scrubber((TOKEN,)).text(f"{lead}s3cre\nt"),
        Scrubber((TOKEN,)).line(f"{lead}s3cret"),
    ):
        assert TOKEN not in "".join(c for c in shown if c.isprintable()).casefold()
        assert HIDDEN in shown
