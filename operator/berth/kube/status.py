"""Writes to our own custom resources: only their status (Events: ``berth.kube.events``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.kube.client import KubeClient
from berth.names import FIELD_MANAGER

# Fields of status that belong to others: kopf's, should it ever write any, and a
# Workload's revision and history, which handlers.revisions writes under a field manager
# of its own (REVISION_FIELD_MANAGER) when a generation becomes Ready.
FOREIGN_STATUS_FIELDS = frozenset({"kopf", "revision", "history"})


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
