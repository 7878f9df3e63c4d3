"""Writes to our own custom resources: only their status, and Events about them."""

from __future__ import annotations

import socket
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from berth.kube.client import KubeClient, NotFound
from berth.names import EVENT_REPORTING_COMPONENT, EVENT_SOURCE_COMPONENT, FIELD_MANAGER

# Fields of status that belong to others (kopf's, should it ever write any).
FOREIGN_STATUS_FIELDS = frozenset({"kopf"})


def ours(status: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (status or {}).items() if k not in FOREIGN_STATUS_FIELDS}


async def write_status(
    client: KubeClient, obj: Mapping[str, Any], status: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Apply the whole status we own; None (and no request) when it is already so."""
    if ours(obj.get("status")) == dict(status):
        return None
    meta = obj["metadata"]
    manifest: dict[str, Any] = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": meta["name"]},
        "status": dict(status),
    }
    if meta.get("namespace"):
        manifest["metadata"]["namespace"] = meta["namespace"]
    return await client.apply(manifest, field_manager=FIELD_MANAGER, subresource="status")


# Events this process posted, by (object uid, type, reason, message): a repeat bumps the
# count of the Event already there, as kubectl's recorders do, instead of adding another.
RECENT_EVENTS_LIMIT = 4096
_recent_events: OrderedDict[tuple[str, str, str, str], tuple[str, str, int]] = OrderedDict()


async def post_event(
    client: KubeClient,
    obj: Mapping[str, Any],
    *,
    reason: str,
    message: str,
    warning: bool,
    now: str,
) -> None:
    """A core/v1 Event about one of our objects (cluster-scoped ones report in 'default')."""
    meta = obj["metadata"]
    namespace = meta.get("namespace") or "default"
    message = message[:1024]
    key = (str(meta.get("uid")), "Warning" if warning else "Normal", reason, message)
    seen = _recent_events.get(key)
    if seen is not None:
        event_namespace, event_name, count = seen
        try:
            await client.merge_patch(
                "v1",
                "Event",
                event_name,
                {"count": count + 1, "lastTimestamp": now},
                namespace=event_namespace,
            )
        except NotFound:
            pass  # expired (Events live an hour): post a new one
        else:
            _recent_events[key] = (event_namespace, event_name, count + 1)
            _recent_events.move_to_end(key)
            return
    event = {
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
        "type": "Warning" if warning else "Normal",
        "source": {"component": EVENT_SOURCE_COMPONENT},
        "reportingComponent": EVENT_REPORTING_COMPONENT,
        "reportingInstance": socket.gethostname()[:128],
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    created = await client.create(event)
    _recent_events[key] = (namespace, created["metadata"]["name"], 1)
    while len(_recent_events) > RECENT_EVENTS_LIMIT:
        _recent_events.popitem(last=False)
