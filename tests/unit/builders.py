"""Small builders for unit tests: Workloads and Environments from plain dicts."""

from __future__ import annotations

import copy
from typing import Any

from berth.api import Environment, Workload

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
