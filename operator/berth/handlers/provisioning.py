"""Provision a Workload's resources and collect their outputs.

For each resource, in dependency order: plan it (``berth.provision.plan_resource``:
pure), apply what the plan says (a shared resource only as its one definition says:
``berth.handlers.shared``), read the claim and the keys of its Secret back, and let the
plan say what state the resource is in and what outputs it has. Whatever stops a
resource — a plan that cannot be made, an object the API server refuses, a conflict over
a shared definition, a claim not ready — takes one way out: an ``Outcome`` with its
status entry and the problem. Resource objects carry no owner reference: what becomes of
them when a Workload lets go is the deletion policy's (``berth.handlers.release``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth import metrics
from berth.api import Environment, Workload
from berth.clock import parse_time
from berth.handlers.context import Context
from berth.handlers.dependents import EVERY, seen_of
from berth.handlers.keys import WorkloadKey
from berth.handlers.shared import Live, apply_shared
from berth.kube.client import BadRequest, Forbidden, Invalid
from berth.kube.resources import (
    NotOurs,
    apply_resource_objects,
    get_object,
    read_objects,
    secret_keys,
)
from berth.problems import Problem
from berth.provision import ResourcePlan, outputs_from, plan_resource, workload_services
from berth.provision.sharing import SharedDecision
from berth.reasons import Reason
from berth.render import RenderError, resource_order
from berth.render.outputs import OutputValue

# Looking again without an event saying so, for what no watch tells of: a resource on its
# way whose Secret is not there yet (Secrets are not watched); a claim of a kind that cannot
# be watched; a failure read off the cluster (a Forbidden: a grant may come).
RESOURCE_POLL_SECONDS = 2.0
FAILED_RESOURCE_POLL_SECONDS = 30.0
# A claim of a watched kind: its changes wake its Workloads; this is only the safety net.
CLAIM_SAFETY_SECONDS = 120.0
# What a template read of other Workloads changed while it was being read: look again now.
STALE_READ_SECONDS = 0.05
# States that wait for a Secret (the claim's connection Secret, a secret provisioner's).
WAITS_FOR_SECRET = frozenset(
    {Reason.CONNECTION_SECRET_PENDING, Reason.SECRET_NOT_FOUND, Reason.CLAIM_PENDING}
)


@dataclass
class Outcome:
    """What became of one resource: its status entry, its outputs once Ready, and what
    stands in its way (``transient``: it may clear by itself)."""

    entry: dict[str, Any]
    outputs: dict[str, OutputValue] | None = None
    problem: Problem | None = None
    transient: bool = False
    # When to look again though no event says so (None: an event will — the Workload's,
    # a claim's, another Workload's it waits for — or nothing changes without one).
    look_again: float | None = None


@dataclass
class Provisioned:
    outputs: dict[str, dict[str, OutputValue]] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    problem: Problem | None = None  # needs a change from someone: Stalled
    waiting: Problem | None = None  # in progress: Reconciling
    look_again: float | None = None  # the soonest of the resources' (see Outcome)

    @property
    def all_ready(self) -> bool:
        return all(e.get("state") == "Ready" for e in self.entries)

    def add(self, name: str, outcome: Outcome) -> None:
        self.entries.append(outcome.entry)
        if outcome.outputs is not None:
            self.outputs[name] = outcome.outputs
        if outcome.look_again is not None:
            self.look_again = min(self.look_again or outcome.look_again, outcome.look_again)
        if outcome.problem is None:
            return
        if outcome.transient:
            self.waiting = self.waiting or outcome.problem
        else:
            self.problem = self.problem or outcome.problem


async def provision(
    context: Context,
    workload: Workload,
    environment: Environment,
    previous: Sequence[Mapping[str, Any]] = (),
) -> Provisioned:
    """Every resource of ``workload``, in dependency order; ``previous``: its status
    entries until now (a resource's provisioning time is measured when it turns Ready).
    What they depend on beyond the Workload — other Workloads a template looked up, claim
    kinds — is recorded for the wake-ups (``berth.handlers.dependents``)."""
    result = Provisioned()
    key = WorkloadKey(environment.spec.namespace, workload.metadata.name)
    depends = Depends()
    try:
        order = resource_order(workload) if workload.spec.resources else []
    except RenderError:
        order = []  # a placeholder cycle: render reports it, with the cycle
    was_ready = {e.get("name") for e in previous if e.get("state") == "Ready"}
    catalogue = context.provisioning.catalogue.provisioners(context.cache)
    # Other Workloads' Services, for provisioners that point at one (service-port).
    bodies = context.cache.workloads_in(environment.spec.namespace) if order else []
    services = workload_services(bodies)
    for name in order:
        try:
            plan = plan_resource(workload, environment, name, result.outputs, catalogue, services)
        except RenderError as err:
            depends.read(getattr(err, "workloads_read", frozenset()))
            outcome = failure(workload, name, Problem(err.reason, err.message), err.transient)
        else:
            depends.read(plan.workloads_read)
            if plan.claim is not None:
                depends.claim_kinds.add((plan.claim.api_version, plan.claim.kind))
            outcome = await provision_one(context, workload, environment, plan, name in was_ready)
        result.add(name, outcome)
    if order:
        metrics.count_provisioning_failures(result.entries, previous)
    if depends.note(context, key, bodies):
        result.look_again = STALE_READ_SECONDS
    await context.claims.use(key, depends.claim_kinds)
    return result


@dataclass
class Depends:
    """What a Workload's resources were planned from, beyond the Workload itself."""

    workloads: set[str] = field(default_factory=set)
    claim_kinds: set[tuple[str, str]] = field(default_factory=set)

    def read(self, names: frozenset[str]) -> None:
        self.workloads |= names

    def note(self, context: Context, key: WorkloadKey, bodies: Sequence[Mapping[str, Any]]) -> bool:
        """Record what was read of the namespace's Workloads (``bodies``: as they were
        read); True when one of them has changed already, and the Workload must look again."""
        every = EVERY in self.workloads
        then = {str(b["metadata"]["name"]): seen_of(b) for b in bodies}
        names = set(then) if every else self.workloads
        seen = {name: then.get(name) for name in names}
        cache = context.cache
        if every:
            now = {b["metadata"]["name"]: seen_of(b) for b in cache.workloads_in(key.namespace)}
        else:
            now = {n: seen_of(cache.workload(WorkloadKey(key.namespace, n))) for n in names}
        return context.dependents.record(key, seen, every=every, now=now)


async def provision_one(
    context: Context,
    workload: Workload,
    environment: Environment,
    plan: ResourcePlan,
    was_ready: bool,
) -> Outcome:
    """Apply one resource's plan, read what it made, and say what became of it."""
    name = plan.resource
    try:
        objects, decision = await apply_plan(context, workload, environment, plan)
        claim = None
        if plan.claim is not None and decision.conflict is None:
            ref = plan.claim
            claim = await get_object(
                context.client, ref.api_version, ref.kind, ref.name, ref.namespace
            )
    except (BadRequest, Forbidden, Invalid) as err:
        problem, may_clear = refusal(plan, err)
        outcome = failure(workload, name, problem, provisioner=plan.provisioner)
        outcome.look_again = FAILED_RESOURCE_POLL_SECONDS if may_clear else None
        return outcome
    except NotOurs as err:
        return failure(
            workload,
            name,
            name_taken(plan, err),
            provisioner=plan.provisioner,
            claim=_claim_ref(plan),
        )
    if decision.conflict is not None:
        return failure(
            workload,
            name,
            decision.conflict,
            provisioner=plan.provisioner,
            selection=plan.reason,
            claim=_claim_ref(plan),
        )
    keys = None
    if plan.secret_name is not None:
        keys = await secret_keys(context.client, plan.namespace, plan.secret_name)
    outputs, state = outputs_from(plan, claim, keys)
    entry = _entry(
        name,
        workload,
        provisioner=plan.provisioner,
        selection=plan.reason,
        state=state.phase,
        reason=state.reason,
        message=state.message,
        claim=_claim_ref(plan),
        objects=[_ref(o) for o in objects] or None,
        outputs=sorted(outputs) if outputs is not None else None,
    )
    if state.ready:
        if not was_ready:
            observe_provisioning_time(plan.type, claim, objects, context.clock.now())
        return Outcome(entry, outputs)
    problem = Problem(state.reason, state.message)
    return Outcome(
        entry,
        outputs,
        problem,
        transient=not state.failed,
        look_again=look_again(context, plan, state.reason, failed=state.failed),
    )


def look_again(context: Context, plan: ResourcePlan, reason: str, *, failed: bool) -> float:
    """When to look at a resource that is not Ready without an event saying so."""
    if reason in WAITS_FOR_SECRET:
        return RESOURCE_POLL_SECONDS
    if plan.claim is not None and context.claims.watching(plan.claim.api_version, plan.claim.kind):
        return CLAIM_SAFETY_SECONDS
    return FAILED_RESOURCE_POLL_SECONDS if failed else RESOURCE_POLL_SECONDS


def failure(
    workload: Workload,
    name: str,
    problem: Problem,
    transient: bool = False,
    *,
    provisioner: str | None = None,
    selection: str | None = None,
    claim: dict[str, str] | None = None,
) -> Outcome:
    """The one way out of a resource that cannot go on: Pending while its problem may
    clear by itself, Failed otherwise."""
    entry = _entry(
        name,
        workload,
        provisioner=provisioner,
        selection=selection,
        state="Pending" if transient else "Failed",
        reason=problem.reason,
        message=problem.message,
        claim=claim,
    )
    return Outcome(entry, None, problem, transient=transient)


def refusal(plan: ResourcePlan, err: BadRequest | Forbidden | Invalid) -> tuple[Problem, bool]:
    """The API server refused one of a resource's objects: the problem, in its words, and
    whether it may clear by itself (a permission granted later)."""
    name = plan.resource
    if isinstance(err, Forbidden) and "admission webhook" not in err.message:
        message = (
            f"the operator may not manage the objects of resource {name!r} "
            f"(provisioner {plan.provisioner}): {err.message}; grant it in the "
            "chart's rbac.claims (claim kinds) or rbac.templateResources (template kinds)"
        )
        return Problem(Reason.FORBIDDEN, message), True
    # The provisioner rendered something the API server will never take as it is (an
    # invalid Ingress, a PVC, a webhook's denial): say so, in its words.
    message = (
        f"the API server refused an object of resource {name!r} (provisioner "
        f"{plan.provisioner}; {err.status}): {err.message}"
    )
    return Problem(Reason.RESOURCE_REJECTED, message), False


def name_taken(plan: ResourcePlan, err: NotOurs) -> Problem:
    """An object of the resource's name is not Berth's to write (berth.kube.ownership)."""
    key = err.key
    where = f" in namespace {key.namespace}" if key.namespace else ""
    return Problem(
        Reason.NAME_TAKEN,
        f"{key.kind} {key.name}{where} (resource {plan.resource!r}) already exists and "
        f"belongs to {err.owner}; Berth never writes over an object it did not make for this "
        f"resource: remove that {key.kind}, or give the resource another name or id",
    )


async def apply_plan(
    context: Context, workload: Workload, environment: Environment, plan: ResourcePlan
) -> tuple[list[dict[str, Any]], SharedDecision]:
    """Apply a resource's objects — for a shared resource, only as its one definition
    says. Returns the objects as they are and the decision; with a conflict, nothing is
    written and no object returned."""
    manifests = list(plan.manifests)
    if plan.shared and manifests:
        objects, decision, live = await apply_shared(context, workload, environment, plan)
        if decision.conflict is not None:
            return objects, decision
    else:
        live = await read_objects(context.client, manifests)
        objects, _ = await apply_resource_objects(context.client, manifests, live)
        decision = SharedDecision(write=True, definer=workload.metadata.name)
    _tell_claim_created(context, plan, live)
    return objects, decision


def _tell_claim_created(context: Context, plan: ResourcePlan, live: Live) -> None:
    hook = context.provisioning.after_claim_created
    if hook is not None and plan.claim is not None and live and live[0] is None:
        hook(plan.claim)


def observe_provisioning_time(
    type_: str,
    claim: Mapping[str, Any] | None,
    objects: Sequence[Mapping[str, Any]],
    now: datetime.datetime,
) -> None:
    """Record how long a resource took to become ready, from its first object's creation."""
    stamps = [
        o.get("metadata", {}).get("creationTimestamp")
        for o in ([claim] if claim is not None else []) + list(objects)
    ]
    created = sorted(s for s in stamps if s)
    if not created:
        return
    start = parse_time(created[0])
    metrics.PROVISIONING_DURATION.labels(type_).observe(max(0.0, (now - start).total_seconds()))


# -- a resource's status entry ------------------------------------------------------------


def _entry(name: str, workload: Workload, **fields: Any) -> dict[str, Any]:
    request = (workload.spec.resources or {})[name]
    entry: dict[str, Any] = {"name": name, "type": request.type}
    if request.class_:
        entry["class"] = request.class_
    if request.id:
        entry["id"] = request.id
    entry.update({k: v for k, v in fields.items() if v is not None})
    return entry


def _ref(obj: Mapping[str, Any]) -> dict[str, str]:
    meta = obj["metadata"]
    ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"]}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


def _claim_ref(plan: ResourcePlan) -> dict[str, str] | None:
    if plan.claim is None:
        return None
    ref = plan.claim
    return {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
