"""kstatus's verdict on one live object (reloader.core.health), kind by kind."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reloader.core.health import Health, needs_status, verdict


def obj(
    kind: str,
    *,
    api: str = "apps/v1",
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    generation: int = 1,
) -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "x", "generation": generation},
        "spec": spec if spec is not None else {},
        "status": status if status is not None else {},
    }


def condition(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def deployment(**status: Any) -> dict[str, Any]:
    return obj("Deployment", spec={"replicas": 2}, status={"observedGeneration": 1, **status})


READY_DEPLOYMENT = {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}


# --- Deployments ---


def test_deployment_with_every_replica_updated_and_available_is_current() -> None:
    assert verdict(deployment(**READY_DEPLOYMENT)) == Health("Current")


def test_deployment_not_observed_by_its_controller_is_in_progress() -> None:
    found = verdict(obj("Deployment", spec={"replicas": 1}))
    assert found.status == "InProgress"
    assert "not observed" in found.reason


def test_deployment_whose_new_generation_is_not_observed_is_in_progress() -> None:
    stale = obj("Deployment", generation=3, spec={"replicas": 2}, status={"observedGeneration": 2})
    stale["status"].update(READY_DEPLOYMENT)
    found = verdict(stale)
    assert found.status == "InProgress"
    assert "generation 3" in found.reason


def test_deployment_with_replicas_not_updated_is_in_progress() -> None:
    found = verdict(deployment(replicas=2, updatedReplicas=1, availableReplicas=2))
    assert found == Health("InProgress", "1 of 2 replicas updated")


def test_deployment_with_old_replicas_left_is_in_progress() -> None:
    found = verdict(deployment(replicas=3, updatedReplicas=2, availableReplicas=2))
    assert found == Health("InProgress", "1 old replicas remain")


def test_deployment_whose_pods_never_become_available_is_in_progress_with_counts() -> None:
    found = verdict(deployment(replicas=2, updatedReplicas=2, availableReplicas=0))
    assert found == Health("InProgress", "0 of 2 replicas available")


def test_deployment_past_its_progress_deadline_has_failed() -> None:
    stuck = condition(
        "Progressing", "False", "ProgressDeadlineExceeded", 'ReplicaSet "x-1" has timed out'
    )
    found = verdict(deployment(replicas=2, updatedReplicas=1, conditions=[stuck]))
    assert found.status == "Failed"
    assert "ProgressDeadlineExceeded" in found.reason
    assert "timed out" in found.reason


def test_deployment_without_replicas_field_wants_one() -> None:
    one = obj(
        "Deployment",
        spec={},
        status={"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1},
    )
    assert verdict(one).status == "Current"


def test_deployment_scaled_to_zero_is_current() -> None:
    zero = obj("Deployment", spec={"replicas": 0}, status={"observedGeneration": 1})
    assert verdict(zero).status == "Current"


def test_paused_deployment_is_current() -> None:
    paused = obj(
        "Deployment", spec={"replicas": 2, "paused": True}, status={"observedGeneration": 1}
    )
    assert verdict(paused).status == "Current"


# --- StatefulSets ---


def statefulset(spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    return obj(
        "StatefulSet",
        spec={"replicas": 2, **(spec or {})},
        status={"observedGeneration": 1, **status},
    )


def test_statefulset_rolled_out_and_ready_is_current() -> None:
    found = verdict(
        statefulset(updatedReplicas=2, readyReplicas=2, currentRevision="r2", updateRevision="r2")
    )
    assert found == Health("Current")


def test_statefulset_mid_rolling_update_is_in_progress() -> None:
    found = verdict(
        statefulset(updatedReplicas=2, readyReplicas=2, currentRevision="r1", updateRevision="r2")
    )
    assert found.status == "InProgress"
    assert "currentRevision" in found.reason


def test_statefulset_with_replicas_not_updated_is_in_progress() -> None:
    found = verdict(statefulset(updatedReplicas=1, readyReplicas=2))
    assert found == Health("InProgress", "1 of 2 replicas updated")


def test_statefulset_with_replicas_not_ready_is_in_progress() -> None:
    found = verdict(
        statefulset(updatedReplicas=2, readyReplicas=1, currentRevision="r", updateRevision="r")
    )
    assert found == Health("InProgress", "1 of 2 replicas ready")


def test_statefulset_on_delete_only_needs_ready_replicas() -> None:
    found = verdict(
        statefulset(
            {"updateStrategy": {"type": "OnDelete"}},
            updatedReplicas=0,
            readyReplicas=2,
            currentRevision="r1",
            updateRevision="r2",
        )
    )
    assert found.status == "Current"


# --- DaemonSets ---


def daemonset(**status: Any) -> dict[str, Any]:
    return obj("DaemonSet", status={"observedGeneration": 1, **status})


def test_daemonset_updated_and_available_everywhere_is_current() -> None:
    found = verdict(
        daemonset(desiredNumberScheduled=3, updatedNumberScheduled=3, numberAvailable=3)
    )
    assert found == Health("Current")


def test_daemonset_not_updated_everywhere_is_in_progress() -> None:
    found = verdict(
        daemonset(desiredNumberScheduled=3, updatedNumberScheduled=2, numberAvailable=3)
    )
    assert found == Health("InProgress", "2 of 3 pods updated")


def test_daemonset_not_available_everywhere_is_in_progress() -> None:
    found = verdict(
        daemonset(desiredNumberScheduled=3, updatedNumberScheduled=3, numberAvailable=1)
    )
    assert found == Health("InProgress", "1 of 3 pods available")


def test_daemonset_on_no_node_is_current() -> None:
    assert verdict(daemonset(desiredNumberScheduled=0)).status == "Current"


# --- Jobs ---


def job(*conditions: dict[str, str], **status: Any) -> dict[str, Any]:
    return obj("Job", api="batch/v1", status={"conditions": list(conditions), **status})


def test_complete_job_is_current() -> None:
    assert verdict(job(condition("Complete", "True"))).status == "Current"


def test_failed_job_has_failed_with_its_reason() -> None:
    found = verdict(job(condition("Failed", "True", "BackoffLimitExceeded", "too many retries")))
    assert found == Health("Failed", "job failed: BackoffLimitExceeded: too many retries")


def test_running_job_is_in_progress() -> None:
    found = verdict(job(succeeded=0))
    assert found.status == "InProgress"
    assert "not complete" in found.reason


def test_job_failed_condition_false_is_not_a_failure() -> None:
    assert verdict(job(condition("Failed", "False"))).status == "InProgress"


# --- anything with conditions ---


def custom(*conditions: dict[str, str]) -> dict[str, Any]:
    return obj("Widget", api="example.com/v1", status={"conditions": list(conditions)})


def test_ready_true_is_current() -> None:
    assert verdict(custom(condition("Ready", "True"))) == Health("Current")


def test_ready_false_is_in_progress_with_its_reason_and_message() -> None:
    found = verdict(custom(condition("Ready", "False", "ImagePullBackOff", "cannot pull")))
    assert found == Health("InProgress", "Ready=False: ImagePullBackOff: cannot pull")


def test_ready_unknown_without_reason_is_in_progress() -> None:
    assert verdict(custom(condition("Ready", "Unknown"))) == Health("InProgress", "Ready=Unknown")


def test_stalled_has_failed() -> None:
    found = verdict(custom(condition("Stalled", "True", "BadConfig", "no such key")))
    assert found == Health("Failed", "stalled: BadConfig: no such key")


def test_reconciling_without_ready_is_in_progress() -> None:
    assert verdict(custom(condition("Reconciling", "True"))).status == "InProgress"


def test_object_with_conditions_but_none_known_is_current() -> None:
    assert verdict(custom(condition("Synced", "False"))).status == "Current"


def test_object_without_status_is_current() -> None:
    assert verdict({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}).status == (
        "Current"
    )


def test_an_apps_like_kind_of_another_group_is_judged_by_its_conditions() -> None:
    lookalike = obj("Deployment", api="example.com/v1", status={})
    assert verdict(lookalike).status == "Current"


def test_malformed_status_is_no_crash() -> None:
    assert verdict(obj("Deployment", status={"conditions": "nope"})).status == "InProgress"
    no_status = {"kind": "Deployment", "apiVersion": "apps/v1", "status": []}
    assert verdict(no_status).status == "InProgress"  # as good as none: not observed yet
    assert verdict({**no_status, "spec": "nope", "status": {"x": 1}}).status == "Current"


@pytest.mark.parametrize(
    ("kind", "group", "needed"),
    [
        ("ConfigMap", "", False),
        ("Secret", "", False),
        ("ClusterRole", "rbac.authorization.k8s.io", False),
        ("Deployment", "apps", True),
        ("Job", "batch", True),
        ("Service", "", True),
        ("Widget", "example.com", True),
    ],
)
def test_only_kinds_that_may_have_a_status_are_read_back(
    kind: str, group: str, needed: bool
) -> None:
    assert needs_status(kind, group) is needed


def test_settled_verdicts_end_the_wait() -> None:
    assert Health("Current").settled
    assert Health("Failed", "x").settled
    assert not Health("InProgress", "x").settled


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(
    kind=st.sampled_from(["Deployment", "StatefulSet", "DaemonSet", "Job", "Widget"]),
    api=st.sampled_from(["apps/v1", "batch/v1", "example.com/v1"]),
    metadata=st.dictionaries(st.sampled_from(["name", "generation"]), _json),
    spec=_json,
    status=st.dictionaries(
        st.sampled_from(
            [
                "observedGeneration",
                "replicas",
                "updatedReplicas",
                "availableReplicas",
                "readyReplicas",
                "conditions",
                "desiredNumberScheduled",
            ]
        ),
        _json,
    ),
)
def test_any_object_gets_a_verdict_without_raising(
    kind: str, api: str, metadata: dict[str, Any], spec: Any, status: dict[str, Any]
) -> None:
    found = verdict(
        {"apiVersion": api, "kind": kind, "metadata": metadata, "spec": spec, "status": status}
    )
    assert found.status in ("Current", "InProgress", "Failed")
    assert (found.status == "Current") == (found.reason == "")
