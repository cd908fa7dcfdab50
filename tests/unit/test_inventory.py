"""The inventory: identities without versions, entries checked, the first format migrated."""

from __future__ import annotations

import pytest

from reloader.gitops import inventory
from reloader.gitops.inventory import Entry, ObjectKey, entry_problem

KINDS = {
    ("", "v1", "configmaps"): "ConfigMap",
    ("", "v1", "namespaces"): "Namespace",
    ("apps", "v1", "deployments"): "Deployment",
    ("autoscaling", "v1", "horizontalpodautoscalers"): "HorizontalPodAutoscaler",
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions"): "CustomResourceDefinition",
}


async def kind_of(group: str, version: str, plural: str) -> str | None:
    return KINDS.get((group, version, plural))


def test_an_entry_round_trips_through_json() -> None:
    entry = Entry(ObjectKey("apps", "Deployment", "team", "web"), "v1", adopted=True)
    assert inventory.parse_entry(entry.to_json()) == entry
    cluster = Entry(ObjectKey("", "Namespace", "", "team"), "v1")
    assert "namespace" not in cluster.to_json()
    assert inventory.parse_entry(cluster.to_json()) == cluster


def test_the_key_has_no_version() -> None:
    v1 = ObjectKey("autoscaling", "HorizontalPodAutoscaler", "team", "web")
    assert str(v1) == "HorizontalPodAutoscaler.autoscaling/team/web"
    assert str(ObjectKey("", "Namespace", "", "team")) == "Namespace/team"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("not-a-dict", "not an object"),
        ({"kind": "ConfigMap", "name": "", "version": "v1"}, "name"),
        ({"kind": "ConfigMap", "name": "a/b", "version": "v1"}, "name"),
        ({"kind": "ConfigMap", "name": "..", "version": "v1"}, "name"),
        ({"kind": "ConfigMap", "name": "a", "namespace": "../x", "version": "v1"}, "namespace"),
        ({"kind": "Config/Map", "name": "a", "version": "v1"}, "kind"),
        ({"kind": "ConfigMap", "name": "a", "version": "v1/x"}, "version"),
        ({"kind": "ConfigMap", "name": "a", "version": "v1", "group": "a/b"}, "group"),
        ({"kind": "ConfigMap", "name": 3, "version": "v1"}, "strings"),
        ({"kind": "ConfigMap", "name": "a", "version": "v1", "adopted": "no"}, "adopted"),
    ],
)
def test_a_malformed_entry_is_refused(raw: object, why: str) -> None:
    problem = entry_problem(raw)
    assert problem is not None
    assert why in problem


def test_a_well_formed_entry_passes() -> None:
    raw = {"group": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:x"}
    assert entry_problem({**raw, "version": "v1"}) is None


async def test_read_keeps_good_entries_and_reports_the_rest() -> None:
    good = {"kind": "ConfigMap", "namespace": "team", "name": "a", "version": "v1"}
    bad = {"kind": "ConfigMap", "namespace": "team", "version": "v1"}  # no name: a collection
    entries, problems, migrated = await inventory.read([good, bad], kind_of=kind_of)
    assert list(entries) == [ObjectKey("", "ConfigMap", "team", "a")]
    assert len(problems) == 1
    assert "name" in problems[0]
    assert not migrated


async def test_the_first_format_migrates_by_identity() -> None:
    paths = [
        "/api/v1/namespaces/team/configmaps/a",
        "/apis/apps/v1/namespaces/team/deployments/web",
        "/api/v1/namespaces/team",  # a Namespace: deleting it removes what it holds
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
        "/apis/gone.example.com/v1/namespaces/team/things/x",  # no longer served
        "/api/v1/namespaces/team/configmaps",  # a collection: never a valid entry
    ]
    entries, problems, migrated = await inventory.read(paths, kind_of=kind_of)
    assert migrated
    assert set(entries) == {
        ObjectKey("", "ConfigMap", "team", "a"),
        ObjectKey("apps", "Deployment", "team", "web"),
        ObjectKey("", "Namespace", "", "team"),
        ObjectKey("apiextensions.k8s.io", "CustomResourceDefinition", "", "widgets.example.com"),
    }
    assert entries[ObjectKey("", "Namespace", "", "team")].adopted
    assert not entries[ObjectKey("", "ConfigMap", "team", "a")].adopted
    assert len(problems) == 2
