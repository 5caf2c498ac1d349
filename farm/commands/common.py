"""What several subcommands share: loading scenarios, progress lines, run directories."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from farm import rundir
from farm.containers.engine import Engine
from farm.errors import EngineError, Interrupted
from farm.inputs.sources import Cache, default_cache_dir, is_commit_id
from farm.judging import history
from farm.plan import matrix
from farm.plan.matrix import Cell
from farm.plan.scenario import (
    EXTRA_SERIES_ENV,
    GitSource,
    Scenario,
    load_scenario,
    with_base,
    with_extra_series,
)
from farm.run import stages
from farm.rundir import RunDir

_STARTED = time.monotonic()

#: The template a series posted today is put on (`farm try`, `farm watch`): glibc master.
MASTER_SCENARIO = Path("scenarios/glibc-master.yaml")


def load_all(paths: Iterable[Path], *, base: str | None = None) -> list[Scenario]:
    """Load the scenarios, each with the extra series of ``$FARM_EXTRA_SERIES_URL`` if set,
    and on the ``--base`` commit if one is given."""
    scenarios = [load_scenario(path) for path in paths]
    if base is not None:
        scenarios = [with_base(s, base, origin="--base") for s in scenarios]
    extra_url = os.environ.get(EXTRA_SERIES_ENV, "").strip()
    if extra_url:
        scenarios = [
            with_extra_series(s, extra_url, origin=f"${EXTRA_SERIES_ENV}") for s in scenarios
        ]
    return scenarios


def progress(message: str) -> None:
    """A progress line on stderr, prefixed with the time since the farm started."""
    seconds = int(time.monotonic() - _STARTED)
    print(f"[{seconds // 60:3d}m{seconds % 60:02d}s] {message}", file=sys.stderr, flush=True)


def cache() -> Cache:
    return Cache(default_cache_dir())


def history_path(args: argparse.Namespace, scenario: Scenario) -> Path | None:
    """The flaky history this command judges with and updates: ``--history``, else the
    scenario's file in the farm cache (beside the records of its images, whose ids the
    history is about); None with ``--no-history``."""
    if args.no_history:
        return None
    if args.history is not None:
        path: Path = args.history
        return path
    return history.default_path(default_cache_dir(), scenario.name)


def run_dir(requested: Path | None, scenario: Scenario, *, resume: bool = False) -> Path:
    """The directory of this run's logs and results, created (`farm.rundir.choose_run_dir`)."""
    return rundir.choose_run_dir(requested, scenario.name, resume=resume).create()


def judged_commit(scenario: Scenario, directory: Path) -> str | None:
    """The commit a run directory's cells say a branch (``ref: master``) named when that run
    started; None when the source is not on a branch or the directory names no one commit.
    A resumed run must go on with that glibc, not with wherever the branch is now."""
    source = scenario.source
    if not isinstance(source, GitSource) or is_commit_id(source.ref):
        return None
    cells, _unreadable = RunDir(directory).read_cells()
    judged = {cell.source_commit for cell in cells if cell.source_commit}
    return judged.pop() if len(judged) == 1 else None


def resume_command(command: str, scenario: Scenario, directory: Path, base: str | None) -> str:
    """The command line that goes on with a run: same scenario, directory and base commit
    (a run on ``master`` resumed tomorrow must not pick up tomorrow's master)."""
    line = f"farm {command} {scenario.path} --run-dir {directory} --resume"
    return line + (f" --base {base}" if base else "")


def engine_lost(
    error: EngineError, command: str, scenario: Scenario, directory: Path, base: str | None = None
) -> EngineError:
    """An engine failure mid-run, with what was kept and how to go on once it is back."""
    return EngineError(
        f"{error}\nthe results and logs so far are in {directory}; once the engine is back: "
        + resume_command(command, scenario, directory, base)
    )


def interrupted(
    command: str, scenario: Scenario, directory: Path, base: str | None = None
) -> Interrupted:
    """The error that ends a run stopped by Ctrl-C or SIGTERM: what is kept, how to go on."""
    return Interrupted(
        f"interrupted; the farm's containers are stopped, and the results and logs so far are "
        f"in {directory}\nresume with: " + resume_command(command, scenario, directory, base)
    )


@dataclass(frozen=True, slots=True)
class Session:
    """One `farm test` / `farm run` invocation: its checked options and its engine."""

    command: str
    options: stages.RunOptions
    engine: Engine

    @property
    def scenario(self) -> Scenario:
        return self.options.scenario

    @property
    def directory(self) -> Path:
        return self.options.run_dir


#: Makes a command's `stages.RunOptions` from the scenario, every cell of it, its selected
#: cells and the run directory chosen (not yet made).
OptionsMaker = Callable[[Scenario, tuple[Cell, ...], tuple[Cell, ...], Path], stages.RunOptions]


def run_session(
    command: str,
    args: argparse.Namespace,
    make_options: OptionsMaker,
    body: Callable[[Session], int],
    *,
    place: Callable[[Path], Path] | None = None,
) -> int:
    """Check the options, open the session (engine first: without one there is no run to
    keep or resume), make the run directory, run ``body``, and turn Ctrl-C, SIGTERM or a
    lost engine into an error that says how to resume.

    Every option rule is `stages.RunOptions`'s, applied before the engine is asked or a
    directory made, so a refused option leaves nothing behind.

    ``place`` (``farm try``) writes the scenario to run into the new run directory and
    returns its file; ``args.scenario`` is then a checked copy of it outside, read only to
    check the options first (it is already on its base: ``args.base`` is None). The run is of
    the scenario in the directory, which is removed again if placing it fails."""
    if place is not None:
        (scenario,) = [load_scenario(args.scenario)]
    else:
        (scenario,) = load_all([args.scenario], base=args.base)
    choice = rundir.choose_run_dir(args.run_dir, scenario.name, resume=args.resume)
    base: str | None = args.base
    if args.resume and base is None and (base := judged_commit(scenario, choice.path)):
        progress(f"resuming on glibc commit {base}, the one this run started on")
        scenario = with_base(scenario, base, origin=f"{choice.path}/cells")
    every = matrix.cells([scenario])
    options = make_options(scenario, every, matrix.select(every, args.only), choice.path)
    engine = Engine.connect()
    existed = choice.path.exists()
    directory = choice.create()
    if place is not None:
        try:
            scenario = load_scenario(place(directory))
        except BaseException:
            if choice.fresh or not existed:  # made for nothing: no half-made run directory
                shutil.rmtree(directory, ignore_errors=True)
            raise
        every = matrix.cells([scenario])
        options = make_options(scenario, every, matrix.select(every, args.only), directory)
    elif directory != options.run_dir:  # another farm took the stamp meanwhile
        options = dataclasses.replace(options, run_dir=directory)
    progress(f"run directory: {directory}")
    try:
        return body(Session(command, options, engine))
    except KeyboardInterrupt:
        raise interrupted(command, scenario, directory, base) from None
    except EngineError as error:
        raise engine_lost(error, command, scenario, directory, base) from None
