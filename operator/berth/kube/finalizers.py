"""Our finalizer on our own objects, and nothing else of their metadata.

Written with JSON patches that first test the object's UID (and, to remove, the entry
at its index): a patch never creates an object — an apply would, were the object gone
and our copy stale — and a patch that raced another writer fails instead of clobbering
the list. Other controllers' finalizers are never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.kube.client import Invalid, KubeClient, NotFound
from berth.names import FINALIZER

JSON_PATCH = "application/json-patch+json"


def has_finalizer(obj: Mapping[str, Any]) -> bool:
    return FINALIZER in (obj.get("metadata", {}).get("finalizers") or [])


# A test op that failed because someone else changed the list meanwhile (Argo CD adds
# foregroundDeletion when it prunes): read the object again and try again, this often.
ATTEMPTS = 3


async def set_finalizer(
    client: KubeClient, obj: Mapping[str, Any], present: bool
) -> dict[str, Any] | None:
    """Add or remove our finalizer; None (and no request) when it is already so, or when
    the object is gone."""
    attempt = 1
    while True:
        try:
            return await _patch_finalizer(client, obj, present)
        except Invalid:  # a test op failed
            if attempt == ATTEMPTS:
                raise
        attempt += 1
        meta = obj["metadata"]
        fresh = await client.get(
            obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")
        )
        if fresh is None or fresh["metadata"].get("uid") != meta.get("uid"):
            return None
        obj = fresh


async def _patch_finalizer(
    client: KubeClient, obj: Mapping[str, Any], present: bool
) -> dict[str, Any] | None:
    if has_finalizer(obj) == present:
        return None
    meta = obj["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    ops: list[dict[str, Any]] = [{"op": "test", "path": "/metadata/uid", "value": meta["uid"]}]
    if present:
        if finalizers:
            ops.append({"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER})
        else:
            ops.append({"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]})
    else:
        index = finalizers.index(FINALIZER)
        path = f"/metadata/finalizers/{index}"
        ops += [{"op": "test", "path": path, "value": FINALIZER}, {"op": "remove", "path": path}]
    target = await client.path_for(
        obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"]
    )
    try:
        result: dict[str, Any] = await client.request(
            "PATCH", target, body=ops, content_type=JSON_PATCH, kind=obj["kind"]
        )
    except NotFound:
        return None
    return result
