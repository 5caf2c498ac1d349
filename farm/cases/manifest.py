"""Reading and validating ``case.yaml`` manifests into ``Case`` objects.

The YAML is composed into nodes (not loaded into plain dicts) so that every error can say
``path:line:`` like a compiler, and so that duplicate keys, which PyYAML would silently let
the last one win, are rejected. Unknown keys are errors with a "did you mean" hint: a typo
such as ``ldlib:`` must not silently drop a library from a link.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

from farm.cases.model import BuildStep, Case, Detection, Expectation, RunSpec, StepKind
from farm.errors import ScenarioError

MANIFEST_NAME = "case.yaml"

#: The features a case may declare under ``needs:``. Informative, and the runner uses them
#: to explain an UNSUPPORTED (a glibc without the RTLD_SHARED series, a kernel without
#: rseq). A closed set, so that a typo is caught instead of becoming a new feature.
KNOWN_NEEDS = frozenset(
    {
        "dlmopen",
        "ld-audit",
        "pthread",
        "rseq",
        "rtld-shared",  # the RTLD_SHARED/RTLD_ISOLATE dlmopen series (glibc bug 22745)
        "gnu-unique-flag",  # DT_GNU_FLAGS_1 / DF_GNU_1_UNIQUE, written by ld -z unique
        "static-dlopen",
        "static-link",
        "coreutils",  # the case runs cp/install itself
    }
)

CRASH_SIGNALS = frozenset({"SIGSEGV", "SIGBUS", "SIGILL", "SIGABRT", "SIGFPE", "SIGKILL"})

_TOP_KEYS = ("summary", "needs", "timeout", "detect", "build", "run", "expect", "crash_signals")
_STEP_KEYS = ("shared", "program", "sources", "cflags", "ldflags", "ldlibs", "static", "unique")
_DETECT_KEYS = ("macro", "probes", "otherwise")
_RUN_KEYS = ("argv", "env")

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_OUTPUT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A detection's macro and its choices become C identifiers and sh variable names.
#: (All patterns here are used with fullmatch: "$" would let a trailing newline through.)
_MACRO_RE = re.compile(r"FARM_[A-Z0-9_]+")
_CHOICE_RE = re.compile(r"[A-Z][A-Z0-9_]*")

T = TypeVar("T")


class _Where:
    """Formats ``path:line: field: message`` for one manifest."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, node: yaml.Node | None, field: str, message: str) -> ScenarioError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        prefix = f"{field}: " if field else ""
        return ScenarioError(f"{self.path}{line}: {prefix}{message}")


def load_manifest(case_dir: Path, *, case_id: str) -> Case:
    """Parse and validate ``CASE_DIR/case.yaml`` into a Case with id CASE_ID."""
    path = case_dir / MANIFEST_NAME
    where = _Where(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"{path}: cannot read the manifest: {error.strerror}") from error
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ScenarioError(f"{path}{line}: not valid YAML: {error}") from error
    if root is None:
        raise where.error(None, "", "the manifest is empty; it needs summary, build and run")

    top = _mapping(where, root, "", _TOP_KEYS)
    for required in ("summary", "build", "run"):
        if required not in top:
            raise where.error(root, "", f"missing required key {required!r}")

    summary = _string(where, top["summary"], "summary")
    needs = _needs(where, top.get("needs"))
    timeout = _timeout(where, top.get("timeout"))
    family_dir = case_dir.parent
    detect = _detect(where, top.get("detect"), case_dir=case_dir, family_dir=family_dir)
    steps = _build(where, top["build"], case_dir=case_dir, family_dir=family_dir)
    run = _run(where, top["run"], steps)
    expect, crash_signals = _expectation(where, top.get("expect"), top.get("crash_signals"))

    family, _, name = case_id.partition("/")
    return Case(
        id=case_id,
        family=family,
        name=name,
        directory=case_dir,
        summary=summary,
        needs=needs,
        timeout=timeout,
        build=steps,
        run=run,
        expect=expect,
        crash_signals=crash_signals,
        detect=detect,
    )


def check_name(where_path: Path, what: str, name: str) -> None:
    """Family and case directory names become ids, test names and shell words."""
    if not _NAME_RE.fullmatch(name):
        raise ScenarioError(
            f"{where_path}: {what} name {name!r} must be lower-case letters, digits and '-', "
            "starting with a letter or digit; rename the directory"
        )


def _mapping(
    where: _Where, node: yaml.Node, field: str, allowed: tuple[str, ...]
) -> dict[str, yaml.Node]:
    what = field or "the manifest"
    if not isinstance(node, yaml.MappingNode):
        raise where.error(node, field, f"{what} must be a mapping, got {_kind(node)}")
    result: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            raise where.error(key_node, field, "keys must be plain strings")
        sub = f"{field}.{key}" if field else key
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            maybe = f"; did you mean {hint[0]!r}?" if hint else ""
            raise where.error(key_node, sub, f"unknown key (allowed: {', '.join(allowed)}){maybe}")
        if key in result:
            raise where.error(key_node, sub, "duplicate key; keep one of them")
        result[key] = value_node
    return result


def _construct(node: yaml.Node) -> object:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    value = _construct(node)
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


def _string(where: _Where, node: yaml.Node, field: str) -> str:
    value = _construct(node) if isinstance(node, yaml.ScalarNode) else None
    if not isinstance(value, str) or not value.strip():
        raise where.error(node, field, f"expected a non-empty string, got {_kind(node)}")
    return value


def _list(
    where: _Where, node: yaml.Node | None, field: str, item: Callable[[yaml.Node, str], T]
) -> tuple[T, ...]:
    if node is None:
        return ()
    if not isinstance(node, yaml.SequenceNode):
        raise where.error(node, field, f"expected a list, got {_kind(node)}")
    return tuple(item(child, f"{field}[{index}]") for index, child in enumerate(node.value))


def _strings(where: _Where, node: yaml.Node | None, field: str) -> tuple[str, ...]:
    return _list(where, node, field, lambda child, sub: _string(where, child, sub))


def _needs(where: _Where, node: yaml.Node | None) -> tuple[str, ...]:
    needs = _strings(where, node, "needs")
    for index, need in enumerate(needs):
        if need not in KNOWN_NEEDS:
            assert node is not None
            hint = difflib.get_close_matches(need, sorted(KNOWN_NEEDS), n=1)
            maybe = f"; did you mean {hint[0]!r}?" if hint else ""
            raise where.error(
                node.value[index],
                f"needs[{index}]",
                f"unknown feature {need!r} (known: {', '.join(sorted(KNOWN_NEEDS))}){maybe}; "
                "add new features to KNOWN_NEEDS in farm/cases/manifest.py",
            )
    return needs


def _timeout(where: _Where, node: yaml.Node | None) -> float:
    if node is None:
        return 10.0
    value = _construct(node) if isinstance(node, yaml.ScalarNode) else None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= 3600
    ):
        raise where.error(
            node, "timeout", f"expected seconds between 0 and 3600, got {_kind(node)}"
        )
    return float(value)


def _build(
    where: _Where, node: yaml.Node, *, case_dir: Path, family_dir: Path
) -> tuple[BuildStep, ...]:
    steps = _list(
        where,
        node,
        "build",
        lambda child, sub: _step(where, child, sub, case_dir=case_dir, family_dir=family_dir),
    )
    if not steps:
        raise where.error(node, "build", "needs at least one step")
    _refuse_repeats(
        where, node, [step.output for step in steps], "build[{index}]", "{key!r} is built twice"
    )
    if not any(step.kind is StepKind.PROGRAM for step in steps):
        raise where.error(node, "build", "no step builds a program to run")
    return steps


def _step(
    where: _Where, node: yaml.Node, field: str, *, case_dir: Path, family_dir: Path
) -> BuildStep:
    keys = _mapping(where, node, field, _STEP_KEYS)
    kinds = [kind for kind in StepKind if kind.value in keys]
    if len(kinds) != 1:
        raise where.error(
            node, field, "each step needs exactly one of 'shared: <file>' or 'program: <file>'"
        )
    kind = kinds[0]
    output_field = f"{field}.{kind.value}"
    output = _string(where, keys[kind.value], output_field)
    if not _OUTPUT_RE.fullmatch(output):
        raise where.error(
            keys[kind.value],
            output_field,
            f"{output!r} must be a plain file name (letters, digits, '._+-'), no directories",
        )
    if "sources" not in keys:
        raise where.error(node, field, "missing required key 'sources'")
    sources = _strings(where, keys["sources"], f"{field}.sources")
    if not sources:
        raise where.error(keys["sources"], f"{field}.sources", "needs at least one source")
    for index, source in enumerate(sources):
        assert isinstance(keys["sources"], yaml.SequenceNode)
        _check_source(
            where,
            keys["sources"].value[index],
            f"{field}.sources[{index}]",
            source,
            case_dir=case_dir,
            family_dir=family_dir,
        )
    static = _flag(where, keys.get("static"), f"{field}.static")
    if static and kind is StepKind.SHARED:
        raise where.error(keys["static"], f"{field}.static", "a shared object cannot be static")
    unique = _flag(where, keys.get("unique"), f"{field}.unique")
    if unique and kind is not StepKind.SHARED:
        raise where.error(
            keys["unique"],
            f"{field}.unique",
            "only a shared object can be flagged unique (DF_GNU_1_UNIQUE)",
        )
    return BuildStep(
        kind=kind,
        output=output,
        sources=sources,
        cflags=_strings(where, keys.get("cflags"), f"{field}.cflags"),
        ldflags=_strings(where, keys.get("ldflags"), f"{field}.ldflags"),
        ldlibs=_strings(where, keys.get("ldlibs"), f"{field}.ldlibs"),
        static=static,
        unique=unique,
    )


def _flag(where: _Where, node: yaml.Node | None, field: str) -> bool:
    if node is None:
        return False
    value = _construct(node) if isinstance(node, yaml.ScalarNode) else None
    if not isinstance(value, bool):
        raise where.error(node, field, f"expected true or false, got {_kind(node)}")
    return value


def _detect(
    where: _Where, node: yaml.Node | None, *, case_dir: Path, family_dir: Path
) -> tuple[Detection, ...]:
    detections = _list(
        where,
        node,
        "detect",
        lambda child, sub: _detection(where, child, sub, case_dir=case_dir, family_dir=family_dir),
    )
    _refuse_repeats(
        where,
        node,
        [detection.macro for detection in detections],
        "detect[{index}].macro",
        "{key} is detected twice",
    )
    return detections


def _refuse_repeats(
    where: _Where, node: yaml.Node | None, keys: list[str], field: str, message: str
) -> None:
    """The first entry of the list NODE whose key (one per entry, in KEYS) repeats an
    earlier one is an error; FIELD and MESSAGE are formatted with its index and key."""
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            assert isinstance(node, yaml.SequenceNode)
            raise where.error(node.value[index], field.format(index=index), message.format(key=key))
        seen.add(key)


def _detection(
    where: _Where, node: yaml.Node, field: str, *, case_dir: Path, family_dir: Path
) -> Detection:
    keys = _mapping(where, node, field, _DETECT_KEYS)
    for required in _DETECT_KEYS:
        if required not in keys:
            raise where.error(node, field, f"missing required key {required!r}")
    macro = _string(where, keys["macro"], f"{field}.macro")
    if not _MACRO_RE.fullmatch(macro):
        raise where.error(
            keys["macro"],
            f"{field}.macro",
            f"{macro!r} must look like FARM_NAME (A-Z, 0-9, _)",
        )
    probes_node = keys["probes"]
    if not isinstance(probes_node, yaml.MappingNode) or not probes_node.value:
        raise where.error(
            probes_node,
            f"{field}.probes",
            f"expected a mapping of choice: probe source, got {_kind(probes_node)}",
        )
    probes: list[tuple[str, str]] = []
    for key_node, value_node in probes_node.value:
        choice = _choice(where, key_node, f"{field}.probes")
        if any(choice == seen for seen, _ in probes):
            raise where.error(key_node, f"{field}.probes.{choice}", "duplicate choice")
        source = _string(where, value_node, f"{field}.probes.{choice}")
        _check_source(
            where,
            value_node,
            f"{field}.probes.{choice}",
            source,
            case_dir=case_dir,
            family_dir=family_dir,
        )
        probes.append((choice, source))
    otherwise = _choice(where, keys["otherwise"], f"{field}.otherwise")
    if any(otherwise == choice for choice, _ in probes):
        raise where.error(
            keys["otherwise"], f"{field}.otherwise", f"{otherwise!r} is also a probe's choice"
        )
    return Detection(macro=macro, probes=tuple(probes), otherwise=otherwise)


def _choice(where: _Where, node: yaml.Node, field: str) -> str:
    choice = _string(where, node, field)
    if not _CHOICE_RE.fullmatch(choice):
        raise where.error(
            node, field, f"choice {choice!r} must be upper-case letters, digits and '_'"
        )
    return choice


def _check_source(
    where: _Where, node: yaml.Node, field: str, source: str, *, case_dir: Path, family_dir: Path
) -> None:
    """Sources are relative to the case directory and may share a sibling case's file, but
    must stay in the family: the script copies only the family and common/ to the scratch
    directory."""
    if source.startswith("/"):
        raise where.error(node, field, f"{source!r} must be relative to the case directory")
    resolved = (case_dir / source).resolve()
    if not resolved.is_relative_to(family_dir.resolve()):
        raise where.error(node, field, f"{source!r} leaves the family directory {family_dir.name}/")
    if not resolved.is_file():
        raise where.error(node, field, f"{source!r} does not exist in {case_dir}")


def _run(where: _Where, node: yaml.Node, steps: tuple[BuildStep, ...]) -> RunSpec:
    keys = _mapping(where, node, "run", _RUN_KEYS)
    if "argv" not in keys:
        raise where.error(node, "run", "missing required key 'argv'")
    argv = _strings(where, keys["argv"], "run.argv")
    programs = [f"./{step.output}" for step in steps if step.kind is StepKind.PROGRAM]
    if not argv or argv[0] not in programs:
        raise where.error(
            keys["argv"],
            "run.argv",
            f"argv[0] must be a program the build makes ({', '.join(programs)}), "
            f"got {argv[0] if argv else 'nothing'!r}",
        )
    env: list[tuple[str, str]] = []
    if "env" in keys:
        env_node = keys["env"]
        if not isinstance(env_node, yaml.MappingNode):
            raise where.error(env_node, "run.env", f"expected a mapping, got {_kind(env_node)}")
        seen: set[str] = set()
        for key_node, value_node in env_node.value:
            name = _string(where, key_node, "run.env")
            if not _ENV_NAME_RE.fullmatch(name):
                raise where.error(key_node, f"run.env.{name}", "not a valid variable name")
            if name in seen:
                raise where.error(key_node, f"run.env.{name}", "duplicate variable")
            seen.add(name)
            value = _construct(value_node) if isinstance(value_node, yaml.ScalarNode) else None
            if not isinstance(value, str):
                raise where.error(
                    value_node,
                    f"run.env.{name}",
                    f"expected a string, got {_kind(value_node)}; quote the value",
                )
            env.append((name, value))
    return RunSpec(argv=argv, env=tuple(sorted(env)))


def _expectation(
    where: _Where, expect_node: yaml.Node | None, signals_node: yaml.Node | None
) -> tuple[Expectation, tuple[str, ...]]:
    expect = Expectation.PASS
    if expect_node is not None:
        text = _string(where, expect_node, "expect")
        try:
            expect = Expectation(text)
        except ValueError:
            choices = ", ".join(e.value for e in Expectation)
            raise where.error(expect_node, "expect", f"{text!r} is not one of {choices}") from None
    signals = _strings(where, signals_node, "crash_signals")
    if expect is Expectation.CRASH and not signals:
        raise where.error(
            expect_node,
            "crash_signals",
            "expect: crash needs crash_signals, the signals that count (e.g. [SIGSEGV])",
        )
    if expect is not Expectation.CRASH and signals:
        raise where.error(signals_node, "crash_signals", "only meaningful with expect: crash")
    for index, name in enumerate(signals):
        if name not in CRASH_SIGNALS:
            assert isinstance(signals_node, yaml.SequenceNode)
            raise where.error(
                signals_node.value[index],
                f"crash_signals[{index}]",
                f"{name!r} is not one of {', '.join(sorted(CRASH_SIGNALS))}",
            )
    return expect, signals
