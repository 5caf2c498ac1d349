"""Which glibc each series is tested on: its own base, or the shared baseline of the day.

A template on a branch (``glibc.source.git.ref: master``) would be resolved anew for every
series, and with master moving several times a day each series would rebuild glibc's
baseline. The watcher instead keeps one **shared baseline** per template branch (its glibc
source's key, ``git:URL@REF``, so templates on one branch share it): the commit the branch
named when it was last resolved, kept in the state (`WatchState.move_baseline`) and used
for every series without its own base until it is ``every`` seconds old; the next series
after that resolves the branch again. A day's series so share one baseline build per arch
and toolchain (the images' tags are hashes of their inputs, the commit among them).

The base of each series is `farm.try_series.choose_base`'s, as ``farm try`` chooses it,
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
it: `farm.sources.Fetcher.git_repository` fetches the cache's mirror, and
`farm.try_sources.git_resolver` looks the revision up there.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from farm import series, sources, try_series, try_sources
from farm.errors import SourceError
from farm.scenario import GitSource, Scenario
from farm.try_series import BaseChoice
from farm.watch.state import Baseline, WatchState

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


def describe(baseline: Baseline, ref: str) -> str:
    """``the shared baseline: master at 2026-12-03 08:00 UTC, 0123456789ab``."""
    when = datetime.datetime.fromtimestamp(baseline.resolved, datetime.UTC)
    return (
        f"the shared baseline: {ref} at {when.strftime('%Y-%m-%d %H:%M')} UTC, "
        f"{baseline.commit[:12]}"
    )
