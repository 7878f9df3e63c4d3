"""An Environment going away, as its deletion policy says (the order: berth.preview.teardown).

Under Delete, each reconcile of the Environment being deleted does the next step of the
teardown — Workloads, then what was provisioned for them, then the namespace Berth
created — and writes where it is on status.teardown, until nothing is left and its
finalizer goes. Under Retain and Orphan, the finalizer goes at once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from berth.api import Environment
from berth.clock import seconds_between
from berth.handlers import previews
from berth.handlers.common import deletion_policy, post_event, write_status_and_events
from berth.handlers.context import Context
from berth.handlers.release import inventory_kinds, provisioners_of
from berth.kube.children import ObjectKey
from berth.kube.finalizers import has_finalizer, set_finalizer
from berth.kube.resources import delete_object, get_object, list_provisioned
from berth.preview.teardown import (
    POLL_SECONDS,
    Teardown,
    plan_teardown,
    refs_of_statuses,
    teardown_state,
)
from berth.reasons import Reason
from berth.render.conditions import progressing_summary, stamped

log = logging.getLogger("berth")


async def finalize(context: Context, body: dict[str, Any], now: str) -> float | None:
    """The next step of an Environment's going; when to look again (None: done)."""
    if not has_finalizer(body):
        return None
    environment, _ = previews.effective(context.cache, body)
    if deletion_policy(environment) != "Delete":
        await set_finalizer(context.client, body, False)
        return None
    namespace = str((body.get("spec") or {}).get("namespace") or "")
    workloads = context.cache.workloads_in(namespace) if namespace else []
    previous = (body.get("status") or {}).get("teardown") or {}
    refs = _merged(previous.get("objects") or [], refs_of_statuses(workloads))
    provisioned = await _provisioned(context, environment, namespace, refs)
    live_namespace = await context.client.get("v1", "Namespace", namespace) if namespace else None
    plan = plan_teardown(
        environment=body["metadata"]["name"],
        workloads=workloads,
        provisioned=provisioned,
        namespace=live_namespace,
    )
    await _act(context, body, plan, namespace)
    waited = seconds_between(previous.get("since"), now)
    state = teardown_state(plan, previous, refs if not plan.done else [], now, waited)
    await _report(context, body, plan, state, previous, now)
    if plan.done:
        if plan.namespace_kept:
            await post_event(
                context.events, body, Reason.NAMESPACE_KEPT, plan.namespace_kept, now=now
            )
        await set_finalizer(context.client, body, False)
        return None
    return POLL_SECONDS


def _merged(*lists: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    found: dict[tuple[str, str, str], dict[str, str]] = {}
    for ref in (r for refs in lists for r in refs):
        key = (str(ref.get("apiVersion")), str(ref.get("kind")), str(ref.get("name")))
        found[key] = {"apiVersion": key[0], "kind": key[1], "name": key[2]}
    return [found[k] for k in sorted(found)]


async def _provisioned(
    context: Context,
    environment: Mapping[str, Any],
    namespace: str,
    refs: Sequence[Mapping[str, str]],
) -> list[dict[str, Any]]:
    """What was provisioned in the namespace and is still there: the objects the
    Workloads' statuses listed (read by name), and those the inventory labels find
    where the operator may list them."""
    if not namespace:
        return []
    found: dict[ObjectKey, dict[str, Any]] = {}
    for ref in refs:
        obj = await get_object(
            context.client, ref["apiVersion"], ref["kind"], ref["name"], namespace
        )
        if obj is not None:
            found[ObjectKey.of(obj)] = obj
    catalogue = context.provisioning.catalogue.provisioners(context.cache)
    model = _environment_model(environment)
    kinds = inventory_kinds(context.cache, namespace, provisioners_of(model, catalogue))
    for obj in await list_provisioned(context.client, kinds, namespace):
        found.setdefault(ObjectKey.of(obj), obj)
    return [found[k] for k in sorted(found)]


def _environment_model(body: Mapping[str, Any]) -> Environment | None:
    try:
        return Environment.model_validate(body)
    except ValidationError:
        return None


async def _act(context: Context, body: Mapping[str, Any], plan: Teardown, namespace: str) -> None:
    for name in plan.delete_workloads:
        await context.client.delete("berth.dev/v1alpha1", "Workload", name, namespace)
    for obj in plan.delete_objects:
        meta = obj["metadata"]
        if await delete_object(
            context.client,
            obj["apiVersion"],
            obj["kind"],
            meta["name"],
            namespace,
            uid=meta.get("uid"),
        ):
            log.info(
                "Environment %s: deleted %s %s", body["metadata"]["name"], obj["kind"], meta["name"]
            )
    if plan.delete_namespace:
        await context.client.delete("v1", "Namespace", namespace)


async def _report(
    context: Context,
    body: dict[str, Any],
    plan: Teardown,
    state: dict[str, Any],
    previous: Mapping[str, Any],
    now: str,
) -> None:
    """status.teardown and Ready (TearingDown, or TeardownBlocked naming what holds it);
    an Event when a phase starts, and when a wait is first reported as blocked."""
    name = body["metadata"]["name"]
    blocked = bool(state.get("blocked"))
    if blocked:
        reason = Reason.TEARDOWN_BLOCKED
        message = f"teardown of {name} waits: " + "; and ".join(plan.waiting_for)
    else:
        reason = Reason.TEARING_DOWN
        message = f"tearing down {name}: {plan.phase.lower()}"
        if plan.waiting_for:
            message += " (waiting for " + "; ".join(plan.waiting_for) + ")"
    message = message[:4096]
    status = dict(body.get("status") or {})
    generation = int(body["metadata"].get("generation") or 0)
    status["conditions"] = stamped(
        list(status.get("conditions") or []), progressing_summary(reason, message), now, generation
    )
    status["teardown"] = state
    status.pop("kopf", None)
    written = await write_status_and_events(context.client, context.events, body, status, now)
    if written is not None:
        context.cache.remember_write(body, written)
    if plan.phase != previous.get("phase") and plan.delete_workloads:
        await post_event(
            context.events,
            body,
            Reason.DELETING_WORKLOADS,
            f"deletionPolicy Delete: deleting the {len(plan.delete_workloads)} Workload(s) of "
            f"{body['spec'].get('namespace')} first, then their resources, then the namespace",
            now=now,
        )
    if blocked and not previous.get("blocked"):
        await post_event(
            context.events, body, Reason.TEARDOWN_BLOCKED, message, warning=True, now=now
        )
