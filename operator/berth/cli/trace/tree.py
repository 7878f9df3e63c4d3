"""The tree of a Workload or an Environment, from the objects read — pure.

A Workload's tree: its Environment, then its Score resources (the provisioner chosen and
why, the claim and its connection Secret, the other objects provisioned), then its
children (the Deployment with its ReplicaSets and their Pods, the Service, the
ConfigMaps). An Environment's tree: its Namespace, then each of its Workloads' trees.

The first failure is what an SRE should read first: the first failed node in dependency
order, deepest first. A Pod that cannot pull its image comes before the Deployment that
lacks it and the Workload that reports it; a claim Crossplane cannot compose before the
resource waiting for it; a Workload's Environment before the Workload. Only an
Environment at the root of its own tree comes before what is under it: its Workloads
depend on it, not it on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.cli.trace import state
from berth.cli.trace.model import Health, Node, Ref, Snapshot, State, Trace, Unreadable
from berth.cli.trace.nodes import children_nodes, missing, object_node, plain_node
from berth.cli.trace.plan import API_VERSION, status_of
from berth.cli.trace.resources import resource_nodes


def environment_of(workload: Mapping[str, Any]) -> str | None:
    """The Environment a Workload runs in: the one its status names, else its spec's."""
    name = status_of(workload).get("environment") or (workload.get("spec") or {}).get("environment")
    return str(name) if name else None


def _berth_node(kind: str, body: Mapping[str, Any]) -> Node:
    meta = body.get("metadata") or {}
    ref: Ref = (API_VERSION, kind, str(meta.get("namespace") or ""), str(meta.get("name", "")))
    return plain_node(ref, body, state.berth_object(body))


def _environment_leaf(snap: Snapshot, name: str) -> Node:
    ref: Ref = (API_VERSION, "Environment", "", name)
    body = snap.environments.get(name)
    if isinstance(body, Mapping):
        return plain_node(ref, body, state.berth_object(body))
    return object_node(ref, body, Health(State.FAILED, "NotFound", "no such Environment"))


def workload_node(snap: Snapshot, workload: Mapping[str, Any], *, with_environment: bool) -> Node:
    node = _berth_node("Workload", workload)
    environment = environment_of(workload)
    if with_environment and environment:
        node.children.append(_environment_leaf(snap, environment))
    resources, shown = resource_nodes(snap, workload, environment)
    node.children += resources
    node.children += children_nodes(snap, workload, node.health, shown)
    return node


def first_failed(node: Node) -> Node | None:
    """The first failed node, children before their parent, in their order."""
    for child in node.children:
        found = first_failed(child)
        if found is not None:
            return found
    return node if node.health.state == State.FAILED else None


def _marked(root: Node, first: Node | None) -> Trace:
    if first is not None:
        first.first_failure = True
    return Trace(root=root, first_failure=first)


def workload_trace(snap: Snapshot, workload: Mapping[str, Any]) -> Trace:
    root = workload_node(snap, workload, with_environment=True)
    return _marked(root, first_failed(root))


def environment_trace(snap: Snapshot, environment: Mapping[str, Any]) -> Trace:
    root = _berth_node("Environment", environment)
    namespace = snap.namespace
    ns_ref: Ref = ("v1", "Namespace", "", namespace)
    expected = root.health.state == State.READY
    root.children.append(
        object_node(
            ns_ref, snap.objects.get(ns_ref), missing(expected, "the Environment serves it")
        )
    )
    if isinstance(snap.workloads, Unreadable):
        why = snap.workloads
        root.children.append(
            Node(
                kind="Workload",
                name="*",
                health=state.unreadable(why),
                api_version=API_VERSION,
                namespace=namespace,
            )
        )
    else:
        for workload in sorted(snap.workloads, key=lambda w: str(w["metadata"]["name"])):
            root.children.append(workload_node(snap, workload, with_environment=False))
    first = root if root.health.state == State.FAILED else first_failed(root)
    return _marked(root, first)
