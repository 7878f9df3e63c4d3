"""One definition per shared resource, applied under a lock.

A resource shared by ``id`` has one definition: only its definer writes its objects
(``berth.provision.sharing`` says who that is, purely). Here the live object and the
Workloads that ask for the resource are read, the definer's own plan is made for the
comparison, and the objects are written as that decision says — all under the
resource's lock, so two Workloads of this process never read-then-write it at once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from berth.api import ClusterProvisioner, Environment, Workload
from berth.handlers.cache import Cache
from berth.handlers.context import Context
from berth.kube.resources import apply_resource_objects, read_objects
from berth.provision import ResourcePlan, plan_resource
from berth.provision.identity import identities_of_spec
from berth.provision.sharing import (
    SharedDecision,
    choose_definer,
    definition_annotations,
    differing_params,
    recorded_definition,
)
from berth.render import RenderError

log = logging.getLogger("berth")
# The objects of a resource as the server had them before the write (None: absent).
Live = list[dict[str, Any] | None]


def users_of(cache: Cache, namespace: str, identity: str) -> dict[str, dict[str, Any]]:
    """The live Workloads of ``namespace`` that ask for ``identity`` now, by name."""
    users = {}
    for other in cache.workloads_in(namespace):
        meta = other["metadata"]
        if meta.get("deletionTimestamp"):
            continue
        if identity in identities_of_spec(meta["name"], other.get("spec")).values():
            users[meta["name"]] = other
    return users


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
    for name, found in identities_of_spec(other.metadata.name, body.get("spec")).items():
        if found != identity:
            continue
        try:
            return plan_resource(other, environment, name, {}, catalogue)
        except RenderError:
            return None
    return None


async def apply_shared(
    context: Context, workload: Workload, environment: Environment, plan: ResourcePlan
) -> tuple[list[dict[str, Any]], SharedDecision, Live]:
    """Apply a shared resource's objects as its one definition says. Returns the objects
    as they are, the decision and the objects as they were; with a conflict, nothing is
    written and no object returned."""
    me = workload.metadata.name
    namespace = plan.namespace
    manifests = list(plan.manifests)
    async with context.provisioning.locks.holding(namespace, plan.identity):
        live = await read_objects(context.client, manifests)
        decision = _decide(context, workload, environment, plan, live[0])
        if decision.conflict is not None:
            return [], decision, live
        annotations = definition_annotations(plan, decision.definer)
        annotated = []
        for manifest in manifests:
            meta = dict(manifest["metadata"])
            meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
            annotated.append({**manifest, "metadata": meta})
        objects, _ = await apply_resource_objects(
            context.client, annotated, live, conditional=decision.takeover
        )
    if decision.takeover:
        definer, _ = recorded_definition(live[0])
        previous = f"Workload {definer!r}" if definer else "an unrecorded definition"
        log.info(
            "Workload %s/%s: now defines shared resource %s (was %s)",
            namespace,
            me,
            plan.identity,
            previous,
        )
    return objects, decision, live


def _decide(
    context: Context,
    workload: Workload,
    environment: Environment,
    plan: ResourcePlan,
    live: Mapping[str, Any] | None,
) -> SharedDecision:
    """Who defines the resource, with the recorded definer's current plan (when it still
    asks for the resource) to compare with."""
    me = workload.metadata.name
    users = users_of(context.cache, plan.namespace, plan.identity)
    definer, _ = recorded_definition(live)
    theirs: ResourcePlan | None = None
    differing: tuple[str, ...] = ()
    if definer is not None and definer != me and definer in users:
        catalogue = context.provisioning.catalogue.provisioners(context.cache)
        theirs = definer_plan(users[definer], environment, plan.identity, catalogue)
        mine = (workload.spec.resources or {})[plan.resource]
        differing = differing_params(mine.params, _raw_params(users[definer], plan.identity))
    return choose_definer(
        plan,
        me,
        live,
        set(users),
        theirs.fingerprint if theirs is not None else None,
        differing,
    )


def _raw_params(body: Mapping[str, Any], identity: str) -> Any:
    """The params of the resource of ``body`` that has ``identity``, as written."""
    name = body["metadata"]["name"]
    for resource, found in identities_of_spec(name, body.get("spec")).items():
        if found == identity:
            return dict(((body.get("spec") or {}).get("resources") or {})[resource]).get("params")
    return None
