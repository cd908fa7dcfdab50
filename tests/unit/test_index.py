"""The in-memory index and its reverse index (reloader.reloading.index)."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any

from reloader.core import names
from reloader.core.annotations import ReloadOn
from reloader.core.references import Kind, Ref
from reloader.reloading.index import Index, server_change_time

CM, SECRET = Kind.CONFIGMAP, Kind.SECRET
NS = "default"
DEPLOY = ("Deployment", NS, "web")


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def configmap(
    name: str,
    data: dict[str, str],
    *,
    ns: str = NS,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if annotations is not None:
        meta["annotations"] = annotations
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def secret(name: str, value: bytes, *, ns: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "data": {"v": base64.b64encode(value).decode()},
    }


def deployment(
    name: str = "web",
    *,
    ns: str = NS,
    annotations: dict[str, str] | None = None,
    configmaps: tuple[str, ...] = (),
    secrets: tuple[str, ...] = (),
    template_annotations: dict[str, str] | None = None,
    resource_version: str = "1",
) -> dict[str, Any]:
    volumes = [{"name": f"cm-{c}", "configMap": {"name": c}} for c in configmaps]
    volumes += [{"name": f"s-{s}", "secret": {"secretName": s}} for s in secrets]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": f"uid-{name}",
            "resourceVersion": resource_version,
            "annotations": annotations or {},
        },
        "spec": {
            "template": {
                "metadata": {"annotations": template_annotations or {}},
                "spec": {"containers": [{"name": "app"}], "volumes": volumes},
            }
        },
    }


AUTO = {names.AUTO: "true"}


# --- server_change_time ---


def test_change_time_is_latest_managed_field_time_plus_one_second() -> None:
    obj = {
        "metadata": {
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "managedFields": [
                {"manager": "a", "time": "2024-01-01T00:05:00Z"},
                {"manager": "b", "time": "2024-01-01T00:10:00Z"},
                {"manager": "c", "time": "2024-01-01T00:07:00Z"},
            ],
        }
    }
    assert server_change_time(obj) == ts("2024-01-01T00:10:00") + 1.0


def test_change_time_falls_back_to_creation_timestamp() -> None:
    obj = {"metadata": {"creationTimestamp": "2024-03-02T10:00:00Z"}}
    assert server_change_time(obj) == ts("2024-03-02T10:00:00") + 1.0


def test_change_time_skips_managed_fields_without_time() -> None:
    obj = {
        "metadata": {
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "managedFields": [{"manager": "a"}, {"manager": "b", "time": None}],
        }
    }
    assert server_change_time(obj) == ts("2024-01-01T00:00:00") + 1.0


def test_change_time_honours_offsets() -> None:
    obj = {"metadata": {"creationTimestamp": "2024-01-01T02:00:00+02:00"}}
    assert server_change_time(obj) == ts("2024-01-01T00:00:00") + 1.0


def test_change_time_without_any_time_is_zero() -> None:
    assert server_change_time({}) == 0.0
    assert server_change_time({"metadata": None}) == 0.0
    assert server_change_time({"metadata": {"managedFields": None}}) == 0.0


# --- objects ---


def test_new_object_with_no_workloads_affects_nothing() -> None:
    index = Index(auto_reload_all=False)
    assert index.put_object(CM, configmap("a", {"k": "v"}), observed=True) == set()
    assert (CM, "a") in index.namespace_objects(NS)


def test_object_change_affects_workload_referencing_it() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations=AUTO, configmaps=("a",)))
    assert index.put_object(CM, configmap("a", {"k": "v1"}), observed=True) == {DEPLOY}
    assert index.put_object(CM, configmap("a", {"k": "v2"}), observed=True) == {DEPLOY}


def test_unchanged_object_affects_nothing() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations=AUTO, configmaps=("a",)))
    index.put_object(CM, configmap("a", {"k": "v"}), observed=True)
    assert index.put_object(CM, configmap("a", {"k": "v"}), observed=True) == set()


def test_label_only_change_affects_nothing() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations=AUTO, configmaps=("a",)))
    index.put_object(CM, configmap("a", {"k": "v"}), observed=True)
    relabelled = configmap("a", {"k": "v"}, labels={"x": "y"}, annotations={"note": "hi"})
    assert index.put_object(CM, relabelled, observed=True) == set()


def test_flag_change_affects_workloads() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations=AUTO, configmaps=("a",)))
    index.put_object(CM, configmap("a", {"k": "v"}), observed=True)
    flagged = configmap("a", {"k": "v"}, annotations={names.IGNORE: "true"})
    assert index.put_object(CM, flagged, observed=True) == {DEPLOY}
    assert index.namespace_objects(NS)[(CM, "a")].state.flags.ignore


def test_same_name_in_another_namespace_affects_nothing() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations=AUTO, configmaps=("a",)))
    assert index.put_object(CM, configmap("a", {"k": "v"}, ns="other"), observed=True) == set()


def test_same_name_of_other_kind_affects_nothing() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations=AUTO, configmaps=("a",)))
    assert index.put_object(SECRET, secret("a", b"x"), observed=True) == set()


def test_secret_change_affects_workload_referencing_it() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations=AUTO, secrets=("s",)))
    index.put_object(SECRET, secret("s", b"one"), observed=True)
    assert index.put_object(SECRET, secret("s", b"two"), observed=True) == {DEPLOY}


def test_observed_change_time_is_now() -> None:
    index = Index(auto_reload_all=False)
    before = time.time()
    index.put_object(CM, configmap("a", {"k": "v"}), observed=True)
    after = time.time()
    assert before <= index.namespace_objects(NS)[(CM, "a")].changed_at <= after


def test_listed_change_time_comes_from_the_server() -> None:
    index = Index(auto_reload_all=False)
    obj = configmap("a", {"k": "v"})
    obj["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    index.put_object(CM, obj, observed=False)
    tracked = index.namespace_objects(NS)[(CM, "a")]
    assert tracked.changed_at == ts("2024-01-01T00:00:00") + 1.0


def test_drop_object_affects_referencing_workloads_once() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations=AUTO, configmaps=("a",)))
    index.put_object(CM, configmap("a", {"k": "v"}), observed=True)
    assert index.drop_object(CM, NS, "a") == {DEPLOY}
    assert index.drop_object(CM, NS, "a") == set()
    assert (CM, "a") not in index.namespace_objects(NS)


def test_a_namespace_emptied_of_objects_and_workloads_leaves_no_entry() -> None:
    """Namespaces come and go (one per CI run, say): the index must not keep one per name."""
    index = Index(auto_reload_all=False)
    reload_list = {names.CONFIGMAP_RELOAD: "a"}
    for i in range(100):
        ns = f"ci-{i}"
        index.put_workload(deployment(ns=ns, annotations=reload_list, configmaps=("a",)))
        index.put_object(CM, configmap("a", {"k": "v"}, ns=ns), observed=True)
        index.drop_object(CM, ns, "a")
        index.drop_object(CM, ns, "never-seen")
        index.drop_workload(("Deployment", ns, "web"))
    assert dict(index.objects) == {}
    assert index.workloads == {}
    assert not index.affected("ci-0", CM, "a")
    assert len(index._listing) == 0


def test_object_keys_by_kind_and_namespace() -> None:
    index = Index(auto_reload_all=False)
    index.put_object(CM, configmap("a", {}), observed=True)
    index.put_object(CM, configmap("b", {}, ns="other"), observed=True)
    index.put_object(SECRET, secret("s", b""), observed=True)
    assert index.object_keys(CM, NS) == {(NS, "a")}
    assert index.object_keys(CM, None) == {(NS, "a"), ("other", "b")}
    assert index.object_keys(SECRET, None) == {(NS, "s")}


# --- workloads and the reverse index ---


def test_workload_without_policy_is_not_affected() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(configmaps=("a",)))
    assert index.affected(NS, CM, "a") == set()


def test_reload_all_indexes_workloads_without_annotations() -> None:
    index = Index(auto_reload_all=True)
    index.put_workload(deployment(configmaps=("a",)))
    assert index.affected(NS, CM, "a") == {DEPLOY}


def test_auto_false_opts_out_of_reload_all_index() -> None:
    index = Index(auto_reload_all=True)
    index.put_workload(deployment(annotations={names.AUTO: "false"}, configmaps=("a",)))
    assert index.affected(NS, CM, "a") == set()


def test_workload_is_affected_only_by_its_refs() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations=AUTO, configmaps=("a",), secrets=("s",)))
    assert index.affected(NS, CM, "a") == {DEPLOY}
    assert index.affected(NS, SECRET, "s") == {DEPLOY}
    assert index.affected(NS, CM, "b") == set()
    assert index.affected("other", CM, "a") == set()


def test_explicit_list_makes_workload_affected_by_any_object_in_namespace() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations={names.CONFIGMAP_RELOAD: "unreferenced"}))
    assert index.affected(NS, CM, "unreferenced") == {DEPLOY}
    assert index.affected(NS, SECRET, "anything") == {DEPLOY}
    assert index.affected("other", CM, "unreferenced") == set()


def test_several_workloads_share_an_object() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment("one", annotations=AUTO, configmaps=("a",)))
    index.put_workload(deployment("two", annotations=AUTO, configmaps=("a",)))
    assert index.affected(NS, CM, "a") == {
        ("Deployment", NS, "one"),
        ("Deployment", NS, "two"),
    }
    index.drop_workload(("Deployment", NS, "one"))
    assert index.affected(NS, CM, "a") == {("Deployment", NS, "two")}


def test_updating_refs_moves_the_reverse_index() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations=AUTO, configmaps=("a",)))
    index.put_workload(deployment(annotations=AUTO, configmaps=("b",)))
    assert index.affected(NS, CM, "a") == set()
    assert index.affected(NS, CM, "b") == {DEPLOY}
    index.put_object(CM, configmap("b", {"k": "v"}), observed=True)
    assert index.put_object(CM, configmap("a", {"k": "v"}), observed=True) == set()


def test_turning_policy_off_removes_workload_from_index() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations=AUTO, configmaps=("a",)))
    index.put_workload(deployment(annotations={names.AUTO: "false"}, configmaps=("a",)))
    assert index.affected(NS, CM, "a") == set()


def test_removing_explicit_list_removes_namespace_listing() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations={names.SECRET_RELOAD: "s"}))
    index.put_workload(deployment(annotations={}))
    assert index.affected(NS, SECRET, "s") == set()


def test_drop_workload_removes_it_from_the_index() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(
        deployment(annotations={**AUTO, names.CONFIGMAP_RELOAD: "x"}, configmaps=("a",))
    )
    index.drop_workload(DEPLOY)
    assert DEPLOY not in index.workloads
    assert index.affected(NS, CM, "a") == set()
    assert index.affected(NS, CM, "x") == set()
    index.drop_workload(DEPLOY)  # dropping twice is harmless


def test_put_workload_reports_change_only_for_relevant_fields() -> None:
    index = Index(auto_reload_all=False)
    _, changed = index.put_workload(deployment(annotations=AUTO, configmaps=("a",)))
    assert changed
    _, changed = index.put_workload(deployment(annotations=AUTO, configmaps=("a",)))
    assert not changed
    _, changed = index.put_workload(
        deployment(annotations=AUTO, configmaps=("a",), resource_version="2")
    )
    assert not changed
    _, changed = index.put_workload(deployment(annotations=AUTO, configmaps=("a", "b")))
    assert changed
    _, changed = index.put_workload(
        deployment(annotations={**AUTO, names.OBSERVED: "rec"}, configmaps=("a", "b"))
    )
    assert changed
    _, changed = index.put_workload(
        deployment(
            annotations={**AUTO, names.OBSERVED: "rec"},
            configmaps=("a", "b"),
            template_annotations={names.CONFIG_HASH: "h"},
        )
    )
    assert changed


def test_policy_change_is_a_change() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations={names.CONFIGMAP_RELOAD: "a"}))
    _, changed = index.put_workload(deployment(annotations={names.CONFIGMAP_RELOAD: "b"}))
    assert changed
    _, changed = index.put_workload(deployment(annotations={names.CONFIGMAP_RELOAD: "b"}))
    assert not changed


def test_put_workload_reads_policy_refs_and_reloader_annotations() -> None:
    index = Index(auto_reload_all=False)
    workload, _ = index.put_workload(
        deployment(
            annotations={**AUTO, names.OBSERVED: "the-record"},
            configmaps=("a",),
            secrets=("s",),
            template_annotations={names.CONFIG_HASH: "the-hash"},
        )
    )
    assert workload.key == DEPLOY
    assert workload.namespace == NS
    assert workload.policy.auto == {CM, SECRET}
    assert workload.refs == {Ref(CM, "a"), Ref(SECRET, "s")}
    assert workload.template_hash == "the-hash"
    assert workload.record == "the-record"
    assert workload.reference == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS, "uid": "uid-web", "resourceVersion": "1"},
    }
    assert index.workloads[DEPLOY] is workload


def test_cronjob_template_is_read_from_job_template() -> None:
    index = Index(auto_reload_all=False)
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "job", "namespace": NS, "annotations": AUTO},
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "metadata": {"annotations": {names.CONFIG_HASH: "h"}},
                        "spec": {"volumes": [{"configMap": {"name": "a"}}]},
                    }
                }
            }
        },
    }
    workload, _ = index.put_workload(cronjob)
    assert workload.refs == {Ref(CM, "a")}
    assert workload.template_hash == "h"
    assert index.affected(NS, CM, "a") == {("CronJob", NS, "job")}


def test_workload_keys_by_kind_and_namespace() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment("one"))
    index.put_workload(deployment("two", ns="other"))
    assert index.workload_keys("Deployment", NS) == {("Deployment", NS, "one")}
    assert index.workload_keys("Deployment", None) == {
        ("Deployment", NS, "one"),
        ("Deployment", "other", "two"),
    }
    assert index.workload_keys("StatefulSet", None) == set()


def test_drop_namespace_forgets_objects_and_workloads() -> None:
    index = Index(auto_reload_all=False)
    index.put_workload(deployment(annotations=AUTO, configmaps=("a",)))
    index.put_workload(deployment(annotations=AUTO, configmaps=("a",), ns="keep"))
    index.put_object(CM, configmap("a", {"k": "v"}), observed=True)
    index.put_object(CM, configmap("a", {"k": "v"}, ns="keep"), observed=True)
    index.drop_namespace(NS)
    assert index.namespace_objects(NS) == {}
    assert index.workload_keys("Deployment", NS) == set()
    assert index.affected(NS, CM, "a") == set()
    assert index.affected("keep", CM, "a") == {("Deployment", "keep", "web")}


# --- key digests, pod-template annotations, reload-on ---


def test_objects_keep_key_digests() -> None:
    index = Index(auto_reload_all=False)
    index.put_object(CM, configmap("a", {"k": "v", "j": "w"}), observed=True)
    state = index.namespace_objects(NS)[(CM, "a")].state
    assert state.keys is not None
    assert len(state.keys) == 48


def test_policy_is_read_from_the_pod_template_too() -> None:
    index = Index(auto_reload_all=False)
    workload, _ = index.put_workload(
        deployment(configmaps=("a",), template_annotations={names.AUTO: "true"})
    )
    assert workload.policy.auto == {CM, SECRET}
    assert index.affected(NS, CM, "a") == {DEPLOY}


def test_reload_on_default_comes_from_the_index() -> None:
    index = Index(auto_reload_all=False, reload_on=ReloadOn.OBJECT)
    workload, _ = index.put_workload(deployment(annotations=AUTO))
    assert workload.policy.reload_on is ReloadOn.OBJECT
    _, changed = index.put_workload(deployment(annotations={**AUTO, names.RELOAD_ON: "keys"}))
    assert changed
