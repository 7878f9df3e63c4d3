"""Reconcile one Preview: the request, in a base's namespace, for a preview Environment.

Berth makes the Environment (``berth.preview.requests.preview_environment``) when the
base accepts previews, the ttl is within its cap and the quota has room, and says on the
Preview what the Environment says (Ready, its namespace, when it expires). The Preview
holds Berth's finalizer: its deletion deletes the Environment, and the Preview goes only
once the Environment's teardown is over — ``kubectl delete preview`` waits for all of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.clock import rfc3339
from berth.handlers.common import write_status_and_events
from berth.handlers.context import Context
from berth.handlers.keys import PreviewKey
from berth.kube.children import apply_if_changed, prepared_manifest
from berth.kube.finalizers import has_finalizer, set_finalizer
from berth.preview import checks
from berth.preview.checks import WAITING_REASONS
from berth.preview.requests import (
    preview_environment,
    preview_name,
    previews_of_base,
    quota_message,
    request_key,
    request_of,
    within_quota,
)
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.conditions import Verdict, progressing_summary, stalled_summary, stamped

API_VERSION = "berth.dev/v1alpha1"
GONE_POLL_SECONDS = 1.0


async def reconcile(context: Context, key: PreviewKey) -> float | None:
    body = context.cache.preview(key)
    if body is None:
        return None
    now = rfc3339(context.clock.now())
    if body["metadata"].get("deletionTimestamp"):
        return await finalize(context, body, now)
    problem, base = refuse(context, body)
    env_name = preview_name(key.namespace, key.name)
    environment = context.cache.environment(env_name)
    if problem is None and base is not None:
        written = await set_finalizer(context.client, body, True)
        if written is not None:
            context.cache.remember_write(body, written)
            body = written
        manifest = prepared_manifest(preview_environment(body, base))
        _, environment = await apply_if_changed(context.client, manifest, environment)
    await write_status(context, body, env_name, environment, problem, now)
    return None


def refuse(context: Context, body: Mapping[str, Any]) -> tuple[Problem | None, str | None]:
    """Why this Preview cannot have its Environment (now), if so, and its base's name."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if context.namespaces:
        return Problem(
            Reason.PREVIEWS_NOT_ALLOWED,
            "this operator watches only some namespaces (--namespace), and a preview's "
            "namespace is made as it comes: previews need an operator that watches the "
            "whole cluster",
        ), None
    serving = context.cache.environments_for_namespace(namespace)
    if not serving:
        return Problem(
            Reason.BASE_NOT_FOUND,
            f"no Environment serves namespace {namespace!r}: a Preview asks for a preview of "
            "the Environment of its namespace; it waits for one",
        ), None
    base = serving[0]
    base_name = base["metadata"]["name"]
    problem = checks.base_problem(
        preview_name(namespace, name), base_name, context.cache.environment
    )
    if problem is not None:
        return problem, None
    policy = checks.policy_of(base)
    ttl = checks.ttl_in_force((body.get("spec") or {}).get("ttl"), policy)
    if isinstance(ttl, Problem):
        return ttl, None
    env_name = preview_name(namespace, name)
    existing = context.cache.environment(env_name)
    if _name_taken(context, body) and existing is not None:
        owner = request_of(existing)
        return Problem(
            Reason.PREVIEW_NAME_TAKEN,
            f"Environment {env_name!r} exists and was not made for this Preview"
            + (f" (it was made for Preview {owner})" if owner else "")
            + ": rename this Preview",
        ), None
    environments = [
        e for n in context.cache.environment_names() if (e := context.cache.environment(n))
    ]
    # Only Previews that could be made queue for the quota: one refused for its own
    # reason (its ttl, its name) holds no place ahead of the others.
    queued = [
        r
        for r in context.cache.previews_in(namespace)
        if not isinstance(checks.ttl_in_force((r.get("spec") or {}).get("ttl"), policy), Problem)
        and not _name_taken(context, r)
    ]
    candidates = previews_of_base(base_name, environments, queued)
    if not within_quota(request_key(namespace, name), candidates, policy.max_count):
        return Problem(
            Reason.PREVIEW_QUOTA_EXCEEDED,
            quota_message(base_name, candidates, policy.max_count or 0),
        ), None
    return None, base_name


def _name_taken(context: Context, request: Mapping[str, Any]) -> bool:
    """The Environment of this Preview's name exists and was made for another (or by
    someone else)."""
    meta = request["metadata"]
    existing = context.cache.environment(preview_name(meta["namespace"], meta["name"]))
    return existing is not None and request_of(existing) != request_key(
        meta["namespace"], meta["name"]
    )


def _verdicts(
    problem: Problem | None, environment: Mapping[str, Any] | None, env_name: str
) -> dict[str, Verdict]:
    """The Preview's conditions: its own problem, else what its Environment says."""
    if problem is not None:
        if problem.reason in WAITING_REASONS:
            return progressing_summary(problem.reason, problem.message)
        return stalled_summary(
            problem.reason, problem.message, reconciling_message="waiting for the Preview to change"
        )
    conditions = {
        c.get("type"): c for c in ((environment or {}).get("status") or {}).get("conditions") or []
    }
    if not conditions.get("Ready"):
        return progressing_summary(
            Reason.PROGRESSING, f"waiting for preview Environment {env_name} to report"
        )
    return {
        kind: Verdict(
            status=conditions[kind].get("status") == "True",
            reason=str(conditions[kind].get("reason") or Reason.PROGRESSING),
            message=f"Environment {env_name}: {conditions[kind].get('message') or ''}".rstrip(": "),
        )
        for kind in ("Ready", "Reconciling", "Stalled")
        if kind in conditions
    }


async def write_status(
    context: Context,
    body: dict[str, Any],
    env_name: str,
    environment: Mapping[str, Any] | None,
    problem: Problem | None,
    now: str,
) -> None:
    generation = int(body["metadata"].get("generation") or 0)
    previous = list((body.get("status") or {}).get("conditions") or [])
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": stamped(previous, _verdicts(problem, environment, env_name), now, generation),
    }
    if environment is not None and request_of(environment) == request_key(
        body["metadata"]["namespace"], body["metadata"]["name"]
    ):
        status["environment"] = env_name
        status["namespace"] = (environment.get("spec") or {}).get("namespace")
        expires = ((environment.get("status") or {}).get("preview") or {}).get("expiresAt")
        if expires:
            status["expiresAt"] = expires
    written = await write_status_and_events(context.client, context.events, body, status, now)
    if written is not None:
        context.cache.remember_write(body, written)


async def finalize(context: Context, body: dict[str, Any], now: str) -> float | None:
    """Delete the preview Environment made for this Preview, wait until its teardown is
    over (saying on the Preview what the teardown says), then let the Preview go."""
    if not has_finalizer(body):
        return None
    meta = body["metadata"]
    env_name = preview_name(meta["namespace"], meta["name"])
    environment = context.cache.environment(env_name)
    mine = environment is not None and request_of(environment) == request_key(
        meta["namespace"], meta["name"]
    )
    if mine and environment is not None:
        if not environment["metadata"].get("deletionTimestamp"):
            await context.client.delete(
                API_VERSION, "Environment", env_name, uid=environment["metadata"].get("uid")
            )
        await write_status(context, body, env_name, environment, None, now)
        return GONE_POLL_SECONDS
    await set_finalizer(context.client, body, False)
    return None
