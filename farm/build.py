"""Building a scenario's images: fetch its inputs, render the plan, build in order.

An image whose tag exists is reused, so a second build of an unchanged scenario compiles
nothing. A failed image stops only its descendants: a series that does not apply fails its
own variant while the baseline and the other series go on. Each image's full build log is
kept under the run directory.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import docker

from farm import engine, gc
from farm.errors import BuildError, SeriesError, SourceError
from farm.render import ImagePlan, render_plan
from farm.scenario import Scenario
from farm.series import Patch
from farm.sources import Cache, Fetcher


class ImageState(enum.StrEnum):
    BUILT = "built"
    REUSED = "reused"
    FAILED = "failed"
    BLOCKED = "blocked"  # a parent failed


@dataclass(frozen=True, slots=True)
class ImageStatus:
    name: str
    tag: str
    state: ImageState
    image_id: str = ""
    elapsed: float = 0.0
    error: BuildError | None = None
    log_path: Path | None = None


@dataclass(frozen=True, slots=True)
class PreparedScenario:
    """A scenario's rendered plan, plus the series that could not be fetched and why."""

    plan: ImagePlan
    source_sha256: str
    series_patches: dict[str, tuple[Patch, ...]]
    fetch_failures: dict[str, str] = field(default_factory=dict)


def prepare(scenario: Scenario, cache: Cache, progress: engine.Progress) -> PreparedScenario:
    """Fetch the glibc source and every series, and render the image plan.

    The glibc source failing to fetch is fatal (SourceError: nothing can be decided); one
    series failing only removes that series' variants.
    """
    fetcher = Fetcher(cache, scenario, progress=progress)
    glibc = fetcher.glibc_tree()
    series_patches: dict[str, tuple[Patch, ...]] = {}
    failures: dict[str, str] = {}
    for series in scenario.series:
        try:
            series_patches[series.name] = tuple(fetcher.patches(series.source, what=series.name))
        except (SourceError, SeriesError) as error:
            failures[series.name] = f"{series.where}: series {series.name!r}: {error}"
    plan = render_plan(scenario, glibc, series_patches)
    return PreparedScenario(plan, glibc.sha256, series_patches, failures)


def build_images(
    client: docker.DockerClient,
    plan: ImagePlan,
    *,
    names: Iterable[str] | None,
    log_dir: Path,
    progress: engine.Progress,
) -> dict[str, ImageStatus]:
    """Build ``names`` (default: all) and their ancestors, parents first."""
    wanted: set[str] = set()
    for name in names if names is not None else [image.name for image in plan.images]:
        wanted.update(image.name for image in plan.ancestry(name))
    statuses: dict[str, ImageStatus] = {}
    for image in plan.images:
        if image.name not in wanted:
            continue
        parent = statuses.get(image.parent) if image.parent else None
        if parent is not None and parent.state in (ImageState.FAILED, ImageState.BLOCKED):
            statuses[image.name] = ImageStatus(
                image.name,
                image.tag,
                ImageState.BLOCKED,
                error=parent.error,
                log_path=parent.log_path,
            )
            continue
        try:
            outcome = engine.build_image(
                client, image, log_path=log_dir / f"{image.name}.log", progress=progress
            )
        except BuildError as error:
            progress(str(error))
            statuses[image.name] = ImageStatus(
                image.name, image.tag, ImageState.FAILED, error=error,
                log_path=Path(error.log_path) if error.log_path else None,
            )  # fmt: skip
            continue
        statuses[image.name] = ImageStatus(
            image.name,
            image.tag,
            ImageState.REUSED if outcome.reused else ImageState.BUILT,
            image_id=outcome.image_id,
            elapsed=outcome.elapsed,
            log_path=outcome.log_path,
        )
        # After every image, so a `farm gc` during a long build never takes what it made.
        gc.record_scenario_images(client, plan)
    return statuses
