"""Prune: delete what git dropped, and nothing else, counting what a deletion really removes.

Each candidate comes from the inventory, and is proven on the live object right before it
is deleted (:mod:`owning`); the DELETE carries the UID and resourceVersion that were checked,
so an object replaced or changed in between is not deleted. A Namespace or CRD removes
everything inside it: it is not pruned while it holds objects the loop does not manage
(unless forced), and the share cap counts its contents, not one object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from reloader.gitops.applying import Discovery, ResourceInfo
from reloader.gitops.inventory import CRD, NAMESPACE, Entry, ObjectKey
from reloader.gitops.owning import refusal
from reloader.kube.rest import ApiError, JSONDict, Rest

#: What every namespace holds without anyone asking; not a reason to keep it.
_BUILT_IN = {("", "ConfigMap", "kube-root-ca.crt"), ("", "ServiceAccount", "default")}
_SKIPPED_KINDS = {("", "Event"), ("events.k8s.io", "Event")}
_SHOWN = 5


@dataclass(frozen=True)
class Deletion:
    entry: Entry
    path: str
    uid: str


@dataclass
class Plan:
    deletions: list[Deletion] = field(default_factory=list)
    gone: list[Entry] = field(default_factory=list)
    """Already absent (or their kind no longer served): dropped from the inventory."""
    kept: list[tuple[Entry, str]] = field(default_factory=list)
    """Not deleted, with the reason; they stay in the inventory and are reported."""
    removes: set[ObjectKey] = field(default_factory=set)
    """Everything the deletions would remove, contents of namespaces and CRDs included."""


async def _items(rest: Rest, collection: str) -> list[JSONDict]:
    items: list[JSONDict] = []
    token = ""
    while True:
        query: dict[str, str | int | bool] = {"limit": 500}
        if token:
            query["continue"] = token
        page = await rest.get(collection, query)
        items.extend(page.get("items") or ())
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return items


def _group(info: ResourceInfo) -> str:
    return "" if info.api == "/api/v1" else info.api.split("/")[2]


async def namespace_contents(rest: Rest, discovery: Discovery, namespace: str) -> set[ObjectKey]:
    """The objects in ``namespace`` that deleting it would remove and someone created on
    purpose: not Events, not objects owned by another (garbage-collected with their owner,
    which is counted), not what Kubernetes puts in every namespace."""
    found: set[ObjectKey] = set()
    collections = await discovery.namespaced_collections()
    services = set()
    for info in collections:
        group = _group(info)
        if (group, info.kind) in _SKIPPED_KINDS:
            continue
        for item in await _items(rest, f"{info.api}/namespaces/{namespace}/{info.plural}"):
            meta = item.get("metadata") or {}
            name = meta.get("name") or ""
            if meta.get("ownerReferences") or (group, info.kind, name) in _BUILT_IN:
                continue
            if (group, info.kind) == ("", "Service"):
                services.add(name)
            found.add(ObjectKey(group, info.kind, namespace, name))
    # Endpoints of a Service carry no owner reference; they go with the Service.
    return {k for k in found if (k.group, k.kind) != ("", "Endpoints") or k.name not in services}


async def crd_contents(rest: Rest, crd: JSONDict) -> set[ObjectKey]:
    """Every custom resource of ``crd``: deleting the CRD deletes them all."""
    spec = crd.get("spec") or {}
    group, kind = spec.get("group") or "", (spec.get("names") or {}).get("kind") or ""
    plural = (spec.get("names") or {}).get("plural") or ""
    served = [v.get("name") for v in spec.get("versions") or () if v.get("served")]
    if not served or not group or not plural:
        return set()
    try:
        items = await _items(rest, f"/apis/{group}/{served[0]}/{plural}")
    except ApiError as exc:
        if exc.not_found:
            return set()
        raise
    keys = set()
    for item in items:
        meta = item.get("metadata") or {}
        keys.add(ObjectKey(group, kind, meta.get("namespace") or "", meta.get("name") or ""))
    return keys


def _listed(keys: Iterable[ObjectKey]) -> str:
    shown = sorted(str(k) for k in keys)
    more = f" and {len(shown) - _SHOWN} more" if len(shown) > _SHOWN else ""
    return ", ".join(shown[:_SHOWN]) + more


async def plan(
    *,
    rest: Rest,
    discovery: Discovery,
    doomed: Iterable[Entry],
    inventory: Iterable[ObjectKey],
    wanted: set[ObjectKey],
    owner: str,
    force: bool,
) -> Plan:
    """What pruning ``doomed`` would delete, keep (and why) and remove in all."""
    managed = set(inventory)
    result = Plan()
    for entry in sorted(doomed, key=lambda e: e.key):
        path = await discovery.locate(entry.key, entry.version)
        live = None if path is None else await rest.get_or_none(path)
        if path is None or live is None:
            result.gone.append(entry)
            continue
        reason = refusal(live, owner=owner, adopted=entry.adopted)
        if reason is None:
            group_kind = (entry.key.group, entry.key.kind)
            contents: set[ObjectKey] = set()
            try:
                if group_kind == NAMESPACE:
                    contents = await namespace_contents(rest, discovery, entry.key.name)
                elif group_kind == CRD:
                    contents = await crd_contents(rest, live)
            except ApiError as exc:
                reason = f"what it holds cannot be listed ({exc.status} {exc.reason})"
            foreign, declared = contents - managed, contents & wanted
            if reason is None and declared:
                reason = (
                    f"it holds {len(declared)} object(s) this revision still declares: "
                    f"{_listed(declared)}"
                )
            elif reason is None and foreign and not force:
                reason = (
                    f"deleting it would also delete {len(foreign)} object(s) git does not "
                    f"manage: {_listed(foreign)} (--force-prune deletes it anyway)"
                )
            if reason is None:
                result.removes |= contents
        if reason is not None:
            result.kept.append((entry, reason))
            continue
        assert path is not None
        result.deletions.append(Deletion(entry, path, (live.get("metadata") or {}).get("uid", "")))
        result.removes.add(entry.key)
    # Containers last: their contents go first, so a refused DELETE leaves them whole.
    result.deletions.sort(key=lambda d: (d.entry.key.group, d.entry.key.kind) in (NAMESPACE, CRD))
    return result


async def delete(rest: Rest, deletion: Deletion, *, owner: str) -> str | None:
    """Delete the object that was planned, proven again on the live object right before the
    DELETE, which carries the UID and resourceVersion it was proven on: None when it is gone,
    else why it was not deleted (a later sync looks again)."""
    live = await rest.get_or_none(deletion.path)
    if live is None:
        return None
    meta = live.get("metadata") or {}
    if meta.get("uid") != deletion.uid:
        return "it was replaced by another object of the same name since it was checked"
    reason = refusal(live, owner=owner, adopted=deletion.entry.adopted)
    if reason is not None:
        return reason
    preconditions = {"uid": deletion.uid, "resourceVersion": meta.get("resourceVersion")}
    try:
        await rest.request(
            "DELETE",
            deletion.path,
            body={"propagationPolicy": "Background", "preconditions": preconditions},
        )
    except ApiError as exc:
        if exc.not_found:
            return None
        if exc.conflict:
            return "it changed while it was being checked"
        raise
    return None
