"""A work queue of workload keys, each due at a time, each processed by one worker at a time.

A key added again before it is processed is merged (one reconcile for many events: the state
it reads is the latest anyway); a key added while it is being processed runs once more
afterwards, so no change that arrived mid-reconcile is lost. Times are wall-clock seconds,
because debounce deadlines derive from the API server's write times.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class DueQueue(Generic[K]):
    def __init__(self) -> None:
        self._due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._processing: set[K] = set()
        self._again: dict[K, float] = {}
        self._wakeup = asyncio.Event()

    def __len__(self) -> int:
        return len(self._due) + len(self._again)

    def add(self, key: K, at: float | None = None) -> None:
        """Process ``key`` at ``at`` (default: now), or sooner if it is already due sooner."""
        when = time.time() if at is None else at
        if key in self._processing:
            self._again[key] = min(when, self._again.get(key, when))
            return
        if key in self._due and self._due[key] <= when:
            return
        self._due[key] = when
        heapq.heappush(self._heap, (when, next(self._seq), key))
        self._wakeup.set()

    async def get(self) -> K:
        """Wait for the next due key and mark it as being processed."""
        while True:
            while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                heapq.heappop(self._heap)  # superseded by an earlier deadline
            if self._heap:
                when, _, key = self._heap[0]
                delay = when - time.time()
                if delay <= 0:
                    heapq.heappop(self._heap)
                    del self._due[key]
                    self._processing.add(key)
                    return key
            else:
                delay = None
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), delay)

    def done(self, key: K) -> None:
        """Processing of ``key`` finished; run it again if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._again:
            self.add(key, self._again.pop(key))
