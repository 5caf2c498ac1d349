"""What the farm leaves behind and may remove: containers of farm processes that are gone, and
images no scenario uses any more.

What a scenario uses is recorded while it builds: after each image of a build,
``<cache>/images/<scenario>.json`` lists the tags of the scenario's plan that exist, so a
``farm gc`` running during a 25-minute build never takes what that build has made so far.
``farm gc`` keeps the base image and every tag of each scenario's newest record, removes the
farm's other tags by tag and without force (so the engine refuses an image a container
uses, and only untags the parent of a kept image), removes dangling farm images, and removes
the containers whose owning ``farm`` process is no longer alive. Nothing without the
``org.glibc-farm.managed`` label is ever touched.

The choice is a pure function over plain data (:func:`plan_gc`); only :func:`collect`,
:func:`execute` and :func:`record_scenario_images` talk to the engine, through its
`farm.containers.engine.Engine` (which maps every engine error).
"""

from __future__ import annotations

import datetime
import enum
import json
import os
import socket
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from farm.containers.engine import MANAGED_LABEL, OWNER_LABEL, Engine, Progress, Refused
from farm.errors import FarmError, UsageError
from farm.ids import TAG_REPOSITORY
from farm.inputs.sources import default_cache_dir
from farm.plan.render import BASE_IMAGES, ImagePlan

#: Under the cache root: one record per scenario of the image tags it uses.
RECORDS_DIR = "images"

LabelFilter = tuple[str, str | None]  # (key, value); value None: any value


class Liveness(enum.StrEnum):
    """Whether the ``farm`` process that owns a container still runs."""

    ALIVE = "alive"
    DEAD = "dead"
    UNKNOWN = "unknown"  # no owner label, another host's process, or an unreadable label


class Kind(enum.StrEnum):
    CONTAINER = "container"
    IMAGE = "image"


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """A container as the engine lists it, with its owner's liveness already looked up."""

    id: str
    name: str
    image_id: str
    state: str  # running, exited, created, ...
    labels: Mapping[str, str] = field(default_factory=dict)
    liveness: Liveness = Liveness.UNKNOWN

    @property
    def managed(self) -> bool:
        return self.labels.get(MANAGED_LABEL) == "true"

    @property
    def owner(self) -> str | None:
        return self.labels.get(OWNER_LABEL)


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """A top-level image (tagged, or dangling) as the engine lists it."""

    id: str
    tags: tuple[str, ...]
    created: int
    labels: Mapping[str, str] = field(default_factory=dict)
    #: Bytes no other image shares (``docker system df``'s size minus shared size).
    unique_size: int = 0

    @property
    def managed(self) -> bool:
        return self.labels.get(MANAGED_LABEL) == "true"


@dataclass(frozen=True, slots=True)
class Inventory:
    containers: tuple[ContainerInfo, ...]
    images: tuple[ImageInfo, ...]


@dataclass(frozen=True, slots=True)
class ScenarioRecord:
    """The image tags one build of a scenario used, and when that was written."""

    scenario: str
    tags: frozenset[str]
    written_at: datetime.datetime
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class Removal:
    kind: Kind
    reference: str  # what the engine is asked to remove: container id, image tag or id
    what: str  # what the user reads: container name, image tag
    reason: str
    image_id: str = ""  # of the image a removal of kind IMAGE concerns


@dataclass(frozen=True, slots=True)
class Kept:
    kind: Kind
    what: str
    reason: str


@dataclass(frozen=True, slots=True)
class GcPlan:
    """What to remove (containers first, then images children first) and what to keep."""

    removals: tuple[Removal, ...]
    kept: tuple[Kept, ...]  # only what a user might have expected to go, with why not
    recorded_tags: int  # farm tags kept because a newest record lists them
    notes: tuple[str, ...] = ()
    #: A lower bound of the bytes the removals free (layers shared between removed images
    #: are not counted).
    estimated_bytes: int = 0


@dataclass(frozen=True, slots=True)
class GcOutcome:
    removed: tuple[Removal, ...]
    refused: tuple[Kept, ...]  # the engine kept them (an image in use, a race)
    failed: tuple[tuple[Removal, str], ...]
    reclaimed_bytes: int


# --- records -------------------------------------------------------------------------------


def records_dir(cache_root: Path | None = None) -> Path:
    return (cache_root if cache_root is not None else default_cache_dir()) / RECORDS_DIR


def write_record(
    directory: Path, scenario: str, tags: Iterable[str], *, now: datetime.datetime
) -> Path:
    """Write ``<directory>/<scenario>.json`` atomically: a reader (``farm gc``) sees the old
    record or the new one, never a torn file that would protect nothing."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{scenario}.json"
    text = json.dumps(
        {"scenario": scenario, "written_at": now.isoformat(), "tags": sorted(set(tags))},
        indent=1,
    )
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=directory, prefix=f".{scenario}.", suffix=".tmp", delete=False
    ) as temporary:
        temporary.write(text + "\n")
    os.replace(temporary.name, path)
    return path


def record_scenario_images(engine: Engine, plan: ImagePlan) -> Path:
    """Record which images of ``plan`` exist, as the scenario's newest record.

    The build calls this after every image it builds or reuses, so what a running build
    has made is protected from ``farm gc`` as soon as it exists.
    """
    planned = {image.tag for image in plan.images}
    existing = {tag for image in engine.images(_label_filters(())) for tag in image.tags}
    return write_record(
        records_dir(),
        plan.scenario.name,
        planned & existing,
        now=datetime.datetime.now(datetime.UTC),
    )


def read_records(directory: Path) -> list[ScenarioRecord]:
    """Every record under ``directory``; an unreadable one is an error, not an empty record
    (ignoring it would let ``farm gc`` remove the images it protects)."""
    if not directory.is_dir():
        return []
    records: list[ScenarioRecord] = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            written_at = datetime.datetime.fromisoformat(str(data["written_at"]))
            if written_at.tzinfo is None:
                written_at = written_at.replace(tzinfo=datetime.UTC)
            tags = data["tags"]
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise ValueError("tags must be a list of strings")
            records.append(ScenarioRecord(str(data["scenario"]), frozenset(tags), written_at, path))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise FarmError(
                f"{path}: not a readable image record ({error}); farm gc removes nothing "
                "while it cannot tell what that scenario uses. Build the scenario again to "
                "rewrite it, or delete the file to let gc take its images"
            ) from None
    return records


def newest_records(records: Iterable[ScenarioRecord]) -> dict[str, ScenarioRecord]:
    """Per scenario, its most recently written record."""
    newest: dict[str, ScenarioRecord] = {}
    for record in records:
        known = newest.get(record.scenario)
        if known is None or record.written_at > known.written_at:
            newest[record.scenario] = record
    return newest


# --- choosing (pure) -----------------------------------------------------------------------


def parse_label_filter(text: str) -> LabelFilter:
    key, sep, value = text.partition("=")
    if not key.strip():
        raise UsageError(f"--label {text!r}: expected KEY or KEY=VALUE, e.g. com.example.run=42")
    return key.strip(), (value if sep else None)


def has_labels(labels: Mapping[str, str], required: Sequence[LabelFilter]) -> bool:
    return all(key in labels and (value is None or labels[key] == value) for key, value in required)


def owner_liveness(owner: str | None, *, host: str, pid_alive: Callable[[int], bool]) -> Liveness:
    """Is the ``<hostname>:<pid>`` owner alive? Only a process of this host can be asked."""
    if not owner:
        return Liveness.UNKNOWN
    owner_host, _, pid_text = owner.rpartition(":")
    if owner_host != host or not pid_text.isdigit() or int(pid_text) <= 0:
        return Liveness.UNKNOWN
    return Liveness.ALIVE if pid_alive(int(pid_text)) else Liveness.DEAD


def select_containers(
    containers: Iterable[ContainerInfo],
    *,
    all_containers: bool = False,
    required_labels: Sequence[LabelFilter] = (),
) -> tuple[list[Removal], list[Kept]]:
    """Farm containers whose owner is dead (every farm container with ``all_containers``)."""
    removals: list[Removal] = []
    kept: list[Kept] = []
    for container in containers:
        if not container.managed or not has_labels(container.labels, required_labels):
            continue
        what = f"{container.name} ({container.state})"
        if all_containers:
            reason = "--all-containers"
        elif container.liveness is Liveness.DEAD:
            reason = f"its farm process {container.owner} is gone"
        elif container.liveness is Liveness.ALIVE:
            kept.append(Kept(Kind.CONTAINER, what, f"its farm process {container.owner} runs"))
            continue
        else:
            whose = (
                f"owner {container.owner} cannot be checked from this host"
                if container.owner
                else "no owner label (made by an older farm)"
            )
            kept.append(Kept(Kind.CONTAINER, what, f"{whose}; --all-containers removes it"))
            continue
        removals.append(Removal(Kind.CONTAINER, container.id, what, reason))
    return removals, kept


def select_images(
    images: Iterable[ImageInfo],
    records: Iterable[ScenarioRecord],
    *,
    used_image_ids: Mapping[str, str] | None = None,
    required_labels: Sequence[LabelFilter] = (),
    always_keep: frozenset[str] = BASE_IMAGES,
) -> tuple[list[Removal], list[Kept], int, list[str]]:
    """Farm image tags in no scenario's newest record, and dangling farm images.

    ``used_image_ids`` maps the id of each image a (remaining) container runs to that
    container's name: such an image keeps its last tag, as the engine would insist anyway.
    Returns (removals, kept, number of recorded tags kept, notes).
    """
    used = used_image_ids or {}
    newest = newest_records(records)
    wanted = set(always_keep).union(*(r.tags for r in newest.values()))
    removals: list[Removal] = []
    kept: list[Kept] = []
    notes: list[str] = []
    recorded = 0
    candidates = [i for i in images if i.managed and has_labels(i.labels, required_labels)]
    # Children are newer than their parents: removing them first lets the engine delete a
    # parent whose tag goes in the same run instead of only untagging it.
    for image in sorted(candidates, key=lambda i: (-i.created, i.id)):
        short = image.id.removeprefix("sha256:")[:12]
        if not image.tags:
            if image.id in used:
                kept.append(Kept(Kind.IMAGE, short, f"dangling, but {used[image.id]} uses it"))
            else:
                removals.append(
                    Removal(Kind.IMAGE, image.id, short, "dangling farm image", image.id)
                )
            continue
        ours = [t for t in image.tags if t.startswith(f"{TAG_REPOSITORY}/")]
        foreign = [t for t in image.tags if t not in ours]
        for tag in foreign:
            kept.append(
                Kept(Kind.IMAGE, tag, f"not a {TAG_REPOSITORY}/ tag: the farm did not make it")
            )
        recorded += sum(1 for t in ours if t in wanted)
        stale = [t for t in ours if t not in wanted]
        if not stale or not newest:
            continue  # without any record nothing tagged goes (the note below says so)
        if image.id in used and len(stale) == len(image.tags):
            for tag in stale:
                kept.append(Kept(Kind.IMAGE, tag, f"in no record, but {used[image.id]} uses it"))
            continue
        removals += [
            Removal(Kind.IMAGE, tag, tag, "in no scenario's newest record", image.id)
            for tag in stale
        ]
    if not newest and any(i.tags for i in candidates):
        notes.append(
            "no image records yet, so every tagged farm image is kept: each build records "
            "which images its scenario uses; build your scenarios (farm build SCENARIO) and "
            "run farm gc again"
        )
    return removals, kept, recorded, notes


def plan_gc(
    inventory: Inventory,
    records: Iterable[ScenarioRecord],
    *,
    all_containers: bool = False,
    required_labels: Sequence[LabelFilter] = (),
) -> GcPlan:
    """Everything ``farm gc`` would remove from ``inventory``, and what it keeps and why."""
    container_removals, kept_containers = select_containers(
        inventory.containers, all_containers=all_containers, required_labels=required_labels
    )
    going = {r.reference for r in container_removals}
    used = {c.image_id: c.name for c in inventory.containers if c.id not in going}
    image_removals, kept_images, recorded, notes = select_images(
        inventory.images, records, used_image_ids=used, required_labels=required_labels
    )
    # An image is freed only when every one of its tags goes; count its own bytes then.
    removed_tags: dict[str, int] = {}
    for removal in image_removals:
        removed_tags[removal.image_id] = removed_tags.get(removal.image_id, 0) + 1
    estimate = sum(
        image.unique_size
        for image in inventory.images
        if image.id in removed_tags and removed_tags[image.id] >= max(1, len(image.tags))
    )
    return GcPlan(
        removals=(*container_removals, *image_removals),
        kept=(*kept_containers, *kept_images),
        recorded_tags=recorded,
        notes=tuple(notes),
        estimated_bytes=estimate,
    )


def format_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


# --- talking to the engine -----------------------------------------------------------------


def _label_filters(required_labels: Sequence[LabelFilter]) -> list[str]:
    return [f"{MANAGED_LABEL}=true"] + [
        key if value is None else f"{key}={value}" for key, value in required_labels
    ]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, only not ours to signal
    return True


def collect(engine: Engine, *, required_labels: Sequence[LabelFilter] = ()) -> Inventory:
    """Every container (a non-farm one may still use a farm image) and the farm's images."""
    listed = engine.inventory(image_labels=_label_filters(required_labels))
    host = socket.gethostname()
    containers = tuple(
        ContainerInfo(
            c.id,
            c.name,
            c.image_id,
            c.state,
            c.labels,
            owner_liveness(c.labels.get(OWNER_LABEL), host=host, pid_alive=_pid_alive),
        )
        for c in listed.containers
    )
    images = tuple(
        ImageInfo(i.id, i.tags, i.created, i.labels, listed.unique_bytes.get(i.id, 0))
        for i in listed.images
    )
    return Inventory(containers, images)


def execute(engine: Engine, plan: GcPlan, *, progress: Progress) -> GcOutcome:
    """Remove what ``plan`` says, in its order; the engine's refusals are kept, not errors."""
    before = engine.used_bytes()
    removed: list[Removal] = []
    refused: list[Kept] = []
    failed: list[tuple[Removal, str]] = []
    for removal in plan.removals:
        progress(f"gc: removing {removal.kind.value} {removal.what}")
        try:
            if removal.kind is Kind.CONTAINER:
                gone = not engine.remove_container(removal.reference)
            else:
                gone = not engine.remove_image(removal.reference)
        except Refused as refusal:
            if refusal.conflict:
                refused.append(Kept(removal.kind, removal.what, f"the engine refused: {refusal}"))
            else:
                failed.append((removal, str(refusal)))
            continue
        if not gone:
            removed.append(removal)
    after = engine.used_bytes()
    return GcOutcome(tuple(removed), tuple(refused), tuple(failed), max(0, before - after))
