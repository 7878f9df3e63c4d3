"""Which Pods are a Workload's (berth.handlers.watch.pod_owner): the Pod index keeps only those."""

from __future__ import annotations

from typing import Any

from berth.handlers.keys import WorkloadKey
from berth.handlers.watch import pod_owner

OURS = {
    "app.kubernetes.io/managed-by": "berth",
    "berth.dev/workload": "web",
    "pod-template-hash": "5d4f8b9c7",
}


def pod(labels: dict[str, str], replicaset: str | None = "web-5d4f8b9c7") -> tuple[Any, Any]:
    metadata: dict[str, Any] = {"name": "p", "namespace": "ns", "labels": labels}
    if replicaset is not None:
        metadata["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replicaset}
        ]
    body = {"metadata": metadata}
    return labels, body


def test_a_pod_of_the_workloads_replicaset_is_its() -> None:
    assert pod_owner(*pod(OURS)) == WorkloadKey("ns", "web")


def test_a_pod_of_another_deployment_with_the_same_labels_is_not() -> None:
    # a template provisioner's Deployment "web-db", its Pods labelled like the Workload's
    assert pod_owner(*pod(OURS, replicaset="web-db-5d4f8b9c7")) is None
    assert pod_owner(*pod(OURS, replicaset="other-5d4f8b9c7")) is None
    assert pod_owner(*pod(OURS, replicaset=None)) is None


def test_pods_without_our_labels_are_not() -> None:
    assert pod_owner(*pod({**OURS, "berth.dev/resource": "db"})) is None
    assert pod_owner(*pod({**OURS, "app.kubernetes.io/managed-by": "helm"})) is None
    assert pod_owner(*pod({"app.kubernetes.io/managed-by": "berth"})) is None
