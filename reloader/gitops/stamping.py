"""Stamp the reloader's hash into opted-in workloads of a revision before they are applied.

This is what makes "one rollout per commit" hold: when a commit changes a ConfigMap and the
Deployment that uses it, the apply writes the new template *and* the hash of the new
ConfigMap content in one request, so the workload rolls once and the reloader, computing
the same value with the same function and key, finds nothing to do. Objects the revision
does not contain are taken from the cluster as they are.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Awaitable, Callable, Sequence

from reloader.core import names
from reloader.core.annotations import ReloadOn, parse_policy
from reloader.core.deciding import ObjectState, desired_record, object_state, select
from reloader.core.hashing import Hasher
from reloader.core.manifests import Manifest
from reloader.core.references import Kind, extract_refs
from reloader.core.strategies import Strategy, strategy_of
from reloader.kube.rest import JSONDict

WORKLOAD_KINDS = {("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet")}
CRONJOB = ("batch", "CronJob")
ROLLOUT = ("argoproj.io", "Rollout")
"""Stamped only when it rolls by its template hash: a restarted Rollout's record says which
content its pods were restarted for, so stamping it would skip the restart; a Job's template
is immutable (the reloader recreates it after the apply)."""
FetchObject = Callable[[Kind, str, str], Awaitable[JSONDict | None]]
"""(kind, namespace, name) -> the live object, or None."""


def _template(obj: JSONDict) -> JSONDict | None:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    return template if isinstance(template, dict) else None


async def stamp(
    manifests: Sequence[Manifest],
    *,
    hasher: Hasher,
    fetch: FetchObject,
    default_namespace: str,
    reload_all: bool = False,
    reload_on: ReloadOn = ReloadOn.KEYS,
) -> dict[int, JSONDict]:
    """Apply bodies for the opted-in workloads of ``manifests``, by index; others are as is."""
    in_git: dict[tuple[str, Kind, str], JSONDict] = {}
    for manifest in manifests:
        if manifest.group == "" and manifest.kind in (Kind.CONFIGMAP.value, Kind.SECRET.value):
            ns = manifest.namespace or default_namespace
            in_git[(ns, Kind(manifest.kind), manifest.name)] = manifest.obj
    stamped: dict[int, JSONDict] = {}
    for index, manifest in enumerate(manifests):
        if (manifest.group, manifest.kind) not in WORKLOAD_KINDS | {CRONJOB, ROLLOUT}:
            continue
        rollout = (manifest.group, manifest.kind) == ROLLOUT
        if rollout and strategy_of(manifest.obj)[0] is not Strategy.PATCH:
            continue
        meta = manifest.obj.get("metadata") or {}
        template = _template(manifest.obj)
        policy = parse_policy(
            meta.get("annotations") or {},
            template_annotations=((template or {}).get("metadata") or {}).get("annotations") or {},
            reload_all=reload_all,
            reload_on=reload_on,
        )
        if not policy.active or template is None or policy.errors:
            continue
        ns = manifest.namespace or default_namespace
        refs = extract_refs(template.get("spec") or {})
        objects: dict[tuple[Kind, str], ObjectState] = {}
        for ref in refs:
            obj = in_git.get((ns, ref.kind, ref.name)) or await fetch(ref.kind, ns, ref.name)
            if obj is not None:
                objects[ref.key] = object_state(ref.kind, _as_served(ref.kind, obj))
        if any(policy.reload.values()):
            continue  # explicit lists may name objects outside git: leave those to the reloader
        record = desired_record(hasher, select(policy, refs, objects))
        body = copy.deepcopy(manifest.obj)
        body.setdefault("metadata", {}).setdefault("annotations", {})[names.OBSERVED] = (
            record.render()
        )
        target = _template(body)
        assert target is not None
        target.setdefault("metadata", {}).setdefault("annotations", {})[names.CONFIG_HASH] = (
            record.hash
        )
        stamped[index] = body
    return stamped


def _as_served(kind: Kind, obj: JSONDict) -> JSONDict:
    """A Secret as the API server stores it: ``stringData`` merged into base64 ``data``."""
    if kind is not Kind.SECRET or not obj.get("stringData"):
        return obj
    data = dict(obj.get("data") or {})
    for key, value in (obj.get("stringData") or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    return {**obj, "data": data}
