"""What several subcommands share: loading scenarios, progress lines, run directories."""

from __future__ import annotations

import datetime
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from farm.scenario import Scenario, load_scenario
from farm.sources import Cache, default_cache_dir

_STARTED = time.monotonic()


def load_all(paths: Iterable[Path]) -> list[Scenario]:
    return [load_scenario(path) for path in paths]


def progress(message: str) -> None:
    """A progress line on stderr, prefixed with the time since the farm started."""
    seconds = int(time.monotonic() - _STARTED)
    print(f"[{seconds // 60:3d}m{seconds % 60:02d}s] {message}", file=sys.stderr, flush=True)


def cache() -> Cache:
    return Cache(default_cache_dir())


def run_dir(requested: Path | None, scenario: Scenario) -> Path:
    """The directory of this run's logs and results (created)."""
    if requested is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        requested = Path("farm-runs") / scenario.name / stamp
    requested.mkdir(parents=True, exist_ok=True)
    return requested
