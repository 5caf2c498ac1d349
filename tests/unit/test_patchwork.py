"""Patchwork checks: contexts that cannot hide a verdict, a checks file read as untrusted
input, and posting that counts only what patchwork stored (against a fake on loopback)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from farm.errors import FarmError
from farm.inputs.patchwork_api import (
    CONTEXT_MAX,
    ApiRoot,
    PatchworkClient,
    PatchworkError,
    PatchworkPostError,
    Token,
    check_timeout,
)
from farm.judging.gate import evaluate
from farm.report.patchwork import (
    DESCRIPTION_LIMIT,
    PatchworkCheck,
    check_context,
    patchwork_checks,
    post_checks,
    read_checks,
    write_patchwork,
)
from farm.results import Outcome
from farm.results import TestResult as Record
from tests.unit.patchwork_fake import FakePatchwork, serve

TODAY = datetime.date(2026, 11, 30)
SLUG = re.compile(r"[-a-zA-Z0-9_]+")


def rec(scenario: str, variant: str, test: str, outcome: Outcome, arch: str = "x86_64") -> Record:
    return Record(scenario=scenario, arch=arch, variant=variant, test=test, outcome=outcome)


@pytest.fixture()
def fake() -> Iterator[FakePatchwork]:
    with serve() as server:
        server.add_series(40, "elf: fix dlmopen", [401, 402, 403])
        server.add_series(50, "other series", [501])
        yield server


def client(
    fake: FakePatchwork, token: str | None = "s3cret", timeout: float = 5
) -> PatchworkClient:
    return PatchworkClient(
        ApiRoot.parse(fake.url), Token(token) if token is not None else None, timeout
    )


CHECK = PatchworkCheck(
    "fix", "s", "x86_64", "fail", "glibc-farm-s-x86_64", "REJECT: x", "https://ci.example/1"
)


# ------------------------------------------------------------------ contexts


def test_two_scenarios_on_one_patch_cannot_make_a_reject_look_like_an_accept(
    fake: FakePatchwork,
) -> None:
    # Scenario "a" rejects the series (a PASS -> FAIL that reproduced); "b" accepts it. The
    # GitHub workflow gates each scenario in its own step, so b's success is posted last.
    records = [
        rec("a", "baseline", "t", Outcome.PASS),
        rec("a", "fix", "t", Outcome.FAIL),
        rec("b", "baseline", "t", Outcome.PASS),
        rec("b", "fix", "t", Outcome.PASS),
    ]
    result = evaluate(records, require_reproduction=False, today=TODAY)
    checks = {c.scenario: c for c in patchwork_checks(result)}
    assert (checks["a"].state, checks["b"].state) == ("fail", "success")
    for scenario in ("a", "b"):  # fail first, success last: the order that hid it before
        post_checks([checks[scenario]], client=client(fake), patch_ids={"fix": [401]})
    assert fake.shown_state(401) == "fail"
    assert len(set(fake.contexts(401))) == 2


def test_context_names_scenario_and_arch_readably() -> None:
    assert check_context("debian-2.36-backports", "x86_64") == (
        "glibc-farm-debian-2_36-backports-x86_64"
    )
    assert check_context("rseq", "i686", "gcc12") == "glibc-farm-rseq-i686-gcc12"


IDENTITY = st.tuples(
    st.text(min_size=1, max_size=300),
    st.one_of(st.none(), st.text(min_size=1, max_size=40)),
    st.sampled_from(["x86_64", "i686"]) | st.text(min_size=1, max_size=10),
)
NAMEISH = st.tuples(
    st.from_regex(r"[a-z0-9][a-z0-9._-]{0,40}", fullmatch=True),
    st.one_of(st.none(), st.from_regex(r"[a-z0-9.-]{1,12}", fullmatch=True)),
    st.sampled_from(["x86_64", "i686"]),
)

#: A tiny alphabet, so that near-collisions (a '-' moved between parts) are common.
SMALL = st.tuples(
    st.from_regex(r"[ab._-]{1,6}", fullmatch=True) | st.sampled_from(["a-i686", "a-x86_64"]),
    st.none() | st.from_regex(r"[ab._-]{1,4}", fullmatch=True) | st.sampled_from(["x86.64"]),
    st.sampled_from(["x86_64", "i686"]),
)


@settings(max_examples=600, deadline=None)
@given(st.one_of(IDENTITY, NAMEISH, SMALL), st.one_of(IDENTITY, NAMEISH, SMALL))
@example(("a-b", None, "x86_64"), ("a", "b", "x86_64"))  # where does the scenario end?
@example(("a-x86_64", None, "i686"), ("a", "i686", "x86_64"))  # a toolchain named as an arch
@example(("a-x86_64", "gcc", "i686"), ("a", "gcc", "x86_64"))
@example(("s-i686", None, "x86_64"), ("s", "x86.64", "i686"))  # ... once '.' became '_'
@example(("a.b", None, "i686"), ("a_b", None, "i686"))  # '.' becomes '_'
@example(("a", "b.c", "i686"), ("a", "b_c", "i686"))
def test_distinct_gates_get_distinct_contexts_within_patchworks_limits(
    one: tuple[str, str | None, str], other: tuple[str, str | None, str]
) -> None:
    first = check_context(one[0], one[2], one[1])
    second = check_context(other[0], other[2], other[1])
    for context in (first, second):
        assert SLUG.fullmatch(context) and len(context) <= CONTEXT_MAX, context
    assert (first == second) == (one == other)
    assert check_context(one[0], one[2], one[1]) == first  # deterministic


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", "b", "b.c", "b_c", "gcc", "x86_64", "i686", "x86.64", "-"]),
        min_size=2,
        max_size=6,
    )
)
def test_no_two_ways_to_cut_the_same_words_share_a_context(words: list[str]) -> None:
    # Every way to read these words as scenario, arch and toolchain (before or after the
    # arch) is a different gate, and must get a different context.
    identities = set()
    for cut in range(1, len(words)):
        for at in range(cut, len(words)):
            before, after = words[cut:at], words[at + 1 :]
            if before and after:
                continue
            toolchain = "-".join(before or after) or None
            identities.add(("-".join(words[:cut]), words[at], toolchain))
    contexts = {check_context(scenario, arch, tc) for scenario, arch, tc in identities}
    assert len(contexts) == len(identities)


def test_an_overlong_scenario_name_is_shortened_with_a_hash() -> None:
    long_name = "s" * 300
    context = check_context(long_name, "x86_64")
    assert len(context) == CONTEXT_MAX
    assert context.startswith("glibc-farm-sss") and re.search(r"-H[0-9a-f]{12}$", context)
    assert context != check_context(long_name + "t", "x86_64")


# ------------------------------------------------------------------ the checks file


def test_checks_per_series_and_arch_with_short_one_line_descriptions() -> None:
    records = [rec("s", "baseline", "t", Outcome.PASS, arch) for arch in ("x86_64", "i686")] + [
        rec("s", "fix", "t", Outcome.FAIL, "x86_64"),
        rec("s", "fix", "t", Outcome.PASS, "i686"),
    ]
    result = evaluate(records, require_reproduction=False, today=TODAY)
    checks = {c.arch: c for c in patchwork_checks(result, target_url="https://ci/1")}
    assert (checks["x86_64"].state, checks["i686"].state) == ("fail", "success")
    assert checks["x86_64"].context != checks["i686"].context
    assert checks["x86_64"].description.startswith("REJECT: 1 regression(s)")
    assert all(len(c.description) <= DESCRIPTION_LIMIT for c in checks.values())
    assert all("\n" not in c.description for c in checks.values())
    assert checks["i686"].to_api()["target_url"] == "https://ci/1"


def test_checks_file_round_trips(tmp_path: Path) -> None:
    result = evaluate(
        [rec("s", "baseline", "t", Outcome.PASS), rec("s", "ok", "t", Outcome.PASS)],
        require_reproduction=False,
        today=TODAY,
    )
    path = write_patchwork(result, tmp_path / "checks.json", target_url="https://ci/1")
    assert read_checks(path) == patchwork_checks(result, target_url="https://ci/1")


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{",
        "[]",
        "{}",
        '{"schema": 2, "checks": []}',
        '{"schema": 1, "checks": {}}',
        '{"schema": 1, "checks": [[]]}',
        '{"schema": 1, "checks": [{"series": "x"}]}',
        json.dumps({"schema": 1, "checks": [{**dataclasses.asdict(CHECK), "state": "great"}]}),
        json.dumps({"schema": 1, "checks": [{**dataclasses.asdict(CHECK), "context": "a b"}]}),
        json.dumps({"schema": 1, "checks": [{**dataclasses.asdict(CHECK), "series": 3}]}),
        json.dumps({"schema": 1, "checks": [{**dataclasses.asdict(CHECK), "extra": "x"}]}),
    ],
)
def test_a_malformed_checks_file_is_named_never_a_traceback(tmp_path: Path, content: str) -> None:
    path = tmp_path / "checks.json"
    path.write_text(content)
    with pytest.raises(PatchworkError, match=re.escape(str(path))) as caught:
        read_checks(path)
    assert caught.value.exit_code == 2


# ------------------------------------------------------------------ input checked up front


@pytest.mark.parametrize(
    "url",
    [
        "",
        "file:///etc/passwd",
        "patchwork.example.org/api",
        "http://",
        "http://[::1/api",
        "http://host:99999/api",
        "http://host:port/api",
        "https://user:pw@host/api/1.3",
        "https://host/api/1.3?x=1",
        "https://host/api/1.3\n/x",
        "https://ho st/api/1.3",
        "https://host/patchwork",
        "-https://host/api",
    ],
)
def test_a_malformed_api_url_is_bad_input(url: str) -> None:
    with pytest.raises(PatchworkError) as caught:
        ApiRoot.parse(url)
    assert caught.value.exit_code == 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_api_url_is_taken_or_refused_never_a_traceback(url: str) -> None:
    try:
        root = ApiRoot.parse(url)
    except PatchworkError:
        return
    assert root.url().startswith(("http://", "https://")) and "/api" in root.url()


def test_an_api_url_is_taken_without_surrounding_whitespace() -> None:
    assert ApiRoot.parse(" https://pw.example/api/1.3/\n").url() == "https://pw.example/api/1.3/"


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf"), 601.0])
def test_a_timeout_that_is_no_duration_is_bad_input(timeout: float) -> None:
    with pytest.raises(PatchworkError, match="--timeout"):
        check_timeout(timeout)


def test_a_token_is_stripped_and_never_shown() -> None:
    token = Token.parse("  abc123\n", origin="t")
    assert token.value == "abc123" and "abc123" not in repr(token)
    for bad in ("", " \n", "ab c", "ab\x00c", "abc\ndef", "tökën"):
        with pytest.raises(PatchworkError) as caught:
            Token.parse(bad, origin="t")
        assert bad.strip() == "" or bad.strip() not in str(caught.value)


# ------------------------------------------------------------------ posting, verified


def test_post_checks_posts_each_check_to_each_patch_and_verifies_it(fake: FakePatchwork) -> None:
    posted = post_checks([CHECK], client=client(fake), patch_ids={"fix": [401, 402]})
    assert [(p.patch_id, p.state, p.context) for p in posted] == [
        (401, "fail", CHECK.context),
        (402, "fail", CHECK.context),
    ]
    stored = client(fake).checks(402)
    assert [(c["state"], c["context"], c["description"], c["target_url"]) for c in stored] == [
        ("fail", CHECK.context, "REJECT: x", "https://ci.example/1")
    ]


def test_every_patch_is_looked_up_before_anything_is_posted(fake: FakePatchwork) -> None:
    with pytest.raises(PatchworkError, match="no such patch") as caught:
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [401, 999]})
    assert caught.value.exit_code == 2
    assert fake.checks == {}


def test_patches_of_two_patchwork_series_are_refused(fake: FakePatchwork) -> None:
    with pytest.raises(PatchworkError, match="different patchwork series"):
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [401, 501]})
    assert fake.checks == {}


def test_one_patch_for_two_series_is_refused(fake: FakePatchwork) -> None:
    other = dataclasses.replace(CHECK, series="other")
    with pytest.raises(PatchworkError, match="both series"):
        post_checks([CHECK, other], client=client(fake), patch_ids={"fix": [401], "other": [401]})
    assert fake.checks == {}


def test_series_without_ids_are_refused_before_posting(fake: FakePatchwork) -> None:
    with pytest.raises(PatchworkError, match="no patchwork patch ids given for series fix"):
        post_checks([CHECK], client=client(fake), patch_ids={"other": [401]})
    assert fake.requests == []


def test_an_invalid_token_is_named_as_such_before_anything_is_posted(fake: FakePatchwork) -> None:
    with pytest.raises(PatchworkError) as caught:
        post_checks([CHECK], client=client(fake, token="wrong"), patch_ids={"fix": [401]})
    message = str(caught.value)
    assert "HTTP 403" in message and "Invalid token" in message
    assert "does not accept this token" in message and "maintainer" not in message
    assert "wrong" not in message
    assert caught.value.exit_code == 2 and fake.checks == {}


def test_a_server_repeating_the_token_does_not_get_it_printed(fake: FakePatchwork) -> None:
    fake.fault, fake.fault_on = "leak", "*"
    with pytest.raises(PatchworkError) as caught:
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [401]})
    assert "Token <token> lacks rights" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_a_user_without_rights_is_told_it_needs_a_maintainer(fake: FakePatchwork) -> None:
    fake.tokens["t0ken"] = "reviewer"
    with pytest.raises(PatchworkPostError) as caught:
        post_checks([CHECK], client=client(fake, token="t0ken"), patch_ids={"fix": [401]})
    message = str(caught.value)
    assert "HTTP 403" in message and "maintainer" in message
    assert "You do not have permission" in message and "was not stored" in message
    assert "t0ken" not in message and caught.value.exit_code == 3


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_a_redirect_is_never_followed_and_says_which_url_to_use(
    fake: FakePatchwork, code: int
) -> None:
    fake.fault, fake.fault_on = f"redirect-{code}", "*"
    with pytest.raises(PatchworkError) as caught:
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [401]})
    message = str(caught.value)
    assert f"HTTP {code}" in message
    assert "https://patchwork.example.org/api/1.3/patches/401/" in message
    assert message.endswith("use --api-url https://patchwork.example.org/api/1.3")
    assert [method for method, _ in fake.requests] == ["GET"]  # nothing followed, nothing posted


def test_a_redirect_of_the_post_itself_is_a_failed_post(fake: FakePatchwork) -> None:
    fake.fault = "redirect-301"
    with pytest.raises(PatchworkPostError, match="never follows a redirect") as caught:
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [401]})
    assert caught.value.exit_code == 3 and not caught.value.maybe_stored


def test_a_connection_closed_after_the_request_may_have_stored_the_check(
    fake: FakePatchwork,
) -> None:
    fake.fault = "close"
    with pytest.raises(PatchworkPostError) as caught:
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [401]})
    message = str(caught.value)
    assert "closed the connection" in message and "did not answer" not in message
    assert "may have been stored" in message and caught.value.maybe_stored
    assert len(fake.checks[401]) == 1  # and indeed it was


def test_a_stalled_answer_is_a_timeout_that_may_have_stored_the_check(
    fake: FakePatchwork,
) -> None:
    fake.fault = "stall"
    with pytest.raises(PatchworkPostError) as caught:
        post_checks([CHECK], client=client(fake, timeout=0.3), patch_ids={"fix": [401]})
    message = str(caught.value)
    assert "did not answer within 0.3 s" in message and "may have been stored" in message


def test_a_201_without_the_check_echoed_is_not_counted_as_posted(fake: FakePatchwork) -> None:
    fake.fault = "no-echo"
    with pytest.raises(PatchworkPostError, match="did not echo it back") as caught:
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [401]})
    assert caught.value.maybe_stored


def test_a_failure_midway_says_how_many_were_posted_before(fake: FakePatchwork) -> None:
    fake.tokens["t0ken"] = "maintainer"
    posted: list[Any] = []
    original = fake.checks

    class FailOnSecond(dict[int, list[dict[str, Any]]]):
        def setdefault(self, key: int, default: Any = None) -> Any:
            if key == 402:
                fake.fault = "500"  # from the next request on
            return super().setdefault(key, default)

    fake.checks = FailOnSecond(original)
    with pytest.raises(PatchworkPostError) as caught:
        posted.extend(post_checks([CHECK], client=client(fake), patch_ids={"fix": [401, 402, 403]}))
    message = str(caught.value)
    assert "HTTP 500" in message and "2 of 3 check(s) were posted and verified before" in message


def test_an_unknown_patch_is_refused_with_what_to_check(fake: FakePatchwork) -> None:
    with pytest.raises(PatchworkError, match="a series id given as a patch id"):
        post_checks([CHECK], client=client(fake), patch_ids={"fix": [40]})
    with pytest.raises(PatchworkError, match="a patch id given as a series id"):
        client(fake).series(401)


def test_nothing_listening_is_unreachable_and_nothing_was_sent() -> None:
    with serve() as gone:
        url = gone.url
    with pytest.raises(PatchworkPostError, match="nothing was sent") as caught:
        PatchworkClient(ApiRoot.parse(url), Token("t"), 5).patch(1)
    assert not caught.value.maybe_stored and isinstance(caught.value, FarmError)


# ------------------------------------------------------------------ finding the patches


def test_a_series_id_gives_its_patches_in_order(fake: FakePatchwork) -> None:
    series = client(fake).series(40)
    assert [p.id for p in series.patches] == [401, 402, 403]
    assert series.name == "elf: fix dlmopen" and series.complete


def test_a_message_id_of_any_patch_or_the_cover_finds_the_series(fake: FakePatchwork) -> None:
    fake.covers["cover.40@example.org"] = 40
    for msgid in ("40.2@example.org", "<40.3@example.org>", " cover.40@example.org "):
        assert [p.id for p in client(fake).series_of_message(msgid).patches] == [401, 402, 403]
    with pytest.raises(PatchworkError, match="no patch or cover letter"):
        client(fake).series_of_message("nobody@example.org")
    with pytest.raises(PatchworkError, match="not a mail's Message-ID"):
        client(fake).series_of_message("just-words")


def test_an_api_that_ignores_the_message_id_filter_is_not_trusted(fake: FakePatchwork) -> None:
    fake.filters_msgid = False  # patchwork's API before 1.2 lists every patch instead
    with pytest.raises(PatchworkError, match="did not filter by Message-ID"):
        client(fake).series_of_message("nobody@example.org")
    found = client(fake).series_of_message("40.2@example.org")
    assert [p.id for p in found.patches] == [401, 402, 403]


def test_an_unknown_series_is_bad_input(fake: FakePatchwork) -> None:
    with pytest.raises(PatchworkError, match="no such series") as caught:
        client(fake).series(401)
    assert caught.value.exit_code == 2


def test_a_web_page_instead_of_the_api_is_named_not_quoted(fake: FakePatchwork) -> None:
    fake.fault, fake.fault_on = "html-404", "*"
    with pytest.raises(PatchworkError) as caught:
        client(fake).series(40)
    assert "an HTML page, not an answer of patchwork's API" in str(caught.value)
    assert "<" not in str(caught.value)
