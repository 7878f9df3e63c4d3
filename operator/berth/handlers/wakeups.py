"""Which objects an event concerns beyond its own: the rules of who is woken.

The watches (``berth.handlers.watch``) turn every event into keys to look at again;
the keys beyond the object's own come from here. Each rule reads the cache only, and
errs on the side of waking too many: a reconcile that finds nothing to do writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from berth.api import Environment
from berth.handlers.cache import Cache
from berth.handlers.catalogue import Catalogue
from berth.handlers.dependents import Dependents, seen_of
from berth.handlers.keys import (
    EnvironmentKey,
    Key,
    PreviewKey,
    PromotionKey,
    RevisionKey,
    WorkloadKey,
)
from berth.kube.informer import DELETED, Event
from berth.names import RESOURCE_LABEL, WORKLOAD_LABEL
from berth.preview.inherit import base_name
from berth.preview.requests import request_of
from berth.promotion.progress import finished
from berth.promotion.revision import due
from berth.provision import cluster_provisioner_name, serves_environment
from berth.provision.identity import identities_of_spec, identity_of_entry
from berth.render.pods import pod_finding
from berth.render.rollout import rollout

if TYPE_CHECKING:
    from berth.handlers.runtime import Runtime


def users_of_cluster_provisioner(
    cache: Cache, catalogue: Catalogue, body: Mapping[str, Any]
) -> list[WorkloadKey]:
    """Workloads whose choice of provisioner a change to this ClusterProvisioner may change:
    those it serves now (by their status), and those with a resource of its type in an
    Environment that its criteria match."""
    name = cluster_provisioner_name(str((body.get("metadata") or {}).get("name")))
    spec = body.get("spec") or {}
    definition = catalogue.parse(body)
    found: set[WorkloadKey] = set()
    for env_name in cache.environment_names():
        env_body = cache.environment(env_name)
        if env_body is None:
            continue
        try:
            environment: Environment | None = Environment.model_validate(env_body)
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
                found.add(WorkloadKey(wl["metadata"]["namespace"], wl["metadata"]["name"]))
    return sorted(found)


def sharers(cache: Cache, body: Mapping[str, Any]) -> list[WorkloadKey]:
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
            found.append(WorkloadKey(namespace, other_name))
    return found


def environments_of_workload(cache: Cache, workload: Mapping[str, Any]) -> list[str]:
    """The Environments whose counts a change to this Workload may change."""
    named = (workload.get("spec") or {}).get("environment")
    if named:
        return [named]
    return [
        e["metadata"]["name"]
        for e in cache.environments_for_namespace(workload["metadata"]["namespace"])
    ]


def workloads_of_environment(cache: Cache, body: Mapping[str, Any]) -> list[WorkloadKey]:
    """The Workloads of the namespace an Environment serves: a change to an Environment
    is a change to every one of them."""
    namespace = (body.get("spec") or {}).get("namespace") or ""
    return [
        WorkloadKey(wl["metadata"]["namespace"], wl["metadata"]["name"])
        for wl in cache.workloads_in(namespace)
    ]


def readers_of(
    dependents: Dependents, body: Mapping[str, Any], *, deleted: bool
) -> list[WorkloadKey]:
    """The Workloads whose templates read this Workload (``workloads``: service-port waits
    for it) and saw it otherwise than it is now: it appeared, its spec changed, or it
    went. Its status changing wakes nobody."""
    meta = body["metadata"]
    now = None if deleted else seen_of(body)
    return dependents.woken_by(meta["namespace"], meta["name"], now)


def users_of_claim(cache: Cache, claim: Mapping[str, Any]) -> list[WorkloadKey]:
    """The Workloads a claim serves: the one its inventory label names, or — shared by
    ``id`` — every Workload of its namespace that asks for its resource."""
    meta = claim.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    labels = meta.get("labels") or {}
    owner = labels.get(WORKLOAD_LABEL)
    if owner:
        return [WorkloadKey(namespace, str(owner))]
    identity = labels.get(RESOURCE_LABEL)
    if not identity:
        return []
    return sorted(
        WorkloadKey(namespace, wl["metadata"]["name"])
        for wl in cache.workloads_in(namespace)
        if identity in identities_of_spec(wl["metadata"]["name"], wl.get("spec")).values()
    )


# -- previews -------------------------------------------------------------------------------


def _namespace_of(body: Mapping[str, Any] | None) -> str:
    return str(((body or {}).get("spec") or {}).get("namespace") or "")


def previews_of_environment(cache: Cache, body: Mapping[str, Any]) -> list[Key]:
    """What a change to an Environment concerns among previews:

    - a base: its previews (they inherit it live) and their Workloads (they run under it);
    - a preview: the Preview it was made for; and, since it counts in its base's quota,
      the Previews of its base that wait for their turn;
    - any Environment: the Previews of its namespace (one may wait for it as its base).
    """
    name = str(body["metadata"]["name"])
    found: list[Key] = []
    for preview in cache.previews_of(name):
        found.append(EnvironmentKey(preview["metadata"]["name"]))
        found.extend(workloads_of_environment(cache, preview))
    request = request_of(body)
    if request and "/" in request:
        found.append(PreviewKey(*request.split("/", 1)))
    base = cache.environment(base_name(body) or "") if base_name(body) else None
    for namespace in {_namespace_of(body), _namespace_of(base)} - {""}:
        found.extend(
            PreviewKey(namespace, p["metadata"]["name"]) for p in cache.previews_in(namespace)
        )
    return found


def previews_of_workload(cache: Cache, workload: Mapping[str, Any]) -> list[EnvironmentKey]:
    """The previews a change to this Workload concerns now (not in a few seconds, as its
    counts): those whose base's namespace it is in (their copies follow it), and the
    preview whose namespace it is in (its copies and its ttl)."""
    namespace = workload["metadata"]["namespace"]
    found: list[EnvironmentKey] = []
    for env in cache.environments_for_namespace(namespace):
        name = str(env["metadata"]["name"])
        found.extend(EnvironmentKey(p["metadata"]["name"]) for p in cache.previews_of(name))
        if base_name(env):
            found.append(EnvironmentKey(name))
    return found


# -- promotions -----------------------------------------------------------------------------


def promotions_of_target(cache: Cache, workload: Mapping[str, Any]) -> list[PromotionKey]:
    """The Promotions under way whose target is this Workload: its rollout is theirs to
    follow."""
    meta = workload.get("metadata") or {}
    return [
        PromotionKey(p["metadata"]["namespace"], p["metadata"]["name"])
        for p in cache.promotions()
        if p["metadata"]["namespace"] == meta.get("namespace")
        and (p.get("spec") or {}).get("workload") == meta.get("name")
        and not finished(p.get("status") or {})
    ]


# -- the wake-up rules of the watched kinds (berth.handlers.watch.WATCHED) -----------------
#
# Each takes the Runtime and one change to a store, and queues the keys it concerns:
# urgent ones (a new generation, a new or deleted object) ahead of the rest (a child's
# status). A change that cannot change what a reconcile would do or write wakes no one:
# our own write coming back, a Deployment's status between two steps of its rollout, a
# Pod whose change leaves the Workload's Pod finding as it was.


def _generation(obj: Mapping[str, Any] | None) -> tuple[Any, Any]:
    meta = (obj or {}).get("metadata") or {}
    return meta.get("generation"), meta.get("deletionTimestamp")


def new_generation(event: Event) -> bool:
    """Added, deleted, or its spec (generation) or deletion changed: worth going first."""
    return (
        event.old is None
        or event.type == DELETED
        or (_generation(event.old) != _generation(event.new))
    )


def workload_changed(runtime: Runtime, event: Event) -> None:
    body = event.new
    key = WorkloadKey(*event.key)
    urgent = new_generation(event) and not event.listed
    deleted = event.type == DELETED
    if deleted:
        runtime.cache.forget(body)
        runtime.generations.forget(key)
        runtime.context.rendered.pop(key, None)
        runtime.forget_workload(key)
        runtime.enqueue(key, urgent=urgent)
    else:  # times a new generation until observed and Ready (berth.metrics)
        runtime.generations.saw(key, body, record=runtime.reconciles(key))
        if not runtime.cache.own_echo(body):
            # (our own status write coming back tells its reconcile nothing new)
            runtime.enqueue(key, urgent=urgent)
            # Previews follow their base's Workloads, and notice their own, within seconds.
            if not event.listed:
                for preview in previews_of_workload(runtime.cache, body):
                    runtime.enqueue(preview)
        # A generation Ready and not recorded yet is due its revision; the Promotions
        # under way that target it follow its rollout.
        if due(body):
            runtime.enqueue(RevisionKey(*event.key))
        if not event.listed:
            for promotion in promotions_of_target(runtime.cache, body):
                runtime.enqueue(promotion)
    for other in sharers(runtime.cache, body):
        runtime.enqueue(other)
    # Those waiting for it (a service-port to it), when it appeared, changed or went.
    for reader in readers_of(runtime.context.dependents, body, deleted=deleted):
        runtime.enqueue(reader)
    # Its Environment counts it: looked at as soon as its counts may be written again,
    # once for many events (counting is a walk over all Workloads).
    if event.old is None or deleted or _ready(event.old) != _ready(body):
        for env in environments_of_workload(runtime.cache, body):
            runtime.count_later(env)


def _ready(body: Mapping[str, Any] | None) -> Any:
    for c in ((body or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status")
    return None


def environment_changed(runtime: Runtime, event: Event) -> None:
    body = event.new
    if event.type == DELETED:
        runtime.cache.forget(body)
    if not (event.type != DELETED and runtime.cache.own_echo(body)):
        runtime.enqueue(EnvironmentKey(event.key[1]), urgent=not event.listed)
    if event.listed:
        return  # each of the others is listed too, and looked at for it
    # Its Workloads are rendered from its spec: a new one (or its counts, its status)
    # changes nothing of theirs. Previews read more of it (a preview's status is its
    # Preview's; a preview counts in its base's quota): they look again at any change,
    # its previews' Workloads only at a new spec.
    spec_changed = new_generation(event)
    if spec_changed:
        for key in workloads_of_environment(runtime.cache, body):
            runtime.enqueue(key, urgent=True)
    for other in previews_of_environment(runtime.cache, body):
        if spec_changed or not isinstance(other, WorkloadKey):
            runtime.enqueue(other)


def cluster_provisioner_changed(runtime: Runtime, event: Event) -> None:
    if event.listed or not new_generation(event):
        return
    # Whose choice of provisioner may change: the Workloads it serves now, and those
    # with a resource of its type in an Environment its criteria match.
    catalogue = runtime.context.provisioning.catalogue
    for key in users_of_cluster_provisioner(runtime.cache, catalogue, event.new):
        runtime.enqueue(key, urgent=True)


def _beyond_status(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A slim child without what only its status writes change."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("resourceVersion", None)
    meta["managedFields"] = [
        e for e in meta.get("managedFields") or [] if e.get("subresource") != "status"
    ]
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def child_changed(runtime: Runtime, event: Event) -> None:
    """A Deployment, Service or ConfigMap of a Workload: its owner looks again when it
    went, when someone else changed it, or when its rollout took a step."""
    body, old = event.new, event.old
    if event.type == DELETED:
        runtime.cache.forget(body)
    elif runtime.cache.own_echo(body):
        return  # our own apply coming back: nothing new for the owner
    elif (
        old is not None
        and _beyond_status(old) == _beyond_status(body)
        and (body.get("kind") != "Deployment" or rollout(old, 0) == rollout(body, 0))
    ):
        return  # a status write between two steps of the rollout
    owner = (body.get("metadata", {}).get("labels") or {}).get(WORKLOAD_LABEL)
    if owner and not event.listed:
        runtime.enqueue(WorkloadKey(body["metadata"]["namespace"], owner))


def pod_changed(runtime: Runtime, event: Event) -> None:
    """A Pod of a Workload: its owner looks again when what its Pods say of it changed
    (``pod_finding``: a container that cannot start, a Pod nobody can schedule)."""
    new, old = event.new, event.old
    owner = new.owner or (old.owner if old is not None else None)
    if owner is None or event.listed:
        return
    now = runtime.cache.pods_of(owner)
    others = [p for p in now if p.name != new.summary.name]
    before = others + ([old.summary] if old is not None else [])
    if pod_finding(before) != pod_finding(now):
        runtime.enqueue(owner)


def preview_changed(runtime: Runtime, event: Event) -> None:
    """A Preview (a request for a preview Environment): itself, and the Previews of its
    namespace that wait for a turn in the base's quota."""
    body = event.new
    echo = event.type != DELETED and runtime.cache.own_echo(body)
    if event.type == DELETED:
        runtime.cache.forget(body)
    if not echo:
        runtime.enqueue(PreviewKey(*event.key), urgent=new_generation(event) and not event.listed)
    if event.listed:
        return
    for other in runtime.cache.previews_in(event.key[0]):
        if other["metadata"]["name"] != event.key[1]:
            runtime.enqueue(PreviewKey(event.key[0], other["metadata"]["name"]))


def promotion_changed(runtime: Runtime, event: Event) -> None:
    if event.type == DELETED:
        runtime.cache.forget(event.new)
        return
    if runtime.cache.own_echo(event.new):
        return  # our own status write coming back
    runtime.enqueue(PromotionKey(*event.key), urgent=new_generation(event) and not event.listed)


def approval_changed(runtime: Runtime, event: Event) -> None:
    """A PromotionApproval: the Promotion it names looks at it."""
    promotion = (event.new.get("spec") or {}).get("promotion")
    if event.type != DELETED and promotion:
        runtime.enqueue(PromotionKey(event.key[0], str(promotion)))
