"""Whole-object writes under a named field manager: a create, and a replace (PUT) that
is conditional on the resourceVersion the object carries — what a Promotion does to its
target Workload, and what records a revision. Everything else Berth writes goes by
server-side apply (``KubeClient.apply``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.kube.client import KubeClient


async def _send(
    client: KubeClient, method: str, manifest: Mapping[str, Any], field_manager: str
) -> dict[str, Any]:
    meta = manifest["metadata"]
    name = meta["name"] if method == "PUT" else None
    path = await client.path_for(
        manifest["apiVersion"], manifest["kind"], meta.get("namespace"), name
    )
    result: dict[str, Any] = await client.request(
        method, path, params={"fieldManager": field_manager}, body=manifest, kind=manifest["kind"]
    )
    return result


async def create(
    client: KubeClient, manifest: Mapping[str, Any], *, field_manager: str
) -> dict[str, Any]:
    """Create the object (409 Conflict when one of its name exists)."""
    return await _send(client, "POST", manifest, field_manager)


async def replace(
    client: KubeClient, manifest: Mapping[str, Any], *, field_manager: str
) -> dict[str, Any]:
    """Replace the whole object; its ``metadata.resourceVersion`` is a precondition (409
    Conflict when the object changed since)."""
    return await _send(client, "PUT", manifest, field_manager)
