"""Apply stages of a revision (reloader.core.ordering)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reloader.core.manifests import Manifest
from reloader.core.ordering import CLUSTER_SCOPED, Stage, stage_of, staged


def obj(
    api_version: str, kind: str, name: str = "x", namespace: str | None = None, line: int = 1
) -> Manifest:
    metadata = {"name": name} | ({"namespace": namespace} if namespace else {})
    return Manifest("m.yaml", line, {"apiVersion": api_version, "kind": kind, "metadata": metadata})


@pytest.mark.parametrize(
    ("api_version", "kind", "stage"),
    [
        ("v1", "Namespace", Stage.NAMESPACES_AND_CRDS),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", Stage.NAMESPACES_AND_CRDS),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", Stage.CLUSTER),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", Stage.CLUSTER),
        ("scheduling.k8s.io/v1", "PriorityClass", Stage.CLUSTER),
        ("storage.k8s.io/v1", "StorageClass", Stage.CLUSTER),
        ("networking.k8s.io/v1", "IngressClass", Stage.CLUSTER),
        ("node.k8s.io/v1", "RuntimeClass", Stage.CLUSTER),
        ("v1", "PersistentVolume", Stage.CLUSTER),
        ("gateway.networking.k8s.io/v1", "GatewayClass", Stage.CLUSTER),  # any *Class in k8s.io
        ("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass", Stage.CLUSTER),
        ("v1", "ConfigMap", Stage.CONFIG),
        ("v1", "Secret", Stage.CONFIG),
        ("apps/v1", "Deployment", Stage.OTHER),
        ("v1", "Service", Stage.OTHER),
        ("rbac.authorization.k8s.io/v1", "Role", Stage.OTHER),
        ("example.com/v1", "Widget", Stage.OTHER),  # a custom resource, after its CRD
        ("example.com/v1", "WidgetClass", Stage.OTHER),  # *Class outside k8s.io
        ("fakek8s.io/v1", "FooClass", Stage.OTHER),  # not a k8s.io group, just ends like one
        ("v1", "SomethingClass", Stage.OTHER),  # core group is not a k8s.io group
        ("example.com/v1", "Namespace", Stage.OTHER),  # the kind alone does not decide
        ("example.com/v1", "ConfigMap", Stage.OTHER),
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", Stage.WEBHOOKS),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", Stage.WEBHOOKS),
    ],
)
def test_stage_of(api_version: str, kind: str, stage: Stage) -> None:
    assert stage_of(obj(api_version, kind)) == stage


def test_unknown_cluster_scoped_kinds_go_with_everything_else() -> None:
    """Without a namespace, an unknown kind might be cluster-scoped; the dry-run decides."""
    assert stage_of(obj("apiregistration.k8s.io/v1", "APIService")) == Stage.OTHER


def test_known_cluster_scoped_kinds_are_group_qualified() -> None:
    assert all(isinstance(group, str) and kind for group, kind in CLUSTER_SCOPED)
    assert stage_of(obj("example.com/v1", "ClusterRole")) == Stage.OTHER


def test_stages_are_in_order_and_empty_ones_are_left_out() -> None:
    webhook = obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")
    deployment = obj("apps/v1", "Deployment", namespace="app")
    namespace = obj("v1", "Namespace", "app")
    assert staged([webhook, deployment, namespace]) == [[namespace], [deployment], [webhook]]


def test_within_a_stage_objects_are_sorted_by_key() -> None:
    manifests = [
        obj("v1", "Service", "b", "ns"),
        obj("apps/v1", "Deployment", "a", "ns"),
        obj("v1", "Service", "a", "ns"),
        obj("v1", "Service", "a", "another"),
        obj("v1", "ServiceAccount", "a", "ns"),
    ]
    [stage] = staged(manifests)
    assert [m.key for m in stage] == [
        ("", "Service", "another", "a"),
        ("", "Service", "ns", "a"),
        ("", "Service", "ns", "b"),
        ("", "ServiceAccount", "ns", "a"),
        ("apps", "Deployment", "ns", "a"),
    ]


def test_duplicates_keep_a_deterministic_order() -> None:
    later, earlier = obj("v1", "ConfigMap", line=9), obj("v1", "ConfigMap", line=2)
    assert staged([later, earlier]) == [[earlier, later]]


def test_nothing_to_stage() -> None:
    assert staged([]) == []


_REVISION = [
    obj("v1", "Namespace", "app"),
    obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com"),
    obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader"),
    obj("storage.k8s.io/v1", "StorageClass", "fast"),
    obj("v1", "ConfigMap", "config", "app"),
    obj("v1", "Secret", "creds", "app"),
    obj("apps/v1", "Deployment", "api", "app"),
    obj("example.com/v1", "Widget", "w", "app"),
    obj("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "inject"),
]


@given(st.permutations(_REVISION))
def test_staging_does_not_depend_on_input_order(manifests: list[Manifest]) -> None:
    stages = staged(manifests)
    assert stages == staged(_REVISION)
    assert [[stage_of(m) for m in stage] for stage in stages] == [
        [0, 0],
        [1, 1],
        [2, 2],
        [3, 3],
        [4],
    ]
    assert sorted(m.key for stage in stages for m in stage) == sorted(m.key for m in _REVISION)
