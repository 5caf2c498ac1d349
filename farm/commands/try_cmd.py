"""``farm try SERIES --scenario TEMPLATE``: gate one series with no scenario file to write.

A composition of what exists: the SERIES is classified and decided on by `farm.inputs.try_series`,
fetched by `farm.inputs.try_sources`, and run by `farm run`'s own session and stages
(`farm.commands.run_cmd`): the same ids, reports, gate, bisection and patchwork checks file.
What ``farm try`` adds is the scenario: the template with its series replaced by this one,
written into the run directory (`farm.rundir.RunDir.try_scenario`) beside the series' mails,
so ``farm run`` on that file repeats the run exactly, and what was tried and why (the series
and its revision, the base, the glibc tests selected) as a record the reports show
(`farm.inputs.try_series.TryRecord`, `RunDir.try_record`). Everything is fetched and the made
scenario loaded (from a scratch copy) before the run directory is made, so bad input leaves
nothing behind.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from farm.commands import common, run_cmd
from farm.errors import ScenarioError, UsageError
from farm.inputs import sources, try_series, try_sources
from farm.inputs.series import files_touched
from farm.inputs.try_series import BaseChoice, GlibcSelection, RemoteBranch, SeriesEntry, TryRecord
from farm.inputs.try_sources import FetchedSeries
from farm.judging.gate import SeriesPatch
from farm.nofollow import replace_file
from farm.plan.scenario import (
    DEFAULT_PUBLIC_INBOX,
    EXTRA_SERIES_ENV,
    GitSource,
    Scenario,
    load_scenario,
)
from farm.rundir import RunDir
from farm.yamlnode import control_character


@dataclasses.dataclass(frozen=True, slots=True)
class MadeScenario:
    """What ``farm try`` writes into the run directory, and what it says about it."""

    text: str
    series_bytes: bytes
    bare_diff: bool
    lock: Path | None  # the template's lock file (its pins), copied beside the made scenario
    lines: tuple[str, ...]  # what the output says: series, base, tests, and why
    record: TryRecord  # the same, for the reports' "Tried" section

    def write(self, directory: Path) -> Path:
        """Write the scenario, its series, lock and try record into ``directory``; the
        scenario's path."""
        run_dir = RunDir(directory)
        replace_file(run_dir.try_series(bare_diff=self.bare_diff), self.series_bytes)
        run_dir.write_try_record(self.record)
        scenario = run_dir.try_scenario
        if self.lock is not None:
            replace_file(sources.LockFile(scenario).path, self.lock.read_bytes())
        return replace_file(scenario, self.text.encode("utf-8"))


def run(args: argparse.Namespace) -> int:
    argument = try_series.classify(args.series)
    template = load_scenario(args.scenario)
    if args.run_dir is not None and args.run_dir.is_dir() and any(args.run_dir.iterdir()):
        raise UsageError(
            f"--run-dir {args.run_dir} is not empty; farm try makes a new run, give a new "
            "directory (to go on with a run: farm run RUN_DIR/try-scenario.yaml --run-dir "
            "RUN_DIR --resume)"
        )
    if os.environ.get(EXTRA_SERIES_ENV, "").strip():
        common.progress(f"${EXTRA_SERIES_ENV} is set but not used: farm try runs one series")
    try_series.check_requested_base(template.source, args.base)
    cache = common.cache()
    # The template's git glibc is mirrored (a clone of glibc, on first use) only once the
    # series is known to be there, unless the series is a branch that forks from it.
    glibc = _template_glibc(template, cache, args.base, now=isinstance(argument, RemoteBranch))
    inbox = args.inbox or DEFAULT_PUBLIC_INBOX
    where = try_sources.Where(cache, inbox, args.api_url, common.progress, glibc)
    fetched = try_sources.fetch(argument, where)
    glibc = glibc or _template_glibc(template, cache, args.base, now=True)
    base = try_series.choose_base(
        template.source,
        series_base=fetched.base,
        series_base_origin=fetched.base_origin,
        requested=args.base,
        resolve=try_sources.git_resolver(glibc.repository) if glibc else None,
    )
    files = dict.fromkeys(
        path for patch in fetched.revision.patches for path in files_touched(patch)
    )
    selection = try_series.select_glibc_tests(files, full=args.full, template=template.tests.glibc)
    made = make(template, fetched, base, selection)
    with tempfile.TemporaryDirectory(prefix="farm-try-") as scratch:
        # Loaded once outside the run directory: a scenario the loader refuses is refused
        # before the engine is asked or a directory made.
        checked = made.write(Path(scratch))
        try:
            load_scenario(checked)
        except ScenarioError as error:
            raise ScenarioError(
                f"the scenario made from {template.path} is refused: {error}"
            ) from None
        # The made scenario is on its base already: farm run's --base is not applied again.
        checked_args = argparse.Namespace(**{**vars(args), "scenario": checked, "base": None})
        return common.run_session(
            "run",
            checked_args,
            lambda scenario, every, cells, directory: run_cmd.options(
                scenario, every, cells, directory, checked_args, judge=not args.no_gate
            ),
            lambda session: _run(session, made),
            place=made.write,
        )


def _template_glibc(
    template: Scenario, cache: sources.Cache, base: str | None, *, now: bool
) -> try_sources.TemplateGlibc | None:
    """The cache's mirror of the template's git glibc (None for another source, or not
    ``now``)."""
    if not now or not isinstance(template.source, GitSource):
        return None
    fetcher = sources.Fetcher(cache, template, progress=common.progress)
    repository = fetcher.git_repository(template.source)
    return try_sources.TemplateGlibc(repository, template.source.url, base or template.source.ref)


def make(
    template: Scenario, fetched: FetchedSeries, base: BaseChoice, selection: GlibcSelection
) -> MadeScenario:
    """The made scenario for ``fetched`` on ``base`` with ``selection``: its text, series
    file and the lines that say what was chosen and why."""
    revision = fetched.revision
    name = try_series.series_name(fetched.argument, version=revision.version, tip=fetched.tip)
    bare = fetched.bare_diff
    entry = SeriesEntry(
        name=name,
        summary=shown(f"{revision.subject} ({fetched.origin})"),
        kind="patch" if bare else "mbox",
        file_name=RunDir(Path()).try_series(bare_diff=bare).name,
    )
    patches = [f"  {p.number}/{len(revision.patches)} {p.subject}" for p in revision.patches]
    cases = ", ".join(template.tests.cases) or "none"
    lines = tuple(
        shown(line)
        for line in (
            f"series:      {fetched.origin}",
            *patches,
            f"base:        {base.reason}",
            f"glibc tests: {' '.join(selection.entries) or 'none'}",
            *(f"  {reason}" for reason in selection.reasons),
            f"farm cases:  {cases} (the template's tests.cases)",
        )
    )
    data: dict[str, Any] = yaml.safe_load(template.path.read_text(encoding="utf-8"))
    scenario = try_series.made_scenario(
        data,
        template_dir=template.path.parent,
        series=entry,
        base=base,
        selection=selection,
        description="\n".join(lines),
    )
    lock = sources.LockFile(template.path).path
    record = TryRecord(
        template=str(template.path),
        series=name,
        origin=fetched.origin,
        patches=tuple(SeriesPatch(p.number, p.subject) for p in revision.patches),
        base_commit=base.commit,
        base_reason=base.reason,
        glibc_tests=selection.entries,
        glibc_reasons=selection.reasons,
        cases=template.tests.cases,
    )
    return MadeScenario(
        text=try_series.scenario_yaml(scenario, template=template.path, why=lines),
        series_bytes=revision.mails[0] if bare else revision.mbox(),
        bare_diff=bare,
        lock=lock if lock.is_file() else None,
        lines=lines,
        record=record,
    )


def shown(text: str) -> str:
    """``text`` (subjects and file names are the series author's) as one line fit to print
    and to write into the made scenario: a control character, which the scenario loader
    would refuse and a terminal would obey, becomes ``?``."""
    return "".join("?" if control_character(char) else char for char in text)


def _run(session: common.Session, made: MadeScenario) -> int:
    reproducer = f"farm run {session.scenario.path}"
    for line in made.lines:
        print(line)
    print(f"scenario:    {session.scenario.path}")
    print(f"repeat with: {reproducer}", flush=True)
    status = run_cmd.run_and_show(session)
    print(f"repeat with: {reproducer}")
    return status
