"""Turn a workload's annotations into a reload policy, with Stakater Reloader's meanings.

Parsing never raises: a malformed value is reported in ``Policy.errors`` (the controller turns
each into a Warning Event and a log line) and the annotation is treated as absent, so one typo
cannot crash the controller or silently opt a workload into something it did not ask for.

Reload lists are regular expressions written by whoever may edit a workload, and they are
matched on the event loop against every ConfigMap/Secret name. Python's backtracking ``re``
takes exponential time on ``(a+)+b``, so one hostile annotation could stall the controller;
we use RE2 instead: linear time in the name, bounded memory, and the syntax of Go's
``regexp`` that Stakater Reloader's users write for. What RE2 refuses (backreferences,
lookaround) is a malformed annotation like any other. Each distinct pattern is compiled
once (bounded cache), since every event of a workload re-parses its annotations.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import re2

from reloader.core import names
from reloader.core.references import Kind


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.never_capture = True  # only "does the whole name match": no groups to extract
    options.log_errors = False  # refusals are reported as values, not written to stderr
    options.max_mem = 1 << 20  # names are at most 253 bytes; this caps a pattern's automata
    return options


_RE2_OPTIONS = _re2_options()


class _Regexp(Protocol):
    """The part of ``re2``'s (untyped) compiled expression that we use."""

    def fullmatch(self, text: str) -> object | None: ...


@dataclass(frozen=True)
class NamePattern:
    """One entry of a reload list: an RE2 expression that must match a whole name."""

    source: str
    _regexp: _Regexp = field(compare=False, repr=False)

    def fullmatch(self, name: str) -> bool:
        try:
            return self._regexp.fullmatch(name) is not None
        except UnicodeEncodeError:  # a lone surrogate: no Kubernetes name has one
            return False


def _shortened(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


@functools.lru_cache(maxsize=1024)
def compile_name_pattern(source: str) -> NamePattern | str:
    """``source`` compiled for anchored matching, or why RE2 (Go's syntax) refuses it."""
    try:
        return NamePattern(source, re2.compile(source, _RE2_OPTIONS))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        return _shortened(str(reason))  # RE2 quotes the offending part, which can be long
    except UnicodeEncodeError:
        return "not valid UTF-8"


@dataclass(frozen=True)
class Policy:
    """What makes one workload reload; the empty policy reloads on nothing."""

    auto: frozenset[Kind] = frozenset()
    """Kinds whose referenced objects all count (auto and typed auto)."""
    search: bool = False
    """Referenced objects that carry ``match: "true"`` count."""
    reload: Mapping[Kind, tuple[NamePattern, ...]] = field(default_factory=dict)
    """Explicit lists: objects whose name fully matches count, referenced or not."""
    exclude: Mapping[Kind, frozenset[str]] = field(default_factory=dict)
    """Names that never count (they win over auto, search and explicit lists)."""
    errors: tuple[str, ...] = ()
    """One message per malformed annotation, naming it."""

    @property
    def active(self) -> bool:
        """Whether any mode is on, i.e. the workload is opted in."""
        return bool(self.auto or self.search or any(self.reload.values()))

    def excluded(self, kind: Kind, name: str) -> bool:
        return name in self.exclude.get(kind, frozenset())

    def listed(self, kind: Kind, name: str) -> bool:
        return any(p.fullmatch(name) for p in self.reload.get(kind, ()))


_TRUE = frozenset({"true", "t", "1"})
_FALSE = frozenset({"false", "f", "0"})


def _bool(annotations: Mapping[str, str], key: str, errors: list[str]) -> bool | None:
    raw = annotations.get(key)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE or value in _FALSE:  # what Go's strconv.ParseBool takes, as Stakater does
        return value in _TRUE
    errors.append(f'annotation {key}: want "true" or "false", got {raw!r}')
    return None


def _names(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def _patterns(
    annotations: Mapping[str, str], key: str, errors: list[str]
) -> tuple[NamePattern, ...]:
    compiled: list[NamePattern] = []
    for part in _names(annotations.get(key)):
        pattern = compile_name_pattern(part)
        if isinstance(pattern, str):
            errors.append(
                f"annotation {key}: {_shortened(part)!r} is not a valid RE2 regular expression "
                f"({pattern})"
            )
        else:
            compiled.append(pattern)
    return tuple(compiled)


def parse_policy(annotations: Mapping[str, str], *, reload_all: bool = False) -> Policy:
    """The policy ``annotations`` ask for; ``reload_all`` is the controller-wide default.

    As in Stakater Reloader: ``auto: "false"`` opts out of ``reload_all``; a typed auto
    ``"true"`` turns its kind on whatever ``auto`` says, and a typed ``"false"`` only opts its
    kind out of ``reload_all`` (not out of an explicit ``auto: "true"``); explicit reload
    lists always apply; excludes win over everything.
    """
    errors: list[str] = []
    auto_flag = _bool(annotations, names.AUTO, errors)
    typed = {
        Kind.CONFIGMAP: _bool(annotations, names.CONFIGMAP_AUTO, errors),
        Kind.SECRET: _bool(annotations, names.SECRET_AUTO, errors),
    }
    auto: set[Kind] = set()
    if auto_flag is True:
        auto = {Kind.CONFIGMAP, Kind.SECRET}
    elif auto_flag is None and reload_all:
        auto = {kind for kind, flag in typed.items() if flag is not False}
    auto |= {kind for kind, flag in typed.items() if flag is True}
    search = _bool(annotations, names.SEARCH, errors) is True
    reload = {
        Kind.CONFIGMAP: _patterns(annotations, names.CONFIGMAP_RELOAD, errors),
        Kind.SECRET: _patterns(annotations, names.SECRET_RELOAD, errors),
    }
    exclude = {
        Kind.CONFIGMAP: frozenset(_names(annotations.get(names.CONFIGMAP_EXCLUDE))),
        Kind.SECRET: frozenset(_names(annotations.get(names.SECRET_EXCLUDE))),
    }
    return Policy(
        auto=frozenset(auto), search=search, reload=reload, exclude=exclude, errors=tuple(errors)
    )


@dataclass(frozen=True)
class ObjectFlags:
    """What a ConfigMap or Secret says about itself."""

    ignore: bool = False
    match: bool = False


def parse_object_flags(annotations: Mapping[str, str]) -> ObjectFlags:
    """Flags of a ConfigMap/Secret; anything but a case-insensitive ``"true"`` is off."""

    def on(key: str) -> bool:
        return annotations.get(key, "").strip().lower() == "true"

    return ObjectFlags(ignore=on(names.IGNORE), match=on(names.MATCH))
