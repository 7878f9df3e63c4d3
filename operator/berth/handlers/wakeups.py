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
from berth.handlers.keys import EnvironmentKey, WorkloadKey
from berth.kube.informer import DELETED, Event
from berth.names import WORKLOAD_LABEL
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
    if event.type == DELETED:
        runtime.cache.forget(body)
        runtime.generations.forget(key)
        runtime.context.rendered.pop(key, None)
        runtime.enqueue(key, urgent=urgent)
    else:  # times a new generation until observed and Ready (berth.metrics)
        runtime.generations.saw(key, body, record=runtime.reconciles(key))
        if not runtime.cache.own_echo(body):
            # (our own status write coming back tells its reconcile nothing new)
            runtime.enqueue(key, urgent=urgent)
    for other in sharers(runtime.cache, body):
        runtime.enqueue(other)
    # Its Environment counts it: looked at as soon as its counts may be written again,
    # once for many events (counting is a walk over all Workloads).
    if event.old is None or event.type == DELETED or _ready(event.old) != _ready(body):
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
    # Its Workloads are rendered from its spec: a new one (or its counts, its status)
    # changes nothing of theirs.
    if new_generation(event) and not event.listed:
        for key in workloads_of_environment(runtime.cache, body):
            runtime.enqueue(key, urgent=True)


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
