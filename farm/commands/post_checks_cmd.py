"""``farm post-checks``: post a gate's patchwork checks (or ``pending`` ones) to patchwork.

A separate step from the gate on purpose: the gate job writes ``patchwork-checks.json`` as
an artifact without any secret, and only the step that posts holds the token, which is never
taken from the command line (``ps`` shows it). Where the checks go is said the way reviewers
see it: ``--series ID`` (the number in patchwork's ``/series/ID/`` URL) or ``--msgid`` (a
mail of the series), both resolved through patchwork's API, or ``--patches`` with the ids.

Before the first post every patch's detail is checked against where the checks were asked to
go: the project (``--project``, ``pw.project``) and the patchwork series (see
`farm.report.patchwork.post_checks`). Everything printed, and every error's message, passes
through the client's `farm.scrub.Scrubber`: the token, URL credentials and a server's
terminal escapes never reach the terminal or a CI log.

Exit status: 0 every check posted and verified; 2 bad input, nothing posted; 3 a post
failed (the message says how many were posted before and whether the failed one may have
been stored).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from farm.commands import common
from farm.errors import FarmError, UsageError
from farm.inputs import patchwork_config
from farm.inputs.patchwork_api import ApiRoot, PatchworkClient, check_timeout, parse_patchwork_id
from farm.report import patchwork
from farm.scrub import PLAIN, Scrubber

TOKEN_ENV = patchwork_config.TOKEN_ENV


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``post-checks`` subcommand (kept here so that cli.py stays one line for it)."""
    post = sub.add_parser(
        "post-checks",
        help="post a gate's patchwork checks, or pending ones when a run starts",
        description="Post a gate's patchwork checks, or 'pending' ones when a run starts, on "
        "every patch of a patchwork series. Exit status: 0 every check posted and verified, "
        "2 bad input (nothing posted), 3 a post failed.",
    )
    post.add_argument(
        "checks", type=Path, nargs="?", metavar="CHECKS_JSON", help="patchwork-checks.json"
    )
    post.add_argument(
        "--pending", action="append", default=[], type=Path, metavar="SCENARIO",
        help="post 'pending' for this scenario's arches instead of a checks file (repeatable)",
    )  # fmt: skip
    post.add_argument("--api-url", help="patchwork's API root (default: git config pw.server)")
    post.add_argument(
        "--project",
        help="patchwork project (link name or id) every patch must be in; also narrows --msgid "
        "(default: git config pw.project)",
    )
    post.add_argument(
        "--series", action="append", default=[], metavar="[SERIES=]ID",
        help="patchwork series id; SERIES= names the farm series when there are several",
    )  # fmt: skip
    post.add_argument(
        "--msgid", action="append", default=[], metavar="[SERIES=]MESSAGE_ID",
        help="the Message-ID of any mail of the series (or its cover letter)",
    )  # fmt: skip
    post.add_argument(
        "--patches", action="append", default=[], metavar="SERIES=ID,ID,...",
        help="the patchwork ids of every patch of a series",
    )  # fmt: skip
    post.add_argument("--only-given", action="store_true", help="post only the series given above")
    post.add_argument(
        "--target-url", help="the report's URL (default: the GitHub Actions run, when in one)"
    )
    post.add_argument(
        "--token-file", type=Path, help=f"file holding the token (else ${TOKEN_ENV}, pw.token)"
    )
    post.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per request, all of it (a deadline)"
    )
    post.set_defaults(handler=run)


def parse_patch_ids(values: Sequence[str]) -> dict[str, list[int]]:
    """``SERIES=ID,ID,...`` arguments as a mapping; anything else is a usage error."""
    ids: dict[str, list[int]] = {}
    for value in values:
        series, sep, numbers = value.partition("=")
        parsed = [parse_patchwork_id(part) for part in numbers.split(",")]
        if not sep or not series or None in parsed or series in ids:
            raise UsageError(
                f"--patches '{PLAIN.line(value, limit=80)}': expected SERIES=ID,ID,... with "
                "positive patchwork patch ids (digits), once per series, e.g. "
                "rtld-shared-v12=12345,12346"
            )
        ids[series] = [number for number in parsed if number is not None]
    return ids


def _split_named(value: str, option: str, known: Sequence[str]) -> tuple[str, str]:
    """``NAME=REST`` when NAME is a known series; else REST alone, for the only series."""
    name, sep, rest = value.partition("=")
    if sep and name in known:
        return name, rest
    # A series id is a number, so a name before '=' is a series the checks do not have; a
    # Message-ID may hold '=' itself.
    if len(known) == 1 and not (sep and option == "--series"):
        return known[0], value
    raise UsageError(
        f"{option} '{PLAIN.line(value, limit=80)}': say which series it is, as {option} "
        f"SERIES=...; the series are {PLAIN.line(', '.join(known)) or '(none)'}"
    )


def run(args: argparse.Namespace) -> int:
    """`post` with every message of an error scrubbed by the client's scrubber once there is
    a client (its token), by the plain one before."""
    scrubbers = [PLAIN]
    try:
        return _post(args, scrubbers)
    except FarmError as error:
        error.args = (scrubbers[-1].text(str(error)),)
        raise


def _post(args: argparse.Namespace, scrubbers: list[Scrubber]) -> int:
    timeout = check_timeout(args.timeout)
    if (args.checks is None) == (not args.pending):
        raise UsageError(
            "post-checks takes one of: a CHECKS_JSON file the gate wrote, or --pending SCENARIO"
        )
    scenarios = common.load_all(args.pending) if args.pending else []
    checks = patchwork.read_checks(args.checks) if args.checks is not None else ()
    known = list(
        dict.fromkeys([c.series for c in checks] + [s.name for sc in scenarios for s in sc.series])
    )
    patch_ids, series_ids, msgids = _destinations(args, known)
    target_url = _target_url(args.target_url)
    client = _client(args, timeout)
    scrubbers.append(client.scrubber)
    say = client.scrubber.line
    project = (args.project or patchwork_config.git_config("pw.project")).strip()

    found = [(name, client.series(number)) for name, number in series_ids]
    found += [(name, client.series_of_message(msgid, project=project)) for name, msgid in msgids]
    for name, info in found:
        patch_ids[name] = [p.id for p in info.patches]
        label = f"patchwork series {info.id}" if info.id else "a patch without a series"
        numbers = ", ".join(map(str, patch_ids[name]))
        print(f"{say(name, limit=80)}: {label} '{say(info.name)}', patches {numbers}")
        if not info.complete:
            print(
                f"farm: warning: patchwork has not received every patch of series {info.id} "
                "yet; posting on those it has",
                file=sys.stderr,
            )
    if not project:
        print(
            "farm: warning: no --project (or git config pw.project): the patches are only "
            "checked to be of one project, not of the one you mean",
            file=sys.stderr,
        )

    if scenarios:
        checks = patchwork.pending_checks(scenarios, list(patch_ids), target_url=target_url)
    else:
        if args.only_given:
            checks = tuple(c for c in checks if c.series in patch_ids)
        if target_url:
            checks = tuple(replace(c, target_url=target_url) for c in checks)
    if not checks:
        raise UsageError(
            f"{PLAIN.line(str(args.checks))}: no checks to post for series "
            f"{PLAIN.line(', '.join(patch_ids))}"
        )
    if not any(c.target_url for c in checks):
        print(
            "farm: warning: no target URL: reviewers get no link to the report; pass --target-url",
            file=sys.stderr,
        )
    posted = patchwork.post_checks(
        checks,
        client=client,
        patch_ids=patch_ids,
        project=project,
        series_ids={name: info.id for name, info in found},
    )
    patches = len({p.patch_id for p in posted})
    print(
        f"posted {len(posted)} check(s) on {patches} patch(es) at {client.root.url()}, each "
        "stored as sent (201 Created, echoed back)"
    )
    return 0


def _destinations(
    args: argparse.Namespace, known: Sequence[str]
) -> tuple[dict[str, list[int]], list[tuple[str, int]], list[tuple[str, str]]]:
    """Where each series' checks go: patch ids given, series ids and Message-IDs to look up."""
    patch_ids = parse_patch_ids(args.patches)
    named = [_split_named(v, "--series", known) for v in args.series]
    msgids = [_split_named(v, "--msgid", known) for v in args.msgid]
    series_ids = []
    for name, text in named:
        number = parse_patchwork_id(text)
        if number is None:
            raise UsageError(
                f"--series '{PLAIN.line(text, limit=80)}': expected patchwork's series id, a "
                "number (positive, digits only), as in its /series/ID/ URL"
            )
        series_ids.append((name, number))
    given = [*patch_ids, *(name for name, _ in series_ids), *(name for name, _ in msgids)]
    if not given:
        raise UsageError("say where the checks go: --series ID, --msgid MESSAGE_ID or --patches")
    unknown = sorted(set(given) - set(known))
    twice = sorted({name for name in given if given.count(name) > 1})
    if unknown or twice:
        raise UsageError(
            f"series {', '.join(unknown + twice)}: "
            + ("not in the checks; " if unknown else "given twice; ")
            + f"the series are {', '.join(known) or '(none)'}"
        )
    return patch_ids, series_ids, msgids


def _target_url(given: str | None) -> str:
    """``--target-url``, else the GitHub Actions run, else "" (checked for patchwork)."""
    url = given or patchwork_config.github_run_url(os.environ)
    if not url:
        return ""
    origin = "--target-url" if given else "the GitHub Actions run URL"
    return patchwork_config.check_target_url(url, origin=origin)


def _client(args: argparse.Namespace, timeout: float) -> PatchworkClient:
    """The API root and token from the command line, the environment or git-pw's config."""
    api_url = args.api_url or patchwork_config.git_config("pw.server")
    if not api_url:
        raise UsageError(
            "no patchwork API URL: pass --api-url or set git config pw.server (as for git-pw), "
            "e.g. https://patchwork.sourceware.org/api/1.3"
        )
    root = ApiRoot.parse(api_url)
    from_elsewhere = args.token_file or os.environ.get(TOKEN_ENV, "").strip()
    token = patchwork_config.load_token(
        token_file=args.token_file,
        environ=os.environ,
        git_token="" if from_elsewhere else patchwork_config.git_config("pw.token"),
    )
    return PatchworkClient(root, token, timeout)
