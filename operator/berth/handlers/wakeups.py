"""Which objects an event concerns beyond its own: the rules of who is woken.

The watches (``berth.handlers.watch``) turn every event into keys to look at again;
the keys beyond the object's own come from here. Each rule reads the cache only, and
errs on the side of waking too many: a reconcile that finds nothing to do writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from berth.api import Environment
from berth.handlers.cache import Cache
from berth.handlers.catalogue import Catalogue
from berth.handlers.dependents import Dependents, seen_of
from berth.handlers.keys import EnvironmentKey, Key, PreviewKey, PromotionKey, WorkloadKey
from berth.names import RESOURCE_LABEL, WORKLOAD_LABEL
from berth.preview.inherit import base_name
from berth.preview.requests import request_of
from berth.promotion.progress import finished
from berth.provision import cluster_provisioner_name, serves_environment
from berth.provision.identity import identities_of_spec, identity_of_entry


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
