"""Provision a Workload's resources and collect their outputs; clean up per policy.

For each resource, in dependency order: match a provisioner, plan it (pure), apply what
the plan says, read the claim and the keys of its Secret back, and let the plan say
what state the resource is in and what outputs it has. Resource objects carry no owner
reference: what becomes of them when a Workload lets go is the Environment's
deletionPolicy's call, made here.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from berth import metrics
from berth.api import ClusterProvisioner, Environment, Provisioner, Workload
from berth.clock import parse_time
from berth.kube.client import BadRequest, Forbidden, Invalid, NotFound
from berth.kube.resources import (
    apply_resource_objects,
    delete_object,
    get_object,
    list_provisioned,
    mark_retained,
    read_objects,
    secret_keys,
)
from berth.names import MANAGED_BY_LABEL, RESOURCE_LABEL, RETAINED_ANNOTATION, WORKLOAD_LABEL
from berth.problems import Problem
from berth.provision import (
    ProvisionError,
    ResourcePlan,
    cluster_provisioner_name,
    match,
    outputs_from,
    plan,
    serves_environment,
    workload_services,
)
from berth.provision.identity import identities_of_spec, identity_of_entry
from berth.provision.sharing import (
    SharedDecision,
    decide,
    definition_annotations,
    differing_params,
    recorded_definition,
)
from berth.reasons import Reason
from berth.render import RenderError, resolve_params, resource_order
from berth.render.outputs import OutputValue

if TYPE_CHECKING:
    from berth.handlers.cache import Cache, WorkloadKey
    from berth.handlers.runtime import Runtime

log = logging.getLogger("berth")


@dataclass
class Provisioned:
    outputs: dict[str, dict[str, OutputValue]] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    problem: Problem | None = None  # needs a change from someone: Stalled
    waiting: Problem | None = None  # in progress: Reconciling
    # The (apiVersion, kind)s of every object planned: where the inventory is looked for.
    kinds: set[tuple[str, str]] = field(default_factory=set)
    # A failure read off the cluster (a claim's condition, a Forbidden), not off the
    # inputs: it may clear by itself, so it is looked at again now and then.
    observed_failure: bool = False

    @property
    def all_ready(self) -> bool:
        return all(e.get("state") == "Ready" for e in self.entries)


def _ref(obj: Mapping[str, Any]) -> dict[str, str]:
    meta = obj["metadata"]
    ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"]}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


def _claim_ref(resource_plan: ResourcePlan) -> dict[str, str] | None:
    if resource_plan.claim is None:
        return None
    ref = resource_plan.claim
    return {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}


def _entry(name: str, workload: Workload, **fields: Any) -> dict[str, Any]:
    request = (workload.spec.resources or {})[name]
    entry: dict[str, Any] = {"name": name, "type": request.type}
    if request.class_:
        entry["class"] = request.class_
    if request.id:
        entry["id"] = request.id
    entry.update({k: v for k, v in fields.items() if v is not None})
    return entry


# -- the cluster's catalogue ------------------------------------------------------------------

# Parsed ClusterProvisioners by (name, resourceVersion): a reconcile parses only what changed.
_parsed: dict[tuple[str, str], ClusterProvisioner | None] = {}


def _parse_cluster_provisioner(body: Mapping[str, Any]) -> ClusterProvisioner | None:
    meta = body.get("metadata") or {}
    key = (str(meta.get("name")), str(meta.get("resourceVersion")))
    if key not in _parsed:
        try:
            _parsed[key] = ClusterProvisioner.model_validate(body)
        except ValidationError as error:
            # The CRD's schema admits nothing the model refuses; an object written before
            # a schema change might. It serves nothing until fixed.
            log.warning("ClusterProvisioner %s is ignored: %s", key[0], error)
            _parsed[key] = None
    return _parsed[key]


def cluster_provisioners(cache: Cache) -> list[ClusterProvisioner]:
    """The cluster's ClusterProvisioners, parsed (invalid ones left out, with a warning)."""
    found = [_parse_cluster_provisioner(body) for body in cache.cluster_provisioners()]
    live = {(d.name, d.metadata.resource_version or "None") for d in found if d is not None}
    for key in [k for k, v in _parsed.items() if v is not None and k not in live]:
        del _parsed[key]
    return [d for d in found if d is not None]


def users_of_cluster_provisioner(cache: Cache, body: Mapping[str, Any]) -> list[WorkloadKey]:
    """Workloads whose choice of provisioner a change to this ClusterProvisioner may change:
    those it serves now (by their status), and those with a resource of its type in an
    Environment that its criteria match."""
    name = cluster_provisioner_name(str((body.get("metadata") or {}).get("name")))
    spec = body.get("spec") or {}
    definition = _parse_cluster_provisioner(body)
    found: set[WorkloadKey] = set()
    for env_name in cache.environment_names():
        env_body = cache.environment(env_name)
        if env_body is None:
            continue
        try:
            environment = Environment.model_validate(env_body)
        except ValidationError:
            environment = None
        in_scope = (
            definition is not None
            and environment is not None
            and serves_environment(definition.spec, environment)
        )
        namespace = (env_body.get("spec") or {}).get("namespace") or ""
        for wl in cache.workloads_in(namespace):
            entries = (wl.get("status") or {}).get("resources") or []
            serves_now = any(
                isinstance(e, Mapping) and e.get("provisioner") == name for e in entries
            )
            wants_type = in_scope and any(
                isinstance(r, Mapping) and r.get("type") == spec.get("type")
                for r in ((wl.get("spec") or {}).get("resources") or {}).values()
            )
            if serves_now or wants_type:
                found.add((wl["metadata"]["namespace"], wl["metadata"]["name"]))
    return sorted(found)


async def provision(
    runtime: Runtime,
    workload: Workload,
    environment: Environment,
    previous: Sequence[Mapping[str, Any]] = (),
) -> Provisioned:
    result = Provisioned()
    previous_states = {e.get("name"): e.get("state") for e in previous}
    now = runtime.clock.now()
    if not workload.spec.resources:
        return result
    try:
        order = resource_order(workload)
    except RenderError:
        return result  # a placeholder cycle: render reports it, with the cycle
    client = runtime.client
    catalogue = cluster_provisioners(runtime.cache)
    # Other Workloads' Services, for provisioners that point at one (service-port).
    services = workload_services(runtime.cache.workloads_in(environment.spec.namespace))
    for name in order:
        try:
            params = resolve_params(workload, name, result.outputs)
        except RenderError as err:
            phase = "Pending" if err.transient else "Failed"
            result.entries.append(
                _entry(name, workload, state=phase, reason=err.reason, message=err.message)
            )
            _note(result, Problem(err.reason, err.message), transient=err.transient)
            continue
        try:
            chosen = match(
                name,
                workload.spec.resources[name],
                environment.spec.provisioners,
                catalogue,
                environment,
            )
            resource_plan = plan(workload, environment, name, params, chosen, services)
        except ProvisionError as err:
            phase = "Pending" if err.transient else "Failed"
            result.entries.append(
                _entry(name, workload, state=phase, reason=err.reason, message=err.message)
            )
            _note(result, Problem(err.reason, err.message), transient=err.transient)
            continue

        try:
            objects, decision = await provide(runtime, workload, environment, resource_plan)
            claim = None
            if resource_plan.claim is not None and decision.conflict is None:
                ref = resource_plan.claim
                claim = await get_object(client, ref.api_version, ref.kind, ref.name, ref.namespace)
        except (BadRequest, Forbidden, Invalid) as err:
            if isinstance(err, Forbidden) and "admission webhook" not in err.message:
                reason = Reason.FORBIDDEN
                message = (
                    f"the operator may not manage the objects of resource {name!r} "
                    f"(provisioner {resource_plan.provisioner}): {err.message}; grant it in the "
                    "chart's rbac.claims (claim kinds) or rbac.templateResources (template kinds)"
                )
                result.observed_failure = True
            else:
                # The provisioner rendered something the API server will never take as
                # it is (an invalid Ingress, a PVC, a webhook's denial): say so, in its words.
                reason = Reason.RESOURCE_REJECTED
                message = (
                    f"the API server refused an object of resource {name!r} (provisioner "
                    f"{resource_plan.provisioner}; {err.status}): {err.message}"
                )
            result.entries.append(
                _entry(
                    name,
                    workload,
                    provisioner=resource_plan.provisioner,
                    state="Failed",
                    reason=reason,
                    message=message,
                )
            )
            _note(result, Problem(reason, message), transient=False)
            continue
        result.kinds |= {(m["apiVersion"], m["kind"]) for m in resource_plan.manifests}
        if decision.conflict is not None:
            problem = decision.conflict
            result.entries.append(
                _entry(
                    name,
                    workload,
                    provisioner=resource_plan.provisioner,
                    selection=resource_plan.reason,
                    state="Failed",
                    reason=problem.reason,
                    message=problem.message,
                    claim=_claim_ref(resource_plan),
                )
            )
            _note(result, problem, transient=False)
            continue
        keys = None
        if resource_plan.secret_name is not None:
            keys = await secret_keys(client, resource_plan.namespace, resource_plan.secret_name)
        outputs, state = outputs_from(resource_plan, claim, keys)
        if outputs is not None:
            result.outputs[name] = outputs
        result.entries.append(
            _entry(
                name,
                workload,
                provisioner=resource_plan.provisioner,
                selection=resource_plan.reason,
                state=state.phase,
                reason=state.reason,
                message=state.message,
                claim=_claim_ref(resource_plan),
                objects=[_ref(o) for o in objects] or None,
                outputs=sorted(outputs) if outputs is not None else None,
            )
        )
        if not state.ready:
            _note(result, Problem(state.reason, state.message), transient=not state.failed)
            result.observed_failure = result.observed_failure or state.failed
        elif previous_states.get(name) != "Ready":
            observe_provisioning_time(resource_plan.type, claim, objects, now)
    metrics.count_provisioning_failures(result.entries, previous)
    return result


# -- one definition per shared resource ------------------------------------------------------

_definition_locks: dict[tuple[str, str], asyncio.Lock] = {}


def _lock(namespace: str, identity: str) -> asyncio.Lock:
    # Two Workloads of this process never read-then-write the same resource at once.
    return _definition_locks.setdefault((namespace, identity), asyncio.Lock())


def users_of(runtime: Runtime, namespace: str, identity: str) -> dict[str, dict[str, Any]]:
    """The live Workloads of ``namespace`` that ask for ``identity`` now, by name."""
    users = {}
    for other in runtime.cache.workloads_in(namespace):
        meta = other["metadata"]
        if meta.get("deletionTimestamp"):
            continue
        if identity in identities_of_spec(meta["name"], other.get("spec")).values():
            users[meta["name"]] = other
    return users


def asked_for(runtime: Runtime, namespace: str, *, besides: str | None = None) -> set[str]:
    """Every identity the live Workloads of ``namespace`` ask for (but ``besides``)."""
    result: set[str] = set()
    for other in runtime.cache.workloads_in(namespace):
        meta = other["metadata"]
        if meta.get("deletionTimestamp") or meta["name"] == besides:
            continue
        result |= set(identities_of_spec(meta["name"], other.get("spec")).values())
    return result


def definer_plan(
    body: Mapping[str, Any],
    environment: Environment,
    identity: str,
    catalogue: Sequence[ClusterProvisioner] = (),
) -> ResourcePlan | None:
    """The plan the definer of a shared resource would make now, when it can be made
    without outputs of its other resources (None otherwise)."""
    try:
        other = Workload.model_validate(body)
    except ValidationError:
        return None
    names = identities_of_spec(other.metadata.name, body.get("spec"))
    for name, found in names.items():
        if found != identity:
            continue
        try:
            params = resolve_params(other, name, {})
            request = (other.spec.resources or {})[name]
            chosen = match(name, request, environment.spec.provisioners, catalogue, environment)
            return plan(other, environment, name, params, chosen)
        except (RenderError, ProvisionError):
            return None
    return None


async def provide(
    runtime: Runtime, workload: Workload, environment: Environment, resource_plan: ResourcePlan
) -> tuple[list[dict[str, Any]], SharedDecision]:
    """Apply a resource's objects — for a shared resource, only as its one definition
    says (``berth.provision.sharing``). Returns the objects as they are and the decision;
    with a conflict, nothing is written and no object returned."""
    client = runtime.client
    me = workload.metadata.name
    namespace = resource_plan.namespace
    manifests = list(resource_plan.manifests)
    if not resource_plan.shared or not manifests:
        live = await read_objects(client, manifests)
        objects, _ = await apply_resource_objects(client, manifests, live)
        _test_crash_point(resource_plan, live)
        return objects, SharedDecision(write=True, definer=me)
    async with _lock(namespace, resource_plan.identity):
        live = await read_objects(client, manifests)
        users = users_of(runtime, namespace, resource_plan.identity)
        definer, _ = recorded_definition(live[0])
        theirs: ResourcePlan | None = None
        differing: tuple[str, ...] = ()
        if definer is not None and definer != me and definer in users:
            theirs = definer_plan(
                users[definer],
                environment,
                resource_plan.identity,
                cluster_provisioners(runtime.cache),
            )
            mine_request = (workload.spec.resources or {})[resource_plan.resource]
            their_request = _raw_request(users[definer], resource_plan.identity)
            differing = differing_params(mine_request.params, their_request.get("params"))
        decision = decide(
            resource_plan,
            me,
            live[0],
            set(users),
            theirs.fingerprint if theirs is not None else None,
            differing,
        )
        if decision.conflict is not None:
            return [], decision
        annotations = definition_annotations(resource_plan, decision.definer)
        annotated = []
        for manifest in manifests:
            copy = dict(manifest)
            meta = dict(copy["metadata"])
            meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
            copy["metadata"] = meta
            annotated.append(copy)
        objects, _ = await apply_resource_objects(
            client, annotated, live, conditional=decision.takeover
        )
        _test_crash_point(resource_plan, live)
        if decision.takeover:
            previous = f"Workload {definer!r}" if definer else "an unrecorded definition"
            log.info(
                "Workload %s/%s: now defines shared resource %s (was %s)",
                namespace,
                me,
                resource_plan.identity,
                previous,
            )
        return objects, decision


# Test-only: BERTH_TEST_EXIT_AFTER_CLAIM=N makes the process exit at once (status 99)
# right after it has created its N-th claim, before any status lists it: the crash window
# the chaos run and the e2e tests need. Unset (the default), nothing here ever runs.
_TEST_EXIT_AFTER_CLAIM = "BERTH_TEST_EXIT_AFTER_CLAIM"
_claims_created = 0


def _test_crash_point(
    resource_plan: ResourcePlan, live: Sequence[Mapping[str, Any] | None]
) -> None:
    global _claims_created
    limit = os.environ.get(_TEST_EXIT_AFTER_CLAIM)
    if not limit or resource_plan.claim is None or live[0] is not None:
        return
    _claims_created += 1
    if _claims_created >= int(limit):
        log.warning(
            "%s=%s: exiting right after creating claim %s (test-only crash point)",
            _TEST_EXIT_AFTER_CLAIM,
            limit,
            resource_plan.claim.name,
        )
        logging.shutdown()
        os._exit(99)


def _raw_request(body: Mapping[str, Any], identity: str) -> dict[str, Any]:
    name = body["metadata"]["name"]
    for resource, found in identities_of_spec(name, body.get("spec")).items():
        if found == identity:
            return dict(((body.get("spec") or {}).get("resources") or {})[resource])
    return {}


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


def _note(result: Provisioned, problem: Problem, *, transient: bool) -> None:
    if transient:
        result.waiting = result.waiting or problem
    else:
        result.problem = result.problem or problem


# -- letting go -------------------------------------------------------------------------------


def entry_identity(workload: str, entry: Mapping[str, Any]) -> str | None:
    return identity_of_entry(workload, entry)


def removed_entries(
    workload: str, previous: Sequence[Mapping[str, Any]], wanted: Mapping[str, str]
) -> list[Mapping[str, Any]]:
    """The status entries of resources the Workload no longer asks for. Identities are
    compared whole: a resource whose id or class changed is another resource, and the
    old one is let go."""
    keep = set(wanted.values())
    return [e for e in previous if entry_identity(workload, e) not in keep]


async def release(
    runtime: Runtime,
    namespace: str,
    workload: str,
    entries: Sequence[Mapping[str, Any]],
    policy: str,
) -> list[str]:
    """Let go of resources a Workload no longer has, as the deletion policy says.

    Delete: their objects are deleted (a shared one only when its last user goes).
    Retain: they stay as they are (marked, so no sweep ever takes them), and a Workload
    asking for the same resource adopts them.
    Orphan: they stay, and lose the labels by which Berth would find them again.
    Returns a line per action, for the log and the Events.
    """
    done = []
    others = asked_for(runtime, namespace, besides=workload)
    for entry in entries:
        identity = entry_identity(workload, entry)
        if identity is not None and identity in others:
            done.append(
                f"kept resource {entry['name']!r}: another Workload shares it"
                f" (id {entry.get('id')})"
            )
            continue
        for ref in entry.get("objects") or []:
            obj = await get_object(
                runtime.client, ref["apiVersion"], ref["kind"], ref["name"], ref.get("namespace")
            )
            if obj is None:
                continue
            line = await let_go(runtime, obj, policy, workload)
            if line:
                done.append(f"{line} of resource {entry['name']!r}")
    return done


async def let_go(
    runtime: Runtime, obj: Mapping[str, Any], policy: str, workload: str
) -> str | None:
    """Do to one provisioned object what ``policy`` says; a line saying what, or None."""
    meta = obj["metadata"]
    what = f"{obj['kind']} {meta['name']}"
    if policy == "Delete":
        if await delete_object(
            runtime.client,
            obj["apiVersion"],
            obj["kind"],
            meta["name"],
            meta.get("namespace"),
            uid=meta.get("uid"),
        ):
            return f"deleted {what}"
        return None
    if policy == "Orphan":
        labels = meta.get("labels") or {}
        if MANAGED_BY_LABEL not in labels and WORKLOAD_LABEL not in labels:
            return None
        patch = {"metadata": {"labels": {MANAGED_BY_LABEL: None, WORKLOAD_LABEL: None}}}
        try:
            await runtime.client.merge_patch(
                obj["apiVersion"], obj["kind"], meta["name"], patch, meta.get("namespace")
            )
        except NotFound:
            return None
        return f"orphaned {what}"
    await mark_retained(runtime.client, obj, workload)
    return f"retained {what}"


def inventory_kinds(
    runtime: Runtime,
    namespace: str,
    env_body: Mapping[str, Any] | None,
    also: Iterable[tuple[str, str]] = (),
) -> set[tuple[str, str]]:
    """Where provisioned objects of ``namespace`` may be: the claim kinds of the
    Environment's provisioners, every kind its Workloads' statuses list, and ``also``
    (the kinds a reconcile just planned)."""
    kinds = set(also)
    for provisioner in ((env_body or {}).get("spec") or {}).get("provisioners") or []:
        crossplane = (provisioner or {}).get("crossplane") or {}
        if isinstance(crossplane.get("apiVersion"), str) and isinstance(
            crossplane.get("kind"), str
        ):
            kinds.add((crossplane["apiVersion"], crossplane["kind"]))
    for other in runtime.cache.workloads_in(namespace):
        for entry in (other.get("status") or {}).get("resources") or []:
            refs = list(entry.get("objects") or [])
            if entry.get("claim"):
                refs.append(entry["claim"])
            for ref in refs:
                if isinstance(ref, Mapping) and ref.get("apiVersion") and ref.get("kind"):
                    kinds.add((str(ref["apiVersion"]), str(ref["kind"])))
    return kinds


async def sweep(
    runtime: Runtime,
    namespace: str,
    policy: str,
    kinds: Iterable[tuple[str, str]],
    *,
    besides: str | None = None,
) -> list[str]:
    """Let go, as ``policy`` says, of every object provisioned in ``namespace`` (found by
    its labels) whose resource no live Workload asks for — ``besides``, the Workload
    being deleted, does not count. This is what finds what a status never listed: a
    claim created just before a crash, an old id's claim after a change made while the
    operator was down. Under Retain nothing goes, and objects a Retain policy kept are
    never taken, whatever the policy is now."""
    if policy == "Retain":
        return []
    found = await list_provisioned(runtime.client, kinds, namespace)
    # Read the Workloads after the objects: whatever a reconcile created before this
    # list, it created for a Workload the cache already holds.
    asked = asked_for(runtime, namespace, besides=besides)
    done = []
    for obj in found:
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        if meta.get("deletionTimestamp") or RETAINED_ANNOTATION in annotations:
            continue
        if labels.get(RESOURCE_LABEL) in asked:
            continue
        line = await let_go(runtime, obj, policy, besides or "")
        if line:
            owner = labels.get(WORKLOAD_LABEL) or "shared"
            done.append(
                f"{line} ({owner}, resource {labels.get(RESOURCE_LABEL)}): no Workload asks for it"
            )
    return done


# -- hooks for the Workload reconcile --------------------------------------------------------

# Namespaces swept since this process started: what a crash left behind is found once.
_swept: set[str] = set()


def _crossplane_kinds(provisioners: Iterable[Provisioner]) -> set[tuple[str, str]]:
    kinds = set()
    for provisioner in provisioners:
        crossplane = provisioner.crossplane or {}
        api_version, kind = crossplane.get("apiVersion"), crossplane.get("kind")
        if isinstance(api_version, str) and isinstance(kind, str):
            kinds.add((api_version, kind))
    return kinds


def environment_kinds(
    environment: Environment, catalogue: Sequence[ClusterProvisioner] = ()
) -> set[tuple[str, str]]:
    """The claim kinds the Environment's provisioners, and the cluster's, may create."""
    listed = list(environment.spec.provisioners or [])
    listed += [d.spec.as_provisioner(d.name) for d in catalogue]
    return _crossplane_kinds(listed)


async def release_removed(
    runtime: Runtime, body: Mapping[str, Any], environment: Environment
) -> list[str]:
    """Let go of what a live Workload no longer asks for: the resources its status lists
    whose identity it no longer has (a removed resource, or a changed id or class), and,
    once per namespace after the operator starts, whatever the inventory holds that no
    Workload asks for. Returns a line per action."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    previous = list((body.get("status") or {}).get("resources") or [])
    wanted = identities_of_spec(name, body.get("spec"))
    removed = removed_entries(name, previous, wanted)
    policy = environment.effective_deletion_policy()
    lines = []
    if removed:
        lines += await release(runtime, namespace, name, removed, policy)
    if namespace not in _swept:
        catalogue = cluster_provisioners(runtime.cache)
        kinds = inventory_kinds(runtime, namespace, None, environment_kinds(environment, catalogue))
        lines += await sweep(runtime, namespace, policy, kinds)
        _swept.add(namespace)
    return lines


async def release_deleted(
    runtime: Runtime, body: Mapping[str, Any], env_body: Mapping[str, Any] | None, policy: str
) -> list[str]:
    """Let go of everything of a Workload being deleted: what its status lists, and what
    the inventory (labels) holds that no other Workload asks for — also what was created
    just before a crash and never made it into the status."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    entries = list((body.get("status") or {}).get("resources") or [])
    lines = await release(runtime, namespace, name, entries, policy)
    catalogue = cluster_provisioners(runtime.cache)
    also = _crossplane_kinds(d.spec.as_provisioner(d.name) for d in catalogue)
    lines += await sweep(
        runtime,
        namespace,
        policy,
        inventory_kinds(runtime, namespace, env_body, also),
        besides=name,
    )
    return lines


def sharers(cache: Cache, body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The other Workloads of the namespace that share a resource with ``body`` — by its
    spec or by its status (what it had until now): a change to one user of a shared
    resource (new params, another id, deletion) can settle another's conflict, or make
    it the definer."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    mine = set(identities_of_spec(name, body.get("spec")).values())
    for entry in (body.get("status") or {}).get("resources") or []:
        identity = identity_of_entry(name, entry)
        if identity is not None and entry.get("id"):
            mine.add(identity)
    if not mine:  # nothing to share: no walk over the namespace's Workloads
        return []
    found = []
    for other in cache.workloads_in(namespace):
        other_name = other["metadata"]["name"]
        if other_name == name:
            continue
        if mine & set(identities_of_spec(other_name, other.get("spec")).values()):
            found.append((namespace, other_name))
    return found
