"""The running operator: its watches, its work queue, its reconcile workers and their gates.

The Runtime owns everything that lives as long as the process — the informers of the
watched kinds (``Watches``, per shard where sharded), the cache over their stores, the
queue, the reconcilers' ``Context`` (client, clock, Event recorder, provisioning state) —
and is given the gates that say when a replica may work: a ``Sharder`` (``--shards``: only
the keys of shards it holds) and a ``Peering`` (``--peering``: only while no live peer
outranks it), both from ``berth.coordination``. A reconciler sees the Context, never the
Runtime.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth import metrics
from berth.clock import Clock, SystemClock
from berth.coordination.peering import Peering
from berth.coordination.sharding import Sharder, ShardLost
from berth.coordination.shards import shard_of_bucket
from berth.handlers import wakeups
from berth.handlers.cache import Cache
from berth.handlers.config import OperatorConfig
from berth.handlers.context import AfterClaimCreated, Context, ProvisioningState
from berth.handlers.dependents import ClaimWatch
from berth.handlers.environment import counts_due_in
from berth.handlers.informers import Watched, Watches
from berth.handlers.keys import EnvironmentKey, Key, RevisionKey, WorkloadKey
from berth.handlers.queue import WorkQueue
from berth.kube.client import ApiError, KubeClient
from berth.kube.events import EventRecorder
from berth.kube.informer import Event, Informers, WatchSpec
from berth.kube.labels import set_label
from berth.names import SHARD_BUCKET_LABEL
from berth.promotion.revision import due

log = logging.getLogger("berth")
GAUGE_SECONDS = 5.0


def _claims_unwatched(spec: WatchSpec, err: Exception) -> None:
    log.warning(
        "cannot watch claims %s (%s): their Workloads look at them every few seconds instead",
        spec,
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
    # The kinds it watches (berth.handlers.watch.WATCHED), and their informers.
    watched: Sequence[Watched] = ()
    watches: Watches = field(init=False)
    # Watch the claim kinds in use (berth.handlers.dependents.ClaimWatch); a unit test's
    # Runtime, over an API that cannot stream, does not.
    watch_claims: bool = False
    context: Context = field(init=False)
    # Times each Workload's new generation to observed and to Ready (berth.metrics).
    generations: metrics.GenerationClock = field(default_factory=metrics.GenerationClock)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _sharding: asyncio.Task[None] | None = None
    _watching: asyncio.Task[None] | None = None
    # Shards gained or lost whose watches are being started or stopped.
    _shard_tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.context = Context(
            client=self.client,
            cache=self.cache,
            clock=self.clock,
            events=EventRecorder(self.client),
            provisioning=ProvisioningState(after_claim_created=self.after_claim_created),
            namespaces=self.config.namespaces,
            sharded=self.sharder is not None,
            admission_bindings=not self.config.no_admission_bindings,
        )
        self.watches = Watches(
            self.client,
            self.watched,
            self.on_event,
            namespaces=self.config.namespaces,
            shards=self.sharder.shards if self.sharder is not None else 0,
        )
        self.context.holds_namespace = self.holds_namespace
        if self.watch_claims:
            self.context.claims = ClaimWatch(
                Informers(self.client, self._on_claim, on_error=_claims_unwatched),
                namespaces=self.config.namespaces,
            )

    def _on_claim(self, spec: WatchSpec, type_: str, claim: dict[str, Any]) -> None:
        """A claim changed: the Workloads it serves look at it now."""
        for key in wakeups.users_of_claim(self.cache, claim):
            self.queue.add(key)

    def forget_workload(self, key: WorkloadKey) -> None:
        """A Workload is gone: nothing is remembered of it any more (the watches of
        claim kinds only it used stop in the background)."""
        self.context.refusals.forget(key)
        self.context.dependents.forget(key)
        self._in_background(self.context.claims.forget(key), f"berth-forget-{key}")

    def launch(self) -> None:
        """Start it all: the shards' Leases at once (so that an idle replica takes its
        share too), and the watches, then, once they have listed, the workers."""
        self.start_sharding()
        if self._watching is None:
            self._watching = asyncio.create_task(self._begin(), name="berth-watches")

    async def _begin(self) -> None:
        started = time.monotonic()
        await self.watches.start()
        self.cache.attach(self.watches.stores, self.watches.available)
        unavailable = [
            w.kind for w in self.watched if w.optional and not self.watches.available(w.name)
        ]
        log.info(
            "listed %s in %.1fs%s",
            ", ".join(f"{len(s)} {n}" for n, s in self.watches.stores.items()),
            time.monotonic() - started,
            f"; not (yet): {', '.join(unavailable)}" if unavailable else "",
        )
        release_memory()
        self.enqueue_all()
        self.start()

    def on_event(self, watched: Watched, event: Event) -> None:
        """One change to a store: its kind's rule says whom it wakes."""
        if watched.wake is not None:
            watched.wake(self, event)

    def count_later(self, environment: str) -> None:
        """Look at an Environment's Workload counts as soon as they may be written."""
        self.queue.add_after(EnvironmentKey(environment), counts_due_in(self.context, environment))

    def start_sharding(self) -> None:
        """Start keeping the shards' Leases (with --shards)."""
        if self.sharder is not None and self._sharding is None:
            self._sharding = asyncio.create_task(
                self.sharder.run(self.client, self._shard_gained, self._shard_lost),
                name="berth-sharding",
            )

    def _shard_gained(self, shard: int) -> None:
        self._in_background(self._watch_shard(shard), f"berth-shard-{shard}-gained")

    def _shard_lost(self, shard: int) -> None:
        # What this replica remembers of the shard's renders goes with it: the next
        # holder may render them anew, and we may get the shard back later.
        for key in [k for k in self.context.rendered if self.shard_of_key(k) == shard]:
            del self.context.rendered[key]
        self._in_background(self.watches.stop_shard(shard), f"berth-shard-{shard}-lost")

    def _in_background(self, work: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._shard_tasks.add(task)
        task.add_done_callback(self._shard_tasks.discard)

    async def _watch_shard(self, shard: int) -> None:
        """A shard just gained: list its objects, then queue every one of them."""
        if await self.watches.start_shard(shard):
            release_memory()
            self.enqueue_shard(shard)

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
        if self._watching is not None:
            self._watching.cancel()
            await asyncio.gather(self._watching, return_exceptions=True)
            self._watching = None
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
        await asyncio.gather(*self._shard_tasks, return_exceptions=True)
        await self.watches.stop()

    def enqueue(self, key: Key, *, urgent: bool = False) -> None:
        """Look at ``key`` again; ``urgent`` (a new generation) ahead of the rest."""
        self.queue.add(key, urgent=urgent)

    def enqueue_all(self) -> None:
        for key in self._keys():
            if self.in_our_shards(key) or self._labelled_shard(key) is not None:
                self.queue.add(key)

    def _labelled_shard(self, key: Key) -> int | None:
        """A Workload this replica watches by its bucket label, but whose namespace is now
        in another bucket (it became a preview's, or stopped being one): the shard of the
        label, which this replica holds; None for any other key."""
        if self.sharder is None or not isinstance(key, WorkloadKey):
            return None
        body = self.cache.workload(key)
        labelled = ((body or {}).get("metadata", {}).get("labels") or {}).get(SHARD_BUCKET_LABEL)
        if not (isinstance(labelled, str) and labelled.isdigit()):
            return None
        if int(labelled) == self.cache.shard_bucket_of(key.namespace):
            return None
        shard = shard_of_bucket(int(labelled), self.sharder.shards)
        return shard if self._shard_ready(shard) else None

    async def _hand_over(self, key: Key) -> None:
        """Relabel a Workload with the bucket it belongs in, so that its shard's holder
        watches it: the one write a replica makes to an object of a shard it does not
        hold, and made while it holds the shard the object's label puts it in (the
        holder of its new shard cannot see it before that). Its children follow when
        their new holder applies them."""
        shard = self._labelled_shard(key)
        if shard is None or self.sharder is None or not isinstance(key, WorkloadKey):
            return
        body = self.cache.workload(key)
        if body is None:
            return
        bucket = str(self.cache.shard_bucket_of(key.namespace))
        try:
            with self.sharder.reconciling(shard):
                written = await set_label(self.client, body, SHARD_BUCKET_LABEL, bucket)
        except (ApiError, ShardLost) as err:
            log.info("handing %s over to bucket %s failed: %s", key, bucket, err)
            return
        if written is not None:
            self.cache.remember_write(body, written)
            log.info("%s handed over to bucket %s (its namespace's shard moved)", key, bucket)

    def in_our_shards(self, key: Key) -> bool:
        """The key is this replica's to reconcile, as far as sharding goes: in a shard it
        holds, whose objects it has listed."""
        if self.sharder is None:
            return True
        shard = self.shard_of_key(key)
        return shard is not None and self._shard_ready(shard)

    def holds_namespace(self, namespace: str) -> bool:
        """This replica has a namespace's Workloads in its cache (sharded: its shard)."""
        if self.sharder is None:
            return True
        return self._shard_ready(self._shard_of_namespace(namespace, self.sharder.shards))

    def _shard_ready(self, shard: int) -> bool:
        return (
            self.sharder is not None
            and self.sharder.owns(shard)
            and self.watches.shard_synced(shard)
        )

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
        keys += self.cache.workload_keys()
        # A Ready generation not recorded yet (a revision missed while another replica
        # held the shard, or while none ran).
        keys += [RevisionKey(*k) for k in self.cache.workload_keys() if _due(self.cache, k)]
        return keys + self.cache.preview_keys() + self.cache.promotion_keys()

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
        return self._shard_of_namespace(namespace, self.sharder.shards)

    def _shard_of_namespace(self, namespace: str, shards: int) -> int:
        # By its bucket: a preview's namespace is in its base's (Cache.shard_bucket_of).
        return shard_of_bucket(self.cache.shard_bucket_of(namespace), shards)

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
                if shard is None or not self._shard_ready(shard):
                    # Another replica's (or gone): its holder reconciles it; should the
                    # shard come here, enqueue_shard brings the key back.
                    await self._hand_over(key)
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


def _due(cache: Cache, key: WorkloadKey) -> bool:
    body = cache.workload(key)
    return body is not None and due(body)


def release_memory() -> None:
    """Give back to the system what the listings took and no longer need: the garbage
    collected, then glibc's free heap pages returned (``malloc_trim``; elsewhere a
    no-op). A listing's pages are decoded, slimmed and dropped one by one, but the
    allocator keeps the peak's memory unless asked."""
    gc.collect()
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)
