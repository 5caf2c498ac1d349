"""Which glibc each series is tested on: its own base, or the shared baseline of the day.

A template on a branch (``glibc.source.git.ref: master``) would be resolved anew for every
series, and with master moving several times a day each series would rebuild glibc's
baseline. The watcher instead keeps one **shared baseline** per template branch (its glibc
source's key, ``git:URL@REF``, so templates on one branch share it): the commit the branch
named when it was last resolved, kept in the state (`WatchState.move_baseline`) and used
for every series without its own base until it is ``every`` seconds old; the next series
after that resolves the branch again. A day's series so share one baseline build per arch
and toolchain (the images' tags are hashes of their inputs, the commit among them).

The base of each series is `farm.inputs.try_series.choose_base`'s, as ``farm try`` chooses it,
with the shared baseline standing for the template's ref:

- a ``base-commit:`` trailer (``git format-patch --base``, in the cover letter or a patch)
  that the template's repository has: that commit (series on one base-commit share its
  images in the same way);
- one the repository lacks, even after fetching it anew: the shared baseline, and the reason
  says which commit was not found;
- no trailer: the shared baseline.

A template whose glibc is a full commit id has nothing to move: its commit is the base. One
whose glibc is a Debian package, tarball or path is used as it is (the reason says a
series' base-commit is not used there). The ref is resolved the way every command resolves
it: `farm.inputs.sources.Fetcher.git_repository` fetches the cache's mirror, and
`farm.inputs.try_sources.git_resolver` looks the revision up there.

**Garbage collection** (`SharedBaselines.collect`, after each round): a baseline that moved
on, once no queued or running series is on its commit (nor the current baseline of any
branch), has its images removed, by `farm.containers.gc`'s choice (`gc.select_images`: never a tag
of a scenario's newest image record, the base image, or an image a container uses) and
execution (`gc.execute`: by tag, never forced). Its images are the ones labelled with the
commit's tarball (``org.glibc-farm.source-sha256``, as the template's lock file pins it for
``git:URL@COMMIT``: the source image and the baseline's builds, and every image built FROM
them, which inherits the label: a series' build images, its bisection prefixes', their test
images) and the test images the cells of the series run on it recorded. While a newest
image record still lists one of its tags (the last build was on that commit), the baseline
is tried again after the next round; otherwise it is marked collected and not looked at
again.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from farm.containers import gc
from farm.containers.engine import Engine
from farm.errors import SourceError
from farm.ids import TAG_REPOSITORY
from farm.inputs import series, sources, try_series, try_sources
from farm.inputs.try_series import BaseChoice
from farm.plan.scenario import GitSource, Scenario
from farm.rundir import RunDir
from farm.watch.state import Baseline, SeriesState, WatchState

#: The label of the images made from one glibc tarball (farm/images/source.Dockerfile.j2,
#: build-baseline.Dockerfile.j2).
SOURCE_LABEL = "org.glibc-farm.source-sha256"
#: How long a shared baseline is used before its branch is resolved again (``--baseline-every``).
DEFAULT_EVERY = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class SharedBaselines:
    """Chooses the bases of a series in every template (see the module docstring)."""

    templates: tuple[Scenario, ...]
    cache: sources.Cache
    every: float = DEFAULT_EVERY
    log: Callable[[str], None] = lambda _line: None

    def choose(
        self, state: WatchState, mails: Sequence[Path], *, what: str, now: float
    ) -> dict[str, BaseChoice]:
        """Per template name, the base of the series whose mails (cover letter, patches)
        are in ``mails``; SeriesError if they hold no series, SourceError if the template's
        repository cannot be fetched when it must be."""
        data = b"\n".join(path.read_bytes() for path in mails if path.is_file())
        series_base, origin = try_sources.trailer_base(series.chosen_revision(data, what=what))
        bases: dict[str, BaseChoice] = {}
        for template in self.templates:
            source = template.source
            resolve = self._resolver(template) if isinstance(source, GitSource) else None
            # Looked at (and moved when due) for a series with a base of its own too: it is
            # the fallback when the repository lacks that base.
            shared = (
                self._shared(state, template, now=now)
                if isinstance(source, GitSource) and not sources.is_commit_id(source.ref)
                else None
            )
            bases[template.name] = try_series.choose_base(
                source, series_base=series_base, series_base_origin=origin, requested=None,
                resolve=resolve, shared=shared,
            )  # fmt: skip
        return bases

    def collect(self, state: WatchState, *, engine: Callable[[], Engine] = Engine.connect) -> None:
        """Remove the images of the baselines that moved on and that nothing waiting needs
        (see the module docstring); the engine is asked only when there is one."""
        waiting = state.records([SeriesState.QUEUED, SeriesState.RUNNING])
        needed = {b.commit for r in waiting for b in r.bases.values() if b.commit}
        everything = state.baselines()
        needed |= {b.commit for b in everything if not b.retired}
        due = [b for b in everything if b.retired and not b.collected and b.commit not in needed]
        if not due:
            return
        connected = engine()
        records = list(gc.newest_records(gc.read_records(gc.records_dir(self.cache.root))).values())
        recorded = set().union(*(r.tags for r in records))
        for old in due:
            inventory = gc.collect(connected)
            tags = self._cell_tags(state, old.commit)
            images = moved_images(inventory.images, sources=self._tarballs(old), tags=tags)
            mine = {t for image in images for t in image.tags if t.startswith(f"{TAG_REPOSITORY}/")}
            used = {c.image_id: c.name for c in inventory.containers}
            removals, kept, _count, _notes = gc.select_images(images, records, used_image_ids=used)
            plan = gc.GcPlan(tuple(r for r in removals if r.reference in mine), tuple(kept), 0)
            outcome = gc.execute(connected, plan, progress=self.log)
            protected = mine & recorded
            self.log(
                f"baseline {old.commit[:12]} of {old.source} moved on: removed "
                f"{len(outcome.removed)} image tag(s), {gc.format_bytes(outcome.reclaimed_bytes)}"
                + (f"; {len(outcome.refused)} kept by the engine" if outcome.refused else "")
                + (f"; {len(protected)} kept while a newest image record lists them, tried "
                   "again after the next round" if protected else "")
            )  # fmt: skip
            if not protected:
                state.baseline_collected(old.source, old.commit)

    def _tarballs(self, old: Baseline) -> set[str]:
        """The sha256 of the commit's tarball as each template on its branch locked it."""
        found = set()
        for template in self.templates:
            if isinstance(template.source, GitSource) and template.source.key == old.source:
                pinned = GitSource(template.source.url, old.commit).key
                digest = sources.LockFile(template.path).get(pinned)
                if digest:
                    found.add(digest)
        return found

    def _cell_tags(self, state: WatchState, commit: str) -> set[str]:
        """The image tags the cells of finished series on ``commit`` recorded."""
        tags: set[str] = set()
        finished = state.records([SeriesState.DONE, SeriesState.GAVE_UP])
        for record in finished:
            if not record.run_dir or commit not in {b.commit for b in record.bases.values()}:
                continue
            top = Path(record.run_dir)
            for directory in (top, *(top / t.name for t in self.templates)):
                if (directory / "cells").is_dir():
                    cells, _unreadable = RunDir(directory).read_cells()
                    tags |= {c.image_tag for c in cells if c.source_commit == commit}
        return tags - {""}

    def _resolver(self, template: Scenario) -> try_series.Resolver:
        """Looks a revision up in the mirror as it is, and fetches the branch once before
        saying it is not there (a series based on a commit pushed since the last fetch)."""
        source = template.source
        assert isinstance(source, GitSource)
        fetcher = sources.Fetcher(self.cache, template, progress=self.log)

        def resolve(revision: str) -> str | None:
            # A commit id as the ref: the mirror as it is, cloned on first use, not fetched.
            pinned = GitSource(source.url, revision) if sources.is_commit_id(revision) else source
            found = try_sources.git_resolver(fetcher.git_repository(pinned))(revision)
            if found is None and pinned is not source:
                found = try_sources.git_resolver(fetcher.git_repository(source))(revision)
            return found

        return resolve

    def _shared(self, state: WatchState, template: Scenario, *, now: float) -> BaseChoice:
        """The branch's shared baseline, resolved again (and recorded) when it is due."""
        source = template.source
        assert isinstance(source, GitSource)
        current = state.baseline(source.key)
        if current is None or now - current.resolved >= self.every:
            fetcher = sources.Fetcher(self.cache, template, progress=self.log)
            commit = try_sources.git_resolver(fetcher.git_repository(source))(source.ref)
            if commit is None:
                raise SourceError(
                    f"{template.path}: the template's ref {source.ref!r} is not in {source.url}"
                )
            replaced = state.move_baseline(source.key, commit, now=now)
            if replaced is not None:
                self.log(
                    f"shared baseline of {source.key} moved from {replaced.commit[:12]} to "
                    f"{commit[:12]}"
                )
            elif current is None:
                self.log(f"shared baseline of {source.key}: {commit[:12]}")
            current = state.baseline(source.key)
            assert current is not None
        return BaseChoice(current.commit, describe(current, source.ref))


def moved_images(
    images: Sequence[gc.ImageInfo], *, sources: set[str], tags: set[str]
) -> list[gc.ImageInfo]:
    """The farm's images of a moved baseline: made from one of its tarballs (``sources``),
    or holding one of the tags its series' cells recorded."""
    return [
        image
        for image in images
        if image.managed
        and (image.labels.get(SOURCE_LABEL) in sources or not tags.isdisjoint(image.tags))
    ]


def describe(baseline: Baseline, ref: str) -> str:
    """``the shared baseline: master at 2026-12-03 08:00 UTC, 0123456789ab``."""
    when = datetime.datetime.fromtimestamp(baseline.resolved, datetime.UTC)
    return (
        f"the shared baseline: {ref} at {when.strftime('%Y-%m-%d %H:%M')} UTC, "
        f"{baseline.commit[:12]}"
    )
