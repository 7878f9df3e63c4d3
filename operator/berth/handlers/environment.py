"""Reconcile one Environment: its namespace, and a status that counts its Workloads."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from berth.api import Environment
from berth.clock import rfc3339
from berth.handlers.common import (
    deletion_policy,
    invalid_spec,
    post_event,
    write_status_and_events,
)
from berth.handlers.context import Context
from berth.handlers.keys import EnvironmentKey
from berth.kube.children import apply_if_changed, prepared_manifest
from berth.kube.finalizers import has_finalizer, set_finalizer
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.conditions import ready_condition
from berth.render.folding import only_workload_counts
from berth.render.namespace import namespace_manifest
from berth.render.status import environment_status

FINALIZE_POLL_SECONDS = 1.0
# An Environment's Workload counts are written at most this often (each Workload that
# comes or becomes Ready changes them); any other change of its status at once.
COUNTS_EVERY_SECONDS = 5.0


async def reconcile(context: Context, key: EnvironmentKey) -> float | None:
    name = key.name
    body = context.cache.environment(name)
    if body is None:
        return None
    served = context.namespaces
    if served and (body.get("spec") or {}).get("namespace") not in served:
        # Watching only some namespaces: an Environment of another one is another
        # operator's to count, hold and finalize.
        return None
    now = rfc3339(context.clock.now())
    if body["metadata"].get("deletionTimestamp"):
        return await finalize(context, body, now)
    problem: Problem | None = None
    namespace = (body.get("spec") or {}).get("namespace", "")
    pod_security = "restricted"
    try:
        pod_security = Environment.model_validate(body).spec.pod_security_level()
    except ValidationError as err:
        problem = invalid_spec("Environment", err)

    if problem is None:
        owner = context.cache.environments_for_namespace(namespace)[0]
        if owner["metadata"]["name"] != name:
            problem = Problem(
                Reason.NAMESPACE_TAKEN,
                f"namespace {namespace!r} is already served by Environment "
                f"{owner['metadata']['name']!r}; choose another namespace",
            )

    namespace_ready = False
    if problem is None:
        written_body = await set_finalizer(context.client, body, True)
        if written_body is not None:
            context.cache.remember_write(body, written_body)
            body = written_body
        manifest = prepared_manifest(namespace_manifest(name, namespace, pod_security))
        live = await context.client.get("v1", "Namespace", namespace)
        _, current = await apply_if_changed(context.client, manifest, live)
        namespace_ready = current.get("status", {}).get("phase", "Active") == "Active"

    workloads = context.cache.workloads_in(namespace) if namespace else []
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
    if body.get("status") != status and only_workload_counts(body.get("status"), status):
        last = context.environment_status_written.get(name, float("-inf"))
        wait = last + COUNTS_EVERY_SECONDS - context.clock.monotonic()
        if wait > 0:
            return wait  # looked at again then, with the counts of that moment
    written_status = await write_status_and_events(
        context.client, context.events, body, status, now
    )
    if written_status is not None:
        context.environment_status_written[name] = context.clock.monotonic()
        context.cache.remember_write(body, written_status)
    return None


async def finalize(context: Context, body: dict[str, Any], now: str) -> float | None:
    """An Environment going away does what its deletion policy says.

    Delete: its Workloads are deleted first (each releases its resources under this same
    policy), then the Environment goes. Retain and Orphan: it goes at once; its Workloads
    keep running (Stalled, EnvironmentNotFound) and keep every resource.
    """
    if not has_finalizer(body):
        return None
    spec = body.get("spec") or {}
    policy = deletion_policy(body)
    namespace = spec.get("namespace", "")
    if policy == "Delete":
        remaining = context.cache.workloads_in(namespace) if namespace else []
        if remaining:
            for wl in remaining:
                if not wl["metadata"].get("deletionTimestamp"):
                    await context.client.delete(
                        wl["apiVersion"], wl["kind"], wl["metadata"]["name"], namespace
                    )
            await post_event(
                context.events,
                body,
                Reason.DELETING_WORKLOADS,
                f"deletionPolicy Delete: deleting the {len(remaining)} Workload(s) of namespace "
                f"{namespace} before the Environment goes",
                now=now,
            )
            return FINALIZE_POLL_SECONDS
    await set_finalizer(context.client, body, False)
    return None
