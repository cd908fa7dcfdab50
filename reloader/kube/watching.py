"""List, then watch from the list's resourceVersion; relist on 410; resume after errors.

We own this loop instead of using the library's watch helper because correctness hangs on it:
every change must reach the sink exactly as the API server ordered it, an expired
resourceVersion (410 Gone) must trigger a fresh list rather than a silent retry, and a
half-open connection must time out (``sock_read``) instead of hanging forever. The sink sees
upserts and deletes, plus ``synced`` after each full list, so it can drop what disappeared
while the watch was down. Because the controller is level-triggered, replaying an object it
already holds is harmless.

Restarts are paced (``RestartPacer``), as client-go's reflector paces them: a server that ends
every watch at once, or answers 410 to every fresh list's watch, would otherwise be hammered
with back-to-back lists and watches, and a list is the most expensive request a controller
makes. One restart after a healthy watch is free (a 410 after compaction is routine); further
ones without a healthy watch between wait a jittered, exponentially growing delay.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from typing import Literal, Protocol

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


Restart = Literal["expired", "closed", "error"]
"""Why a watch ended before its timeout: 410 Gone, closed by the server, or an error."""


class RestartPacer:
    """How long to wait before the next list or watch, from how the last one ended.

    A watch that ran ``healthy_after`` seconds (or to its timeout) proves the server well: the
    count of consecutive restarts starts over and resuming is immediate. After that, the first
    410 relists at once; any other restart, and every restart until a watch is healthy again,
    waits ``d/2 + jitter * d/2`` with ``d = min(cap, base * 2**n)``: never zero (so a server
    that ends every watch at once is not hammered), never in lockstep across watchers, and at
    most ``cap``. Pure: the clock and the random source are the caller's.
    """

    def __init__(
        self,
        *,
        base: float = 0.2,
        cap: float = 30.0,
        healthy_after: float = 10.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base, self.cap, self.healthy_after, self.rng = base, cap, healthy_after, rng
        self.attempt = 0
        """Restarts since the last healthy watch."""

    def next_delay(self, reason: Restart | None, *, ran_for: float) -> float:
        """Seconds to wait after a watch that ran ``ran_for`` seconds and ended for ``reason``
        (None: at its timeout; a failed list ran for 0)."""
        if reason is None or ran_for >= self.healthy_after:
            self.attempt = 0
            if reason != "error":
                return 0.0
        elif reason == "expired" and self.attempt == 0:
            self.attempt = 1
            return 0.0
        step = min(self.cap, self.base * 2.0 ** min(self.attempt, 32))
        self.attempt += 1
        return step / 2 + self.rng() * step / 2


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
        self.log.debug("list and watch", **self.selectors)  # one per watch, for counting them
        pacer = RestartPacer(healthy_after=min(10.0, max(0.0, self.watch_seconds - 1.0)))
        version: str | None = None
        first = True
        while True:
            opened: float | None = None
            reason: Restart | None = None
            detail = ""
            try:
                if version is None:
                    version = await self.list_all()
                    if first:
                        first = False
                        self.on_synced()
                opened = time.monotonic()
                resumed = await self.watch_from(version)
                if resumed is None:
                    reason = "expired"
                elif time.monotonic() - opened < self.watch_seconds - 1:
                    reason = "closed"  # before its timeout: the server went away or dropped us
                version = resumed
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                reason, detail = ("expired" if exc.gone else "error"), str(exc)
                if exc.gone:
                    version = None
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError, OSError) as exc:
                reason, detail = "error", repr(exc)
            ran_for = 0.0 if opened is None else time.monotonic() - opened
            delay = pacer.next_delay(reason, ran_for=ran_for)
            if reason is not None:
                self._restarted(reason, delay=delay, detail=detail)
            if delay:
                await asyncio.sleep(delay)

    def _restarted(self, reason: Restart, *, delay: float, detail: str) -> None:
        WATCH_RESTARTS.labels(self.resource.plural, reason).inc()
        retry_in = round(delay, 2)
        if reason == "expired":
            self.log.info("resourceVersion expired (410 Gone); relisting", retry_in=retry_in)
        elif reason == "closed":
            self.log.info("watch closed by the server; resuming", retry_in=retry_in)
        else:
            self.log.warning(
                "list/watch failed or connection lost; retrying", error=detail, retry_in=retry_in
            )
