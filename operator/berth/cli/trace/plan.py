"""What a trace reads, planned from what was read before — pure, so that the fetching
(``berth.cli.trace.fetch``) stays a thin loop of requests: first the Workloads (and
their Environment), then the kinds ``plan_kinds`` names (listed by Berth's label in the
namespace) and the objects ``plan_objects`` names, then the connection Secrets the claims
name (``plan_secrets``; their metadata only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from berth.cli.trace.model import Found, KindKey, Ref

API_VERSION = "berth.dev/v1alpha1"
CLUSTER_PREFIX = "ClusterProvisioner/"
# The kinds every Workload's tree reads, whatever its status lists.
ALWAYS_LISTED: tuple[KindKey, ...] = (
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("v1", "Pod"),
)


def status_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return body.get("status") or {}


def reference(ref: Mapping[str, Any], namespace: str) -> Ref:
    return (
        str(ref.get("apiVersion", "")),
        str(ref.get("kind", "")),
        str(ref.get("namespace") or namespace),
        str(ref.get("name", "")),
    )


def plan_kinds(workloads: Sequence[Mapping[str, Any]]) -> list[KindKey]:
    """The kinds to list (by Berth's label) in the namespace."""
    kinds = dict.fromkeys(ALWAYS_LISTED)
    for workload in workloads:
        for ref in status_of(workload).get("managedObjects") or []:
            kinds[(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))] = None
    return list(kinds)


def plan_objects(workloads: Sequence[Mapping[str, Any]]) -> list[Ref]:
    """What to read one by one: each resource's claim and objects, and the
    ClusterProvisioner chosen for it."""
    refs: dict[Ref, None] = {}
    for workload in workloads:
        namespace = str(workload["metadata"].get("namespace", ""))
        for entry in status_of(workload).get("resources") or []:
            if entry.get("claim"):
                refs[reference(entry["claim"], namespace)] = None
            for ref in entry.get("objects") or []:
                refs[reference(ref, namespace)] = None
            provisioner = str(entry.get("provisioner") or "")
            if provisioner.startswith(CLUSTER_PREFIX):
                name = provisioner.removeprefix(CLUSTER_PREFIX)
                refs[(API_VERSION, "ClusterProvisioner", "", name)] = None
    return list(refs)


def connection_secret(ref: Ref, body: Found) -> Ref | None:
    if not isinstance(body, Mapping):
        return None
    target = (body.get("spec") or {}).get("writeConnectionSecretToRef") or {}
    if not target.get("name"):
        return None
    return ("v1", "Secret", str(target.get("namespace") or ref[2]), str(target["name"]))


def plan_secrets(objects: Mapping[Ref, Found]) -> list[Ref]:
    """The connection Secrets the claims read name: their metadata is read, never data."""
    found = (connection_secret(ref, body) for ref, body in objects.items())
    return list(dict.fromkeys(ref for ref in found if ref is not None))
