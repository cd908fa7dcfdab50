"""Which ConfigMaps and Secrets a pod template depends on.

Read from the template alone (volumes, projected sources, ``env[].valueFrom`` and ``envFrom`` of
containers and init containers), so the reference index can be rebuilt from a workload list
at any time. A reference marked ``optional`` tolerates a missing object; the same object named
both ways counts as required, because the pods need it somewhere.
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


@dataclass(frozen=True, order=True)
class Ref:
    """A reference from a pod template to an object in the workload's namespace."""

    kind: Kind
    name: str
    optional: bool = False

    @property
    def key(self) -> tuple[Kind, str]:
        return (self.kind, self.name)


JSON = Mapping[str, Any]


def _optional(source: JSON) -> bool:
    return bool(source.get("optional", False))


def _from_volume(volume: JSON) -> Iterator[Ref]:
    if (cm := volume.get("configMap")) and (name := cm.get("name")):
        yield Ref(Kind.CONFIGMAP, name, _optional(cm))
    if (secret := volume.get("secret")) and (name := secret.get("secretName")):
        yield Ref(Kind.SECRET, name, _optional(secret))
    for source in (volume.get("projected") or {}).get("sources") or ():
        if (cm := source.get("configMap")) and (name := cm.get("name")):
            yield Ref(Kind.CONFIGMAP, name, _optional(cm))
        if (secret := source.get("secret")) and (name := secret.get("name")):
            yield Ref(Kind.SECRET, name, _optional(secret))


def _from_container(container: JSON) -> Iterator[Ref]:
    for env in container.get("env") or ():
        value_from = env.get("valueFrom") or {}
        if (cm := value_from.get("configMapKeyRef")) and (name := cm.get("name")):
            yield Ref(Kind.CONFIGMAP, name, _optional(cm))
        if (secret := value_from.get("secretKeyRef")) and (name := secret.get("name")):
            yield Ref(Kind.SECRET, name, _optional(secret))
    for env_from in container.get("envFrom") or ():
        if (cm := env_from.get("configMapRef")) and (name := cm.get("name")):
            yield Ref(Kind.CONFIGMAP, name, _optional(cm))
        if (secret := env_from.get("secretRef")) and (name := secret.get("name")):
            yield Ref(Kind.SECRET, name, _optional(secret))


def extract_refs(pod_spec: JSON) -> frozenset[Ref]:
    """Every ConfigMap and Secret ``pod_spec`` references, one ``Ref`` per object."""
    found: dict[tuple[Kind, str], bool] = {}
    refs: list[Ref] = []
    for volume in pod_spec.get("volumes") or ():
        refs.extend(_from_volume(volume))
    for field in ("initContainers", "containers"):
        for container in pod_spec.get(field) or ():
            refs.extend(_from_container(container))
    for ref in refs:
        found[ref.key] = found.get(ref.key, True) and ref.optional
    return frozenset(Ref(kind, name, optional) for (kind, name), optional in found.items())
