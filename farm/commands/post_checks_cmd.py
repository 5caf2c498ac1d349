"""``farm post-checks``: post a gate's patchwork checks to patchwork's REST API.

A separate step from the gate on purpose: the gate job writes ``patchwork-checks.json`` as
an artifact without any secret, and only the step that posts holds the token. The token is
read from ``$FARM_PATCHWORK_TOKEN``, never from the command line (which ``ps`` shows).
"""

from __future__ import annotations

import argparse
import os

from farm.errors import UsageError
from farm.report import patchwork

TOKEN_ENV = "FARM_PATCHWORK_TOKEN"


def parse_patch_ids(values: list[str]) -> dict[str, list[int]]:
    """``SERIES=ID,ID,...`` arguments as a mapping; anything else is a usage error."""
    ids: dict[str, list[int]] = {}
    for value in values:
        series, sep, numbers = value.partition("=")
        try:
            parsed = [int(n) for n in numbers.split(",") if n.strip()]
        except ValueError:
            parsed = []
        if not sep or not series or not parsed or any(n <= 0 for n in parsed):
            raise UsageError(
                f"--patches {value!r}: expected SERIES=ID,ID,... with patchwork patch ids, "
                "e.g. rtld-shared-v12=12345,12346"
            )
        ids[series] = parsed
    return ids


def run(args: argparse.Namespace) -> int:
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise UsageError(f"set ${TOKEN_ENV} to a patchwork API token with maintainer rights")
    checks = patchwork.read_checks(args.checks)
    ids = parse_patch_ids(args.patches)
    wanted = [check for check in checks if check.series in ids] if args.only_given else checks
    posted = patchwork.post_checks(
        wanted, api_url=args.api_url, token=token, patch_ids=ids, timeout=args.timeout
    )
    print(f"posted {posted} check(s) to {args.api_url}")
    return 0
