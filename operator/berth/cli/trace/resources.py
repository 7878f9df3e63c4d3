"""A Workload's Score resources in its trace: for each, the provisioner chosen and why,
the claim with its connection Secret (by name: its metadata is all that is read), and
the other objects provisioned — pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.cli.trace import state
from berth.cli.trace.model import Health, Node, Ref, Snapshot, State, Unreadable
from berth.cli.trace.nodes import missing, object_node, plain_node
from berth.cli.trace.plan import API_VERSION, CLUSTER_PREFIX, connection_secret, reference

SECRET_PRESENT = Health(State.PRESENT, "Present", "connection Secret; values never read")


def _provisioner(snap: Snapshot, entry: Mapping[str, Any], environment: str | None) -> Node:
    chosen = str(entry.get("provisioner"))
    why = str(entry.get("selection") or "")
    if not chosen.startswith(CLUSTER_PREFIX):
        # One of the Environment's own provisioners: part of its spec, no object.
        return Node(
            kind="Provisioner",
            name=chosen,
            health=Health(State.PRESENT, "Chosen", why),
            note=f"of Environment {environment}" if environment else None,
        )
    ref: Ref = (API_VERSION, "ClusterProvisioner", "", chosen.removeprefix(CLUSTER_PREFIX))
    body = snap.objects.get(ref)
    if isinstance(body, Unreadable):
        health = Health(State.UNKNOWN, body.reason, f"{why} (not read: {body.message})")
    elif body is None:
        health = Health(State.FAILED, "NotFound", f"it no longer exists; it was chosen as: {why}")
    else:
        health = Health(State.PRESENT, "Chosen", why)
    return plain_node(ref, body, health)


def _claim(snap: Snapshot, ref: Ref, resource: Health) -> Node:
    body = snap.objects.get(ref)
    node = object_node(ref, body, missing(resource.state == State.READY, "the resource names it"))
    if isinstance(body, Mapping):
        node.health = state.claim(body)
    secret = connection_secret(ref, body)
    if secret is None:
        return node
    secret_body = snap.objects.get(secret)
    if isinstance(secret_body, Mapping):  # its metadata: existence is all it tells
        node.children.append(plain_node(secret, secret_body, SECRET_PRESENT))
    elif node.health.state == State.READY:
        absent = Health(State.FAILED, "NotFound", "the claim is Ready but its Secret is not there")
        node.children.append(object_node(secret, secret_body, absent))
    else:
        absent = Health(State.PROGRESSING, "NotFound", "written once the claim is Ready")
        node.children.append(object_node(secret, secret_body, absent))
    return node


def _note(entry: Mapping[str, Any]) -> str | None:
    parts = [str(entry["type"])] if entry.get("type") else []
    parts += [f"{field} {entry[field]}" for field in ("class", "id") if entry.get(field)]
    return ", ".join(parts) or None


def resource_nodes(
    snap: Snapshot, workload: Mapping[str, Any], environment: str | None
) -> tuple[list[Node], set[Ref]]:
    """One node per ``status.resources`` entry; and the objects shown under them (not
    shown again among the Workload's children)."""
    namespace = str(workload["metadata"].get("namespace", ""))
    nodes: list[Node] = []
    shown: set[Ref] = set()
    for entry in (workload.get("status") or {}).get("resources") or []:
        health = state.resource_entry(entry)
        node = Node(kind="Resource", name=str(entry.get("name")), health=health, note=_note(entry))
        if entry.get("provisioner"):
            node.children.append(_provisioner(snap, entry, environment))
        claim = reference(entry["claim"], namespace) if entry.get("claim") else None
        if claim is not None:
            node.children.append(_claim(snap, claim, health))
            shown.add(claim)
        absent = missing(health.state == State.READY, "the resource lists it")
        for ref in (reference(r, namespace) for r in entry.get("objects") or []):
            if ref not in shown:
                node.children.append(object_node(ref, snap.objects.get(ref), absent))
                shown.add(ref)
        nodes.append(node)
    return nodes, shown
