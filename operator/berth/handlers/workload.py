"""Reconcile one Workload: inputs from the cache, render, apply, status. Level-based:
nothing here depends on which event woke it up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from berth import metrics
from berth.api import Environment, Workload
from berth.handlers.cache import Cache
from berth.handlers.common import invalid_spec, now_rfc3339, post_event, write_status_and_events
from berth.kube.children import ObjectKey, sync_children
from berth.render import RenderError, render_workload
from berth.render.errors import Problem
from berth.render.status import Observed, workload_status

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
                    "EnvironmentNotFound",
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
                    "EnvironmentMismatch",
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
                "EnvironmentNotFound",
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
    _, namespace, name = key
    cache = runtime.cache
    body = cache.workload((namespace, name))
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None  # owner references let the garbage collector take the children
    now = now_rfc3339()
    env_name, env_body, problem = resolve_environment(cache, body)
    children = cache.children_of((namespace, name))
    deployment = next((c for c in children if c["kind"] == "Deployment"), None)

    rendered = None
    waiting: Problem | None = None  # resources not provisioned yet: not the user's fault
    if problem is None and env_body is not None:
        try:
            workload = Workload.model_validate(body)
        except ValidationError as err:
            problem = invalid_spec("Workload", err)
        else:
            try:
                environment = Environment.model_validate(env_body)
            except ValidationError as err:
                problem = Problem("EnvironmentInvalid", invalid_spec("Environment", err).message)
            else:
                try:
                    rendered = render_workload(workload, environment, {})
                except RenderError as err:
                    if err.transient:
                        waiting = Problem(err.reason, err.message)
                    else:
                        problem = Problem(err.reason, err.message)

    managed = children
    if rendered is not None:
        before = {ObjectKey.of(c): c for c in children}
        result = await sync_children(runtime.client, body, rendered.manifests, children)
        for applied in result.applied:
            cache.remember_write(before.get(applied), result.current[applied])
        for corrected in result.corrected:
            metrics.DRIFT_CORRECTIONS.labels(corrected.kind).inc()
            await post_event(
                runtime.client,
                body,
                "DriftCorrected",
                f"{corrected.kind} {corrected.name} had been changed by someone else; "
                "restored to the Workload's spec",
                False,
                now,
            )
        managed = list(result.current.values())
        deployment = next((c for c in managed if c["kind"] == "Deployment"), None)

    observed = Observed(
        generation=int(body["metadata"].get("generation") or 0),
        environment=env_name,
        problem=problem,
        deployment=deployment,
        desired_replicas=rendered.replicas if rendered is not None else None,
        endpoint=rendered.endpoint if rendered is not None else None,
        managed_objects=managed_objects(managed),
        resources_problem=waiting,
    )
    status = workload_status(observed, body.get("status"), now)
    written = await write_status_and_events(runtime.client, body, status, now)
    if written is not None:
        cache.remember_write(body, written)
    return None
