"""Reads and writes for provisioned resources: claims, template objects, Secrets' keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from berth.kube.children import ObjectKey, apply_if_changed, prepared_manifest
from berth.kube.client import Forbidden, KubeClient, NotFound
from berth.kube.ownership import berth_applied_label, foreign_resource_owner
from berth.names import MANAGED_SELECTOR, RESOURCE_LABEL, RETAINED_ANNOTATION


class NotOurs(Exception):
    """An object of a resource's name exists and Berth did not write it for that resource
    (``berth.kube.ownership``): nothing is written over it."""

    def __init__(self, key: ObjectKey, owner: str) -> None:
        super().__init__(f"{key.kind} {key.name} belongs to {owner}")
        self.key = key
        self.owner = owner


def provisioned_by_berth(obj: Mapping[str, Any]) -> bool:
    """Berth wrote this provisioned object: its apply owns the resource label. Only such
    objects are ever let go of (deleted, orphaned, retained) by a deletion policy."""
    return berth_applied_label(obj, RESOURCE_LABEL)


async def secret_keys(client: KubeClient, namespace: str, name: str) -> set[str] | None:
    """The keys of a Secret, or None when it does not exist.

    The values come over the wire (the API has no keys-only read) but are dropped here,
    at once: nothing above this function ever sees them.
    """
    secret = await client.get("v1", "Secret", name, namespace)
    if secret is None:
        return None
    return set(secret.get("data") or {}) | set(secret.get("stringData") or {})


async def read_objects(
    client: KubeClient, manifests: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any] | None]:
    """Each manifest's object as the server has it now (None where it does not exist)."""
    result = []
    for manifest in manifests:
        meta = manifest["metadata"]
        result.append(
            await client.get(
                manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace")
            )
        )
    return result


async def apply_resource_objects(
    client: KubeClient,
    manifests: Sequence[Mapping[str, Any]],
    live: Sequence[Mapping[str, Any] | None] | None = None,
    *,
    conditional: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """Apply a resource's objects (no owner: their fate is the deletion policy's).

    ``live`` is what ``read_objects`` returned for them (read here when not given).
    ``conditional``: the first object is written only if it is still at the version
    read (a 409 Conflict otherwise): for taking over a shared resource's definition,
    which two Workloads must never both do. A retained object that is asked for again
    loses its retained mark. An existing object that Berth did not write for this
    resource raises ``NotOurs`` before anything is written. Returns the objects as they
    now are and how many were written."""
    if live is None:
        live = await read_objects(client, manifests)
    for index, manifest in enumerate(manifests):
        before = live[index]
        if before is None:
            continue
        identity = str(((manifest.get("metadata") or {}).get("labels") or {}).get(RESOURCE_LABEL))
        taken_by = foreign_resource_owner(before, identity, RESOURCE_LABEL)
        if taken_by is not None:
            raise NotOurs(ObjectKey.of(before), taken_by)
    current = []
    written = 0
    for index, manifest in enumerate(manifests):
        full = prepared_manifest(manifest)
        before = live[index]
        if conditional and index == 0 and before is not None:
            full["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"]
        changed, now = await apply_if_changed(client, full, before)
        if RETAINED_ANNOTATION in ((now.get("metadata") or {}).get("annotations") or {}):
            now = await _unmark(client, now)
            changed = True
        written += int(changed)
        current.append(now)
    return current, written


async def _unmark(client: KubeClient, obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return await client.merge_patch(
        obj["apiVersion"],
        obj["kind"],
        meta["name"],
        {"metadata": {"annotations": {RETAINED_ANNOTATION: None}}},
        meta.get("namespace"),
    )


async def mark_retained(
    client: KubeClient, obj: Mapping[str, Any], workload: str
) -> dict[str, Any] | None:
    """Mark an object retained (kept by a Retain policy when ``workload`` let go), so that
    no later sweep takes it, whatever the policy becomes. None when it is gone."""
    meta = obj["metadata"]
    if RETAINED_ANNOTATION in (meta.get("annotations") or {}):
        return None
    try:
        return await client.merge_patch(
            obj["apiVersion"],
            obj["kind"],
            meta["name"],
            {"metadata": {"annotations": {RETAINED_ANNOTATION: workload}}},
            meta.get("namespace"),
        )
    except NotFound:
        return None


async def list_provisioned(
    client: KubeClient, kinds: Iterable[tuple[str, str]], namespace: str
) -> list[dict[str, Any]]:
    """Every object Berth provisioned for a resource in ``namespace``, of the given
    (apiVersion, kind)s, found by its labels (the inventory). Kinds the server does not
    serve, or the operator may not list, are skipped."""
    found: list[dict[str, Any]] = []
    selector = f"{MANAGED_SELECTOR},{RESOURCE_LABEL}"
    for api_version, kind in sorted(set(kinds)):
        try:
            items = await client.list(api_version, kind, namespace, label_selector=selector)
        except (NotFound, Forbidden):
            continue
        # A cluster-scoped kind is listed cluster-wide: only this namespace's objects count.
        found.extend(i for i in items if (i.get("metadata") or {}).get("namespace") == namespace)
    return found


async def get_object(
    client: KubeClient, api_version: str, kind: str, name: str, namespace: str | None
) -> dict[str, Any] | None:
    try:
        return await client.get(api_version, kind, name, namespace)
    except NotFound:  # the kind itself is not served (a claim CRD not installed)
        return None


async def delete_object(
    client: KubeClient,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
    uid: str | None = None,
) -> bool:
    try:
        return await client.delete(api_version, kind, name, namespace, uid=uid)
    except NotFound:  # the kind itself is not served
        return False
