"""What several subcommands share: loading scenarios, progress lines, run directories."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import docker

from farm import engine, history, matrix
from farm.errors import EngineError, Interrupted, UsageError
from farm.matrix import Cell
from farm.scenario import EXTRA_SERIES_ENV, Scenario, load_scenario, with_extra_series
from farm.sources import Cache, default_cache_dir

_STARTED = time.monotonic()


def load_all(paths: Iterable[Path]) -> list[Scenario]:
    """Load the scenarios, each with the extra series of ``$FARM_EXTRA_SERIES_URL`` if set."""
    scenarios = [load_scenario(path) for path in paths]
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


RUNS_ROOT = Path("farm-runs")


def run_dir(requested: Path | None, scenario: Scenario, *, resume: bool = False) -> Path:
    """The directory of this run's logs and results (created).

    By default a new directory per run, never shared with another farm process started in
    the same second. With ``resume`` and no directory given, the scenario's newest run.
    """
    if requested is not None:
        if resume and not requested.is_dir():
            raise UsageError(f"--resume: {requested} does not exist; nothing to resume")
        try:
            requested.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(
                f"--run-dir {requested}: cannot make the directory: {error.strerror}; "
                "give a directory that can be created or written"
            ) from None
        return requested
    parent = RUNS_ROOT / scenario.name
    if resume:
        earlier = sorted(p for p in parent.glob("*") if p.is_dir()) if parent.is_dir() else []
        if not earlier:
            raise UsageError(f"--resume: no earlier run of {scenario.name} under {parent}")
        return earlier[-1]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", *(f"-{n}" for n in range(2, 100))):
        candidate = parent / f"{stamp}{suffix}"
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise UsageError(f"{parent}: too many runs started at {stamp}; pass --run-dir")


def engine_lost(
    error: EngineError, command: str, scenario: Scenario, directory: Path
) -> EngineError:
    """An engine failure mid-run, with what was kept and how to go on once it is back."""
    return EngineError(
        f"{error}\nthe results and logs so far are in {directory}; once the engine is back: "
        f"farm {command} {scenario.path} --run-dir {directory} --resume"
    )


def interrupted(command: str, scenario: Scenario, directory: Path) -> Interrupted:
    """The error that ends a run stopped by Ctrl-C or SIGTERM: what is kept, how to go on."""
    return Interrupted(
        f"interrupted; the farm's containers are stopped, and the results and logs so far are "
        f"in {directory}\nresume with: farm {command} {scenario.path} --run-dir {directory} "
        "--resume"
    )


@dataclass(frozen=True, slots=True)
class Session:
    """One `farm test` / `farm run` invocation: what it works on and where it writes."""

    command: str
    scenario: Scenario
    cells: tuple[Cell, ...]
    client: docker.DockerClient
    directory: Path


def run_session(command: str, args: argparse.Namespace, body: Callable[[Session], int]) -> int:
    """Open the session (engine first: without one there is no run to keep or resume), run
    ``body``, and turn Ctrl-C, SIGTERM or a lost engine into an error that says how to
    resume."""
    (scenario,) = load_all([args.scenario])
    cells = matrix.select(matrix.cells([scenario]), args.only)
    client = engine.connect()
    directory = run_dir(args.run_dir, scenario, resume=args.resume)
    progress(f"run directory: {directory}")
    try:
        return body(Session(command, scenario, cells, client, directory))
    except KeyboardInterrupt:
        raise interrupted(command, scenario, directory) from None
    except EngineError as error:
        raise engine_lost(error, command, scenario, directory) from None
