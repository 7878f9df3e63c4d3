"""Our finalizer on our own objects, and nothing else of their metadata.

Written by server-side apply under a field manager of its own: applying the list with
our entry adds it, applying an empty list removes exactly the entry we own — other
controllers' finalizers are never touched, and no read-modify-write race exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.kube.client import KubeClient

FINALIZER = "berth.dev/cleanup"
FINALIZER_MANAGER = "berth-finalizer"


def has_finalizer(obj: Mapping[str, Any]) -> bool:
    return FINALIZER in (obj.get("metadata", {}).get("finalizers") or [])


async def set_finalizer(
    client: KubeClient, obj: Mapping[str, Any], present: bool
) -> dict[str, Any] | None:
    """Add or remove our finalizer; None (and no request) when it is already so."""
    if has_finalizer(obj) == present:
        return None
    meta = obj["metadata"]
    manifest: dict[str, Any] = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": meta["name"], "finalizers": [FINALIZER] if present else []},
    }
    if meta.get("namespace"):
        manifest["metadata"]["namespace"] = meta["namespace"]
    return await client.apply(manifest, field_manager=FINALIZER_MANAGER)
