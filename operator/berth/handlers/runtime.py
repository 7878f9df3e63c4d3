"""The running operator: its work queue, its reconcile workers and their gates.

The Runtime owns everything that lives as long as the process — the cache, the queue,
the reconcilers' ``Context`` (client, clock, Event recorder, provisioning state) — and
is given the gates that say when a replica may work: a ``Sharder`` (``--shards``: only
the keys of shards it holds) and a ``Peering`` (``--peering``: only while no live peer
outranks it), both from ``berth.coordination``. A reconciler sees the Context, never the
Runtime.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from berth import metrics
from berth.clock import Clock, SystemClock
from berth.coordination.peering import Peering
from berth.coordination.sharding import Sharder, ShardLost
from berth.coordination.shards import shard_of
from berth.handlers import wakeups
from berth.handlers.cache import Cache
from berth.handlers.config import OperatorConfig
from berth.handlers.context import AfterClaimCreated, Context, ProvisioningState
from berth.handlers.dependents import ClaimWatch
from berth.handlers.keys import EnvironmentKey, Key, WorkloadKey
from berth.handlers.queue import WorkQueue
from berth.kube.client import ApiError, KubeClient
from berth.kube.events import EventRecorder
from berth.kube.informer import Informers, WatchSpec

log = logging.getLogger("berth")
GAUGE_SECONDS = 5.0


def _claims_unwatched(spec: WatchSpec, err: Exception) -> None:
    log.warning(
        "cannot watch claims %s (%s): their Workloads look at them every few seconds instead",
        spec.describe(),
        err,
    )


# A reconciler of one kind: given the Context and a key of its kind (Key.kind), it says
# when to look again (None: only when an event says so).
Reconciler = Callable[[Context, Any], Awaitable[float | None]]


@dataclass
class Runtime:
    config: OperatorConfig
    client: KubeClient
    cache: Cache = field(default_factory=Cache)
    queue: WorkQueue[Key] = field(default_factory=WorkQueue)
    # By Key.kind: "workload", "environment".
    reconcilers: dict[str, Reconciler] = field(default_factory=dict)
    # Where the reconcilers read the time (a settable one in unit tests).
    clock: Clock = field(default_factory=SystemClock)
    # With --shards N > 1: the shards this replica holds; a key of another shard is
    # not reconciled here.
    sharder: Sharder | None = None
    # With --peering: reconcile only while no live peer outranks this replica.
    peering: Peering | None = None
    # A test's hook (tests/statuscheck.py); None in production.
    after_claim_created: AfterClaimCreated | None = None
    # Watch the claim kinds in use (berth.handlers.dependents.ClaimWatch); a unit test's
    # Runtime, over an API that cannot stream, does not.
    watch_claims: bool = False
    context: Context = field(init=False)
    # Times each Workload's new generation to observed and to Ready (berth.metrics).
    generations: metrics.GenerationClock = field(default_factory=metrics.GenerationClock)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _sharding: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.context = Context(
            client=self.client,
            cache=self.cache,
            clock=self.clock,
            events=EventRecorder(self.client),
            provisioning=ProvisioningState(after_claim_created=self.after_claim_created),
            namespaces=self.config.namespaces,
            admission_bindings=not self.config.no_admission_bindings,
        )
        if self.watch_claims:
            self.context.claims = ClaimWatch(
                Informers(self.client, self._on_claim, on_error=_claims_unwatched),
                namespaces=self.config.namespaces,
            )

    def _on_claim(self, spec: WatchSpec, type_: str, claim: dict[str, Any]) -> None:
        """A claim changed: the Workloads it serves look at it now."""
        for key in wakeups.users_of_claim(self.cache, claim):
            self.queue.add(key)

    async def forget_workload(self, key: WorkloadKey) -> None:
        """A Workload is gone: nothing is remembered of it any more."""
        self.context.refusals.forget(key)
        self.context.dependents.forget(key)
        await self.context.claims.forget(key)

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
        if self.peering is not None:
            self._tasks.append(
                asyncio.create_task(self.peering.run(self.client), name="berth-peering")
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
        if self.context.claims.informers is not None:
            await self.context.claims.informers.stop()
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
        for key in self._keys():
            if self.in_our_shards(key):
                self.queue.add(key)

    def in_our_shards(self, key: Key) -> bool:
        """The key is this replica's to reconcile, as far as sharding goes."""
        shard = self.shard_of_key(key)
        return self.sharder is None or (shard is not None and self.sharder.owns(shard))

    @property
    def active(self) -> bool:
        """This replica works now: always when standalone; with --peering, while no live
        peer outranks it."""
        return self.peering is None or self.peering.active.is_set()

    def reconciles(self, key: Key) -> bool:
        """This replica reconciles the key now: it is active, and the key in its shards."""
        return self.active and self.in_our_shards(key)

    def _keys(self) -> list[Key]:
        keys: list[Key] = [EnvironmentKey(name) for name in self.cache.environment_names()]
        return keys + list(self.cache.workload_keys()) + list(self.cache.preview_keys())

    def shard_of_key(self, key: Key) -> int | None:
        """The shard a key belongs to (its namespace's; an Environment's is the one of the
        namespace it serves); None when sharding is off or the object is gone."""
        if self.sharder is None:
            return None
        if isinstance(key, EnvironmentKey):
            body = self.cache.environment(key.name)
            if body is None:
                return None
            namespace = str((body.get("spec") or {}).get("namespace") or "")
        else:
            namespace = key.namespace
        return shard_of(namespace, self.sharder.shards)

    def enqueue_shard(self, shard: int) -> None:
        """A shard just gained: everything in it is looked at now, not at the next resync."""
        count = 0
        for key in self._keys():
            if self.shard_of_key(key) == shard:
                self.queue.add(key)
                count += isinstance(key, WorkloadKey)
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
            keys = [k for k in self.cache.workload_keys() if self.reconciles(k)]
            bodies = [b for b in map(self.cache.workload, keys) if b is not None]
            counted = metrics.count_workloads(bodies, counted)
            metrics.WORKQUEUE_DEPTH.set(len(self.queue) if self.active else 0)
            await asyncio.sleep(GAUGE_SECONDS)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if self.peering is not None:
                await self.peering.wait_active()  # a standby holds its key until it works
            shard: int | None = None
            if self.sharder is not None:
                shard = self.shard_of_key(key)
                if shard is None or not self.sharder.owns(shard):
                    # Another replica's (or gone): its holder reconciles it; should the
                    # shard come here, enqueue_shard brings the key back.
                    self.queue.done(key)
                    continue
            await self._reconcile(key, shard)

    async def _reconcile(self, key: Key, shard: int | None) -> None:
        """One reconcile of ``key`` by its kind's reconciler: counted, timed, and queued
        again when it failed or asked to be."""
        kind = key.kind
        started = time.perf_counter()
        failed = False
        requeue: float | None = None
        try:
            if shard is not None and self.sharder is not None:
                with self.sharder.reconciling(shard):
                    requeue = await self.reconcilers[kind](self.context, key)
            else:
                requeue = await self.reconcilers[kind](self.context, key)
            result = "success"
        except asyncio.CancelledError:
            self.queue.done(key)
            raise
        except ShardLost as err:
            # The shard moved away mid-reconcile: its new holder takes it from here.
            result = "shard_lost"
            log.info("reconcile of %s %s stopped: %s", kind, key, err)
            requeue = None
        except ApiError as err:
            failed = True
            result = "conflict" if err.conflict else "error"
            metrics.record_reconcile_error(kind, err)
            level = logging.DEBUG if err.conflict else logging.WARNING
            log.log(level, "reconcile of %s %s failed, will retry: %s", kind, key, err)
        except Exception as err:
            failed = True
            result = "error"
            metrics.record_reconcile_error(kind, err)
            log.exception("reconcile of %s %s failed, will retry", kind, key)
        finally:
            metrics.RECONCILE_DURATION.labels(kind).observe(time.perf_counter() - started)
        metrics.RECONCILES.labels(kind, result).inc()
        self.queue.done(key, failed=failed)
        if requeue is not None and not failed:
            self.queue.add_after(key, requeue)
