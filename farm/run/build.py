"""Building a scenario's images: fetch its inputs, render the plan, build in order.

An image whose tag exists is reused, so a second build of an unchanged scenario compiles
nothing. A failed image stops only its descendants: a series that does not apply fails its
own variant while the baseline and the other series go on. Each image's full build log is
kept under the run directory. A CI shard job builds nothing at all (`present_images`): it
tests the images its cell's build job made and saved (`save_images`), docker load-ed.

One image tag is built by one build at a time (`one_build_per_tag`): two farms sharing a
cache (or two series of one ``farm watch --jobs N``) that need the same image (the baseline
both series are on) would otherwise both see the tag missing and both compile glibc. The
second waits on the tag's file lock, then finds the image and reuses it. The lock lives in
the farm cache, so farms with caches of their own (each CI run's) do not see it.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from farm.containers import gc
from farm.containers.engine import BuildSpec, Engine, Progress
from farm.errors import BuildError, FarmError, SeriesError, SourceError, UsageError
from farm.inputs.series import Patch
from farm.inputs.sources import Cache, Fetcher, default_cache_dir
from farm.plan.render import ImagePlan, ImageSpec, render_plan
from farm.plan.scenario import ImageDecisions, Scenario
from farm.run.compiler_cache import CompilerCaches
from farm.rundir import RunDir

#: How long a build waits for another build of the same tag (a contended glibc build takes
#: half an hour on 2 cores) before it fails rather than waiting forever.
BUILD_LOCK_WAIT = 4 * 3600.0
#: How often a waiting build says it is waiting.
BUILD_LOCK_REPORT = 60.0


class ImageState(enum.StrEnum):
    BUILT = "built"
    REUSED = "reused"
    FAILED = "failed"
    BLOCKED = "blocked"  # a parent failed

    @property
    def ready(self) -> bool:
        """Whether the image is there to run or build on: the one rule every stage asks."""
        return self in (ImageState.BUILT, ImageState.REUSED)


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
    """A scenario's rendered plan and the decisions it was rendered from, plus the series
    that could not be fetched and why."""

    plan: ImagePlan
    decisions: ImageDecisions
    source_sha256: str
    series_patches: dict[str, tuple[Patch, ...]]
    fetch_failures: dict[str, str] = field(default_factory=dict)
    source_commit: str = ""  # the commit a git source's ref named at fetch time


def prepare(scenario: Scenario, cache: Cache, progress: Progress) -> PreparedScenario:
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
    decisions = scenario.image_decisions()
    plan = render_plan(decisions, glibc, series_patches)
    return PreparedScenario(plan, decisions, glibc.sha256, series_patches, failures, glibc.commit)


def build_spec(image: ImageSpec, compiler_caches: CompilerCaches | None = None) -> BuildSpec:
    """What the engine needs of a rendered image: the engine knows no plan. Without
    ``compiler_caches`` (``--no-ccache``) its compile steps run without a cache."""
    return BuildSpec(
        image.name, image.tag, image.kind, image.dockerfile, image.context, image.needs_network,
        compile_steps=image.compile_steps,
        compiler_cache=compiler_caches.for_image(image) if compiler_caches else None,
    )  # fmt: skip


def build_images(
    engine: Engine,
    plan: ImagePlan,
    *,
    names: Iterable[str] | None,
    log_dir: Path,
    progress: Progress,
    compiler_caches: CompilerCaches | None,
) -> dict[str, ImageStatus]:
    """Build ``names`` (default: all) and their ancestors, parents first, compiling with
    ``compiler_caches`` (None: without a compiler cache)."""
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
            # Under the tag's lock the engine looks the tag up again: a build that waited
            # for another farm's finds the image made and reuses it.
            with one_build_per_tag(image.tag, progress=progress):
                outcome = engine.build(
                    build_spec(image, compiler_caches),
                    log_path=RunDir.build_log(log_dir, image.name),
                    progress=progress,
                )  # fmt: skip
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
        gc.record_scenario_images(engine, plan)
    return statuses


def build_lock_path(tag: str, lock_dir: Path | None = None) -> Path:
    """The file lock of one image tag: under the farm cache, so every farm of this host
    (each ``farm run``, each thread of ``farm watch``) takes the same one."""
    directory = lock_dir if lock_dir is not None else default_cache_dir() / "locks" / "build"
    return directory / f"{hashlib.sha256(tag.encode()).hexdigest()[:32]}.lock"


@contextlib.contextmanager
def one_build_per_tag(
    tag: str, *, progress: Progress, lock_dir: Path | None = None,
    wait: float = BUILD_LOCK_WAIT, report_every: float = BUILD_LOCK_REPORT,
) -> Iterator[None]:  # fmt: skip
    """Hold ``tag``'s build lock (see the module docstring); while another build holds it,
    say so every ``report_every`` seconds, and give up after ``wait`` with a FarmError (not a
    BuildError: a build that never started is no verdict on the image's inputs).

    A new `FileLock` per call: an ``flock`` of its own open file, so two threads of one
    process exclude each other as two processes do; the kernel drops it with its process,
    so a killed farm leaves no lock held.
    """
    path = build_lock_path(tag, lock_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), thread_local=False, preserve_lock_file=True)
    started = time.monotonic()
    while True:
        try:
            lock.acquire(timeout=min(report_every, max(wait - (time.monotonic() - started), 0)))
            break
        except Timeout:
            waited = time.monotonic() - started
            if waited >= wait:
                raise FarmError(
                    f"{tag}: another farm on this host has been building this image for "
                    f"{waited / 60:.0f} min (it holds {path}); stop it if it hangs, or run "
                    "again once it is done (this run then reuses its image)"
                ) from None
            progress(f"{tag}: waiting for another build of it ({waited / 60:.0f} min so far)")
    try:
        yield
    finally:
        lock.release()


def present_images(
    engine: Engine, plan: ImagePlan, *, names: Iterable[str]
) -> dict[str, ImageStatus]:
    """``names`` as they are on this machine, building nothing (``--no-build``).

    A shard job tests the images its cell's build job made; a tag that is not here means the
    images were not loaded, or this job's inputs differ from the build job's (a series URL
    whose content changed in between), and quietly building it would spend a glibc build
    and test something else than the other shards. So a missing image is refused, all of
    them named, before any test runs. Only the named images are needed, not their ancestors.
    """
    statuses: dict[str, ImageStatus] = {}
    missing: list[str] = []
    for name in names:
        image = plan.by_name(name)
        found = engine.image_id(image.tag)
        if found is None:
            missing.append(f"{name} ({image.tag})")
            continue
        statuses[name] = ImageStatus(name, image.tag, ImageState.REUSED, image_id=found)
    if missing:
        raise UsageError(
            f"--no-build: {len(missing)} image(s) to test are not on this machine: "
            f"{', '.join(missing)}; load them first (docker load < the file `farm build "
            "--save` wrote; in CI, the cell's images artifact), or run without --no-build to "
            "build them. A tag other than the build job's means the inputs changed since."
        )
    return statuses


def save_images(engine: Engine, statuses: Iterable[ImageStatus], path: Path) -> list[str]:
    """Write the images of ``statuses`` (built or reused) to ``path`` as one ``docker save``
    archive that ``docker load`` restores with their tags; returns the tags saved.

    Only test images are saved: each holds every layer below it, and `present_images` needs
    nothing else. With none ready (every build failed) nothing is written, and the
    failure is the build's to report.
    """
    tags = [s.tag for s in statuses if s.state.ready]
    if tags:
        engine.save(tags, path)
    return tags
