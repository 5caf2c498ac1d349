"""`farm gc`'s choices over plain data: which containers and image tags go, which stay and why,
and the scenario records that decide it. No Docker here."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from farm.cli import main
from farm.containers import engine, gc
from farm.containers.gc import ContainerInfo, ImageInfo, Inventory, Kind, Liveness, ScenarioRecord
from farm.errors import FarmError
from farm.plan.render import BASE_IMAGE, ImagePlan, ImageSpec
from farm.plan.scenario import load_scenario
from farm.run import build

REPO = Path(__file__).resolve().parents[2]
MANAGED = {engine.MANAGED_LABEL: "true"}
T0 = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)


def image(
    id_: str, *tags: str, created: int = 0, managed: bool = True, size: int = 0, **labels: str
) -> ImageInfo:
    return ImageInfo(
        f"sha256:{id_}", tags, created, {**(MANAGED if managed else {}), **labels}, size
    )


def record(scenario: str, *tags: str, hours: int = 0) -> ScenarioRecord:
    return ScenarioRecord(scenario, frozenset(tags), T0 + datetime.timedelta(hours=hours))


def container(
    name: str,
    liveness: Liveness,
    *,
    owner: str | None = "host:1",
    image_id: str = "sha256:x",
    managed: bool = True,
    **labels: str,
) -> ContainerInfo:
    all_labels = {**(MANAGED if managed else {}), **labels}
    if owner is not None:
        all_labels[engine.OWNER_LABEL] = owner
    return ContainerInfo(f"id-{name}", name, image_id, "running", all_labels, liveness)


def removed_references(plan: gc.GcPlan) -> list[str]:
    return [r.reference for r in plan.removals]


# --- images --------------------------------------------------------------------------------


def test_tags_of_newest_records_and_the_base_image_stay_everything_else_of_the_farm_goes() -> None:
    images = [
        image("base", BASE_IMAGE, created=1),
        image("tc-old", "glibc-farm/toolchain:old", created=2),
        image("tc-new", "glibc-farm/toolchain:new", created=3),
        image("other", "glibc-farm/test:x86_64-baseline-other", created=4),
    ]
    records = [
        record("a", "glibc-farm/toolchain:old", hours=0),  # superseded by a's newer record
        record("a", "glibc-farm/toolchain:new", hours=1),
        record("b", "glibc-farm/test:x86_64-baseline-other"),
    ]
    removals, _, recorded, notes = gc.select_images(images, records)
    assert [(r.kind, r.reference) for r in removals] == [(Kind.IMAGE, "glibc-farm/toolchain:old")]
    assert removals[0].reason == "in no scenario's newest record"
    assert recorded == 3  # base, toolchain:new, test:...-other
    assert notes == []


def test_the_newest_record_wins_even_when_read_in_another_order() -> None:
    newest = gc.newest_records([record("a", "new", hours=5), record("a", "old", hours=1)])
    assert newest["a"].tags == {"new"}


def test_images_without_the_managed_label_are_never_touched() -> None:
    images = [
        image("foreign", "glibc-farm/toolchain:lookalike", managed=False),
        image("foreign-dangling", managed=False),
    ]
    removals, kept, _, _ = gc.select_images(images, [record("a", "glibc-farm/x:y")])
    assert removals == [] and kept == []


def test_dangling_farm_images_go_by_id_unless_a_container_uses_them() -> None:
    images = [image("d1", created=5), image("d2", created=4)]
    used = {"sha256:d2": "farm-case-1"}
    removals, kept, _, _ = gc.select_images(images, [record("a")], used_image_ids=used)
    assert [r.reference for r in removals] == ["sha256:d1"]
    assert [(k.what, k.reason) for k in kept] == [("d2", "dangling, but farm-case-1 uses it")]


def test_only_glibc_farm_tags_go_a_users_own_tag_of_a_farm_image_stays() -> None:
    images = [image("mine", "glibc-farm/test:stale", "mine/glibc:dev")]
    removals, kept, _, _ = gc.select_images(images, [record("a")])
    assert [r.reference for r in removals] == ["glibc-farm/test:stale"]
    assert [k.what for k in kept] == ["mine/glibc:dev"]


def test_an_image_a_container_uses_keeps_its_last_tag_but_may_lose_stale_extra_tags() -> None:
    images = [
        image("used", "glibc-farm/test:stale", created=2),
        image("both", "glibc-farm/test:kept", "glibc-farm/test:old-alias", created=1),
    ]
    used = {"sha256:used": "farm-probe-1", "sha256:both": "farm-case-2"}
    removals, kept, _, _ = gc.select_images(
        images, [record("a", "glibc-farm/test:kept")], used_image_ids=used
    )
    assert [r.reference for r in removals] == ["glibc-farm/test:old-alias"]  # only untagged
    assert [(k.what, k.reason) for k in kept] == [
        ("glibc-farm/test:stale", "in no record, but farm-probe-1 uses it")
    ]


def test_children_go_before_their_parents_newest_image_first() -> None:
    images = [
        image("parent", "glibc-farm/build:p", created=10),
        image("child", "glibc-farm/test:c", created=20),
        image("grandchild", "glibc-farm/test:g", created=30),
    ]
    removals, _, _, _ = gc.select_images(images, [record("a")])
    assert [r.reference for r in removals] == [
        "glibc-farm/test:g",
        "glibc-farm/test:c",
        "glibc-farm/build:p",
    ]


def test_without_any_record_no_tagged_image_goes_and_the_user_is_told_why() -> None:
    images = [image("t", "glibc-farm/test:x"), image("d")]
    removals, _, _, notes = gc.select_images(images, [])
    assert [r.reference for r in removals] == ["sha256:d"]  # dangling still goes
    assert len(notes) == 1 and "farm build" in notes[0]


def test_required_labels_restrict_gc_to_matching_images() -> None:
    images = [
        image("mine", "glibc-farm/test:mine", **{"run": "42"}),
        image("other-run", "glibc-farm/test:other", **{"run": "43"}),
        image("unlabelled", "glibc-farm/test:plain"),
    ]
    removals, _, _, _ = gc.select_images(images, [record("a")], required_labels=[("run", "42")])
    assert [r.reference for r in removals] == ["glibc-farm/test:mine"]
    removals, _, _, _ = gc.select_images(images, [record("a")], required_labels=[("run", None)])
    assert sorted(r.reference for r in removals) == [
        "glibc-farm/test:mine",
        "glibc-farm/test:other",
    ]


# --- containers ----------------------------------------------------------------------------


def test_containers_of_dead_owners_go_live_and_unknown_owners_stay() -> None:
    containers = [
        container("dead", Liveness.DEAD, owner="host:11"),
        container("alive", Liveness.ALIVE, owner="host:12"),
        container("elsewhere", Liveness.UNKNOWN, owner="otherhost:13"),
        container("old", Liveness.UNKNOWN, owner=None),
        container("foreign", Liveness.DEAD, managed=False),
    ]
    removals, kept = gc.select_containers(containers)
    assert [(r.kind, r.reference) for r in removals] == [(Kind.CONTAINER, "id-dead")]
    assert "host:11 is gone" in removals[0].reason
    reasons = {k.what.split()[0]: k.reason for k in kept}
    assert set(reasons) == {"alive", "elsewhere", "old"}  # the foreign one is not even listed
    assert "--all-containers" in reasons["elsewhere"] and "--all-containers" in reasons["old"]


def test_all_containers_removes_every_farm_container_and_still_no_foreign_one() -> None:
    containers = [
        container("alive", Liveness.ALIVE),
        container("old", Liveness.UNKNOWN, owner=None),
        container("foreign", Liveness.DEAD, managed=False),
    ]
    removals, kept = gc.select_containers(containers, all_containers=True)
    assert [r.reference for r in removals] == ["id-alive", "id-old"]
    assert kept == []


@pytest.mark.parametrize(
    ("owner", "expected"),
    [
        ("here:100", Liveness.ALIVE),
        ("here:200", Liveness.DEAD),
        ("there:100", Liveness.UNKNOWN),  # another host's pid means nothing here
        ("here:abc", Liveness.UNKNOWN),
        ("here:0", Liveness.UNKNOWN),
        ("100", Liveness.UNKNOWN),
        (None, Liveness.UNKNOWN),
    ],
)
def test_owner_liveness(owner: str | None, expected: Liveness) -> None:
    assert gc.owner_liveness(owner, host="here", pid_alive=lambda pid: pid == 100) is expected


def test_removing_a_dead_owners_container_frees_its_image_in_the_same_run() -> None:
    inventory = Inventory(
        containers=(
            container("dead", Liveness.DEAD, image_id="sha256:stale"),
            container("alive", Liveness.ALIVE, image_id="sha256:busy"),
        ),
        images=(
            image("stale", "glibc-farm/test:stale", created=1, size=300),
            image("busy", "glibc-farm/test:busy", created=2, size=500),
        ),
    )
    plan = gc.plan_gc(inventory, [record("a")])
    assert removed_references(plan) == ["id-dead", "glibc-farm/test:stale"]  # containers first
    assert [k.what for k in plan.kept] == ["alive (running)", "glibc-farm/test:busy"]
    assert plan.estimated_bytes == 300


def test_the_estimate_counts_only_images_that_lose_every_tag() -> None:
    inventory = Inventory(
        containers=(),
        images=(
            image("gone", "glibc-farm/test:a", "glibc-farm/test:b", size=100),
            image("untagged-only", "glibc-farm/test:c", "glibc-farm/test:d", size=1000),
            image("dangling", size=10),
        ),
    )
    plan = gc.plan_gc(inventory, [record("s", "glibc-farm/test:d")])
    assert plan.estimated_bytes == 110


# --- records -------------------------------------------------------------------------------


def test_records_round_trip_and_are_written_atomically(tmp_path: Path) -> None:
    directory = tmp_path / "images"
    gc.write_record(directory, "demo", ["b:2", "a:1", "a:1"], now=T0)
    path = gc.write_record(directory, "demo", ["c:3"], now=T0 + datetime.timedelta(hours=1))
    assert sorted(p.name for p in directory.iterdir()) == ["demo.json"]  # no temporary left
    assert json.loads(path.read_text())["tags"] == ["c:3"]
    (record_read,) = gc.read_records(directory)
    assert record_read.scenario == "demo"
    assert record_read.tags == {"c:3"}
    assert record_read.written_at == T0 + datetime.timedelta(hours=1)


def test_a_missing_records_directory_is_no_records(tmp_path: Path) -> None:
    assert gc.read_records(tmp_path / "nothing") == []


@pytest.mark.parametrize(
    "content", ["{", '{"scenario": "x"}', '{"scenario": "x", "written_at": "now", "tags": []}']
)
def test_an_unreadable_record_stops_gc_instead_of_protecting_nothing(
    tmp_path: Path, content: str
) -> None:
    (tmp_path / "x.json").write_text(content)
    with pytest.raises(FarmError, match=r"x\.json: not a readable image record"):
        gc.read_records(tmp_path)


class _FakeApi:
    def __init__(self, images: list[dict[str, Any]]) -> None:
        self._images = images
        self.filters: list[Any] = []

    def images(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        self.filters.append(filters)
        return self._images


class _FakeClient:
    def __init__(self, images: list[dict[str, Any]]) -> None:
        self.api = _FakeApi(images)


def _spec(name: str, tag: str) -> ImageSpec:
    return ImageSpec(name, "test", None, None, None, "FROM scratch\n", (), tag)


def test_a_build_records_the_images_of_its_plan_that_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FARM_CACHE", str(tmp_path))
    scenario = load_scenario(REPO / "scenarios" / "debian-2.36-backports.yaml")
    plan = ImagePlan(
        scenario, (_spec("toolchain", "glibc-farm/toolchain:t"), _spec("test", "glibc-farm/test:u"))
    )
    client = _FakeClient(
        [
            {"Id": "sha256:1", "RepoTags": ["glibc-farm/toolchain:t"], "Created": 1},
            {"Id": "sha256:2", "RepoTags": ["glibc-farm/toolchain:other-scenario"], "Created": 1},
        ]
    )
    path = gc.record_scenario_images(engine.Engine(client), plan)  # type: ignore[arg-type]
    assert path == tmp_path / "images" / f"{scenario.name}.json"
    data = json.loads(path.read_text())
    assert data["scenario"] == scenario.name
    assert data["tags"] == ["glibc-farm/toolchain:t"]  # the test image does not exist (yet)
    assert client.api.filters == [{"label": [f"{engine.MANAGED_LABEL}=true"]}]


def test_build_images_records_after_every_image_so_a_gc_mid_build_keeps_its_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FARM_CACHE", str(tmp_path))
    scenario = load_scenario(REPO / "scenarios" / "debian-2.36-backports.yaml")
    first, second = (
        _spec("toolchain", "glibc-farm/toolchain:t"),
        _spec("source", "glibc-farm/source:s"),
    )
    plan = ImagePlan(scenario, (first, dataclasses.replace(second, parent="toolchain")))
    client = _FakeClient([])
    seen_at_build: list[list[str]] = []

    def fake_build(_engine: object, spec: engine.BuildSpec, **_: object) -> engine.BuildOutcome:
        record_path = tmp_path / "images" / f"{scenario.name}.json"
        seen_at_build.append(
            json.loads(record_path.read_text())["tags"] if record_path.exists() else []
        )
        client.api._images.append({"Id": f"sha256:{spec.name}", "RepoTags": [spec.tag]})
        return engine.BuildOutcome(spec, f"sha256:{spec.name}", False, 1.0, None)

    monkeypatch.setattr(engine.Engine, "build", fake_build)
    build.build_images(
        engine.Engine(client),
        plan,
        names=None,
        log_dir=tmp_path,
        progress=lambda _: None,
        compiler_caches=None,
    )  # type: ignore[arg-type]
    # The source build started with the toolchain already recorded; at the end both are.
    assert seen_at_build == [[], ["glibc-farm/toolchain:t"]]
    (final,) = gc.read_records(tmp_path / "images")
    assert final.tags == {"glibc-farm/toolchain:t", "glibc-farm/source:s"}


# --- owner labels and the command line -----------------------------------------------------


def test_container_labels_name_the_farm_process_inherited_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(engine.OWNER_ENV, "buildhost:4242")
    assert engine.container_labels() == {
        engine.MANAGED_LABEL: "true",
        engine.OWNER_LABEL: "buildhost:4242",
    }
    monkeypatch.delenv(engine.OWNER_ENV)
    assert engine.container_labels()[engine.OWNER_LABEL] == f"{socket.gethostname()}:{os.getpid()}"


def test_the_farm_command_claims_ownership_over_a_stale_inherited_owner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(engine.OWNER_ENV, "somewhere:1")
    engine.claim_ownership()
    assert os.environ[engine.OWNER_ENV] == f"{socket.gethostname()}:{os.getpid()}"


def test_a_malformed_label_filter_is_a_usage_error_before_the_engine_is_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(engine.OWNER_ENV, "x:1")  # main() claims ownership; keep it contained
    assert main(["gc", "--label", "=oops"]) == 2
    assert "expected KEY or KEY=VALUE" in capsys.readouterr().err


def test_format_bytes() -> None:
    assert gc.format_bytes(0) == "0 B"
    assert gc.format_bytes(1500) == "1.5 kB"
    assert gc.format_bytes(2_345_000_000) == "2.3 GB"
    assert gc.format_bytes(5_000_000_000_000) == "5000.0 GB"
