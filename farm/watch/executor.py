"""The seam where the watcher hands one series over to be tested: `TestSeries`.

The watcher owns the queue, the retries, the deadline and what patchwork is told; an
executor owns how a series is tested. It gets a `SeriesJob` (the series as patchwork listed
it, and its mbox as the watcher fetched it: the bytes the skip rules read are the bytes
tested) and the run directory the watcher chose and recorded, and returns a `SeriesRun`:
the verdict, the run directory, the report and the final checks to post. A run directory
that already holds a run is one the watcher was cut off in: the executor resumes there.
An executor raises for a run that could not decide (the watcher retries it with backoff);
it never posts to patchwork, never touches the watcher's state and never retries by itself.
With ``--jobs N`` up to N calls run at once, each in a thread of its own and its own run
directory (`farm.watch.loop`): an executor keeps nothing of one call for another.

`FarmRunExecutor` is today's executor: ``farm run`` (`farm.run.stages.run`, the stages every
command calls) on each template scenario with the series added as the scenario's ``extra``
series (`farm.plan.scenario.with_extra_series`, as ``$FARM_EXTRA_SERIES_URL`` does in the
workflow), from the mbox file the watcher kept, on the base the watcher chose and recorded
for that template (`farm.watch.baseline`; `farm.plan.scenario.with_base`, as ``farm run --base
COMMIT`` does). A template without a base in the job is run as it is. ``farm try`` (the
series-by-name command) plugs in here in its place once it exists: it takes a patchwork id
or an mbox, both of which a job carries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from farm.containers.engine import Engine, Progress
from farm.inputs.sources import Cache
from farm.inputs.try_series import BaseChoice
from farm.judging import history
from farm.judging.gate import GateResult, Verdict
from farm.nofollow import replace_file
from farm.plan import matrix
from farm.plan.scenario import EXTRA_SERIES, Scenario, with_base, with_extra_series
from farm.report import patchwork
from farm.report.patchwork import PatchworkCheck
from farm.run import stages
from farm.watch.state import WatchedSeries


@dataclass(frozen=True, slots=True)
class SeriesJob:
    """One series to test: what patchwork listed, and its mails as the watcher kept them."""

    series: WatchedSeries
    mbox: Path
    attempt: int  # 1 for the first
    #: template scenario name -> the glibc to test on there (`farm.watch.baseline`)
    bases: dict[str, BaseChoice] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SeriesRun:
    """What testing a series gave: the verdict and the checks that say it on patchwork."""

    verdict: Verdict
    run_dir: Path
    report: Path | None  # the report a reviewer reads (Markdown)
    checks: tuple[PatchworkCheck, ...]  # final checks, in the watcher's pending contexts
    base: str = ""  # the glibc commit judged, when known


#: Tests one series in the run directory given; raises when it could not decide.
TestSeries = Callable[[SeriesJob, Path], SeriesRun]


def pending_checks(scenarios: Sequence[Scenario]) -> tuple[PatchworkCheck, ...]:
    """The ``pending`` checks the watcher posts when a series starts: one per (scenario,
    arch), in the contexts the verdict's checks (`farm.report.patchwork`) will replace."""
    return patchwork.pending_checks(scenarios, [EXTRA_SERIES])


@dataclass(frozen=True, slots=True)
class FarmRunExecutor:
    """``farm run`` of every template scenario with the series as its ``extra`` series."""

    scenarios: tuple[Scenario, ...]
    cache: Cache
    progress: Progress
    workers: int | str = "auto"
    reruns: int = 1
    engine: Callable[[], Engine] = Engine.connect

    def __call__(self, job: SeriesJob, run_dir: Path) -> SeriesRun:
        engine = self.engine()
        label = job.series.label

        def progress(line: str) -> None:  # the lines of series tested at once, told apart
            self.progress(f"{label}: {line}")

        verdicts: list[Verdict] = []
        checks: list[PatchworkCheck] = []
        reports: list[Path] = []
        base = ""
        for scenario in self.scenarios:
            with_series = series_scenario(scenario, job)
            directory = run_dir / scenario.name if len(self.scenarios) > 1 else run_dir
            resume = directory.is_dir() and any(directory.iterdir())
            every = matrix.cells([with_series])
            options = stages.RunOptions(
                scenario=with_series,
                cells=every,
                scenario_cells=every,
                run_dir=directory,
                cache=self.cache,
                workers=self.workers,
                reruns=self.reruns,
                resume=resume,
                history=history.default_path(self.cache.root, scenario.name),
            )
            directory.mkdir(parents=True, exist_ok=True)
            outcome = stages.run(engine, options, progress)
            if outcome.gate is None:  # judge=True always gives one; say so if it did not
                raise RuntimeError(f"{scenario.name}: the run gave no verdict")
            verdicts.append(_series_verdict(outcome.gate))
            checks += [
                c for c in patchwork.patchwork_checks(outcome.gate) if c.series == EXTRA_SERIES
            ]
            base = base or _base(outcome.gate)
            if "markdown" in outcome.reports:
                reports.append(outcome.reports["markdown"])
        report = reports[0] if len(reports) == 1 else _joined(run_dir, reports)
        return SeriesRun(Verdict.combine(verdicts), run_dir, report, tuple(checks), base)


def series_scenario(scenario: Scenario, job: SeriesJob) -> Scenario:
    """The template on the job's base for it, with the job's series as its ``extra``
    series, read from the mbox the watcher kept (a ``file:`` URL ending in ``.mbox``: taken
    as mails, hash-locked in the template's lock file on first use like any unpinned URL)."""
    base = job.bases.get(scenario.name)
    if base is not None and base.commit is not None:
        scenario = with_base(scenario, base.commit, origin=f"{job.series.label}: {base.reason}")
    return with_extra_series(
        scenario, job.mbox.resolve().as_uri(), origin=f"{job.series.label} ({job.series.mbox_url})"
    )


def _series_verdict(result: GateResult) -> Verdict:
    found = [s.verdict for s in result.series if s.series == EXTRA_SERIES]
    return found[0] if found else Verdict.UNDECIDED


def _base(result: GateResult) -> str:
    for series in result.series:
        for arch in series.arches:
            if arch.baseline_cell is not None and arch.baseline_cell.source_commit:
                return arch.baseline_cell.source_commit
    return ""


def _joined(run_dir: Path, reports: Sequence[Path]) -> Path | None:
    """One Markdown report over several scenarios' (each scenario's own stays beside it)."""
    if not reports:
        return None
    joined = "\n\n".join(p.read_text(encoding="utf-8") for p in reports)
    return replace_file(run_dir / "watch-report.md", joined.encode("utf-8"))
