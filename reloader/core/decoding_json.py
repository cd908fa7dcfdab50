"""JSON into plain JSON values with :mod:`json`, refusing what JSON proper cannot hold.

:mod:`json`, not libyaml, as libyaml refuses some valid JSON (surrogate pairs), and YAML 1.1
would read some scalars differently. json accepts more than JSON, and its hooks note what is
refused: ``NaN``, ``Infinity``, ``1e999`` (infinite), integers of more than 4300 digits, lone
``\\udXXX`` surrogates, duplicate keys (json keeps the last). json gives no positions, so the
lines of what is refused, and of a ``v1`` ``List``'s items, come from scans of the text done
only when needed; the scans keep a stack as deep as the nesting, never a list of every object.
Values are counted against the revision's budget by a scan before json builds any.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from reloader.core.decoding import (
    BIG_INT,
    MAX_INT_DIGITS,
    NOT_FINITE,
    SURROGATE,
    Budget,
    Decoded,
    Lines,
    line_of,
    shown,
)

_JSON_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_JSON_VALUES = re.compile(rf'{_JSON_STRING}|[\[{{]|[\]}}]|[^\s,:\[\]{{}}"]+')
_JSON_STRUCTURE = re.compile(rf"{_JSON_STRING}|[{{}}:]")
_JSON_NESTING = re.compile(rf"{_JSON_STRING}|[{{}}\[\]:]")
_JSON_LITERALS = re.compile(rf'{_JSON_STRING}|[^\s,:\[\]{{}}"]+')
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_FIRST = re.compile(r"\S")


class _JsonHooks:
    """json.loads hooks: what they refuse is noted here and located afterwards by a scan."""

    def __init__(self) -> None:
        self.closed = 0
        self.duplicates: dict[int, set[int]] = {}  # object (in closing order): its pairs again
        self.literals = False  # NaN, Infinity, an out-of-range float or a huge integer

    def mapping(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)  # the last value wins, as json does; the revision is refused anyway
        if len(obj) < len(pairs):
            seen: set[str] = set()
            again: set[int] = set()
            for index, (key, _) in enumerate(pairs):
                if key in seen:
                    again.add(index)
                seen.add(key)
            self.duplicates[self.closed] = again
        self.closed += 1
        return obj

    def constant(self, _: str) -> None:
        self.literals = True

    def floating(self, text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            self.literals = True
        return value

    def integer(self, text: str) -> int:
        if len(text) - text.startswith("-") > MAX_INT_DIGITS:
            self.literals = True
            return 0
        return int(text)


def _refused_literal(token: str) -> str:
    """Why json's reading of a bare token (a number, a constant) is refused ("" when not)."""
    if token in ("NaN", "Infinity", "-Infinity"):
        return NOT_FINITE
    if token.lstrip("-").isdigit():
        return BIG_INT if len(token.lstrip("-")) > MAX_INT_DIGITS else ""
    try:
        return "" if math.isfinite(float(token)) else NOT_FINITE
    except ValueError:  # true, false, null
        return ""


def _count_values(text: str, budget: Budget) -> tuple[int, str] | None:
    """Charge the budget for the file's values before json builds them; where one went over."""
    depth = 0
    for token in _JSON_VALUES.finditer(text):
        char = token[0][0]
        if char in "]}":
            depth -= 1
            continue
        if not budget.take():
            return line_of(text, token.start()), budget.exhausted
        if char in "[{":
            depth += 1
            if depth > budget.depth:
                return line_of(text, token.start()), f"nested more than {budget.depth} levels deep"
    return None


def _duplicate_keys(
    text: str, duplicates: dict[int, set[int]], limit: int
) -> list[tuple[int, str]]:
    """Where json found a key twice: closing order gives opening order, then the key's order."""
    wanted: dict[int, set[int]] = {}
    opened, closed, stack = 0, 0, []
    for token in _JSON_STRUCTURE.finditer(text):
        if token[0] == "{":
            stack.append(opened)
            opened += 1
        elif token[0] == "}" and stack:
            index = stack.pop()
            if closed in duplicates:
                wanted[index] = duplicates[closed]
            closed += 1
    found: list[tuple[int, str]] = []
    keys: list[list[int]] = []  # [opening index, keys seen] of each open object
    opened, string, lines = 0, (0, 0), Lines(text)
    for token in _JSON_STRUCTURE.finditer(text):
        if token[0] == "{":
            keys.append([opened, 0])
            opened += 1
        elif token[0] == "}" and keys:
            keys.pop()
        elif token[0] == ":" and keys:
            index, seen = keys[-1]
            if seen in wanted.get(index, ()):
                key = json.loads(text[string[0] : string[1]])
                found.append((lines.at(string[0]), f"duplicate key {shown(key)}"))
                if len(found) >= limit:
                    break
            keys[-1][1] += 1
        else:
            string = token.span()
    return found


def _refused_literals(text: str, limit: int) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    lines = Lines(text)
    for token in _JSON_LITERALS.finditer(text):
        if token[0][0] != '"' and (message := _refused_literal(token[0])):
            found.append((lines.at(token.start()), message))
            if len(found) >= limit:
                break
    return found


def _surrogates(text: str, limit: int) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    if not _SURROGATE_ESCAPE.search(text):
        return found
    lines = Lines(text)
    for token in _JSON_LITERALS.finditer(text):
        string = token[0]
        if string[0] == '"' and "\\u" in string and SURROGATE.search(json.loads(string)):
            message = "invalid value: a string holding a lone UTF-16 surrogate is not allowed"
            found.append((lines.at(token.start()), message))
            if len(found) >= limit:
                break
    return found


def json_item_lines(text: str) -> list[int]:
    """Lines of the objects directly in the root object's ``items`` array, in order."""
    found: list[int] = []
    depth, key, in_items, lines = 0, (0, 0), False, Lines(text)
    for token in _JSON_NESTING.finditer(text):
        char, pos = token[0][0], token.start()
        if char in "{[":
            if depth == 1 and char == "[":
                in_items = json.loads(text[key[0] : key[1]]) == "items"
            elif depth == 2 and in_items and char == "{":
                found.append(lines.at(pos))
            depth += 1
        elif char in "}]":
            depth -= 1
            in_items = in_items and depth >= 2
        elif char == '"':
            key = token.span()
    return found


def read_json(text: str, budget: Budget) -> Decoded:
    """The one document of a JSON file, as :mod:`json` reads it, with what it refuses."""
    out = Decoded()
    start = _FIRST.search(text)
    if start is None:
        return out
    crossed = _count_values(text, budget)
    if crossed is not None:
        out.problems.append(crossed)
        return out
    hooks = _JsonHooks()
    try:
        root = json.loads(
            text,
            object_pairs_hook=hooks.mapping,
            parse_constant=hooks.constant,
            parse_float=hooks.floating,
            parse_int=hooks.integer,
        )
    except json.JSONDecodeError as error:
        out.problems.append((error.lineno, f"invalid JSON: {error.msg}"))
        return out
    except RecursionError:
        out.problems.append((1, "invalid JSON: nested too deeply"))
        return out
    limit = budget.problems
    out.problems = [
        *(_duplicate_keys(text, hooks.duplicates, limit) if hooks.duplicates else ()),
        *(_refused_literals(text, limit) if hooks.literals else ()),
        *_surrogates(text, limit),
    ][:limit]
    if not out.problems and root is not None:  # an object's line is its "{"'s
        line = line_of(text, start.start()) if isinstance(root, dict) else 1
        if budget.take_objects(root):
            out.documents.append((line, root, {}))
        else:
            out.problems.append((line, budget.exhausted))
    return out
