"""The real executor's half that needs no Docker: the series it hands to ``farm run``.

The watcher keeps the mbox patchwork served; the executor adds it to the template scenario
as its ``extra`` series. Here the template's copy is fetched through the farm's own
`farm.inputs.sources.Fetcher`, as a run fetches it, and must give the patches patchwork listed;
the pending checks must be in the contexts a verdict's checks use."""

from __future__ import annotations

import shutil
from pathlib import Path

from farm.inputs.patchwork_api import ApiRoot
from farm.inputs.sources import Cache, Fetcher
from farm.plan.scenario import EXTRA_SERIES, PatchFormat, UrlPatches, load_scenario
from farm.report.patchwork import check_context
from farm.watch.executor import SeriesJob, pending_checks, series_scenario
from farm.watch.poll import fetch_mbox, keep_mbox
from farm.watch.state import WatchedSeries
from tests.unit.patchwork_fake import serve

REPO = Path(__file__).resolve().parents[2]


def test_the_kept_mbox_becomes_the_templates_extra_series(tmp_path: Path) -> None:
    template = tmp_path / "glibc-master.yaml"
    shutil.copy(REPO / "scenarios" / "glibc-master.yaml", template)  # its lock file goes here
    scenario = load_scenario(template)
    with serve() as fake:
        fake.post_series(41, "elf: two parts", [410, 411], date="2026-12-03T06:10:00", version=3)
        url = f"{fake.web}/series/41/mbox/"
        mbox = keep_mbox(
            tmp_path / "mboxes" / "41.mbox",
            fetch_mbox(url, root=ApiRoot.parse(fake.url), timeout=5, what="series 41"),
        )
    series = WatchedSeries(41, 3, "elf: two parts", "A <a@example.org>", "2026-12-03T06:10:00",
                           url, patch_ids=(410, 411))  # fmt: skip
    tested = series_scenario(scenario, SeriesJob(series, mbox, attempt=1))
    (extra,) = [s for s in tested.series if s.name == EXTRA_SERIES]
    assert isinstance(extra.source, UrlPatches) and extra.source.format is PatchFormat.MAIL
    assert "series 41 v3" in extra.where
    patches = Fetcher(Cache(tmp_path / "cache"), tested).patches(extra.source, what="extra")
    assert [p.subject for p in patches] == ["elf: two parts part 1", "elf: two parts part 2"]
    assert template.with_suffix(".lock").is_file()  # hash-locked beside the template copy
    contexts = [c.context for c in pending_checks([scenario])]
    assert contexts == [check_context("glibc-master", a.value) for a in scenario.arches]
    assert {c.series for c in pending_checks([scenario])} == {EXTRA_SERIES}


def test_an_mbox_from_another_host_is_refused(tmp_path: Path) -> None:
    import pytest

    from farm.watch.poll import MboxUnavailable

    with pytest.raises(MboxUnavailable, match="not on the patchwork API's host"):
        fetch_mbox(
            "http://elsewhere.example.org/series/1/mbox/",
            root=ApiRoot.parse("http://127.0.0.1:9/api/1.3"), timeout=1, what="series 1",
        )  # fmt: skip
