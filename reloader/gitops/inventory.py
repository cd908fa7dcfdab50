"""The inventory: what the loop applied, by identity, so that it knows what it may prune.

An object's identity is (group, kind, namespace, name), never its version: moving an HPA
from ``autoscaling/v1`` to ``autoscaling/v2`` in git is the same object, updated in place,
and a version in the key would make the old path look removed and prune it. The version
last applied is kept beside the key only to find a REST path for the DELETE.

Entries are data someone else may have written (whoever can patch the state ConfigMap), so
every entry is checked before it is used: a malformed one is refused and reported, never
turned into a request. Inventories of the first format (a list of REST paths) are read and
migrated through discovery; what cannot be mapped is reported and dropped, never deleted.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_DNS_LABEL = re.compile(_LABEL)
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_VERSION = re.compile(r"v[0-9]+((alpha|beta)[0-9]+)?")
_OLD_PATH = re.compile(
    r"/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)/(?P<name>[^/]+)"
)


NAMESPACE = ("", "Namespace")
CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
CONTAINERS = (NAMESPACE, CRD)
"""Kinds whose deletion removes other objects: every object in it, every resource of it."""


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Identity in a cluster: the same object whatever version git writes it in."""

    group: str
    kind: str
    namespace: str
    """Empty for cluster-scoped objects."""
    name: str

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{kind}/{self.namespace}/{self.name}" if self.namespace else f"{kind}/{self.name}"


@dataclass(frozen=True)
class Entry:
    key: ObjectKey
    version: str
    """The version it was last applied as: where to find it for a DELETE."""
    adopted: bool = False
    """It existed before git declared it: not pruned unless it opts in."""

    def to_json(self) -> dict[str, Any]:
        k = self.key
        out: dict[str, Any] = {"group": k.group, "kind": k.kind, "name": k.name}
        if k.namespace:
            out["namespace"] = k.namespace
        out["version"] = self.version
        if self.adopted:
            out["adopted"] = True
        return out


def entry_problem(raw: object) -> str | None:
    """Why ``raw`` is not a well-formed inventory entry (None when it is)."""
    if not isinstance(raw, dict):
        return "not an object"
    group, kind, namespace, name, version = (
        raw.get(k, "") for k in ("group", "kind", "namespace", "name", "version")
    )
    if not all(isinstance(v, str) for v in (group, kind, namespace, name, version)):
        return "group, kind, namespace, name and version must be strings"
    if group and (len(group) > 253 or not _SUBDOMAIN.fullmatch(group)):
        return f"group {group!r} is not a DNS subdomain"
    if not _KIND.fullmatch(kind):
        return f"kind {kind!r} is not a kind name"
    if namespace and (len(namespace) > 63 or not _DNS_LABEL.fullmatch(namespace)):
        return f"namespace {namespace!r} is not a DNS label"
    if not name or name in (".", "..") or any(c in name for c in "/%?#") or len(name) > 253:
        return f"name {name!r} is not an object name"
    if not _VERSION.fullmatch(version):
        return f"version {version!r} is not an API version"
    if not isinstance(raw.get("adopted", False), bool):
        return "adopted must be true or false"
    return None


def parse_entry(raw: dict[str, Any]) -> Entry:
    key = ObjectKey(raw.get("group", ""), raw["kind"], raw.get("namespace", ""), raw["name"])
    return Entry(key, raw["version"], bool(raw.get("adopted", False)))


PluralToKind = Callable[[str, str, str], Awaitable[str | None]]
"""(group, version, plural) -> the kind served under that plural, or None."""


async def read(
    raw: Iterable[object], *, kind_of: PluralToKind
) -> tuple[dict[ObjectKey, Entry], list[str], bool]:
    """The inventory's entries, the problems of those refused, and whether any entry was in
    the first format (a REST path) and migrated."""
    entries: dict[ObjectKey, Entry] = {}
    problems: list[str] = []
    migrated = False
    for item in raw:
        if isinstance(item, str):
            migrated = True
            entry = await _migrate(item, kind_of)
            if entry is None:
                problems.append(f"inventory entry {item[:200]!r}: not a path of a known kind")
                continue
        else:
            problem = entry_problem(item)
            if problem is not None:
                problems.append(f"inventory entry {str(item)[:200]}: {problem}; ignored")
                continue
            assert isinstance(item, dict)
            entry = parse_entry(item)
        entries[entry.key] = entry
    return entries, problems, migrated


async def _migrate(path: str, kind_of: PluralToKind) -> Entry | None:
    """An entry of the first format (the versioned REST path the object was applied at).

    Namespaces and CRDs written by that format may have existed before git declared them
    (it recorded no difference), so they migrate as adopted: deleting one removes everything
    inside it, and that now takes an explicit opt-in. Other kinds migrate as applied."""
    found = _OLD_PATH.fullmatch(path)
    if found is None:
        return None
    group, version = found["group"] or "", found["version"] or found["core"]
    kind = await kind_of(group, version, found["plural"])
    if kind is None:
        return None
    raw = {
        "group": group,
        "kind": kind,
        "namespace": found["namespace"] or "",
        "name": found["name"],
        "version": version,
    }
    if entry_problem(raw) is not None:
        return None
    entry = parse_entry(raw)
    return Entry(entry.key, entry.version, adopted=(group, kind) in CONTAINERS)
