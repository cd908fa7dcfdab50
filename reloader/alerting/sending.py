"""Alerts on reload: a bounded queue that a background task drains, one message at a time.

``submit`` never waits and never fails, so a reload is never slowed or undone by a chat
service: when the queue is full the oldest alert is dropped (counted), as the newest says
the most about what runs now. The drain task POSTs each message with a deadline and retries
with backoff (``posting.deliver``); a message it gives up on is logged and counted, never
retried later, since an alert about a reload hours ago helps nobody. Messages go out in the
order reloads happened, one at a time, which also keeps a burst of reloads under chat
services' rate limits.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

import aiohttp

from reloader.alerting.messages import Reload, Sink, payload
from reloader.alerting.posting import deliver, describe, session
from reloader.alerting.retrying import RetryPolicy
from reloader.alerting.urls import redact
from reloader.telemetry.logging import get_logger
from reloader.telemetry.metrics import ALERTS_DROPPED, ALERTS_FAILED, ALERTS_SENT

log = get_logger("alerting")


@dataclass(frozen=True)
class AlertTarget:
    """Where alerts go and what they add (``ALERT_*`` in Stakater Reloader's terms)."""

    url: str = field(repr=False)
    sink: Sink = Sink.RAW
    additional_info: str = ""
    proxy: str | None = field(default=None, repr=False)


class AlertSender:
    def __init__(
        self, target: AlertTarget, *, capacity: int = 100, policy: RetryPolicy | None = None
    ) -> None:
        if capacity < 1:
            raise ValueError("the alert queue needs room for at least one message")
        self.target, self.capacity = target, capacity
        self.policy = policy or RetryPolicy()
        self._queue: deque[Reload] = deque()
        self._waiting = asyncio.Event()
        self._sink = target.sink.value

    @property
    def pending(self) -> int:
        return len(self._queue)

    def submit(self, reload: Reload) -> None:
        """Queue an alert for ``reload``; returns at once."""
        if len(self._queue) >= self.capacity:
            dropped = self._queue.popleft()
            ALERTS_DROPPED.labels(self._sink).inc()
            log.warning(
                "alert queue full; dropped the oldest alert",
                workload=dropped.workload,
                namespace=dropped.namespace,
                capacity=self.capacity,
            )
        self._queue.append(reload)
        self._waiting.set()

    async def run(self) -> None:
        """Send queued alerts until cancelled."""
        log.info("alerting on reload", sink=self._sink, url=redact(self.target.url))
        try:
            async with session() as http:
                while True:
                    while not self._queue:
                        self._waiting.clear()
                        await self._waiting.wait()
                    reload = self._queue.popleft()
                    try:
                        await self._send(http, reload)
                    except Exception:  # a bug here must not end alerting for good
                        ALERTS_FAILED.labels(self._sink).inc()
                        log.exception("alert not sent", workload=reload.workload)
        finally:
            if self._queue:
                ALERTS_DROPPED.labels(self._sink).inc(len(self._queue))
                log.warning("alerts not sent at shutdown", count=len(self._queue))
                self._queue.clear()

    async def _send(self, http: aiohttp.ClientSession, reload: Reload) -> None:
        body = payload(self.target.sink, reload, additional_info=self.target.additional_info)
        result = await deliver(
            http, self.target.url, body, policy=self.policy, proxy=self.target.proxy
        )
        fields = {"workload": reload.workload, "namespace": reload.namespace}
        if result.accepted:
            ALERTS_SENT.labels(self._sink).inc()
            log.info("alert sent", **fields, attempts=result.attempts)
        else:
            ALERTS_FAILED.labels(self._sink).inc()
            log.error(
                "alert not sent",
                **fields,
                attempts=result.attempts,
                error=describe(result.last, self.target.url),
            )
