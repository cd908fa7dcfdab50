"""The loop's state, kept in the cluster so that any replica, and ``reloader status``, sees it.

One ConfigMap (nothing in it is secret): the last applied and last attempted revision, the
last errors with their ``path:line``, the result of the last drift check, and the inventory:
the identity of every object the loop applied, which is where pruning starts (each deletion
is then proven on the live object) and survives restarts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

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
        for key in ("last_applied", "last_attempted"):
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
