"""Which ConfigMaps and Secrets a pod template depends on, and which of their keys it sees.

Read from the template alone (volumes, projected sources, ``env[].valueFrom`` and ``envFrom`` of
containers and init containers), so the reference index can be rebuilt from a workload list
at any time. A reference marked ``optional`` tolerates a missing object; the same object named
both ways counts as required, because the pods need it somewhere.

What a workload can see decides what may roll it: ``envFrom`` and a volume without ``items``
expose every key, so the object is seen whole; ``configMapKeyRef``/``secretKeyRef`` and a
volume listing ``items`` expose only the keys they name. An object referenced both ways is
seen whole. A non-optional key reference also means the pods cannot start without that key,
which is kept apart (``required_keys``) because it matters even when the object is seen whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """The two kinds of object whose content can roll a workload."""

    CONFIGMAP = "ConfigMap"
    SECRET = "Secret"


@dataclass(frozen=True)
class Ref:
    """A reference from a pod template to an object in the workload's namespace."""

    kind: Kind
    name: str
    optional: bool = False
    keys: frozenset[str] | None = None
    """The keys the pods see; None: every key (the object is seen whole)."""
    required_keys: frozenset[str] = frozenset()
    """Keys named by non-optional key references: without them new pods cannot start."""

    @property
    def key(self) -> tuple[Kind, str]:
        return (self.kind, self.name)


JSON = Mapping[str, Any]


@dataclass(frozen=True)
class _Use:
    """One place that names an object: all of it (``keys`` None) or some keys."""

    kind: Kind
    name: str
    optional: bool
    keys: frozenset[str] | None


def _optional(source: JSON) -> bool:
    return bool(source.get("optional", False))


def _items(source: JSON) -> frozenset[str] | None:
    """The keys a volume source projects; None when it lists none (every key is a file)."""
    keys = frozenset(
        item["key"]
        for item in source.get("items") or ()
        if isinstance(item, Mapping) and isinstance(item.get("key"), str) and item["key"]
    )
    return keys or None


def _volume_use(kind: Kind, source: JSON | None, name_field: str) -> Iterator[_Use]:
    if source and (name := source.get(name_field)):
        yield _Use(kind, name, _optional(source), _items(source))


def _from_volume(volume: JSON) -> Iterator[_Use]:
    yield from _volume_use(Kind.CONFIGMAP, volume.get("configMap"), "name")
    yield from _volume_use(Kind.SECRET, volume.get("secret"), "secretName")
    for source in (volume.get("projected") or {}).get("sources") or ():
        yield from _volume_use(Kind.CONFIGMAP, source.get("configMap"), "name")
        yield from _volume_use(Kind.SECRET, source.get("secret"), "name")


def _key_use(kind: Kind, source: JSON | None) -> Iterator[_Use]:
    if source and (name := source.get("name")):
        key = source.get("key")
        # A key ref without a key is refused by the API server; if one is seen, trust nothing.
        keys = frozenset((key,)) if isinstance(key, str) and key else None
        yield _Use(kind, name, _optional(source), keys)


def _from_container(container: JSON) -> Iterator[_Use]:
    for env in container.get("env") or ():
        value_from = env.get("valueFrom") or {}
        yield from _key_use(Kind.CONFIGMAP, value_from.get("configMapKeyRef"))
        yield from _key_use(Kind.SECRET, value_from.get("secretKeyRef"))
    for env_from in container.get("envFrom") or ():
        if (cm := env_from.get("configMapRef")) and (name := cm.get("name")):
            yield _Use(Kind.CONFIGMAP, name, _optional(cm), None)
        if (secret := env_from.get("secretRef")) and (name := secret.get("name")):
            yield _Use(Kind.SECRET, name, _optional(secret), None)


def extract_refs(pod_spec: JSON) -> frozenset[Ref]:
    """Every ConfigMap and Secret ``pod_spec`` references, one ``Ref`` per object."""
    uses: list[_Use] = []
    for volume in pod_spec.get("volumes") or ():
        uses.extend(_from_volume(volume))
    for field in ("initContainers", "containers"):
        for container in pod_spec.get(field) or ():
            uses.extend(_from_container(container))
    optional: dict[tuple[Kind, str], bool] = {}
    whole: set[tuple[Kind, str]] = set()
    keys: dict[tuple[Kind, str], set[str]] = {}
    required: dict[tuple[Kind, str], set[str]] = {}
    for use in uses:
        key = (use.kind, use.name)
        optional[key] = optional.get(key, True) and use.optional
        if use.keys is None:
            whole.add(key)
        else:
            keys.setdefault(key, set()).update(use.keys)
            if not use.optional:
                required.setdefault(key, set()).update(use.keys)
    return frozenset(
        Ref(
            kind,
            name,
            opt,
            None if (kind, name) in whole else frozenset(keys[(kind, name)]),
            frozenset(required.get((kind, name), ())),
        )
        for (kind, name), opt in optional.items()
    )
