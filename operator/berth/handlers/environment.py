"""Reconcile one Environment: its namespace, and a status that counts its Workloads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from berth.api import Environment
from berth.handlers.cache import Cache
from berth.handlers.common import invalid_spec, now_rfc3339, write_status_and_events
from berth.kube.children import apply_if_changed, prepared_manifest
from berth.render.errors import Problem
from berth.render.namespace import namespace_manifest
from berth.render.status import environment_status, ready_condition

if TYPE_CHECKING:
    from berth.handlers.runtime import Key, Runtime


def environments_of_workload(cache: Cache, workload: Mapping[str, Any]) -> list[str]:
    """The Environments whose counts a change to this Workload may change."""
    named = (workload.get("spec") or {}).get("environment")
    if named:
        return [named]
    return [
        e["metadata"]["name"]
        for e in cache.environments_for_namespace(workload["metadata"]["namespace"])
    ]


async def reconcile(runtime: Runtime, key: Key) -> float | None:
    name = key[2]
    body = runtime.cache.environment(name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    now = now_rfc3339()
    problem: Problem | None = None
    namespace = (body.get("spec") or {}).get("namespace", "")
    try:
        Environment.model_validate(body)
    except ValidationError as err:
        problem = invalid_spec("Environment", err)

    if problem is None:
        owner = runtime.cache.environments_for_namespace(namespace)[0]
        if owner["metadata"]["name"] != name:
            problem = Problem(
                "NamespaceTaken",
                f"namespace {namespace!r} is already served by Environment "
                f"{owner['metadata']['name']!r}; choose another namespace",
            )

    namespace_ready = False
    if problem is None:
        manifest = prepared_manifest(namespace_manifest(name, namespace))
        live = await runtime.client.get("v1", "Namespace", namespace)
        _, current = await apply_if_changed(runtime.client, manifest, live)
        namespace_ready = current.get("status", {}).get("phase", "Active") == "Active"

    workloads = runtime.cache.workloads_in(namespace) if namespace else []
    ready = sum(
        1 for wl in workloads if (ready_condition(wl.get("status")) or {}).get("status") == "True"
    )
    status = environment_status(
        generation=int(body["metadata"].get("generation") or 0),
        namespace=namespace,
        namespace_ready=namespace_ready,
        problem=problem,
        workloads=len(workloads),
        ready_workloads=ready,
        previous=body.get("status"),
        now=now,
    )
    written_status = await write_status_and_events(runtime.client, body, status, now)
    if written_status is not None:
        runtime.cache.remember_write(body, written_status)
    return None
