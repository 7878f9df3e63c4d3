"""Reconcile one Workload: inputs from the cache, render, apply, status. Level-based:
nothing here depends on which event woke it up."""

from __future__ import annotations

import asyncio
import datetime
import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from berth import metrics
from berth.api import Environment, Workload
from berth.clock import rfc3339
from berth.handlers.cache import slim_owner
from berth.handlers.common import (
    deletion_policy,
    invalid_spec,
    post_event,
    write_status_and_events,
)
from berth.handlers.context import Context
from berth.handlers.informers import ORPHAN
from berth.handlers.keys import WorkloadKey
from berth.handlers.provisioning import Provisioned, provision
from berth.handlers.refusals import fingerprint, name_taken, refused_problem
from berth.handlers.release import release_deleted, release_removed
from berth.handlers.rendered import Rendered, source_of, unchanged
from berth.handlers.workload_facts import (
    ENVIRONMENT_GRACE_SECONDS,
    just_created,
    managed_objects,
    resolve_environment,
)
from berth.kube.children import ObjectKey, foreign_owner, sync_children
from berth.kube.finalizers import has_finalizer, set_finalizer
from berth.kube.labels import set_label
from berth.names import SHARD_BUCKET_LABEL
from berth.problems import Problem
from berth.reasons import Reason
from berth.render import RenderedWorkload, RenderError, render_workload
from berth.render.conditions import condition
from berth.render.folding import (
    first_status_wait,
    only_record_changed,
    only_rollout_progress,
)
from berth.render.policy import Finding, policy_findings
from berth.render.status import Observed, workload_status

log = logging.getLogger("berth")
# A child refused with 403 or 409 may be let through later (RBAC granted, a race over).
REFUSED_RETRY_SECONDS = 15.0


async def reconcile(context: Context, key: WorkloadKey) -> float | None:
    """One reconcile; should it fail, the Workload's status says so before it is retried."""
    try:
        return await reconcile_once(context, key)
    except asyncio.CancelledError:
        raise
    except Exception as err:
        await report_failure(context, key, err)
        raise


async def report_failure(context: Context, key: WorkloadKey, err: Exception) -> None:
    """Every input ends with a status: an error we did not foresee is shown, not hidden."""
    body = context.cache.workload(key)
    if body is None:
        return
    status = dict(body.get("status") or {})
    generation = int(body["metadata"].get("generation") or 0)
    now = rfc3339(context.clock.now())
    previous = list(status.get("conditions") or [])
    message = f"the operator could not reconcile this Workload and retries: {err}"[:1024]
    updates = {
        c["type"]: c
        for c in (
            condition(previous, "Ready", False, Reason.RECONCILE_ERROR, message, now, generation),
            condition(
                previous, "Reconciling", True, Reason.RECONCILE_ERROR, message, now, generation
            ),
            condition(previous, "Stalled", False, Reason.RETRYING, "retrying", now, generation),
        )
    }
    status["conditions"] = [updates.pop(c["type"], c) for c in previous] + list(updates.values())
    status["observedGeneration"] = generation
    try:
        written = await write_status_and_events(context.client, context.events, body, status, now)
    except Exception as write_err:  # the API server may be what failed
        log.debug("could not report the failure on the status: %s", write_err)
        return
    if written is not None:
        context.cache.remember_write(body, written)


@dataclass
class Inputs:
    """Step 1's result: everything a reconcile decides from, read from the cache."""

    key: WorkloadKey
    body: dict[str, Any]
    now: datetime.datetime
    env_name: str | None
    env_body: dict[str, Any] | None
    # Why the Environment cannot be used (not found, serves another namespace), if so.
    env_problem: Problem | None
    children: list[dict[str, Any]]

    @property
    def stamp(self) -> str:
        return rfc3339(self.now)


@dataclass
class Plan:
    """Step 6's result (or step 4's, with inputs that cannot be used): what the
    Workload should have, and what stands in the way."""

    body: dict[str, Any]  # the Workload, after any write of our finalizer
    rendered: RenderedWorkload | None = None
    problem: Problem | None = None  # the user's or the platform's to fix: Stalled
    waiting: Problem | None = None  # resources not provisioned yet: not anyone's fault
    provisioned: Provisioned = field(default_factory=Provisioned)
    policy: list[Finding] | None = None  # the policy's rules it breaks, at every level


@dataclass
class Applied:
    """Step 7's result: the children as they now are, and the API server's refusals."""

    managed: list[dict[str, Any]]
    problem: Problem | None = None  # a child's name is taken, or refused for good
    retrying: Problem | None = None  # the API server refused a child for now


async def reconcile_once(context: Context, key: WorkloadKey) -> float | None:
    """One level-based reconcile of one Workload, in steps:

    1. gather the inputs from the cache: the Workload, its Environment, its children;
    2. an Environment not found moments after the Workload was created: look again soon;
    3. a Workload being deleted: let go of its resources as the policy says, then of it;
    4. nothing changed since its children were last rendered (berth.handlers.rendered):
       only its status is computed, from the Deployment and the Pods;
    5. validate the Workload and its Environment; let go of the resources it no longer
       asks for, and hold our finalizer while it has any;
    6. provision its resources and render its children;
    7. apply the children (server-side apply, prune), saying when we corrected drift;
    8. write the status (and the Events of its transitions), or hold a new Workload's
       first one back a moment while its first rollout is on its way;
    9. say when to look again.
    """
    # 1. Gather the inputs (with --shards, labelling a Workload that is new to it).
    inputs = gather(context, key)
    if inputs is None:
        return None  # gone: nothing to do, its children go with it
    if context.sharded and not await label_with_bucket(context, inputs):
        return None  # labelled already: it comes from its shard's watch whole

    # 2. Applied together with its Environment, the Workload's watch event can come
    # first: look again shortly rather than report a problem that is not one.
    if awaits_environment(inputs):
        return ENVIRONMENT_GRACE_SECONDS / 4

    # 3. Being deleted: the resources go as the Environment's deletion policy says,
    # before our finalizer does (the garbage collector takes the children).
    if inputs.body["metadata"].get("deletionTimestamp"):
        await finalize(context, inputs)
        return None

    # 4. Unchanged since its children were last rendered: only the status may change.
    remembered = context.rendered.get(key) or Rendered.from_status(inputs.body.get("status"))
    if unchanged(remembered, inputs.body, inputs.env_body, inputs.children):
        assert remembered is not None
        return await report_unchanged(context, inputs, remembered)

    # 5. Validate: with inputs that cannot be used, nothing is written but the status.
    valid = validate(inputs)
    if isinstance(valid, Problem):
        plan = Plan(body=inputs.body, problem=valid)
    else:
        # Let go of what it no longer asks for; hold our finalizer while it has
        # resources (their fate at its deletion is the policy's, decided in step 3).
        await release_removed_resources(context, inputs, valid.environment)
        body = await hold_finalizer(context, inputs.body, bool(valid.workload.spec.resources))
        # 6. Provision its resources (their outputs are what the children are rendered
        # from, so they cannot wait for step 7) and render the children.
        plan = await provision_and_render(context, valid, body)

    # 7. Apply it.
    applied = await apply_children(context, inputs, plan)

    # 8. Say what happened (a new Workload's first rollout may be waited for a moment,
    # so that a quick one is said once: Ready).
    hold_back = await update_status(context, inputs, plan, applied)
    if hold_back is not None:
        return hold_back

    # 9. When to look again.
    return requeue_after(plan, applied)


def gather(context: Context, key: WorkloadKey) -> Inputs | None:
    """The Workload, its Environment (or why there is none) and its children, from the
    cache; None when the Workload is gone."""
    body = context.cache.workload(key)
    if body is None:
        return None
    env_name, env_body, problem = resolve_environment(context.cache, body)
    # The inventory is what carries our labels; of it, only what is this Workload's
    # (berth.kube.ownership) is its children: anyone can write labels.
    children = [c for c in context.cache.children_of(key) if foreign_owner(c, body) is None]
    return Inputs(
        key=key,
        body=body,
        now=context.clock.now(),
        env_name=env_name,
        env_body=env_body,
        env_problem=problem,
        children=children,
    )


async def label_with_bucket(context: Context, inputs: Inputs) -> bool:
    """With --shards, a replica lists and watches only the Workloads labelled with its
    shards' buckets; one without the label (new, or from before sharding) is seen by
    every replica's watch of unlabelled ones, and labelled by its shard's holder. One
    write in a Workload's life: the bucket is its namespace's (a preview's namespace:
    its base's, ``Cache.shard_bucket_of``), whatever the shards.
    False when what the cache holds is only the stub of an unlabelled Workload that
    needs no label (any more): the reconcile waits for the whole of it."""
    bucket = str(context.cache.shard_bucket_of(inputs.key.namespace))
    written = await set_label(context.client, inputs.body, SHARD_BUCKET_LABEL, bucket)
    if written is not None:
        context.cache.remember_write(inputs.body, written)
        inputs.body = slim_owner(written)  # the whole Workload, as the server answered
        return True
    return not inputs.body.get(ORPHAN)


def awaits_environment(inputs: Inputs) -> bool:
    """The Environment is not found, and the Workload is too young to say so yet."""
    problem = inputs.env_problem
    return (
        problem is not None
        and problem.reason == Reason.ENVIRONMENT_NOT_FOUND
        and just_created(inputs.body, inputs.now)
    )


async def finalize(context: Context, inputs: Inputs) -> None:
    """Release every resource of a Workload being deleted, then remove our finalizer."""
    if has_finalizer(inputs.body):
        policy = deletion_policy(inputs.env_body)
        for line in await release_deleted(context, inputs.body, inputs.env_body, policy):
            log.info("Workload %s: %s", inputs.key, line)
        await set_finalizer(context.client, inputs.body, False)


@dataclass
class Valid:
    """Step 4's result: the Workload and its Environment, as models."""

    workload: Workload
    environment: Environment


def validate(inputs: Inputs) -> Valid | Problem:
    """The Workload and its Environment parsed, or why they cannot be used."""
    if inputs.env_problem is not None or inputs.env_body is None:
        # (resolve_environment says why whenever there is none)
        return inputs.env_problem or Problem(Reason.ENVIRONMENT_NOT_FOUND, "no Environment")
    try:
        workload = Workload.model_validate(inputs.body)
    except ValidationError as err:
        return invalid_spec("Workload", err)
    try:
        environment = Environment.model_validate(inputs.env_body)
    except ValidationError as err:
        return Problem(Reason.ENVIRONMENT_INVALID, invalid_spec("Environment", err).message)
    return Valid(workload, environment)


async def release_removed_resources(
    context: Context, inputs: Inputs, environment: Environment
) -> None:
    """Let go of the resources the Workload no longer asks for, saying so in the log and
    an Event each."""
    for line in await release_removed(context, inputs.body, environment):
        log.info("Workload %s: %s", inputs.key, line)
        await post_event(
            context.events, inputs.body, Reason.RESOURCE_RELEASED, line, now=inputs.stamp
        )


async def hold_finalizer(context: Context, body: dict[str, Any], wanted: bool) -> dict[str, Any]:
    """Our finalizer on the Workload while it has resources (``wanted``), and not
    otherwise. Returns the Workload as it is after the write, if there was one."""
    written = await set_finalizer(context.client, body, wanted)
    if written is None:
        return body
    context.cache.remember_write(body, written)
    return written


async def provision_and_render(context: Context, valid: Valid, body: dict[str, Any]) -> Plan:
    """Provision the Workload's resources and render its children from their outputs.
    Provisioning writes (claims, template objects): see ``berth.handlers.provisioning``."""
    plan = Plan(body=body, policy=policy_findings(valid.workload, valid.environment))
    plan.provisioned = await provision(
        context,
        valid.workload,
        valid.environment,
        (body.get("status") or {}).get("resources") or [],
    )
    plan.waiting = plan.provisioned.waiting
    try:
        plan.rendered = render_workload(
            valid.workload,
            valid.environment,
            plan.provisioned.outputs,
            shard_bucket=context.cache.shard_bucket_of(valid.environment.spec.namespace),
        )
    except RenderError as err:
        if err.transient:
            plan.waiting = plan.waiting or Problem(err.reason, err.message)
        else:
            plan.problem = Problem(err.reason, err.message)
    if plan.provisioned.problem is not None and plan.problem is None:
        plan.problem = plan.provisioned.problem
    return plan


async def apply_children(context: Context, inputs: Inputs, plan: Plan) -> Applied:
    """Bring the children to what was rendered; with nothing rendered, leave them be."""
    if plan.rendered is None:
        return Applied(managed=inputs.children)
    body, children = plan.body, inputs.children
    before = {ObjectKey.of(c): c for c in children}
    # A child refused for good is not sent again while its inputs stay the same.
    # (The fingerprint is only worked out for a Workload that has a refusal to compare.)
    manifests = plan.rendered.manifests
    known = None
    if inputs.key in context.refusals:
        inputs_print = fingerprint(context.cache, body, inputs.env_body, manifests)
        known = context.refusals.recall(inputs.key, inputs_print)
    result = await sync_children(
        context.client, body, plan.rendered.manifests, children, known_refusal=known
    )
    applied = Applied(managed=[])
    if result.conflict is not None:
        applied.problem = name_taken(result.conflict, inputs.key.namespace)
    elif result.refused is not None:
        if result.refused.permanent:
            applied.problem = refused_problem(result.refused)
            inputs_print = fingerprint(context.cache, body, inputs.env_body, manifests)
            context.refusals.remember(inputs.key, inputs_print, result.refused)
        else:
            applied.retrying = refused_problem(result.refused)
    if result.refused is None or not result.refused.permanent:
        context.refusals.forget(inputs.key)
    for key in result.applied:
        context.cache.remember_write(before.get(key), result.current[key])
    for corrected in result.corrected:
        metrics.DRIFT_CORRECTIONS.labels(corrected.kind).inc()
        await post_event(
            context.events,
            body,
            Reason.DRIFT_CORRECTED,
            f"{corrected.kind} {corrected.name} had been changed by someone else; "
            "restored to the Workload's spec",
            now=inputs.stamp,
        )
    if result.conflict is None and result.refused is None:
        applied.managed = list(result.current.values())
    else:  # what was written before the refusal, and the rest as it was
        applied.managed = list({**before, **result.current}.values())
    return applied


async def update_status(
    context: Context, inputs: Inputs, plan: Plan, applied: Applied
) -> float | None:
    """Write the status the inputs and the outcome call for, when it changed, and
    remember what a good render was made from. Returns how long to hold back a new
    Workload's first status instead (None: not held)."""
    body, rendered = plan.body, plan.rendered
    record = None
    clean = (applied.problem or plan.problem or plan.waiting or applied.retrying) is None
    source = source_of(body, inputs.env_body)
    if rendered is not None and clean and source is not None:
        record = Rendered(
            source=source,
            desired_replicas=rendered.replicas,
            endpoint=rendered.endpoint,
            url=rendered.url,
            children=frozenset((c["kind"], c["metadata"]["name"]) for c in applied.managed),
        )
        context.rendered[inputs.key] = record
    else:
        context.rendered.pop(inputs.key, None)
    observed = Observed(
        generation=int(body["metadata"].get("generation") or 0),
        environment=inputs.env_name,
        problem=applied.problem or plan.problem,
        deployment=next((c for c in applied.managed if c["kind"] == "Deployment"), None),
        desired_replicas=rendered.replicas if rendered is not None else None,
        endpoint=rendered.endpoint if rendered is not None else None,
        url=rendered.url if rendered is not None else None,
        managed_objects=managed_objects(applied.managed),
        resources=plan.provisioned.entries,
        resources_problem=plan.waiting,
        retrying=applied.retrying,
        pods=context.cache.pods_of(inputs.key),
        rendered_from=record.source if record is not None else None,
        policy=plan.policy,
    )
    return await report(context, inputs, body, observed)


async def report_unchanged(context: Context, inputs: Inputs, record: Rendered) -> float | None:
    """The status of a Workload whose children stand as its last good render left them:
    the same as ``update_status`` would write, from the record instead of a render (and
    the policy's findings, which are not recorded: the Workload parsed again, no render)."""
    valid = validate(inputs)
    observed = Observed(
        generation=int(inputs.body["metadata"].get("generation") or 0),
        environment=inputs.env_name,
        deployment=next((c for c in inputs.children if c["kind"] == "Deployment"), None),
        desired_replicas=record.desired_replicas,
        endpoint=record.endpoint,
        url=record.url,
        managed_objects=managed_objects(inputs.children),
        pods=context.cache.pods_of(inputs.key),
        rendered_from=record.source,
        policy=policy_findings(valid.workload, valid.environment)
        if isinstance(valid, Valid)
        else None,
    )
    return await report(context, inputs, inputs.body, observed)


async def report(
    context: Context, inputs: Inputs, body: dict[str, Any], observed: Observed
) -> float | None:
    previous = body.get("status")
    status = workload_status(observed, previous, inputs.stamp)
    # A new Workload's quick first rollout is said once: Ready (the Deployment's progress
    # wakes us; the requeue writes "rolling out" if it is not quick).
    created = str(body["metadata"].get("creationTimestamp") or "")
    hold_back = first_status_wait(previous, status, created, inputs.stamp)
    if hold_back is not None:
        return hold_back
    # The steps of a rollout are said once (Ready=False early), then where it ended; the
    # record of what was rendered rides along with a write that says something.
    if only_rollout_progress(previous, status, inputs.stamp) or only_record_changed(
        previous, status
    ):
        return None
    written = await write_status_and_events(
        context.client, context.events, body, status, inputs.stamp
    )
    if written is not None:
        context.cache.remember_write(body, written)
    return None


def requeue_after(plan: Plan, applied: Applied) -> float | None:
    """When to look again without an event saying so (None: only when one does).

    Stalled on the inputs, nothing changes until the Workload, its Environment or their
    provisioners do, and each of those wakes us; a resource that waits for another
    Workload is woken by it, one that waits for a claim by the claim's watch. Only what
    no watch tells of is looked at again on a timer (see ``berth.handlers.provisioning``).
    """
    if applied.retrying is not None:
        return REFUSED_RETRY_SECONDS
    return plan.provisioned.look_again
