"""The Job created in place of a reloaded one: the same Job, minus what the server set."""

from __future__ import annotations

import copy
from typing import Any

from reloader.core import names
from reloader.kube.recreating import replacement

UID = "42c52046-fd8c-4843-b88b-4c26f43c5489"
GENERATED = {
    "batch.kubernetes.io/controller-uid": UID,
    "batch.kubernetes.io/job-name": "migrate",
    "controller-uid": UID,
    "job-name": "migrate",
}


def live_job(**spec: Any) -> dict[str, Any]:
    """A Job as the API server returns it (shape copied from a real 1.36 server)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "migrate",
            "namespace": "apps",
            "uid": UID,
            "resourceVersion": "18057",
            "generation": 1,
            "creationTimestamp": "2026-11-30T07:33:39Z",
            "labels": dict(GENERATED),
            "annotations": {
                "reloader.stakater.com/auto": "true",
                names.OBSERVED: '{"old":"record"}',
            },
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        },
        "spec": {
            "backoffLimit": 6,
            "completionMode": "NonIndexed",
            "completions": 1,
            "manualSelector": False,
            "parallelism": 1,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}},
            "suspend": False,
            "template": {
                "metadata": {
                    "labels": {**GENERATED, "app": "migrate"},
                    "annotations": {names.CONFIG_HASH: "old-hash", "team": "db"},
                },
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "app", "image": "registry.invalid/app:1"}],
                },
            },
            **spec,
        },
        "status": {"succeeded": 1, "completionTime": "2026-11-30T07:34:00Z"},
    }


def test_drops_what_the_server_set_and_keeps_what_the_author_wrote() -> None:
    new = replacement(live_job(), template_hash="new-hash", record='{"new":"record"}')
    meta = new["metadata"]
    assert set(meta) == {"name", "namespace", "annotations"}
    assert meta["annotations"] == {
        "reloader.stakater.com/auto": "true",
        names.OBSERVED: '{"new":"record"}',
    }
    assert "status" not in new
    assert "selector" not in new["spec"]
    assert new["spec"]["template"]["metadata"] == {
        "labels": {"app": "migrate"},
        "annotations": {names.CONFIG_HASH: "new-hash", "team": "db"},
    }
    assert new["spec"]["backoffLimit"] == 6
    assert new["spec"]["template"]["spec"] == live_job()["spec"]["template"]["spec"]


def test_does_not_change_the_job_it_was_given() -> None:
    job = live_job()
    before = copy.deepcopy(job)
    replacement(job, template_hash="h", record="r")
    assert job == before


def test_keeps_labels_the_author_put_on_the_job() -> None:
    job = live_job()
    job["metadata"]["labels"] = {"team": "db", **GENERATED}
    new = replacement(job, template_hash="h", record="r")
    assert new["metadata"]["labels"] == {"team": "db"}


def test_a_manual_selector_is_the_authors_and_is_kept_whole() -> None:
    selector = {"matchLabels": {"app": "migrate"}}
    job = live_job(manualSelector=True, selector=selector)
    job["spec"]["template"]["metadata"]["labels"] = {"app": "migrate"}
    job["metadata"]["labels"] = {"app": "migrate"}
    new = replacement(job, template_hash="h", record="r")
    assert new["spec"]["selector"] == selector
    assert new["spec"]["template"]["metadata"]["labels"] == {"app": "migrate"}
    assert new["metadata"]["labels"] == {"app": "migrate"}


def test_drops_the_garbage_collectors_finalizers_and_keeps_others() -> None:
    job = live_job()
    job["metadata"]["finalizers"] = ["foregroundDeletion", "example.com/keep"]
    job["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "u"}
    ]
    job["metadata"]["deletionTimestamp"] = "2026-11-30T07:35:00Z"
    new = replacement(job, template_hash="h", record="r")
    assert new["metadata"]["finalizers"] == ["example.com/keep"]
    assert new["metadata"]["ownerReferences"] == job["metadata"]["ownerReferences"]
    assert "deletionTimestamp" not in new["metadata"]


def test_a_job_without_annotations_or_template_metadata_gets_both() -> None:
    job = live_job()
    del job["metadata"]["annotations"]
    del job["spec"]["template"]["metadata"]
    new = replacement(job, template_hash="h", record="r")
    assert new["metadata"]["annotations"] == {names.OBSERVED: "r"}
    assert new["spec"]["template"]["metadata"]["annotations"] == {names.CONFIG_HASH: "h"}
