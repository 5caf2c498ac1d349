"""One baseline for many series: the watcher's shared baseline and each series' own base.

Real git repositories in ``tmp_path`` stand in for sourceware's glibc.git (the farm's own
mirror of them is made and fetched as a run makes it), the loopback patchwork serves the
series, and the fake executor of `tests.unit.test_watch_loop` captures the bases the
watcher gave it. No Docker, no glibc build.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from farm.commands.watch_cmd import status_text
from farm.containers import gc
from farm.containers.engine import MANAGED_LABEL, Engine
from farm.errors import EngineError
from farm.inputs.patchwork_api import ApiRoot, PatchworkClient, Token
from farm.inputs.sources import Cache
from farm.inputs.try_series import BaseChoice
from farm.plan.scenario import DebianSource, GitSource, Scenario, load_scenario
from farm.watch.baseline import SOURCE_LABEL, SharedBaselines, moved_images
from farm.watch.executor import SeriesJob, SeriesRun, series_scenario
from farm.watch.loop import WatchConfig, Watcher
from farm.watch.poll import first_cursor
from farm.watch.state import (
    Baseline,
    Cursor,
    SeriesState,
    StateError,
    WatchedSeries,
    WatchState,
)
from tests.unit import test_git_base
from tests.unit.patchwork_fake import FakePatchwork, serve
from tests.unit.test_git_base import SCENARIO, _commit, _git
from tests.unit.test_watch_loop import PENDING, SINCE, Clock, FakeExecutor

HOUR = 3600.0
upstream = test_git_base.upstream  # the fixture: a glibc.git with one commit on master
REPO = Path(__file__).resolve().parents[2]


class CapturingExecutor(FakeExecutor):
    """The loop's fake executor, keeping the bases each job was given."""

    def __init__(self) -> None:
        super().__init__()
        self.bases: dict[int, dict[str, BaseChoice]] = {}

    def __call__(self, job: SeriesJob, run_dir: Path) -> SeriesRun:
        self.bases[job.series.id] = job.bases
        return super().__call__(job, run_dir)

    def commit(self, series_id: int) -> str | None:
        return self.bases[series_id]["master"].commit

    def reason(self, series_id: int) -> str:
        return self.bases[series_id]["master"].reason


@pytest.fixture
def fake() -> Iterator[FakePatchwork]:
    with serve() as server:
        yield server


def _template(tmp_path: Path, upstream: Path) -> Scenario:
    path = tmp_path / "master.yaml"
    path.write_text(SCENARIO.format(url=upstream, ref="master"))
    return load_scenario(path)


@contextmanager
def watching(
    fake: FakePatchwork, tmp_path: Path, upstream: Path, executor: FakeExecutor, clock: Clock,
    log: list[str], *, every: float = 24 * HOUR,
) -> Iterator[Watcher]:  # fmt: skip
    """A watcher on the state in ``tmp_path`` whose bases a `SharedBaselines` over the
    template on ``upstream`` chooses; a new one on each call, as after a restart."""
    client = PatchworkClient(ApiRoot.parse(fake.url), Token("s3cret"), timeout=2.0)
    bases = SharedBaselines(
        (_template(tmp_path, upstream),), Cache(tmp_path / "cache"), every=every, log=log.append
    )
    with WatchState.open(tmp_path / "state.sqlite", project="glibc", server=fake.url) as state:
        if state.cursor() is None:
            state.start(first_cursor(SINCE, SINCE))
        config = WatchConfig(
            project="glibc", work_dir=tmp_path / "work", pending=PENDING, backoff=60.0
        )
        built = Watcher(
            config, client, state, executor, log=log.append, clock=clock, sleep=clock.sleep,
            bases=bases.choose,
        )  # fmt: skip
        executor.watcher = built
        yield built


def _post(fake: FakePatchwork, series_id: int, minute: int, **kw: object) -> None:
    fake.post_series(
        series_id, f"series {series_id}", [series_id * 10], date=f"2026-12-03T06:{minute:02d}:00",
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_series_within_the_interval_share_one_baseline_though_the_branch_moved(
    fake: FakePatchwork, tmp_path: Path, upstream: Path
) -> None:
    first = _git(upstream, "rev-parse", "HEAD")
    executor, clock, log = CapturingExecutor(), Clock(), []
    with watching(fake, tmp_path, upstream, executor, clock, log) as watch:
        _post(fake, 1, 10)
        watch.round()
        moved = _commit(upstream, "2.44.9001")  # master moves on
        clock.now += 23 * HOUR
        _post(fake, 2, 11)
        watch.round()
        assert executor.commit(1) == executor.commit(2) == first != moved
        assert "the shared baseline: master at 2026-12-03 08:00 UTC" in executor.reason(2)
        # The next series after the interval gets the branch's new head, and shares it.
        clock.now += 1 * HOUR
        _post(fake, 3, 12)
        _post(fake, 4, 13)
        watch.round()
        assert executor.commit(3) == executor.commit(4) == moved
        assert "master at 2026-12-04 08:00 UTC" in executor.reason(3)
        assert watch.state.get(2).bases == executor.bases[2]  # recorded, commit and why
        status = status_text(watch.state, now=clock.now)
    assert (
        f"shared baseline of git:{upstream}@master moved from {first[:12]} to {moved[:12]}" in log
    )
    assert any(
        line.startswith("series 2 v1 'series 2': ACCEPT on glibc")
        and f"(the shared baseline: master at 2026-12-03 08:00 UTC, {first[:12]})" in line
        for line in log
    )
    assert f"baseline of git:{upstream}@master: the shared baseline: master at 2026-12-04" in status
    assert "'series 2': ACCEPT, on the shared baseline: master at 2026-12-03 08:00 UTC" in status


def test_a_reachable_base_commit_is_used_and_an_unknown_one_falls_back_saying_so(
    fake: FakePatchwork, tmp_path: Path, upstream: Path
) -> None:
    old = _git(upstream, "rev-parse", "HEAD")
    head = _commit(upstream, "2.44.9001")
    executor, clock, log = CapturingExecutor(), Clock(), []
    with watching(fake, tmp_path, upstream, executor, clock, log) as watch:
        _post(fake, 1, 10, cover_body=f"Two fixes.\n\nbase-commit: {old}\n")
        watch.round()  # the mirror is cloned now; the next commit is pushed after that
        _git(upstream, "checkout", "-q", "-b", "users/a/topic")
        pushed = _commit(upstream, "topic")
        _git(upstream, "checkout", "-q", "master")
        _post(fake, 2, 11, patch_body=f"Fix.\n\n---\nbase-commit: {pushed}\n")
        unknown = "f" * 40
        _post(fake, 3, 12, cover_body=f"Local.\n\nbase-commit: {unknown}\n")
        watch.round()
        assert watch.state.get(3).state is SeriesState.DONE
    assert executor.commit(1) == old
    assert executor.reason(1) == f"the series' base-commit: trailer, {old[:12]}"
    assert executor.commit(2) == pushed  # fetched once it was not in the mirror
    assert executor.commit(3) == head  # the shared baseline
    assert executor.reason(3).startswith(
        f"the series' base-commit: trailer names {unknown[:12]}, which {upstream} does not have"
    )
    assert f"instead the shared baseline: master at 2026-12-03 08:00 UTC, {head[:12]}" in (
        executor.reason(3)
    )


def test_a_restarted_watcher_keeps_the_recorded_baseline(
    fake: FakePatchwork, tmp_path: Path, upstream: Path
) -> None:
    first = _git(upstream, "rev-parse", "HEAD")
    clock, log = Clock(), []
    before = CapturingExecutor()
    with watching(fake, tmp_path, upstream, before, clock, log) as watch:
        _post(fake, 1, 10)
        watch.round()
    _commit(upstream, "2.44.9001")
    clock.now += 2 * HOUR
    after = CapturingExecutor()
    with watching(fake, tmp_path, upstream, after, clock, log) as watch:
        _post(fake, 2, 11)
        watch.round()
    assert before.commit(1) == after.commit(2) == first
    assert 2 not in before.bases and 1 not in after.bases


def test_a_retry_is_on_the_base_its_first_attempt_was_on(
    fake: FakePatchwork, tmp_path: Path, upstream: Path
) -> None:
    first = _git(upstream, "rev-parse", "HEAD")
    executor, clock, log = CapturingExecutor(), Clock(), []
    executor.behaviour[1] = ["raise"]
    with watching(fake, tmp_path, upstream, executor, clock, log, every=HOUR) as watch:
        _post(fake, 1, 10)
        watch.round()
        assert watch.state.get(1).state is SeriesState.QUEUED  # to be retried
        _commit(upstream, "2.44.9001")
        clock.now += 2 * HOUR  # past the interval and the retry's backoff
        watch.round()
        assert watch.state.get(1).state is SeriesState.DONE
    assert [c[1] for c in executor.calls] == [1, 2]
    assert executor.commit(1) == first


def test_the_executor_runs_the_template_on_the_jobs_base(tmp_path: Path, upstream: Path) -> None:
    template = _template(tmp_path, upstream)
    mbox = tmp_path / "1.mbox"
    mbox.write_bytes(b"From x\n")
    series = WatchedSeries(1, 1, "s", "A <a@example.org>", "2026-12-03T06:10:00", "http://x/")
    commit = _git(upstream, "rev-parse", "HEAD")
    job = SeriesJob(series, mbox, 1, {"master": BaseChoice(commit, "the shared baseline")})
    assert series_scenario(template, job).source == GitSource(str(upstream), commit)
    unbased = series_scenario(template, SeriesJob(series, mbox, 1))
    assert unbased.source == GitSource(str(upstream), "master")


def test_a_debian_template_has_no_baseline_to_move(fake: FakePatchwork, tmp_path: Path) -> None:
    template = load_scenario(REPO / "scenarios" / "debian-2.43-backports.yaml")
    assert isinstance(template.source, DebianSource)
    with WatchState.open(tmp_path / "state.sqlite", project="glibc", server=fake.url) as state:
        mbox = tmp_path / "1.mbox"
        _post(fake, 1, 10, cover_body="base-commit: " + "a" * 40 + "\n")
        mbox.write_bytes(fake.mbox(1, cover=True) + b"\n" + fake.mbox(1, cover=False))
        chosen = SharedBaselines((template,), Cache(tmp_path / "cache")).choose(
            state, [mbox], what="series 1", now=0.0
        )
        assert state.baselines() == []
    (base,) = chosen.values()
    assert base.commit is None
    assert base.reason.startswith(f"the template's glibc, {template.source.key}; the series' base")
    series = WatchedSeries(1, 1, "s", "A <a@example.org>", "2026-12-03T06:10:00", "http://x/")
    job = SeriesJob(series, mbox, 1, chosen)
    assert series_scenario(template, job).source == template.source


def test_a_state_of_schema_1_is_read_and_upgraded(
    fake: FakePatchwork, tmp_path: Path, upstream: Path
) -> None:
    executor, clock, log = CapturingExecutor(), Clock(), []
    with watching(fake, tmp_path, upstream, executor, clock, log) as watch:
        _post(fake, 1, 10)
        watch.round()
    # What a farm before bases were kept wrote: no bases column, no baselines table.
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        db.execute("ALTER TABLE series DROP COLUMN bases")
        db.execute("DROP TABLE baselines")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    db.close()
    with WatchState.read_only(tmp_path / "state.sqlite") as state:
        assert state.get(1).bases == {} and state.baselines() == []
        assert "'series 1': ACCEPT " in status_text(state, now=clock.now)
    with watching(fake, tmp_path, upstream, executor, clock, log) as watch:
        assert watch.state.meta()["schema"] == "2"
        _post(fake, 2, 11)
        watch.round()
        assert watch.state.get(2).bases["master"].commit == executor.commit(2)
        assert watch.state.get(1).state is SeriesState.DONE


def test_a_moved_baselines_images_are_its_tarballs_and_its_cells_tags() -> None:
    def info(name: str, managed: bool = True, **labels: str) -> gc.ImageInfo:
        labels = {**labels, MANAGED_LABEL: "true"} if managed else labels
        return gc.ImageInfo(f"sha256:{name}", (f"glibc-farm/x:{name}",), 0, labels)

    images = [
        info("source-old", **{SOURCE_LABEL: "a" * 64}),
        info("source-new", **{SOURCE_LABEL: "b" * 64}),
        info("test-old"),
        info("test-new"),
        info("not-the-farms", managed=False, **{SOURCE_LABEL: "a" * 64}),
    ]
    found = moved_images(images, sources={"a" * 64}, tags={"glibc-farm/x:test-old"})
    assert [i.id for i in found] == ["sha256:source-old", "sha256:test-old"]


def test_the_engine_is_asked_only_for_a_moved_baseline_nothing_waiting_needs(
    tmp_path: Path, upstream: Path
) -> None:
    asked: list[str] = []

    def engine() -> Engine:
        asked.append("asked")
        raise EngineError("no engine in a unit test")

    template = _template(tmp_path, upstream)
    bases = SharedBaselines((template,), Cache(tmp_path / "cache"))
    key = GitSource(str(upstream), "master").key
    old, new = "1" * 40, "2" * 40
    with WatchState.open(tmp_path / "state.sqlite", project="glibc", server="x") as state:
        bases.collect(state, engine=engine)  # no baseline at all
        state.move_baseline(key, old, now=1.0)
        state.move_baseline(key, old, now=2.0)  # resolved again, the same commit: no move
        bases.collect(state, engine=engine)
        assert asked == [] and len(state.baselines()) == 1
        state.add_series([WatchedSeries(1, 1, "s", "A <a@b>", "2026-12-03T06:10:00", "u")],
                         Cursor("2026-12-03T06:10:00", 1), now=1.0)  # fmt: skip
        state.update(1, now=2.0, bases={"master": BaseChoice(old, "the shared baseline")})
        assert state.move_baseline(key, new, now=3.0) == Baseline(key, old, 2.0)
        bases.collect(state, engine=engine)  # series 1 is queued on the old commit
        assert asked == []
        state.update(1, now=4.0, state=SeriesState.DONE)
        with pytest.raises(EngineError):
            bases.collect(state, engine=engine)
        assert asked == ["asked"]


def test_a_failed_collection_is_logged_and_the_loop_goes_on(
    fake: FakePatchwork, tmp_path: Path, upstream: Path
) -> None:
    executor, clock, log = CapturingExecutor(), Clock(), []
    with watching(fake, tmp_path, upstream, executor, clock, log) as watch:

        def collect(state: WatchState) -> None:
            raise EngineError("Cannot connect to the Docker daemon")

        watch.collect = collect
        _post(fake, 1, 10)
        summary = watch.round()
    assert (summary.tested, summary.fault) == (1, "")
    assert log[-1] == (
        "removing a moved baseline's images failed (next round again): Cannot connect to the "
        "Docker daemon"
    )


@pytest.mark.parametrize(
    "stored",
    ['{"master": {"commit": "master", "reason": "r"}}', '{"master": "x"}', "[]", "not json"],
)
def test_a_damaged_stored_base_is_refused_naming_the_state(tmp_path: Path, stored: str) -> None:
    path = tmp_path / "state.sqlite"
    with WatchState.open(path, project="glibc", server="x") as state:
        state.add_series([WatchedSeries(1, 1, "s", "A <a@b>", "2026-12-03T06:10:00", "u")],
                         Cursor("2026-12-03T06:10:00", 1), now=1.0)  # fmt: skip
    with sqlite3.connect(path) as db:
        db.execute("UPDATE series SET bases = ?", (stored,))
    db.close()
    with (
        WatchState.read_only(path) as state,
        pytest.raises(StateError, match="series 1: a damaged"),
    ):
        state.get(1)
