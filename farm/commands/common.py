"""What several subcommands share: loading scenarios, progress lines, run directories."""

from __future__ import annotations

import datetime
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

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


def run_dir(requested: Path | None, scenario: Scenario) -> Path:
    """The directory of this run's logs and results (created)."""
    if requested is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        requested = Path("farm-runs") / scenario.name / stamp
    requested.mkdir(parents=True, exist_ok=True)
    return requested
