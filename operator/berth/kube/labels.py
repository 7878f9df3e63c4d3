"""One label of ours on an object we do not own (a Workload: its author's), and nothing
else of its metadata.

A JSON merge patch of that one label: it merges into the labels the object has, so
nothing its author or Argo CD wrote is touched, and a patch never creates an object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.kube.client import KubeClient, NotFound


async def set_label(
    client: KubeClient, obj: Mapping[str, Any], key: str, value: str
) -> dict[str, Any] | None:
    """Set one label; None (and no request) when it is already so, or the object is gone."""
    meta = obj["metadata"]
    if (meta.get("labels") or {}).get(key) == value:
        return None
    try:
        return await client.merge_patch(
            obj["apiVersion"],
            obj["kind"],
            meta["name"],
            {"metadata": {"labels": {key: value}}},
            meta.get("namespace"),
        )
    except NotFound:
        return None
