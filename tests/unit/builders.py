"""Small builders for unit tests: Workloads and Environments from plain dicts; Deployments,
Pods and timestamps for the status tests."""

from __future__ import annotations

import copy
from typing import Any

from berth.api import Environment, Workload
from berth.render.pods import ContainerSummary, PodSummary

NAMESPACE = "team-a-dev"


def environment_dict(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "development", "namespace": NAMESPACE}
    body.update(spec)
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": "team-a-dev"},
        "spec": body,
    }


def environment(**spec: Any) -> Environment:
    return Environment.model_validate(environment_dict(**spec))


def workload_dict(name: str = "checkout", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": {"main": {"image": "registry.acme.dev/checkout:1.4.2"}}}
    body.update(copy.deepcopy(spec))
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": body,
    }


def workload(name: str = "checkout", **spec: Any) -> Workload:
    return Workload.model_validate(workload_dict(name, **spec))


def container(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"image": "registry.acme.dev/checkout:1.4.2"}
    body.update(fields)
    return body


# -- statuses: times, a Deployment as the server reports it, conditions by type ------------

T0 = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T10:05:00Z"
T2 = "2024-05-01T10:10:00Z"


def deployment(
    *,
    replicas: int = 2,
    generation: int = 1,
    observed: int = 1,
    updated: int = 2,
    total: int = 2,
    ready: int = 2,
    available: int = 2,
    progressing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "conditions": [
            {
                "type": "Available",
                "status": "True" if available >= replicas else "False",
                "reason": "MinimumReplicasAvailable",
            }
        ],
    }
    if progressing is not None:
        status["conditions"].append({"type": "Progressing", **progressing})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "team-a-dev", "generation": generation},
        "spec": {"replicas": replicas},
        "status": status,
    }


# The Progressing condition of a Deployment past its progress deadline.
TIMED_OUT = {
    "status": "False",
    "reason": "ProgressDeadlineExceeded",
    "message": 'ReplicaSet "checkout-5d4f" has timed out progressing.',
}


def by_type(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


# What a Workload's Pods say when their image cannot be pulled.
PULLING = 'Back-off pulling image "registry.acme.dev/app:nope"'


def pulling_pods(count: int = 2) -> list[PodSummary]:
    return [
        PodSummary(
            f"checkout-1-{i}",
            containers=(
                ContainerSummary(
                    "main", waiting_reason="ImagePullBackOff", waiting_message=PULLING
                ),
            ),
        )
        for i in range(count)
    ]
