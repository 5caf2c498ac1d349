"""Everything that talks to the container engine: one `Engine`, the only user of ``docker``.

As tuxmake's Runtime is, the engine is one class behind a small interface: connect, look an
image up, build one from a plain `BuildSpec`, save images to an archive, make a base image,
start, exec into and remove containers, list what the farm has (`inventory`) and remove it.
Build logic, the runner, ``farm gc``, ``farm doctor`` and the benchmarks never call the
``docker`` package or assemble a docker command line: they are handed an `Engine`. A second
engine is then a second class, not a rewrite. Every engine error is mapped here, once, to
the farm's `EngineError` with what to do (`_engine_error`).

The engine knows nothing of scenarios or image plans: `BuildSpec` is plain data (a name, a
tag, Dockerfile text, context files), so this module sits below ``farm.plan.render``.

Every object the farm creates carries the label ``org.glibc-farm.managed=true`` so leftovers
can be found and removed; containers also carry the farm process that owns them
(``org.glibc-farm.owner``), so ``farm gc`` can tell a leftover from a container a running
farm still uses.
"""

from __future__ import annotations

import codecs
import contextlib
import enum
import io
import os
import re
import shutil
import socket
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import docker
import docker.errors
import requests.exceptions

from farm import command, ids
from farm.errors import BuildError, EngineError, UsageError
from farm.plan.toolchain import Toolchain

MANAGED_LABEL = "org.glibc-farm.managed"
#: ``<hostname>:<pid>`` of the top-level ``farm`` process that started a container.
OWNER_LABEL = "org.glibc-farm.owner"
#: Set by the ``farm`` command for itself and inherited by its children (the pytest-xdist
#: workers that start the test containers), so every container names the ``farm`` process.
OWNER_ENV = "FARM_OWNER"
#: The registry repository whose ``<release>`` tag stands for a toolchain's base image where
#: a registry answers (GitHub Actions).
REGISTRY_REPOSITORY = "debian"
DEBOOTSTRAP_MIRROR = "http://deb.debian.org/debian"
#: Longest silence tolerated from the engine while an image builds (make can be quiet for a
#: while, never for this long).
BUILD_READ_TIMEOUT = 3600
#: The step output line a farm script prints when it fails, and the reject it prints.
_FAILED_RE = re.compile(r"^farm-failed: (?P<phase>[a-z-]+): (?P<message>.*)$", re.MULTILINE)
_PATCH_RE = re.compile(r"patch (?P<number>\d+)/(?P<total>\d+): (?P<subject>.*)$")
_REJECT_RE = re.compile(
    r"^farm-reject-begin\n(?P<reject>.*?)^farm-reject-end$", re.MULTILINE | re.DOTALL
)
#: The classic builder names the container each RUN step runs in.
_RUNNING_IN_RE = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})$", re.MULTILINE)

Progress = Callable[[str], None]

_CONNECTION_ERRORS = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    ConnectionError,
)
#: The engine's status for "in use" (an image a container uses, a container being removed).
_CONFLICT = 409


class EngineUnreachable(EngineError):
    """The engine itself does not answer (or broke off): nothing else it is asked will go
    better, unlike a registry's failure to take one image."""


class TransferFailed(EngineError):
    """The engine answered, and a push or pull failed on the registry's side (or on the way
    to it). ``transient`` when trying again may help (`is_transient`)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


#: The engine's words for a registry that failed for now: any 5xx answer (the engine's
#: client says "received unexpected HTTP status: 500 Internal Server Error" whatever the
#: body), a connection dropped or reset, a timeout. Seen from this engine (20.10) through
#: tests/registry_proxy.py: a dropped manifest PUT is ``Put "http://...": EOF``. A refusal
#: (4xx) reads ``unauthorized``, ``denied``, ``manifest invalid``, ``name unknown``,
#: ``toomanyrequests``: none of these match, nor does a registry nobody listens on
#: (``connection refused``), which answers no better a second later.
_TRANSIENT_RE = re.compile(
    r"\bstatus:? 5\d\d\b|\b5\d\d (?:internal server error|bad gateway|service unavailable"
    r"|gateway timeout)\b|connection reset|broken pipe|: EOF$|unexpected EOF|i/o timeout"
    r"|TLS handshake timeout|request canceled|server closed idle connection",
    re.IGNORECASE,
)


def is_transient(reason: str) -> bool:
    """Whether the engine's ``reason`` for a failed push or pull is worth trying again."""
    return _TRANSIENT_RE.search(reason.strip()) is not None


def _engine_error(error: BaseException, doing: str = "") -> EngineError:
    """The one mapping of an engine that does not answer (or broke off) to what to do."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    while_doing = f" while {doing}" if doing else ""
    return EngineUnreachable(
        f"no Docker engine answers at {host}{while_doing} ({error.__class__.__name__}).\n"
        "Start one with `sudo scripts/setup-host.sh` (installs docker.io and starts dockerd), "
        "or run `farm doctor` to see what is missing; then run the command again."
    )


class Refused(EngineError):
    """The engine answered and refused (``conflict``: the object is in use)."""

    def __init__(self, message: str, *, conflict: bool) -> None:
        super().__init__(message)
        self.conflict = conflict


def this_process_owner() -> str:
    """The owner string of this process: ``<hostname>:<pid>``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_ownership() -> None:
    """Make this process the owner of the containers it and its children start.

    Called by the ``farm`` command before any subcommand runs. It overrides an inherited
    value on purpose: a stale ``$FARM_OWNER`` naming a dead process would let ``farm gc``
    remove live containers.
    """
    os.environ[OWNER_ENV] = this_process_owner()


def container_labels() -> dict[str, str]:
    """The labels of every container the farm starts: managed, and whose it is.

    The owner is ``$FARM_OWNER`` (the ``farm`` process, inherited by its pytest workers), or
    this process where the farm is used as a library.
    """
    return {MANAGED_LABEL: "true", OWNER_LABEL: os.environ.get(OWNER_ENV) or this_process_owner()}


class ContextEntry(Protocol):
    """One file of a build context (``farm.plan.render.ContextFile`` is one)."""

    @property
    def dest(self) -> str: ...
    @property
    def mode(self) -> int: ...
    @property
    def data(self) -> bytes | None: ...
    @property
    def source(self) -> Path | None: ...


#: Where a compile step sees its compiler cache's directory: over the empty ``/mnt`` every
#: Debian image has, so that the mount point adds nothing to the committed layer either.
COMPILER_CACHE_MOUNT = "/mnt"
#: Debian's ccache package puts a ``gcc``, ``g++``, ``cc``... that run ccache here.
CCACHE_MASQUERADE_DIR = "/usr/lib/ccache"


class CcacheMode(enum.StrEnum):
    """How ccache finds a compile's inputs, both keyed on every byte that reaches the compiler.

    ``PREPROCESSOR`` is ccache's default: the direct mode (the source, each header it
    included last time, the arguments), and on a miss the preprocessor run once more to hash
    its output, so a header edit that preprocesses to the same text still hits. ``DEPEND``
    never runs that extra preprocessor: on a miss the headers come from the dependency file
    the compiler writes anyway (glibc compiles with ``-MD``), and only direct hits exist.
    """

    PREPROCESSOR = "preprocessor"
    DEPEND = "depend"


@dataclass(frozen=True, slots=True)
class CompilerCache:
    """A host directory of ccache's that compile steps read and fill, and its bound.

    A hit never changes a result: ccache answers only for the same compiler (its binary's
    content, ``compiler_check=content``), the same arguments and the same source and headers
    (``mode`` says how it learns them), and checks each entry's checksum, treating a damaged
    one as a miss.
    """

    directory: Path
    max_size: str  # ccache's syntax: "2G", "500M"
    mode: CcacheMode  # the farm's default is `farm.run.compiler_cache.DEFAULT_MODE`

    def command(self, step: tuple[str, ...], image_env: list[str]) -> list[str]:
        """``step`` with ccache first on PATH and pointed at the mounted directory."""
        path = next((e[5:] for e in image_env if e.startswith("PATH=")), "/usr/bin:/bin")
        return [
            "env",
            f"CCACHE_DIR={COMPILER_CACHE_MOUNT}",
            f"CCACHE_MAXSIZE={self.max_size}",
            "CCACHE_COMPILERCHECK=content",
            *(["CCACHE_DEPEND=1"] if self.mode is CcacheMode.DEPEND else []),
            f"PATH={CCACHE_MASQUERADE_DIR}:{path}",
            *step,
        ]


@dataclass(frozen=True, slots=True)
class BuildSpec:
    """What the engine builds: plain data, whatever plan it came from."""

    name: str  # for progress lines, logs and errors: "build-x86_64-git-updates"
    tag: str
    kind: str  # toolchain | source | build | test: the phase a failure without a farm line is
    dockerfile: str
    context: tuple[ContextEntry, ...]
    needs_network: bool = False
    #: Commands run after the Dockerfile, each committed (`Engine.build`).
    compile_steps: tuple[tuple[str, ...], ...] = ()
    compiler_cache: CompilerCache | None = None  # None: compile without one


class _BuildLog:
    """A build's log file, and its progress lines: each ``Step``, each ``farm-`` line, and
    the last line every 30 s when make is quiet in between."""

    def __init__(self, file: TextIO, name: str, progress: Progress, started: float) -> None:
        self._file, self._name, self._progress, self._started = file, name, progress, started
        self._last_line = ""
        self._partial = ""
        self._said = time.monotonic()

    def write(self, text: str) -> None:
        self._file.write(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self._last_line = line.strip()
                if line.startswith(("Step ", "farm-")):
                    self._say(line)

    def heartbeat(self) -> None:
        if time.monotonic() - self._said > 30:
            self._say(self._last_line)

    def flush(self) -> None:
        self._file.flush()

    def _say(self, line: str) -> None:
        self._progress(f"{self._name}: {_short(line)} ({_elapsed(self._started)})")
        self._said = time.monotonic()


@dataclass(frozen=True, slots=True)
class BuildOutcome:
    spec: BuildSpec
    image_id: str
    reused: bool
    elapsed: float
    log_path: Path | None


@dataclass(frozen=True, slots=True)
class ListedContainer:
    id: str
    name: str
    image_id: str
    state: str
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ListedImage:
    id: str
    tags: tuple[str, ...]
    created: int
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Inventory:
    """Every container (a non-farm one may still use a farm image), the images carrying
    the labels asked for, and the disk they take."""

    containers: tuple[ListedContainer, ...]
    images: tuple[ListedImage, ...]
    used_bytes: int  # image layers and container layers
    unique_bytes: Mapping[str, int]  # per image id: the bytes no other image shares


#: Longest silence tolerated from the engine while it writes an image archive.
@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What the engine says of an image that a registry handed over: its labels, and its
    layers (the diff ids of its root file system, bottom first)."""

    labels: dict[str, str]
    layers: tuple[str, ...]
    size: int = 0  # bytes of its file system, all layers (what a runner that lacks it pulls)


SAVE_READ_TIMEOUT = 600
#: Longest silence tolerated from the engine while it pushes or pulls one image (a layer
#: of a test image is gigabytes, compressed or unpacked by the engine as it goes).
TRANSFER_READ_TIMEOUT = 1800


class Engine:
    """The Docker engine (or one that speaks its API), behind the farm's interface."""

    def __init__(self, client: docker.DockerClient) -> None:
        self._client = client

    @classmethod
    def connect(cls, *, timeout: int = 60) -> Engine:
        """An engine that has answered a ping; EngineError with the fix otherwise."""
        try:
            client = docker.from_env(timeout=timeout)
            client.ping()
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error) from None
        return cls(client)

    def reconnect(self, *, timeout: int) -> Engine:
        """A new connection to the same engine (each pytest-xdist worker has its own); also
        how a caller asks whether the engine is still there."""
        return self.connect(timeout=timeout)

    def version(self) -> str:
        try:
            return str(self._client.version().get("Version", "?"))
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, "asking its version") from None

    # ----------------------------------------------------------------------------- images

    def image_id(self, tag: str) -> str | None:
        try:
            return str(self._client.images.get(tag).id)
        except docker.errors.ImageNotFound:
            return None
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, f"looking up {tag}") from None

    def save(self, tags: list[str], path: Path) -> None:
        """Write ``tags`` to ``path`` as one archive, as ``docker save TAG...`` does: layers
        that the images share are in it once, and ``docker load`` restores every tag.

        docker-py saves one image at a time; the engine's ``GET /images/get?names=...``
        takes several, so this asks it directly through docker-py's HTTP session. The
        archive is written beside ``path`` and renamed, so a cut-off save never looks like a
        whole one.
        """
        api: Any = self._client.api
        url = f"{api.base_url}/v{api.api_version}/images/get"
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with api.get(
                url, params={"names": tags}, stream=True, timeout=SAVE_READ_TIMEOUT
            ) as reply:
                if reply.status_code != 200:
                    raise EngineError(
                        f"the engine would not save {', '.join(tags)}: HTTP "
                        f"{reply.status_code} {reply.text.strip()[:300]}"
                    )
                with partial.open("wb") as archive:
                    for chunk in reply.iter_content(chunk_size=1 << 20):
                        archive.write(chunk)
            partial.replace(path)
        except _CONNECTION_ERRORS as error:
            # Before OSError: requests' errors are OSErrors.
            raise _engine_error(error, "saving images") from None
        except OSError as error:
            raise UsageError(
                f"--save {path}: cannot write the images: {error.strerror or error}; give a "
                "file in a directory that exists and has room (a test image is 2-3 GB)"
            ) from None
        finally:
            partial.unlink(missing_ok=True)

    def image_facts(self, tag: str) -> ImageFacts | None:
        """The labels and layers of ``tag``; None when this engine has no such image."""
        try:
            attrs = self._client.images.get(tag).attrs
        except docker.errors.ImageNotFound:
            return None
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, f"looking up {tag}") from None
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        layers = (attrs.get("RootFS") or {}).get("Layers") or []
        return ImageFacts(
            {str(key): str(value) for key, value in labels.items()},
            tuple(map(str, layers)),
            int(attrs.get("Size") or 0),
        )

    # ------------------------------------------------------------------------- registries
    # farm.containers.registry decides what moves; these only move it.

    def pull(self, ref: str) -> str | None:
        """Pull ``ref`` (``REGISTRY/REPOSITORY:TAG``); its image id, or None when the
        registry answers that it has no such image. `TransferFailed` for a registry that
        failed (unreachable, refusing the credentials, answering 5xx), with the engine's
        reason; `EngineUnreachable` when the engine went away.

        docker-py's pull reads the engine's reply to its end and raises the engine's
        error as an APIError (the engine answers 500 for the registry's failures, 5xx and
        refusals alike), so the reason's words decide whether it is transient.
        """
        repository, _, tag = ref.rpartition(":")
        try:
            client = self._transfer_client()
            return str(client.images.pull(repository, tag=tag).id)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as error:
            reason = _engine_reason(error)
            raise TransferFailed(
                f"pulling {ref}: {reason}", transient=is_transient(reason)
            ) from None
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, f"pulling {ref}") from None

    def push(self, ref: str) -> str:
        """Push ``ref``, a tag present on this engine; the digest the registry gave it.

        The engine reports a failed push inside its reply stream (an ``error`` line after
        HTTP 200), not as an HTTP error, so the stream is read to its end and its first
        error raised as `TransferFailed`. The engine has by then tried a failing layer
        upload 5 times itself (about 50 s); a manifest it does not try again.
        """
        repository, _, tag = ref.rpartition(":")
        digest = ""
        try:
            api = self._transfer_client().api
            for chunk in _chunks(api.push(repository, tag=tag, stream=True, decode=True)):
                if "error" in chunk:
                    reason = _first_line(str(chunk["error"]))
                    raise TransferFailed(f"pushing {ref}: {reason}", transient=is_transient(reason))
                aux = chunk.get("aux")
                if isinstance(aux, dict) and isinstance(aux.get("Digest"), str):
                    digest = aux["Digest"]
        except docker.errors.APIError as error:
            # The engine refused the request itself (no such local tag): no registry involved.
            raise TransferFailed(
                f"pushing {ref}: {_engine_reason(error)}", transient=False
            ) from None
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, f"pushing {ref}") from None
        if not digest:
            # A reply cut short without an error line: the push may well go through again.
            raise TransferFailed(
                f"pushing {ref}: the engine's reply ended without a digest", transient=True
            )
        return digest

    def _transfer_client(self) -> docker.DockerClient:
        """A connection that waits as long as one layer's transfer may take."""
        return docker.from_env(timeout=TRANSFER_READ_TIMEOUT)

    def tag(self, source: str, target: str) -> None:
        """Give the image ``source`` (a tag or id) the tag ``target`` too."""
        repository, _, tag = target.rpartition(":")
        try:
            if not self._client.api.tag(source, repository, tag):
                raise EngineError(f"the engine would not tag {source} as {target}")
        except docker.errors.APIError as error:
            raise EngineError(f"tagging {source} as {target}: {_engine_reason(error)}") from None
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, f"tagging {source}") from None

    def untag(self, tag: str, *, delete_last: bool = False) -> None:
        """Remove the tag ``tag`` only: an image that has another tag stays, layers and all.

        ``noprune`` keeps untagged parents; a tag that is already gone is no error. The
        image's last tag is refused (EngineError), since removing it deletes the image,
        unless ``delete_last`` says that is the point (an image just pulled and found wrong).
        """
        try:
            tags = self._client.images.get(tag).tags
            if tags == [tag] and not delete_last:
                raise EngineError(
                    f"{tag} is the image's only tag; removing it would delete the image"
                )
            self._client.api.remove_image(tag, noprune=True)
        except docker.errors.ImageNotFound:
            return
        except docker.errors.APIError as error:
            raise EngineError(f"removing the tag {tag}: {_engine_reason(error)}") from None
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, f"removing the tag {tag}") from None

    def ensure_base_image(self, toolchain: Toolchain, progress: Progress) -> str:
        """Make ``toolchain``'s base image exist locally; returns how it was obtained.

        Pull ``debian:<release>`` where a registry answers; otherwise (no registry here)
        build it once with ``debootstrap --variant=minbase <release>`` and ``docker import``.
        """
        base_image = toolchain.base_image
        if self.image_id(base_image) is not None:
            return "present"
        try:
            progress(f"base image: pulling {REGISTRY_REPOSITORY}:{toolchain.name}")
            pulled = self._client.images.pull(REGISTRY_REPOSITORY, tag=toolchain.name)
            pulled.tag(*ids.split_image_ref(base_image))
            return f"pulled {REGISTRY_REPOSITORY}:{toolchain.name}"
        except docker.errors.APIError as error:
            progress(f"base image: no registry ({_first_line(str(error))}); using debootstrap")
        self._debootstrap_import(toolchain, progress)
        return "debootstrap"

    def _debootstrap_import(self, toolchain: Toolchain, progress: Progress) -> None:
        base_image, release = toolchain.base_image, toolchain.name
        if shutil.which("debootstrap") is None:
            raise EngineError(
                "no registry answers and debootstrap is not installed, so the base image "
                "cannot be made; run `sudo scripts/setup-host.sh` (installs debootstrap)"
            )
        if os.geteuid() != 0:
            raise EngineError(
                "debootstrap needs root to build the base image; run the farm as root once"
            )
        with tempfile.TemporaryDirectory(prefix="farm-debootstrap-") as temporary:
            root = Path(temporary) / "rootfs"
            progress(f"base image: debootstrap --variant=minbase {release} ({DEBOOTSTRAP_MIRROR})")
            bootstrapped = command.run(
                ["debootstrap", "--variant=minbase", release, root, DEBOOTSTRAP_MIRROR],
                timeout=1800,
            )
            if not bootstrapped.ok:
                raise EngineError(f"debootstrap of {release} failed:\n{bootstrapped.tail(15)}")
            tarball = Path(temporary) / "rootfs.tar"
            packed = command.run(["tar", "-C", root, "-cf", tarball, "."], timeout=600)
            if not packed.ok:
                raise EngineError(f"packing the debootstrap tree failed:\n{packed.tail(5)}")
            progress(f"base image: docker import as {base_image}")
            repository, tag = ids.split_image_ref(base_image)
            try:
                self._client.api.import_image_from_file(
                    str(tarball),
                    repository=repository,
                    tag=tag,
                    changes=[f"LABEL {MANAGED_LABEL}=true"],
                )
            except _CONNECTION_ERRORS as error:
                raise _engine_error(error, f"importing {base_image}") from None
        if self.image_id(base_image) is None:
            raise EngineError(f"docker import did not produce {base_image}")

    def build(
        self, spec: BuildSpec, *, log_path: Path, progress: Progress, rebuild: bool = False
    ) -> BuildOutcome:
        """Build ``spec`` unless its tag exists; BuildError names the phase that failed.

        The Dockerfile goes to the engine's builder; then each of the spec's compile steps
        runs in a container of the image so far, with the compiler cache mounted where the
        spec has one, and is committed (`_compile`). Only the last image gets the tag, so a
        failed step leaves no tagged image behind. ``rebuild`` builds every Dockerfile step
        again, builder cache or not (the build benchmarks measure with it).
        """
        existing = None if rebuild else self.image_id(spec.tag)
        if existing is not None:
            return BuildOutcome(spec, existing, reused=True, elapsed=0.0, log_path=None)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        _keep_earlier_log(log_path)
        started = time.monotonic()
        progress(f"{spec.name}: building {spec.tag}")
        error_text: str | None = None
        step_container: str | None = None  # the container of the RUN step under way
        built: str | None = None
        with _context_tar(spec) as context, log_path.open("w", encoding="utf-8") as file:
            log = _BuildLog(file, spec.name, progress, started)
            log.write(f"# glibc-farm build of {spec.name} as {spec.tag}\n")
            try:
                # Its own connection, with a read timeout long enough for a quiet make.
                api = docker.from_env(timeout=BUILD_READ_TIMEOUT).api
                stream = api.build(
                    fileobj=context,
                    custom_context=True,
                    tag=None if spec.compile_steps else spec.tag,
                    rm=True,
                    forcerm=True,
                    nocache=rebuild,
                    decode=True,
                    labels={MANAGED_LABEL: "true"},
                    network_mode=None if spec.needs_network else "none",
                )
                for chunk in _chunks(stream):
                    if "stream" in chunk:
                        text = str(chunk["stream"])
                        log.write(text)
                        if running := _RUNNING_IN_RE.search(text):
                            step_container = running.group(1)
                    aux = chunk.get("aux")
                    if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                        built = aux["ID"]
                    if "error" in chunk:
                        error_text = str(chunk.get("error"))
                        log.write(f"\n# ERROR: {error_text}\n")
                    log.heartbeat()
                if error_text is None and spec.compile_steps:
                    if built is None:
                        error_text = "the engine's builder named no image"
                    else:
                        built, error_text = self._compile(api, spec, built, log)
                        if built is not None:
                            api.tag(built, *ids.split_image_ref(spec.tag))
            except docker.errors.APIError as error:
                error_text = _first_line(str(error))
                log.write(f"\n# ERROR: {error}\n")
            except _CONNECTION_ERRORS as error:
                log.write(f"\n# ENGINE LOST: {error}\n")
                raise _engine_error(error, f"building {spec.name}") from None
            except KeyboardInterrupt:
                log.write("\n# INTERRUPTED\n")
                self._stop_build_step(step_container)
                raise
            finally:
                log.flush()
        elapsed = time.monotonic() - started
        built = self.image_id(spec.tag)
        if error_text is not None or built is None:
            raise _build_failure(spec, log_path, error_text or "no image was produced")
        progress(f"{spec.name}: built in {_elapsed(started)}")
        return BuildOutcome(spec, built, reused=False, elapsed=elapsed, log_path=log_path)

    def _compile(
        self, api: Any, spec: BuildSpec, image: str, log: _BuildLog
    ) -> tuple[str | None, str | None]:
        """Run each compile step of ``spec`` on ``image`` and commit it: the last image's
        id, or None and why a step failed.

        A step runs as the classic builder runs a RUN step (no network, the image's
        environment, its output in the log), plus the compiler cache's directory mounted
        and ccache put first on PATH through the command line, not the container's
        environment: a commit keeps the container's environment and labels, and no trace of
        the cache may enter the image. The owner label is committed empty for the same
        reason (a container someone starts from the image by hand is nobody's leftover).
        The container goes however the step ends, Ctrl-C included.
        """
        config = api.inspect_image(image).get("Config") or {}
        keep = {
            "Labels": {**(config.get("Labels") or {}), OWNER_LABEL: ""},
            # An empty Cmd would be filled from the container's: the step's command.
            "Cmd": config.get("Cmd") or ["/bin/sh"],
        }
        cache = spec.compiler_cache
        for step in spec.compile_steps:
            argv = cache.command(step, config.get("Env") or []) if cache else list(step)
            log.write(
                f"Step compile: {' '.join(step)} (compiler cache: "
                f"{cache.directory if cache else 'off'})\n"
            )
            binds = None
            if cache:
                cache.directory.mkdir(parents=True, exist_ok=True)
                binds = {str(cache.directory): {"bind": COMPILER_CACHE_MOUNT, "mode": "rw"}}
            container = api.create_container(
                image,
                command=argv,
                labels=container_labels(),
                host_config=api.create_host_config(network_mode="none", binds=binds),
            )["Id"]
            try:
                api.start(container)
                decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
                for chunk in api.logs(container, stream=True, follow=True):
                    log.write(decoder.decode(chunk))
                    log.heartbeat()
                log.write(decoder.decode(b"", final=True))
                status = int(api.wait(container).get("StatusCode", -1))
                if status != 0:
                    return None, f"{' '.join(step)} exited with status {status}"
                image = str(api.commit(container, conf=keep)["Id"])
            finally:
                with contextlib.suppress(docker.errors.APIError, *_CONNECTION_ERRORS):
                    api.remove_container(container, force=True)
        return image, None

    def _stop_build_step(self, container: str | None) -> None:
        """Remove the container of an interrupted build step at once.

        The engine cancels a build whose client went away, but in its own time: make would
        go on for seconds after the farm said its containers were stopped.
        """
        if container is None:
            return
        with contextlib.suppress(docker.errors.APIError, *_CONNECTION_ERRORS):
            self._client.api.remove_container(container, force=True)

    # ------------------------------------------------------------------------- containers

    def start_container(self, image: str, name: str, **settings: Any) -> str:
        """Start a detached container of ``image`` named ``name`` with the farm's labels
        (``settings`` are docker's: limits, mounts, network); returns its id."""
        try:
            container = self._client.containers.run(
                image, name=name, detach=True, labels=container_labels(), **settings
            )
        except docker.errors.APIError as error:
            raise EngineError(f"cannot start a container of {image}: {error}") from None
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, f"starting a container of {image}") from None
        return str(container.id)

    def run_once(
        self,
        image: str,
        argv: list[str],
        *,
        binds: Mapping[Path, str],
        environment: Mapping[str, str],
    ) -> tuple[int, bytes]:
        """Run ``argv`` in a new container of ``image`` (no network, ``binds`` mounted
        read-write: host directory to where the container sees it) to its end; its exit
        status and output. The container is removed however it ends."""
        api = self._client.api
        container: str | None = None
        try:
            container = str(
                api.create_container(
                    image, command=argv, labels=container_labels(), environment=dict(environment),
                    host_config=api.create_host_config(
                        network_mode="none",
                        binds={str(host): {"bind": inside, "mode": "rw"}
                               for host, inside in binds.items()},
                    ),
                )["Id"]
            )  # fmt: skip
            api.start(container)
            status = int(api.wait(container).get("StatusCode", -1))
            return status, bytes(api.logs(container, stdout=True, stderr=True) or b"")
        except docker.errors.APIError as error:
            raise EngineError(f"cannot run {argv[0]} in {image}: {error}") from None
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, f"running {argv[0]} in {image}") from None
        finally:
            if container is not None:
                with contextlib.suppress(docker.errors.APIError, *_CONNECTION_ERRORS):
                    api.remove_container(container, force=True)

    def exec(
        self,
        container: str,
        argv: list[str],
        *,
        user: str,
        workdir: str = "/",
        environment: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Run ``argv`` in ``container``; its exit status and output (stdout and stderr)."""
        try:
            result = self._client.api.exec_create(
                container, argv, user=user, workdir=workdir, environment=dict(environment or {})
            )
            output = self._client.api.exec_start(result["Id"], demux=False)
            status = self._client.api.exec_inspect(result["Id"]).get("ExitCode")
        except docker.errors.APIError as error:
            raise EngineError(f"the engine failed to exec in {container}: {error}") from None
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, f"running a command in {container}") from None
        return int(status if status is not None else -1), bytes(output or b"")

    # ------------------------------------------------------------ inventory and removal

    def inventory(self, *, image_labels: list[str]) -> Inventory:
        """Every container, the images carrying every one of ``image_labels`` (``KEY`` or
        ``KEY=VALUE``, as docker's label filter), and the disk usage."""
        api = self._client.api
        try:
            containers: list[dict[str, Any]] = api.containers(all=True)
            usage: dict[str, Any] = self._client.df()
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, "listing containers") from None
        unique = {
            str(image["Id"]): max(
                0, int(image.get("Size") or 0) - max(0, int(image.get("SharedSize") or 0))
            )
            for image in usage.get("Images") or ()
        }
        layers = sum(int(c.get("SizeRw") or 0) for c in usage.get("Containers") or ())
        return Inventory(
            tuple(
                ListedContainer(
                    id=str(entry["Id"]),
                    name=str((entry.get("Names") or [str(entry["Id"])[:12]])[0]).lstrip("/"),
                    image_id=str(entry.get("ImageID") or ""),
                    state=str(entry.get("State") or "?"),
                    labels=dict(entry.get("Labels") or {}),
                )
                for entry in containers
            ),
            self.images(image_labels),
            int(usage.get("LayersSize") or 0) + layers,
            unique,
        )

    def images(self, labels: list[str]) -> tuple[ListedImage, ...]:
        """The images carrying every one of ``labels`` (``KEY`` or ``KEY=VALUE``)."""
        try:
            listed: list[dict[str, Any]] = self._client.api.images(filters={"label": labels})
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, "listing images") from None
        return tuple(
            ListedImage(
                id=str(entry["Id"]),
                tags=tuple(t for t in entry.get("RepoTags") or () if t != "<none>:<none>"),
                created=int(entry.get("Created") or 0),
                labels=dict(entry.get("Labels") or {}),
            )
            for entry in listed
        )

    def used_bytes(self) -> int:
        """Bytes of image layers and container layers."""
        try:
            usage: dict[str, Any] = self._client.df()
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, "measuring disk usage") from None
        layers = sum(int(c.get("SizeRw") or 0) for c in usage.get("Containers") or ())
        return int(usage.get("LayersSize") or 0) + layers

    def remove_container(self, reference: str) -> bool:
        """Remove a container (forced, with its anonymous volumes); False if it was gone."""
        return self._remove(
            lambda: self._client.api.remove_container(reference, v=True, force=True),
            f"container {reference}",
        )

    def remove_image(self, reference: str) -> bool:
        """Remove an image reference, never forced: the engine refuses (`Refused`, a
        conflict) an image a container uses, and removing a tag of an image with children
        only untags it. False if it was gone."""
        return self._remove(
            lambda: self._client.api.remove_image(reference, force=False, noprune=False),
            f"image {reference}",
        )

    def _remove(self, remove: Callable[[], object], what: str) -> bool:
        try:
            remove()
        except docker.errors.NotFound:
            return False  # gone already: another gc, or its farm removed it
        except docker.errors.APIError as error:
            raise Refused(
                str(error.explanation or error), conflict=error.status_code == _CONFLICT
            ) from None
        except _CONNECTION_ERRORS as error:
            raise _engine_error(error, f"removing {what}") from None
        return True


def _context_tar(spec: BuildSpec) -> io.BufferedRandom:
    """The build context as a tar stream: the Dockerfile plus every context file.

    Files get a fixed mtime so the context, like the tag, depends only on content.
    """
    stream = tempfile.TemporaryFile()  # noqa: SIM115 - returned open, closed by the caller
    with tarfile.open(fileobj=stream, mode="w") as archive:
        entries: list[tuple[str, bytes | None, int, Path | None]] = [
            ("Dockerfile", spec.dockerfile.encode(), 0o644, None)
        ]
        entries += [(f.dest, f.data, f.mode, f.source) for f in spec.context]
        for name, data, mode, source in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, 1_600_000_000
            if data is not None:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            else:
                assert source is not None
                info.size = source.stat().st_size
                with source.open("rb") as handle:
                    archive.addfile(info, handle)
    stream.seek(0)
    return stream


def _keep_earlier_log(log_path: Path) -> None:
    """Move the log of an earlier build of the same image in this run directory (an
    interrupted one, before ``--resume``) to ``NAME.log.1``, ``.2``, ...: nothing is lost."""
    if not log_path.exists():
        return
    number = 1
    while (earlier := log_path.with_name(f"{log_path.name}.{number}")).exists():
        number += 1
    log_path.rename(earlier)


def _chunks(stream: Iterator[Any]) -> Iterator[dict[str, Any]]:
    for chunk in stream:
        if isinstance(chunk, dict):
            yield chunk


def _build_failure(spec: BuildSpec, log_path: Path, error_text: str) -> BuildError:
    """A BuildError whose phase and message come from the farm script that failed."""
    log = log_path.read_text(encoding="utf-8", errors="replace")
    failures = list(_FAILED_RE.finditer(log))
    if failures:
        phase = failures[-1].group("phase")
        message = failures[-1].group("message")
    else:
        phase = spec.kind
        message = error_text
    if phase == "source-prepare":
        phase = "source"
    reject = _REJECT_RE.search(log)
    detail = (
        reject.group("reject").rstrip() if reject else "\n".join(log.rstrip().splitlines()[-25:])
    )
    patch = _PATCH_RE.search(message) if phase == "patch-apply" else None
    return BuildError(
        f"{spec.name}: {phase} failed: {message}{_not_applied(message, patch)}\n"
        f"{_indent(detail)}\nfull log: {log_path}",
        phase=phase,
        log_path=str(log_path),
        patch_number=int(patch.group("number")) if patch else None,
        patch_subject=patch.group("subject") if patch else "",
        reject=detail if reject else "",
    )


def _not_applied(message: str, patch: re.Match[str] | None) -> str:
    """The line saying which patches after the failed one were not applied (apply-series
    stops at the first patch that fails), or nothing when it was its series' last."""
    if patch is None or int(patch.group("number")) >= int(patch.group("total")):
        return ""
    number, total = int(patch.group("number")), int(patch.group("total"))
    series = message[: patch.start()].strip()
    which = (
        f"patch {total}/{total}" if number + 1 == total else f"patches {number + 1}-{total}/{total}"
    )
    return f"\nnot applied after it: {series} {which} (a series stops at its first failure)"


def _indent(text: str, limit: int = 60) -> str:
    lines = text.splitlines()
    if len(lines) > limit:
        lines = [*lines[:limit], f"... ({len(lines) - limit} more lines in the log)"]
    return "\n".join(f"    {line}" for line in lines)


def _short(line: str, width: int = 100) -> str:
    line = " ".join(line.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _elapsed(started: float) -> str:
    seconds = int(time.monotonic() - started)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _engine_reason(error: docker.errors.APIError) -> str:
    """The engine's own words for a refused request (``explanation``), else its first line."""
    explanation = getattr(error, "explanation", None)
    return _first_line(str(explanation or error))
