"""The order in which a revision's objects are applied: stages, as Flux orders them.

An object can only be created once what it depends on exists: a namespaced object needs its
Namespace, a custom resource its CustomResourceDefinition, a Pod its ConfigMaps and Secrets. And
an admission webhook registered before the Service behind it can reject everything after it, so
webhooks go last. Stages are applied one after another; within a stage, objects are sorted by
key so that the same revision is always applied in the same order.

A kind is placed by what it is known to be. Cluster-scoped kinds that are not in
``CLUSTER_SCOPED`` (nor a ``*Class`` of a ``k8s.io`` group) cannot be told apart from namespaced
ones without asking the API server, so they go with everything else in ``Stage.OTHER``: the
server-side dry-run of the whole revision, before anything is applied, catches a misordering.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from reloader.core.manifests import Manifest


class Stage(IntEnum):
    """Apply stages, in order."""

    NAMESPACES_AND_CRDS = 0
    CLUSTER = 1
    CONFIG = 2
    OTHER = 3
    WEBHOOKS = 4


#: (group, kind) of kinds known to be cluster-scoped, applied right after namespaces and CRDs.
CLUSTER_SCOPED = frozenset(
    {
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("storage.k8s.io", "StorageClass"),
        ("networking.k8s.io", "IngressClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("", "PersistentVolume"),
    }
)

_FIRST = frozenset({("", "Namespace"), ("apiextensions.k8s.io", "CustomResourceDefinition")})
_CONFIG = frozenset({("", "ConfigMap"), ("", "Secret")})
_WEBHOOKS = frozenset(
    ("admissionregistration.k8s.io", kind)
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
)


def stage_of(manifest: Manifest) -> int:
    """The stage an object is applied in (a :class:`Stage`, lowest first)."""
    group, kind = group_kind = (manifest.group, manifest.kind)
    if group_kind in _FIRST:
        return Stage.NAMESPACES_AND_CRDS
    k8s_io = group == "k8s.io" or group.endswith(".k8s.io")
    if group_kind in CLUSTER_SCOPED or (k8s_io and kind.endswith("Class")):
        return Stage.CLUSTER
    if group_kind in _CONFIG:
        return Stage.CONFIG
    if group_kind in _WEBHOOKS:
        return Stage.WEBHOOKS
    return Stage.OTHER


def staged(manifests: Iterable[Manifest]) -> list[list[Manifest]]:
    """The non-empty stages in order, each sorted by key (then by position, for duplicates)."""
    stages: dict[int, list[Manifest]] = {}
    for manifest in manifests:
        stages.setdefault(stage_of(manifest), []).append(manifest)
    return [
        sorted(stages[stage], key=lambda m: (m.key, m.path, m.line)) for stage in sorted(stages)
    ]
