"""Sharding: several replicas, each reconciling the Workloads of the shards it holds.

A Workload belongs to shard ``hash(namespace) % N``. Why the namespace and not the name:
everything one reconcile touches lives in the Workload's namespace or hangs off it — its
children, the claims of resources shared by ``id`` (several Workloads of one namespace
write one claim), the Events — and its Environment serves exactly one namespace. With
the namespace as the key, all writers of one object are in one shard, so one replica.
The price: one namespace is never split between replicas.

Each shard has a ``coordination.k8s.io/v1`` Lease (``berth-shard-<i>`` in the lease
namespace) whose holder is the one replica that may write for it. The rules are
client-go's leader election, applied per shard:

- A holder renews every retry period. It writes for a shard only until *renew deadline*
  after it sent its last successful renew (or acquire), measured on its own monotonic
  clock; every write checks that (``guard``), so a replica that cannot renew — API
  server unreachable, event loop stalled — stops writing before anyone may take over.
- Another replica takes a Lease only when it is free (no holder: released) or expired:
  unchanged for *lease duration*, measured from when this replica first saw it in that
  state, on its own clock — no comparison of clocks between machines. Since
  renew deadline < lease duration, the old holder has stopped writing by then.
- Every change is a write conditional on the resourceVersion read: of two replicas
  racing for one Lease, exactly one wins.

Membership: each replica also renews a Lease of its own (``berth-member-…``). The live
members, sorted, each get a fair share of the N shards (``fair_shares``); a replica
holding more than its share releases the surplus — it stops reconciling that shard,
waits for its reconciles under way to finish, then clears the holder — and a replica
holding less takes free or expired Leases. So a replica that joins gets shards without
a restart of the others, and the shards of one that died are taken within the lease
duration (plus one retry period).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from berth import metrics, names
from berth.clock import Clock, SystemClock
from berth.coordination.shards import (
    Observer,
    Timing,
    fair_shares,
    holder_of,
    member_lease_name,
    preference,
    shard_lease_name,
)
from berth.kube import leases
from berth.kube.client import ApiError, KubeClient

log = logging.getLogger("berth")
audit = logging.getLogger("berth.writes")

LEASE_LABEL = names.SHARD_LEASE_LABEL  # "shard" or "member"
SHARD_LABEL = names.SHARD_LABEL
SHARDS_LABEL = names.SHARD_COUNT_LABEL  # on a member's Lease: the shard count it runs with

# The shard of the reconcile running in this task; None outside reconciles (the Lease
# loop's own writes are never guarded).
current_shard: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "berth_current_shard", default=None
)


class ShardLost(Exception):
    """A write for a shard this replica does not hold (any more): not sent."""

    def __init__(self, shard: int) -> None:
        super().__init__(f"this replica no longer holds shard {shard}: the write was not sent")
        self.shard = shard


# -- the replica's side -------------------------------------------------------------------


@dataclass
class _Held:
    valid_until: float  # monotonic: we write for this shard until then, unless renewed
    releasing: bool = False


class Sharder:
    """The shards this replica holds, kept through Leases; the gate of its writes."""

    def __init__(
        self,
        shards: int,
        identity: str,
        namespace: str,
        lease_seconds: float,
        *,
        audit_writes: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self.shards = shards
        self.identity = identity
        self.namespace = namespace
        self.timing = Timing(lease_seconds)
        self.audit_writes = audit_writes
        self._clock = clock or SystemClock()
        self.observer = Observer(lease_seconds)
        self.held: dict[int, _Held] = {}
        self.inflight: dict[int, int] = {}
        self.members: list[str] = [identity]
        self._member_rv: str | None = None
        self._halted = False  # a live member runs with another shard count
        self._stopping = False
        self._idle = asyncio.Event()  # set while no reconcile runs
        self._idle.set()

    # -- what the workers and the client ask --------------------------------------------

    def owns(self, shard: int) -> bool:
        held = self.held.get(shard)
        return (
            held is not None and not held.releasing and self._clock.monotonic() < held.valid_until
        )

    def owned(self) -> list[int]:
        return sorted(s for s in self.held if self.owns(s))

    @contextlib.contextmanager
    def reconciling(self, shard: int) -> Iterator[None]:
        """Mark one reconcile of ``shard`` as under way; its writes are checked."""
        token = current_shard.set(shard)
        self.inflight[shard] = self.inflight.get(shard, 0) + 1
        self._idle.clear()
        try:
            yield
        finally:
            self.inflight[shard] -= 1
            current_shard.reset(token)
            if not any(self.inflight.values()):
                self._idle.set()

    def guard(self) -> None:
        """Called before every write: refuse one for a shard we do not hold now."""
        shard = current_shard.get()
        if shard is not None and not self.owns(shard):
            raise ShardLost(shard)

    def record_write(self, method: str, path: str, result: Any, seconds: float) -> None:
        shard = current_shard.get()
        if shard is None:
            return
        metrics.SHARD_WRITES.labels(str(shard)).inc()
        if self.audit_writes:
            meta = result.get("metadata") if isinstance(result, Mapping) else None
            meta = meta if isinstance(meta, Mapping) else {}
            path = path.split("?", 1)[0]
            if method == "POST" and meta.get("name"):  # a create's path has no name
                path = f"{path}/{meta['name']}"
            audit.info(
                "write %s %s rv=%s took=%.3fs shard=%d by %s",
                method,
                path,
                meta.get("resourceVersion", ""),
                seconds,
                shard,
                self.identity,
            )

    # -- the loop -----------------------------------------------------------------------

    async def run(self, client: KubeClient, on_gained: Callable[[int], None]) -> None:
        log.info(
            "sharding: %d shards, Leases in namespace %s, lease duration %.0fs (%s)",
            self.shards,
            self.namespace,
            self.timing.lease_seconds,
            self.identity,
        )
        while True:
            started = self._clock.monotonic()
            try:
                await self.tick(client, on_gained)
            except ApiError as err:
                # What we hold lapses by itself (renew deadline) if this goes on.
                log.warning("sharding: the Leases could not be read or written: %s", err)
            except Exception:
                # Never let the loop end: a replica without it renews nothing, so it
                # would give up every shard and sit idle for good.
                log.exception("sharding: the Lease round failed; next one in a moment")
            metrics.SHARDS_HELD.set(len(self.owned()))
            elapsed = self._clock.monotonic() - started
            await asyncio.sleep(max(0.05, self.timing.retry_period - elapsed))

    async def tick(self, client: KubeClient, on_gained: Callable[[int], None]) -> None:
        await self._renew_member(client)
        found = await leases.list_leases(client, self.namespace, LEASE_LABEL)
        now = self._clock.monotonic()
        self.observer.observe_all(found, now)
        self._update_members(found, now)
        await self._renew_held(client)
        if self._stopping:
            return  # draining before a clean stop: hold, take and give nothing
        share = 0 if self._halted else fair_shares(self.members, self.shards)[self.identity]
        await self._release_surplus(client, share)
        await self._acquire(client, share, on_gained)
        await self._forget_dead_members(client, found)

    def _update_members(self, found: Sequence[dict[str, Any]], now: float) -> None:
        members = {self.identity}
        others: set[str] = set()
        for lease in found:
            labels = lease["metadata"].get("labels") or {}
            if labels.get(LEASE_LABEL) != "member":
                continue
            holder = holder_of(lease)
            if not holder or self.observer.expired(lease["metadata"]["name"], now):
                continue
            members.add(holder)
            if labels.get(SHARDS_LABEL) != str(self.shards):
                others.add(f"{holder} ({labels.get(SHARDS_LABEL)} shards)")
        halted = bool(others)
        if halted and not self._halted:
            log.error(
                "sharding: live replicas run with another shard count: %s; holding no shard "
                "until every replica runs with %d",
                ", ".join(sorted(others)),
                self.shards,
            )
        elif self._halted and not halted:
            log.info("sharding: every live replica runs with %d shards again", self.shards)
        self._halted = halted
        ordered = sorted(members)
        if ordered != self.members:
            log.info("sharding: %d live replicas: %s", len(ordered), ", ".join(ordered))
            self.members = ordered

    async def _renew_member(self, client: KubeClient) -> None:
        now = self._clock.now()
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": round(self.timing.lease_seconds),
            "renewTime": leases.micro_time(now),
        }
        labels = {LEASE_LABEL: "member", SHARDS_LABEL: str(self.shards)}
        name = member_lease_name(self.identity)
        written = None
        if self._member_rv is not None:
            written = await leases.replace_lease(
                client, leases.lease_manifest(name, self.namespace, labels, spec, self._member_rv)
            )
        if written is None:
            current = await client.get(leases.LEASE_API, leases.LEASE_KIND, name, self.namespace)
            if current is None:
                spec["acquireTime"] = spec["renewTime"]
                written = await leases.create_lease(
                    client, leases.lease_manifest(name, self.namespace, labels, spec)
                )
            else:
                rv = current["metadata"]["resourceVersion"]
                written = await leases.replace_lease(
                    client, leases.lease_manifest(name, self.namespace, labels, spec, rv)
                )
        self._member_rv = written["metadata"]["resourceVersion"] if written else None

    async def _write_shard_lease(
        self, client: KubeClient, shard: int, holder: str, *, transition: bool
    ) -> tuple[dict[str, Any] | None, float]:
        """Write shard's Lease from what we saw of it; (the Lease written or None, when
        the request was sent by our clock)."""
        name = shard_lease_name(shard)
        current = self.observer.lease(name)
        stamp = leases.micro_time(self._clock.now())
        old_spec = dict((current or {}).get("spec") or {})
        spec: dict[str, Any] = {
            "holderIdentity": holder or None,
            "leaseDurationSeconds": round(self.timing.lease_seconds),
            "renewTime": stamp,
            "acquireTime": stamp if transition else old_spec.get("acquireTime") or stamp,
            "leaseTransitions": int(old_spec.get("leaseTransitions") or 0)
            + (1 if transition and current is not None else 0),
        }
        labels = {LEASE_LABEL: "shard", SHARD_LABEL: str(shard)}
        sent = self._clock.monotonic()
        if current is None:
            written = await leases.create_lease(
                client, leases.lease_manifest(name, self.namespace, labels, spec)
            )
        else:
            rv = current["metadata"]["resourceVersion"]
            written = await leases.replace_lease(
                client, leases.lease_manifest(name, self.namespace, labels, spec, rv)
            )
        if written is not None:
            self.observer.observe(written, self._clock.monotonic())
        return written, sent

    async def _renew_held(self, client: KubeClient) -> None:
        for shard in sorted(self.held):
            held = self.held[shard]
            lease = self.observer.lease(shard_lease_name(shard))
            if lease is None or holder_of(lease) != self.identity:
                self._drop(shard, "its Lease has another holder")
                continue
            try:
                written, sent = await self._write_shard_lease(
                    client, shard, self.identity, transition=False
                )
            except ApiError as err:
                log.debug("sharding: renewing shard %d failed: %s", shard, err)
                written, sent = None, 0.0
            if written is not None:
                held.valid_until = sent + self.timing.renew_deadline
            elif self._clock.monotonic() >= held.valid_until:
                self._drop(shard, "its Lease could not be renewed within the renew deadline")

    def _drop(self, shard: int, why: str) -> None:
        held = self.held.pop(shard, None)
        if held is not None:
            # The gate closed at valid_until, maybe long before this round noticed (a
            # stalled process): say when, in wall-clock time.
            late = max(0.0, self._clock.monotonic() - held.valid_until)
            closed = self._clock.now() - datetime.timedelta(seconds=late)
            stamp = closed.astimezone().strftime("%Y-%m-%d %H:%M:%S,%f")
            log.warning(
                "sharding: stopped writing for shard %d (no write since %s): %s",
                shard,
                stamp[:-3],
                why,
            )
            metrics.SHARD_TRANSITIONS.labels("lost").inc()

    async def _release_surplus(self, client: KubeClient, share: int) -> None:
        surplus = len(self.held) - share
        if surplus <= 0:
            for held in self.held.values():
                held.releasing = False  # the share grew back before the release
            return
        # The highest-numbered shards go; first no new reconcile starts for them, then,
        # once the ones under way are done, the Lease is cleared for another replica.
        for shard in sorted(self.held, reverse=True)[:surplus]:
            held = self.held[shard]
            if not held.releasing:
                held.releasing = True
                log.info("sharding: releasing shard %d (fair share: %d)", shard, share)
            if self.inflight.get(shard, 0):
                continue  # next round
            written, _ = await self._write_shard_lease(client, shard, "", transition=True)
            if written is not None:
                del self.held[shard]
                metrics.SHARD_TRANSITIONS.labels("released").inc()
                log.info(
                    "sharding: released shard %d (lease rv %s)",
                    shard,
                    written["metadata"]["resourceVersion"],
                )

    def _free(self, shard: int, now: float) -> bool:
        name = shard_lease_name(shard)
        lease = self.observer.lease(name)
        if lease is None:
            return True
        holder = holder_of(lease)
        # Our own identity on a Lease we do not hold: this replica's previous life (a
        # container restarted in the same Pod), which wrote nothing since.
        return not holder or holder == self.identity or self.observer.expired(name, now)

    async def _acquire(
        self, client: KubeClient, share: int, on_gained: Callable[[int], None]
    ) -> None:
        for shard in preference(self.identity, self.shards):
            if len(self.held) >= share:
                return
            if shard in self.held or not self._free(shard, self._clock.monotonic()):
                continue
            try:
                written, sent = await self._write_shard_lease(
                    client, shard, self.identity, transition=True
                )
            except ApiError as err:
                log.debug("sharding: taking shard %d failed: %s", shard, err)
                continue
            if written is None:
                continue  # another replica was faster
            self.held[shard] = _Held(valid_until=sent + self.timing.renew_deadline)
            metrics.SHARD_TRANSITIONS.labels("acquired").inc()
            log.info(
                "sharding: acquired shard %d (lease rv %s)",
                shard,
                written["metadata"]["resourceVersion"],
            )
            on_gained(shard)

    async def _forget_dead_members(
        self, client: KubeClient, found: Sequence[dict[str, Any]]
    ) -> None:
        """Delete the Leases of members gone for twice the lease duration (a SIGKILLed
        replica leaves its own behind), conditional on the version we saw."""
        now = self._clock.monotonic()
        for lease in found:
            meta = lease["metadata"]
            if (meta.get("labels") or {}).get(LEASE_LABEL) != "member":
                continue
            if holder_of(lease) == self.identity or not self.observer.expired(meta["name"], now, 2):
                continue
            seen = self.observer.lease(meta["name"]) or lease
            if await leases.delete_lease(
                client, meta["name"], self.namespace, seen["metadata"]["resourceVersion"]
            ):
                log.info("sharding: removed the Lease of gone replica %s", holder_of(lease))

    async def stop_writing(self) -> None:
        """No new write for any shard; wait (at most the renew deadline) for the
        reconciles under way to end."""
        self._stopping = True
        for held in self.held.values():
            held.releasing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.timing.renew_deadline)

    async def release_all(self, client: KubeClient) -> None:
        """On a clean shutdown (no reconcile runs any more): free every shard at once for
        the others, and leave the membership."""
        for shard in sorted(self.held):
            self.held[shard].releasing = True
            try:
                written, _ = await self._write_shard_lease(client, shard, "", transition=True)
            except ApiError as err:
                log.warning("sharding: could not release shard %d: %s", shard, err)
                continue
            if written is not None:
                log.info(
                    "sharding: released shard %d (lease rv %s)",
                    shard,
                    written["metadata"]["resourceVersion"],
                )
        self.held.clear()
        if self._member_rv is not None:
            with contextlib.suppress(ApiError):
                await leases.delete_lease(
                    client, member_lease_name(self.identity), self.namespace, self._member_rv
                )
