"""The loop's state, kept in the cluster so that any replica, and ``reloader status``, sees it.

One ConfigMap (nothing in it is secret): the last applied and last attempted revision, the
last errors with their ``path:line``, the result of the last drift check, and the inventory:
the identity of every object the loop applied, which is where pruning starts (each deletion
is then proven on the live object) and survives restarts.

A suspension (``reloader suspend``) lives on the same ConfigMap, as annotations: whoever may
write the loop's state may pause it and nobody else, the loop reads it with the state, and its
own server-side-apply save (another field manager, no annotations) never clears it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from reloader.core import names
from reloader.gitops.applying import APPLY_PATCH, FIELD_MANAGER
from reloader.kube.rest import ApiError, JSONDict, Rest

STATE_NAME = "reloader-gitops"


@dataclass
class Revision:
    sha: str
    author: str = ""
    subject: str = ""
    time: str = ""


@dataclass
class State:
    url: str = ""
    ref: str = ""
    path: str = "."
    last_applied: Revision | None = None
    last_attempted: Revision | None = None
    last_result: str = ""
    errors: list[str] = field(default_factory=list)
    in_sync: bool | None = None
    """Whether the live objects matched git at the last check (None: never checked)."""
    drift: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    """Custom resources waiting for their CRD (they asked to), applied once it is served."""
    not_pruned: list[str] = field(default_factory=list)
    """Objects git dropped that the loop did not delete, each with the reason."""
    warnings: list[str] = field(default_factory=list)
    """Problems that do not stop the loop: inventory entries refused as malformed."""
    history: str = ""
    """Set when the last applied revision does not descend from the one before it."""
    health: str = ""
    """Of the last applied revision: Progressing, Healthy, Unhealthy ("": not checked)."""
    unhealthy: list[str] = field(default_factory=list)
    """What did not become healthy within --health-timeout, each with the reason."""
    held: Revision | None = None
    """The newest revision of git that a suspension keeps from being applied."""
    inventory: list[Any] = field(default_factory=list)
    """Entries as stored (see :mod:`reloader.gitops.inventory`); read and checked by the loop."""

    def to_data(self) -> dict[str, str]:
        body = asdict(self)
        inventory = body.pop("inventory")
        return {
            "status.json": json.dumps(body, indent=2, sort_keys=True),
            "inventory.json": json.dumps(inventory, indent=0, sort_keys=True),
        }

    @classmethod
    def from_data(cls, data: dict[str, str]) -> State:
        body: dict[str, Any] = json.loads(data.get("status.json") or "{}")
        for key in ("last_applied", "last_attempted", "held"):
            if body.get(key):
                body[key] = Revision(**body[key])
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in body.items() if k in known})
        inventory = json.loads(data.get("inventory.json") or "[]")
        state.inventory = inventory if isinstance(inventory, list) else []
        return state


def _path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{STATE_NAME}"


async def ensure_namespace(rest: Rest, namespace: str) -> None:
    """Create ``namespace`` if missing. Without the right to read namespaces (a namespaced
    install), assume it exists: the first write into it will say clearly if it does not."""
    try:
        await rest.get(f"/api/v1/namespaces/{namespace}")
    except ApiError as exc:
        if exc.status == 403:
            return
        if not exc.not_found:
            raise
        try:
            await rest.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
        except ApiError as create_error:
            if not create_error.conflict:
                raise


async def load(rest: Rest, namespace: str) -> tuple[State, JSONDict | None]:
    """The stored state (empty if none) and the ConfigMap it came from, for Events."""
    obj = await rest.get_or_none(_path(namespace))
    if obj is None:
        return State(), None
    return State.from_data(obj.get("data") or {}), obj


async def save(rest: Rest, namespace: str, state: State) -> JSONDict:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": STATE_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "reloader"},
        },
        "data": state.to_data(),
    }
    return await rest.request(
        "PATCH",
        _path(namespace),
        query={"fieldManager": FIELD_MANAGER, "force": True},
        body=body,
        content_type=APPLY_PATCH,
    )


@dataclass(frozen=True)
class Suspension:
    by: str
    at: str
    reason: str

    @classmethod
    def of(cls, obj: JSONDict | None) -> Suspension | None:
        """The suspension on the state ConfigMap ``obj``, None when the loop runs."""
        found = ((obj or {}).get("metadata") or {}).get("annotations") or {}
        if names.GITOPS_SUSPENDED_AT not in found and names.GITOPS_SUSPENDED_BY not in found:
            return None
        return cls(
            by=str(found.get(names.GITOPS_SUSPENDED_BY) or "unknown"),
            at=str(found.get(names.GITOPS_SUSPENDED_AT) or ""),
            reason=str(found.get(names.GITOPS_SUSPENDED_REASON) or ""),
        )


async def read(rest: Rest, namespace: str) -> JSONDict | None:
    """The state ConfigMap as stored (None when there is none yet)."""
    return await rest.get_or_none(_path(namespace))


async def set_suspension(rest: Rest, namespace: str, suspension: Suspension | None) -> JSONDict:
    """Write (or, with None, remove) the suspension annotations with a JSON merge patch under
    their own field manager; the state ConfigMap is created when the loop has not made it."""
    values = (
        {
            names.GITOPS_SUSPENDED_BY: suspension.by,
            names.GITOPS_SUSPENDED_AT: suspension.at,
            names.GITOPS_SUSPENDED_REASON: suspension.reason,
        }
        if suspension is not None
        else {
            names.GITOPS_SUSPENDED_BY: None,
            names.GITOPS_SUSPENDED_AT: None,
            names.GITOPS_SUSPENDED_REASON: None,
        }
    )
    query = {"fieldManager": names.SUSPEND_FIELD_MANAGER}
    try:
        return await rest.request(
            "PATCH",
            _path(namespace),
            query=query,
            body={"metadata": {"annotations": values}},
            content_type="application/merge-patch+json",
        )
    except ApiError as exc:
        if not exc.not_found or suspension is None:
            raise
    return await rest.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        query=query,
        body={
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": STATE_NAME, "namespace": namespace, "annotations": values},
        },
    )
