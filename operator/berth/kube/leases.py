"""coordination.k8s.io/v1 Leases: the records replicas coordinate their shards through.

Every change is conditional on the resourceVersion the caller read (a replace carries it,
a delete sends it as a precondition), so two replicas racing for one Lease cannot both
win: the API server answers the loser 409 Conflict. That is the whole of the locking;
what a Lease *means* (who may write what, and until when) is decided in
coordination/sharding.py.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from berth.kube.client import ApiError, KubeClient

LEASE_API = "coordination.k8s.io/v1"
LEASE_KIND = "Lease"


def micro_time(moment: datetime.datetime) -> str:
    """A Lease's MicroTime: RFC 3339 with microseconds, UTC."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_manifest(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    spec: Mapping[str, Any],
    resource_version: str | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if resource_version is not None:
        meta["resourceVersion"] = resource_version
    return {"apiVersion": LEASE_API, "kind": LEASE_KIND, "metadata": meta, "spec": dict(spec)}


async def list_leases(client: KubeClient, namespace: str, selector: str) -> list[dict[str, Any]]:
    return await client.list(LEASE_API, LEASE_KIND, namespace, label_selector=selector)


async def create_lease(client: KubeClient, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The created Lease, or None when another replica created it first (409)."""
    try:
        return await client.create(manifest)
    except ApiError as err:
        if err.conflict:
            return None
        raise


async def replace_lease(client: KubeClient, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """PUT the Lease as read-and-changed; None when it changed since it was read (409)."""
    meta = manifest["metadata"]
    path = await client.path_for(LEASE_API, LEASE_KIND, meta["namespace"], meta["name"])
    try:
        result: dict[str, Any] = await client.request("PUT", path, body=manifest, kind=LEASE_KIND)
    except ApiError as err:
        if err.conflict or err.not_found:
            return None
        raise
    return result


async def delete_lease(
    client: KubeClient, name: str, namespace: str, resource_version: str
) -> bool:
    """Delete the Lease only if it is still the version read; False when it was not."""
    path = await client.path_for(LEASE_API, LEASE_KIND, namespace, name)
    body = {"preconditions": {"resourceVersion": resource_version}}
    try:
        await client.request("DELETE", path, body=body, kind=LEASE_KIND)
    except ApiError as err:
        if err.conflict or err.not_found:
            return False
        raise
    return True
