"""Reading YAML while remembering where every value came from.

PyYAML's plain ``safe_load`` forgets line numbers, and a user who mistyped a key in a
200-line scenario deserves ``scenarios/x.yaml:42: series[1].mbox: ...``. So the scenario
loader walks composed YAML nodes through :class:`Node`, whose accessors check the type and
raise :class:`~farm.errors.ScenarioError` naming file, line and key path on any mismatch.
"""

from __future__ import annotations

import datetime
import difflib
import math
import stat
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NoReturn

import yaml

from farm.errors import ScenarioError

#: Scenario files are small; anything larger is a mistake or an attack on the loader.
MAX_FILE_BYTES = 1 << 20
#: Error messages quote the offending value; a 1 MiB value must not become a 1 MiB message.
MAX_MESSAGE_CHARS = 600

_TAG_NAMES = {
    "tag:yaml.org,2002:str": "a string",
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true/false",
    "tag:yaml.org,2002:null": "nothing (null)",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:map": "a mapping",
    "tag:yaml.org,2002:seq": "a list",
    "tag:yaml.org,2002:merge": "a YAML merge key (<<; write the keys out instead)",
}

#: YAML 1.1 booleans, as PyYAML resolves them (``yes``/``on`` included), by lower case.
_BOOLEANS = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}


class Node:
    """A YAML node plus the file it came from and the key path that led to it."""

    __slots__ = ("_node", "file", "keypath")

    def __init__(self, node: yaml.Node, file: str, keypath: str) -> None:
        self._node = node
        self.file = file
        self.keypath = keypath

    # -- loading -------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> Node:
        """Compose ``path`` into a root node; unreadable or malformed YAML is a ScenarioError."""
        shown = _printable(str(path))
        try:
            # stat first: /dev/zero or a FIFO given by mistake must not be read forever.
            if not stat.S_ISREG(path.stat().st_mode):
                raise ScenarioError(f"{shown}: not a regular file; a scenario is a YAML file")
            with path.open("rb") as stream:
                raw = stream.read(MAX_FILE_BYTES + 1)
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or error
            raise ScenarioError(f"{shown}: cannot read: {reason}") from None
        return cls.parse(raw, shown)

    @classmethod
    def parse(cls, raw: bytes, shown: str) -> Node:
        if len(raw) > MAX_FILE_BYTES:
            raise ScenarioError(
                f"{shown}: more than {MAX_FILE_BYTES} bytes is too large for a scenario; "
                "is this the right file?"
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            at_line = raw.count(b"\n", 0, error.start) + 1
            raise ScenarioError(
                f"{shown}:{at_line}: not UTF-8 text (byte {error.start}); a scenario is a YAML file"
            ) from None
        if "\x00" in text:
            at_line = text.count("\n", 0, text.index("\x00")) + 1
            raise ScenarioError(f"{shown}:{at_line}: contains NUL bytes; a scenario is a YAML file")
        try:
            nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = f"{mark.line + 1}:" if mark is not None else ""
            problem = error.problem or error.context or "malformed YAML"
            raise ScenarioError(f"{shown}:{line} invalid YAML: {problem}") from None
        except yaml.reader.ReaderError as error:
            # Its own message says "<unicode string>, position N"; a line number helps more.
            line_number = text.count("\n", 0, error.position) + 1
            character = error.character
            code = f"#x{character:04x}" if isinstance(character, int) else repr(character)
            raise ScenarioError(
                f"{shown}:{line_number}: invalid YAML: unacceptable character {code} "
                "(YAML allows no control characters); a scenario is plain text"
            ) from None
        except yaml.YAMLError as error:
            raise ScenarioError(f"{shown}: invalid YAML: {error}") from None
        except RecursionError:
            raise ScenarioError(f"{shown}: YAML nested too deeply") from None
        if not nodes or nodes[0] is None:
            raise ScenarioError(f"{shown}:1: the file is empty; expected a scenario mapping")
        if len(nodes) > 1:
            second = nodes[1].start_mark.line + 1
            raise ScenarioError(f"{shown}:{second}: one scenario per file; found a second document")
        return cls(nodes[0], shown, "")

    # -- location ------------------------------------------------------------------------

    @property
    def line(self) -> int:
        return int(self._node.start_mark.line) + 1

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def fail(self, message: str) -> NoReturn:
        """Raise a ScenarioError located at this node."""
        key = f" {self.keypath}:" if self.keypath else ""
        raise ScenarioError(_printable(f"{self.where}:{key} {message}"))

    def _child(self, node: yaml.Node, key: str | int) -> Node:
        if isinstance(key, int):
            path = f"{self.keypath}[{key}]"
        else:
            # An unknown key is quoted in the key path; show it as text, whatever it holds.
            key = key if key.isidentifier() else repr(key[:60])
            path = f"{self.keypath}.{key}" if self.keypath else key
        return Node(node, self.file, path)

    def _kind(self) -> str:
        return _TAG_NAMES.get(self._node.tag, f"a value tagged {self._node.tag}")

    # -- typed accessors -----------------------------------------------------------------

    def mapping(
        self,
        *,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
    ) -> dict[str, Node]:
        """The node as a mapping with exactly the allowed keys.

        Unknown keys are rejected with a "did you mean" suggestion; duplicate keys (which
        YAML itself silently lets the last one win) are rejected too.
        """
        if not isinstance(self._node, yaml.MappingNode):
            self.fail(f"expected a mapping, got {self._kind()}")
        required = tuple(required)
        allowed = (*required, *optional)
        children: dict[str, Node] = {}
        for key_node, value_node in self._node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                Node(key_node, self.file, self.keypath).fail(
                    f"keys must be plain strings, got {Node(key_node, '', '')._kind()}"
                )
            key = str(key_node.value)
            key_here = Node(key_node, self.file, self._child(key_node, key).keypath)
            if key in children:
                key_here.fail(f"duplicate key (first given on line {children[key].line})")
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                key_here.fail(f"unknown key{hint} (allowed: {', '.join(sorted(allowed))})")
            children[key] = self._child(value_node, key)
        missing = [key for key in required if key not in children]
        if missing:
            self.fail(f"missing required key '{missing[0]}'")
        return children

    def one_of(self, choices: Sequence[str]) -> tuple[str, Node]:
        """A mapping with exactly one key out of ``choices`` (a tagged union)."""
        children = self.mapping(optional=choices)
        if len(children) != 1:
            given = ", ".join(children) or "none"
            self.fail(f"expected exactly one of: {', '.join(choices)} (given: {given})")
        ((key, value),) = children.items()
        return key, value

    def sequence(self, *, non_empty: bool = False) -> list[Node]:
        if not isinstance(self._node, yaml.SequenceNode):
            self.fail(f"expected a list, got {self._kind()}")
        items = [self._child(item, index) for index, item in enumerate(self._node.value)]
        if non_empty and not items:
            self.fail("expected a non-empty list")
        return items

    def string(self, *, non_empty: bool = True, multiline: bool = False) -> str:
        """A string; only ``multiline`` prose (a description) may hold newlines and tabs."""
        if not isinstance(self._node, yaml.ScalarNode) or self._node.tag != _STR_TAG:
            self.fail(f"expected a string, got {self._kind()}")
        value = self._text(multiline=multiline)
        if non_empty and not value.strip():
            self.fail("expected a non-empty string")
        return value

    def scalar_text(self) -> str:
        """A scalar as text whatever YAML resolved it to (versions like ``2.36`` are floats)."""
        if not isinstance(self._node, yaml.ScalarNode) or self._node.tag in (_NULL_TAG,):
            self.fail(f"expected a value, got {self._kind()}")
        return self._text()

    def _text(self, *, multiline: bool = False) -> str:
        """The scalar's text, refusing what YAML escapes can smuggle into a quoted string.

        ``"\\0"`` would reach ``open()`` as an embedded NUL and ``"\\ud800"`` cannot be
        written to a UTF-8 report: both are refused here, where the line is known. So is
        every other control character (``"\\n"``, ``"\\r"``, ``"\\x1b"``, U+2028, a
        bidi override): scenario strings reach Dockerfiles, shell lines, sources.list and
        reports, where a line break becomes a new instruction. This is the one place that
        refuses them, so no later consumer has to remember to.
        """
        value = str(self._node.value)
        if "\x00" in value:
            self.fail("contains a NUL character (\\0); remove it")
        if problem := control_character(value, allow="\n\t" if multiline else ""):
            self.fail(
                f"contains the control character {problem}; scenario values end up in "
                "Dockerfiles, shell lines and config files, where it could start a new line. "
                "Remove it"
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            self.fail(
                f"contains {value[error.start]!r}, a lone UTF-16 surrogate that is not text; "
                "remove the \\u escape"
            )
        return value

    def string_list(self, *, non_empty: bool = False) -> tuple[str, ...]:
        return tuple(item.string() for item in self.sequence(non_empty=non_empty))

    def boolean(self) -> bool:
        if not isinstance(self._node, yaml.ScalarNode) or self._node.tag != _BOOL_TAG:
            self.fail(f"expected true or false, got {self._kind()}")
        # A table, not yaml.safe_load: an explicit "!!bool nonsense" must not read as true.
        value = _BOOLEANS.get(str(self._node.value).lower())
        if value is None:
            self.fail(f"expected true or false, got {self._node.value!r}")
        return value

    def number(self, *, minimum: float | None = None, maximum: float | None = None) -> float:
        if not isinstance(self._node, yaml.ScalarNode) or self._node.tag not in (
            _INT_TAG,
            _FLOAT_TAG,
        ):
            self.fail(f"expected a number, got {self._kind()}")
        constructor = yaml.constructor.SafeConstructor()
        try:
            # An explicit "!!int abc" has the right tag and still is not a number; a 400-digit
            # integer is one but overflows a float.
            if self._node.tag == _INT_TAG:
                value = float(constructor.construct_yaml_int(self._node))
            else:
                value = float(constructor.construct_yaml_float(self._node))
        except (ValueError, OverflowError, yaml.YAMLError):
            self.fail(f"expected a number, got {self._node.value!r}")
        if not math.isfinite(value):
            self.fail(f"expected a finite number, got {self._node.value}")
        if minimum is not None and not value >= minimum:
            self.fail(f"expected a number >= {minimum:g}, got {self._node.value}")
        if maximum is not None and not value <= maximum:
            self.fail(f"expected a number <= {maximum:g}, got {self._node.value}")
        return value

    def integer(self, *, minimum: int, maximum: int) -> int:
        """A whole number in [minimum, maximum]: ``2``, not ``2.0`` or ``"2"``."""
        if not isinstance(self._node, yaml.ScalarNode) or self._node.tag != _INT_TAG:
            shown = repr(self._node.value) if self._node.tag == _STR_TAG else self._kind()
            if self._node.tag == _FLOAT_TAG:
                shown = str(self._node.value)
            self.fail(f"expected a whole number from {minimum} to {maximum}, got {shown}")
        try:
            value = int(yaml.constructor.SafeConstructor().construct_yaml_int(self._node))
        except (ValueError, yaml.YAMLError):
            self.fail(f"expected a whole number, got {self._node.value!r}")
        if not minimum <= value <= maximum:
            self.fail(f"expected a whole number from {minimum} to {maximum}, got {value}")
        return value

    def date(self) -> datetime.date:
        if isinstance(self._node, yaml.ScalarNode) and self._node.tag in (_TIMESTAMP_TAG, _STR_TAG):
            try:
                return datetime.date.fromisoformat(str(self._node.value))
            except ValueError:
                self.fail(f"expected a date as YYYY-MM-DD, got {self._node.value!r}")
        self.fail(f"expected a date as YYYY-MM-DD, got {self._kind()}")


def control_character(text: str, *, allow: str = "") -> str | None:
    """Describe the first control character of ``text`` (not in ``allow``), or None.

    The one definition of "a character no scenario value may hold", shared by the loader,
    the renderer's last check and the series URL given on the command line.
    """
    for index, char in enumerate(text):
        if char in allow:
            continue
        if unicodedata.category(char) in _CONTROL_CATEGORIES or char in _BIDI_CONTROLS:
            name = unicodedata.name(char, "") or _CONTROL_NAMES.get(char, "control character")
            return f"U+{ord(char):04X} ({name.lower()}) at character {index + 1}"
    return None


def _printable(message: str) -> str:
    """``message`` made safe to print: valid UTF-8 and of a bounded length.

    Messages quote the user's values; a surrogate (from a ``\\u`` escape or an undecodable
    file name) would make printing the error raise, and a huge value would bury the point.
    """
    text = message.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > MAX_MESSAGE_CHARS:
        cut = len(text) - MAX_MESSAGE_CHARS
        text = f"{text[: MAX_MESSAGE_CHARS - 100]} [... {cut} characters ...] {text[-100:]}"
    return text


#: Unicode categories of characters that no scenario value needs: Cc (C0, DEL, C1 such as
#: NEL), Zl and Zp (U+2028, U+2029, which ``str.splitlines`` and some editors break on).
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
#: Bidirectional overrides and isolates, which make text display unlike what it is.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CONTROL_NAMES = {"\n": "newline", "\r": "carriage return", "\t": "tab", "\x1b": "escape"}

_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
