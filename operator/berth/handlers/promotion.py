"""Reconcile one Promotion: check, wait for approval, write the target, follow it.

Level-based like the others: every reconcile reads the Promotion, the Environments, the
source's revisions and the target as they are, and goes as far as it can. Before the
target is written, every check runs again each time (``berth.promotion``'s: the path,
the revision, GitOps, the target's policy and provisioners); a failed check is final
and leaves the target untouched. The write is a create, or a replace conditional on
the resourceVersion the checks saw; after it, the Promotion follows the target until
it is Ready at that generation with the revision recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from berth.api import API_VERSION, Environment
from berth.api.promotion import FINAL_PHASES, Promotion
from berth.clock import rfc3339, seconds_between
from berth.handlers.cache import APPROVALS
from berth.handlers.common import post_event
from berth.handlers.context import Context
from berth.handlers.keys import PromotionKey, WorkloadKey
from berth.handlers.revisions import list_revisions
from berth.kube import objects
from berth.kube import status as kube_status
from berth.kube.client import Conflict, NotFound
from berth.names import PROMOTED_REVISION_ANNOTATION, PROMOTION_ANNOTATION, PROMOTION_FIELD_MANAGER
from berth.problems import Problem
from berth.promotion.preflight import (
    gitops_problem,
    path_problem,
    preflight,
    problems_message,
    target_spec,
)
from berth.promotion.progress import (
    Step,
    conditions,
    eligible_approvals,
    finished,
    follow,
    source_revision,
    waiting_for_approval,
)
from berth.promotion.revision import due
from berth.reasons import Reason

log = logging.getLogger("berth")
# While a Promotion is under way, it is looked at this often even without an event.
FOLLOW_SECONDS = 30.0
# After a conflict (the target changed between the checks and the write), or while
# waiting for a revision to be recorded: soon.
RETRY_SECONDS = 1.0
# A Promotion this young that finds no Environment or Workload looks again before it
# fails: the watches may not have brought them yet.
GRACE_SECONDS = 10.0


@dataclass
class Found:
    """What a reconcile learned, for the status: the Promotion's own fields."""

    step: Step
    fields: dict[str, Any] = field(default_factory=dict)


def _environment(context: Context, name: str) -> Environment | Problem:
    body = context.cache.environment(name)
    if body is None:
        return Problem(Reason.ENVIRONMENT_NOT_FOUND, f"Environment {name!r} does not exist")
    try:
        return Environment.model_validate(body)
    except ValidationError as err:
        return Problem(
            Reason.ENVIRONMENT_INVALID, f"Environment {name!r} is invalid: {err.errors()[0]['msg']}"
        )


def target_environment(
    context: Context, promotion: Promotion, namespace: str
) -> Environment | Problem:
    """The Environment the Promotion goes to: ``spec.to``, which must serve its namespace,
    else the one that serves it."""
    if promotion.spec.to is None:
        serving = context.cache.environments_for_namespace(namespace)
        if not serving:
            return Problem(
                Reason.ENVIRONMENT_NOT_FOUND,
                f"no Environment serves namespace {namespace!r}; create the Promotion in the "
                "target Environment's namespace",
            )
        return _environment(context, serving[0]["metadata"]["name"])
    found = _environment(context, promotion.spec.to)
    if isinstance(found, Environment) and found.spec.namespace != namespace:
        return Problem(
            Reason.INVALID_PROMOTION,
            f"Environment {found.name!r} (spec.to) serves namespace {found.spec.namespace!r}, "
            f"not {namespace!r}: create the Promotion there",
        )
    return found


def _command(promotion: Promotion, target: Environment) -> str:
    spec = promotion.spec
    revision = f" --revision {spec.revision}" if spec.revision is not None else ""
    return (
        f"berth promote {spec.workload} --from {spec.from_} --to {target.name}{revision} "
        "--write <checkout>"
    )


async def _revision(
    context: Context, promotion: Promotion, source: Environment
) -> Mapping[str, Any] | Problem | Step:
    namespace, name = source.spec.namespace, promotion.spec.workload
    workload = context.cache.workload(WorkloadKey(namespace, name))
    if workload is None:
        return Problem(
            Reason.WORKLOAD_NOT_FOUND,
            f"Environment {source.name!r} has no Workload {name!r} (namespace {namespace!r})",
        )
    if promotion.spec.revision is None and due(workload):
        # Ready at a generation its revision is being recorded for: that one, not the
        # one before, is what "its current revision" means a moment from now.
        return Step(
            "Pending",
            Reason.PROGRESSING,
            f"Workload {namespace}/{name} is Ready at generation "
            f"{workload['metadata'].get('generation')}; waiting for its revision to be recorded",
        )
    revisions = await list_revisions(context.client, namespace, name)
    return source_revision(promotion.spec.model_dump(exclude_none=True), workload, revisions)


def _approved_by(context: Context, body: Mapping[str, Any], target: Environment) -> str | None:
    policy = target.spec.promotion
    if policy is None or not policy.require_approval:
        return ""
    meta = body["metadata"]
    approvals = eligible_approvals(
        body, context.cache.approvals_of(meta["namespace"], meta["name"])
    )
    return str(approvals[0]["spec"]["approver"]) if approvals else None


def _desired(
    live: Mapping[str, Any] | None,
    spec: dict[str, Any],
    namespace: str,
    name: str,
    annotations: dict[str, str],
) -> dict[str, Any]:
    """The target Workload to write: the live one's metadata (with its resourceVersion,
    the precondition) and the revision's spec; or a new one."""
    if live is None:
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
    else:
        meta = {k: v for k, v in live["metadata"].items() if k != "managedFields"}
    meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    return {"apiVersion": API_VERSION, "kind": "Workload", "metadata": meta, "spec": spec}


async def write_target(
    context: Context, desired: dict[str, Any], live: Mapping[str, Any] | None
) -> dict[str, Any]:
    write = objects.create if live is None else objects.replace
    written = await write(context.client, desired, field_manager=PROMOTION_FIELD_MANAGER)
    context.cache.remember_write(live, written)
    return written


def refused(context: Context, body: Mapping[str, Any], problem: Problem) -> Step:
    """Failed; but an object the watches may not have brought yet, moments after the
    Promotion was made (with its Environment, say), is looked for again first."""
    created = (body.get("metadata") or {}).get("creationTimestamp")
    young = seconds_between(created, rfc3339(context.clock.now())) < GRACE_SECONDS
    if young and problem.reason in (Reason.ENVIRONMENT_NOT_FOUND, Reason.WORKLOAD_NOT_FOUND):
        return Step("Pending", problem.reason, f"{problem.message}; looking again")
    return Step.failed(problem)


async def advance(context: Context, body: Mapping[str, Any], promotion: Promotion) -> Found:
    """Check, approve, write: as far as the Promotion can go now."""
    namespace = body["metadata"]["namespace"]
    target = target_environment(context, promotion, namespace)
    if isinstance(target, Problem):
        return Found(refused(context, body, target))
    source = _environment(context, promotion.spec.from_)
    if isinstance(source, Problem):
        return Found(refused(context, body, source))
    fields: dict[str, Any] = {"sourceEnvironment": source.name, "targetEnvironment": target.name}
    path = path_problem(source.name, target)
    if path is not None:
        return Found(Step.failed(path), fields)
    revision = await _revision(context, promotion, source)
    if isinstance(revision, Step):
        return Found(revision, fields)
    if isinstance(revision, Problem):
        return Found(refused(context, body, revision), fields)
    ref = f"{revision['metadata']['namespace']}/{revision['metadata']['name']}"
    fields.update(sourceRevision=ref, revisionNumber=int(revision["spec"]["revision"]))
    name = promotion.spec.workload
    live = await context.client.get(API_VERSION, "Workload", name, namespace)
    problem = gitops_problem(live, _command(promotion, target))
    if problem is not None:
        return Found(Step.failed(problem), fields)
    spec = target_spec(revision["spec"]["template"], target.name, promotion.spec.to is not None)
    catalogue = context.provisioning.catalogue.provisioners(context.cache)
    problems = preflight(spec, name, target, catalogue)
    if problems:
        message = problems_message(problems, target.name)
        return Found(Step("Failed", problems[0].reason, message), fields)
    approver = _approved_by(context, body, target)
    if approver is None:
        known = context.cache.available(APPROVALS)
        return Found(waiting_for_approval(namespace, approvals_known=known), fields)
    if approver:
        fields["approvedBy"] = approver
    return await _write(context, body, live, spec, fields)


async def _write(
    context: Context,
    body: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    spec: dict[str, Any],
    fields: dict[str, Any],
) -> Found:
    meta = body["metadata"]
    namespace, name = meta["namespace"], body["spec"]["workload"]
    target: dict[str, Any] = {"namespace": namespace, "name": name}
    if live is not None:
        target["resourceVersionBefore"] = live["metadata"]["resourceVersion"]
    if live is not None and live.get("spec") == spec:
        target["generation"] = live["metadata"]["generation"]  # already there: no write
    else:
        annotations = {
            PROMOTION_ANNOTATION: f"{namespace}/{meta['name']}",
            PROMOTED_REVISION_ANNOTATION: fields["sourceRevision"],
        }
        desired = _desired(live, spec, namespace, name, annotations)
        written = await write_target(context, desired, live)
        target["generation"] = written["metadata"]["generation"]
    fields["target"] = target
    step = Step(
        "Progressing",
        Reason.PROGRESSING,
        f"Workload {namespace}/{name} written at generation {target['generation']}",
    )
    return Found(step, fields)


async def reconcile(context: Context, key: PromotionKey) -> float | None:
    body = context.cache.promotion(key.namespace, key.name)
    if body is None:
        return None
    status = body.get("status") or {}
    if finished(status):
        return None
    found = await _look(context, body, status)
    await write_status(context, body, found)
    if found.step.phase == "Pending":
        return RETRY_SECONDS
    return None if finished(found.fields | {"phase": found.step.phase}) else FOLLOW_SECONDS


async def _look(context: Context, body: Mapping[str, Any], status: Mapping[str, Any]) -> Found:
    try:
        promotion = Promotion.model_validate(body)
    except ValidationError as err:
        return Found(Step("Failed", Reason.INVALID_PROMOTION, str(err.errors()[0]["msg"])))
    written = (status.get("target") or {}).get("generation")
    if written is None:
        try:
            return await advance(context, body, promotion)
        except Conflict:
            # The target changed between the checks and the write: check again.
            return Found(Step("Pending", Reason.PROGRESSING, "the target changed; checking again"))
    kept = {k: status[k] for k in _KEPT if k in status}
    target = context.cache.workload(
        WorkloadKey(body["metadata"]["namespace"], promotion.spec.workload)
    )
    return Found(follow(target, int(written), str(status.get("sourceRevision"))), kept)


_KEPT = (
    "sourceEnvironment",
    "targetEnvironment",
    "sourceRevision",
    "revisionNumber",
    "target",
    "approvedBy",
)


async def write_status(context: Context, body: Mapping[str, Any], found: Found) -> None:
    now = rfc3339(context.clock.now())
    previous = body.get("status") or {}
    status: dict[str, Any] = {
        "observedGeneration": body["metadata"].get("generation"),
        "phase": found.step.phase,
        "conditions": conditions(found.step, previous, now),
        **found.fields,
    }
    if found.step.phase in FINAL_PHASES:
        same = previous.get("phase") == found.step.phase
        status["completionTime"] = previous.get("completionTime") if same else now
    try:
        written = await kube_status.write_status(context.client, body, status)
    except NotFound:
        return
    if written is None:
        return
    context.cache.remember_write(body, written)
    if previous.get("phase") != found.step.phase:
        await post_event(
            context.events,
            written,
            found.step.reason,
            found.step.message,
            warning=found.step.phase == "Failed",
            now=now,
        )
