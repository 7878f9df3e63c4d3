"""The deduplicating work queue (berth.handlers.queue.WorkQueue)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from berth.handlers.queue import WorkQueue

# Long enough for a scheduled callback to run, short enough to keep the suite fast.
TICK = 0.02


@pytest.fixture
async def queue() -> AsyncIterator[WorkQueue[str]]:
    q: WorkQueue[str] = WorkQueue(base_delay=0.5, max_delay=4.0)
    yield q
    q.shutdown()


async def nothing_ready(q: WorkQueue[str], wait: float = TICK) -> bool:
    """True when no key can be taken within ``wait`` seconds."""
    try:
        key = await asyncio.wait_for(q.get(), wait)
    except TimeoutError:
        return True
    pytest.fail(f"unexpected key {key!r} handed out")


async def test_repeated_adds_collapse_into_one(queue: WorkQueue[str]) -> None:
    for _ in range(10):
        queue.add("a")
    queue.add("b")
    queue.add("a")
    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"
    assert len(queue) == 0
    assert await nothing_ready(queue)


async def test_key_added_while_active_runs_once_more_after_done(queue: WorkQueue[str]) -> None:
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0  # not handed out while a worker has it
    assert await nothing_ready(queue)
    queue.done("a")
    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    assert await nothing_ready(queue)  # once more, not twice more


async def test_key_done_without_new_adds_is_not_requeued(queue: WorkQueue[str]) -> None:
    queue.add("a")
    assert await queue.get() == "a"
    queue.done("a")
    assert len(queue) == 0
    assert await nothing_ready(queue)


async def test_key_never_handed_to_two_getters_at_once(queue: WorkQueue[str]) -> None:
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    queue.add("a")
    assert await asyncio.wait_for(first, 1) == "a"
    queue.add("a")  # an event while the first worker is busy with "a"
    await asyncio.sleep(TICK)
    assert not second.done()
    queue.add("b")  # other keys still flow
    assert await asyncio.wait_for(second, 1) == "b"
    third = asyncio.create_task(queue.get())
    await asyncio.sleep(TICK)
    assert not third.done()
    queue.done("a")
    assert await asyncio.wait_for(third, 1) == "a"


async def test_many_workers_never_overlap_on_a_key() -> None:
    q: WorkQueue[int] = WorkQueue()
    active: set[int] = set()
    overlaps: list[int] = []
    processed: list[int] = []

    async def worker() -> None:
        while True:
            key = await q.get()
            if key in active:
                overlaps.append(key)
            active.add(key)
            await asyncio.sleep(0)
            active.discard(key)
            processed.append(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    try:
        for _ in range(20):
            for key in range(3):
                for _ in range(5):
                    q.add(key)
            await asyncio.sleep(0)
        await asyncio.sleep(TICK)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    assert overlaps == []
    assert set(processed) == {0, 1, 2}
    assert len(processed) <= 2 * 20 * 3  # 300 adds: bursts collapsed


async def test_add_after_delays_the_key(queue: WorkQueue[str]) -> None:
    queue.add_after("a", 2 * TICK)
    assert len(queue) == 0
    assert await nothing_ready(queue, TICK)
    assert await asyncio.wait_for(queue.get(), 1) == "a"


async def test_add_after_keeps_the_earliest_when_a_later_one_follows(
    queue: WorkQueue[str],
) -> None:
    queue.add_after("a", TICK)
    queue.add_after("a", 60)
    assert await asyncio.wait_for(queue.get(), 1) == "a"


async def test_add_after_keeps_the_earliest_when_an_earlier_one_follows(
    queue: WorkQueue[str],
) -> None:
    queue.add_after("a", 60)
    queue.add_after("a", TICK)
    assert await asyncio.wait_for(queue.get(), 1) == "a"
    queue.done("a")
    # the 60 s timer was replaced, not kept beside the earlier one
    assert queue._timers == {}


async def test_forget_cancels_a_delayed_add(queue: WorkQueue[str]) -> None:
    queue.add_after("a", TICK)
    queue.forget("a")
    assert await nothing_ready(queue, 3 * TICK)


async def test_failure_backoff_doubles_and_caps(queue: WorkQueue[str]) -> None:
    delays = []
    for _ in range(6):
        queue.add("a")
        assert await queue.get() == "a"
        delays.append(queue.done("a", failed=True))
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


async def test_failed_key_comes_back_after_its_delay() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=2 * TICK, max_delay=1.0)
    try:
        q.add("a")
        assert await q.get() == "a"
        assert q.done("a", failed=True) == 2 * TICK
        assert await nothing_ready(q, TICK)
        assert await asyncio.wait_for(q.get(), 1) == "a"
    finally:
        q.shutdown()


async def test_success_resets_the_backoff(queue: WorkQueue[str]) -> None:
    for expected in (0.5, 1.0, 2.0):
        queue.add("a")
        assert await queue.get() == "a"
        assert queue.done("a", failed=True) == expected
    queue.add("a")
    assert await queue.get() == "a"
    assert queue.done("a") is None
    queue.add("a")
    assert await queue.get() == "a"
    assert queue.done("a", failed=True) == 0.5


async def test_backoff_is_per_key(queue: WorkQueue[str]) -> None:
    for key in ("a", "a", "b"):
        queue.add(key)
        assert await queue.get() == key
        queue.done(key, failed=True)
    queue.add("b")
    assert await queue.get() == "b"
    assert queue.done("b", failed=True) == 1.0
    queue.add("a")
    assert await queue.get() == "a"
    assert queue.done("a", failed=True) == 2.0


async def test_urgent_keys_are_handed_out_first(queue: WorkQueue[str]) -> None:
    queue.add("status-1")
    queue.add("status-2")
    queue.add("edit", urgent=True)
    assert [await queue.get() for _ in range(3)] == ["edit", "status-1", "status-2"]


async def test_a_waiting_key_made_urgent_moves_ahead_once(queue: WorkQueue[str]) -> None:
    queue.add("a")
    queue.add("b")
    queue.add("b", urgent=True)
    queue.add("b", urgent=True)
    queue.add("a")  # not urgent: stays where it is
    assert len(queue) == 2
    assert [await queue.get() for _ in range(2)] == ["b", "a"]
    assert await nothing_ready(queue)  # b's old place in the other lane is not handed out


async def test_an_urgent_add_while_active_comes_back_urgent(queue: WorkQueue[str]) -> None:
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a", urgent=True)
    queue.add("a")
    queue.add("other")
    queue.done("a")
    assert await queue.get() == "a"  # ahead of "other"


async def test_rate_limited_adds_back_off_per_key(queue: WorkQueue[str]) -> None:
    assert [queue.add_rate_limited("a") for _ in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert queue.add_rate_limited("b") == 0.5  # per key
    queue.add("a")
    assert await queue.get() == "a"
    queue.done("a")  # a success forgets its failures
    assert queue.add_rate_limited("a") == 0.5
