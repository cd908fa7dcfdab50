"""Turn a workload's annotations into a reload policy, with Stakater Reloader's meanings.

Parsing never raises: a malformed value is reported in ``Policy.errors`` (the controller turns
each into a Warning Event and a log line) and the annotation is treated as absent, so one typo
cannot crash the controller or silently opt a workload into something it did not ask for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from reloader.core import names
from reloader.core.references import Kind


@dataclass(frozen=True)
class Policy:
    """What makes one workload reload; the empty policy reloads on nothing."""

    auto: frozenset[Kind] = frozenset()
    """Kinds whose referenced objects all count (auto and typed auto)."""
    search: bool = False
    """Referenced objects that carry ``match: "true"`` count."""
    reload: Mapping[Kind, tuple[re.Pattern[str], ...]] = field(default_factory=dict)
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
) -> tuple[re.Pattern[str], ...]:
    compiled: list[re.Pattern[str]] = []
    for part in _names(annotations.get(key)):
        try:
            compiled.append(re.compile(part))
        except re.error as exc:
            errors.append(f"annotation {key}: {part!r} is not a valid regular expression ({exc})")
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
