"""Reconcile one Workload: inputs from the cache, render, apply, status. Level-based:
nothing here depends on which event woke it up."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from berth import metrics
from berth.api import Environment, Workload
from berth.handlers.cache import Cache
from berth.handlers.common import (
    deletion_policy,
    invalid_spec,
    now_rfc3339,
    parse_time,
    post_event,
    write_status_and_events,
)
from berth.handlers.resources import Provisioned, provision, release_deleted, release_removed
from berth.kube.children import NameConflict, ObjectKey, Refusal, sync_children
from berth.kube.finalizers import has_finalizer, set_finalizer
from berth.problems import Problem
from berth.reasons import Reason
from berth.render import RenderError, render_workload
from berth.render.status import (
    Observed,
    condition,
    first_status_wait,
    only_rollout_progress,
    workload_status,
)

log = logging.getLogger("berth")
RESOURCE_POLL_SECONDS = 2.0
# A claim that reports a failure may recover by itself (Crossplane retries): look now and
# then, not every two seconds.
FAILED_RESOURCE_POLL_SECONDS = 30.0
# A child refused with 403 or 409 may be let through later (RBAC granted, a race over).
REFUSED_RETRY_SECONDS = 15.0
ENVIRONMENT_GRACE_SECONDS = 4.0

if TYPE_CHECKING:
    from berth.handlers.runtime import Key, Runtime


def resolve_environment(
    cache: Cache, workload: Mapping[str, Any]
) -> tuple[str | None, dict[str, Any] | None, Problem | None]:
    """The Environment a Workload runs in: the one it names, or its namespace's."""
    namespace = workload["metadata"]["namespace"]
    named = (workload.get("spec") or {}).get("environment")
    if named:
        env = cache.environment(named)
        if env is None:
            return (
                named,
                None,
                Problem(
                    Reason.ENVIRONMENT_NOT_FOUND,
                    f"Environment {named!r} (spec.environment) does not exist; create it, "
                    "or remove spec.environment to use the Environment that serves "
                    f"namespace {namespace!r}",
                ),
            )
        served = (env.get("spec") or {}).get("namespace")
        if served != namespace:
            return (
                named,
                None,
                Problem(
                    Reason.ENVIRONMENT_MISMATCH,
                    f"Environment {named!r} serves namespace {served!r}, not {namespace!r}; "
                    "move the Workload there or name the Environment of this namespace",
                ),
            )
        return named, env, None
    candidates = cache.environments_for_namespace(namespace)
    if not candidates:
        return (
            None,
            None,
            Problem(
                Reason.ENVIRONMENT_NOT_FOUND,
                f"no Environment serves namespace {namespace!r}; ask the platform team for one "
                f"with spec.namespace: {namespace}, or name one in spec.environment",
            ),
        )
    env = candidates[0]
    return env["metadata"]["name"], env, None


def managed_objects(children: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [
        {"apiVersion": c["apiVersion"], "kind": c["kind"], "name": c["metadata"]["name"]}
        for c in sorted(children, key=lambda c: (c["kind"], c["metadata"]["name"]))
    ]


async def reconcile(runtime: Runtime, key: Key) -> float | None:
    """One reconcile; should it fail, the Workload's status says so before it is retried."""
    try:
        return await reconcile_once(runtime, key)
    except asyncio.CancelledError:
        raise
    except Exception as err:
        await report_failure(runtime, key, err)
        raise


async def report_failure(runtime: Runtime, key: Key, err: Exception) -> None:
    """Every input ends with a status: an error we did not foresee is shown, not hidden."""
    body = runtime.cache.workload((key[1], key[2]))
    if body is None:
        return
    status = dict(body.get("status") or {})
    generation = int(body["metadata"].get("generation") or 0)
    now = now_rfc3339()
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
        written = await write_status_and_events(runtime.client, body, status, now)
    except Exception as write_err:  # the API server may be what failed
        log.debug("could not report the failure on the status: %s", write_err)
        return
    if written is not None:
        runtime.cache.remember_write(body, written)


async def reconcile_once(runtime: Runtime, key: Key) -> float | None:
    _, namespace, name = key
    cache = runtime.cache
    body = cache.workload((namespace, name))
    if body is None:
        return None
    now = now_rfc3339()
    env_name, env_body, problem = resolve_environment(cache, body)
    if (
        problem is not None
        and problem.reason == Reason.ENVIRONMENT_NOT_FOUND
        and just_created(body)
    ):
        # Applied together with its Environment, the Workload's watch event can come
        # first: look again shortly rather than report a problem that is not one.
        return ENVIRONMENT_GRACE_SECONDS / 4
    if body["metadata"].get("deletionTimestamp"):
        # Owner references let the garbage collector take the children; the resources
        # go as the Environment's deletion policy says, before our finalizer does.
        if has_finalizer(body):
            await release_all(runtime, body, env_body, now)
            await set_finalizer(runtime.client, body, False)
        return None
    children = cache.children_of((namespace, name))
    deployment = next((c for c in children if c["kind"] == "Deployment"), None)

    rendered = None
    waiting: Problem | None = None  # resources not provisioned yet: not the user's fault
    provisioned = Provisioned()
    if problem is None and env_body is not None:
        try:
            workload = Workload.model_validate(body)
        except ValidationError as err:
            problem = invalid_spec("Workload", err)
        else:
            try:
                environment = Environment.model_validate(env_body)
            except ValidationError as err:
                problem = Problem(
                    Reason.ENVIRONMENT_INVALID, invalid_spec("Environment", err).message
                )
            else:
                body = await track_resources(runtime, body, workload, environment, now)
                provisioned = await provision(
                    runtime,
                    workload,
                    environment,
                    (body.get("status") or {}).get("resources") or [],
                )
                waiting = provisioned.waiting
                try:
                    rendered = render_workload(workload, environment, provisioned.outputs)
                except RenderError as err:
                    if err.transient:
                        waiting = waiting or Problem(err.reason, err.message)
                    else:
                        problem = Problem(err.reason, err.message)
                if provisioned.problem is not None and problem is None:
                    problem = provisioned.problem

    managed = children
    retrying: Problem | None = None  # the API server refused a child for now: try again
    if rendered is not None:
        before = {ObjectKey.of(c): c for c in children}
        result = await sync_children(runtime.client, body, rendered.manifests, children)
        if result.conflict is not None:
            problem = name_taken(result.conflict, namespace)
        elif result.refused is not None:
            if result.refused.permanent:
                problem = refused_problem(result.refused)
            else:
                retrying = refused_problem(result.refused)
        for applied in result.applied:
            cache.remember_write(before.get(applied), result.current[applied])
        for corrected in result.corrected:
            metrics.DRIFT_CORRECTIONS.labels(corrected.kind).inc()
            await post_event(
                runtime.client,
                body,
                Reason.DRIFT_CORRECTED,
                f"{corrected.kind} {corrected.name} had been changed by someone else; "
                "restored to the Workload's spec",
                False,
                now,
            )
        if result.conflict is None and result.refused is None:
            managed = list(result.current.values())
        else:  # what was written before the refusal, and the rest as it was
            managed = list({**before, **result.current}.values())
        deployment = next((c for c in managed if c["kind"] == "Deployment"), None)

    observed = Observed(
        generation=int(body["metadata"].get("generation") or 0),
        environment=env_name,
        problem=problem,
        deployment=deployment,
        desired_replicas=rendered.replicas if rendered is not None else None,
        endpoint=rendered.endpoint if rendered is not None else None,
        url=rendered.url if rendered is not None else None,
        managed_objects=managed_objects(managed),
        resources=provisioned.entries,
        resources_problem=waiting,
        retrying=retrying,
        pods=cache.pods_of((namespace, name)),
    )
    status = workload_status(observed, body.get("status"), now)
    # A new Workload's quick first rollout is said once: Ready (the Deployment's progress
    # wakes us; the requeue writes "rolling out" if it is not quick).
    created = str(body["metadata"].get("creationTimestamp") or "")
    hold_back = first_status_wait(body.get("status"), status, created, now)
    if hold_back is not None:
        return hold_back
    # The steps of a rollout are said once (Ready=False early), then where it ended.
    if not only_rollout_progress(body.get("status"), status, now):
        written = await write_status_and_events(runtime.client, body, status, now)
        if written is not None:
            cache.remember_write(body, written)
    if retrying is not None:
        return REFUSED_RETRY_SECONDS
    if problem is not None and not provisioned.observed_failure:
        # Stalled on the inputs: nothing changes until the Workload, its Environment or
        # their provisioners do, and each of those wakes us. No polling.
        return None
    # Claims are not watched (their kinds are the Environment's to choose): while a
    # resource is on its way, or its claim reports a failure, look again.
    if provisioned.observed_failure:
        return FAILED_RESOURCE_POLL_SECONDS
    return None if provisioned.all_ready else RESOURCE_POLL_SECONDS


def name_taken(conflict: NameConflict, namespace: str) -> Problem:
    key = conflict.key
    return Problem(
        Reason.NAME_TAKEN,
        f"{key.kind} {key.name} already exists in namespace {namespace} and belongs to "
        f"{conflict.owner}; Berth never writes over an object it did not make for this "
        f"Workload: rename the Workload, or remove that {key.kind}",
    )


def refused_problem(refusal: Refusal) -> Problem:
    """The API server's answer, word for word, with the child it was about."""
    key = refusal.key
    reason = {403: Reason.CHILD_FORBIDDEN, 409: Reason.CHILD_CONFLICT}.get(
        refusal.status, Reason.CHILD_REJECTED
    )
    what = "refused" if refusal.permanent else "refused (retrying)"
    return Problem(
        reason, f"the API server {what} {key.kind} {key.name} ({refusal.status}): {refusal.message}"
    )


async def track_resources(
    runtime: Runtime,
    body: dict[str, Any],
    workload: Workload,
    environment: Environment,
    now: str,
) -> dict[str, Any]:
    """Hold our finalizer while the Workload has resources; release removed ones."""
    wanted = set(workload.spec.resources or {})
    for line in await release_removed(runtime, body, environment):
        log.info("Workload %s/%s: %s", workload_namespace(body), body["metadata"]["name"], line)
        await post_event(runtime.client, body, Reason.RESOURCE_RELEASED, line, False, now)
    needs_finalizer = bool(wanted)
    written = await set_finalizer(runtime.client, body, needs_finalizer)
    if written is not None:
        runtime.cache.remember_write(body, written)
        return written
    return body


async def release_all(
    runtime: Runtime, body: dict[str, Any], env_body: dict[str, Any] | None, now: str
) -> None:
    policy = deletion_policy(env_body)
    for line in await release_deleted(runtime, body, env_body, policy):
        log.info("Workload %s/%s: %s", workload_namespace(body), body["metadata"]["name"], line)


def just_created(body: Mapping[str, Any]) -> bool:
    """Never reconciled yet, and created moments ago."""
    if body.get("status"):
        return False
    stamp = body["metadata"].get("creationTimestamp")
    if not stamp:
        return False
    created = parse_time(stamp)
    age = (datetime.datetime.now(datetime.UTC) - created).total_seconds()
    return age < ENVIRONMENT_GRACE_SECONDS


def workload_namespace(body: Mapping[str, Any]) -> str:
    return str(body["metadata"]["namespace"])
