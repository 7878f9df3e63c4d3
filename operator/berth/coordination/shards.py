"""The rules of sharding, pure: which shard a namespace is in, how many shards each live
replica should hold, the Leases' names, client-go's three durations, and what a replica
has seen of the Leases and since when (on its own monotonic clock, given to it). The
replica's side, which reads and writes the Leases, is ``berth.coordination.sharding``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth.render.labels import SHARD_BUCKETS, shard_bucket

MAX_SHARDS = SHARD_BUCKETS


def shard_of(namespace: str, shards: int) -> int:
    """The shard of a namespace: the shard its bucket is in (``shard_bucket``), stable
    across processes, machines and versions."""
    return shard_bucket(namespace) % shards


def shard_of_bucket(bucket: int, shards: int) -> int:
    """The shard a bucket is in (a preview's namespace is in its base's bucket, which
    the caller knows; ``shard_of`` is for a namespace by its name alone)."""
    return bucket % shards


def buckets_of(shard: int, shards: int) -> list[int]:
    """The namespace buckets that make up one shard: what its watches select."""
    return [b for b in range(SHARD_BUCKETS) if b % shards == shard]


def shard_count_label(shards: int) -> str:
    """The value of a member Lease's shard-count label. Where the shards are made of
    buckets exactly as they were made of the namespaces' hashes before buckets (the
    count divides the buckets' number), the plain count, so that replicas of both kinds
    agree; otherwise the count and the buckets' number, so that a replica of a version
    that mapped namespaces otherwise sees a different value and holds no shard."""
    return str(shards) if SHARD_BUCKETS % shards == 0 else f"{shards}.{SHARD_BUCKETS}"


def fair_shares(members: Sequence[str], shards: int) -> dict[str, int]:
    """How many shards each live member should hold: as even as can be, the first
    members (sorted) taking the remainder. Every member computes the same answer."""
    ordered = sorted(set(members))
    if not ordered:
        return {}
    base, extra = divmod(shards, len(ordered))
    return {m: base + (1 if i < extra else 0) for i, m in enumerate(ordered)}


def preference(identity: str, shards: int) -> list[int]:
    """The order in which a replica tries free shards: from a point of its own, so two
    replicas starting together mostly try different Leases first."""
    start = shard_of(identity, shards)
    return [(start + i) % shards for i in range(shards)]


def shard_lease_name(shard: int) -> str:
    return f"berth-shard-{shard}"


def member_lease_name(identity: str) -> str:
    # An identity may be anything (a Pod name, host/pid/nonce); a Lease name may not.
    return "berth-member-" + hashlib.sha256(identity.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Timing:
    """client-go's three durations, derived from the one a user sets (15 s: 10 s, 2 s)."""

    lease_seconds: float

    @property
    def renew_deadline(self) -> float:
        return self.lease_seconds * 2 / 3

    @property
    def retry_period(self) -> float:
        return max(0.5, self.lease_seconds / 7.5)


def holder_of(lease: Mapping[str, Any]) -> str:
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def _record(lease: Mapping[str, Any]) -> tuple[str, str, Any]:
    spec = lease.get("spec") or {}
    return (holder_of(lease), str(spec.get("renewTime") or ""), spec.get("leaseDurationSeconds"))


@dataclass
class _Seen:
    lease: dict[str, Any]
    record: tuple[str, str, Any]
    since: float  # our monotonic clock when we first saw this record


@dataclass
class Observer:
    """What this replica has seen of the Leases, and since when (its own clock)."""

    default_seconds: float
    seen: dict[str, _Seen] = field(default_factory=dict)

    def observe(self, lease: dict[str, Any], now: float) -> None:
        name = lease["metadata"]["name"]
        record = _record(lease)
        old = self.seen.get(name)
        if old is None or old.record != record:
            self.seen[name] = _Seen(lease, record, now)
        else:
            old.lease = lease  # same record; keep the newest resourceVersion

    def observe_all(self, found: Sequence[dict[str, Any]], now: float) -> None:
        names = {lease["metadata"]["name"] for lease in found}
        for name in list(self.seen):
            if name not in names:
                del self.seen[name]
        for lease in found:
            self.observe(lease, now)

    def lease(self, name: str) -> dict[str, Any] | None:
        seen = self.seen.get(name)
        return seen.lease if seen else None

    def unchanged_for(self, name: str, now: float) -> float:
        seen = self.seen.get(name)
        return now - seen.since if seen else 0.0

    def expired(self, name: str, now: float, grace: float = 1.0) -> bool:
        """Not renewed for ``grace`` times its own lease duration, by our observation."""
        seen = self.seen.get(name)
        if seen is None:
            return False
        duration = seen.record[2]
        if not isinstance(duration, int | float) or duration <= 0:
            duration = self.default_seconds
        return now - seen.since > float(duration) * grace
