"""The ``farm`` command line: parse arguments, call the core, map errors to exit codes.

Exit status: 0 success (all series accepted), 1 a series was rejected or a build failed,
2 the farm could not decide (bad input, no Docker engine, unfetchable source), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from farm import __version__, engine
from farm.commands import (
    build_cmd,
    doctor_cmd,
    gate_cmd,
    gc_cmd,
    matrix_cmd,
    post_checks_cmd,
    render_cmd,
    run_cmd,
    test_cmd,
)
from farm.errors import FarmError
from farm.shard import Shard

DEFAULT_SCENARIO = Path("scenarios/debian-2.36-backports.yaml")
_RESUME_HELP = (
    "go on with an interrupted run (--run-dir, default the newest): finished tests and built "
    "images are reused"
)

_SHARD_HELP = (
    "run only shard I of N of the test items (glibc subdirectories and case families dealt "
    "out per cell), for N CI jobs; `farm gate` merges their run directories"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="farm",
        description="Build glibc with and without patch series in Docker and gate the series.",
    )
    parser.add_argument("--version", action="version", version=f"glibc-farm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command run")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    matrix = sub.add_parser("matrix", help="list the cells (scenario x arch x variant)")
    matrix.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO")
    matrix.add_argument("--format", choices=("table", "github"), default="table")
    matrix.add_argument("--only", action="append", default=[], metavar="GLOB", help="cell id glob")
    matrix.set_defaults(handler=matrix_cmd.run)

    render = sub.add_parser("render", help="write the Dockerfiles of a scenario's images")
    render.add_argument("scenario", type=Path)
    render.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    render.set_defaults(handler=render_cmd.run)

    build = sub.add_parser("build", help="build a scenario's glibc images (reusing unchanged ones)")
    build.add_argument("scenario", type=Path, nargs="?", default=DEFAULT_SCENARIO)
    build.add_argument("--only", action="append", default=[], metavar="GLOB", help="cell id glob")
    build.add_argument(
        "--run-dir", type=Path, default=None, help="where logs go (default: farm-runs/...)"
    )
    build.set_defaults(handler=build_cmd.run)

    test = sub.add_parser("test", help="run the test matrix inside a scenario's images")
    test.add_argument("scenario", type=Path, nargs="?", default=DEFAULT_SCENARIO)
    test.add_argument("--only", action="append", default=[], metavar="GLOB", help="cell id glob")
    test.add_argument("--run-dir", type=Path, default=None)
    test.add_argument(
        "-n", "--workers", default="auto", help="pytest-xdist workers (default: auto)"
    )
    test.add_argument("--reruns", type=int, default=1, help="reruns of a failing test (default 1)")
    test.add_argument("-k", dest="keyword", default=None, help="pytest -k expression over item ids")
    test.add_argument("--resume", action="store_true", help=_RESUME_HELP)
    test.add_argument("--shard", type=Shard.parse, default=None, metavar="I/N", help=_SHARD_HELP)
    test.set_defaults(handler=test_cmd.run)

    run = sub.add_parser("run", help="build, test and gate a scenario: one verdict per series")
    run.add_argument("scenario", type=Path, nargs="?", default=DEFAULT_SCENARIO)
    run.add_argument("--only", action="append", default=[], metavar="GLOB", help="cell id glob")
    run.add_argument("--run-dir", type=Path, default=None)
    run.add_argument("-n", "--workers", default="auto", help="pytest-xdist workers (default: auto)")
    run.add_argument("--reruns", type=int, default=1, help="reruns of a failing test (default 1)")
    run.add_argument("--no-gate", action="store_true", help="build and test only (a CI cell job)")
    run.add_argument(
        "--no-bisect", action="store_true", help="do not search for the first bad patch"
    )
    run.add_argument("--resume", action="store_true", help=_RESUME_HELP)
    run.add_argument("--shard", type=Shard.parse, default=None, metavar="I/N", help=_SHARD_HELP)
    run.set_defaults(handler=run_cmd.run)

    gate = sub.add_parser("gate", help="the verdict over run directories (CI cell artifacts)")
    gate.add_argument("scenario", type=Path)
    gate.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    gate.add_argument("--report-dir", type=Path, default=Path("farm-report"))
    gate.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="judge only these cells (default: every cell of the scenario must be present)",
    )
    gate.set_defaults(handler=gate_cmd.run)

    post_checks_cmd.add_parser(sub)

    doctor = sub.add_parser("doctor", help="check that this machine can run the farm")
    doctor.set_defaults(handler=doctor_cmd.run)

    gc = sub.add_parser(
        "gc", help="remove leftover farm containers and farm images no scenario uses any more"
    )
    gc.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    gc.add_argument(
        "--all-containers",
        action="store_true",
        help="remove every farm container, also those of a farm that is still running",
    )
    gc.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="consider only objects that also carry this label (repeatable)",
    )
    gc.set_defaults(handler=gc_cmd.run)
    return parser


def main_inner(argv: Sequence[str] | None = None) -> int:
    """Run the command; raises FarmError for anything the user must fix."""
    args = _parser().parse_args(argv)
    # Containers started by this process or its pytest workers name it as their owner.
    engine.claim_ownership()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return int(args.handler(args))


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a CI runner cancelling, `kill`) takes the same orderly path as Ctrl-C."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return main_inner(argv)
    except FarmError as error:
        print(f"farm: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("farm: interrupted; results and logs written so far are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
