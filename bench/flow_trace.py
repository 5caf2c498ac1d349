"""Which modules a scenario's data passes through on its way through a run, and how often it
climbs back to a module it already left (issue #20: "a run's data goes one way").

The farm's stages are driven on a fixture scenario made here, offline and without Docker:
loading, the matrix, the run's options, fetching and parsing every series (five source
kinds: quilt, mbox, patch, url (saved by hand in the cache), git), rendering, recording the
cells' states, the test items, judging and writing the reports. What needs Docker (building,
probing, running tests) is stood in for by records made here, untraced: every image
"built", every selected test passing. Where the bench does what a room of the farm does in
a run (the command's loading, `stages.run`, `pipeline.build_cells` around `build.prepare`),
it stands in for that room (`Trace.standing_in`), so every stage is reached by the route a
run takes. Not measured: what needs Docker (`build.build_images`, the probes, the runner in
its pytest process, bisection).

``sys.setprofile`` follows every call of a function of the farm. The counting rules:

- A *room* is a module of the farm, or a one-room package as a whole (``ONE_ROOM_PACKAGES``).
- A module that imports nothing of the farm but its errors (``ids``, ``command``,
  ``yamlnode``, ...: found from the source, not listed by hand) is a tool, not a room: a call
  into it counts as its caller's, since it knows no farm type to carry data back up in.
- Dunder methods (dataclass ``__init__``, ``__eq__``...) and properties read a value of an
  object already in hand; they and what they call are not followed.
- A *stop* is a call from one room into another (a descent) or a return to another. A
  route (the rooms from the bench down to this one) is counted once: a loop over cells,
  images or series repeats a route and adds nothing.
- A *climb back* is a descent, by a route not seen before, into a room the run had already
  entered (and so left, by returning from it or by calling out of it): a second way into a
  room, or a call back up.
- Also printed: every call into a room already entered, repeats included (a room asked
  once per image counts once per image).

    python bench/flow_trace.py [--totals] [--calls] [--whole FARM_RUN_ARGUMENTS...]

prints every stop, indented by depth (``->`` entering a room, ``=>`` climbing back, ``<-``
returning), then the number of stops, distinct rooms and climbs back; ``--calls`` adds the
calls back by caller and callee room. ``--whole`` follows a real ``farm run`` instead,
Docker stages included, from the command line's parsing to the last report
(`traced_farm_run`).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime
import gzip
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import farm
from farm.inputs.sources import Cache
from farm.judging import verdict
from farm.plan import matrix
from farm.plan.scenario import load_scenario
from farm.results import Outcome, TestResult
from farm.run import build, pipeline, stages
from farm.run.build import ImageState, ImageStatus

FARM_DIR = Path(farm.__file__).resolve().parent
ROOT = "<bench>"
FETCHED_URL = "https://example.invalid/series/fetched.mbox.gz"


def tool_modules() -> frozenset[str]:
    """Modules of the farm that import nothing of it but ``farm.errors``."""
    tools: set[str] = set()
    for path in FARM_DIR.rglob("*.py"):
        if path.name == "__init__.py":
            continue  # a package is a room (farm.report), never a tool
        relative = path.relative_to(FARM_DIR.parent).with_suffix("")
        name = ".".join(relative.parts)
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "farm":
                    imported |= {f"farm.{alias.name}" for alias in node.names}
                elif node.module.startswith("farm."):
                    imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names if a.name.startswith("farm.")}
        if imported <= {"farm.errors"} and name != "farm.__main__":
            tools.add(name)
    return frozenset(tools)


#: Packages whose modules count as one room: one writer per report format, one case library.
#: The other packages (farm.plan, farm.run, ...) group rooms; each of their modules is one, so
#: the count is the one issue #20 was measured with, before the modules moved into folders.
ONE_ROOM_PACKAGES = ("farm.report", "farm.cases")


def room(module: str) -> str:
    """The room a module belongs to: its module, or its package if that is one room."""
    for package in ONE_ROOM_PACKAGES:
        if module == package or module.startswith(package + "."):
            return package
    return module


@dataclass
class Trace:
    """The stops of one traced stretch of a run (see the module docstring)."""

    tools: frozenset[str]
    stops: list[tuple[str, int, str]] = field(default_factory=list)  # (kind, depth, where)
    visited: set[str] = field(default_factory=lambda: {ROOT})
    climbs: int = 0
    returns: int = 0
    #: Every descent into a room already visited, loops and repeats included, by route.
    calls_back: int = 0
    calls_by_edge: Counter[tuple[str, str]] = field(default_factory=Counter)
    _seen_paths: set[tuple[str, ...]] = field(default_factory=set)
    #: One entry per followed frame: (frame, room it counts as, room path, counted).
    _stack: list[tuple[FrameType | None, str, tuple[str, ...], bool]] = field(default_factory=list)
    _skipped: FrameType | None = None
    _active: bool = False

    def _current(self) -> tuple[str, tuple[str, ...]]:
        if not self._stack:
            return ROOT, (ROOT,)
        _, here, path, _ = self._stack[-1]
        return here, path

    def _follow(self, frame: FrameType) -> bool:
        name = frame.f_code.co_name
        if name.startswith("__") and name.endswith("__"):
            return False
        qualname = frame.f_code.co_qualname
        owner_name, _, attribute = qualname.rpartition(".")
        owner = frame.f_globals.get(owner_name) if owner_name else None
        return not (isinstance(owner, type) and isinstance(owner.__dict__.get(attribute), property))

    def profile(self, frame: FrameType, event: str, _arg: object) -> None:
        if not self._active or event not in ("call", "return"):
            return
        if self._skipped is not None:
            if event == "return" and frame is self._skipped:
                self._skipped = None
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("farm"):
            return
        if event == "call":
            if not self._follow(frame):
                self._skipped = frame
                return
            here, _ = self._current()
            entered = here if module in self.tools and here != ROOT else room(module)
            self._enter(frame, entered, f"{module}.{frame.f_code.co_qualname}")
            return
        if self._stack and self._stack[-1][0] is frame:
            self._leave()

    def _enter(self, frame: FrameType | None, entered: str, where: str) -> None:
        here, path = self._current()
        if entered == here:
            self._stack.append((frame, here, path, False))
            return
        step = (*path, entered)
        if entered in self.visited:
            self.calls_back += 1
            self.calls_by_edge[(here, entered)] += 1
        counted = step not in self._seen_paths
        if counted:
            self._seen_paths.add(step)
            kind = "climb" if entered in self.visited else "enter"
            self.climbs += kind == "climb"
            self.visited.add(entered)
            self.stops.append((kind, len(path), where))
        self._stack.append((frame, entered, step, counted))

    def _leave(self) -> None:
        _, left, _, counted = self._stack.pop()
        back, path = self._current()
        if counted and back != left:
            self.returns += 1
            self.stops.append(("return", len(path), back))

    @contextlib.contextmanager
    def following(self) -> Iterator[None]:
        self._active = True
        sys.setprofile(self.profile)
        try:
            yield
        finally:
            sys.setprofile(None)
            self._active = False

    @contextlib.contextmanager
    def standing_in(self, entered: str, what: str) -> Iterator[None]:
        """The bench doing, for a while, what the farm's room ``entered`` does in a run
        (its function ``what``), so that what it calls is reached by the run's route."""
        self._enter(None, entered, f"{entered}.{what} (stood in for)")
        try:
            yield
        finally:
            self._leave()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """What the bench makes in place of Docker's work, not followed."""
        self._active = False
        try:
            yield
        finally:
            self._active = True


# -- the fixture scenario --------------------------------------------------------------------


def _diff(path: str, line: str) -> str:
    return (
        f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n"
        f"+++ b/{path}\n@@ -1 +1 @@\n-/* old */\n+/* {line} */\n"
    )


def _mail(number: int, total: int, path: str) -> str:
    return (
        "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
        f"From: A U Thor <author@example.org>\nSubject: [PATCH {number}/{total}] elf: step "
        f"{number}\n\nA change.\n\nSigned-off-by: A U Thor <author@example.org>\n---\n"
        f"{_diff(path, f'step {number}')}-- \n2.39.5\n\n"
    )


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


def fixture_scenario(directory: Path) -> Path:
    """A scenario whose every input is under ``directory``: a glibc tree and five series."""
    tree = directory / "glibc"
    (tree / "elf").mkdir(parents=True)
    (tree / "elf" / "dl-open.c").write_text("/* old */\n", encoding="utf-8")
    (directory / "two.mbox").write_text(
        _mail(1, 2, "elf/dl-open.c") + _mail(2, 2, "elf/dl-close.c"), encoding="utf-8"
    )
    (directory / "one.patch").write_text(
        "Subject: elf: one diff\n\n" + _diff("elf/dl-load.c", "diff"), encoding="utf-8"
    )
    quilt = directory / "quilt"
    quilt.mkdir()
    (quilt / "a.patch").write_text(_diff("elf/rtld.c", "quilt"), encoding="utf-8")
    (quilt / "series").write_text("a.patch\n", encoding="utf-8")
    # Saved by hand where the farm looks for a download it cannot make (offline).
    drop = Cache(directory / "cache").manual_drop(FETCHED_URL)
    drop.parent.mkdir(parents=True, exist_ok=True)
    drop.write_bytes(gzip.compress(_mail(1, 1, "elf/dl-fini.c").encode()))
    repo = directory / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    for name in ("base", "tip"):
        (repo / "elf").mkdir(exist_ok=True)
        (repo / "elf" / "dl-init.c").write_text(f"/* {name} */\n", encoding="utf-8")
        _git(repo, "add", ".")
        _git(repo, "-c", "user.name=A", "-c", "user.email=a@example.org", "commit", "-qm", name)
    scenario = directory / "flow.yaml"
    scenario.write_text(
        f"""\
name: flow
glibc:
  version: "2.36"
  source:
    path: glibc
toolchains: [bookworm, bullseye]
arches: [x86_64, i686]
series:
  - name: quilted
    quilt: quilt
  - name: mailed
    mbox: two.mbox
  - name: diffed
    patch: one.patch
  - name: fetched
    url:
      url: {FETCHED_URL}
  - name: ranged
    git:
      url: {repo}
      range: main~1..main
stacked: true
tests:
  glibc: [elf/tst-dlmopen1]
""",
        encoding="utf-8",
    )
    return scenario


# -- what Docker would have done, stood in for ---------------------------------------------


def built_everything(prepared: build.PreparedScenario) -> dict[str, ImageStatus]:
    return {
        image.name: ImageStatus(
            image.name, image.tag, ImageState.BUILT, image_id=f"sha256:{n:064x}"
        )
        for n, image in enumerate(prepared.plan.images, start=1)
    }


def passed(items: list[Any]) -> list[TestResult]:
    return [
        TestResult(i.scenario, i.arch.value, i.variant, i.test, Outcome.PASS, image=i.image)
        for i in items
    ]


def probes_of(built: pipeline.BuiltCells) -> dict[str, pipeline.CellProbe]:
    return {c.id: pipeline.CellProbe(c.id, {}, ("elf/tst-dlmopen1",)) for c in built.cells}


# -- the traced run --------------------------------------------------------------------------


def traced_run(directory: Path, trace: Trace) -> str:
    """``farm run`` on the fixture, by the routes a run takes: the command loads the
    scenario, makes its cells and options and calls `stages.run`, whose stages call
    `pipeline.build_cells` (whose non-Docker part is `build.prepare` and, once the images
    are built, `pipeline.cell_images`), record the cells' states, make the test items,
    judge and report. Returns the verdict."""
    scenario_file = fixture_scenario(directory)
    cache = Cache(directory / "cache")
    run_dir = directory / "run"
    nothing = lambda _message: None  # noqa: E731 (progress, shown nowhere)
    with trace.following(), trace.standing_in("farm.commands", "run_cmd.run"):
        scenario = load_scenario(scenario_file)
        every = matrix.cells([scenario])
        cells = matrix.select(every, ())
        options = stages.RunOptions(scenario, cells, run_dir, cache, every, bisect=False)
        with trace.standing_in("farm.run.stages", "run"):
            with trace.standing_in("farm.run.pipeline", "build_cells"):
                prepared = build.prepare(scenario, cache, nothing)
                with trace.paused():
                    statuses = built_everything(prepared)
                images = pipeline.cell_images(cells, prepared, statuses)
            built = pipeline.BuiltCells(scenario, cells, prepared, statuses, "stand-in", images)
            verdict.write_run_state(options.run_dir, built)
            items = pipeline.test_items(built, probes_of(built))
            with trace.paused():
                for finished in passed(items):
                    options.directory.append_result(finished, worker="gw0")
            result = stages.judge(
                scenario, [options.run_dir], cells=options.scenario_cells,
                expected_cells=cells, past=None,
            )  # fmt: skip
            stages.report(
                result, options.run_dir, step_summary=None, history_file=None, progress=nothing
            )
    return result.verdict.value


def traced_farm_run(arguments: list[str], trace: Trace) -> str:
    """A whole ``farm run ARGUMENTS`` as the command line runs it (`farm.cli.main`), with
    the real engine: nothing stood in for. Only the main thread is followed (the engine's
    log readers and the pytest workers, another process, are not); the run builds what is
    not built yet, so run it on a warm engine to measure the flow, not a build."""
    from farm import cli

    with trace.following():
        status = cli.main(["run", *arguments])
    return f"farm run exited {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--totals", action="store_true", help="print the totals only, not every stop"
    )
    parser.add_argument(
        "--calls", action="store_true", help="print the calls back by caller and callee room"
    )
    parser.add_argument(
        "--whole",
        nargs=argparse.REMAINDER,
        metavar="FARM_RUN_ARGUMENTS",
        help="follow a real, whole `farm run FARM_RUN_ARGUMENTS` (Docker, images built) "
        "instead of the offline fixture run; must come last",
    )
    args = parser.parse_args(argv)
    trace = Trace(tool_modules())
    started = datetime.datetime.now(datetime.UTC)
    if args.whole is not None:
        judged = traced_farm_run(args.whole, trace)
    else:
        with tempfile.TemporaryDirectory(prefix="farm-flow-") as scratch:
            judged = traced_run(Path(scratch), trace)
    elapsed = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
    if not args.totals:
        for kind, depth, where in trace.stops:
            arrow = {"enter": "->", "climb": "=>", "return": "<-"}[kind]
            print(f"{'  ' * depth}{arrow} {where}")
    if args.calls:
        for (caller, callee), count in trace.calls_by_edge.most_common():
            print(f"{count:6d}  {caller} -> {callee}")
    modules = sorted(trace.visited - {ROOT})
    print(f"verdict of the traced run: {judged} ({elapsed:.1f} s)")
    print(f"tools (counted as their caller): {', '.join(sorted(trace.tools))}")
    print(f"modules ({len(modules)}): {', '.join(modules)}")
    descents = len(trace.stops) - trace.returns
    print(f"stops: {len(trace.stops)} ({descents} descents, {trace.returns} returns)")
    print(f"distinct modules: {len(modules)}")
    print(f"climbs back to a module already left: {trace.climbs}")
    print(f"calls into a module already entered, repeats included: {trace.calls_back}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
