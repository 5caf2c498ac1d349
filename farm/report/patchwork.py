"""Patchwork checks: the gate's verdict as the per-patch "checks" patchwork shows reviewers.

One check per series per (scenario, arch), and one context per (scenario, arch): patchwork
shows only the newest check of each (user, context) on a patch, so two scenarios sharing a
context would let one scenario's success hide another's failure. `check_context` names the
gate that spoke (scenario, toolchain when a scenario has several, arch) within patchwork's
slug rules and 255 characters. States map ACCEPT -> success, REJECT -> fail, UNDECIDED ->
warning; ``pending`` is posted when a run starts (`pending_checks`), and the verdict's check
with the same context replaces it.

Writing and posting are separate steps on purpose: the gate job writes
``patchwork-checks.json`` as an artifact without any secret, and only the step that posts
holds the token. `post_checks` looks every patch up before posting anything and counts a
check as posted only when patchwork answers ``201`` and echoes it (see `farm.inputs.patchwork_api`).
The look-up is where a wrong post is stopped, all or nothing: an unknown id, a wrong token,
a redirect, a patch of another project than the one configured (``pw.project``), or a
patch that is not in the patchwork series the checks were asked for (a series listing a
patch of another series) stop it before the first post.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from farm.inputs.patchwork_api import (
    CONTEXT_MAX,
    CONTEXT_RE,
    STATES,
    PatchInfo,
    PatchworkClient,
    PatchworkError,
    PatchworkPostError,
    PostedCheck,
)
from farm.inputs.patchwork_config import check_target_url, read_regular_file
from farm.judging.gate import GateResult, Verdict
from farm.plan.scenario import Arch, Scenario
from farm.report.common import clean, write_text
from farm.scrub import PLAIN

__all__ = ["PatchworkError", "PatchworkPostError"]

SCHEMA_VERSION = 1
#: Patchwork stores any length, but its UI shows one line; keep the reason readable there.
DESCRIPTION_LIMIT = 255
CONTEXT_PREFIX = "glibc-farm"
#: The largest checks file read: a check is well under 1 KiB, and a run has dozens.
MAX_CHECKS_FILE_BYTES = 8 << 20
#: How many of the patches refused by the look-up a message lists.
_LISTED = 10

_STATE = {Verdict.ACCEPT: "success", Verdict.REJECT: "fail", Verdict.UNDECIDED: "warning"}
_ARCHES = frozenset(arch.value for arch in Arch)
_PLAIN_SCENARIO = re.compile(r"[a-z0-9.-]+")
_PLAIN_TOOLCHAIN = re.compile(r"[a-z0-9.]+")
_NOT_SLUG = re.compile(r"[^-a-zA-Z0-9_]+")
_HASH_DIGITS = 12


def check_context(
    scenario: str, arch: str, toolchain: str | None = None, *, prefix: str = CONTEXT_PREFIX
) -> str:
    """The patchwork context of the checks of one (scenario, toolchain, arch).

    Readable when it can be: ``glibc-farm-debian-2_36-backports-x86_64`` (``.`` becomes
    ``_``, which scenario names cannot hold, so no two scenarios meet), with the toolchain
    after the arch when given. Distinct inputs always give distinct contexts: read from the
    right, the last word is either an arch (no toolchain) or the toolchain, one word without
    ``-`` that is no arch name, after the arch. Anything else (other characters, a
    toolchain with ``-``, an unknown arch, more than patchwork's 255 characters) gets a
    shortened readable part and ``-H`` plus a hash of the exact inputs, which no plain (all
    lower-case) context can end with.
    """
    if not CONTEXT_RE.fullmatch(prefix):
        raise ValueError(f"context prefix {prefix!r} is not a patchwork slug")
    parts = [prefix, scenario, arch, *([toolchain] if toolchain is not None else [])]
    readable = "-".join(part.replace(".", "_") for part in parts)
    plain = (
        _PLAIN_SCENARIO.fullmatch(scenario) is not None
        and arch in _ARCHES
        and (
            toolchain is None
            or (
                _PLAIN_TOOLCHAIN.fullmatch(toolchain) is not None
                and toolchain.replace(".", "_") not in _ARCHES
            )
        )
        and len(readable) <= CONTEXT_MAX
    )
    if plain:
        return readable
    digest = hashlib.sha256(json.dumps(parts).encode("utf-8", "surrogatepass")).hexdigest()
    suffix = f"-H{digest[:_HASH_DIGITS]}"
    shortened = _NOT_SLUG.sub("-", readable).strip("-")[: CONTEXT_MAX - len(suffix)]
    return shortened + suffix


@dataclass(frozen=True, slots=True)
class PatchworkCheck:
    """One check to post on every patch of ``series``."""

    series: str
    scenario: str
    arch: str
    state: str  # one of patchwork_api.STATES
    context: str
    description: str
    target_url: str = ""
    toolchain: str = ""

    def to_api(self) -> dict[str, str]:
        """The request body patchwork's checks endpoint takes."""
        body = {"state": self.state, "context": self.context, "description": self.description}
        if self.target_url:
            body["target_url"] = self.target_url
        return body


def patchwork_checks(result: GateResult, *, target_url: str = "") -> tuple[PatchworkCheck, ...]:
    """The checks for every series and (scenario, arch) the gate judged.

    ``target_url`` should point at the full report (the CI run or the HTML page).
    """
    checks = []
    for series in result.series:
        for arch in series.arches:
            # On a branch (master) the commit judged is said: the branch will have moved on.
            base = arch.baseline_cell.source_commit if arch.baseline_cell else ""
            judged = f" on glibc {base[:12]}" if base else ""
            description = f"{arch.verdict.value}{judged}: " + "; ".join(arch.reasons)
            checks.append(
                PatchworkCheck(
                    series=series.series,
                    scenario=arch.scenario,
                    arch=arch.arch,
                    state=_STATE[arch.verdict],
                    context=check_context(arch.scenario, arch.arch),
                    description=_shorten(description),
                    target_url=target_url,
                )
            )
    return tuple(checks)


def pending_checks(
    scenarios: Iterable[Scenario], series: Iterable[str], *, target_url: str = ""
) -> tuple[PatchworkCheck, ...]:
    """``pending`` checks for the start of a run, in the contexts its verdicts will use."""
    checks = []
    for name in series:
        for scenario in scenarios:
            for arch in scenario.arches:
                checks.append(
                    PatchworkCheck(
                        series=name,
                        scenario=scenario.name,
                        arch=arch.value,
                        state="pending",
                        context=check_context(scenario.name, arch.value),
                        description=_shorten(
                            f"glibc-farm is testing {name} on {scenario.name} {arch.value}"
                        ),
                        target_url=target_url,
                    )
                )
    return tuple(checks)


def render_patchwork(result: GateResult, *, target_url: str = "") -> str:
    checks = [asdict(check) for check in patchwork_checks(result, target_url=target_url)]
    document = {"schema": SCHEMA_VERSION, "checks": checks}
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_patchwork(result: GateResult, path: Path, *, target_url: str = "") -> Path:
    return write_text(path, render_patchwork(result, target_url=target_url))


def read_checks(path: Path) -> tuple[PatchworkCheck, ...]:
    """Read back what `write_patchwork` wrote, for the job that posts; validated, as any
    file from an artifact is untrusted."""
    shown = PLAIN.line(str(path))
    raw = read_regular_file(
        path,
        limit=MAX_CHECKS_FILE_BYTES,
        what="checks file",
        expected="the patchwork-checks.json that farm gate (or farm run) wrote",
    )
    try:
        document = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8 or JSON, 5000 digits, too deep
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise PatchworkError(
            f"{shown}: not a patchwork checks file the farm wrote: {PLAIN.line(reason)}"
        ) from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA_VERSION:
        raise PatchworkError(
            f"{shown}: not a checks file written by the farm's patchwork report "
            f"(expected an object with schema {SCHEMA_VERSION})"
        )
    items = document.get("checks")
    if not isinstance(items, list):
        raise PatchworkError(f"{shown}: 'checks' must be a list")
    return tuple(_check_from(item, f"{shown}: checks[{index}]") for index, item in enumerate(items))


_FIELDS = {f.name for f in fields(PatchworkCheck)}
_REQUIRED = _FIELDS - {"target_url", "toolchain"}


def _check_from(item: object, where: str) -> PatchworkCheck:
    if not isinstance(item, dict):
        raise PatchworkError(f"{where}: expected an object, got {type(item).__name__}")
    unknown = sorted(set(item) - _FIELDS)
    missing = sorted(_REQUIRED - set(item))
    wrong = sorted(key for key, value in item.items() if not isinstance(value, str))
    if unknown or missing or wrong:
        raise PatchworkError(
            f"{where}: unknown keys {unknown}, missing keys {missing}, not strings {wrong}"
        )
    check = PatchworkCheck(**item)
    if check.state not in STATES:
        raise PatchworkError(
            f"{where}: state '{PLAIN.line(check.state, limit=40)}' is not one of "
            f"{', '.join(STATES)}"
        )
    if not CONTEXT_RE.fullmatch(check.context) or len(check.context) > CONTEXT_MAX:
        raise PatchworkError(
            f"{where}: context '{PLAIN.line(check.context, limit=60)}' is not a patchwork slug "
            f"of at most {CONTEXT_MAX} characters"
        )
    if not check.series or PLAIN.line(check.series) != check.series:
        raise PatchworkError(
            f"{where}: series '{PLAIN.line(check.series, limit=60)}' is empty or holds control "
            "characters (or runs of blanks); a series the farm names is one printable word"
        )
    if check.target_url:  # posted as it is: the same rules as --target-url
        check_target_url(check.target_url, origin=f"{where}: target_url")
    return replace(check, description=_shorten(check.description))


def post_checks(
    checks: Iterable[PatchworkCheck],
    *,
    client: PatchworkClient,
    patch_ids: Mapping[str, Sequence[int]],
    project: str = "",
    series_ids: Mapping[str, int] | None = None,
) -> tuple[PostedCheck, ...]:
    """POST every check to every patch of its series; returns the checks patchwork stored.

    ``patch_ids`` maps each series name to its patches' patchwork ids, so one series'
    verdict can never land on another series. ``project`` is the patchwork project the
    checks are for (``--project``, git-pw's ``pw.project``: a link name or an id), and
    ``series_ids`` the patchwork series each series name was resolved from (``--series``,
    ``--msgid``; 0 for a lone patch without a series). Before anything is posted, every
    series must have ids, no patch may belong to two series, and every patch is looked up
    (with the token) in its detail: an unknown id, a patch of another project (or, with no
    project given, patches of two projects), a patch outside the patchwork series asked
    for (or, for ids given by hand, patches of two series), a token patchwork refuses or a
    redirect raise `PatchworkError` with nothing posted. A post that fails then raises
    `PatchworkPostError` saying how many were posted before and whether this one may have
    been stored.
    """
    pending = list(checks)
    missing = sorted({c.series for c in pending if not patch_ids.get(c.series)})
    if missing:
        raise PatchworkError(
            f"no patchwork patch ids given for series {', '.join(missing)}; give each series "
            "whose checks you post with --series, --msgid or --patches (or post only those "
            "given with --only-given)"
        )
    targets = {c.series: list(dict.fromkeys(patch_ids[c.series])) for c in pending}
    _look_up(client, targets, project=project, series_ids=series_ids or {})
    posted: list[PostedCheck] = []
    total = sum(len(targets[c.series]) for c in pending)
    for check in pending:
        for patch_id in targets[check.series]:
            try:
                posted.append(client.post_check(patch_id, check.to_api()))
            except (PatchworkError, PatchworkPostError) as exc:
                maybe = isinstance(exc, PatchworkPostError) and exc.maybe_stored
                fate = "may have been stored" if maybe else "was not stored"
                raise PatchworkPostError(
                    f"{exc}. {len(posted)} of {total} check(s) were posted and verified before; "
                    f"this one {fate}. Posting them all again is safe: patchwork shows the "
                    "newest check of each context",
                    maybe_stored=maybe,
                ) from exc
    return tuple(posted)


def _look_up(
    client: PatchworkClient,
    patch_ids: Mapping[str, Sequence[int]],
    *,
    project: str,
    series_ids: Mapping[str, int],
) -> None:
    """Every patch's detail, checked against where its series' checks were asked to go."""
    owner: dict[int, str] = {}
    for series, ids in patch_ids.items():
        for patch_id in ids:
            if owner.setdefault(patch_id, series) != series:
                raise PatchworkError(
                    f"patch {patch_id} is given for both series {owner[patch_id]} and {series}; "
                    "one series' verdict must never land on another's patch"
                )
    found = {
        series: {patch_id: client.patch(patch_id) for patch_id in ids}
        for series, ids in patch_ids.items()
    }
    problems = [
        *_outside_project(found, project),
        *(
            problem
            for series, patches in found.items()
            for problem in _outside_series(series, patches, series_ids.get(series))
        ),
    ]
    if problems:
        more = f"; and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
        raise PatchworkError(
            f"nothing posted: {'; '.join(problems[:_LISTED])}{more}. A check must land only on "
            "the patches of the series the report is about, in the project meant"
        )


def _outside_project(found: Mapping[str, Mapping[int, PatchInfo]], project: str) -> list[str]:
    """Patches of another project than ``project``; with none given, patches of two."""
    every = [(series, info) for series, patches in found.items() for info in patches.values()]
    if project:
        return [
            f"patch {info.id} (for {series}) is in patchwork project {info.project}, not "
            f"{PLAIN.line(project, limit=60)} (--project, git config pw.project)"
            for series, info in every
            if info.project is None or not info.project.is_named(project)
        ]
    projects = {str(info.project) for _, info in every}
    if len(projects) <= 1:
        return []
    listing = ", ".join(f"{info.id} ({info.project})" for _, info in every)
    return [
        f"the patches are in {len(projects)} patchwork projects: {listing}; say which project "
        "is meant with --project (or git config pw.project)"
    ]


def _outside_series(series: str, patches: Mapping[int, PatchInfo], wanted: int | None) -> list[str]:
    """Patches that are not in the patchwork series ``wanted`` (0: in none); for ids given by
    hand (``wanted`` None), patches of more than one series."""

    def named(info: PatchInfo) -> str:
        return ", ".join(map(str, info.series_ids)) or "none"

    if wanted is not None:
        expected = (wanted,) if wanted else ()
        where = f"series {wanted}" if wanted else "no series"
        return [
            f"patch {info.id} (for {series}) is in patchwork series {named(info)}, not in "
            f"{where} that was asked for"
            for info in patches.values()
            if info.series_ids != expected
        ]
    if len({s for info in patches.values() for s in info.series_ids}) <= 1:
        return []
    listing = ", ".join(f"{i} (series {named(p)})" for i, p in patches.items())
    return [
        f"the patches given for series {series} belong to different patchwork series: "
        f"{listing}; give the patches of one series (--series ID finds them)"
    ]


def _shorten(text: str) -> str:
    flat = clean(" ".join(text.split()))
    return flat if len(flat) <= DESCRIPTION_LIMIT else flat[: DESCRIPTION_LIMIT - 3] + "..."


def with_tail(description: str, tail: str) -> str:
    """``description; tail`` within `DESCRIPTION_LIMIT`: the tail (``farm watch``'s "since
    v1: ...") is kept whole and the description is shortened to make room, since a tail cut
    off would say the opposite of what it meant ("0 new failures" cut to "0 new")."""
    head, end = _shorten(description), _shorten(tail)
    room = DESCRIPTION_LIMIT - len(end) - len("; ")
    if room < len("...") + 20:  # a tail that leaves no room for the verdict is cut instead
        return _shorten(f"{head}; {end}")
    if len(head) > room:
        head = head[: room - 3] + "..."
    return f"{head}; {end}"
