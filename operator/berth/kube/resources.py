"""Reads and writes for provisioned resources: claims, template objects, Secrets' keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.kube.children import apply_if_changed, prepared_manifest
from berth.kube.client import ApiError, KubeClient


async def secret_keys(client: KubeClient, namespace: str, name: str) -> set[str] | None:
    """The keys of a Secret, or None when it does not exist.

    The values come over the wire (the API has no keys-only read) but are dropped here,
    at once: nothing above this function ever sees them.
    """
    secret = await client.get("v1", "Secret", name, namespace)
    if secret is None:
        return None
    return set(secret.get("data") or {}) | set(secret.get("stringData") or {})


async def apply_resource_objects(
    client: KubeClient, manifests: tuple[Mapping[str, Any], ...] | list[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """Apply a resource's objects (no owner: their fate is the deletion policy's).

    Returns the objects as they now are and how many were written."""
    current = []
    written = 0
    for manifest in manifests:
        full = prepared_manifest(manifest)
        meta = full["metadata"]
        live = await client.get(
            full["apiVersion"], full["kind"], meta["name"], meta.get("namespace")
        )
        changed, now = await apply_if_changed(client, full, live)
        written += int(changed)
        current.append(now)
    return current, written


async def get_object(
    client: KubeClient, api_version: str, kind: str, name: str, namespace: str | None
) -> dict[str, Any] | None:
    try:
        return await client.get(api_version, kind, name, namespace)
    except ApiError as err:
        if err.not_found:  # the kind itself is not served (a claim CRD not installed)
            return None
        raise


async def delete_object(
    client: KubeClient, api_version: str, kind: str, name: str, namespace: str | None
) -> bool:
    try:
        return await client.delete(api_version, kind, name, namespace)
    except ApiError as err:
        if err.not_found:
            return False
        raise
