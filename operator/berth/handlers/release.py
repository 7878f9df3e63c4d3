"""Letting go of resources, as the Environment's deletionPolicy says.

A Workload lets go of a resource when it no longer asks for it (removed, or its id or
class changed: another identity), and of all of them when it is deleted. Which
resources it had, its status says; which objects each of them has, the inventory says —
the labels every provisioned object carries (``berth.dev/resource``: its identity) — and
the status's list of objects besides. What no status ever listed (a claim created just
before a crash, a change made while the operator was down) is found by a sweep of the
inventory: at a Workload's deletion, and once per namespace after the operator starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from berth.api import ClusterProvisioner, Environment, Provisioner
from berth.handlers.cache import Cache
from berth.handlers.context import Context
from berth.kube.children import ObjectKey
from berth.kube.client import KubeClient, NotFound
from berth.kube.resources import (
    delete_object,
    get_object,
    list_provisioned,
    mark_retained,
    provisioned_by_berth,
)
from berth.names import MANAGED_BY_LABEL, RESOURCE_LABEL, RETAINED_ANNOTATION, WORKLOAD_LABEL
from berth.provision.identity import identities_of_spec, identity_of_entry, removed_entries

Kinds = Iterable[tuple[str, str]]


# -- where provisioned objects are ----------------------------------------------------------


def asked_for(cache: Cache, namespace: str, *, besides: str | None = None) -> set[str]:
    """Every identity the live Workloads of ``namespace`` ask for (but ``besides``)."""
    result: set[str] = set()
    for other in cache.workloads_in(namespace):
        meta = other["metadata"]
        if meta.get("deletionTimestamp") or meta["name"] == besides:
            continue
        result |= set(identities_of_spec(meta["name"], other.get("spec")).values())
    return result


def provisioners_of(
    environment: Environment | None, catalogue: Sequence[ClusterProvisioner]
) -> list[Provisioner]:
    """The Environment's own provisioners and the cluster's."""
    listed = list(environment.spec.provisioners or []) if environment is not None else []
    return listed + [d.spec.as_provisioner(d.name) for d in catalogue]


def inventory_kinds(
    cache: Cache, namespace: str, provisioners: Iterable[Provisioner]
) -> set[tuple[str, str]]:
    """The (apiVersion, kind)s where provisioned objects of ``namespace`` may be: the
    claim kinds of ``provisioners``, and every kind its Workloads' statuses list."""
    kinds = set()
    for provisioner in provisioners:
        crossplane = provisioner.crossplane or {}
        api_version, kind = crossplane.get("apiVersion"), crossplane.get("kind")
        if isinstance(api_version, str) and isinstance(kind, str):
            kinds.add((api_version, kind))
    for other in cache.workloads_in(namespace):
        for entry in (other.get("status") or {}).get("resources") or []:
            refs = list(entry.get("objects") or [])
            if entry.get("claim"):
                refs.append(entry["claim"])
            for ref in refs:
                if isinstance(ref, Mapping) and ref.get("apiVersion") and ref.get("kind"):
                    kinds.add((str(ref["apiVersion"]), str(ref["kind"])))
    return kinds


# -- letting go ------------------------------------------------------------------------------


async def release(
    context: Context,
    namespace: str,
    workload: str,
    entries: Sequence[Mapping[str, Any]],
    policy: str,
    kinds: Kinds = (),
) -> list[str]:
    """Let go of resources a Workload no longer has (its status ``entries``), as the
    deletion policy says: each one's objects that its entry lists, and those the
    inventory (in ``kinds``) labels with its identity.

    Delete: their objects are deleted (a shared one only when its last user goes).
    Retain: they stay as they are (marked, so no sweep ever takes them), and a Workload
    asking for the same resource adopts them.
    Orphan: they stay, and lose the labels by which Berth would find them again.
    Returns a line per action, for the log and the Events.
    """
    if not entries:
        return []
    done = []
    others = asked_for(context.cache, namespace, besides=workload)
    labelled: dict[str, list[dict[str, Any]]] = {}
    for obj in await list_provisioned(context.client, kinds, namespace):
        labels = obj["metadata"].get("labels") or {}
        labelled.setdefault(str(labels.get(RESOURCE_LABEL)), []).append(obj)
    for entry in entries:
        identity = identity_of_entry(workload, entry)
        if identity is not None and identity in others:
            done.append(
                f"kept resource {entry['name']!r}: another Workload shares it"
                f" (id {entry.get('id')})"
            )
            continue
        for obj in await _objects_of(context.client, entry, labelled.get(identity or "", [])):
            line = await let_go(context.client, obj, policy, workload)
            if line:
                done.append(f"{line} of resource {entry['name']!r}")
    return done


async def _objects_of(
    client: KubeClient, entry: Mapping[str, Any], labelled: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A resource's objects as they are now: those its status entry lists (still
    there), then those only the inventory knows."""
    found: dict[ObjectKey, dict[str, Any]] = {}
    for ref in entry.get("objects") or []:
        obj = await get_object(
            client, ref["apiVersion"], ref["kind"], ref["name"], ref.get("namespace")
        )
        if obj is not None:
            found[ObjectKey.of(obj)] = obj
    for obj in labelled:
        found.setdefault(ObjectKey.of(obj), obj)
    return list(found.values())


async def let_go(
    client: KubeClient, obj: Mapping[str, Any], policy: str, workload: str
) -> str | None:
    """Do to one provisioned object what ``policy`` says; a line saying what, or None.
    An object Berth did not write (it only carries our labels) is left as it is."""
    meta = obj["metadata"]
    if not provisioned_by_berth(obj):
        return None
    what = f"{obj['kind']} {meta['name']}"
    if policy == "Delete":
        if await delete_object(
            client,
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
            await client.merge_patch(
                obj["apiVersion"], obj["kind"], meta["name"], patch, meta.get("namespace")
            )
        except NotFound:
            return None
        return f"orphaned {what}"
    await mark_retained(client, obj, workload)
    return f"retained {what}"


async def sweep(
    context: Context,
    namespace: str,
    policy: str,
    kinds: Kinds,
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
    found = await list_provisioned(context.client, kinds, namespace)
    # Read the Workloads after the objects: whatever a reconcile created before this
    # list, it created for a Workload the cache already holds.
    asked = asked_for(context.cache, namespace, besides=besides)
    done = []
    for obj in found:
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        if meta.get("deletionTimestamp") or RETAINED_ANNOTATION in annotations:
            continue
        if labels.get(RESOURCE_LABEL) in asked:
            continue
        line = await let_go(context.client, obj, policy, besides or "")
        if line:
            owner = labels.get(WORKLOAD_LABEL) or "shared"
            done.append(
                f"{line} ({owner}, resource {labels.get(RESOURCE_LABEL)}): no Workload asks for it"
            )
    return done


# -- the Workload reconcile's two occasions ------------------------------------------------


async def release_removed(
    context: Context, body: Mapping[str, Any], environment: Environment
) -> list[str]:
    """Let go of what a live Workload no longer asks for: the resources its status lists
    whose identity it no longer has (a removed resource, or a changed id or class), and,
    once per namespace after the operator starts, whatever the inventory holds that no
    Workload asks for. Returns a line per action."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    previous = list((body.get("status") or {}).get("resources") or [])
    removed = removed_entries(name, previous, identities_of_spec(name, body.get("spec")))
    janitor = context.provisioning.janitor
    if not removed and not janitor.due(namespace):
        return []
    policy = environment.effective_deletion_policy()
    catalogue = context.provisioning.catalogue.provisioners(context.cache)
    kinds = inventory_kinds(context.cache, namespace, provisioners_of(environment, catalogue))
    lines = await release(context, namespace, name, removed, policy, kinds)
    if janitor.due(namespace):
        lines += await sweep(context, namespace, policy, kinds)
        janitor.swept(namespace)
    return lines


async def release_deleted(
    context: Context, body: Mapping[str, Any], env_body: Mapping[str, Any] | None, policy: str
) -> list[str]:
    """Let go of everything of a Workload being deleted: what its status lists, and what
    the inventory (labels) holds that no other Workload asks for — also what was created
    just before a crash and never made it into the status."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    entries = list((body.get("status") or {}).get("resources") or [])
    catalogue = context.provisioning.catalogue.provisioners(context.cache)
    provisioners = provisioners_of(_environment(env_body), catalogue)
    kinds = inventory_kinds(context.cache, namespace, provisioners)
    lines = await release(context, namespace, name, entries, policy, kinds)
    lines += await sweep(context, namespace, policy, kinds, besides=name)
    return lines


def _environment(body: Mapping[str, Any] | None) -> Environment | None:
    if body is None:
        return None
    try:
        return Environment.model_validate(body)
    except ValidationError:
        return None  # its policy is Retain then (handlers.common.deletion_policy)
