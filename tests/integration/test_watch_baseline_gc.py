"""A moved shared baseline's images are removed once nothing waiting needs them, on the real
engine and on throwaway objects only.

The images are tiny (one metadata layer on the base image, as `tests.integration.test_gc`
makes them) and carry the labels the farm's own would: a source image of each baseline's
tarball (``org.glibc-farm.source-sha256``, the digest the template's lock file pins for
``git:URL@COMMIT``) and a test image a series' cell recorded. The digests are made up for
this test, so no image of another farm on the same engine is ever a candidate; the records
that protect images live in a temporary ``FARM_CACHE``.
"""

from __future__ import annotations

import datetime
import io
import json
import uuid
from pathlib import Path

import docker
import pytest

from farm.containers import engine, gc
from farm.inputs.sources import Cache
from farm.inputs.try_series import BaseChoice
from farm.judging import gate
from farm.plan.render import BASE_IMAGE
from farm.plan.scenario import load_scenario
from farm.rundir import RunDir
from farm.watch.baseline import SOURCE_LABEL, SharedBaselines
from farm.watch.state import Cursor, SeriesState, WatchedSeries, WatchState
from tests.integration import test_gc
from tests.integration.test_gc import RUN_LABEL, exists
from tests.unit.test_git_base import SCENARIO, _commit, _git

pytestmark = pytest.mark.integration

REPOSITORY = "glibc-farm/watch-gc-test"
run_id = test_gc.run_id  # the fixture: a label value, and what carries it removed after


def image(
    client: docker.DockerClient, tag: str, run: str, parent: str = BASE_IMAGE, **labels: str
) -> str:
    """A farm-labelled image of one metadata layer on ``parent`` (the base image, as
    test_gc's are), with the farm's labels given; it inherits its parent's, as a series'
    build image inherits the baseline build's."""
    extra = " ".join(f'{key}="{value}"' for key, value in labels.items())
    dockerfile = (
        f"FROM {parent}\n"
        f'LABEL {engine.MANAGED_LABEL}="true" {RUN_LABEL}="{run}" tag="{tag}" {extra}\n'
    )
    built, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    return str(built.id)


def test_a_moved_baselines_images_go_once_no_waiting_series_needs_them(
    client: docker.DockerClient,
    run_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FARM_CACHE", str(tmp_path / "cache"))
    upstream = tmp_path / "glibc.git"
    upstream.mkdir()
    _git(upstream, "init", "-q", "-b", "master")
    old, new = _commit(upstream, "2.44.9000"), _commit(upstream, "2.44.9001")
    path = tmp_path / "master.yaml"
    path.write_text(SCENARIO.format(url=upstream, ref="master"))
    template = load_scenario(path)
    old_sha, new_sha = (uuid.uuid4().hex * 2 for _ in range(2))
    path.with_suffix(".lock").write_text(
        json.dumps({"sha256": {f"git:{upstream}@{old}": old_sha, f"git:{upstream}@{new}": new_sha}})
    )
    old_source = f"{REPOSITORY}:source-old-{run_id}"
    old_test = f"{REPOSITORY}:test-old-{run_id}"
    new_source = f"{REPOSITORY}:source-new-{run_id}"
    image(client, old_source, run_id, **{SOURCE_LABEL: old_sha})
    image(client, old_test, run_id)  # no source label: known from its cell
    # A series' build image on the old baseline: FROM its build, so it carries the
    # baseline's source label without naming it itself (build-series.Dockerfile.j2).
    old_series = f"{REPOSITORY}:build-series-old-{run_id}"
    image(client, old_series, run_id, parent=old_source, **{"org.glibc-farm.variant": "extra"})
    assert client.images.get(old_series).labels[SOURCE_LABEL] == old_sha
    image(client, new_source, run_id, **{SOURCE_LABEL: new_sha})
    # The newest build recorded the new baseline's images (a build does after each image).
    now = datetime.datetime.now(datetime.UTC)
    gc.write_record(gc.records_dir(), template.name, [new_source], now=now)

    log: list[str] = []
    bases = SharedBaselines((template,), Cache(tmp_path / "cache"), log=log.append)
    source = template.source.key  # type: ignore[union-attr]
    on_old = {template.name: BaseChoice(old, "the shared baseline")}
    with WatchState.open(tmp_path / "state.sqlite", project="glibc", server="x") as state:
        state.move_baseline(source, old, now=1.0)
        state.add_series([_series(1), _series(2)], Cursor("2026-12-03T06:10:00", 2), now=1.0)
        run = tmp_path / "runs" / "1"
        RunDir(run).write_cell(
            gate.CellStatus(
                scenario=template.name, arch="x86_64", variant="baseline",
                state=gate.CellState.BUILT, image_tag=old_test, source_commit=old,
            )
        )  # fmt: skip
        state.update(1, now=2.0, state=SeriesState.DONE, bases=on_old, run_dir=str(run))
        state.update(2, now=2.0, bases=on_old)  # queued, on the old baseline still
        state.move_baseline(source, new, now=3.0)

        bases.collect(state)  # series 2 still needs the old commit: nothing goes
        everything = (old_source, old_test, old_series, new_source)
        assert all(exists(client.images.get, tag) for tag in everything)
        assert not any(b.collected for b in state.baselines())

        state.update(2, now=4.0, state=SeriesState.DONE)
        # A build on the old commit was the newest (another farm's run on it, say): what
        # its record lists stays, and the baseline is tried again.
        later = now + datetime.timedelta(seconds=1)
        gc.write_record(gc.records_dir(), template.name, [old_source], now=later)
        bases.collect(state)
        assert exists(client.images.get, old_source)
        assert not exists(client.images.get, old_test) and not exists(client.images.get, old_series)
        assert not any(b.collected for b in state.baselines())
        assert "1 kept while a newest image record lists them" in log[-1]

        gc.write_record(gc.records_dir(), template.name, [new_source], now=later + later.resolution)
        bases.collect(state)
        assert not any(exists(client.images.get, t) for t in (old_source, old_test, old_series))
        assert exists(client.images.get, new_source)  # the current baseline's
        assert [b.collected for b in state.baselines()] == [False, True]  # newest first
        assert f"baseline {old[:12]} of {source} moved on: removed 1 image tag(s)" in log[-1]

        log.clear()
        bases.collect(state)  # collected once: not looked at again
        assert log == []


def _series(number: int) -> WatchedSeries:
    return WatchedSeries(
        number, 1, f"s{number}", "A <a@example.org>", "2026-12-03T06:10:00", f"http://x/{number}/"
    )
