"""A real registry on loopback for the tests and the registry bench: Debian's
``docker-registry`` (the reference distribution server), its storage in a temporary
directory that goes with it. Docker talks plain HTTP to a registry on 127.0.0.0/8 without
any daemon setting, so nothing on the engine is configured for it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT = 30


class RegistryUnavailable(RuntimeError):
    """docker-registry is not installed, or did not start (its log is in the message)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now (nor, for a refused connection, later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serve(path: str = "farm-test") -> Iterator[str]:
    """Run a docker-registry on 127.0.0.1; yields ``127.0.0.1:PORT/<path>``, the prefix the
    farm's ``--push``/``--pull`` take."""
    server = shutil.which("docker-registry")
    if server is None:
        raise RegistryUnavailable(
            "this needs Debian's docker-registry: apt-get install docker-registry "
            "(scripts/setup-host.sh installs it)"
        )
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="farm-registry-") as storage:
        config = Path(storage) / "config.yml"
        config.write_text(
            "version: 0.1\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}/data\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
            "log:\n  level: warn\n",
            encoding="utf-8",
        )
        log_path = Path(storage) / "server.log"
        with log_path.open("w") as log:
            process = subprocess.Popen([server, "serve", str(config)], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RegistryUnavailable(
                            f"docker-registry did not start:\n{log_path.read_text()}"
                        ) from None
                    time.sleep(0.2)
            yield f"127.0.0.1:{port}/{path}"
        finally:
            process.terminate()
            process.wait(timeout=30)
