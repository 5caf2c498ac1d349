"""The ``farm`` command line: parse arguments, call the core, map errors to exit codes.

Exit status: 0 success (all series accepted), 1 a series was rejected or a build failed,
2 the farm could not decide (bad input, no Docker engine, unfetchable source), 130 on Ctrl-C
or SIGTERM, 141 when standard output was closed early (``farm matrix | head -1``).

Every argument is checked here, when it is parsed, by the ``type=`` functions below: a bad
number or path is a usage error (exit 2) before the farm fetches, builds or starts anything,
so a typo never costs a glibc build. The checks say what was expected; what a value means
is left to the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from farm import __version__, scrub
from farm.commands import post_checks_cmd, watch_cmd
from farm.commands.common import MASTER_SCENARIO
from farm.errors import FarmError
from farm.plan.matrix import MatrixJobs
from farm.plan.shard import Shard

_T = TypeVar("_T")

if TYPE_CHECKING:
    from farm.containers.registry import Registry

DEFAULT_SCENARIO = Path("scenarios/debian-2.36-backports.yaml")
#: The status of a process killed by SIGPIPE (128 + 13), which shells expect from the
#: left-hand side of ``| head``.
EXIT_BROKEN_PIPE = 141
_WORKERS_HELP = "pytest-xdist workers: auto, logical or a number (default: auto)"
_RERUNS_HELP = "reruns of a failing test, 0 for none (default 1)"
_RESUME_HELP = (
    "go on with an interrupted run (--run-dir, default the newest): finished tests and built "
    "images are reused"
)

_SHARD_HELP = (
    "run only shard I of N of the test items (glibc subdirectories and case families dealt "
    "out per cell), for N CI jobs; `farm gate` merges their run directories"
)


_NO_BUILD_HELP = (
    "build nothing: test the images already here (a shard job's, docker load-ed from its "
    "build job); a missing one is an error, not a build"
)


def _registry(option: str) -> Callable[[str], Registry]:
    """A registry for ``option`` (``--push``), checked by farm.containers.registry, imported
    only when the option is given (it brings the engine with it)."""

    def parse(text: str) -> Registry:
        from farm.containers.registry import Registry

        try:
            return Registry.parse(text, option=option)
        except FarmError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix(f"{option} ")) from None

    return parse


def _add_base_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        default=None,
        metavar="COMMIT",
        help="build glibc at this commit instead of the ref the scenario's git source names "
        "(the reproducer of a run on a branch such as master gives the commit it judged)",
    )


def _add_registry_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pull",
        type=_registry("--pull"),
        default=None,
        metavar="REGISTRY",
        help="pull the images this engine lacks from REGISTRY (e.g. ghcr.io/OWNER/REPO) before "
        "building; what it does not have is built",
    )
    parser.add_argument(
        "--push",
        type=_registry("--push"),
        default=None,
        metavar="REGISTRY",
        help="push the cells' images (and every image below them) to REGISTRY once built",
    )


def _path(text: str) -> Path:
    """Any path, but not an empty string (which would silently mean the current directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a file or directory name")
    return Path(text)


def _file(text: str, expected: str) -> Path:
    """A path that is not a directory; whether the file is right is its reader's to say."""
    path = _path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give {expected}")
    return path


def _scenario_path(text: str) -> Path:
    """A scenario file. Whether it exists and parses is the loader's to say, with file:line."""
    return _file(text, f"a scenario YAML file, e.g. {DEFAULT_SCENARIO}")


def _existing_run_dir(text: str) -> Path:
    path = _path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(
            f"{text} does not exist; give a run directory written by farm run or farm test"
        )
    if not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} is a file; give a run directory written by farm run or farm test"
        )
    return path


def _output_dir(text: str) -> Path:
    """A directory to write into: created if missing, but never a file that exists, nor a
    path below one."""
    path = _path(text)
    for candidate in (path, *path.parents):
        if candidate.exists() and not candidate.is_dir():
            raise argparse.ArgumentTypeError(
                f"{candidate} is a file, not a directory; give a directory (created if missing)"
            )
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} is not writable; check its permissions")
    return path


def _history_file(text: str) -> Path:
    """A flaky history file: created if missing; farm.judging.history says whether it is one."""
    return _file(text, "a file for the flaky history, e.g. farm-history.jsonl")


def _add_history_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--history",
        type=_history_file,
        default=None,
        metavar="FILE",
        help="the flaky history to judge with and update (default: "
        "$FARM_CACHE/history/<scenario>.jsonl); CI keeps it in a cache or artifact",
    )
    group.add_argument(
        "--no-history",
        action="store_true",
        help="judge without the flaky history and leave it unchanged",
    )


def _workers(text: str) -> int | str:
    """pytest-xdist's -n, by the rule of `farm.run.stages.RunOptions` (imported here, when a
    command that runs tests is parsed, so that ``--help`` never waits for the core)."""
    from farm.run.stages import workers_option

    return _by_run_options(workers_option, text)


def _reruns(text: str) -> int:
    from farm.run.stages import reruns_option

    return _by_run_options(reruns_option, text)


def _ccache_size(text: str) -> str:
    from farm.run.compiler_cache import max_size_option

    return _by_run_options(max_size_option, text)


def _add_compiler_cache_options(parser: argparse.ArgumentParser) -> None:
    """How builds use the compiler cache (`farm.run.compiler_cache`): the same images
    either way, only how long they take differs."""
    parser.add_argument(
        "--no-ccache",
        action="store_true",
        help="compile glibc without the compiler cache (the images and tags are the same)",
    )
    parser.add_argument(
        "--ccache-size",
        type=_ccache_size,
        default=None,
        metavar="SIZE",
        help="bound of each compiler cache (one per toolchain and arch; default 2G)",
    )


def _by_run_options(rule: Callable[[str], _T], text: str) -> _T:
    """``rule(text)``, with its UsageError as argparse's error for the argument (which
    names the option itself, so the rule's ``--option:`` prefix goes)."""
    try:
        return rule(text)
    except FarmError as error:
        raise argparse.ArgumentTypeError(str(error).partition(": ")[2]) from None


def _keyword(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty expression; leave -k out to run every test")
    return _printable(text, "a pytest -k expression over item ids")


def _label(text: str) -> str:
    """A ``gc --label`` filter; its KEY[=VALUE] syntax is ``farm.containers.gc``'s to check."""
    return _printable(text, "KEY or KEY=VALUE, e.g. com.example.run=42")


def _printable(text: str, expected: str) -> str:
    """``text`` unless it holds a control character (a newline pasted in, an escape)."""
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise argparse.ArgumentTypeError(f"{text!r} holds a control character; give {expected}")
    return text


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except FarmError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--shard: ")) from None


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of a run that `farm run` and `farm try` share."""
    parser.add_argument("--only", action="append", default=[], metavar="GLOB", help="cell id glob")
    parser.add_argument("--run-dir", type=_output_dir, default=None)
    parser.add_argument("-n", "--workers", type=_workers, default="auto", help=_WORKERS_HELP)
    parser.add_argument("--reruns", type=_reruns, default=1, help=_RERUNS_HELP)
    parser.add_argument(
        "--no-gate", action="store_true", help="build and test only (a CI cell job)"
    )
    parser.add_argument(
        "--no-bisect", action="store_true", help="do not search for the first bad patch"
    )
    _add_history_options(parser)
    parser.add_argument("--no-build", action="store_true", help=_NO_BUILD_HELP)
    _add_registry_options(parser)
    _add_compiler_cache_options(parser)


def _revision(text: str) -> str:
    """A git commit or ref: never one git would read as an option."""
    if text.startswith("-") or any(c.isspace() for c in text) or not text:
        raise argparse.ArgumentTypeError(f"{text!r} is no commit; give a commit id or ref")
    return _printable(text, "a commit id or ref")


def _http_url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"{text!r}: expected an http(s) URL")
    return _printable(text, "an http(s) URL")


def _command(module: str) -> Callable[[argparse.Namespace], int]:
    """The ``run`` of ``farm.commands.<module>``, imported only when that command runs: the
    engine and the rest of the core take a second to import, and a usage error or ``--help``
    should not wait for them."""

    def run(args: argparse.Namespace) -> int:
        handler: Callable[[argparse.Namespace], int] = importlib.import_module(
            f"farm.commands.{module}"
        ).run
        return handler(args)

    return run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="farm",
        description="Build glibc with and without patch series in Docker and gate the series.",
    )
    parser.add_argument("--version", action="version", version=f"glibc-farm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command run")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    matrix = sub.add_parser("matrix", help="list the cells (scenario x arch x variant)")
    matrix.add_argument("scenarios", nargs="+", type=_scenario_path, metavar="SCENARIO")
    matrix.add_argument("--format", choices=("table", "github"), default="table")
    matrix.add_argument("--only", action="append", default=[], metavar="GLOB", help="cell id glob")
    matrix.add_argument(
        "--jobs",
        choices=[jobs.value for jobs in MatrixJobs],
        default=None,
        help="with --format github, the jobs of one workflow job's matrix: tests (default; "
        "every cell or shard of one), cells (unsharded cells), builds or shards (of cells "
        "whose scenario sets tests.shards)",
    )
    matrix.set_defaults(handler=_command("matrix_cmd"))

    render = sub.add_parser("render", help="write the Dockerfiles of a scenario's images")
    render.add_argument("scenario", type=_scenario_path)
    render.add_argument("-o", "--output", type=_output_dir, required=True, metavar="DIR")
    render.set_defaults(handler=_command("render_cmd"))

    build = sub.add_parser("build", help="build a scenario's glibc images (reusing unchanged ones)")
    build.add_argument("scenario", type=_scenario_path, nargs="?", default=DEFAULT_SCENARIO)
    build.add_argument("--only", action="append", default=[], metavar="GLOB", help="cell id glob")
    build.add_argument(
        "--run-dir", type=_output_dir, default=None, help="where logs go (default: farm-runs/...)"
    )
    build.add_argument(
        "--save",
        type=_path,
        default=None,
        metavar="FILE",
        help="also write the test images (as `docker save` does) to FILE, for `docker load` "
        "before `farm run --no-build` on another machine (a CI shard job)",
    )
    _add_registry_options(build)
    _add_compiler_cache_options(build)
    _add_base_option(build)
    build.set_defaults(handler=_command("build_cmd"))

    test = sub.add_parser("test", help="run the test matrix inside a scenario's images")
    test.add_argument("scenario", type=_scenario_path, nargs="?", default=DEFAULT_SCENARIO)
    test.add_argument("--only", action="append", default=[], metavar="GLOB", help="cell id glob")
    test.add_argument("--run-dir", type=_output_dir, default=None)
    test.add_argument("-n", "--workers", type=_workers, default="auto", help=_WORKERS_HELP)
    test.add_argument("--reruns", type=_reruns, default=1, help=_RERUNS_HELP)
    test.add_argument(
        "-k", dest="keyword", type=_keyword, default=None, help="pytest -k expression over item ids"
    )
    test.add_argument("--resume", action="store_true", help=_RESUME_HELP)
    test.add_argument("--shard", type=_shard, default=None, metavar="I/N", help=_SHARD_HELP)
    test.add_argument("--no-build", action="store_true", help=_NO_BUILD_HELP)
    _add_registry_options(test)
    _add_compiler_cache_options(test)
    _add_base_option(test)
    test.set_defaults(handler=_command("test_cmd"))

    run = sub.add_parser("run", help="build, test and gate a scenario: one verdict per series")
    run.add_argument("scenario", type=_scenario_path, nargs="?", default=DEFAULT_SCENARIO)
    _add_run_options(run)
    run.add_argument("--resume", action="store_true", help=_RESUME_HELP)
    run.add_argument("--shard", type=_shard, default=None, metavar="I/N", help=_SHARD_HELP)
    _add_base_option(run)
    run.set_defaults(handler=_command("run_cmd"))

    try_ = sub.add_parser(
        "try",
        help="gate one series (patchwork id or URL, Message-ID, PATH A..B, URL BRANCH, mbox "
        "or patch file) on a scenario made from a template",
        description="Gate one series with no scenario file to write: the template with its "
        "series replaced by this one, on the series' base, running the glibc subdirectories "
        "the series touches. The made scenario is written into the run directory; "
        "`farm run` on it repeats the run.",
    )
    try_.add_argument(
        "series", nargs="+", metavar="SERIES",
        help="a patchwork series id or URL, a Message-ID (<id@host>), PATH A..B (a git "
        "range of a local clone), URL BRANCH (a remote branch), or an mbox or patch file",
    )  # fmt: skip
    try_.add_argument(
        "--scenario", type=_scenario_path, default=MASTER_SCENARIO, metavar="TEMPLATE",
        help="the scenario whose glibc, arches, configure and farm cases the series is tried "
        f"with (its own series are left out; default: {MASTER_SCENARIO}, glibc master)",
    )  # fmt: skip
    try_.add_argument(
        "--base", type=_revision, default=None, metavar="COMMIT",
        help="try the series on this commit of the template's git glibc (default: the "
        "series' base-commit: trailer if the repository has it, else the template's ref)",
    )  # fmt: skip
    try_.add_argument(
        "--full", action="store_true",
        help="run all of glibc's testsuite, not only the subdirectories the series touches",
    )  # fmt: skip
    try_.add_argument(
        "--inbox", type=_http_url, default=None, metavar="URL",
        help="the public-inbox a Message-ID is fetched from (default: "
        "https://inbox.sourceware.org/libc-alpha)",
    )  # fmt: skip
    try_.add_argument(
        "--api-url", type=_http_url, default=None, metavar="URL",
        help="patchwork's API root for a series id (default: git config pw.server)",
    )  # fmt: skip
    _add_run_options(try_)
    try_.set_defaults(handler=_command("try_cmd"), resume=False, shard=None)

    gate = sub.add_parser("gate", help="the verdict over run directories (CI cell artifacts)")
    gate.add_argument("scenario", type=_scenario_path)
    gate.add_argument("run_dirs", type=_existing_run_dir, nargs="+", metavar="RUN_DIR")
    gate.add_argument("--report-dir", type=_output_dir, default=Path("farm-report"))
    gate.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="judge only these cells (default: every cell of the scenario must be present)",
    )
    _add_history_options(gate)
    gate.add_argument(
        "--record-history",
        action="store_true",
        help="also record these run directories in the flaky history (only for runs this "
        "farm made or CI artifacts you trust: what is recorded may later excuse a regression)",
    )
    gate.set_defaults(handler=_command("gate_cmd"))

    compare = sub.add_parser(
        "compare", help="what changed per arch and test between two runs of one scenario"
    )
    compare.add_argument("run_a", type=_existing_run_dir, metavar="RUN_A")
    compare.add_argument("run_b", type=_existing_run_dir, metavar="RUN_B")
    compare.add_argument("--json", action="store_true", help="JSON instead of Markdown")
    compare.set_defaults(handler=_command("compare_cmd"))

    post_checks_cmd.add_parser(sub)
    watch_cmd.add_parser(sub)

    doctor = sub.add_parser("doctor", help="check that this machine can run the farm")
    doctor.set_defaults(handler=_command("doctor_cmd"))

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
        type=_label,
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="consider only objects that also carry this label (repeatable)",
    )
    gc.add_argument(
        "--ccache-size",
        type=_ccache_size,
        default=None,
        metavar="SIZE",
        help="trim each compiler cache to SIZE (default 2G)",
    )
    gc.add_argument(
        "--drop-ccache",
        action="store_true",
        help="empty every compiler cache (the next builds compile everything again)",
    )
    gc.set_defaults(handler=_command("gc_cmd"))
    return parser


def main_inner(argv: Sequence[str] | None = None) -> int:
    """Run the command; raises FarmError for anything the user must fix."""
    args = _parser().parse_args(argv)
    from farm.containers import engine

    # Containers started by this process or its pytest workers name it as their owner.
    engine.claim_ownership()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    status = int(args.handler(args))
    # Flushed here, so that a reader gone early (``| head``) is seen while main can still
    # map it, not at interpreter exit.
    sys.stdout.flush()
    return status


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a CI runner cancelling, `kill`) takes the same orderly path as Ctrl-C."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main_mapped(argv)
    except BrokenPipeError:
        # The reader went away (``farm matrix | head -1``): nothing is wrong and nobody is
        # left to tell. Later writes, and the flush at exit, go nowhere instead of raising.
        _discard_output()
        return EXIT_BROKEN_PIPE


def _main_mapped(argv: Sequence[str] | None) -> int:
    """``main_inner`` with every error a user can cause mapped to a message and a status."""
    try:
        return main_inner(argv)
    except FarmError as error:
        # Messages quote files, servers and the command line: no escape reaches the terminal.
        print(f"farm: error: {scrub.PLAIN.text(str(error))}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("farm: interrupted; results and logs written so far are kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except OSError as error:
        # A file the farm had to read or write was refused by the system (a full disk, a
        # directory that became a file). The user can act on the path and the reason.
        logging.getLogger(__name__).debug("file system error", exc_info=True)
        where = f"{error.filename}: " if error.filename else ""
        print(
            f"farm: error: {scrub.PLAIN.text(f'{where}{error.strerror or error}')}", file=sys.stderr
        )
        return FarmError.exit_code


def _discard_output() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        # A stream that is no real file (captured by a test harness) needs no silencing.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, stream.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
