"""Reconcile one Environment: its namespace, who may make its previews, the admission
policies bound to it, and a status that counts its Workloads (and those that break each
rule of its policy); for a preview, also its base, copies and time to live
(``berth.handlers.previews``). Its deletion: ``berth.handlers.teardown``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from berth.api import Environment
from berth.api.preview import PreviewPolicy
from berth.clock import rfc3339
from berth.handlers import access, previews, teardown
from berth.handlers.common import invalid_spec, write_status_and_events
from berth.handlers.context import Context
from berth.handlers.keys import EnvironmentKey
from berth.kube.children import apply_if_changed, prepared_manifest
from berth.kube.client import ApiError
from berth.kube.finalizers import set_finalizer
from berth.names import CREATED_BY_ANNOTATION
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.admission import ADMISSION_API_VERSION, BINDING_KIND, environment_bindings
from berth.render.conditions import ready_condition
from berth.render.folding import only_workload_counts
from berth.render.namespace import namespace_manifest
from berth.render.policy import policy_status
from berth.render.status import environment_status

# An Environment's Workload counts are written at most this often (each Workload that
# comes or becomes Ready changes them); any other change of its status at once. Short,
# so that the number on status is right within seconds; a burst of Workload changes
# still costs one write per interval, not one per event.
COUNTS_EVERY_SECONDS = 2.0
# A Workload's change wakes its Environment this much later at the earliest, so that the
# events of one moment (a Workload and its siblings turning Ready) are counted once.
COUNTS_SETTLE_SECONDS = 0.5


def counts_due_in(context: Context, name: str) -> float:
    """When to look at an Environment's counts after one of its Workloads changed: as
    soon as they may be written (COUNTS_SETTLE_SECONDS at the earliest). Never a full
    interval regardless: a count that waits for nothing is a count that is wrong."""
    last = context.environment_status_written.get(name, float("-inf"))
    return max(COUNTS_SETTLE_SECONDS, last + COUNTS_EVERY_SECONDS - context.clock.monotonic())


@dataclass
class Assessed:
    """An Environment as a reconcile finds it: what is wrong, what it waits for, and
    (for a preview) its view of its base."""

    body: dict[str, Any]
    namespace: str
    problem: Problem | None = None
    waiting: Problem | None = None
    pod_security: str = "restricted"
    own_previews: PreviewPolicy | None = None
    preview: previews.PreviewView | None = None
    # The spec in force (a preview's: over its base), for the policy's counts.
    model: Environment | None = None


def assess(context: Context, body: dict[str, Any]) -> Assessed:
    name = body["metadata"]["name"]
    found = Assessed(body=body, namespace=str((body.get("spec") or {}).get("namespace") or ""))
    try:
        model = Environment.model_validate(body)
    except ValidationError as err:
        found.problem = invalid_spec("Environment", err)
        return found
    found.own_previews = model.spec.previews
    found.preview = previews.view(context.cache, body)
    effective = model
    if found.preview is not None:
        found.problem, found.waiting = found.preview.problem, found.preview.waiting
        try:
            effective = Environment.model_validate(found.preview.effective)
        except ValidationError as err:
            found.problem = found.problem or Problem(
                Reason.ENVIRONMENT_INVALID,
                f"the preview over its base is invalid: {invalid_spec('Environment', err).message}",
            )
    found.model = effective
    found.pod_security = effective.spec.pod_security_level()
    owner = context.cache.environments_for_namespace(found.namespace)[0]
    if found.problem is None and owner["metadata"]["name"] != name:
        found.problem = Problem(
            Reason.NAMESPACE_TAKEN,
            f"namespace {found.namespace!r} is already served by Environment "
            f"{owner['metadata']['name']!r}; choose another namespace",
        )
    return found


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
        return await teardown.finalize(context, body, now)
    found = assess(context, body)
    namespace_ready = False
    if found.problem is None and found.waiting is None:
        found.body = await hold_finalizer(context, found.body)
        namespace_ready = await provide_namespace(context, found)
        await bind_admission_policies(context, found.body)
        base_policy = found.preview.policy if found.preview is not None else None
        await access.grant(context, found.body, base_policy, found.own_previews)
    tended = previews.Tended()
    if found.preview is not None:
        tended = await previews.tend(context, found.body, found.preview, act=namespace_ready)
        if tended.expired:
            return None
    written = await write_status(context, found, namespace_ready, tended.status, now)
    return written if written is not None else tended.requeue


async def hold_finalizer(context: Context, body: dict[str, Any]) -> dict[str, Any]:
    written = await set_finalizer(context.client, body, True)
    if written is None:
        return body
    context.cache.remember_write(body, written)
    return written


async def provide_namespace(context: Context, found: Assessed) -> bool:
    """The namespace, labelled (and, for a preview, with its base), created when absent
    (then marked as Berth's creation, which a teardown may delete). True when Active."""
    name = found.body["metadata"]["name"]
    live = await context.client.get("v1", "Namespace", found.namespace)
    created = live is None or _annotation(live, CREATED_BY_ANNOTATION) == name
    manifest = namespace_manifest(
        name,
        found.namespace,
        found.pod_security,
        preview_of=found.preview.base if found.preview is not None else None,
        created=created,
        bucket=context.cache.shard_bucket_of(found.namespace),
    )
    _, current = await apply_if_changed(context.client, prepared_manifest(manifest), live)
    return bool(current.get("status", {}).get("phase", "Active") == "Active")


def _annotation(obj: Mapping[str, Any], key: str) -> str | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(key)
    return str(value) if value is not None else None


async def write_status(
    context: Context,
    found: Assessed,
    namespace_ready: bool,
    preview: Mapping[str, Any],
    now: str,
) -> float | None:
    """Write the status; a time to look again when the counts alone changed and were
    written too recently."""
    body, name = found.body, found.body["metadata"]["name"]
    workloads = context.cache.workloads_in(found.namespace) if found.namespace else []
    ready = sum(
        1 for wl in workloads if (ready_condition(wl.get("status")) or {}).get("status") == "True"
    )
    status = environment_status(
        generation=int(body["metadata"].get("generation") or 0),
        namespace=found.namespace,
        namespace_ready=namespace_ready,
        problem=found.problem,
        workloads=len(workloads),
        ready_workloads=ready,
        previous=body.get("status"),
        now=now,
        waiting=found.waiting,
        preview=preview,
        previews=len(context.cache.previews_of(name)) if found.own_previews else None,
        policy=policy_status(found.model, workloads) if found.model is not None else None,
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


async def bind_admission_policies(context: Context, body: Mapping[str, Any]) -> None:
    """The admission policies, bound to this Environment's namespace with it as their
    parameter (berth.render.admission.environment_bindings). Created when missing, never
    changed: the operator may create bindings, not alter any (least privilege)."""
    if not context.admission_bindings:
        return
    try:
        for binding in environment_bindings(body["metadata"]["name"], body["metadata"]["uid"]):
            name = binding["metadata"]["name"]
            if await context.client.get(ADMISSION_API_VERSION, BINDING_KIND, name) is None:
                await context.client.create(binding)
    except ApiError as err:
        # Installed without them (admissionPolicies.enabled: false grants no right), or a
        # server before 1.30: the operator's own check still stalls what breaks a rule.
        if err.status not in (403, 404):
            raise
