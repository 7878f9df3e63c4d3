"""What a Workload's reconcile reads without any I/O: its Environment (from the cache,
a preview's over its base), whether it is new, the objects it manages. (The words for a
child that could not be written are ``berth.handlers.refusals``'.)"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from berth.clock import parse_time
from berth.handlers import previews
from berth.handlers.cache import Cache
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.folding import reported
from berth.render.policy import NO_ENVIRONMENT
from berth.render.wording import fill

ENVIRONMENT_GRACE_SECONDS = 4.0


def resolve_environment(
    cache: Cache, workload: Mapping[str, Any]
) -> tuple[str | None, dict[str, Any] | None, Problem | None]:
    """The Environment a Workload runs in — the one it names, or its namespace's — as
    the Workload sees it: a preview over its base (and why its base cannot be used)."""
    name, body, problem = find_environment(cache, workload)
    if body is None or problem is not None:
        return name, body, problem
    body, problem = previews.effective(cache, body)
    return name, body, problem


def find_environment(
    cache: Cache, workload: Mapping[str, Any]
) -> tuple[str | None, dict[str, Any] | None, Problem | None]:
    """The Environment a Workload names, or its namespace's."""
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
                fill(NO_ENVIRONMENT, namespace=namespace),  # admission's words too
            ),
        )
    env = candidates[0]
    return env["metadata"]["name"], env, None


def managed_objects(children: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [
        {"apiVersion": c["apiVersion"], "kind": c["kind"], "name": c["metadata"]["name"]}
        for c in sorted(children, key=lambda c: (c["kind"], c["metadata"]["name"]))
    ]


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
