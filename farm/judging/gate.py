"""The patch acceptance gate: from test records and cell build states to verdicts.

Owns the gate's inputs (`CellStatus`, `SeriesInfo`, `BisectResult`; `Expectation` and
`FlakyEntry` are ``farm.plan.expectation``'s, shared with the scenario loader), its output
(`GateResult` and the records inside it) and the rules (`evaluate`). The reports in
``farm.report`` only render a `GateResult`; they never judge.

Why it is shaped this way:

- The gate is a pure function of the *sets* of records and cell statuses. A CI matrix uploads
  one artifact per cell and the gate reads them back in whatever order the download gives, so
  nothing here may depend on order, and a record seen twice (overlapping artifacts) counts
  once. Everything is sorted before it is judged and before it is returned.
- A series is judged per (scenario, arch) against the baseline of the same scenario and arch,
  test by test, as a transition of each test's final attempt. Reruns decide whether a bad
  outcome is real: mixed attempts are FLAKY, never a regression.
- Verdicts combine as REJECT > UNDECIDED > ACCEPT: a definite fault (a patch that does not
  apply, a reproduced regression) is worth reporting even when another arch could not be
  decided, and an arch that could not be decided must not pass as accepted.
- A patch that does not apply rejects, and its reason says all a maintainer needs: its
  number and subject, the glibc commit it was tried on (a git source's), the first error of
  git am's (or patch's) own output (the whole output is the cell's reject, in the reports),
  and the patches after it, which were not applied: the series stops at the first failure.
- What is good, bad, a regression or flaky is ``farm.outcome``'s policy, the same one the
  runner uses to decide what to rerun, so every possible regression can be confirmed.
- No ACCEPT without evidence: a test the series adds is judged like any other (ending bad
  and reproduced, it rejects; ERROR, flaky or unconfirmed, it leaves the arch undecided),
  and an arch where a variant's tests all ERRORed, or no test has a non-ERROR outcome in
  both variants, is UNDECIDED. An expectation broken by an ERROR is undecided, not a reject.
- A record that could not be read (`UnreadableRecord`) may hide anything, so it leaves the
  verdicts of its cell UNDECIDED, and every verdict when it names no cell judged here.
- ``today`` is an argument rather than read from the clock, so the same inputs always give
  the same verdict (flaky-list expiry is the only time-dependent rule).
- Known flaky: a regression is FLAKY, not a reject, when an unexpired scenario ``flaky:``
  entry names it, or when the flaky history (``farm.judging.history``, an input like the records,
  but authenticated, recent and needing more than one flip: excusing needs more proof than
  accusing) shows the same built image of the series cell *or of the baseline cell*
  flipping the test between good and bad outcomes (this run counts as the newest
  sighting). The baseline image counts because it is the one image that stays the same
  from run to run (every series is a new image), and a test that flips on unpatched glibc
  is no evidence against a series; a flip between different images is no evidence at all.
  The note names the runs and the image, and an ACCEPT says what it excused: an excuse is
  never silent.
- Lost coverage: a test that ran good in the baseline and is absent from the series
  variant is a new failure that rejects (like PASS -> UNSUPPORTED: the series stopped it
  from running), unless the scenario expects it ``absent`` there.
- A summary the farm could not read cleanly (``make check`` of a subdirectory whose
  summary had anomalies records its item, ``glibc/<subdir>/``, as ERROR) leaves that
  subdirectory UNDECIDED: a test missing from it vanished from the summary, not from the
  series, and its tests prove nothing either way beyond a reproduced regression.
- Already failing: a test bad in both the baseline and the series (labels may differ, FAIL
  -> TIMEOUT) is ALREADY_FAILING: shown and counted, never a regression, and judged on its
  own, so it never hides another test's regression.
- Every transition carries a `Category` (new failure, flaky, already failing, fixed, other
  change), decided here so that every report separates the same way.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import fnmatch
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from farm import ids, outcome
from farm.judging.history import FlakyEvidence, History
from farm.plan.expectation import Expectation, FlakyEntry
from farm.plan.expectation import normalize_expected as normalize_expected  # re-exported
from farm.plan.shard import shard_unit
from farm.results import Outcome, TestResult

BASELINE = ids.BASELINE

#: How many items a reason line names before it says "and N more"; reasons feed one-line
#: summaries (patchwork descriptions, the markdown table), the reports list everything.
_REASON_ITEMS = 5


class CellState(enum.StrEnum):
    """How far one cell (scenario x arch x variant) got before its tests could run."""

    BUILT = "BUILT"
    SOURCE_FAILED = "SOURCE_FAILED"  # glibc source or series could not be fetched/verified
    PATCH_FAILED = "PATCH_FAILED"  # a patch of the series did not apply
    CONFIGURE_FAILED = "CONFIGURE_FAILED"
    BUILD_FAILED = "BUILD_FAILED"
    NOT_RUN = "NOT_RUN"  # filtered out, cancelled, or never scheduled

    @property
    def is_series_fault(self) -> bool:
        """True when a series cell in this state is the series' own fault, hence a reject.

        SOURCE_FAILED and NOT_RUN say nothing about the patches, so they leave the arch
        undecided instead.
        """
        return self in (
            CellState.PATCH_FAILED,
            CellState.CONFIGURE_FAILED,
            CellState.BUILD_FAILED,
        )


class Verdict(enum.StrEnum):
    """The gate's answer for one arch, one series, or the whole run."""

    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    UNDECIDED = "UNDECIDED"

    @property
    def exit_status(self) -> int:
        """0 accepted, 1 rejected, 2 the farm could not decide (matches FarmError's 2)."""
        return {Verdict.ACCEPT: 0, Verdict.REJECT: 1, Verdict.UNDECIDED: 2}[self]

    @staticmethod
    def combine(verdicts: Iterable[Verdict]) -> Verdict:
        """REJECT beats UNDECIDED beats ACCEPT; nothing to combine is UNDECIDED."""
        found = set(verdicts)
        if not found:
            return Verdict.UNDECIDED
        for verdict in (Verdict.REJECT, Verdict.UNDECIDED):
            if verdict in found:
                return verdict
        return Verdict.ACCEPT


class ChangeKind(enum.StrEnum):
    """What happened to one test between the baseline and a series variant."""

    REGRESSION = "REGRESSION"  # good -> bad
    FIX = "FIX"  # bad -> PASS/XPASS
    XPASS = "XPASS"  # XFAIL -> XPASS: reported, not a reject
    CHANGED = "CHANGED"  # any other label change (PASS -> XFAIL, UNSUPPORTED -> PASS...)
    FLAKY = "FLAKY"  # attempts disagree, or a known-flaky entry excused a regression
    NEW = "NEW"  # only in the series variant
    VANISHED = "VANISHED"  # only in the baseline
    ALREADY_FAILING = "ALREADY_FAILING"  # bad in the baseline and in the series variant


class Category(enum.StrEnum):
    """How reports group transitions: what a reviewer must look at first, and what not."""

    NEW_FAILURE = "new failure"  # a regression, or a test the series adds that does not pass
    FLAKY = "flaky"  # attempts disagree, or known flaky (scenario entry or history)
    ALREADY_FAILING = "already failing"  # bad in the baseline too: not the series' doing
    FIXED = "fixed"  # bad -> PASS/XPASS
    OTHER = "other change"  # XPASS, another label, a passing new test, a vanished test


_CATEGORY = {
    ChangeKind.REGRESSION: Category.NEW_FAILURE,
    ChangeKind.FLAKY: Category.FLAKY,
    ChangeKind.ALREADY_FAILING: Category.ALREADY_FAILING,
    ChangeKind.FIX: Category.FIXED,
}


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class SeriesPatch:
    """One patch of a series, numbered from 1 as in ``[PATCH 2/5]``."""

    number: int
    subject: str


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """A patch series as the gate needs it: its name, variant and ordered patches."""

    name: str
    patches: tuple[SeriesPatch, ...] = ()
    variant: str = ""  # the variant that builds this series; empty means ``name``

    def __post_init__(self) -> None:
        if not self.variant:
            object.__setattr__(self, "variant", self.name)

    def patch(self, number: int) -> SeriesPatch | None:
        return next((patch for patch in self.patches if patch.number == number), None)


@dataclass(frozen=True, slots=True)
class FailedPatch:
    """The patch that did not apply: its number, subject and the reject (``.rej``) text."""

    number: int
    subject: str = ""
    reject: str = ""


@dataclass(frozen=True, slots=True)
class CellStatus:
    """How one cell's image build went, with what is needed to reproduce and trust it."""

    scenario: str
    arch: str
    variant: str
    state: CellState
    message: str = ""
    failed_patch: FailedPatch | None = None
    image_tag: str = ""
    image_id: str = ""
    source_sha256: str = ""
    source_commit: str = ""  # a git source's commit, as its ref named it when fetched
    series_sha256: str = ""
    reproducer: str = ""  # e.g. "farm run scenarios/x.yaml --only x-x86_64-series"

    @property
    def cell(self) -> str:
        return ids.cell_id(self.scenario, self.arch, self.variant)


@dataclass(frozen=True, slots=True)
class BisectResult:
    """The outcome of bisecting a rejected series on one arch."""

    series: str
    arch: str
    first_bad_patch: SeriesPatch
    tests: tuple[str, ...] = ()  # the tests that regressed at that prefix
    scenario: str | None = None


@dataclass(frozen=True, slots=True)
class UnreadableRecord:
    """A record of a run directory that could not be read (``farm.rundir`` says why).

    It is evidence the gate cannot see, so it leaves every verdict it could belong to
    UNDECIDED: the cell it names, or, when it names none the gate judged, every verdict.
    """

    where: str  # path, or path:line for a JSON-lines record
    problem: str
    cell: str | None = None  # the cell id it belongs to, when that can be told

    def describe(self) -> str:
        return f"{self.where}: {self.problem}"


# ----------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class AttemptHistory:
    """Every attempt of one test in one cell, in attempt order."""

    scenario: str
    arch: str
    variant: str
    test: str
    attempts: tuple[TestResult, ...]

    @property
    def final(self) -> TestResult:
        return self.attempts[-1]

    @property
    def label(self) -> str:
        return self.final.label

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(attempt.label for attempt in self.attempts)

    @property
    def outcomes(self) -> tuple[Outcome, ...]:
        return tuple(attempt.outcome for attempt in self.attempts)

    @property
    def seen(self) -> tuple[outcome.Seen, ...]:
        """The attempts as `farm.outcome`'s rules take them (a designed crash is good)."""
        return tuple(attempt.seen for attempt in self.attempts)

    @property
    def mixed(self) -> bool:
        """Attempts disagree on good vs bad: the test is flaky in this cell."""
        return outcome.attempts_disagree(self.seen)

    @property
    def cell(self) -> str:
        return ids.cell_id(self.scenario, self.arch, self.variant)


@dataclass(frozen=True, slots=True)
class Transition:
    """One test that differs between the baseline and a series variant."""

    scenario: str
    arch: str
    series: str
    test: str
    kind: ChangeKind
    baseline: str | None  # final label in the baseline; None: absent there
    patched: str | None  # final label in the series variant; None: absent there
    attempts: tuple[str, ...] = ()  # the series variant's labels, attempt by attempt
    baseline_attempts: tuple[str, ...] = ()
    rejects: bool = False
    reproduced: bool = False
    note: str = ""
    flaky_entry: FlakyEntry | None = None  # the unexpired entry that excused it
    expired_entry: FlakyEntry | None = None  # an entry that matched but had expired
    output: str = ""  # the series' final output (the baseline's for a vanished test)
    category: Category = Category.OTHER
    known_flaky: FlakyEvidence | None = None  # the history's evidence that excused it

    @property
    def transition(self) -> str:
        return f"{self.baseline or '(absent)'} -> {self.patched or '(absent)'}"


@dataclass(frozen=True, slots=True)
class UnmetExpectation:
    """An expectation that did not hold, with what was seen instead."""

    scenario: str
    arch: str
    expectation: Expectation
    test: str  # the test that broke it, or the glob when nothing matched
    actual: str  # the final label, or "absent"

    def describe(self) -> str:
        where = f" ({self.expectation.where})" if self.expectation.where else ""
        return (
            f"{self.expectation.variant}: {self.test} expected {self.expectation.expected}, "
            f"got {self.actual}{where}"
        )


@dataclass(frozen=True, slots=True)
class ArchVerdict:
    """The verdict for one series on one (scenario, arch), and everything behind it."""

    scenario: str
    arch: str
    series: str
    verdict: Verdict
    reasons: tuple[str, ...]
    baseline_cell: CellStatus | None
    series_cell: CellStatus | None
    transitions: tuple[Transition, ...] = ()
    unmet: tuple[UnmetExpectation, ...] = ()
    first_bad_patch: SeriesPatch | None = None
    bisect_tests: tuple[str, ...] = ()
    compared: int = 0  # tests present in both variants

    def of_kind(self, kind: ChangeKind) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.kind is kind)

    def in_category(self, category: Category) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.category is category)

    @property
    def counts(self) -> dict[Category, int]:
        """How many transitions fall in each category (every category, zeros included)."""
        return {c: sum(t.category is c for t in self.transitions) for c in Category}

    @property
    def unchanged(self) -> int:
        """Tests in both variants with the same final label and no transition."""
        changed = sum(t.baseline is not None and t.patched is not None for t in self.transitions)
        return self.compared - changed

    @property
    def reproducers(self) -> tuple[str, ...]:
        cells = (self.series_cell, self.baseline_cell)
        return tuple(cell.reproducer for cell in cells if cell is not None and cell.reproducer)


@dataclass(frozen=True, slots=True)
class SeriesVerdict:
    """One series' verdict over every (scenario, arch) it was judged on."""

    series: str
    verdict: Verdict
    arches: tuple[ArchVerdict, ...]
    patches: tuple[SeriesPatch, ...] = ()
    variant: str = ""  # the variant (cell column) that built this series

    @property
    def reproducers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for arch in self.arches for r in arch.reproducers))


@dataclass(frozen=True, slots=True)
class GateResult:
    """Everything the gate decided, and the data the reports need to show why."""

    verdict: Verdict
    series: tuple[SeriesVerdict, ...]
    cells: tuple[CellStatus, ...]
    histories: tuple[AttemptHistory, ...]
    expired_flaky: tuple[FlakyEntry, ...]
    warnings: tuple[str, ...]
    require_reproduction: bool
    today: datetime.date
    baseline_variant: str = BASELINE
    unreadable: tuple[UnreadableRecord, ...] = ()

    @property
    def exit_status(self) -> int:
        return self.verdict.exit_status

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        """Every (scenario, arch) judged, sorted: the columns of the series x arch table."""
        return tuple(sorted({(a.scenario, a.arch) for s in self.series for a in s.arches}))


# ----------------------------------------------------------------------------- rules


def evaluate(
    results: Iterable[TestResult],
    cells: Iterable[CellStatus] = (),
    *,
    require_reproduction: bool,
    today: datetime.date,
    series: Iterable[SeriesInfo] = (),
    expectations: Iterable[Expectation] = (),
    flaky: Iterable[FlakyEntry] = (),
    bisections: Iterable[BisectResult] = (),
    baseline_variant: str = BASELINE,
    unreadable: Iterable[UnreadableRecord] = (),
    history: History | None = None,
    selects: Callable[[str], bool] | None = None,
) -> GateResult:
    """Judge every series against the baseline; see the module docstring for the rules.

    ``require_reproduction``: True when the runner reruns failures, so a regression seen in
    a single attempt was never confirmed and leaves its arch UNDECIDED; False when reruns are
    disabled, so one bad attempt is enough to reject. ``history``: what earlier runs saw
    (``farm.judging.history``), as it was before this run; None: no history is kept. ``selects``:
    whether the scenario selects a test; records of other tests are not judged (a warning
    names them), so no unselected PASS stands in for a selected test that could not run.
    """
    warnings: list[str] = []
    if selects is not None:
        results = list(results)
        foreign = sorted({r.test for r in results if not selects(r.test)})
        if foreign:
            warnings.append(
                f"{len(foreign)} test(s) in the records that the scenario does not select were "
                "not judged: " + _named(foreign)
            )
            results = [r for r in results if selects(r.test)]
    if history is not None:
        # Less evidence can only make the gate stricter, so a bad line is a warning.
        warnings.extend(
            f"flaky history {problem}; that record was not used" for problem in history.problems
        )
    histories = _histories(results, warnings)
    statuses = _statuses(cells, warnings)
    infos = _series_infos(series, warnings)
    expectation_list = sorted(set(expectations), key=repr)
    flaky_list = sorted(set(flaky), key=repr)
    bisect_list = sorted(set(bisections), key=repr)

    unreadable_list = sorted(set(unreadable), key=repr)
    by_cell: dict[tuple[str, str, str], dict[str, AttemptHistory]] = defaultdict(dict)
    for tested in histories:
        by_cell[(tested.scenario, tested.arch, tested.variant)][tested.test] = tested

    variants = {key[2] for key in by_cell} | {key[2] for key in statuses}
    columns = sorted({key[:2] for key in by_cell} | {key[:2] for key in statuses})
    by_variant = {info.variant: info for info in infos.values()}
    for variant in sorted(variants - {baseline_variant} - set(by_variant)):
        by_variant[variant] = SeriesInfo(name=variant)
    statuses = {
        key: _name_failed_patch(c, by_variant.get(c.variant)) for key, c in statuses.items()
    }
    known = variants | {baseline_variant} | set(by_variant)
    warnings.extend(
        f"{e.where or 'expectation'}: no variant in the results matches {e.variant!r}, so "
        f"it was not checked: {e.test} {e.expected}"
        for e in expectation_list
        if not any(fnmatch.fnmatchcase(v, e.variant) for v in known)
    )

    judged_cells = {
        ids.cell_id(scenario, arch, variant)
        for scenario, arch in columns
        for variant in {baseline_variant, *(i.variant for i in by_variant.values())}
    }
    unplaced = tuple(u for u in unreadable_list if u.cell not in judged_cells)
    baseline_unmet = {
        (scenario, arch): _unmet(
            scenario,
            arch,
            baseline_variant,
            by_cell.get((scenario, arch, baseline_variant)),
            statuses.get((scenario, arch, baseline_variant)),
            expectation_list,
        )
        for scenario, arch in columns
    }

    verdicts: list[SeriesVerdict] = []
    for info in sorted(by_variant.values(), key=lambda i: i.name):
        arch_verdicts = []
        for scenario, arch in columns:
            judge = _ArchJudge(
                scenario=scenario,
                arch=arch,
                info=info,
                baseline=by_cell.get((scenario, arch, baseline_variant), {}),
                patched=by_cell.get((scenario, arch, info.variant), {}),
                baseline_cell=statuses.get((scenario, arch, baseline_variant)),
                series_cell=statuses.get((scenario, arch, info.variant)),
                baseline_unmet=baseline_unmet[(scenario, arch)],
                expectations=expectation_list,
                flaky=flaky_list,
                require_reproduction=require_reproduction,
                today=today,
                history=history,
                unreadable=unplaced
                + tuple(
                    u
                    for u in unreadable_list
                    if u.cell
                    in (
                        ids.cell_id(scenario, arch, baseline_variant),
                        ids.cell_id(scenario, arch, info.variant),
                    )
                ),
            )
            arch_verdict = judge.verdict()
            arch_verdict = _apply_bisection(arch_verdict, info, bisect_list, warnings)
            arch_verdicts.append(arch_verdict)
        verdicts.append(
            SeriesVerdict(
                series=info.name,
                verdict=Verdict.combine(a.verdict for a in arch_verdicts),
                arches=tuple(arch_verdicts),
                patches=info.patches,
                variant=info.variant,
            )
        )
    if not verdicts:
        warnings.append("no series variant found in the results: nothing to judge")
    warnings.extend(f"unreadable record: {u.describe()}" for u in unreadable_list)
    return GateResult(
        verdict=Verdict.combine(v.verdict for v in verdicts),
        series=tuple(verdicts),
        cells=tuple(statuses[key] for key in sorted(statuses)),
        histories=histories,
        expired_flaky=tuple(e for e in flaky_list if e.expired(today)),
        warnings=tuple(sorted(set(warnings))),
        require_reproduction=require_reproduction,
        today=today,
        baseline_variant=baseline_variant,
        unreadable=tuple(unreadable_list),
    )


def _histories(results: Iterable[TestResult], warnings: list[str]) -> tuple[AttemptHistory, ...]:
    """Group records into per-test attempt histories, as a set: duplicates count once."""
    seen: dict[tuple[str, str, str, str, int], dict[str, TestResult]] = defaultdict(dict)
    for result in results:
        key = (result.scenario, result.arch, result.variant, result.test, result.attempt)
        seen[key][result.to_json()] = result
    grouped: dict[tuple[str, str, str, str], list[TestResult]] = defaultdict(list)
    for key in sorted(seen):
        versions = seen[key]
        if len(versions) > 1:
            warnings.append(
                f"{len(versions)} different records for {ids.cell_id(*key[:3])} "
                f"{key[3]} attempt {key[4]}; judging the worst"
            )
        # The worst outcome wins a conflict, so a merge of artifacts never hides a failure.
        chosen = max(versions.items(), key=lambda item: (outcome.is_bad(item[1].outcome), item[0]))
        grouped[key[:4]].append(chosen[1])
    return tuple(
        AttemptHistory(*key, attempts=tuple(attempts)) for key, attempts in grouped.items()
    )


def _statuses(
    cells: Iterable[CellStatus], warnings: list[str]
) -> dict[tuple[str, str, str], CellStatus]:
    grouped: dict[tuple[str, str, str], set[CellStatus]] = defaultdict(set)
    for cell in cells:
        grouped[(cell.scenario, cell.arch, cell.variant)].add(cell)
    chosen = {}
    for key, versions in grouped.items():
        if len(versions) > 1:
            warnings.append(
                f"{len(versions)} different cell statuses for {'-'.join(key)}; judging the worst"
            )
        chosen[key] = max(versions, key=lambda c: (c.state is not CellState.BUILT, repr(c)))
    return chosen


def _series_infos(series: Iterable[SeriesInfo], warnings: list[str]) -> dict[str, SeriesInfo]:
    grouped: dict[str, set[SeriesInfo]] = defaultdict(set)
    for info in series:
        grouped[info.name].add(info)
    infos = {}
    for name, versions in grouped.items():
        if len(versions) > 1:
            warnings.append(f"series {name!r} given {len(versions)} times with different patches")
        infos[name] = max(versions, key=repr)
    return infos


def _name_failed_patch(cell: CellStatus, info: SeriesInfo | None) -> CellStatus:
    """Fill a failed patch's missing subject from the series list, once for every report."""
    failed = cell.failed_patch
    known = info.patch(failed.number) if info is not None and failed is not None else None
    if failed is None or failed.subject or known is None:
        return cell
    return dataclasses.replace(
        cell, failed_patch=dataclasses.replace(failed, subject=known.subject)
    )


def _unmet(
    scenario: str,
    arch: str,
    variant: str,
    tests: Mapping[str, AttemptHistory] | None,
    cell: CellStatus | None,
    expectations: Iterable[Expectation],
) -> tuple[UnmetExpectation, ...]:
    """The expectations for one cell that its tests break; none when it has no results."""
    if not tests or (cell is not None and cell.state is not CellState.BUILT):
        return ()
    unmet: list[UnmetExpectation] = []
    for expectation in expectations:
        if not expectation.applies_to(scenario, arch, variant):
            continue
        matched = sorted(t for t in tests if expectation.matches_test(t))
        if expectation.expected == "absent":
            unmet += [
                UnmetExpectation(scenario, arch, expectation, t, tests[t].label) for t in matched
            ]
        elif not matched:
            unmet.append(UnmetExpectation(scenario, arch, expectation, expectation.test, "absent"))
        else:
            unmet += [
                UnmetExpectation(scenario, arch, expectation, t, tests[t].label)
                for t in matched
                if not expectation.met_by(tests[t].label)
            ]
    return tuple(unmet)


def _is_summary_item(test: str) -> bool:
    """``glibc/elf/``: the item that runs a subdirectory's ``make check`` whole."""
    return test.startswith("glibc/") and test.endswith("/") and test.count("/") == 2


def _summary_item_of(test: str) -> str:
    """The summary item whose subdirectory ``test`` belongs to (``glibc/elf/tst-x`` ->
    ``glibc/elf/``); for any other test, a string that is no item."""
    return shard_unit(test) + "/"


def _named(items: Iterable[str]) -> str:
    listed = list(items)
    shown = ", ".join(listed[:_REASON_ITEMS])
    more = len(listed) - _REASON_ITEMS
    return f"{shown} and {more} more" if more > 0 else shown


#: How many of the patches after one that does not apply a reason names (the rest counted).
NOT_APPLIED_NAMED = 3


def _does_not_apply(info: SeriesInfo, cell: CellStatus, failed: FailedPatch) -> str:
    """Why a series does not apply: which patch (number and subject), on which glibc commit
    (a git source's), the first error of git am's (or patch's) own output, and the patches
    after it, which were not applied: the series is applied in order and stops at the first
    patch that fails, so nothing after it was built or tested."""
    name = _patch_name(info, failed.number, failed.subject)
    on = f" on glibc {cell.source_commit[:12]}" if cell.source_commit else ""
    lines = [line.strip() for line in failed.reject.splitlines() if line.strip()]
    # git am says "Applying: <subject>" first; its first error is what went wrong.
    first = next((line for line in lines if line.startswith("error:")), lines[0] if lines else "")
    reason = f"{name} does not apply{on}" + (f": {first}" if first else "")
    # The series list names the patches after it only when it numbers the failed one as the
    # build did (a stacked variant's list runs across its series; apply-series counts within one).
    known = info.patch(failed.number)
    numbered_alike = known is not None and (
        not failed.subject or known.subject.split() == failed.subject.split()
    )
    later = [p for p in info.patches if p.number > failed.number] if numbered_alike else []
    if not numbered_alike:
        reason += "; the patches after it were not applied"
    elif later:
        total = len(info.patches)
        named = ", ".join(f"{p.number}/{total} {p.subject!r}" for p in later[:NOT_APPLIED_NAMED])
        if len(later) > NOT_APPLIED_NAMED:
            named += f" and {len(later) - NOT_APPLIED_NAMED} more"
        after = (
            "the patch after it was"
            if len(later) == 1
            else f"the {len(later)} patches after it were"
        )
        reason += f"; {after} not applied: {named}"
    return reason


def _patch_name(info: SeriesInfo, number: int, subject: str) -> str:
    known = info.patch(number)
    subject = subject or (known.subject if known else "")
    total = f"/{len(info.patches)}" if info.patches else ""
    return f"patch {number}{total}" + (f" {subject!r}" if subject else "")


@dataclass(slots=True)
class _ArchJudge:
    """Judges one series on one (scenario, arch); a class only to share its many inputs."""

    scenario: str
    arch: str
    info: SeriesInfo
    baseline: Mapping[str, AttemptHistory]
    patched: Mapping[str, AttemptHistory]
    baseline_cell: CellStatus | None
    series_cell: CellStatus | None
    baseline_unmet: tuple[UnmetExpectation, ...]
    expectations: list[Expectation]
    flaky: list[FlakyEntry]
    require_reproduction: bool
    today: datetime.date
    history: History | None = None
    unreadable: tuple[UnreadableRecord, ...] = ()

    def verdict(self) -> ArchVerdict:
        rejects: list[str] = []
        undecided: list[str] = []
        first_bad: SeriesPatch | None = None
        transitions: tuple[Transition, ...] = ()

        series_state = self._state(self.series_cell, self.patched)
        baseline_state = self._state(self.baseline_cell, self.baseline)
        if series_state is None:
            undecided.append(f"series {self.info.name!r} was not run on {self.arch}")
        elif series_state is not CellState.BUILT:
            assert self.series_cell is not None  # only a cell status can say "not built"
            reason, first_bad = self._cell_failure(self.series_cell)
            (rejects if series_state.is_series_fault else undecided).append(reason)
        if baseline_state is None:
            undecided.append(f"the baseline was not run on {self.arch}: nothing to compare with")
        elif baseline_state is not CellState.BUILT:
            assert self.baseline_cell is not None
            undecided.append(
                f"the baseline failed ({baseline_state.value}: "
                f"{self.baseline_cell.message or 'no message'}): the farm cannot decide"
            )
        both_built = series_state is baseline_state is CellState.BUILT
        if series_state is CellState.BUILT and not self.patched:
            undecided.append("the series variant built but produced no test results")
        if baseline_state is CellState.BUILT and not self.baseline:
            undecided.append("the baseline built but produced no test results")

        if both_built and self.patched and self.baseline:
            transitions = self._compare()
            regressions = [t for t in transitions if t.kind is ChangeKind.REGRESSION]
            confirmed = [t for t in regressions if t.rejects]
            unconfirmed = [t for t in regressions if not t.rejects]
            if confirmed:
                rejects.append(
                    f"{len(confirmed)} regression(s): "
                    + _named(f"{t.test} {t.transition}" for t in confirmed)
                )
            if unconfirmed:
                undecided.append(
                    f"{len(unconfirmed)} regression(s) seen once and not rerun: "
                    + _named(f"{t.test} {t.transition}" for t in unconfirmed)
                )
            lost = [t for t in transitions if t.kind is ChangeKind.VANISHED and t.rejects]
            if lost:
                rejects.append(
                    f"{len(lost)} test(s) lost: they ran in the baseline and not with the "
                    "series (expect them absent in the scenario if that is intended): "
                    + _named(f"{t.test} {t.transition}" for t in lost)
                )
            undecided += [
                f"the summary of {item} in the {name} had anomalies, so its tests are "
                f"undecided: {problem}"
                for name, item, problem in self._anomalies()
            ]
            failing_new = [
                t for t in transitions if t.kind is ChangeKind.NEW and t.note.startswith("new")
            ]
            rejected_new = [t for t in failing_new if t.rejects]
            if rejected_new:
                rejects.append(
                    f"{len(rejected_new)} test(s) the series adds fail: "
                    + _named(f"{t.test} {t.patched}" for t in rejected_new)
                )
            if len(rejected_new) < len(failing_new):
                undecided.append(
                    "tests the series adds did not show that they pass: "
                    + _named(
                        f"{t.test} {t.patched} ({t.note})" for t in failing_new if not t.rejects
                    )
                )
            undecided += self._no_evidence()

        series_unmet = _unmet(
            self.scenario,
            self.arch,
            self.info.variant,
            self.patched,
            self.series_cell,
            self.expectations,
        )
        # An expectation broken by an ERROR (or in a variant where every test ERRORed) says
        # the farm could not run the test, not that the series broke it.
        ran = any(h.final.outcome is not Outcome.ERROR for h in self.patched.values())
        inconclusive = [u for u in series_unmet if not ran or u.actual == Outcome.ERROR.value]
        definite = [u for u in series_unmet if u not in inconclusive]
        if definite:
            rejects.append(
                f"{len(definite)} expectation(s) not met: " + _named(u.describe() for u in definite)
            )
        if inconclusive:
            undecided.append(
                f"{len(inconclusive)} expectation(s) could not be checked, the farm could not "
                "run the tests: " + _named(u.describe() for u in inconclusive)
            )
        if self.baseline_unmet:
            undecided.append(
                "the baseline does not behave as the scenario expects, so the comparison "
                "proves nothing: " + _named(u.describe() for u in self.baseline_unmet)
            )

        if self.unreadable:
            undecided.append(
                f"{len(self.unreadable)} record(s) could not be read, and the verdict may depend "
                "on them: " + _named(u.describe() for u in self.unreadable)
            )

        if rejects:
            verdict, reasons = Verdict.REJECT, rejects + undecided
        elif undecided:
            verdict, reasons = Verdict.UNDECIDED, undecided
        else:
            verdict, reasons = Verdict.ACCEPT, [self._accept_summary(transitions)]
        return ArchVerdict(
            scenario=self.scenario,
            arch=self.arch,
            series=self.info.name,
            verdict=verdict,
            reasons=tuple(reasons),
            baseline_cell=self.baseline_cell,
            series_cell=self.series_cell,
            transitions=transitions,
            unmet=series_unmet + self.baseline_unmet,
            first_bad_patch=first_bad,
            compared=len(set(self.baseline) & set(self.patched)),
        )

    @staticmethod
    def _state(cell: CellStatus | None, tests: Mapping[str, AttemptHistory]) -> CellState | None:
        """A cell's state; results without a status mean it built (the status file is lost)."""
        if cell is not None:
            return cell.state
        return CellState.BUILT if tests else None

    def _cell_failure(self, cell: CellStatus) -> tuple[str, SeriesPatch | None]:
        failed = cell.failed_patch
        if cell.state is CellState.PATCH_FAILED and failed is not None:
            return _does_not_apply(self.info, cell, failed), SeriesPatch(
                failed.number, failed.subject
            )
        what = {
            CellState.PATCH_FAILED: "the series does not apply",
            CellState.CONFIGURE_FAILED: "glibc with the series fails to configure",
            CellState.BUILD_FAILED: "glibc with the series fails to build",
            CellState.SOURCE_FAILED: "the source or series could not be fetched",
            CellState.NOT_RUN: "the series cell was not run",
        }[cell.state]
        return (f"{what}: {cell.message}" if cell.message else what), None

    def _anomalies(self) -> list[tuple[str, str, str]]:
        """(variant name, item, first problem) of each summary item that could not be read
        cleanly (see the module docstring), in either variant."""
        found = []
        for name, tests in (("baseline", self.baseline), ("series variant", self.patched)):
            for test, tested in sorted(tests.items()):
                if _is_summary_item(test) and tested.final.outcome is Outcome.ERROR:
                    lines = [line for line in tested.final.output.splitlines() if line.strip()]
                    found.append((name, test, lines[0] if lines else "no detail recorded"))
        return found

    def _compare(self) -> tuple[Transition, ...]:
        transitions = []
        anomalous = {item for _name, item, _problem in self._anomalies()}
        for test in sorted(set(self.baseline) | set(self.patched)):
            if test in anomalous:
                continue  # the reasons name it; it is no test of its own
            before, after = self.baseline.get(test), self.patched.get(test)
            if after is None:
                assert before is not None
                transitions.append(self._vanished(test, before, anomalous))
            elif before is None:
                transitions.append(self._new(test, after))
            else:
                transition = self._classify(test, before, after)
                if transition is not None:
                    transitions.append(transition)
        return tuple(transitions)

    def _vanished(self, test: str, before: AttemptHistory, anomalous: set[str]) -> Transition:
        """A test only the baseline has: lost coverage, unless expected absent or lost with
        its subdirectory's summary."""
        expected = any(
            e.expected == "absent"
            and e.applies_to(self.scenario, self.arch, self.info.variant)
            and e.matches_test(test)
            for e in self.expectations
        )
        if expected:
            note, rejects = "expected: the scenario says it is absent", False
        elif _summary_item_of(test) in anomalous:
            note, rejects = "its subdirectory's summary had anomalies (undecided)", False
        elif self.unreadable:
            note, rejects = "a record that could not be read may be its (undecided)", False
        elif before.final.is_good:
            note, rejects = "lost coverage: the series variant did not run it", True
        else:
            note, rejects = "was not good in the baseline either", False
        transition = self._transition(
            test,
            ChangeKind.VANISHED,
            before,
            None,
            note=note,
            rejects=rejects,
            output=before.final.output,
        )
        if rejects:
            return dataclasses.replace(transition, category=Category.NEW_FAILURE)
        return transition

    def _classify(
        self, test: str, before: AttemptHistory, after: AttemptHistory
    ) -> Transition | None:
        old, new = before.final.outcome, after.final.outcome
        if outcome.attempts_disagree(after.seen, before=before.final.seen):
            return self._transition(
                test,
                ChangeKind.FLAKY,
                before,
                after,
                note="did not reproduce on rerun",
            )
        if outcome.is_regression(before.final.seen, after.final.seen):
            return self._regression(test, before, after)
        if outcome.is_fix(before.final.seen, after.final.seen):
            return self._transition(test, ChangeKind.FIX, before, after)
        if not before.final.is_good and not after.final.is_good:
            note = "the farm could not run it in the baseline" if old is Outcome.ERROR else ""
            return self._transition(test, ChangeKind.ALREADY_FAILING, before, after, note=note)
        if old is Outcome.XFAIL and new is Outcome.XPASS:
            return self._transition(test, ChangeKind.XPASS, before, after)
        if before.label != after.label:
            return self._transition(test, ChangeKind.CHANGED, before, after)
        return None

    def _new(self, test: str, after: AttemptHistory) -> Transition:
        """A test only the series variant has: the series' own test, evidence like any other.

        One that ends bad rejects once reproduced (or when reruns are off); an ERROR means the
        farm could not run it, and flaky or unconfirmed attempts prove nothing: both leave
        the arch undecided (their note starts with "new" so the verdict can find them).
        """
        final = after.final
        if outcome.attempts_disagree(after.seen):
            note, rejects = "new test with attempts that disagree", False
        elif final.is_good:
            return self._transition(test, ChangeKind.NEW, None, after)
        elif final.outcome is Outcome.ERROR:
            note, rejects = "new test the farm could not run", False
        elif len(after.attempts) > 1 or not self.require_reproduction:
            note, rejects = "new test that fails", True
        else:
            note, rejects = "new test that failed once and was not rerun", False
        return self._transition(
            test, ChangeKind.NEW, None, after, note=note, rejects=rejects, reproduced=rejects
        )

    def _no_evidence(self) -> list[str]:
        """Why the two variants' results prove nothing, if they do not: an ACCEPT needs at
        least one test that produced a real outcome (not ERROR) in both."""
        reasons = []
        for name, tests in ((ids.BASELINE, self.baseline), ("series variant", self.patched)):
            if tests and all(h.final.outcome is Outcome.ERROR for h in tests.values()):
                reasons.append(
                    f"every test of the {name} ERRORed ({len(tests)}): the farm could not run "
                    "them, so they are no evidence"
                )
        real = [
            test
            for test in set(self.baseline) & set(self.patched)
            if Outcome.ERROR
            not in (self.baseline[test].final.outcome, self.patched[test].final.outcome)
        ]
        if not real:
            reasons.append("no test produced an outcome in both variants: nothing was compared")
        return reasons

    def _regression(self, test: str, before: AttemptHistory, after: AttemptHistory) -> Transition:
        matching = [e for e in self.flaky if e.matches(test, self.arch)]
        honoured = next((e for e in matching if not e.expired(self.today)), None)
        expired = next((e for e in matching if e.expired(self.today)), None)
        if honoured is not None:
            return self._transition(
                test,
                ChangeKind.FLAKY,
                before,
                after,
                note=f"known flaky until {honoured.expires.isoformat()}: {honoured.reason}",
                flaky_entry=honoured,
            )
        evidence = self._history_evidence(test, before, after)
        if evidence is not None:
            return self._transition(
                test,
                ChangeKind.FLAKY,
                before,
                after,
                note=evidence.describe(),
                known_flaky=evidence,
                expired_entry=expired,
            )
        # The attempts do not disagree here, so every attempt was a regression.
        reproduced = len(after.attempts) > 1 or not self.require_reproduction
        notes = [] if reproduced else ["seen once, not rerun"]
        if expired is not None:
            notes.append(
                f"flaky entry {expired.test!r} expired on {expired.expires.isoformat()} "
                "and was not honoured"
            )
        return self._transition(
            test,
            ChangeKind.REGRESSION,
            before,
            after,
            rejects=reproduced,
            reproduced=reproduced,
            note="; ".join(notes),
            expired_entry=expired,
        )

    def _history_evidence(
        self, test: str, before: AttemptHistory, after: AttemptHistory
    ) -> FlakyEvidence | None:
        """The history's evidence that ``test`` flips on this series' image, or else on the
        baseline's (see the module docstring for why the baseline's counts)."""
        if self.history is None:
            return None
        for cell, tests in ((self.series_cell, after), (self.baseline_cell, before)):
            if cell is None or not cell.image_id:
                continue  # no image identity, no "same image"
            found = self.history.evidence(
                cell.cell, cell.image_id, test, tests.label, today=self.today
            )
            if found is not None:
                return found
        return None

    def _transition(
        self,
        test: str,
        kind: ChangeKind,
        before: AttemptHistory | None,
        after: AttemptHistory | None,
        *,
        note: str = "",
        rejects: bool = False,
        reproduced: bool = False,
        flaky_entry: FlakyEntry | None = None,
        expired_entry: FlakyEntry | None = None,
        known_flaky: FlakyEvidence | None = None,
        output: str | None = None,
    ) -> Transition:
        category = _CATEGORY.get(kind, Category.OTHER)
        if kind is ChangeKind.NEW and after is not None and not after.final.is_good:
            category = Category.NEW_FAILURE
        return Transition(
            scenario=self.scenario,
            arch=self.arch,
            series=self.info.name,
            test=test,
            kind=kind,
            baseline=before.label if before else None,
            patched=after.label if after else None,
            attempts=after.labels if after else (),
            baseline_attempts=before.labels if before else (),
            rejects=rejects,
            reproduced=reproduced,
            note=note,
            flaky_entry=flaky_entry,
            expired_entry=expired_entry,
            output=output if output is not None else (after.final.output if after else ""),
            category=category,
            known_flaky=known_flaky,
        )

    def _accept_summary(self, transitions: tuple[Transition, ...]) -> str:
        compared = len(set(self.baseline) & set(self.patched))
        counts = [
            f"{sum(t.kind is kind for t in transitions)} {kind.value.lower().replace('_', ' ')}"
            for kind in (
                ChangeKind.FIX,
                ChangeKind.FLAKY,
                ChangeKind.ALREADY_FAILING,
                ChangeKind.NEW,
                ChangeKind.VANISHED,
            )
            if any(t.kind is kind for t in transitions)
        ]
        errored = sum(
            Outcome.ERROR in (self.baseline[t].final.outcome, self.patched[t].final.outcome)
            for t in set(self.baseline) & set(self.patched)
        )
        if errored:
            counts.append(f"{errored} could not run in one variant")
        excused = [t for t in transitions if t.flaky_entry is not None or t.known_flaky]
        return (
            f"no regressions in {compared} tests compared"
            + (f" ({', '.join(counts)})" if counts else "")
            + (
                f"; {len(excused)} regression(s) excused as known flaky: "
                + _named(f"{t.test} {t.transition} ({t.note})" for t in excused)
                if excused
                else ""
            )
        )


def _apply_bisection(
    verdict: ArchVerdict,
    info: SeriesInfo,
    bisections: Iterable[BisectResult],
    warnings: list[str],
) -> ArchVerdict:
    """Name the first bad patch from a bisection; ignored (with a warning) unless rejected."""
    found = next(
        (
            b
            for b in bisections
            if b.series == info.name
            and b.arch == verdict.arch
            and b.scenario in (None, verdict.scenario)
        ),
        None,
    )
    if found is None:
        return verdict
    if verdict.verdict is not Verdict.REJECT:
        warnings.append(
            f"bisection for series {info.name!r} on {verdict.arch} ignored: the gate did not "
            f"reject it ({verdict.verdict.value})"
        )
        return verdict
    patch = found.first_bad_patch
    known = info.patch(patch.number)
    subject = patch.subject or (known.subject if known else "")
    reason = f"first bad patch (bisection): {_patch_name(info, patch.number, subject)}"
    if found.tests:
        reason += f"; regressed there: {_named(found.tests)}"
    return dataclasses.replace(
        verdict,
        reasons=(*verdict.reasons, reason),
        first_bad_patch=SeriesPatch(patch.number, subject),
        bisect_tests=tuple(sorted(found.tests)),
    )
