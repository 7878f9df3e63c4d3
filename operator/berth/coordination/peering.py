"""Peered replicas: only the working one reconciles.

kopf's peering pauses a replica's watch streams while a live peer has a higher (or the
same) priority, but not what runs beside them: our reconcile workers, their requeues and
the periodic resync would go on writing from a cache that no longer follows the cluster.
So the workers follow the same peering object kopf keeps alive, and reconcile only while
no live peer outranks this replica — the same rule kopf applies.

Two replicas must never write at once, even when the working one is slow rather than
dead (a starved event loop, a slow API server), so the rule has two sides, the way
client-go's leader election keeps its renew deadline below the lease duration:

- a replica whose own keep-alive is older than its lifetime stops working by itself
  (its peers may already consider it dead), until kopf's next keep-alive lands;
- a standby counts a peer as dead only a grace period after the peer's lifetime ran
  out, so the slow replica has stopped before the standby starts.

A standby therefore takes over at most the lifetime plus the grace after the working
replica's last keep-alive.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from berth.clock import Clock, SystemClock, try_parse_time
from berth.kube.client import ApiError, KubeClient

log = logging.getLogger("berth")
PEERING_API = "kopf.dev/v1"


def grace_seconds(lifetime: float) -> float:
    """How long past a peer's lifetime a standby still waits before taking over: room for
    the peer to notice its own expired keep-alive and stop, and for clock skew."""
    return max(2.0, lifetime / 4)


def _keepalive(info: Mapping[str, Any]) -> tuple[datetime.datetime, float] | None:
    """A peer's last keep-alive and its lifetime in seconds, or None if unreadable."""
    seen = try_parse_time(info.get("lastseen"))
    lifetime = info.get("lifetime", 60)
    if seen is None or not isinstance(lifetime, int | float) or isinstance(lifetime, bool):
        return None
    return seen, float(lifetime)


def outranked_by(
    status: Mapping[str, Any] | None, identity: str, priority: int, now: datetime.datetime
) -> list[str]:
    """The live peers (other than ``identity``) that pause this replica: those with a
    higher priority, or the same one (kopf pauses both then). A peer stays live for a
    grace period past its lifetime (see the module docstring). Pure."""
    found = []
    for peer, info in (status or {}).items():
        if peer == identity or not isinstance(info, Mapping):
            continue
        keepalive = _keepalive(info)
        if keepalive is None:
            continue
        seen, lifetime = keepalive
        if seen + datetime.timedelta(seconds=lifetime + grace_seconds(lifetime)) <= now:
            continue  # dead
        if int(info.get("priority", 0)) >= priority:
            found.append(peer)
    return sorted(found)


def own_keepalive_expired(
    status: Mapping[str, Any] | None, identity: str, now: datetime.datetime
) -> bool:
    """Whether this replica's own last keep-alive has run out, so that its peers may
    count it as dead. No entry yet (kopf has not touched the peering) is not expired:
    nobody can have taken over from a replica they never saw. Pure."""
    info = (status or {}).get(identity)
    if not isinstance(info, Mapping):
        return False
    keepalive = _keepalive(info)
    if keepalive is None:
        return False
    seen, lifetime = keepalive
    return seen + datetime.timedelta(seconds=lifetime) <= now


class Peering:
    """The gate of a peered replica's reconciles: ``active`` is set exactly while no live
    peer outranks this replica (``run`` keeps it so). kopf keeps the peering object
    alive; this only reads it."""

    def __init__(
        self,
        name: str,
        identity: str,
        *,
        priority: int,
        lifetime: float,
        namespaces: Sequence[str] = (),
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.identity = identity
        self.priority = priority
        self.lifetime = lifetime
        self.namespaces = tuple(namespaces)
        self.clock = clock or SystemClock()
        self.active = asyncio.Event()

    async def wait_active(self) -> None:
        await self.active.wait()

    async def peers_status(self, client: KubeClient) -> list[Mapping[str, Any]]:
        """The status of every peering object this replica takes part in: the cluster's,
        or one per watched namespace."""
        if not self.namespaces:
            body = await client.get(PEERING_API, "ClusterKopfPeering", self.name)
            return [(body or {}).get("status") or {}]
        result = []
        for namespace in self.namespaces:
            body = await client.get(PEERING_API, "KopfPeering", self.name, namespace)
            result.append((body or {}).get("status") or {})
        return result

    async def run(self, client: KubeClient) -> None:
        """Keep ``active`` set exactly while no live peer outranks this replica."""
        interval = max(0.5, min(2.0, self.lifetime / 10))
        while True:
            try:
                statuses = await self.peers_status(client)
            except ApiError as err:
                # Nothing can be written while the API server does not answer anyway.
                log.debug("peering %s could not be read: %s", self.name, err)
            else:
                self.follow(statuses)
            await asyncio.sleep(interval)

    def follow(self, statuses: Sequence[Mapping[str, Any]]) -> None:
        """Open or close the gate by what the peering objects say now."""
        now = self.clock.now()
        blockers = sorted(
            {p for s in statuses for p in outranked_by(s, self.identity, self.priority, now)}
        )
        expired = any(own_keepalive_expired(s, self.identity, now) for s in statuses)
        if (blockers or expired) and self.active.is_set():
            if blockers:
                log.info("standing by: peers %s outrank this replica", ", ".join(blockers))
            else:
                log.warning(
                    "standing by: this replica's own peering keep-alive is older than "
                    "its lifetime (%ss), so a peer may take over; working again once "
                    "it is renewed",
                    self.lifetime,
                )
            self.active.clear()
        elif not blockers and not expired and not self.active.is_set():
            log.info("working: no live peer outranks this replica (%s)", self.identity)
            self.active.set()
