"""Watch restarts are paced like client-go's reflector (reloader.kube.watching.RestartPacer)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import cast

import aiohttp
import pytest
from prometheus_client import REGISTRY

from reloader.kube.resources import CONFIGMAPS
from reloader.kube.rest import JSONDict, Query, Rest
from reloader.kube.watching import ObjectKey, Restart, RestartPacer, Watcher

HEALTHY = 60.0  # a watch that ran a minute
AT_ONCE = 0.01  # a watch the server ended as soon as it began


def _pacer(jitter: float = 1.0) -> RestartPacer:
    return RestartPacer(base=0.2, cap=30.0, healthy_after=10.0, rng=lambda: jitter)


def test_watch_that_reached_its_timeout_resumes_at_once() -> None:
    pacer = _pacer()
    assert [pacer.next_delay(None, ran_for=300.0) for _ in range(5)] == [0.0] * 5


def test_server_closing_every_watch_at_once_backs_off_exponentially_to_the_cap() -> None:
    pacer = _pacer()
    delays = [pacer.next_delay("closed", ran_for=AT_ONCE) for _ in range(12)]
    assert delays[:4] == pytest.approx([0.2, 0.4, 0.8, 1.6])
    assert all(a < b for a, b in itertools.pairwise(delays[:8]))
    assert max(delays) == pytest.approx(30.0)
    assert delays[-1] == pytest.approx(30.0)


def test_every_early_restart_waits_even_with_the_least_jitter() -> None:
    pacer = _pacer(jitter=0.0)
    delays = [pacer.next_delay("closed", ran_for=AT_ONCE) for _ in range(10)]
    assert min(delays) >= 0.1, "a server ending every watch at once must not be hammered"
    assert delays[-1] == pytest.approx(15.0)


def test_one_expiry_after_a_healthy_watch_relists_at_once() -> None:
    pacer = _pacer()
    assert pacer.next_delay(None, ran_for=300.0) == 0.0
    assert pacer.next_delay("expired", ran_for=AT_ONCE) == 0.0


def test_consecutive_expiries_back_off() -> None:
    pacer = _pacer()
    delays = [pacer.next_delay("expired", ran_for=AT_ONCE) for _ in range(6)]
    assert delays[0] == 0.0
    assert delays[1:] == pytest.approx([0.4, 0.8, 1.6, 3.2, 6.4])


def test_failed_lists_back_off() -> None:
    pacer = _pacer()
    delays = [pacer.next_delay("error", ran_for=0.0) for _ in range(3)]
    assert delays == pytest.approx([0.2, 0.4, 0.8])


def test_a_healthy_watch_resets_the_backoff() -> None:
    pacer = _pacer()
    for _ in range(10):
        pacer.next_delay("closed", ran_for=AT_ONCE)
    assert pacer.next_delay("closed", ran_for=HEALTHY) == 0.0
    assert pacer.next_delay("closed", ran_for=AT_ONCE) == pytest.approx(0.2)


def test_error_after_a_healthy_watch_waits_the_first_step_only() -> None:
    pacer = _pacer()
    for _ in range(10):
        pacer.next_delay("error", ran_for=0.0)
    assert pacer.next_delay("error", ran_for=HEALTHY) == pytest.approx(0.2)


def test_an_expiry_after_early_closes_is_not_free() -> None:
    pacer = _pacer()
    pacer.next_delay("closed", ran_for=AT_ONCE)
    assert pacer.next_delay("expired", ran_for=AT_ONCE) == pytest.approx(0.4)


@pytest.mark.parametrize("reason", ["expired", "closed", "error"])
def test_delay_is_jittered_between_half_and_full_step(reason: Restart) -> None:
    low = RestartPacer(rng=lambda: 0.0)
    high = RestartPacer(rng=lambda: 0.999)
    for _ in range(3):
        a = low.next_delay(reason, ran_for=AT_ONCE)
        b = high.next_delay(reason, ran_for=AT_ONCE)
        assert a <= b <= 2 * a + 1e-9 or a == b == 0.0


def test_delay_never_exceeds_the_cap_after_very_many_restarts() -> None:
    pacer = _pacer()
    assert max(pacer.next_delay("error", ran_for=0.0) for _ in range(10_000)) <= 30.0


# --- the watch loop uses the pacer ---


class _Sink:
    def upsert(self, obj: JSONDict) -> None:
        pass

    def delete(self, obj: JSONDict) -> None:
        pass

    def synced(self, present: set[ObjectKey]) -> None:
        pass


class _RestEndingEveryWatch:
    """Lists fine; every watch ends at once, with nothing or with a 410 ERROR event."""

    def __init__(self, *, gone: bool) -> None:
        self.gone, self.lists, self.watches = gone, 0, 0

    async def get(self, path: str, query: Query | None = None) -> JSONDict:
        self.lists += 1
        return {"items": [], "metadata": {"resourceVersion": str(self.lists)}}

    async def stream(
        self, path: str, query: Query, *, limits: aiohttp.ClientTimeout
    ) -> AsyncIterator[JSONDict]:
        self.watches += 1
        if self.gone:
            yield {"type": "ERROR", "object": {"code": 410, "reason": "Expired"}}


async def _run_for(rest: _RestEndingEveryWatch, seconds: float) -> None:
    watcher = Watcher(cast(Rest, rest), CONFIGMAPS, "pacing", _Sink(), watch_seconds=300)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(watcher.run(), seconds)


def _restarts(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "reloader_watch_restarts_total", {"resource": "configmaps", "reason": reason}
    )
    return value or 0.0


async def test_watch_loop_backs_off_when_the_server_closes_every_watch_at_once() -> None:
    before = _restarts("closed")
    rest = _RestEndingEveryWatch(gone=False)
    await _run_for(rest, 2.0)
    # 0.1-0.2 + 0.2-0.4 + 0.4-0.8 + 0.8-1.6 s: at most 7 watches in 2 s, not thousands.
    print(f"watches in 2 s with every watch closed at once: {rest.watches}")
    assert 3 <= rest.watches <= 7
    assert rest.lists == 1
    assert _restarts("closed") - before == rest.watches


async def test_watch_loop_backs_off_on_repeated_410_relists() -> None:
    before = _restarts("expired")
    rest = _RestEndingEveryWatch(gone=True)
    await _run_for(rest, 2.0)
    print(f"lists in 2 s with every watch answered 410: {rest.lists}")
    assert 3 <= rest.lists <= 8
    assert _restarts("expired") - before == rest.watches
