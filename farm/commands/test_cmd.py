"""``farm test``: build what is missing, then run the case matrix and glibc's own tests."""

from __future__ import annotations

import argparse

from farm.commands.common import Session, build_and_test, run_session


def run(args: argparse.Namespace) -> int:
    return run_session("test", args, lambda session: _test(session, args))


def _test(session: Session, args: argparse.Namespace) -> int:
    built = build_and_test(session, args)
    directory = session.directory
    print(f"results: {directory / 'results'}  junit: {directory / 'pytest-junit.xml'}")
    not_built = [c.id for c in session.cells if not built.test_image_ready(c)]
    for cell_id in not_built:
        print(f"not tested (image not built): {cell_id}")
    return 1 if not_built else 0
