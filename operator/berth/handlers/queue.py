"""A deduplicating work queue, the heart of a level-based controller.

Any number of events for one key collapse into one pending reconcile; a key is never
reconciled by two workers at once; a key that changes while it is being reconciled
is reconciled once more afterwards. Failed keys come back after an exponential delay.
Urgent keys (a new generation) are handed out before the others (a child's status).

It counts what it does into berth.metrics: keys added, keys retried, and how long each
key waited from being added until a worker took it. (Its depth is sampled by the
runtime, which knows whether this replica works at all.)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from berth import metrics

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Keys to reconcile, in two lanes: urgent ones (a new generation, a new or deleted
    object: what a person waits for) are handed out before the rest (a child's status,
    a resync, the listing at start). A key in both lanes is handed out once, at the
    first of the two; its wait is measured from its first add."""

    def __init__(
        self,
        *,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lanes: tuple[deque[tuple[K, int]], deque[tuple[K, int]]] = (deque(), deque())
        # One token per entry put in a lane: a worker waits for one, then takes the
        # first live entry (an entry left behind by a key moved to the urgent lane has
        # its token too, so there are never fewer tokens than live entries).
        self._tokens: asyncio.Queue[None] = asyncio.Queue()
        # in a lane, not yet taken: when it was first added, and its ticket (an entry in
        # a lane is live while its ticket is the key's)
        self._pending: dict[K, tuple[float, int]] = {}
        self._urgent: set[K] = set()  # pending keys in the urgent lane
        self._tickets = 0
        self._active: set[K] = set()  # taken by a worker
        self._dirty: dict[K, bool] = {}  # added again while active: urgent or not
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._clock = clock

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, key: K, *, urgent: bool = False) -> None:
        if key in self._active:
            self._dirty[key] = self._dirty.get(key, False) or urgent
            return
        pending = self._pending.get(key)
        if pending is not None and (not urgent or key in self._urgent):
            return  # already waiting, in a lane at least as early
        self._tickets += 1
        if pending is None:
            metrics.WORKQUEUE_ADDS.inc()
        self._pending[key] = (pending[0] if pending else self._clock(), self._tickets)
        if urgent:
            self._urgent.add(key)
        self._lanes[0 if urgent else 1].append((key, self._tickets))
        self._tokens.put_nowait(None)

    def add_after(self, key: K, delay: float) -> None:
        """Add the key after ``delay`` seconds, keeping the earliest of several requests."""
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None and not timer.cancelled():
            if timer.when() <= when:
                return
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def add_rate_limited(self, key: K) -> float:
        """Add the key again after a delay that doubles with each failure in a row (from
        ``base_delay`` up to ``max_delay``; client-go's per-item rate limiter); returns
        the delay."""
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        delay = min(self._base_delay * 2.0 ** (count - 1), self._max_delay)
        self.add_after(key, delay)
        metrics.WORKQUEUE_RETRIES.inc()
        return delay

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _take(self) -> K | None:
        for lane in self._lanes:
            while lane:
                key, ticket = lane.popleft()
                pending = self._pending.get(key)
                if pending is not None and pending[1] == ticket:
                    return key
        return None

    async def get(self) -> K:
        while True:
            await self._tokens.get()
            key = self._take()
            if key is not None:
                break
        added, _ = self._pending.pop(key)
        self._urgent.discard(key)
        metrics.WORKQUEUE_WAIT.observe(max(0.0, self._clock() - added))
        self._active.add(key)
        return key

    def done(self, key: K, *, failed: bool = False) -> float | None:
        """Release a key; returns the retry delay when it failed."""
        self._active.discard(key)
        delay = None
        if failed:
            delay = self.add_rate_limited(key)
        else:
            self._failures.pop(key, None)
        if key in self._dirty:
            self.add(key, urgent=self._dirty.pop(key))
        return delay

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def shutdown(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
