"""New YAML text for a scalar, in the style the file already uses.

An edit replaces only the characters of one scalar, so it must be written as its neighbours
are: plain stays plain, 'single' stays single-quoted, "double" stays double-quoted. Plain is
kept only when the new text still reads back as the same string under YAML 1.1 (``1.27``
would become a float, ``yes`` a boolean); then it is double-quoted, the one style that can
hold anything. Whatever is written is read back by the editor afterwards, so a rule missed
here is caught there rather than written.
"""

from __future__ import annotations

import json
import re

import yaml

_STR = "tag:yaml.org,2002:str"
_PLAIN_BLOCK = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./@:+{}\-]*")
_PLAIN_FLOW = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./@:+\-]*")
_RESOLVER = yaml.resolver.Resolver()
PLAIN, SINGLE, DOUBLE = None, "'", '"'


def reads_as_string(text: str) -> bool:
    """Whether ``text`` as a plain scalar is a string (not a number, boolean or null)."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag == _STR


def render(value: str, *, style: str | None, flow: bool) -> str:
    """``value`` as scalar text in ``style`` (None: plain) where that is exact, else
    double-quoted. ``flow``: the scalar sits inside ``{...}`` or ``[...]``."""
    pattern = _PLAIN_FLOW if flow else _PLAIN_BLOCK
    plain = style is PLAIN and pattern.fullmatch(value) and not value.endswith(":")
    if plain and reads_as_string(value):
        return value
    if style == SINGLE and value.isprintable():
        return "'" + value.replace("'", "''") + "'"
    return double_quoted(value)


def double_quoted(value: str) -> str:
    """JSON's string syntax is valid double-quoted YAML; what YAML will not read raw (DEL,
    C1 controls, line separators) is escaped too."""
    return _UNSAFE.sub(_escape, json.dumps(value, ensure_ascii=False))


_UNSAFE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
