"""Reading what a trace shows, with the user's own credentials — and nothing else.

Thin on purpose: what to read comes from ``berth.cli.trace.plan``; this module only asks
the API server (through ``berth.kube.client``, the one door) and records each answer as
the object, None (not there) or Unreadable (Forbidden, not served, another error). It
never writes: the client refuses any write before sending it.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

from berth.cli.trace.model import Found, KindKey, Ref, Snapshot, Unreadable
from berth.cli.trace.plan import API_VERSION, plan_kinds, plan_objects, plan_secrets
from berth.cli.trace.tree import environment_of
from berth.kube.client import ApiError, KubeClient, NotFound
from berth.names import MANAGED_SELECTOR, WORKLOAD_LABEL

T = TypeVar("T")


class TargetError(Exception):
    """The Workload or Environment asked for cannot be traced (absent, unreadable)."""


def refuse_writes() -> None:
    raise RuntimeError("berth trace only reads; it never writes")


def _unreadable(err: ApiError) -> Unreadable:
    """In the API server's words: its reason (Forbidden for a 403) and message."""
    reason = err.reason if err.reason and err.reason != "Unknown" else f"HTTP{err.status}"
    return Unreadable(reason, err.message)


async def _read(request: Awaitable[T]) -> T | Unreadable:
    try:
        return await request
    except ApiError as err:
        return _unreadable(err)


async def _served(client: KubeClient, api_version: str, kind: str) -> Unreadable | None:
    """Unreadable when the API server does not serve the kind (a CRD gone)."""
    try:
        await client.resource_info(api_version, kind)
    except NotFound as err:
        return Unreadable("NotServed", err.message)
    except ApiError as err:
        return _unreadable(err)
    return None


async def _get(client: KubeClient, ref: Ref, *, metadata_only: bool = False) -> Found:
    absent = await _served(client, ref[0], ref[1])
    if absent is not None:
        return absent
    get = client.get_metadata if metadata_only else client.get
    return await _read(get(ref[0], ref[1], ref[3], ref[2] or None))


async def _list(
    client: KubeClient, kind: KindKey, namespace: str, selector: str
) -> list[Mapping[str, Any]] | Unreadable:
    absent = await _served(client, *kind)
    if absent is not None:
        return absent
    result = await _read(client.list(kind[0], kind[1], namespace, label_selector=selector))
    return result if isinstance(result, Unreadable) else list(result)


async def _fill(
    client: KubeClient, snap: Snapshot, workloads: Sequence[Mapping[str, Any]], selector: str
) -> None:
    kinds = plan_kinds(workloads)
    lists = await asyncio.gather(*(_list(client, k, snap.namespace, selector) for k in kinds))
    snap.listed.update(zip(kinds, lists, strict=True))
    refs = plan_objects(workloads)
    bodies = await asyncio.gather(*(_get(client, ref) for ref in refs))
    snap.objects.update(zip(refs, bodies, strict=True))
    secrets = plan_secrets(snap.objects)
    metas = await asyncio.gather(*(_get(client, ref, metadata_only=True) for ref in secrets))
    snap.objects.update(zip(secrets, metas, strict=True))


async def _target(client: KubeClient, kind: str, name: str, namespace: str | None) -> Any:
    where = f"{namespace}/{name}" if namespace else name
    try:
        body = await client.get(API_VERSION, kind, name, namespace)
    except NotFound as err:  # the kind itself: Berth's CRDs are not installed
        raise TargetError(f"cannot trace {kind} {where}: {err.message}") from err
    except ApiError as err:
        raise TargetError(f"cannot read {kind} {where}: {err.message}") from err
    if body is None:
        raise TargetError(f"{kind} {where} not found")
    return body


async def workload_snapshot(
    client: KubeClient, namespace: str, name: str, now: datetime.datetime
) -> tuple[Snapshot, Mapping[str, Any]]:
    workload = await _target(client, "Workload", name, namespace)
    snap = Snapshot(now=now, namespace=namespace, workloads=[workload])
    environment = environment_of(workload)
    if environment:
        snap.environments[environment] = await _read(
            client.get(API_VERSION, "Environment", environment)
        )
    await _fill(client, snap, [workload], f"{MANAGED_SELECTOR},{WORKLOAD_LABEL}={name}")
    return snap, workload


async def environment_snapshot(
    client: KubeClient, name: str, now: datetime.datetime
) -> tuple[Snapshot, Mapping[str, Any]]:
    environment = await _target(client, "Environment", name, None)
    namespace = str((environment.get("spec") or {}).get("namespace") or "")
    snap = Snapshot(now=now, namespace=namespace, workloads=[])
    snap.environments[name] = environment
    if not namespace:
        return snap, environment
    ns_ref: Ref = ("v1", "Namespace", "", namespace)
    snap.objects[ns_ref] = await _get(client, ns_ref)
    listed = await _read(client.list(API_VERSION, "Workload", namespace))
    if isinstance(listed, Unreadable):
        snap.workloads = listed
    else:
        snap.workloads = list(listed)
        await _fill(client, snap, snap.workloads, MANAGED_SELECTOR)
    return snap, environment
