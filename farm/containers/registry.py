"""Sharing the farm's images through a container registry: the one name an image has there,
which images to push after a build, and which to pull instead of building.

An image's tag is a hash of its inputs (`farm.plan.render`), so one tag is one image wherever it
was built, and a registry needs no index: the farm's ``glibc-farm/build:x86_64-baseline-<hash>``
is ``REGISTRY/glibc-farm/build:x86_64-baseline-<hash>`` there (`Registry.ref`). A build
pushes every image of its cells' ancestry; a later farm, on this machine or a fresh CI
runner, pulls what it lacks (parents first) and builds only what the registry does not
have. A pulled image keeps its id, so the flaky history, which is about image ids, gathers
evidence across CI runs. A baseline that never changes (a Debian release's glibc) is built
once, ever.

Rules:
- Pulling is an optimisation, never a requirement: an image the registry does not have, or
  a registry that does not answer, means "build it" (or, for ``--no-build``, the refusal of
  `farm.run.build.present_images`), with the reason in a progress line and in the transfers
  returned. After the first failure nothing more is tried (an unreachable registry would
  otherwise cost a timeout per image).
- A transient failure (the registry answered 5xx, the connection dropped or was reset, a
  timeout: `farm.containers.engine.is_transient`) is tried again, a bounded number of times
  with short, growing waits (`Retries`), each retry a progress line with its reason; a
  refusal (401 unauthorized, 403 denied, 400 manifest invalid, 404, 429) is final at once.
  The engine has tried a failing layer itself already (5 times over about 50 s), so this
  is the second tier: the whole image again, whose layers that did get there are skipped.
  Seen under act: four farms pushing to one docker-registry at once, it answered 500 on the
  ``HEAD`` of a blob another push was still writing, for longer than the engine's tries.
- A push goes on after an image that finally failed: one image that does not get there does
  not keep the others out. Each failure is a FAILED transfer naming the image and why; only
  an engine that went away (`EngineUnreachable`) stops the rest ("not tried: ...").
- What a registry returns is a claim. It is believed as far as whoever can push to it (the
  repository's own workflows, with ``packages: write``) and checked as far as is cheap: the
  image must carry the farm's labels for its kind, arch and variant, and its layers must
  extend its parent's. An image that fails is removed again and built instead.
- Registry names never stay on the engine: an image is tagged ``REGISTRY/...`` only for the
  push or pull, then untagged, so ``farm gc`` and every other command see the farm's own tags.
"""

from __future__ import annotations

import enum
import functools
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from farm.containers.engine import Engine, EngineUnreachable, Progress, TransferFailed
from farm.errors import EngineError, UsageError
from farm.plan.render import ImagePlan, ImageSpec

#: One path component of an image repository, as the distribution spec has it.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_COMPONENT_RE = re.compile(_COMPONENT)
#: A registry host, with an optional port (``ghcr.io``, ``127.0.0.1:5000``, ``localhost``).
_HOST_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"(?::[0-9]{1,5})?"
)
#: The longest repository name registries accept, less room for the farm's own part.
MAX_PREFIX_LENGTH = 200
LABEL_PREFIX = "org.glibc-farm."

_Moved = TypeVar("_Moved")


@dataclass(frozen=True, slots=True)
class Retries:
    """How often one image's transient failure is tried, and how long between tries: the
    waits double from ``first_wait``, so the defaults wait 2 s, then 4 s (6 s in all, on top
    of the engine's own tries of a failing layer) before the image is given up."""

    attempts: int = 3
    first_wait: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.first_wait < 0:
            raise ValueError(f"Retries needs attempts >= 1 and first_wait >= 0, got {self}")

    def wait_after(self, attempt: int) -> float:
        """The seconds to wait after failed attempt ``attempt`` (1-based)."""
        return self.first_wait * float(2 ** (attempt - 1))

    @property
    def total_wait(self) -> float:
        return sum(self.wait_after(attempt) for attempt in range(1, self.attempts))


RETRIES = Retries()


def retrying(
    move: Callable[[], _Moved],
    *,
    what: str,
    retries: Retries,
    progress: Progress,
    sleep: Callable[[float], None] = time.sleep,
) -> _Moved:
    """``move()``, tried again after a transient `TransferFailed` as ``retries`` says, with a
    progress line per retry naming ``what`` (the image) and the reason. A refusal, any other
    error, or the last attempt's failure is raised; a transient one saying how often it was
    tried. Waits are short and few: a registry still failing after them is down, and a
    build that waits on it longer only keeps its job (and the images after it) waiting."""
    for attempt in range(1, retries.attempts + 1):
        try:
            return move()
        except TransferFailed as error:
            if not error.transient:
                raise
            if attempt == retries.attempts:
                raise TransferFailed(
                    f"{error} (failed all {attempt} attempts, {retries.total_wait:g} s of "
                    "waits apart; the registry's own log says why)",
                    transient=True,
                ) from None
            wait = retries.wait_after(attempt)
            progress(
                f"registry: {what}: attempt {attempt}/{retries.attempts} failed, retrying in "
                f"{wait:g} s: {error}"
            )
            sleep(wait)
    raise AssertionError("unreachable: Retries.attempts >= 1")


@dataclass(frozen=True, slots=True)
class Registry:
    """Where the farm's images are pushed to or pulled from: a registry host and an
    optional path below it (``ghcr.io/owner/repo``, ``127.0.0.1:5000/farm``)."""

    prefix: str

    @classmethod
    def parse(cls, text: str, *, option: str) -> Registry:
        """``text`` as given to ``option`` (``--push``); UsageError saying what is wrong."""
        prefix = text.strip().rstrip("/")
        example = "e.g. ghcr.io/OWNER/REPO (lowercase) or 127.0.0.1:5000/farm"
        if "://" in prefix:
            raise UsageError(f"{option} {text!r}: give the registry without a scheme, {example}")
        if not prefix or len(prefix) > MAX_PREFIX_LENGTH:
            raise UsageError(
                f"{option} {text!r}: expected a registry name of 1 to {MAX_PREFIX_LENGTH} "
                f"characters, {example}"
            )
        first, *rest = prefix.split("/")
        is_host = "." in first or ":" in first or first == "localhost"
        path = rest if is_host else [first, *rest]
        if is_host and not _HOST_RE.fullmatch(first):
            raise UsageError(f"{option} {text!r}: {first!r} is not a registry host, {example}")
        for component in path:
            if not _COMPONENT_RE.fullmatch(component):
                raise UsageError(
                    f"{option} {text!r}: {component!r} is not a repository path component "
                    f"(lowercase letters and digits, joined by '.', '_' or '-'; no tag), {example}"
                )
        return cls(prefix)

    def ref(self, tag: str) -> str:
        """The name in this registry of the farm's image ``tag``."""
        return f"{self.prefix}/{tag}"

    def __str__(self) -> str:
        return self.prefix


class Transfer(enum.StrEnum):
    PRESENT = "present"  # on this engine already: nothing pulled
    PULLED = "pulled"
    ABSENT = "absent"  # the registry has no such image: built instead
    REFUSED = "refused"  # pulled, but not what its tag says: removed, built instead
    PUSHED = "pushed"
    FAILED = "failed"  # the registry or the engine failed; the reason is in ``detail``


@dataclass(frozen=True, slots=True)
class ImageTransfer:
    """What happened to one image between this engine and a registry."""

    name: str
    tag: str
    ref: str
    state: Transfer
    detail: str = ""  # the digest pushed, or why nothing moved

    def describe(self) -> str:
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.name}: {self.state.value} {self.ref}{detail}"


def with_ancestors(plan: ImagePlan, names: Iterable[str]) -> tuple[ImageSpec, ...]:
    """The images ``names`` and every image below them, each once, parents first."""
    wanted: dict[str, ImageSpec] = {}
    for name in names:
        for image in plan.ancestry(name):
            wanted.setdefault(image.name, image)
    order = {image.name: index for index, image in enumerate(plan.images)}
    return tuple(sorted(wanted.values(), key=lambda image: order[image.name]))


def pull_missing(
    engine: Engine,
    registry: Registry,
    plan: ImagePlan,
    images: Iterable[ImageSpec],
    progress: Progress,
    *,
    retries: Retries = RETRIES,
) -> tuple[ImageTransfer, ...]:
    """Pull every image of ``images`` (parents first) that this engine lacks; see the module
    for what is believed, what is tried again, and what is tried after a failure."""
    transfers: list[ImageTransfer] = []
    failure = ""
    for image in images:
        ref = registry.ref(image.tag)
        if engine.image_id(image.tag) is not None:
            transfers.append(ImageTransfer(image.name, image.tag, ref, Transfer.PRESENT))
            continue
        if failure:
            transfers.append(
                ImageTransfer(image.name, image.tag, ref, Transfer.FAILED, f"not tried: {failure}")
            )
            continue
        transfer = _pull_one(engine, plan, image, ref, retries, progress)
        if transfer.state is Transfer.FAILED:
            failure = transfer.detail
        progress(f"registry: {transfer.describe()}")
        transfers.append(transfer)
    return tuple(transfers)


def _pull_one(
    engine: Engine,
    plan: ImagePlan,
    image: ImageSpec,
    ref: str,
    retries: Retries,
    progress: Progress,
) -> ImageTransfer:
    try:
        pulled = retrying(
            lambda: engine.pull(ref),
            what=image.name,
            retries=retries,
            progress=progress,
        )
        if pulled is None:
            return ImageTransfer(image.name, image.tag, ref, Transfer.ABSENT, "not in the registry")
        wrong = _not_what_the_tag_says(engine, plan, image, ref)
        if wrong:
            engine.untag(ref, delete_last=True)
            return ImageTransfer(image.name, image.tag, ref, Transfer.REFUSED, wrong)
        engine.tag(ref, image.tag)
        engine.untag(ref)
    except EngineError as error:
        return ImageTransfer(image.name, image.tag, ref, Transfer.FAILED, str(error))
    return ImageTransfer(image.name, image.tag, ref, Transfer.PULLED)


def _not_what_the_tag_says(engine: Engine, plan: ImagePlan, image: ImageSpec, ref: str) -> str:
    """Why the pulled ``ref`` cannot be ``image`` (its labels, its parent's layers), or ""."""
    pulled = engine.image_facts(ref)
    if pulled is None:
        return "the engine lost it right after the pull"
    expected = {"managed": "true", "kind": image.kind}
    if image.arch is not None:
        expected["arch"] = image.arch.value
    if image.variant is not None:
        expected["variant"] = image.variant
    for key, value in expected.items():
        found = pulled.labels.get(LABEL_PREFIX + key)
        if found != value:
            return f"its label {LABEL_PREFIX}{key} is {found!r}, not {value!r}"
    if image.parent is not None:
        parent = engine.image_facts(plan.by_name(image.parent).tag)
        if parent is not None and pulled.layers[: len(parent.layers)] != parent.layers:
            return f"its layers do not extend those of its parent {image.parent} on this engine"
    return ""


def push(
    engine: Engine,
    registry: Registry,
    images: Iterable[ImageSpec],
    progress: Progress,
    *,
    retries: Retries = RETRIES,
) -> tuple[ImageTransfer, ...]:
    """Push ``images`` (each present on this engine) to ``registry``, each tried again after
    a transient failure; an image that finally fails is FAILED with why, and the rest are
    pushed all the same. Only an engine that went away stops them ("not tried: ...")."""
    transfers: list[ImageTransfer] = []
    engine_gone = ""
    for image in images:
        ref = registry.ref(image.tag)
        if engine_gone:
            transfers.append(
                ImageTransfer(
                    image.name, image.tag, ref, Transfer.FAILED, f"not tried: {engine_gone}"
                )
            )
            continue
        progress(f"registry: {image.name}: pushing {ref}")
        try:
            digest = retrying(
                functools.partial(_push_one, engine, image.tag, ref),
                what=image.name,
                retries=retries,
                progress=progress,
            )
        except EngineError as error:
            if isinstance(error, EngineUnreachable):
                engine_gone = str(error)
            transfer = ImageTransfer(image.name, image.tag, ref, Transfer.FAILED, str(error))
        else:
            transfer = ImageTransfer(image.name, image.tag, ref, Transfer.PUSHED, digest)
        progress(f"registry: {transfer.describe()}")
        transfers.append(transfer)
    return tuple(transfers)


def _push_one(engine: Engine, tag: str, ref: str) -> str:
    """One attempt: tag ``tag`` as ``ref``, push it, untag it again whatever happened."""
    engine.tag(tag, ref)
    try:
        return engine.push(ref)
    finally:
        engine.untag(ref)
