"""A preview Environment's own work, on each reconcile of it: its base (inherited live),
its copies of the base's Workloads, who may edit it, and its time to live.

The decisions are ``berth.preview``'s; this module gathers their inputs from the cache
and carries them out. ``environment.reconcile`` calls it for every preview.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.api.preview import DEFAULT_TTL, PreviewPolicy, parse_duration
from berth.clock import parse_time, rfc3339
from berth.handlers.cache import Cache
from berth.handlers.common import post_event
from berth.handlers.context import Context
from berth.handlers.keys import PreviewKey
from berth.kube import copies as kube_copies
from berth.preview import checks, copies, expiry
from berth.preview.checks import TTL, WAITING_REASONS
from berth.preview.inherit import base_name, effective_environment
from berth.preview.requests import kept, request_of
from berth.problems import Problem
from berth.reasons import Reason

log = logging.getLogger("berth")
# A copy whose write or letting go raced another writer is looked at again this soon.
UNSETTLED_SECONDS = 2.0
# A preview whose base's Workloads are in another replica's shard (see tend).
OTHER_SHARD_SECONDS = 30.0


@dataclass
class PreviewView:
    """A preview as its base makes it: the effective Environment and what is wrong."""

    base: str
    base_body: dict[str, Any] | None
    effective: dict[str, Any]
    policy: PreviewPolicy
    ttl: TTL
    problem: Problem | None = None  # someone must change something: Stalled
    waiting: Problem | None = None  # it waits (a base to appear)


def _ttl_for_counting(policy: PreviewPolicy, problem: Problem) -> TTL:
    """The ttl that still runs when the one asked for is refused: the cap, if the ttl
    is longer than it; else the default. A broken preview expires too."""
    if problem.reason == Reason.TTL_TOO_LONG and policy.max_ttl:
        return TTL(policy.max_ttl, parse_duration(policy.max_ttl))
    return TTL(DEFAULT_TTL, parse_duration(DEFAULT_TTL))


def view(cache: Cache, body: Mapping[str, Any]) -> PreviewView | None:
    """The preview's view of its base; None when ``body`` is not a preview."""
    base = base_name(body)
    if base is None:
        return None
    problem = checks.base_problem(body["metadata"]["name"], base, cache.environment)
    base_body = cache.environment(base) if problem is None else None
    policy = checks.policy_of(base_body) if base_body is not None else PreviewPolicy()
    asked = ((body.get("spec") or {}).get("preview") or {}).get("ttl")
    ttl = checks.ttl_in_force(asked, policy)
    if isinstance(ttl, Problem):
        problem = problem or ttl
        ttl = _ttl_for_counting(policy, ttl)
    result = PreviewView(base, base_body, effective_environment(body, base_body), policy, ttl)
    if problem is not None and problem.reason in WAITING_REASONS:
        result.waiting = problem
    else:
        result.problem = problem
    return result


def effective(cache: Cache, body: dict[str, Any]) -> tuple[dict[str, Any], Problem | None]:
    """The Environment a Workload runs under: ``body`` itself, or, for a preview, the
    preview over its base (and why its base cannot be used, if so)."""
    seen = view(cache, body)
    if seen is None:
        return body, None
    return seen.effective, seen.problem or seen.waiting


# -- copies ---------------------------------------------------------------------------------


@dataclass
class Tended:
    """What tending a preview came to: its status.preview and when to look again."""

    status: dict[str, Any] = field(default_factory=dict)
    requeue: float | None = None
    expired: bool = False


async def sync_copies(
    context: Context, body: Mapping[str, Any], seen: PreviewView, now: str, act: bool
) -> copies.CopyPlan:
    """Compare the base's Workloads with the preview's and, when ``act``, make the
    copies what the base says: write, delete, and let go of those taken over."""
    namespace = str((body.get("spec") or {}).get("namespace") or "")
    base_namespace = str(((seen.base_body or {}).get("spec") or {}).get("namespace") or "")
    selection = ((body.get("spec") or {}).get("preview") or {}).get("copyWorkloads")
    base_workloads = context.cache.workloads_in(base_namespace) if base_namespace else []
    present = {w["metadata"]["name"]: w for w in context.cache.workloads_in(namespace)}
    plan = copies.plan_copies(base_workloads, list(present.values()), namespace, selection)
    if not act:
        return plan
    previous_own = set((((body.get("status") or {}).get("preview") or {}).get("own")) or [])
    for name, how in plan.let_go.items():
        if how is copies.Ownership.TAKEN_BY_APPLY:
            done = await kube_copies.let_go_by_apply(context.client, present[name])
        else:
            done = await kube_copies.let_go_by_dropping(context.client, present[name])
        if not done:
            plan.unsettled = True
            continue
        await post_event(
            context.events,
            body,
            Reason.COPY_REPLACED,
            f"Workload {name} of namespace {namespace} is the preview's own now; the copy of "
            f"{base_namespace}/{name} no longer follows the base",
            now=now,
        )
    for manifest in plan.write:
        name = manifest["metadata"]["name"]
        live = present.get(name)
        version = live["metadata"].get("resourceVersion") if live is not None else None
        written = await kube_copies.write_copy(context.client, manifest, version)
        plan.unsettled |= not written
        if written and live is None and name in previous_own:
            await post_event(
                context.events,
                body,
                Reason.COPY_RESTORED,
                f"the copy of {base_namespace}/{name} is back in {namespace}",
                now=now,
            )
    for name in plan.delete:
        meta = present[name]["metadata"]
        await context.client.delete(
            present[name]["apiVersion"], "Workload", name, namespace, uid=meta.get("uid")
        )
    return plan


# -- the time to live -------------------------------------------------------------------------


async def tend(context: Context, body: dict[str, Any], seen: PreviewView, act: bool) -> Tended:
    """Copies (when ``act``: the preview's namespace is there and nothing is wrong), then
    the TTL: status.preview, and whether it expired."""
    base_namespace = str(((seen.base_body or {}).get("spec") or {}).get("namespace") or "")
    if base_namespace and not context.holds_namespace(base_namespace):
        # With --shards, the base's namespace may be another replica's: its Workloads
        # are not in this cache, and copies planned from none would delete every copy.
        # Nothing is changed; look again (the shards may move).
        log.info("preview %s: its base's namespace is in another shard", body["metadata"]["name"])
        previous = dict(((body.get("status") or {}).get("preview")) or {})
        return Tended(status=previous, requeue=OTHER_SHARD_SECONDS)
    now_time = context.clock.now()
    now = rfc3339(now_time)
    plan = await sync_copies(context, body, seen, now, act)
    meta = body["metadata"]
    previous = ((body.get("status") or {}).get("preview")) or {}
    namespace = str((body.get("spec") or {}).get("namespace") or "")
    own = [w for w in context.cache.workloads_in(namespace) if w["metadata"]["name"] in plan.own]
    digest = expiry.change_digest(int(meta.get("generation") or 0), own)
    created = _created(meta, now_time)
    changed = expiry.last_change(previous, digest, created, now_time)
    warned = previous.get("warnedFor")
    decision = expiry.decide(
        changed=changed,
        ttl=seen.ttl.duration,
        warning=seen.policy.warning(),
        kept=kept(body),
        warned_for=warned,
        now=now_time,
    )
    if decision.step is expiry.Step.EXPIRE:
        await expire(context, body, seen, now)
        return Tended(expired=True)
    if decision.step is expiry.Step.WARN and decision.expires_at is not None:
        warned = rfc3339(decision.expires_at)
        await warn(context, body, warned, now)
    status: dict[str, Any] = {"base": seen.base}
    if seen.base_body is not None:
        status["baseGeneration"] = int(seen.base_body["metadata"].get("generation") or 0)
    status.update(decision.status(seen.ttl.text, digest, warned))
    status["copies"] = plan.copies
    status["own"] = plan.own
    requeue = decision.next_check
    if plan.unsettled:  # a write raced another writer: look again shortly
        requeue = min(requeue, UNSETTLED_SECONDS) if requeue is not None else UNSETTLED_SECONDS
    return Tended(status=status, requeue=requeue)


def _created(meta: Mapping[str, Any], now: datetime.datetime) -> datetime.datetime:
    try:
        return parse_time(str(meta.get("creationTimestamp")))
    except ValueError:
        return now


def _request_body(context: Context, body: Mapping[str, Any]) -> dict[str, Any] | None:
    request = request_of(body)
    if not request or "/" not in request:
        return None
    namespace, name = request.split("/", 1)
    return context.cache.preview(PreviewKey(namespace, name))


async def warn(context: Context, body: Mapping[str, Any], expires_at: str, now: str) -> None:
    message = (
        f"this preview expires at {expires_at}; a change to it or to one of its own "
        'Workloads starts its ttl again, and the annotation berth.dev/keep: "true" keeps it'
    )
    for target in (body, _request_body(context, body)):
        if target is not None:
            await post_event(context.events, target, Reason.EXPIRING_SOON, message, now=now)


async def expire(context: Context, body: Mapping[str, Any], seen: PreviewView, now: str) -> None:
    """The ttl ran out: delete the Preview it was made for (whose finalizer deletes the
    Environment), or the Environment itself; its finalizer tears it down in order."""
    message = f"this preview's ttl ({seen.ttl.text}) ran out: it is torn down"
    request = _request_body(context, body)
    for target in (body, request):
        if target is not None:
            await post_event(context.events, target, Reason.EXPIRED, message, now=now)
    log.info("preview %s expired", body["metadata"]["name"])
    if request is not None:
        meta = request["metadata"]
        await context.client.delete(
            request["apiVersion"], "Preview", meta["name"], meta["namespace"], uid=meta.get("uid")
        )
    else:
        meta = body["metadata"]
        await context.client.delete(
            body["apiVersion"], "Environment", meta["name"], uid=meta.get("uid")
        )
