"""Nodes of objects as read, and a Workload's children: the Deployment with its
ReplicaSets and their Pods, the Service, the ConfigMaps — pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.cli.trace import state
from berth.cli.trace.model import Found, Health, KindKey, Node, Ref, Snapshot, State, Unreadable
from berth.cli.trace.plan import reference, status_of

# Children in this order of kinds (then by name); others after them, by kind.
KIND_ORDER = {"Deployment": 0, "Service": 1, "ConfigMap": 2}


def plain_node(ref: Ref, body: Found, health: Health, **extra: Any) -> Node:
    created = None
    if isinstance(body, Mapping):
        created = (body.get("metadata") or {}).get("creationTimestamp")
    return Node(
        kind=ref[1],
        name=ref[3],
        health=health,
        api_version=ref[0],
        namespace=ref[2] or None,
        created=created,
        **extra,
    )


def object_node(ref: Ref, body: Found, absent: Health) -> Node:
    """An object as read: judged by its kind; ``absent`` when it does not exist."""
    if isinstance(body, Unreadable):
        return plain_node(ref, body, state.unreadable(body))
    if body is None:
        return plain_node(ref, body, absent)
    return plain_node(ref, body, state.kubernetes_object(body))


def missing(expected_now: bool, what: str) -> Health:
    """A missing object: a failure when it should be there by now, else on its way."""
    if expected_now:
        return Health(State.FAILED, "NotFound", f"{what}, but it is not there")
    return Health(State.PROGRESSING, "NotFound", "not created yet")


def _listed(snap: Snapshot, kind: KindKey) -> list[Mapping[str, Any]] | Unreadable:
    return snap.listed.get(kind) or []


def _owned_by(obj: Mapping[str, Any], kind: str, name: str) -> bool:
    return any(
        ref.get("kind") == kind and ref.get("name") == name
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
    )


def _all_of(kind: KindKey, namespace: str, why: Unreadable) -> Node:
    """One node for a whole kind the user may not list."""
    return Node(
        kind=kind[1],
        name="*",
        health=state.unreadable(why),
        api_version=kind[0],
        namespace=namespace,
    )


def _pods(snap: Snapshot, replica_set: str) -> list[Node]:
    pods = _listed(snap, ("v1", "Pod"))
    if isinstance(pods, Unreadable):
        return [_all_of(("v1", "Pod"), snap.namespace, pods)]
    return [
        object_node(("v1", "Pod", snap.namespace, p["metadata"]["name"]), p, state.PRESENT)
        for p in sorted(pods, key=lambda p: str(p["metadata"]["name"]))
        if _owned_by(p, "ReplicaSet", replica_set)
    ]


def _replica_sets(snap: Snapshot, deployment: str) -> list[Node]:
    """The Deployment's ReplicaSets that want Pods or still have some, with their Pods."""
    sets = _listed(snap, ("apps/v1", "ReplicaSet"))
    if isinstance(sets, Unreadable):
        return [_all_of(("apps/v1", "ReplicaSet"), snap.namespace, sets)]
    nodes = []
    for rs in sorted(sets, key=lambda r: str(r["metadata"]["name"])):
        if not _owned_by(rs, "Deployment", deployment):
            continue
        name = str(rs["metadata"]["name"])
        node = object_node(("apps/v1", "ReplicaSet", snap.namespace, name), rs, state.PRESENT)
        node.children = _pods(snap, name)
        if int((rs.get("spec") or {}).get("replicas") or 0) > 0 or node.children:
            nodes.append(node)
    return nodes


def _find(snap: Snapshot, ref: Ref) -> Found:
    listed = _listed(snap, (ref[0], ref[1]))
    if isinstance(listed, Unreadable):
        return listed
    for obj in listed:
        meta = obj.get("metadata") or {}
        if meta.get("name") == ref[3] and (meta.get("namespace") or "") == ref[2]:
            return obj
    return None


def children_nodes(
    snap: Snapshot, workload: Mapping[str, Any], health: Health, skip: set[Ref]
) -> list[Node]:
    """The Workload's children (``status.managedObjects``), the Deployment with its
    ReplicaSets and Pods."""
    namespace = str(workload["metadata"].get("namespace", ""))
    refs = [reference(r, namespace) for r in status_of(workload).get("managedObjects") or []]
    refs = sorted(
        (r for r in dict.fromkeys(refs) if r not in skip),
        key=lambda r: (KIND_ORDER.get(r[1], len(KIND_ORDER)), r[1], r[3]),
    )
    absent = missing(health.state == State.READY, "the Workload's status lists it")
    nodes = []
    for ref in refs:
        node = object_node(ref, _find(snap, ref), absent)
        if ref[1] == "Deployment" and node.created is not None:
            node.children = _replica_sets(snap, ref[3])
        nodes.append(node)
    return nodes
