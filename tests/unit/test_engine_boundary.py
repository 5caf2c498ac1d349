"""The engine boundary: `farm.containers.engine` is the only module that talks to the container
engine, and it sits below rendering (it builds a plain `BuildSpec`, knows no image plan).

Before, Docker was called from five modules, a ``docker.DockerClient`` was a parameter in
nine, the connection-error list existed twice and engine.py imported ``render.ImageSpec``.
"""

from __future__ import annotations

import ast
import threading
from pathlib import Path

from farm import ids

REPO = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_only_the_engine_imports_docker() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("farm", "bench")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path != REPO / "farm" / "containers" / "engine.py"
        and any(name == "docker" or name.startswith("docker.") for name in _imports(path))
    ]
    assert offenders == []


def test_the_engine_sits_below_rendering() -> None:
    imported = _imports(REPO / "farm" / "containers" / "engine.py")
    assert not {
        name for name in imported if name.startswith(("farm.plan.render", "farm.plan.scenario"))
    }


def test_container_names_are_spelled_once_and_differ_per_worker_and_kind() -> None:
    tag = ids.image_tag("test-x86_64-baseline", "90fc334ae62b351e")
    assert tag == "glibc-farm/test:x86_64-baseline-90fc334ae62b351e"
    names = {
        ids.container_name(ids.ContainerRole.TEST, tag, 42, worker=worker, kind=kind)
        for worker in ("gw0", "gw1")
        for kind in ("cases", "glibc")
    }
    assert len(names) == 4
    assert "farm-test-gw0-cases-x86_64-baseline-90fc334ae62b351e-42" in names
    assert ids.container_name(ids.ContainerRole.PROBE, tag, 7) == (
        "farm-probe-x86_64-baseline-90fc334ae62b351e-7"
    )


def test_container_names_differ_per_thread_of_one_process() -> None:
    """``farm watch --jobs 2`` probes one baseline image from two threads at once."""
    tag = ids.image_tag("test-x86_64-baseline", "90fc334ae62b351e")
    names: list[str] = []
    both_alive = threading.Barrier(2, timeout=10)

    def name() -> None:
        both_alive.wait()  # neither has ended: their native ids differ
        names.append(ids.container_name(ids.ContainerRole.PROBE, tag, 7))
        both_alive.wait()

    threads = [threading.Thread(target=name) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(names)) == 2
    assert all(n.startswith("farm-probe-x86_64-baseline-90fc334ae62b351e-7-t") for n in names)
    main = ids.container_name(ids.ContainerRole.PROBE, tag, 7)
    assert main == "farm-probe-x86_64-baseline-90fc334ae62b351e-7"  # the main thread's as before


def test_image_references_split_back_into_repository_and_tag() -> None:
    assert ids.split_image_ref(ids.base_image_tag("bookworm")) == ("glibc-farm/base", "bookworm")
    assert ids.split_image_ref("localhost:5000/glibc-farm/base") == (
        "localhost:5000/glibc-farm/base",
        "latest",
    )
