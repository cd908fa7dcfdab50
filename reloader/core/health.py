"""Whether one live object runs as its spec asks: kstatus's verdict, as a pure function.

"Applied" only says the API server stored the spec; "Synced" should mean it runs. kstatus
(sigs.k8s.io/cli-utils) is the convention Flux and kubectl's wait use, so its rules are
followed: a status describes the spec only once ``observedGeneration`` reached
``generation``; workloads are Current once every replica is updated and available; Jobs
once Complete; anything else with a ``Ready`` condition once it is True, and ``Stalled``
means it gave up. A kind without any of that is Current once it exists. The verdict is
plain data, so the waiting (an edge, with a clock and the API server) and every kind's rule
(tested exhaustively) stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["Current", "InProgress", "Failed"]


@dataclass(frozen=True)
class Health:
    status: Status
    reason: str = ""
    """Why it is not Current (empty when it is), for `reloader status` and the Event."""

    @property
    def settled(self) -> bool:
        """Whether waiting longer cannot change the verdict by itself."""
        return self.status != "InProgress"


CURRENT = Health("Current")


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = status.get("conditions")
    if not isinstance(found, list):
        return {}
    return {str(c.get("type")): c for c in found if isinstance(c, dict) and c.get("type")}


def _int(status: dict[str, Any], key: str) -> int:
    value = status.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _said(condition: dict[str, Any]) -> str:
    """A condition's reason and message, as `kubectl describe` shows them."""
    reason, message = condition.get("reason") or "", condition.get("message") or ""
    return ": ".join(str(part) for part in (reason, message) if part)


def _replicas(spec: dict[str, Any]) -> int:
    value = spec.get("replicas", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _deployment(spec: dict[str, Any], status: dict[str, Any]) -> Health:
    progressing = _conditions(status).get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health("Failed", f"rollout stuck: {_said(progressing)}")
    if spec.get("paused"):
        return CURRENT  # a paused rollout is what its owner asked for
    want = _replicas(spec)
    updated, available = _int(status, "updatedReplicas"), _int(status, "availableReplicas")
    if updated < want:
        return Health("InProgress", f"{updated} of {want} replicas updated")
    if _int(status, "replicas") > updated:
        return Health("InProgress", f"{_int(status, 'replicas') - updated} old replicas remain")
    if available < want:
        return Health("InProgress", f"{available} of {want} replicas available")
    return CURRENT


def _statefulset(spec: dict[str, Any], status: dict[str, Any]) -> Health:
    want = _replicas(spec)
    ready = _int(status, "readyReplicas")
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy == "RollingUpdate":
        updated = _int(status, "updatedReplicas")
        if updated < want:
            return Health("InProgress", f"{updated} of {want} replicas updated")
        if status.get("currentRevision") != status.get("updateRevision"):
            return Health("InProgress", "rolling update in progress (currentRevision is old)")
    if ready < want:
        return Health("InProgress", f"{ready} of {want} replicas ready")
    return CURRENT


def _daemonset(status: dict[str, Any]) -> Health:
    want = _int(status, "desiredNumberScheduled")
    updated, available = _int(status, "updatedNumberScheduled"), _int(status, "numberAvailable")
    if updated < want:
        return Health("InProgress", f"{updated} of {want} pods updated")
    if available < want:
        return Health("InProgress", f"{available} of {want} pods available")
    return CURRENT


def _job(status: dict[str, Any]) -> Health:
    conditions = _conditions(status)
    failed = conditions.get("Failed") or {}
    if failed.get("status") == "True":
        return Health("Failed", f"job failed: {_said(failed)}")
    if (conditions.get("Complete") or {}).get("status") == "True":
        return CURRENT
    return Health("InProgress", f"{_int(status, 'succeeded')} pod(s) succeeded, not complete")


def _generic(status: dict[str, Any]) -> Health:
    conditions = _conditions(status)
    stalled = conditions.get("Stalled") or {}
    if stalled.get("status") == "True":
        return Health("Failed", f"stalled: {_said(stalled)}")
    ready = conditions.get("Ready")
    if ready is not None:
        if ready.get("status") == "True":
            return CURRENT
        # False is not final: most controllers set it while they work (kstatus agrees).
        return Health("InProgress", f"Ready={ready.get('status')}: {_said(ready)}".rstrip(": "))
    reconciling = conditions.get("Reconciling") or {}
    if reconciling.get("status") == "True":
        return Health("InProgress", f"reconciling: {_said(reconciling)}".rstrip(": "))
    return CURRENT


def verdict(obj: dict[str, Any]) -> Health:
    """The kstatus verdict on one live object (as the API server returned it)."""
    kind = obj.get("kind")
    group = str(obj.get("apiVersion") or "").rpartition("/")[0]
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if not isinstance(spec, dict) or not isinstance(status, dict):
        return CURRENT
    generation = meta.get("generation")
    observed = status.get("observedGeneration")
    if isinstance(generation, int) and isinstance(observed, int) and observed < generation:
        return Health("InProgress", f"generation {generation} not observed yet (at {observed})")
    if group == "apps" and kind in ("Deployment", "StatefulSet", "DaemonSet"):
        if observed is None:  # its controller has not looked at it yet
            return Health("InProgress", "not observed by its controller yet")
        if kind == "Deployment":
            return _deployment(spec, status)
        if kind == "StatefulSet":
            return _statefulset(spec, status)
        return _daemonset(status)
    if group == "batch" and kind == "Job":
        return _job(status)
    return _generic(status)


def needs_status(kind: str, group: str) -> bool:
    """Whether an object of this kind may have a status worth waiting for: kinds that surely
    have none are Current once applied, and cost no request."""
    return (group, kind) not in _STATUSLESS


_STATUSLESS = frozenset(
    {
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "ServiceAccount"),
        ("", "Namespace"),
        ("", "LimitRange"),
        ("", "Endpoints"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),  # applied Established already
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("batch", "CronJob"),
    }
)
