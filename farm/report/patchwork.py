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
holds the token. `post_checks` looks every patch up before posting anything (an unknown id,
a wrong token or a redirect stop it with nothing posted) and counts a check as posted only
when patchwork answers ``201`` and echoes it (see `farm.patchwork_api`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from farm.gate import GateResult, Verdict
from farm.patchwork_api import (
    CONTEXT_MAX,
    CONTEXT_RE,
    STATES,
    PatchworkClient,
    PatchworkError,
    PatchworkPostError,
    PostedCheck,
)
from farm.report.common import clean, write_text
from farm.scenario import Arch, Scenario

__all__ = ["PatchworkError", "PatchworkPostError"]

SCHEMA_VERSION = 1
#: Patchwork stores any length, but its UI shows one line; keep the reason readable there.
DESCRIPTION_LIMIT = 255
CONTEXT_PREFIX = "glibc-farm"

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
            description = f"{arch.verdict.value}: " + "; ".join(arch.reasons)
            base = arch.baseline_cell.source_commit if arch.baseline_cell else ""
            if base:  # the branch will have moved on: say which glibc was judged
                description = f"{arch.verdict.value} on glibc {base[:12]}: " + "; ".join(
                    arch.reasons
                )
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
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PatchworkError(f"{path}: cannot read a patchwork checks file: {exc}") from exc
    if not isinstance(document, dict) or document.get("schema") != SCHEMA_VERSION:
        raise PatchworkError(
            f"{path}: not a checks file written by the farm's patchwork report "
            f"(expected an object with schema {SCHEMA_VERSION})"
        )
    items = document.get("checks")
    if not isinstance(items, list):
        raise PatchworkError(f"{path}: 'checks' must be a list")
    return tuple(_check_from(item, f"{path}: checks[{index}]") for index, item in enumerate(items))


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
        raise PatchworkError(f"{where}: state {check.state!r} is not one of {', '.join(STATES)}")
    if not CONTEXT_RE.fullmatch(check.context) or len(check.context) > CONTEXT_MAX:
        raise PatchworkError(
            f"{where}: context {check.context!r} is not a patchwork slug of at most "
            f"{CONTEXT_MAX} characters"
        )
    return replace(check, description=_shorten(check.description))


def post_checks(
    checks: Iterable[PatchworkCheck],
    *,
    client: PatchworkClient,
    patch_ids: Mapping[str, Sequence[int]],
) -> tuple[PostedCheck, ...]:
    """POST every check to every patch of its series; returns the checks patchwork stored.

    ``patch_ids`` maps each series name to its patches' patchwork ids, so one series'
    verdict can never land on another series. Before anything is posted, every series must
    have ids, no patch may belong to two series, and every patch is looked up (with the
    token): an unknown id, a patch of another patchwork series, a token patchwork refuses
    or a redirect raise `PatchworkError` with nothing posted. A post that fails then raises
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
    _look_up(client, {c.series: patch_ids[c.series] for c in pending})
    posted: list[PostedCheck] = []
    total = sum(len(patch_ids[c.series]) for c in pending)
    for check in pending:
        for patch_id in patch_ids[check.series]:
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


def _look_up(client: PatchworkClient, patch_ids: Mapping[str, Sequence[int]]) -> None:
    owner: dict[int, str] = {}
    for series, ids in patch_ids.items():
        for patch_id in ids:
            if owner.setdefault(patch_id, series) != series:
                raise PatchworkError(
                    f"patch {patch_id} is given for both series {owner[patch_id]} and {series}; "
                    "one series' verdict must never land on another's patch"
                )
        found = {patch_id: client.patch(patch_id) for patch_id in dict.fromkeys(ids)}
        pw_series = {s for info in found.values() for s in info.series_ids}
        if len(pw_series) > 1:
            listing = ", ".join(
                f"{i} (series {', '.join(map(str, p.series_ids))})" for i, p in found.items()
            )
            raise PatchworkError(
                f"the patches given for series {series} belong to different patchwork series: "
                f"{listing}; give the patches of one series (--series ID finds them)"
            )


def _shorten(text: str) -> str:
    flat = clean(" ".join(text.split()))
    return flat if len(flat) <= DESCRIPTION_LIMIT else flat[: DESCRIPTION_LIMIT - 3] + "..."
