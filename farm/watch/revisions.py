"""Revision over revision: what changed in a series' results since its previous revision.

A v2 is reviewed for what it changed since v1, so when the watcher has a verdict for a
series of version N > 1, `since_previous` finds the revision it follows and compares the two
runs; the watcher says the result in the report, in each final check and in the log line.

The rules:

- **The same series**: a lower patchwork ``version``, the same submitter (patchwork's
  person, whose key is the email: compared without case, the display name may change) and
  the same name once leading bracketed prefixes are stripped (``[PATCH v2 0/3]``,
  patchwork's ``[v2,0/3]``), compared without case or runs of blanks. Patchwork's series
  name has no prefix as a rule; one taken from a subject may.
- **The previous revision** is the newest of those (highest version, then newest date)
  with a verdict and a run directory (``done``). A newer one without (skipped, given up,
  not tested yet) is named in the report; when there is none with a verdict, nothing is
  compared and that is said plainly ("v1 was skipped: ...").
- **What is compared**: only the series' own tests (the ``extra`` variant the executor
  adds, `farm.plan.scenario.EXTRA_SERIES`), with `farm.judging.compare`'s rules, never restated; the
  scenarios' run directories are paired by name (`farm.rundir.RunDir.run_dirs_within`), and
  each check is told the changes of its own (scenario, arch).
- **Never the series' failure**: a previous run directory that is gone or unreadable, or a
  state whose earlier records cannot be read, is said in the report line and the checks;
  the verdict stands as the run gave it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from farm.errors import FarmError
from farm.judging import compare
from farm.judging.compare import Change, Comparison
from farm.nofollow import replace_file
from farm.plan.scenario import EXTRA_SERIES
from farm.report import markdown, patchwork
from farm.report.patchwork import PatchworkCheck
from farm.rundir import RunDir
from farm.watch.state import SeriesRecord, SeriesState, WatchedSeries, WatchState

#: The first line of the section the watcher appends to a report (for a reader's tools).
SECTION_MARK = "<!-- farm watch: since the previous revision -->"

_PREFIX = re.compile(r"^\s*(\[[^\]]*\]\s*)+")
_EMAIL = re.compile(r"<([^<>]*)>\s*$")


def series_key(name: str) -> str:
    """A series' name without its leading bracketed prefixes, case or runs of blanks."""
    return " ".join(_PREFIX.sub("", name).split()).casefold()


def submitter_key(submitter: str) -> str:
    """The email of patchwork's ``Name <email>`` (the whole text when it is an email alone)."""
    found = _EMAIL.search(submitter)
    return (found.group(1) if found else submitter).strip().casefold()


def same_series(earlier: WatchedSeries, later: WatchedSeries) -> bool:
    """``later`` is a new revision of ``earlier`` (the module docstring's rule)."""
    return (
        earlier.version < later.version
        and submitter_key(earlier.submitter) == submitter_key(later.submitter)
        and series_key(earlier.name) == series_key(later.name)
    )


@dataclass(frozen=True, slots=True)
class Delta:
    """What changed in the series' own tests, counted."""

    fixed: int = 0
    new_failures: int = 0
    other: int = 0  # another label, neither a fix nor a failure (UNSUPPORTED -> PASS)
    newly_run: int = 0  # run now, not in the previous revision's run
    not_run: int = 0  # in the previous revision's run, not now: lost coverage

    @classmethod
    def of(cls, changes: Iterable[compare.TestChange]) -> Delta:
        kinds = [c.change for c in changes]
        return cls(
            fixed=kinds.count(Change.FIXED),
            new_failures=kinds.count(Change.NEW_FAILURE),
            other=kinds.count(Change.OTHER),
            newly_run=kinds.count(Change.ONLY_IN_B),
            not_run=kinds.count(Change.ONLY_IN_A),
        )

    def __add__(self, other: Delta) -> Delta:
        return Delta(
            self.fixed + other.fixed,
            self.new_failures + other.new_failures,
            self.other + other.other,
            self.newly_run + other.newly_run,
            self.not_run + other.not_run,
        )

    @property
    def text(self) -> str:
        """``1 fixed, 0 new failures``; ``the same`` when nothing changed."""
        if self == Delta():
            return "the same"
        parts = [f"{self.fixed} fixed", _count(self.new_failures, "new failure")]
        if self.other:
            parts.append(_count(self.other, "other change"))
        if self.newly_run:
            parts.append(f"{self.newly_run} newly run")
        if self.not_run:
            parts.append(f"{self.not_run} no longer run")
        return ", ".join(parts)


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'' if number == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class SincePrevious:
    """What one revision's results say against the previous revision's."""

    series: WatchedSeries
    #: The revision compared with; None when there is none with a verdict.
    previous: SeriesRecord | None
    comparisons: tuple[Comparison, ...] = ()
    #: Why a scenario (or the whole run) was not compared, one sentence each.
    problems: tuple[str, ...] = ()
    #: When nothing was compared: why, a sentence (the report) and a few words (checks, log).
    note: str = ""
    short: str = ""
    #: Newer revisions than ``previous`` that have no verdict (skipped, given up, waiting).
    untested: tuple[SeriesRecord, ...] = ()

    @property
    def label(self) -> str:
        """``since v1``."""
        version = self.previous.series.version if self.previous else self.series.version - 1
        return f"since v{version}"

    def delta(self, scenario: str | None = None, arch: str | None = None) -> Delta | None:
        """The changes of one scenario and arch (None: all); None when it was not compared."""
        chosen = [c for c in self.comparisons if scenario is None or c.scenario == scenario]
        if not chosen:
            return None
        total = Delta()
        for comparison in chosen:
            total += Delta.of(c for c in comparison.changes if arch is None or c.arch == arch)
        return total

    def tail(self, scenario: str | None = None, arch: str | None = None) -> str:
        """The words for a check (one scenario and arch) or the log line (all)."""
        if self.previous is None:
            return self.short
        found = self.delta(scenario, arch)
        if found is None:
            version = f"v{self.previous.series.version}"
            why = self.short or f"{version} has no readable run of {scenario or 'it'}"
            return f"{self.label}: not compared ({why})"
        partial = f" ({_count(len(self.problems), 'scenario')} not compared)"
        return f"{self.label}: {found.text}{partial if scenario is None and self.problems else ''}"

    def describe(self, checks: Sequence[PatchworkCheck]) -> tuple[PatchworkCheck, ...]:
        """The checks with their (scenario, arch)'s tail, within patchwork's limit."""
        said = patchwork.with_tail
        return tuple(
            replace(c, description=said(c.description, self.tail(c.scenario, c.arch)))
            for c in checks
        )

    def markdown(self) -> str:
        """The report's section: what was compared with what, and what changed."""
        title = self.label[0].upper() + self.label[1:]
        lines = [SECTION_MARK, f"## {title}", ""]
        for record in self.untested:
            lines += [f"- {markdown.text(_untested(record))}"]
        if self.untested:
            lines.append("")
        if self.previous is None:
            return "\n".join([*lines, markdown.text(self.note), ""])
        prev = self.previous.series
        lines += [
            f"This is {self.series.label}; the revision before it is {prev.label} "
            f"({markdown.text(prev.name)}, {markdown.text(self.previous.verdict)}), run "
            f"directory {markdown.code(self.previous.run_dir)} (A below; this run is B). "
            "Only the series' own tests "
            "are compared, with `farm compare`'s rules: a new failure behaved in A and not in "
            "B, a fix the other way round.",
            "",
        ]
        for comparison in self.comparisons:
            scenario = markdown.text(comparison.scenario)
            lines.append(f"- {scenario}: {Delta.of(comparison.changes).text}")
        lines += [f"- not compared: {markdown.text(problem)}" for problem in self.problems]
        lines.append("")
        for comparison in self.comparisons:
            lines.append(compare.render_markdown(comparison, level=3))
        return "\n".join(lines).rstrip("\n") + "\n"


def _untested(record: SeriesRecord) -> str:
    series = record.series
    if record.state is SeriesState.SKIPPED:
        return f"{series.label} was skipped: {record.reason}"
    if record.state is SeriesState.GAVE_UP:
        return f"{series.label} was not tested: the watcher {record.reason}"
    return f"{series.label} is not tested yet ({record.state.value})"


def _untested_short(record: SeriesRecord) -> str:
    version = f"v{record.series.version}"
    if record.state is SeriesState.SKIPPED:
        return f"{version} was skipped, nothing to compare"
    if record.state is SeriesState.GAVE_UP:
        return f"{version} gave up untested, nothing to compare"
    return f"{version} not tested yet, nothing to compare"


def since_previous(state: WatchState, series: WatchedSeries, run_dir: Path) -> SincePrevious | None:
    """The comparison of this run (``run_dir``) with the previous revision's; None for a
    first revision. Never raises for what it reads: see the module docstring."""
    if series.version <= 1:
        return None
    try:
        earlier = [r for r in state.earlier_versions(series) if same_series(r.series, series)]
    except FarmError as damaged:
        return SincePrevious(
            series, None, note=f"The earlier revisions cannot be read from the state: {damaged}",
            short="earlier revisions unreadable, nothing compared",
        )  # fmt: skip
    tested = next((r for r in earlier if _has_result(r)), None)
    untested = tuple(
        r for r in earlier if tested is None or r.series.version > tested.series.version
    )
    if tested is None:
        if not earlier:
            return SincePrevious(
                series, None,
                note="No earlier revision of this series is in the watcher's state (posted "
                "before the watcher started, or under another name or submitter): nothing "
                "to compare with.",
                short="no earlier revision seen",
            )  # fmt: skip
        return SincePrevious(
            series, None, untested=untested,
            note="No earlier revision was tested: nothing to compare with.",
            short=_untested_short(untested[0]),
        )  # fmt: skip
    comparisons, problems = _compare(Path(tested.run_dir), run_dir, f"v{tested.series.version}")
    short = ""
    if problems and not comparisons:  # the report has the whole sentence
        gone = not Path(tested.run_dir).is_dir()
        short = f"v{tested.series.version}'s run directory is gone" if gone else "see the report"
    return SincePrevious(
        series, tested, tuple(comparisons), tuple(problems), short=short, untested=untested
    )


def _has_result(record: SeriesRecord) -> bool:
    return record.state is SeriesState.DONE and bool(record.verdict) and bool(record.run_dir)


def _compare(before: Path, after: Path, version: str) -> tuple[list[Comparison], list[str]]:
    """Each scenario's run in ``before`` beside the one of the same name in ``after``."""
    if not before.is_dir():
        return [], [f"{version}'s run directory {before} is gone (removed since it was tested)"]
    try:
        runs_before = RunDir(before).run_dirs_within()
        runs_after = RunDir(after).run_dirs_within()
    except OSError as error:
        return [], [f"{version}'s run directory {before} cannot be read: {error}"]
    if not runs_before:
        return [], [f"{version}'s run directory {before} holds no run (its records are gone)"]
    comparisons: list[Comparison] = []
    problems: list[str] = []
    for name in sorted(set(runs_before) | set(runs_after)):
        what = f"scenario {name}" if name else "the run"
        if name not in runs_after:
            problems.append(f"{what}: in {version}'s run, not in this one")
            continue
        if name not in runs_before:
            problems.append(f"{what}: not in {version}'s run ({before})")
            continue
        try:
            comparisons.append(
                compare.compare(runs_before[name], runs_after[name], variant=EXTRA_SERIES)
            )
        except (FarmError, OSError) as error:
            problems.append(f"{what}: {error}")
    return comparisons, problems


def add_to_report(report: Path, section: str) -> Path:
    """Append the section to the Markdown report, unless the report already ends with it (a
    verdict recorded again after the watcher was cut off). Nothing before it is cut: what
    looks like an earlier section may be a test's output quoted in the report. Raises
    OSError."""
    text = report.read_text(encoding="utf-8", errors="replace")
    if text.endswith(section):
        return report
    kept = text.rstrip("\n")
    return replace_file(report, f"{kept}\n\n{section}".encode())
