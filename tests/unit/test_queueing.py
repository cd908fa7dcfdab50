"""The due-time work queue (reloader.reloading.queueing.DueQueue)."""

from __future__ import annotations

import asyncio
import time

import pytest

from reloader.reloading.queueing import DueQueue

DEADLINE = 2.0
"""Upper bound for anything that should happen promptly."""
QUIET = 0.05
"""How long a key that must not be handed out is given to (wrongly) appear."""
FAR = 3600.0


async def next_key(queue: DueQueue[str]) -> str:
    return await asyncio.wait_for(queue.get(), DEADLINE)


async def assert_nothing_due(queue: DueQueue[str]) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), QUIET)


async def test_due_key_is_returned() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a")
    assert await next_key(queue) == "a"


async def test_empty_queue_has_length_zero_and_blocks() -> None:
    queue: DueQueue[str] = DueQueue()
    assert len(queue) == 0
    await assert_nothing_due(queue)


async def test_key_added_twice_before_processing_is_merged() -> None:
    queue: DueQueue[str] = DueQueue()
    now = time.time()
    queue.add("a", now - 1)
    queue.add("a", now - 1)
    queue.add("a")
    assert len(queue) == 1
    assert await next_key(queue) == "a"
    queue.done("a")
    assert len(queue) == 0
    await assert_nothing_due(queue)


async def test_earlier_add_brings_due_time_forward() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a", time.time() + FAR)
    queue.add("a", time.time() - 1)
    assert len(queue) == 1
    assert await next_key(queue) == "a"
    queue.done("a")
    await assert_nothing_due(queue)


async def test_later_add_does_not_postpone_due_key() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a", time.time() - 1)
    queue.add("a", time.time() + FAR)
    assert await next_key(queue) == "a"


async def test_keys_come_out_in_due_order() -> None:
    queue: DueQueue[str] = DueQueue()
    now = time.time()
    queue.add("late", now - 1)
    queue.add("early", now - 3)
    queue.add("middle", now - 2)
    assert [await next_key(queue) for _ in range(3)] == ["early", "middle", "late"]


async def test_key_is_not_returned_before_its_due_time() -> None:
    queue: DueQueue[str] = DueQueue()
    due = time.time() + 0.2
    queue.add("a", due)
    assert await next_key(queue) == "a"
    assert time.time() >= due


async def test_future_key_is_not_due_yet() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a", time.time() + FAR)
    assert len(queue) == 1
    await assert_nothing_due(queue)


async def test_waiting_get_wakes_for_a_newly_added_key() -> None:
    queue: DueQueue[str] = DueQueue()
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)  # let it block on the empty queue
    queue.add("a")
    assert await asyncio.wait_for(waiter, DEADLINE) == "a"


async def test_waiting_get_wakes_for_a_key_due_before_the_pending_one() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("later", time.time() + FAR)
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)  # let it wait for "later"
    queue.add("now")
    assert await asyncio.wait_for(waiter, DEADLINE) == "now"


async def test_waiting_get_wakes_when_pending_key_is_brought_forward() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a", time.time() + FAR)
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add("a")
    assert await asyncio.wait_for(waiter, DEADLINE) == "a"


async def test_different_keys_are_processed_concurrently() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a")
    queue.add("b")
    first, second = await next_key(queue), await next_key(queue)
    assert {first, second} == {"a", "b"}


async def test_key_added_while_processing_waits_for_done() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a")
    assert await next_key(queue) == "a"
    queue.add("a")
    assert len(queue) == 1
    await assert_nothing_due(queue)
    queue.done("a")
    assert await next_key(queue) == "a"


async def test_adds_while_processing_merge_into_one_rerun() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a")
    assert await next_key(queue) == "a"
    for _ in range(5):
        queue.add("a")
    assert len(queue) == 1
    queue.done("a")
    assert await next_key(queue) == "a"
    queue.done("a")
    assert len(queue) == 0
    await assert_nothing_due(queue)


async def test_rerun_after_done_keeps_earliest_time_added_while_processing() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a")
    assert await next_key(queue) == "a"
    queue.add("a", time.time() + FAR)
    queue.add("a", time.time() - 1)
    queue.add("a", time.time() + FAR)
    queue.done("a")
    assert await next_key(queue) == "a"


async def test_rerun_after_done_respects_a_future_time() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a")
    assert await next_key(queue) == "a"
    queue.add("a", time.time() + FAR)
    queue.done("a")
    assert len(queue) == 1
    await assert_nothing_due(queue)


async def test_waiting_get_wakes_when_done_requeues_a_key() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a")
    assert await next_key(queue) == "a"
    queue.add("a")
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    queue.done("a")
    assert await asyncio.wait_for(waiter, DEADLINE) == "a"


async def test_done_without_new_adds_leaves_queue_empty() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a")
    assert await next_key(queue) == "a"
    queue.done("a")
    assert len(queue) == 0
    await assert_nothing_due(queue)


async def test_done_for_unknown_key_is_harmless() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.done("never-added")
    assert len(queue) == 0


async def test_processing_one_key_does_not_hold_back_another() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a")
    assert await next_key(queue) == "a"
    queue.add("a")
    queue.add("b")
    assert await next_key(queue) == "b"


async def test_key_can_be_processed_again_after_done() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.add("a")
    assert await next_key(queue) == "a"
    queue.done("a")
    queue.add("a")
    assert await next_key(queue) == "a"


async def test_superseded_entry_does_not_deliver_key_twice() -> None:
    queue: DueQueue[str] = DueQueue()
    now = time.time()
    queue.add("a", now - 1)
    queue.add("a", now - 2)  # leaves a stale heap entry at now - 1
    assert await next_key(queue) == "a"
    queue.done("a")
    await assert_nothing_due(queue)


async def test_concurrent_workers_never_hold_the_same_key() -> None:
    queue: DueQueue[str] = DueQueue()
    holding: set[str] = set()
    handled: list[str] = []
    clashes: list[str] = []
    idle = asyncio.Event()

    async def worker() -> None:
        while True:
            key = await queue.get()
            if key in holding:
                clashes.append(key)
            holding.add(key)
            await asyncio.sleep(0)
            handled.append(key)
            holding.discard(key)
            queue.done(key)
            if not len(queue) and not holding:
                idle.set()

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    try:
        for _ in range(20):
            for key in ("a", "b", "c"):
                queue.add(key)
            await asyncio.sleep(0)
        if len(queue) or holding:
            idle.clear()
        await asyncio.wait_for(idle.wait(), DEADLINE)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    assert clashes == []
    assert set(handled) == {"a", "b", "c"}
