"""Writing a preview's copies of its base's Workloads, and letting go of them.

Copies are written with server-side apply under the ``berth-preview`` field manager and
never with force: where someone else has written a field of the copy, the apply fails
with a conflict instead of taking it back, and the next reconcile sees the Workload as
taken over (``berth.preview.copies.classify``). An update also carries the
resourceVersion the decision was made on, so a write that raced another writer fails.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from berth.kube.client import Conflict, Invalid, KubeClient, NotFound
from berth.names import APPLIED_HASH_ANNOTATION, COPY_OF_LABEL, PREVIEW_FIELD_MANAGER

log = logging.getLogger("berth")
JSON_PATCH = "application/json-patch+json"


async def write_copy(
    client: KubeClient, manifest: Mapping[str, Any], resource_version: str | None
) -> bool:
    """Apply a copy (create it, or update the one at ``resource_version``). False when
    someone else got there first: a field of theirs, or a newer version."""
    body = dict(manifest)
    if resource_version:
        body["metadata"] = {**manifest["metadata"], "resourceVersion": resource_version}
    try:
        await client.apply(body, field_manager=PREVIEW_FIELD_MANAGER, force=False)
    except Conflict as err:
        log.info(
            "copy %s/%s not written: %s",
            body["metadata"]["namespace"],
            body["metadata"]["name"],
            err,
        )
        return False
    return True


async def let_go_by_apply(client: KubeClient, body: Mapping[str, Any]) -> bool:
    """Give up a copy someone server-side applied: apply nothing under Berth's manager, so
    the fields only Berth owned (the rest of the base's spec, the copy label, the
    last-applied annotation) go, and those the other applier set stay."""
    meta = body["metadata"]
    empty = {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        # The version the decision was made on: an apply never creates it again, nor
        # lets go of a newer one unseen.
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "resourceVersion": meta.get("resourceVersion"),
        },
    }
    try:
        await client.apply(empty, field_manager=PREVIEW_FIELD_MANAGER, force=False)
    except (NotFound, Conflict, Invalid):
        return False  # gone, or changed since: looked at again
    return True


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


async def let_go_by_dropping(client: KubeClient, body: Mapping[str, Any]) -> bool:
    """Give up a copy someone wrote in any other way (client-side apply, edit, patch):
    drop Berth's managedFields entries, its copy label and digest, and leave every other
    field as that writer made it. Read fresh, and written only if still that version."""
    meta = body["metadata"]
    live = await client.get(body["apiVersion"], body["kind"], meta["name"], meta["namespace"])
    if live is None:
        return False
    live_meta = live["metadata"]
    entries = live_meta.get("managedFields") or []
    kept = [e for e in entries if e.get("manager") != PREVIEW_FIELD_MANAGER]
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": live_meta["resourceVersion"]}
    ]
    if COPY_OF_LABEL in (live_meta.get("labels") or {}):
        ops.append({"op": "remove", "path": f"/metadata/labels/{_escape(COPY_OF_LABEL)}"})
    if APPLIED_HASH_ANNOTATION in (live_meta.get("annotations") or {}):
        path = f"/metadata/annotations/{_escape(APPLIED_HASH_ANNOTATION)}"
        ops.append({"op": "remove", "path": path})
    if len(kept) != len(entries):
        # An empty list would mean "leave managedFields alone"; [{}] clears them all.
        ops.append({"op": "replace", "path": "/metadata/managedFields", "value": kept or [{}]})
    target = await client.path_for(
        body["apiVersion"], body["kind"], meta["namespace"], meta["name"]
    )
    try:
        await client.request("PATCH", target, body=ops, content_type=JSON_PATCH, kind=body["kind"])
    except (NotFound, Invalid, Conflict):
        return False  # gone, or changed since it was read: looked at again
    return True
