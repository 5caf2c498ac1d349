"""Pushes and pulls through a registry that fails, with a real engine and the real
docker-registry behind a loopback proxy (tests/registry_proxy.py) that fails the requests
the test names and passes the rest through.

The failure is the one seen under act: four farms pushing to one docker-registry at once,
it answered 500 on the ``HEAD`` of a blob (the check after a layer's upload) for longer than
the engine's own tries, the engine gave the push up, and the farm pushed none of the
images after it. The engine tries a failing layer 5 times itself, about 50 s, so the proxy
fails a blob's ``HEAD`` 5 times (`ENGINE_LAYER_TRIES`) to reach the farm at all; a test
that fails it fewer times would pass without the farm's retry.

The images are tiny (``FROM scratch``, one file of their own, so no layer is shared with
any other image or test) and this test's alone: built here, removed afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from farm.containers import registry
from farm.containers.engine import BuildSpec, Engine
from farm.plan.render import ContextFile, ImagePlan, ImageSpec
from farm.plan.scenario import load_scenario
from tests import registry_proxy
from tests.integration.conftest import DEFAULT
from tests.registry_proxy import Fault

pytestmark = pytest.mark.integration

#: How often the engine (20.10) tries a failing layer upload before it gives a push up.
ENGINE_LAYER_TRIES = 5
#: Short waits: what is tested is that the farm tries again, not how long it waits.
QUICK = registry.Retries(attempts=2, first_wait=1.0)
V2_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

MakeImages = Callable[..., list[ImageSpec]]


@pytest.fixture
def upstream(loopback_registry: str) -> str:
    """The registry behind the proxy, asked directly for what it holds."""
    return loopback_registry


@pytest.fixture
def make_images(
    farm_engine: Engine, client: docker.DockerClient, tmp_path: Path
) -> Iterator[MakeImages]:
    """``make_images("a", "b")``: one tiny image per name, each in a repository of its own
    (``glibc-farm/retry-probe-a``), so a proxy fault can name one image's requests."""
    made: list[str] = []
    run = f"{os.getpid()}-{secrets.token_hex(4)}"

    def make(*names: str) -> list[ImageSpec]:
        images = []
        for name in names:
            content = f"retry probe {name} {run}\n".encode()
            tag = f"glibc-farm/retry-probe-{name}:{run}"
            dockerfile = "FROM scratch\nCOPY probe /probe\nLABEL org.glibc-farm.kind=test\n"
            context = (ContextFile("probe", hashlib.sha256(content).hexdigest(), data=content),)
            farm_engine.build(
                BuildSpec(name, tag, "test", dockerfile, context),
                log_path=tmp_path / f"{name}.log",
                progress=lambda line: None,
            )
            made.append(tag)
            images.append(ImageSpec(name, "test", None, None, None, dockerfile, context, tag))
        return images

    yield make
    for tag in made:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(tag, noprune=False)


def _held(upstream: str, tag: str) -> str | None:
    """The digest ``upstream`` (asked directly, not through the proxy) has for the farm's
    ``tag``, or None."""
    host, _, path = upstream.partition("/")
    repository, _, name = tag.rpartition(":")
    request = urllib.request.Request(
        f"http://{host}/v2/{path}/{repository}/manifests/{name}",
        method="HEAD",
        headers={"Accept": V2_MANIFEST},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return str(reply.headers["Docker-Content-Digest"])
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def _no_registry_tags_left(client: docker.DockerClient, prefix: str) -> None:
    host = prefix.split("/", 1)[0]
    assert not [t for image in client.images.list() for t in image.tags if host in t]


def test_a_push_outlasts_a_failing_blob_head_and_goes_on_past_an_image_that_never_gets_there(
    farm_engine: Engine, client: docker.DockerClient, upstream: str, make_images: MakeImages
) -> None:
    first, broken, last = make_images("first", "broken", "last")
    faults = (
        Fault("HEAD", r"/retry-probe-first/blobs/sha256:", times=ENGINE_LAYER_TRIES),
        Fault("HEAD", r"/retry-probe-broken/blobs/sha256:", times=None),
    )
    lines: list[str] = []
    with registry_proxy.serve(upstream, faults) as proxy:
        target = registry.Registry.parse(proxy.prefix, option="--push")
        transfers = registry.push(
            farm_engine, target, [first, broken, last], lines.append, retries=QUICK
        )
    by_name = {t.name: t for t in transfers}
    assert [t.name for t in transfers] == ["first", "broken", "last"]

    # "first": the engine gave up after its own tries; the farm's second attempt got it there.
    failed_heads = [s for s in proxy.injected() if "retry-probe-first" in s.path]
    assert len(failed_heads) == ENGINE_LAYER_TRIES
    assert by_name["first"].state is registry.Transfer.PUSHED
    assert by_name["first"].detail == _held(upstream, first.tag)
    assert (
        f"registry: first: attempt 1/2 failed, retrying in 1 s: pushing {target.ref(first.tag)}: "
        "received unexpected HTTP status: 500 Internal Server Error"
    ) in lines

    # "broken": tried twice, given up, named with the registry's answer.
    assert by_name["broken"].state is registry.Transfer.FAILED
    assert "received unexpected HTTP status: 500 Internal Server Error" in by_name["broken"].detail
    assert "failed all 2 attempts" in by_name["broken"].detail
    assert _held(upstream, broken.tag) is None
    assert f"registry: {by_name['broken'].describe()}" in lines

    # "last", after the failed one, was pushed all the same.
    assert by_name["last"].state is registry.Transfer.PUSHED
    assert by_name["last"].detail == _held(upstream, last.tag)
    assert not [line for line in lines if "last: attempt" in line]
    _no_registry_tags_left(client, proxy.prefix)


def test_a_refusal_is_not_tried_again_and_a_dropped_connection_is(
    farm_engine: Engine, client: docker.DockerClient, upstream: str, make_images: MakeImages
) -> None:
    refused, dropped = make_images("refused", "dropped")
    faults = (
        Fault("PUT", r"/retry-probe-refused/manifests/", times=None, status=400,
              code="MANIFEST_INVALID", message="manifest invalid"),
        Fault("PUT", r"/retry-probe-dropped/manifests/", times=1, drop=True),
    )  # fmt: skip
    lines: list[str] = []
    with registry_proxy.serve(upstream, faults) as proxy:
        target = registry.Registry.parse(proxy.prefix, option="--push")
        transfers = registry.push(farm_engine, target, [refused, dropped], lines.append)
    by_name = {t.name: t for t in transfers}

    assert by_name["refused"].state is registry.Transfer.FAILED
    assert by_name["refused"].detail == f"pushing {target.ref(refused.tag)}: manifest invalid"
    assert len([s for s in proxy.injected() if "retry-probe-refused" in s.path]) == 1
    assert not [line for line in lines if "refused: attempt" in line]
    assert _held(upstream, refused.tag) is None

    assert [s.status for s in proxy.injected() if "retry-probe-dropped" in s.path] == [0]
    assert by_name["dropped"].state is registry.Transfer.PUSHED
    assert by_name["dropped"].detail == _held(upstream, dropped.tag)
    (retry,) = [line for line in lines if "dropped: attempt" in line]
    assert "attempt 1/3 failed, retrying in 2 s" in retry and retry.endswith(": EOF")
    _no_registry_tags_left(client, proxy.prefix)


def test_a_pull_outlasts_a_failing_manifest_get_and_a_refused_one_is_given_up_at_once(
    farm_engine: Engine, client: docker.DockerClient, upstream: str, make_images: MakeImages
) -> None:
    flaky, locked = make_images("flaky", "locked")
    plan = ImagePlan(load_scenario(DEFAULT), (flaky, locked))
    target = registry.Registry.parse(upstream, option="--push")
    assert all(
        t.state is registry.Transfer.PUSHED
        for t in registry.push(farm_engine, target, [flaky, locked], lambda line: None)
    )
    ids = {image.name: client.images.get(image.tag).id for image in (flaky, locked)}
    for image in (flaky, locked):
        client.images.remove(image.tag, noprune=False)

    faults = (
        Fault("GET", r"/retry-probe-flaky/manifests/", times=1, status=503),
        Fault("GET", r"/retry-probe-locked/manifests/", times=None, status=401,
              code="UNAUTHORIZED", message="authentication required"),
    )  # fmt: skip
    lines: list[str] = []
    with registry_proxy.serve(upstream, faults) as proxy:
        source = registry.Registry.parse(proxy.prefix, option="--pull")
        flaky_pull, locked_pull = registry.pull_missing(
            farm_engine, source, plan, [flaky, locked], lines.append, retries=QUICK
        )
    assert flaky_pull.state is registry.Transfer.PULLED, flaky_pull.describe()
    assert client.images.get(flaky.tag).id == ids["flaky"]
    assert [s.status for s in proxy.injected() if "retry-probe-flaky" in s.path] == [503]
    assert (
        f"registry: flaky: attempt 1/2 failed, retrying in 1 s: pulling {source.ref(flaky.tag)}: "
        "received unexpected HTTP status: 503 Service Unavailable"
    ) in lines

    assert locked_pull.state is registry.Transfer.FAILED, locked_pull.describe()
    assert len([s for s in proxy.injected() if "retry-probe-locked" in s.path]) == 1
    assert not [line for line in lines if "locked: attempt" in line]
    assert locked_pull.detail == f"pulling {source.ref(locked.tag)}: unauthorized"
    _no_registry_tags_left(client, proxy.prefix)
