"""What a Workload's reconcile reads or says without any I/O: its Environment (from the
cache), whether it is new, the objects it manages, and the words for a child that
could not be written."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from berth.clock import parse_time
from berth.handlers.cache import Cache
from berth.kube.children import NameConflict, Refusal
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.folding import reported

ENVIRONMENT_GRACE_SECONDS = 4.0


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


def just_created(body: Mapping[str, Any], now: datetime.datetime) -> bool:
    """Never reported on yet, and created moments ago."""
    if reported(body.get("status")):
        return False
    stamp = body["metadata"].get("creationTimestamp")
    if not stamp:
        return False
    created = parse_time(stamp)
    age = (now - created).total_seconds()
    return age < ENVIRONMENT_GRACE_SECONDS
