"""A deduplicating work queue, the heart of a level-based controller.

Any number of events for one key collapse into one pending reconcile; a key is never
reconciled by two workers at once; a key that changes while it is being reconciled
is reconciled once more afterwards. Failed keys come back after an exponential delay.

It counts what it does into berth.metrics: keys added, keys retried, and how long each
key waited from being added until a worker took it. (Its depth is sampled by the
runtime, which knows whether this replica works at all.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from berth import metrics

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        *,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._pending: dict[K, float] = {}  # in _ready, not yet taken: when it was added
        self._active: set[K] = set()  # taken by a worker
        self._dirty: set[K] = set()  # added again while active
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._clock = clock

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, key: K) -> None:
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._pending:
            self._pending[key] = self._clock()
            self._ready.put_nowait(key)
            metrics.WORKQUEUE_ADDS.inc()

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

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> K:
        key = await self._ready.get()
        added = self._pending.pop(key)
        metrics.WORKQUEUE_WAIT.observe(max(0.0, self._clock() - added))
        self._active.add(key)
        return key

    def done(self, key: K, *, failed: bool = False) -> float | None:
        """Release a key; returns the retry delay when it failed."""
        self._active.discard(key)
        delay = None
        if failed:
            count = self._failures.get(key, 0) + 1
            self._failures[key] = count
            delay = min(self._base_delay * 2 ** (count - 1), self._max_delay)
            self.add_after(key, delay)
            metrics.WORKQUEUE_RETRIES.inc()
        else:
            self._failures.pop(key, None)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)
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
