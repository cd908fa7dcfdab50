"""What the reloader remembers: digests of objects and the reference sets of workloads.

No object bodies are kept: a ConfigMap or Secret shrinks to a 16-byte digest, 24 bytes per
key (so a workload reading single keys can be told whether those changed), its two flags and
the time it last changed; a workload to its policy, references and reloader's own two
annotations. The reverse index answers "which workloads does this object affect" without a
scan, which is what keeps reaction time flat as the cluster grows.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from reloader.core import names
from reloader.core.annotations import Policy, ReloadOn, parse_policy
from reloader.core.deciding import ObjectKey, ObjectState, object_state
from reloader.core.references import Kind, Ref, extract_refs
from reloader.core.strategies import Strategy, strategy_of
from reloader.kube.patching import pod_template
from reloader.kube.rest import JSONDict
from reloader.telemetry.metrics import OBJECTS_TRACKED

WorkloadKey = tuple[str, str, str]
"""(kind, namespace, name)"""


@dataclass(slots=True)
class Tracked:
    state: ObjectState
    changed_at: float
    """Wall-clock seconds of the last content change (an upper bound when read from the server)."""


@dataclass(frozen=True)
class Workload:
    key: WorkloadKey
    policy: Policy
    refs: frozenset[Ref]
    template_hash: str | None
    record: str | None
    reference: JSONDict
    """apiVersion, kind and metadata (name, namespace, uid): enough to address an Event."""
    strategy: Strategy = Strategy.PATCH
    """How a roll is written: template hash, Job recreation or Rollout restart."""

    @property
    def namespace(self) -> str:
        return self.key[1]


def server_change_time(obj: JSONDict) -> float:
    """When the API server last saw this object written, rounded up to the next second.

    managedFields times have one-second resolution, so adding a second makes this an upper
    bound: the debounce window then holds across a controller restart mid-burst.
    """
    meta = obj.get("metadata") or {}
    stamps = [entry.get("time") for entry in meta.get("managedFields") or ()]
    stamps.append(meta.get("creationTimestamp"))
    parsed = [datetime.fromisoformat(s).timestamp() for s in stamps if s]
    return max(parsed) + 1.0 if parsed else 0.0


class Index:
    def __init__(self, *, auto_reload_all: bool, reload_on: ReloadOn = ReloadOn.KEYS) -> None:
        self.auto_reload_all, self.reload_on = auto_reload_all, reload_on
        self.objects: dict[str, dict[ObjectKey, Tracked]] = defaultdict(dict)
        self.workloads: dict[WorkloadKey, Workload] = {}
        self._by_ref: dict[tuple[str, Kind, str], set[WorkloadKey]] = defaultdict(set)
        self._listing: dict[str, set[WorkloadKey]] = defaultdict(set)

    # --- ConfigMaps and Secrets ---

    def put_object(self, kind: Kind, obj: JSONDict, *, observed: bool) -> set[WorkloadKey]:
        """Store an object's digest; return the workloads to reconcile if it changed.

        ``observed`` is true for changes seen live (their time is now), false while listing
        at start (their time is the server's record of the last write).
        """
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        state = object_state(kind, obj)
        known = self.objects[ns].get((kind, name))
        if known is not None and known.state == state:
            return set()
        changed_at = time.time() if observed else server_change_time(obj)
        self.objects[ns][(kind, name)] = Tracked(state, changed_at)
        if known is None:
            OBJECTS_TRACKED.labels(kind.value).inc()
        return self.affected(ns, kind, name)

    def drop_object(self, kind: Kind, ns: str, name: str) -> set[WorkloadKey]:
        space = self.objects.get(ns)
        if space is None or space.pop((kind, name), None) is None:
            return set()
        if not space:  # a namespace emptied (or deleted) costs nothing from then on
            del self.objects[ns]
        OBJECTS_TRACKED.labels(kind.value).dec()
        return self.affected(ns, kind, name)

    def object_keys(self, kind: Kind, ns: str | None) -> set[tuple[str, str]]:
        spaces = [ns] if ns is not None else list(self.objects)
        return {(s, n) for s in spaces for (k, n) in self.objects.get(s, {}) if k is kind}

    def affected(self, ns: str, kind: Kind, name: str) -> set[WorkloadKey]:
        return self._by_ref.get((ns, kind, name), set()) | self._listing.get(ns, set())

    def namespace_objects(self, ns: str) -> Mapping[ObjectKey, Tracked]:
        return self.objects.get(ns, {})

    # --- workloads ---

    def put_workload(self, obj: JSONDict) -> tuple[Workload, bool]:
        """Store a workload's reloading-relevant view; return it and whether it changed."""
        meta = obj["metadata"]
        key: WorkloadKey = (obj["kind"], meta.get("namespace", ""), meta["name"])
        annotations = meta.get("annotations") or {}
        template = pod_template(obj)
        template_annotations = (template.get("metadata") or {}).get("annotations") or {}
        policy = parse_policy(
            annotations,
            template_annotations=template_annotations,
            reload_all=self.auto_reload_all,
            reload_on=self.reload_on,
        )
        strategy, problem = strategy_of(obj)
        if problem is not None:
            policy = replace(policy, errors=(*policy.errors, problem))
        workload = Workload(
            key=key,
            policy=policy,
            refs=extract_refs(template.get("spec") or {}),
            template_hash=template_annotations.get(names.CONFIG_HASH),
            record=annotations.get(names.OBSERVED),
            reference={
                "apiVersion": obj.get("apiVersion"),
                "kind": obj["kind"],
                "metadata": {
                    "name": meta["name"],
                    "namespace": key[1],
                    "uid": meta.get("uid"),
                    "resourceVersion": meta.get("resourceVersion"),
                },
            },
            strategy=strategy,
        )
        old = self.workloads.get(key)
        if old is None:
            OBJECTS_TRACKED.labels(key[0]).inc()
        else:
            self._unindex(old)
        self.workloads[key] = workload
        self._index(workload)
        changed = old is None or (
            old.policy,
            old.refs,
            old.template_hash,
            old.record,
            old.strategy,
        ) != (
            workload.policy,
            workload.refs,
            workload.template_hash,
            workload.record,
            workload.strategy,
        )
        return workload, changed

    def drop_workload(self, key: WorkloadKey) -> None:
        old = self.workloads.pop(key, None)
        if old is not None:
            OBJECTS_TRACKED.labels(key[0]).dec()
            self._unindex(old)

    def workload_keys(self, kind: str, ns: str | None) -> set[WorkloadKey]:
        return {k for k in self.workloads if k[0] == kind and (ns is None or k[1] == ns)}

    def _index(self, workload: Workload) -> None:
        if not workload.policy.active:
            return
        for ref in workload.refs:
            self._by_ref[(workload.namespace, ref.kind, ref.name)].add(workload.key)
        if any(workload.policy.reload.values()):
            self._listing[workload.namespace].add(workload.key)

    def _unindex(self, workload: Workload) -> None:
        for ref in workload.refs:
            entry = self._by_ref.get((workload.namespace, ref.kind, ref.name))
            if entry is not None:
                entry.discard(workload.key)
                if not entry:
                    del self._by_ref[(workload.namespace, ref.kind, ref.name)]
        listing = self._listing.get(workload.namespace)
        if listing is not None:
            listing.discard(workload.key)
            if not listing:
                del self._listing[workload.namespace]

    def drop_namespace(self, ns: str) -> None:
        """Forget everything in ``ns`` (it left the watched set)."""
        for kind, name in list(self.objects.get(ns, {})):
            self.drop_object(kind, ns, name)
        self.objects.pop(ns, None)
        for key in [k for k in self.workloads if k[1] == ns]:
            self.drop_workload(key)
