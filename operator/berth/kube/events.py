"""Events about our own objects, posted the way kubectl's recorders post them."""

from __future__ import annotations

import socket
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from berth.kube.client import KubeClient, NotFound
from berth.names import EVENT_REPORTING_COMPONENT, EVENT_SOURCE_COMPONENT

# How many posted Events a recorder remembers (the oldest are forgotten first).
RECENT_EVENTS_LIMIT = 4096
# (object uid, type, reason, message)
EventKey = tuple[str, str, str, str]


class EventRecorder:
    """Posts core/v1 Events about our objects, and remembers what it posted: a repeat
    bumps the count of the Event already there instead of adding another. The runtime
    holds one for the life of the process."""

    def __init__(self, client: KubeClient, *, limit: int = RECENT_EVENTS_LIMIT) -> None:
        self.client = client
        self.limit = limit
        # Event posted, by what it said: (its namespace, its name, its count).
        self.recent: OrderedDict[EventKey, tuple[str, str, int]] = OrderedDict()

    async def post(
        self,
        obj: Mapping[str, Any],
        *,
        reason: str,
        message: str,
        warning: bool,
        now: str,
    ) -> None:
        """An Event about ``obj`` (cluster-scoped objects report in 'default')."""
        meta = obj["metadata"]
        message = message[:1024]
        key = (str(meta.get("uid")), "Warning" if warning else "Normal", reason, message)
        if await self._bump(key, now):
            return
        namespace = meta.get("namespace") or "default"
        created = await self.client.create(_event(obj, namespace, key, now))
        self.recent[key] = (namespace, created["metadata"]["name"], 1)
        while len(self.recent) > self.limit:
            self.recent.popitem(last=False)

    async def _bump(self, key: EventKey, now: str) -> bool:
        """Count a repeat on the Event already posted; False when there is none (any
        more: Events live an hour)."""
        seen = self.recent.get(key)
        if seen is None:
            return False
        event_namespace, event_name, count = seen
        try:
            await self.client.merge_patch(
                "v1",
                "Event",
                event_name,
                {"count": count + 1, "lastTimestamp": now},
                namespace=event_namespace,
            )
        except NotFound:
            return False
        self.recent[key] = (event_namespace, event_name, count + 1)
        self.recent.move_to_end(key)
        return True


def _event(obj: Mapping[str, Any], namespace: str, key: EventKey, now: str) -> dict[str, Any]:
    meta = obj["metadata"]
    _, type_, reason, message = key
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
        "involvedObject": {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "namespace": meta.get("namespace") or "",
            "uid": meta.get("uid"),
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": EVENT_SOURCE_COMPONENT},
        "reportingComponent": EVENT_REPORTING_COMPONENT,
        "reportingInstance": socket.gethostname()[:128],
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
