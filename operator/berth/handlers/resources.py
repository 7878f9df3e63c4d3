"""Provision a Workload's resources and collect their outputs; clean up per policy.

For each resource, in dependency order: match a provisioner, plan it (pure), apply what
the plan says, read the claim and the keys of its Secret back, and let the plan say
what state the resource is in and what outputs it has. Resource objects carry no owner
reference: what becomes of them when a Workload lets go is the Environment's
deletionPolicy's call, made here.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from berth import metrics
from berth.api import ClusterProvisioner, Environment, Workload
from berth.handlers.common import parse_time
from berth.kube.client import ApiError
from berth.kube.resources import apply_resource_objects, delete_object, get_object, secret_keys
from berth.provision import (
    ProvisionError,
    cluster_provisioner_name,
    match,
    outputs_from,
    plan,
    serves_environment,
    workload_services,
)
from berth.render import RenderError, resolve_params, resource_order
from berth.render.errors import Problem
from berth.render.labels import MANAGED_BY_LABEL, WORKLOAD_LABEL
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
    now = datetime.datetime.now(datetime.UTC)
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
            objects, _ = await apply_resource_objects(client, resource_plan.manifests)
            claim = None
            if resource_plan.claim is not None:
                ref = resource_plan.claim
                claim = await get_object(client, ref.api_version, ref.kind, ref.name, ref.namespace)
        except ApiError as err:
            if err.status not in (400, 403, 422):
                raise
            if err.status == 403 and "admission webhook" not in err.message:
                reason = "Forbidden"
                message = (
                    f"the operator may not manage the objects of resource {name!r} "
                    f"(provisioner {resource_plan.provisioner}): {err.message}; grant it in the "
                    "chart's rbac.claims (claim kinds) or rbac.templateResources (template kinds)"
                )
                result.observed_failure = True
            else:
                # The provisioner rendered something the API server will never take as
                # it is (an invalid Ingress, a PVC, a webhook's denial): say so, in its words.
                reason = "ResourceRejected"
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
                claim=(
                    {
                        "apiVersion": resource_plan.claim.api_version,
                        "kind": resource_plan.claim.kind,
                        "name": resource_plan.claim.name,
                    }
                    if resource_plan.claim is not None
                    else None
                ),
                objects=[_ref(o) for o in objects] or None,
                outputs=sorted(outputs) if outputs is not None else None,
            )
        )
        if not state.ready:
            _note(result, Problem(state.reason, state.message), transient=not state.failed)
            result.observed_failure = result.observed_failure or state.failed
        elif previous_states.get(name) != "Ready":
            observe_provisioning_time(resource_plan.type, claim, objects, now)
    return result


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


def still_used_elsewhere(
    runtime: Runtime, namespace: str, workload: str, entry: Mapping[str, Any]
) -> bool:
    """Whether another live Workload of the namespace shares this resource (same id)."""
    if not entry.get("id"):
        return False
    for other in runtime.cache.workloads_in(namespace):
        meta = other["metadata"]
        if meta["name"] == workload or meta.get("deletionTimestamp"):
            continue
        for request in ((other.get("spec") or {}).get("resources") or {}).values():
            if (
                isinstance(request, Mapping)
                and request.get("id") == entry["id"]
                and request.get("type") == entry.get("type")
            ):
                return True
    return False


async def release(
    runtime: Runtime,
    namespace: str,
    workload: str,
    entries: Sequence[Mapping[str, Any]],
    policy: str,
) -> list[str]:
    """Let go of resources a Workload no longer has, as the deletion policy says.

    Delete: their objects are deleted (a shared one only when its last user goes).
    Retain: they stay as they are, and a Workload asking for the same resource adopts them.
    Orphan: they stay, and lose the labels by which Berth would find them again.
    Returns a line per action, for the log and the Events.
    """
    done = []
    for entry in entries:
        if still_used_elsewhere(runtime, namespace, workload, entry):
            done.append(
                f"kept resource {entry['name']!r}: another Workload shares it (id {entry['id']})"
            )
            continue
        for ref in entry.get("objects") or []:
            what = f"{ref['kind']} {ref['name']}"
            if policy == "Delete":
                if await delete_object(
                    runtime.client,
                    ref["apiVersion"],
                    ref["kind"],
                    ref["name"],
                    ref.get("namespace"),
                ):
                    done.append(f"deleted {what} of resource {entry['name']!r}")
            elif policy == "Orphan":
                patch = {"metadata": {"labels": {MANAGED_BY_LABEL: None, WORKLOAD_LABEL: None}}}
                obj = await get_object(
                    runtime.client,
                    ref["apiVersion"],
                    ref["kind"],
                    ref["name"],
                    ref.get("namespace"),
                )
                if obj is not None:
                    await runtime.client.merge_patch(
                        ref["apiVersion"], ref["kind"], ref["name"], patch, ref.get("namespace")
                    )
                    done.append(f"orphaned {what} of resource {entry['name']!r}")
            else:
                done.append(f"retained {what} of resource {entry['name']!r}")
    return done
