"""The running operator's shared state and its reconcile workers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from berth import metrics
from berth.handlers.cache import Cache, WorkloadKey
from berth.handlers.clock import Clock, SystemClock
from berth.handlers.config import OperatorConfig
from berth.handlers.queue import WorkQueue
from berth.kube.client import ApiError, KubeClient
from berth.render.status import ready_condition

log = logging.getLogger("berth")
GAUGE_SECONDS = 5.0

# What goes through the queue: ("workload", namespace, name) or ("environment", "", name).
Key = tuple[str, str, str]
Reconciler = Callable[["Runtime", Key], Awaitable[float | None]]


def workload_key(key: WorkloadKey) -> Key:
    return ("workload", key[0], key[1])


def environment_key(name: str) -> Key:
    return ("environment", "", name)


@dataclass
class Runtime:
    config: OperatorConfig
    client: KubeClient
    cache: Cache = field(default_factory=Cache)
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    reconcilers: dict[str, Reconciler] = field(default_factory=dict)
    # Where the reconcilers read the time (a settable one in unit tests).
    clock: Clock = field(default_factory=SystemClock)
    # Environment name -> when (clock.monotonic) its status was last written.
    environment_status_written: dict[str, float] = field(default_factory=dict)
    # Set while this replica may reconcile: always when standalone; when peered, while no
    # live peer outranks it (handlers/peering.py).
    active: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        """Start the workers and the periodic resync; idempotent."""
        if self._tasks:
            return
        if self.config.standalone:
            self.active.set()
        else:
            from berth.handlers import peering

            self._tasks.append(
                asyncio.create_task(
                    peering.follow(self, self.config.identity), name="berth-peering"
                )
            )
        for i in range(self.config.workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"berth-worker-{i}"))
        self._tasks.append(asyncio.create_task(self._resync(), name="berth-resync"))
        self._tasks.append(asyncio.create_task(self._count(), name="berth-workload-gauge"))
        log.info("started %d reconcile workers", self.config.workers)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.queue.shutdown()

    def enqueue(self, key: Key) -> None:
        self.queue.add(key)

    def enqueue_all(self) -> None:
        for name in self.cache.environment_names():
            self.queue.add(environment_key(name))
        for wkey in self.cache.workload_keys():
            self.queue.add(workload_key(wkey))

    async def _resync(self) -> None:
        # Level-based safety net: every object is looked at again now and then, even
        # when no event says so.
        while True:
            await asyncio.sleep(self.config.resync_seconds)
            self.enqueue_all()

    async def _count(self) -> None:
        # Counted in the event loop (the scrape runs in another thread, and the caches
        # are not safe to walk from there).
        while True:
            ready = total = 0
            for key in self.cache.workload_keys():
                body = self.cache.workload(key)
                if body is None:
                    continue
                total += 1
                cond = ready_condition(body.get("status"))
                ready += int(bool(cond and cond.get("status") == "True"))
            metrics.WORKLOADS.labels("true").set(ready)
            metrics.WORKLOADS.labels("false").set(total - ready)
            await asyncio.sleep(GAUGE_SECONDS)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            await self.active.wait()  # a standby holds its key until it works
            kind = key[0]
            started = time.perf_counter()
            failed = False
            requeue: float | None = None
            try:
                requeue = await self.reconcilers[kind](self, key)
                result = "success"
            except asyncio.CancelledError:
                self.queue.done(key)
                raise
            except ApiError as err:
                failed = True
                result = "conflict" if err.conflict else "error"
                level = logging.DEBUG if err.conflict else logging.WARNING
                log.log(
                    level, "reconcile of %s %s/%s failed, will retry: %s", kind, key[1], key[2], err
                )
            except Exception:
                failed = True
                result = "error"
                log.exception("reconcile of %s %s/%s failed, will retry", kind, key[1], key[2])
            finally:
                metrics.RECONCILE_DURATION.labels(kind).observe(time.perf_counter() - started)
            metrics.RECONCILES.labels(kind, result).inc()
            self.queue.done(key, failed=failed)
            if requeue is not None and not failed:
                self.queue.add_after(key, requeue)
