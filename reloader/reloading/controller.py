"""Wire the watches, the index, the queue and the reconcilers into the running reloader.

One watcher per resource per scope (a namespace, or the whole cluster), so ``--namespace``
reduces what the API server sends and what we hold rather than filtering a cluster-wide cache.
Watch events only update the index and enqueue keys; workers reconcile keys from the queue,
so a slow patch never stalls a watch. Nothing is reconciled in a scope until all its initial
lists are in: a Secret not listed yet must not look deleted.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from reloader.core import names
from reloader.core.hashing import Hasher
from reloader.core.references import Kind
from reloader.core.settings import Settings
from reloader.kube.events import Recorder
from reloader.kube.resources import CONFIGMAPS, NAMESPACES, SECRETS, WORKLOADS
from reloader.kube.rest import JSONDict, Rest
from reloader.kube.watching import ObjectKey, Watcher
from reloader.reloading.index import Index, WorkloadKey
from reloader.reloading.queueing import DueQueue
from reloader.reloading.reconciling import Reconciler
from reloader.telemetry.logging import get_logger
from reloader.telemetry.metrics import INVALID_ANNOTATIONS

log = get_logger("controller")
OBJECT_KINDS = {CONFIGMAPS.kind: Kind.CONFIGMAP, SECRETS.kind: Kind.SECRET}


@dataclass
class Scope:
    namespace: str | None
    pending: int
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.pending == 0


class Controller:
    def __init__(self, *, rest: Rest, settings: Settings, hasher: Hasher) -> None:
        self.rest, self.settings = rest, settings
        self.index = Index(auto_reload_all=settings.auto_reload_all)
        self.queue: DueQueue[WorkloadKey] = DueQueue()
        self.recorder = Recorder(rest)
        self.reconciler = Reconciler(
            rest=rest,
            index=self.index,
            hasher=hasher,
            recorder=self.recorder,
            debounce=settings.debounce,
        )
        self.scopes: dict[str | None, Scope] = {}
        self._namespaces_listed = settings.namespace_selector is None
        self._background: set[asyncio.Task[None]] = set()

    @property
    def ready(self) -> bool:
        return self._namespaces_listed and all(s.ready for s in self.scopes.values())

    async def run(self) -> None:
        """Run until cancelled."""
        try:
            workers = [asyncio.create_task(self._work()) for _ in range(self.settings.workers)]
            if self.settings.namespace_selector is not None:
                sink = _NamespaceSink(self)
                watcher = Watcher(
                    self.rest,
                    NAMESPACES,
                    None,
                    sink,
                    on_synced=sink.listed,
                    label_selector=self.settings.namespace_selector,
                    watch_seconds=self.settings.watch_seconds,
                )
                workers.append(asyncio.create_task(watcher.run()))
            else:
                for namespace in self.settings.namespaces or (None,):
                    self.start_scope(namespace)
            await asyncio.gather(*workers)
        finally:
            for scope in list(self.scopes):
                self.stop_scope(scope)
            for task in self._background:
                task.cancel()

    # --- scopes ---

    def start_scope(self, namespace: str | None) -> None:
        if namespace in self.scopes:
            return
        resources = (CONFIGMAPS, SECRETS, *WORKLOADS)
        scope = Scope(namespace, pending=len(resources))
        self.scopes[namespace] = scope
        log.info("watching", namespace=namespace or "*")
        for resource in resources:
            sink: _ObjectSink | _WorkloadSink
            if resource.kind in OBJECT_KINDS:
                sink = _ObjectSink(self, OBJECT_KINDS[resource.kind], scope)
            else:
                sink = _WorkloadSink(self, resource.kind, scope)
            watcher = Watcher(
                self.rest,
                resource,
                namespace,
                sink,
                on_synced=functools.partial(self._synced, scope),
                watch_seconds=self.settings.watch_seconds,
            )
            scope.tasks.append(asyncio.create_task(watcher.run()))

    def stop_scope(self, namespace: str | None) -> None:
        scope = self.scopes.pop(namespace, None)
        if scope is None:
            return
        for task in scope.tasks:
            task.cancel()
        if namespace is not None:
            self.index.drop_namespace(namespace)
        log.info("stopped watching", namespace=namespace or "*")

    def _synced(self, scope: Scope) -> None:
        scope.pending -= 1
        if scope.ready:
            keys = [k for k, w in self.index.workloads.items() if self.in_scope(scope, k[1])]
            log.info(
                "initial lists processed", namespace=scope.namespace or "*", workloads=len(keys)
            )
            for key in keys:
                self.queue.add(key)

    def in_scope(self, scope: Scope, namespace: str) -> bool:
        return scope.namespace is None or scope.namespace == namespace

    def scope_of(self, namespace: str) -> Scope | None:
        return self.scopes.get(namespace) or self.scopes.get(None)

    # --- work ---

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            retry_at: float | None = None
            try:
                retry_at = (await self.reconciler.reconcile(key)).retry_at
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile crashed; retrying", workload="/".join(key))
                retry_at = time.time() + 5.0
            finally:
                self.queue.done(key)
            if retry_at is not None:
                self.queue.add(key, retry_at)

    def enqueue(self, keys: set[WorkloadKey], at: float | None = None) -> None:
        for key in keys:
            scope = self.scope_of(key[1])
            if scope is not None and scope.ready:
                self.queue.add(key, at)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a best-effort side task (an Event) without blocking the watch that caused it."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


class _ObjectSink:
    def __init__(self, controller: Controller, kind: Kind, scope: Scope) -> None:
        self.c, self.kind, self.scope = controller, kind, scope

    def upsert(self, obj: JSONDict) -> None:
        affected = self.c.index.put_object(self.kind, obj, observed=self.scope.ready)
        if affected:
            self.c.enqueue(affected, time.time() + self.c.settings.debounce)

    def delete(self, obj: JSONDict) -> None:
        meta = obj["metadata"]
        self.c.enqueue(self.c.index.drop_object(self.kind, meta.get("namespace", ""), meta["name"]))

    def synced(self, present: set[ObjectKey]) -> None:
        for ns, name in self.c.index.object_keys(self.kind, self.scope.namespace) - present:
            self.c.enqueue(self.c.index.drop_object(self.kind, ns, name))


class _WorkloadSink:
    def __init__(self, controller: Controller, kind: str, scope: Scope) -> None:
        self.c, self.kind, self.scope = controller, kind, scope

    def upsert(self, obj: JSONDict) -> None:
        before = self.c.index.workloads.get(
            (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        )
        workload, changed = self.c.index.put_workload(obj)
        errors = workload.policy.errors
        if errors and (before is None or before.policy.errors != errors):
            INVALID_ANNOTATIONS.inc(len(errors))
            log.warning("invalid annotation", workload="/".join(workload.key), errors=list(errors))
            self.c.spawn(
                self.c.recorder.record(
                    workload.reference,
                    type="Warning",
                    reason=names.REASON_BAD_ANNOTATION,
                    message="; ".join(errors) + " (the annotation is ignored until fixed)",
                )
            )
        if changed and workload.policy.active:
            self.c.enqueue({workload.key})

    def delete(self, obj: JSONDict) -> None:
        meta = obj["metadata"]
        self.c.index.drop_workload((self.kind, meta.get("namespace", ""), meta["name"]))

    def synced(self, present: set[ObjectKey]) -> None:
        for key in self.c.index.workload_keys(self.kind, self.scope.namespace):
            if (key[1], key[2]) not in present:
                self.c.index.drop_workload(key)


class _NamespaceSink:
    """Starts and stops per-namespace scopes as namespaces match the selector or stop to."""

    def __init__(self, controller: Controller) -> None:
        self.c = controller
        self.listed: Callable[[], None] = self._listed

    def _listed(self) -> None:
        self.c._namespaces_listed = True

    def upsert(self, obj: JSONDict) -> None:
        if obj["metadata"].get("deletionTimestamp") is None:
            self.c.start_scope(obj["metadata"]["name"])

    def delete(self, obj: JSONDict) -> None:
        self.c.stop_scope(obj["metadata"]["name"])

    def synced(self, present: set[ObjectKey]) -> None:
        names_present = {name for _, name in present}
        for namespace in [n for n in self.c.scopes if n is not None and n not in names_present]:
            self.c.stop_scope(namespace)
