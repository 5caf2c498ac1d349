"""``farm doctor``: what this machine lacks to run the farm, and how to fix each thing."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from farm.containers.engine import Engine
from farm.errors import EngineError
from farm.inputs.sources import DEBIAN_ARCHIVE_KEYRING
from farm.plan.render import BASE_IMAGE


def run(args: argparse.Namespace) -> int:
    problems = 0

    def report(ok: bool, what: str, fix: str) -> None:
        nonlocal problems
        print(
            f"{'ok     ' if ok else 'MISSING'}  {what}" + ("" if ok else f"\n         fix: {fix}")
        )
        problems += 0 if ok else 1

    report(
        sys.version_info >= (3, 11),
        f"Python {sys.version.split()[0]} (3.11+)",
        "install Python 3.11",
    )
    for tool, package in (("apt-get", "apt"), ("git", "git"), ("debootstrap", "debootstrap")):
        report(shutil.which(tool) is not None, tool, f"apt-get install {package}")
    report(*debian_keyring_check())
    try:
        engine = Engine.connect(timeout=10)
        report(True, f"Docker engine {engine.version()}", "")
        has_base = engine.image_id(BASE_IMAGE) is not None
        state = "present" if has_base else "not yet built (made on first build)"
        report(True, f"base image {BASE_IMAGE}: {state}", "")
    except EngineError as error:
        report(False, "Docker engine", str(error).splitlines()[-1])
    return 0 if problems == 0 else 2


def debian_keyring_check(keyring: Path = DEBIAN_ARCHIVE_KEYRING) -> tuple[bool, str, str]:
    """(ok, what, fix) of the Debian archive keyring that apt needs to fetch glibc's source:
    a stock Ubuntu runner lacks it, and apt then refuses Debian's archive (exit 100)."""
    return (
        keyring.is_file(),
        f"Debian archive keyring {keyring}",
        "sudo apt-get install debian-archive-keyring (Ubuntu has the package too)",
    )
