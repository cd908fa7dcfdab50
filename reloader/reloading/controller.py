"""Wire the watches, the index, the queue and the reconcilers into the running reloader.

One watcher per resource per scope (a namespace, or the whole cluster), so ``--namespace``
reduces what the API server sends and what we hold rather than filtering a cluster-wide cache.
Watch events only update the index and enqueue keys; workers reconcile keys from the queue,
so a slow patch never stalls a watch. Nothing is reconciled in a scope until all its initial
lists are in: a Secret not listed yet must not look deleted.

Filters cut at the source: ``--namespaces-to-ignore`` becomes a field selector and
``--resource-label-selector`` a label selector of the watches, and an ignored kind is not
watched at all. ``--namespace-selector`` adds no watches (``selecting``): it only says where
to act, so its cost does not grow with the number of namespaces it picks.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from reloader.alerting.calling import ReloadWebhook
from reloader.alerting.messages import parse_sink
from reloader.alerting.sending import AlertSender, AlertTarget
from reloader.core import filtering, names
from reloader.core.hashing import Hasher
from reloader.core.references import Kind
from reloader.core.settings import Settings
from reloader.kube.events import Recorder
from reloader.kube.resources import (
    CONFIGMAPS,
    NAMESPACES,
    OPTIONAL_WORKLOADS,
    SECRETS,
    WORKLOADS,
    Resource,
)
from reloader.kube.rest import JSONDict, Rest
from reloader.kube.watching import ObjectKey, Watcher
from reloader.reloading.announcing import Announcer
from reloader.reloading.discovering import follow
from reloader.reloading.index import Index, Workload, WorkloadKey
from reloader.reloading.queueing import DueQueue
from reloader.reloading.reconciling import Reconciler
from reloader.reloading.selecting import Selection
from reloader.telemetry.logging import get_logger
from reloader.telemetry.metrics import INVALID_ANNOTATIONS

log = get_logger("controller")
OBJECT_KINDS = {CONFIGMAPS.kind: Kind.CONFIGMAP, SECRETS.kind: Kind.SECRET}


@dataclass
class Scope:
    namespace: str | None
    pending: int
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    optional: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    """Watches of kinds a CRD brings, by kind: not waited for, stopped if the CRD goes."""

    @property
    def ready(self) -> bool:
        return self.pending == 0


class Controller:
    def __init__(self, *, rest: Rest, settings: Settings, hasher: Hasher) -> None:
        self.rest, self.settings = rest, settings
        self.index = Index(auto_reload_all=settings.auto_reload_all, reload_on=settings.reload_on)
        self._scopes_listed = asyncio.Event()
        """Set once every scope started has its initial lists in (optional kinds wait)."""
        self.queue: DueQueue[WorkloadKey] = DueQueue()
        self.recorder = Recorder(rest)
        self.alerts = _alert_sender(settings)
        self.reconciler = Reconciler(
            rest=rest,
            index=self.index,
            hasher=hasher,
            recorder=self.recorder,
            debounce=settings.debounce,
            announcer=Announcer(
                alerts=self.alerts, by_namespace=settings.metrics_count_by_namespace
            ),
            webhook=ReloadWebhook(settings.reload_webhook_url)
            if settings.reload_webhook_url
            else None,
            partial_kinds=partial_kinds(settings),
        )
        self.scopes: dict[str | None, Scope] = {}
        self.selection = (
            None
            if settings.namespace_selector is None
            else Selection(allowed=settings.namespaces, on_selected=self._selected)
        )
        self._background: set[asyncio.Task[None]] = set()
        self._served: set[Resource] = set()

    @property
    def ready(self) -> bool:
        listed = self.selection is None or self.selection.listed
        return listed and all(s.ready for s in self.scopes.values())

    def acting_in(self, namespace: str) -> bool:
        """Whether workloads in ``namespace`` are reconciled (the selector picks it)."""
        return self.selection is None or namespace in self.selection

    def watches(self, resource: Resource) -> bool:
        """Whether ``resource`` is watched at all (``--resources-to-ignore``, ...)."""
        kind = OBJECT_KINDS.get(resource.kind)
        if kind is not None:
            return kind not in self.settings.ignored_resources
        return resource.kind not in self.settings.ignored_workload_kinds

    async def run(self) -> None:
        """Run until cancelled."""
        try:
            workers = [asyncio.create_task(self._work()) for _ in range(self.settings.workers)]
            if self.alerts is not None:
                workers.append(asyncio.create_task(self.alerts.run()))
            optional = [r for r in OPTIONAL_WORKLOADS if self.watches(r)]
            if optional:
                workers.append(asyncio.create_task(self._follow_after_ready(optional)))
            if self.selection is not None:
                watcher = Watcher(
                    self.rest,
                    NAMESPACES,
                    None,
                    self.selection,
                    on_synced=self.selection.synced_first,
                    label_selector=self.settings.namespace_selector,
                    field_selector=filtering.excluding(
                        "metadata.name", self.settings.namespaces_to_ignore
                    ),
                    watch_seconds=self.settings.watch_seconds,
                )
                workers.append(asyncio.create_task(watcher.run()))
            for namespace in watched_namespaces(self.settings):
                self.start_scope(namespace)
            await asyncio.gather(*workers)
        finally:
            for scope in list(self.scopes):
                self.stop_scope(scope)
            for task in self._background:
                task.cancel()
            await self.reconciler.writer.drain(10.0)  # a Job deleted is created again

    async def _follow_after_ready(self, optional: list[Resource]) -> None:
        """Discover (and watch) the kinds a CRD brings once the core lists are in: they do
        not gate readiness, and asking for them during the initial lists only competes with
        those (a fifth of the start-up time on a 2-core control plane)."""
        await self._scopes_listed.wait()
        interval = self.settings.discovery_interval
        await follow(self.rest, optional, interval=interval, changed=self._served_now)

    # --- scopes ---

    def start_scope(self, namespace: str | None) -> None:
        if namespace in self.scopes:
            return
        resources = (CONFIGMAPS, SECRETS, *WORKLOADS)
        watched = [r for r in resources if self.watches(r)]
        scope = Scope(namespace, pending=len(watched))
        self.scopes[namespace] = scope
        if self.selection is None:
            log.info("watching", namespace=namespace or "*")
        # Outside --namespace, the ignored namespaces are never sent (a field selector).
        ignored = () if namespace else self.settings.namespaces_to_ignore
        for resource in watched:
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
                field_selector=filtering.excluding("metadata.namespace", ignored),
                label_selector=self.settings.resource_label_selector
                if resource.kind in OBJECT_KINDS
                else None,
            )
            scope.tasks.append(asyncio.create_task(watcher.run()))
        for resource in self._served:
            self._watch_optional(scope, resource)

    def _served_now(self, resource: Resource, served: bool) -> None:
        """Start or stop watching ``resource`` (a CRD's kind) in every scope."""
        if served:
            self._served.add(resource)
            for scope in self.scopes.values():
                self._watch_optional(scope, resource)
            return
        self._served.discard(resource)
        for scope in self.scopes.values():
            task = scope.optional.pop(resource.kind, None)
            if task is not None:
                task.cancel()
            for key in self.index.workload_keys(resource.kind, scope.namespace):
                self.index.drop_workload(key)

    def _watch_optional(self, scope: Scope, resource: Resource) -> None:
        if resource.kind in scope.optional:
            return
        ignored = () if scope.namespace else self.settings.namespaces_to_ignore
        watcher = Watcher(
            self.rest,
            resource,
            scope.namespace,
            _WorkloadSink(self, resource.kind, scope),
            watch_seconds=self.settings.watch_seconds,
            field_selector=filtering.excluding("metadata.namespace", ignored),
        )
        scope.optional[resource.kind] = asyncio.create_task(watcher.run())

    def stop_scope(self, namespace: str | None) -> None:
        scope = self.scopes.pop(namespace, None)
        if scope is None:
            return
        for task in (*scope.tasks, *scope.optional.values()):
            task.cancel()
        if namespace is not None:
            self.index.drop_namespace(namespace)
        log.info("stopped watching", namespace=namespace or "*")

    def _synced(self, scope: Scope) -> None:
        scope.pending -= 1
        if all(s.ready for s in self.scopes.values()):
            self._scopes_listed.set()
        if scope.ready:
            keys = [
                k
                for k in self.index.workloads
                if self.in_scope(scope, k[1]) and self.acting_in(k[1])
            ]
            log.info(
                "initial lists processed", namespace=scope.namespace or "*", workloads=len(keys)
            )
            for key in keys:
                self.queue.add(key)

    def in_scope(self, scope: Scope, namespace: str) -> bool:
        return scope.namespace is None or scope.namespace == namespace

    def scope_of(self, namespace: str) -> Scope | None:
        return self.scopes.get(namespace) or self.scopes.get(None)

    def _selected(self, namespaces: set[str]) -> None:
        """Namespaces the selector picks from now on: reconcile their workloads from the
        index (their objects are there already; scopes not listed yet enqueue them later)."""
        keys = {k for k in self.index.workloads if k[1] in namespaces}
        for key in keys:
            if self.index.workloads[key].policy.errors:
                self.warn_invalid(self.index.workloads[key])  # not said while unselected
        self.enqueue(keys)

    def warn_invalid(self, workload: Workload) -> None:
        errors = workload.policy.errors
        INVALID_ANNOTATIONS.inc(len(errors))
        log.warning("invalid annotation", workload="/".join(workload.key), errors=list(errors))
        self.spawn(
            self.recorder.record(
                workload.reference,
                type="Warning",
                reason=names.REASON_BAD_ANNOTATION,
                message="; ".join(errors) + " (the annotation is ignored until fixed)",
            )
        )

    # --- work ---

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            retry_at: float | None = None
            if not self.acting_in(key[1]):  # deselected since it was queued
                self.queue.done(key)
                continue
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
            if scope is not None and scope.ready and self.acting_in(key[1]):
                self.queue.add(key, at)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a best-effort side task (an Event) without blocking the watch that caused it."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _alert_sender(settings: Settings) -> AlertSender | None:
    alerts = settings.alerts
    if not alerts.on_reload or not alerts.webhook_url:
        return None
    target = AlertTarget(
        url=alerts.webhook_url,
        sink=parse_sink(alerts.sink),
        additional_info=alerts.additional_info,
        proxy=alerts.webhook_proxy,
    )
    return AlertSender(target)


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
        fresh = before is None or before.policy.errors != errors
        if errors and fresh and self.c.acting_in(workload.namespace):
            self.c.warn_invalid(workload)
        if changed and workload.policy.active:
            self.c.enqueue({workload.key})

    def delete(self, obj: JSONDict) -> None:
        meta = obj["metadata"]
        key = (self.kind, meta.get("namespace", ""), meta["name"])
        known = self.c.index.workloads.get(key)
        # A recreated Job is in the index already: the old one's deletion must not drop it.
        if known is None or known.reference["metadata"].get("uid") in (None, meta.get("uid")):
            self.c.index.drop_workload(key)

    def synced(self, present: set[ObjectKey]) -> None:
        for key in self.c.index.workload_keys(self.kind, self.scope.namespace):
            if (key[1], key[2]) not in present:
                self.c.index.drop_workload(key)


def watched_namespaces(settings: Settings) -> tuple[str | None, ...]:
    """The watch scopes: each ``--namespace`` not ignored, else the whole cluster (None)."""
    ignored = set(settings.namespaces_to_ignore)
    return tuple(n for n in settings.namespaces if n not in ignored) or (None,)


def partial_kinds(settings: Settings) -> frozenset[Kind]:
    """Kinds of which the index may lack objects that exist: ignored, or filtered by label."""
    if settings.resource_label_selector:
        return frozenset(Kind)
    return settings.ignored_resources
