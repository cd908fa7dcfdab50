"""YAML into plain JSON values from libyaml's parser events, a value at a time.

Why events, not PyYAML's ``construct_document``: PyYAML composes a whole document into a node
graph before constructing anything, and a node costs about 400 bytes (the node, its tag and two
marks), 200 times the two bytes of ``a,`` in ``[a,a,a,...]``; an 8 MiB file took 537 MiB. Here
each event becomes a value as it comes (PyYAML's YAML 1.1 resolver and scalar constructors, on
libyaml's parser), so what is alive is the values read so far and a stack as deep as the
nesting, all counted against the revision's budget.

Refused, each at its line: anchors and aliases (the whole document, at the first one, so a
"billion laughs" is never expanded), merge keys, duplicate keys, keys that are null or floats
(kubectl refuses the one and renames the other) or that JSON names alike (``1`` and ``"1"``),
tags with no JSON form (``!!binary``, ``!!set``, ``!!omap``, ``!!pairs``) or unknown
(``!Ref``), a scalar its tag does not fit (``!!int abc``), non-finite floats, integers of more
than 4300 digits, and control characters (libyaml refuses them, as YAML does).
"""

from __future__ import annotations

import bisect
import contextlib
import math
from array import array
from collections.abc import Callable, Hashable
from typing import Any, Final, Protocol

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from reloader.core.decoding import (
    ALIASES_REFUSED,
    BIG_INT,
    INT_BOUND,
    MAX_INT_DIGITS,
    NOT_FINITE,
    Budget,
    Decoded,
    Stop,
    is_v1_list,
    json_name,
    shown,
    tag_name,
)

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

_Y = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (f"{_Y}{t}" for t in ("str", "null", "bool", "int", "float"))
_SEQ, _MAP, _MERGE = f"{_Y}seq", f"{_Y}map", f"{_Y}merge"
_AS_STRING = {_STR, f"{_Y}timestamp", f"{_Y}value"}  # kubectl's go-yaml keeps these as text
_NULLS = {"", "~", "null", "Null", "NULL"}
_NO_JSON = {
    f"{_Y}binary": "write base64 text (binaryData takes it as is)",
    f"{_Y}set": "use a sequence",
    f"{_Y}omap": "use a mapping",
    f"{_Y}pairs": "use a sequence of mappings",
}
_INVALID: Final = object()  # a value already reported; its document is refused
_NO_KEY: Final = object()  # a mapping waits for a key


class _Loader(_BaseLoader):
    """libyaml's parser with PyYAML's YAML 1.1 resolver and scalar constructors."""


def _no_json(tag: str) -> str:
    return (
        f"invalid value: {tag_name(tag)} is not allowed (JSON has no such value): {_NO_JSON[tag]}"
    )


def _refused_scalar(tag: str) -> str:
    if tag == _NULL:
        return "invalid value: not a valid !!null"
    if tag in _NO_JSON:
        return _no_json(tag)
    if tag == _MERGE:
        return "invalid value: a plain << (a merge key) is not allowed as a value: quote it"
    if tag in (_SEQ, _MAP):
        return f"invalid value: {tag_name(tag)} cannot be a scalar"
    return f"invalid value: could not determine a constructor for the tag {tag_name(tag)!r}"


class _Map:
    __slots__ = ("json_keys", "key", "line", "value")

    def __init__(self, value: dict[Hashable, Any], line: int) -> None:
        self.value, self.line = value, line
        self.key: Any = _NO_KEY
        self.json_keys: set[str] | None = None  # of keys that are not strings, once there is one


class _Seq:
    __slots__ = ("line", "value")

    def __init__(self, value: list[Any], line: int) -> None:
        self.value, self.line = value, line


_ODD_BREAKS = ("\x85", "\u2028", "\u2029")  # NEL, LS, PS: line breaks to YAML 1.1 alone


class _Mark(Protocol):
    line: int
    index: int


class _LineOf:
    """Lines as editors and forges number them, by ``\n``: libyaml also breaks lines at NEL,
    LS and PS, which would shift every later line of a file holding one. Only such a file
    pays for a map of its newlines (marks carry the character index)."""

    def __init__(self, text: str | bytes) -> None:
        odd = [b.encode() for b in _ODD_BREAKS] if isinstance(text, bytes) else _ODD_BREAKS
        self._newlines: list[int] | None = None
        if any(b in text for b in odd):  # type: ignore[operator]
            chars = text.decode(errors="replace") if isinstance(text, bytes) else text
            self._newlines = [i for i, c in enumerate(chars) if c == "\n"]

    def __call__(self, mark: _Mark | None) -> int:
        if mark is None:
            return 1
        if self._newlines is None:
            return int(mark.line) + 1
        return bisect.bisect_left(self._newlines, mark.index) + 1


class _YamlReader:
    """Builds each document from parser events, refusing what has no JSON form as it goes.

    A document's problems wait until it ends: one with an anchor or alias anywhere reports only
    that, as before an alias is expanded nothing of it is built.
    """

    def __init__(self, loader: _Loader, budget: Budget, out: Decoded, *, line_of: _LineOf) -> None:
        self.loader, self.budget, self.out, self.line_of = loader, budget, out, line_of
        self.handlers: dict[type[Event], Callable[[Any], None]] = {
            ScalarEvent: self._scalar,
            SequenceStartEvent: self._start,
            MappingStartEvent: self._start,
            SequenceEndEvent: self._end,
            MappingEndEvent: self._end,
            AliasEvent: self._alias,
            DocumentEndEvent: self._finish,
        }
        self._reset()

    def _reset(self) -> None:
        self.stack: list[_Map | _Seq] = []
        self.skipping = 0  # inside a refused container: how deep
        self.root: Any = None
        self.root_line = 1
        self.item_lines = array("l")  # of the mappings in the root's "items", in order
        self.pending: list[tuple[int, str]] = []  # this document's problems
        self.anchor = 0  # the line of this document's first anchor or alias

    def run(self) -> None:
        get, handlers = self.loader.get_event, self.handlers
        while True:
            event: Any = get()
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
            elif isinstance(event, StreamEndEvent):
                return

    def syntax_error(self, line: int, message: str) -> None:
        """A syntax error ends the file; in a document with an anchor, the anchor is reported."""
        self._report(self.anchor or line, ALIASES_REFUSED if self.anchor else message)

    def _finish(self, _: DocumentEndEvent) -> None:
        if self.anchor:
            self._report(self.anchor, ALIASES_REFUSED)
        elif self.pending:
            for line, message in self.pending:
                self._report(line, message)
        elif self.root is not None:
            if not self.budget.take_objects(self.root):
                raise Stop(self.root_line)
            self.out.documents.append((self.root_line, self.root, self._item_lines()))
        self._reset()

    def _item_lines(self) -> dict[int, int]:
        """The lines of a ``v1`` ``List``'s items, by ``id()``."""
        if not is_v1_list(self.root) or not isinstance(items := self.root["items"], list):
            return {}
        mappings = (item for item in items if isinstance(item, dict))
        return {id(item): line for item, line in zip(mappings, self.item_lines, strict=False)}

    def _report(self, line: int, message: str) -> None:
        problems = self.out.problems
        problems.append((line, message))
        if len(problems) >= self.budget.problems:
            problems.append((line, f"reading stopped after {len(problems)} problems in this file"))
            raise Stop

    def _problem(self, line: int, message: str) -> None:
        self.pending.append((line, message))
        if len(self.pending) + len(self.out.problems) >= self.budget.problems:
            for pending in self.pending:
                self._report(*pending)  # raises Stop at the last one

    def _take(self, line: int) -> None:
        if not self.budget.take():
            raise Stop(line)

    def _alias(self, event: AliasEvent) -> None:
        self.anchor = self.anchor or self.line_of(event.start_mark)

    def _scalar(self, event: ScalarEvent) -> None:
        line = self.line_of(event.start_mark)
        if event.anchor is not None:
            self.anchor = self.anchor or line
        if self.anchor or self.skipping:
            return
        self._take(line)
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(  # type: ignore[no-untyped-call]
                yaml.ScalarNode, event.value, event.implicit
            )
        top = self.stack[-1] if self.stack else None
        if tag == _MERGE and isinstance(top, _Map) and top.key is _NO_KEY:
            self._problem(line, "merge keys (<<) are not allowed")
            self._add(_INVALID, line)
        else:
            self._add(self._construct(tag, event.value, line), line)

    def _construct(self, tag: str, text: str, line: int) -> Any:
        if tag in _AS_STRING:
            return text
        if tag in (_BOOL, _INT, _FLOAT):
            return self._number(tag, text, line)
        if tag == _NULL and text in _NULLS:
            return None
        self._problem(line, _refused_scalar(tag))
        return _INVALID

    def _number(self, tag: str, text: str, line: int) -> Any:
        digits = len(text.replace("_", "").lstrip("+-"))
        if tag == _INT and digits > MAX_INT_DIGITS + 2:  # "0x": more digits than allowed
            self._problem(line, BIG_INT)  # before int(), which is quadratic in base 60
            return _INVALID
        node, loader = yaml.ScalarNode(tag, text), self.loader
        try:
            if tag == _BOOL:
                return loader.construct_yaml_bool(node)
            construct = loader.construct_yaml_int if tag == _INT else loader.construct_yaml_float
            value: int | float = construct(node)
        except (ValueError, LookupError):  # "!!int abc": its message would quote abc
            big = tag == _INT and digits > MAX_INT_DIGITS  # int() refuses more digits
            self._problem(line, BIG_INT if big else f"invalid value: not a valid {tag_name(tag)}")
            return _INVALID
        if isinstance(value, float) and not math.isfinite(value):
            self._problem(line, NOT_FINITE)
            return _INVALID
        if isinstance(value, int) and not -INT_BOUND < value < INT_BOUND:
            self._problem(line, BIG_INT)
            return _INVALID
        return value

    def _start(self, event: SequenceStartEvent | MappingStartEvent) -> None:
        line = self.line_of(event.start_mark)
        if event.anchor is not None:
            self.anchor = self.anchor or line
        if self.anchor:
            return
        if self.skipping:
            self.skipping += 1
            return
        self._take(line)
        mapping = isinstance(event, MappingStartEvent)
        refused = self._containertag_name(event.tag, mapping)
        if not refused and len(self.stack) >= self.budget.depth:
            refused = f"nested more than {self.budget.depth} levels deep"
        if refused:
            self._problem(line, refused)
            self.skipping = 1
            return
        stack = self.stack
        if mapping:
            value: dict[Hashable, Any] = {}
            if len(stack) == 2 and isinstance(stack[0], _Map) and stack[0].key == "items":
                self.item_lines.append(line)  # a List's item, perhaps
            stack.append(_Map(value, line))
        else:
            stack.append(_Seq([], line))

    @staticmethod
    def _containertag_name(tag: str | None, mapping: bool) -> str:
        """Why a sequence's or mapping's explicit tag is refused ("" when it is not)."""
        if tag is None or tag in ("!", _MAP if mapping else _SEQ):
            return ""
        if tag in _NO_JSON:
            return _no_json(tag)
        if tag.startswith(_Y):
            kind = "mapping" if mapping else "sequence"
            return f"invalid value: {tag_name(tag)} cannot be a {kind}"
        return f"invalid value: could not determine a constructor for the tag {tag_name(tag)!r}"

    def _end(self, event: SequenceEndEvent | MappingEndEvent) -> None:
        if self.anchor:
            return
        if self.skipping:
            self.skipping -= 1
            if not self.skipping:
                self._add(_INVALID, self.line_of(event.start_mark))
            return
        frame = self.stack.pop()
        self._add(frame.value, frame.line)

    def _add(self, value: Any, line: int) -> None:
        stack = self.stack
        if not stack:
            self.root, self.root_line = value, line
            return
        top = stack[-1]
        if isinstance(top, _Seq):
            top.value.append(value)
        elif top.key is _NO_KEY:
            top.key = self._key(top, value, line)
        else:
            if top.key is not _INVALID:
                top.value[top.key] = value
            top.key = _NO_KEY

    def _key(self, frame: _Map, key: Any, line: int) -> Any:
        """The key, once checked: a scalar that JSON (and kubectl) writes as a name of its own."""
        if key is _INVALID:
            return _INVALID
        if isinstance(key, dict | list):
            self._problem(line, "mapping keys must be scalars")
            return _INVALID
        if key is None or isinstance(key, float):
            kind = "null" if key is None else "a float"
            self._problem(line, f"mapping keys must be strings, integers or booleans, not {kind}")
            return _INVALID
        mapping, others = frame.value, frame.json_keys
        if key in mapping:
            self._problem(line, f"duplicate key {shown(key)}")
            return _INVALID
        name = json_name(key)
        if isinstance(key, str):
            clash = others is not None and name in others
        else:
            clash = name in mapping or (others is not None and name in others)
            if others is None:
                frame.json_keys = others = set()
            others.add(name)
        if clash:
            self._problem(line, f"duplicate key {shown(name)} once written as JSON")
            return _INVALID
        return key


def read_yaml(text: str | bytes, budget: Budget) -> Decoded:
    """Every document of a YAML stream; a syntax error ends it, keeping earlier documents.

    Given bytes (UTF-8), libyaml reads them as they are: no str of the whole file is made.
    """
    out = Decoded()
    line_of = _LineOf(text)
    loader: _Loader | None = None
    reader: _YamlReader | None = None
    try:
        loader = _Loader(text)
        reader = _YamlReader(loader, budget, out, line_of=line_of)
        reader.run()
    except Stop as stop:
        if stop.args:  # the revision's budget ran out here
            out.problems.append((stop.args[0], budget.exhausted))
    except yaml.MarkedYAMLError as error:
        mark, context = error.problem_mark or error.context_mark, error.context or ""
        message = f"invalid YAML: {context}{': ' if context else ''}{error.problem}"
        _syntax_error(reader, out, line_of(mark), message)
    except yaml.reader.ReaderError as error:  # a control character, or not UTF-8
        data = text if isinstance(text, bytes) else text.encode(errors="replace")
        line = data.count(b"\n", 0, error.position) + 1  # a position in bytes
        message = f"invalid YAML: character #x{error.character:04x}: {error.reason}"
        _syntax_error(reader, out, line, message)
    finally:
        if loader is not None:
            loader.dispose()
    return out


def _syntax_error(reader: _YamlReader | None, out: Decoded, line: int, message: str) -> None:
    if reader is None:  # the pure-Python reader checks the whole text on creation
        out.problems.append((line, message))
        return
    with contextlib.suppress(Stop):  # the file's last problem, whatever the count
        reader.syntax_error(line, message)
