"""What YAML and JSON decoding share: the revision's budget, and what text and values may be.

A manifest is decoded into plain JSON values, what ``json.dumps(..., allow_nan=False)`` can
write and the API server reads the same way: dicts, lists, str, int, finite float, bool and
None. Everything else is refused where it is written (:mod:`reloader.core.decoding_yaml`,
:mod:`reloader.core.decoding_json`), so ``reloader validate`` and the GitOps loop, which share
this, refuse the same revisions, and nothing fails later as an internal error.

What a revision holds is counted against one :class:`Budget` while it is decoded, so reading
stops at the value or object over a limit, before its memory is spent: a value costs 30 to 100
bytes of Python objects whether it took 2 or 20 bytes of text.

Messages never quote a scalar's text (it may be a Secret's): they name the tag, the type and the
line. Mapping keys are quoted (shortened): they are field names, and the problem is about them.
"""

from __future__ import annotations

import codecs
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Final

ALIASES_REFUSED = "YAML aliases/anchors are not allowed"
MAX_INT_DIGITS = 4300
"""Python's default ``int`` <-> ``str`` limit: a longer integer cannot be written as JSON."""

Found = tuple[int, Any, dict[int, int]]
"""A document: its line, its value, and the lines of its items if it is a ``v1`` ``List``,
by ``id()`` (valid while the value is alive)."""


@dataclass
class Budget:
    """What the rest of a revision may hold; reading stops at whatever goes over it."""

    values: int
    """Scalars, sequences and mappings (keys included) still allowed."""
    depth: int
    """How deeply values may nest."""
    problems: int
    """Problems reported per file before reading it stops."""
    objects: int
    """Objects (manifests) still allowed."""
    values_limit: int = 0
    """The revision's limit on values, for the message."""
    objects_limit: int = 0
    """The revision's limit on objects, for the message."""
    exhausted: str = ""
    """Why reading stopped, once the revision went over its budget (then nothing more is read)."""

    def take_objects(self, value: Any) -> bool:
        """Charge a document's objects; False (``exhausted`` says why) when they do not fit."""
        self.objects -= objects_in(value)
        if self.objects >= 0:
            return True
        limit = self.objects_limit
        self.exhausted = f"the revision holds more than {limit:,} objects; refused here"
        return False

    def take(self) -> bool:
        """Charge one value; False (and ``exhausted`` says why) when there was none left."""
        self.values -= 1
        if self.values >= 0:
            return True
        self.exhausted = (
            f"the revision holds more than {self.values_limit:,} values (scalars, sequences and "
            "mappings, keys included); refused here"
        )
        return False


def is_v1_list(value: Any) -> bool:
    """A ``v1`` ``List``: kubectl applies its items, each an object of its own."""
    if not isinstance(value, dict):
        return False
    return value.get("kind") == "List" and value.get("apiVersion") == "v1"


def objects_in(value: Any) -> int:
    """How many objects a document makes: itself, or a List's items (0 if it is refused)."""
    if not is_v1_list(value):
        return int(isinstance(value, dict))
    items = value.get("items") or []
    return sum(isinstance(item, dict) for item in items) if isinstance(items, list) else 0


class Stop(Exception):
    """Reading of this file stops: a limit was crossed (already reported)."""


@dataclass
class Decoded:
    """One file's documents and its problems, each problem at its 1-based line."""

    documents: list[Found] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)


def shown(key: object) -> str:
    """A mapping key for a message: its repr, shortened."""
    text = repr(key)
    return text if len(text) <= 60 else f"{text[:50]}...{text[-6:]}"


def tag_name(tag: str) -> str:
    short = tag.replace("tag:yaml.org,2002:", "!!")
    return short if len(short) <= 40 else short[:37] + "..."


def _int_bound() -> int:
    digits = min(MAX_INT_DIGITS, sys.get_int_max_str_digits() or MAX_INT_DIGITS)
    return int(10**digits)


INT_BOUND: Final = _int_bound()
BIG_INT = f"invalid value: an integer of more than {MAX_INT_DIGITS} digits is not allowed"
NOT_FINITE = "invalid value: a float that is not finite (.inf, .nan, out of range) is not allowed"
SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_UTF8 = "not UTF-8 text"
_CHUNK = 1 << 16


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


class Lines:
    """Lines of increasing positions in one text, counted once over the whole scan."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1

    def at(self, pos: int) -> int:
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def not_text(text: str | bytes) -> tuple[int, str] | None:
    """Where ``text`` is not what a UTF-8 file holds, and why; checked without decoding it
    whole, as a str of a whole file costs 4 bytes a character if one character is wide."""
    if isinstance(text, str):
        found = SURROGATE.search(text)
        if found is None:
            return None
        return line_of(text, found.start()), f"{_NOT_UTF8} (a lone surrogate)"
    if text.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # libyaml would read it
        return 1, f"{_NOT_UTF8} (a UTF-16 or UTF-32 byte order mark)"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(text), _CHUNK):
            decoder.decode(text[start : start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as error:  # again, whole: only now its position is needed
            return text.count(b"\n", 0, error.start) + 1, f"{_NOT_UTF8} ({error.reason})"
    return None


def text_of(data: str | bytes) -> str:
    """A UTF-8 file's text, with newlines as a text-mode read gives them (CR LF, CR: LF)."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def json_name(key: object) -> str:
    """The name ``json.dumps`` writes for a key (and kubectl for a bool or int key)."""
    return key if isinstance(key, str) else json.dumps(key)
