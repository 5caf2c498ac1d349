"""Patchwork checks: the gate's verdict as the per-patch "checks" patchwork shows reviewers.

One check per series per (scenario, arch), with context ``glibc-farm-<arch>`` so each arch
keeps its own line in patchwork and a rerun replaces it rather than adding another. States
map ACCEPT -> success, REJECT -> fail, UNDECIDED -> warning (patchwork's "pending" means
"still running", which an undecided gate is not).

Writing and posting are separate steps on purpose: the gate job writes ``checks.json`` as an
artifact, and a later job that holds the token posts it with `post_checks`, using patchwork's
REST API (``POST {api_url}/patches/{id}/checks/`` with ``Authorization: Token ...``). Network
and API failures raise `PatchworkError` with what to do; the token never appears in them.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from farm.errors import FarmError
from farm.gate import GateResult, Verdict
from farm.report.common import clean, column_name, write_text

SCHEMA_VERSION = 1
#: Patchwork stores any length, but its UI shows one line; keep the reason readable there.
DESCRIPTION_LIMIT = 255

_STATE = {Verdict.ACCEPT: "success", Verdict.REJECT: "fail", Verdict.UNDECIDED: "warning"}
_NOT_SLUG = re.compile(r"[^A-Za-z0-9_-]+")  # patchwork's context is a Django SlugField


class PatchworkError(FarmError):
    """Patchwork could not be reached or refused a check; exit status 2 like any FarmError."""


@dataclass(frozen=True, slots=True)
class PatchworkCheck:
    """One check to post on every patch of ``series``."""

    series: str
    scenario: str
    arch: str
    state: str  # "success" | "warning" | "fail"
    context: str
    description: str
    target_url: str = ""

    def to_api(self) -> dict[str, str]:
        """The request body patchwork's checks endpoint takes."""
        body = {"state": self.state, "context": self.context, "description": self.description}
        if self.target_url:
            body["target_url"] = self.target_url
        return body


def patchwork_checks(
    result: GateResult, *, target_url: str = "", context_prefix: str = "glibc-farm"
) -> tuple[PatchworkCheck, ...]:
    """The checks for every series and (scenario, arch) the gate judged.

    ``target_url`` should point at the full report (the CI run or the HTML page).
    """
    checks = []
    for series in result.series:
        for arch in series.arches:
            where = column_name(result, arch.scenario, arch.arch)
            description = f"{arch.verdict.value}: " + "; ".join(arch.reasons)
            checks.append(
                PatchworkCheck(
                    series=series.series,
                    scenario=arch.scenario,
                    arch=arch.arch,
                    state=_STATE[arch.verdict],
                    context=_NOT_SLUG.sub("-", f"{context_prefix}-{where}").strip("-"),
                    description=_shorten(clean(" ".join(description.split()))),
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
    """Read back what `write_patchwork` wrote, for the job that posts."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return tuple(PatchworkCheck(**check) for check in document["checks"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PatchworkError(
            f"{path}: not a checks file written by the farm's patchwork report ({exc})"
        ) from exc


def post_checks(
    checks: Iterable[PatchworkCheck],
    *,
    api_url: str,
    token: str,
    patch_ids: Mapping[str, Sequence[int]],
    timeout: float,
) -> int:
    """POST every check to every patch of its series; returns how many checks were posted.

    ``api_url`` is patchwork's API root, e.g. ``https://patchwork.example.org/api/1.3``.
    ``patch_ids`` maps each series name to its patches' patchwork ids, so one series'
    verdict can never land on another series. A series without ids is refused before
    anything is posted.
    """
    parsed = urllib.parse.urlsplit(api_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise PatchworkError(f"patchwork API URL must be http(s)://host/api..., got {api_url!r}")
    pending = list(checks)
    missing = sorted({c.series for c in pending if not patch_ids.get(c.series)})
    if missing:
        raise PatchworkError(
            f"no patchwork patch ids given for series {', '.join(missing)}; "
            "pass the ids of every patch of each series whose checks you post"
        )
    posted = 0
    for check in pending:
        for patch_id in patch_ids[check.series]:
            try:
                _post(check, api_url.rstrip("/"), token, patch_id, timeout)
            except PatchworkError as exc:
                if not posted:
                    raise
                raise PatchworkError(f"{exc} ({posted} check(s) were posted before)") from exc
            posted += 1
    return posted


def _post(check: PatchworkCheck, api_root: str, token: str, patch_id: int, timeout: float) -> None:
    url = f"{api_root}/patches/{int(patch_id)}/checks/"
    request = urllib.request.Request(
        url,
        data=json.dumps(check.to_api()).encode(),
        method="POST",
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read(300).decode("utf-8", errors="replace")
        hint = {
            401: "the token is wrong or expired",
            403: "the token's user may not add checks (needs maintainer rights on the project)",
            404: f"there is no patch {patch_id} at this patchwork (or the API URL is wrong)",
        }.get(exc.code, "see patchwork's answer")
        raise PatchworkError(
            f"patchwork refused check {check.context} for patch {patch_id}: HTTP {exc.code} "
            f"{exc.reason}: {hint}. Answer: {' '.join(body.split())[:200]}"
        ) from exc
    except urllib.error.URLError as exc:
        raise PatchworkError(
            f"could not reach patchwork at {url}: {exc.reason}; check the API URL and the network"
        ) from exc
    except (TimeoutError, OSError) as exc:
        raise PatchworkError(
            f"patchwork at {url} did not answer within {timeout:g} s ({exc})"
        ) from exc


def _shorten(text: str) -> str:
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 3] + "..."
