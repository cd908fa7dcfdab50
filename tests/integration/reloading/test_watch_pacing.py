"""Watch restarts are paced, and a watch that reaches its timeout is not a restart at all.

Against the real API server with a two-second watch timeout, so that a few minutes of normal
operation happen in seconds: every watch ends (the server closes it at ``timeoutSeconds``),
and the watcher must resume from where it was at once, without relisting, without backing
off and without counting a restart; a change made after several such rounds arrives promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from prometheus_client import REGISTRY

from reloader.kube.resources import CONFIGMAPS
from reloader.kube.rest import JSONDict, Rest
from reloader.kube.watching import ObjectKey, Watcher
from tests.integration.cluster import configmap, create, eventually


class _Sink:
    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.lists = 0

    def upsert(self, obj: JSONDict) -> None:
        self.seen.setdefault(obj["metadata"]["name"], time.monotonic())

    def delete(self, obj: JSONDict) -> None:
        pass

    def synced(self, present: set[ObjectKey]) -> None:
        self.lists += 1


def _restarts() -> float:
    return sum(
        REGISTRY.get_sample_value(
            "reloader_watch_restarts_total", {"resource": "configmaps", "reason": reason}
        )
        or 0.0
        for reason in ("expired", "closed", "error")
    )


async def test_watches_ending_at_their_timeout_resume_at_once_without_a_restart(
    rest: Rest, namespace: str
) -> None:
    sink, before = _Sink(), _restarts()
    watcher = Watcher(rest, CONFIGMAPS, namespace, sink, watch_seconds=2)
    task = asyncio.create_task(watcher.run())
    try:
        await eventually(lambda: _ready(sink), within=10, what="the first list")
        await asyncio.sleep(6.5)  # three watches end at their timeout meanwhile
        await create(rest, namespace, configmap("late", {"a": "1"}))
        created = time.monotonic()
        seen = await eventually(lambda: _seen(sink, "late"), within=5, what="the new ConfigMap")
        print(f"change seen {seen - created:.3f} s after it was made, after 3 watch timeouts")
        assert seen - created < 1.0
        assert sink.lists == 1, "a watch that reached its timeout must resume, not relist"
        assert _restarts() == before, "a watch that reached its timeout is not a restart"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _ready(sink: _Sink) -> bool:
    return sink.lists > 0


async def _seen(sink: _Sink, name: str) -> float | None:
    return sink.seen.get(name)
