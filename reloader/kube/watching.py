"""List, then watch from the list's resourceVersion; relist on 410; resume after errors.

We own this loop instead of using the library's watch helper because correctness hangs on it:
every change must reach the sink exactly as the API server ordered it, an expired
resourceVersion (410 Gone) must trigger a fresh list rather than a silent retry, and a
half-open connection must time out (``sock_read``) instead of hanging forever. The sink sees
upserts and deletes, plus ``synced`` after each full list, so it can drop what disappeared
while the watch was down. Because the controller is level-triggered, replaying an object it
already holds is harmless.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from typing import Protocol

import aiohttp

from reloader.kube.resources import Resource
from reloader.kube.rest import ApiError, JSONDict, Rest
from reloader.telemetry.logging import get_logger
from reloader.telemetry.metrics import WATCH_RESTARTS

log = get_logger("watching")

ObjectKey = tuple[str, str]
"""(namespace, name)"""


class Sink(Protocol):
    """Receives the objects of one resource in one scope."""

    def upsert(self, obj: JSONDict) -> None: ...

    def delete(self, obj: JSONDict) -> None: ...

    def synced(self, present: set[ObjectKey]) -> None:
        """A full list finished: ``present`` is every object that exists now."""


def object_key(obj: JSONDict) -> ObjectKey:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


class Backoff:
    """Exponential backoff with full jitter, so many watchers do not retry in lockstep."""

    def __init__(self, *, base: float = 0.2, cap: float = 30.0) -> None:
        self.base, self.cap, self.attempt = base, cap, 0

    def next(self) -> float:
        delay = random.uniform(0, min(self.cap, self.base * 2**self.attempt))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


class Watcher:
    """Keeps one sink in step with one resource in one namespace (or all)."""

    def __init__(
        self,
        rest: Rest,
        resource: Resource,
        namespace: str | None,
        sink: Sink,
        *,
        on_synced: Callable[[], None] = lambda: None,
        page_size: int = 500,
        watch_seconds: int = 300,
        field_selector: str | None = None,
        label_selector: str | None = None,
    ) -> None:
        self.rest, self.resource, self.namespace, self.sink = rest, resource, namespace, sink
        self.on_synced = on_synced
        self.page_size, self.watch_seconds = page_size, watch_seconds
        self.selectors = {
            k: v
            for k, v in (("fieldSelector", field_selector), ("labelSelector", label_selector))
            if v
        }
        self.path = resource.collection(namespace)
        self.log = log.bind(resource=resource.plural, namespace=namespace or "*")

    async def list_all(self) -> str:
        """Page through the whole collection into the sink; return the list's resourceVersion."""
        present: set[ObjectKey] = set()
        token = ""
        while True:
            query: dict[str, str | int | bool] = {"limit": self.page_size, **self.selectors}
            if token:
                query["continue"] = token
            page = await self.rest.get(self.path, query)
            for item in page.get("items") or ():
                item.setdefault("kind", self.resource.kind)
                present.add(object_key(item))
                self.sink.upsert(item)
            meta = page.get("metadata") or {}
            token = meta.get("continue") or ""
            if not token:
                self.sink.synced(present)
                return str(meta["resourceVersion"])

    async def watch_from(self, version: str) -> str | None:
        """Apply watch events from ``version``; return where to resume, None to relist."""
        query: dict[str, str | int | bool] = {
            "watch": True,
            "resourceVersion": version,
            "allowWatchBookmarks": True,
            "timeoutSeconds": self.watch_seconds,
            **self.selectors,
        }
        limits = aiohttp.ClientTimeout(
            total=None, sock_connect=10, sock_read=self.watch_seconds + 30
        )
        async for event in self.rest.stream(self.path, query, limits=limits):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    return None
                raise ApiError(
                    int(obj.get("code") or 500), obj.get("reason", ""), obj.get("message", "")
                )
            version = obj["metadata"]["resourceVersion"]
            if kind == "BOOKMARK":
                continue
            obj.setdefault("kind", self.resource.kind)
            if kind == "DELETED":
                self.sink.delete(obj)
            else:
                self.sink.upsert(obj)
        return version

    async def run(self) -> None:
        """Run until cancelled; never raises for API or network trouble, it retries."""
        backoff = Backoff()
        version: str | None = None
        first = True
        while True:
            try:
                if version is None:
                    version = await self.list_all()
                    if first:
                        first = False
                        self.on_synced()
                    backoff.reset()
                opened = time.monotonic()
                resumed = await self.watch_from(version)
                if resumed is None:
                    WATCH_RESTARTS.labels(self.resource.plural, "expired").inc()
                    self.log.info("watch expired (410 Gone); relisting")
                elif time.monotonic() - opened < self.watch_seconds - 1:
                    # Closed before its timeout: the server went away or dropped us.
                    WATCH_RESTARTS.labels(self.resource.plural, "closed").inc()
                    self.log.info("watch closed by the server; resuming", resource_version=resumed)
                version = resumed
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.gone:
                    WATCH_RESTARTS.labels(self.resource.plural, "expired").inc()
                    self.log.info("resourceVersion expired (410 Gone); relisting")
                    version = None
                    continue
                WATCH_RESTARTS.labels(self.resource.plural, "error").inc()
                delay = backoff.next()
                self.log.warning(
                    "list/watch failed; retrying", error=str(exc), retry_in=round(delay, 2)
                )
                await asyncio.sleep(delay)
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError, OSError) as exc:
                WATCH_RESTARTS.labels(self.resource.plural, "error").inc()
                delay = backoff.next()
                self.log.warning(
                    "connection to the API server lost; resuming",
                    error=repr(exc),
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay)
