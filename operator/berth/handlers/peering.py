"""Peered replicas: only the working one reconciles.

kopf's peering pauses a replica's watch streams while a live peer has a higher (or the
same) priority, but not what runs beside them: our reconcile workers, their requeues and
the periodic resync would go on writing from a cache that no longer follows the cluster.
So the workers follow the same peering object kopf keeps alive, and reconcile only while
no live peer outranks this replica — the same rule kopf applies. A peer is live until its
last keep-alive plus its lifetime (``--peering-lifetime``); a standby therefore takes over
at most that long after the working replica died.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from berth.kube.client import ApiError

if TYPE_CHECKING:
    from berth.handlers.runtime import Runtime

log = logging.getLogger("berth")
PEERING_API = "kopf.dev/v1"


def _parse(stamp: Any) -> datetime.datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def outranked_by(
    status: Mapping[str, Any] | None, identity: str, priority: int, now: datetime.datetime
) -> list[str]:
    """The live peers (other than ``identity``) that pause this replica: those with a
    higher priority, or the same one (kopf pauses both then). Pure."""
    found = []
    for peer, info in (status or {}).items():
        if peer == identity or not isinstance(info, Mapping):
            continue
        seen = _parse(info.get("lastseen"))
        lifetime = info.get("lifetime", 60)
        if seen is None or not isinstance(lifetime, int | float):
            continue
        if seen + datetime.timedelta(seconds=float(lifetime)) <= now:
            continue  # dead
        if int(info.get("priority", 0)) >= priority:
            found.append(peer)
    return sorted(found)


async def peers_status(runtime: Runtime) -> list[Mapping[str, Any]]:
    """The status of every peering object this replica takes part in."""
    config = runtime.config
    if not config.namespaces:
        body = await runtime.client.get(PEERING_API, "ClusterKopfPeering", config.peering)
        return [(body or {}).get("status") or {}]
    result = []
    for namespace in config.namespaces:
        body = await runtime.client.get(PEERING_API, "KopfPeering", config.peering, namespace)
        result.append((body or {}).get("status") or {})
    return result


async def follow(runtime: Runtime, identity: str) -> None:
    """Keep ``runtime.active`` set exactly while no live peer outranks this replica."""
    config = runtime.config
    interval = max(0.5, min(2.0, config.peering_lifetime / 10))
    while True:
        try:
            statuses = await peers_status(runtime)
        except ApiError as err:
            # Nothing can be written while the API server does not answer anyway.
            log.debug("peering %s could not be read: %s", config.peering, err)
        else:
            now = datetime.datetime.now(datetime.UTC)
            blockers = sorted(
                {p for s in statuses for p in outranked_by(s, identity, config.priority, now)}
            )
            if blockers and runtime.active.is_set():
                log.info("standing by: peers %s outrank this replica", ", ".join(blockers))
                runtime.active.clear()
            elif not blockers and not runtime.active.is_set():
                log.info("working: no live peer outranks this replica (%s)", identity)
                runtime.active.set()
        await asyncio.sleep(interval)
