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

Many Helm charts only let users set ``podAnnotations``, so, as Stakater Reloader does, the
annotations may also sit on the pod template. The opt-in set (auto, typed auto, reload lists,
search) is read as a whole: from the workload when it carries any of them, else from the pod
template, so one policy is never stitched from two places. Every other annotation (excludes,
``reload-on``, ``pause-period``) is read by name: the workload's value wins. An error says
where the value was read.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import re2

from reloader.core import names
from reloader.core.durations import parse_duration
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


class ReloadOn(StrEnum):
    """What counts as a change of an object a workload reads only some keys of."""

    KEYS = "keys"
    """Only the keys the pods read (``configMapKeyRef``, volume ``items``)."""
    OBJECT = "object"
    """Any key of the object, as Stakater Reloader does."""


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
    reload_on: ReloadOn = ReloadOn.KEYS
    """Whether key references narrow what is seen of an object."""
    pause_period: float | None = None
    """Seconds after a roll during which further changes wait (then roll once)."""
    errors: tuple[str, ...] = ()
    """One message per malformed annotation, naming it and where it was read."""

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
_OPT_IN = (
    names.AUTO,
    names.CONFIGMAP_AUTO,
    names.SECRET_AUTO,
    names.CONFIGMAP_RELOAD,
    names.SECRET_RELOAD,
    names.SEARCH,
)
ON_TEMPLATE = " on the pod template"


class _Annotations:
    """The annotations a policy is read from, each remembering where it was found."""

    def __init__(self, workload: Mapping[str, str], template: Mapping[str, str]) -> None:
        self._workload, self._template = workload, template
        self._opt_in = workload if any(k in workload for k in _OPT_IN) else template

    def _source(self, key: str) -> Mapping[str, str]:
        if key in _OPT_IN:
            return self._opt_in
        return self._workload if key in self._workload else self._template

    def get(self, key: str) -> str | None:
        return self._source(key).get(key)

    def label(self, key: str) -> str:
        """``annotation <key>``, saying so when it was read from the pod template."""
        where = "" if self._source(key) is self._workload else ON_TEMPLATE
        return f"annotation {key}{where}"


def _bool(annotations: _Annotations, key: str, errors: list[str]) -> bool | None:
    raw = annotations.get(key)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE or value in _FALSE:  # what Go's strconv.ParseBool takes, as Stakater does
        return value in _TRUE
    errors.append(f'{annotations.label(key)}: want "true" or "false", got {raw!r}')
    return None


def _reload_on(annotations: _Annotations, default: ReloadOn, errors: list[str]) -> ReloadOn:
    raw = annotations.get(names.RELOAD_ON)
    if raw is None:
        return default
    try:
        return ReloadOn(raw.strip().lower())
    except ValueError:
        errors.append(f'{annotations.label(names.RELOAD_ON)}: want "keys" or "object", got {raw!r}')
        return default


def _pause_period(annotations: _Annotations, errors: list[str]) -> float | None:
    raw = annotations.get(names.PAUSE_PERIOD)
    if raw is None:
        return None
    try:
        seconds = parse_duration(raw)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        errors.append(
            f"{annotations.label(names.PAUSE_PERIOD)}: want a duration such as 30s or 5m, "
            f"got {_shortened(raw)!r}"
        )
        return None
    return seconds or None


def _names(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def _patterns(annotations: _Annotations, key: str, errors: list[str]) -> tuple[NamePattern, ...]:
    compiled: list[NamePattern] = []
    for part in _names(annotations.get(key)):
        pattern = compile_name_pattern(part)
        if isinstance(pattern, str):
            errors.append(
                f"{annotations.label(key)}: {_shortened(part)!r} is not a valid RE2 regular "
                f"expression ({pattern})"
            )
        else:
            compiled.append(pattern)
    return tuple(compiled)


def parse_policy(
    workload_annotations: Mapping[str, str],
    *,
    template_annotations: Mapping[str, str] | None = None,
    reload_all: bool = False,
    reload_on: ReloadOn = ReloadOn.KEYS,
) -> Policy:
    """The policy the annotations ask for; ``reload_all`` and ``reload_on`` are the defaults.

    As in Stakater Reloader: ``auto: "false"`` opts out of ``reload_all``; a typed auto
    ``"true"`` turns its kind on whatever ``auto`` says, and a typed ``"false"`` only opts its
    kind out of ``reload_all`` (not out of an explicit ``auto: "true"``); explicit reload
    lists always apply; excludes win over everything.
    """
    annotations = _Annotations(workload_annotations, template_annotations or {})
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
        auto=frozenset(auto),
        search=search,
        reload=reload,
        exclude=exclude,
        reload_on=_reload_on(annotations, reload_on, errors),
        pause_period=_pause_period(annotations, errors),
        errors=tuple(errors),
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
