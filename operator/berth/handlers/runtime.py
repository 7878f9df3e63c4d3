"""The running operator's shared state and its reconcile workers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from berth import metrics
from berth.clock import Clock, SystemClock
from berth.handlers.cache import Cache, WorkloadKey
from berth.handlers.config import OperatorConfig
from berth.handlers.queue import WorkQueue
from berth.handlers.sharding import Sharder, ShardLost, shard_of
from berth.kube.client import ApiError, KubeClient

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
    # With --shards N > 1: the shards this replica holds; a key of another shard is
    # not reconciled here (handlers/sharding.py).
    sharder: Sharder | None = None
    # Times each Workload's new generation to observed and to Ready (berth.metrics).
    generations: metrics.GenerationClock = field(default_factory=metrics.GenerationClock)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _sharding: asyncio.Task[None] | None = None

    def start_sharding(self) -> None:
        """Start keeping the shards' Leases (with --shards), at once: not only when the
        first event arrives, so that an idle replica takes its share too."""
        if self.sharder is not None and self._sharding is None:
            self._sharding = asyncio.create_task(
                self.sharder.run(self.client, self.enqueue_shard), name="berth-sharding"
            )

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
        if self.sharder is not None:
            # Let the reconciles under way end (their next write is refused) rather than
            # cancel them mid-request: a request cancelled here could still land on the
            # server after the shard went to another replica.
            await self.sharder.stop_writing()
        tasks = [*self._tasks, *([self._sharding] if self._sharding else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._sharding = None
        self.queue.shutdown()
        if self.sharder is not None:  # no reconcile runs any more: hand the shards over
            await self.sharder.release_all(self.client)

    def enqueue(self, key: Key) -> None:
        self.queue.add(key)

    def enqueue_all(self) -> None:
        for name in self.cache.environment_names():
            self._add_if_ours(environment_key(name))
        for wkey in self.cache.workload_keys():
            self._add_if_ours(workload_key(wkey))

    def _add_if_ours(self, key: Key) -> None:
        if self.in_our_shards(key):
            self.queue.add(key)

    def in_our_shards(self, key: Key) -> bool:
        """The key is this replica's to reconcile, as far as sharding goes."""
        shard = self.shard_of_key(key)
        return self.sharder is None or (shard is not None and self.sharder.owns(shard))

    def reconciles(self, key: Key) -> bool:
        """This replica reconciles the key now: it is active, and the key in its shards."""
        return self.active.is_set() and self.in_our_shards(key)

    def shard_of_key(self, key: Key) -> int | None:
        """The shard a key belongs to (its namespace's; an Environment's is the one of the
        namespace it serves); None when sharding is off or the object is gone."""
        if self.sharder is None:
            return None
        if key[0] == "environment":
            body = self.cache.environment(key[2])
            if body is None:
                return None
            namespace = str((body.get("spec") or {}).get("namespace") or "")
        else:
            namespace = key[1]
        return shard_of(namespace, self.sharder.shards)

    def enqueue_shard(self, shard: int) -> None:
        """A shard just gained: everything in it is looked at now, not at the next resync."""
        count = 0
        for name in self.cache.environment_names():
            if self.shard_of_key(environment_key(name)) == shard:
                self.queue.add(environment_key(name))
        for wkey in self.cache.workload_keys():
            if self.shard_of_key(workload_key(wkey)) == shard:
                self.queue.add(workload_key(wkey))
                count += 1
        log.info("shard %d: %d Workloads queued", shard, count)

    async def _resync(self) -> None:
        # Level-based safety net: every object is looked at again now and then, even
        # when no event says so.
        while True:
            await asyncio.sleep(self.config.resync_seconds)
            self.enqueue_all()

    async def _count(self) -> None:
        # Counted in the event loop (the scrape runs in another thread, and the caches
        # are not safe to walk from there).
        # Only what this replica reconciles, so that a sum over the replicas counts each
        # Workload once (a standby counts nothing).
        counted: set[metrics.ConditionKey] = set()
        while True:
            keys = [k for k in self.cache.workload_keys() if self.reconciles(workload_key(k))]
            bodies = [b for b in map(self.cache.workload, keys) if b is not None]
            counted = metrics.count_workloads(bodies, counted)
            metrics.WORKQUEUE_DEPTH.set(len(self.queue) if self.active.is_set() else 0)
            await asyncio.sleep(GAUGE_SECONDS)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            await self.active.wait()  # a standby holds its key until it works
            shard: int | None = None
            if self.sharder is not None:
                shard = self.shard_of_key(key)
                if shard is None or not self.sharder.owns(shard):
                    # Another replica's (or gone): its holder reconciles it; should the
                    # shard come here, enqueue_shard brings the key back.
                    self.queue.done(key)
                    continue
            kind = key[0]
            started = time.perf_counter()
            failed = False
            requeue: float | None = None
            try:
                if shard is not None and self.sharder is not None:
                    with self.sharder.reconciling(shard):
                        requeue = await self.reconcilers[kind](self, key)
                else:
                    requeue = await self.reconcilers[kind](self, key)
                result = "success"
            except asyncio.CancelledError:
                self.queue.done(key)
                raise
            except ShardLost as err:
                # The shard moved away mid-reconcile: its new holder takes it from here.
                result = "shard_lost"
                log.info("reconcile of %s %s/%s stopped: %s", kind, key[1], key[2], err)
                requeue = None
            except ApiError as err:
                failed = True
                result = "conflict" if err.conflict else "error"
                metrics.record_reconcile_error(kind, err)
                level = logging.DEBUG if err.conflict else logging.WARNING
                log.log(
                    level, "reconcile of %s %s/%s failed, will retry: %s", kind, key[1], key[2], err
                )
            except Exception as err:
                failed = True
                result = "error"
                metrics.record_reconcile_error(kind, err)
                log.exception("reconcile of %s %s/%s failed, will retry", kind, key[1], key[2])
            finally:
                metrics.RECONCILE_DURATION.labels(kind).observe(time.perf_counter() - started)
            metrics.RECONCILES.labels(kind, result).inc()
            self.queue.done(key, failed=failed)
            if requeue is not None and not failed:
                self.queue.add_after(key, requeue)
