"""The farm's own C case library: small programs that probe one glibc behaviour each.

Layout (this directory is also what the runner copies to ``/farm/cases`` in a container)::

    farm-cc                      compiler wrapper: gcc against the glibc under test
    common/farm_case.{h,c}       the test protocol and the "farm: glibc/loader" banner
    <family>/<case>/case.yaml    one manifest per case, plus its C sources

A case's id is ``<family>/<case>`` (``dlmopen/newlm-isolation``); results name it
``farm/<id>``. Case programs speak glibc's protocol: exit 0 PASS, 1 FAIL, 77 UNSUPPORTED.

``Case.shell_script`` renders a POSIX sh script that copies the library into a scratch
directory, builds the case with farm-cc and runs it under ``timeout``. Its exit status is
the farm's contract with the runner (``decode_exit_status`` implements it):

- 0 PASS, 1 FAIL, 77 UNSUPPORTED: the case program's own verdict;
- 124 TIMEOUT: killed at the scaled timeout (``farm: timeout after Ns``);
- 125 build error: a farm-cc step failed (``farm: build failed``);
- 126 harness error: copying, farm-cc, ``timeout`` or ``env`` failed
  (``farm: harness error: ...``);
- 128+N: the program was killed by signal N (``farm: signal N``): 139 is SIGSEGV,
  135 SIGBUS, 134 SIGABRT;
- any other status: FAIL, the program broke the protocol (``farm: exit status N``).

Cases whose natural outcome is a crash (they demonstrate a hazard) say ``expect: crash``
and list ``crash_signals``; ``Case.is_expected`` tells whether a status is that outcome.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
from collections.abc import Iterable
from pathlib import Path

from farm.cases.manifest import KNOWN_NEEDS, MANIFEST_NAME, check_name, load_manifest
from farm.cases.model import (
    DEFAULT_CASES_DIR,
    DEFAULT_FARM_CC,
    BuildStep,
    Case,
    Detection,
    Expectation,
    RunSpec,
    ScriptStatus,
    StepKind,
)
from farm.cases.script import decode_exit_status, scaled_timeout
from farm.errors import ScenarioError

__all__ = [
    "CASES_ROOT",
    "DEFAULT_CASES_DIR",
    "DEFAULT_FARM_CC",
    "KNOWN_NEEDS",
    "BuildStep",
    "Case",
    "Detection",
    "Expectation",
    "RunSpec",
    "ScriptStatus",
    "StepKind",
    "decode_exit_status",
    "load_cases",
    "packaged_case",
    "scaled_timeout",
    "select_cases",
]

#: The case library shipped with the package.
CASES_ROOT = Path(__file__).resolve().parent

#: Directories under the root that hold shared code rather than a family of cases.
_NOT_FAMILIES = frozenset({"common", "__pycache__"})


def load_cases(root: Path | None = None) -> tuple[Case, ...]:
    """Every case under ROOT (default: the packaged library), sorted by id.

    A case is a directory ``<family>/<case>/`` holding ``case.yaml``. A manifest anywhere
    else is an error rather than silently ignored, and so is a family directory without
    cases: both usually mean a case was put at the wrong depth.
    """
    root = CASES_ROOT if root is None else root
    if not root.is_dir():
        raise ScenarioError(f"{root}: the case library directory does not exist")
    cases: list[Case] = []
    for manifest in sorted(root.rglob(MANIFEST_NAME)):
        relative = manifest.relative_to(root).parts
        if len(relative) != 3 or relative[0] in _NOT_FAMILIES:
            raise ScenarioError(
                f"{manifest}: a case manifest must be at <family>/<case>/{MANIFEST_NAME} "
                f"under {root}; move it"
            )
    for family_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if family_dir.name in _NOT_FAMILIES or family_dir.name.startswith("."):
            continue
        check_name(family_dir, "family", family_dir.name)
        family_cases = [
            case_dir
            for case_dir in sorted(family_dir.iterdir())
            if (case_dir / MANIFEST_NAME).is_file()
        ]
        if not family_cases:
            raise ScenarioError(
                f"{family_dir}: a family directory without any <case>/{MANIFEST_NAME}; "
                "add a case or remove the directory"
            )
        for case_dir in family_cases:
            check_name(case_dir, "case", case_dir.name)
            case_id = f"{family_dir.name}/{case_dir.name}"
            cases.append(load_manifest(case_dir, case_id=case_id))
    return tuple(sorted(cases, key=lambda case: case.id))


@functools.cache
def _packaged_by_id() -> dict[str, Case]:
    return {case.id: case for case in load_cases()}


def packaged_case(case_id: str) -> Case:
    """One case of the packaged library by id. The library is parsed once per process: the
    runner asks for a case per test item, and parsing every manifest costs ~25 ms."""
    return _packaged_by_id()[case_id]


#: Families a selection must name: they attack the container they run in (sandbox/).
OPT_IN_FAMILIES = ("sandbox",)


def select_cases(cases: Iterable[Case], globs: Iterable[str]) -> tuple[Case, ...]:
    """The cases whose id matches any of GLOBS (fnmatch), in id order.

    A glob without ``/`` also selects a whole family (``rseq`` means ``rseq/*``). No globs
    selects everything. A glob that matches nothing is an error naming the closest ids,
    because a typo in a selection must not quietly run fewer tests.

    The opt-in families (``sandbox``: a fork bomb, a memory hog, a hang, a harness killer)
    attack their own container; only a glob that starts with the family's name selects
    them, so ``*`` or no globs never does.
    """
    ordered = sorted(cases, key=lambda case: case.id)
    patterns = list(globs)
    if not patterns:
        return tuple(case for case in ordered if case.family not in OPT_IN_FAMILIES)
    ids = [case.id for case in ordered]
    chosen: set[str] = set()
    for pattern in patterns:
        variants = [pattern] if "/" in pattern else [pattern, f"{pattern}/*"]
        matched = {
            case_id
            for case_id in ids
            if any(fnmatch.fnmatchcase(case_id, variant) for variant in variants)
            and (
                case_id.split("/", 1)[0] not in OPT_IN_FAMILIES
                or pattern.startswith(case_id.split("/", 1)[0])
            )
        }
        if not matched:
            close = difflib.get_close_matches(pattern, ids, n=5, cutoff=0.5)
            families = sorted({case_id.split("/", 1)[0] for case_id in ids})
            hint = f"close ids: {', '.join(close)}" if close else f"families: {', '.join(families)}"
            raise ScenarioError(f"no case matches {pattern!r}; {hint}")
        chosen |= matched
    return tuple(case for case in ordered if case.id in chosen)
