"""Which Workloads a change to a ClusterProvisioner concerns (the ones woken by its events),
and the cache's parsed view of the ClusterProvisioners."""

from __future__ import annotations

from typing import Any

from berth.handlers.cache import (
    CLUSTER_PROVISIONERS_INDEX,
    ENVIRONMENTS_INDEX,
    WORKLOADS_INDEX,
    Cache,
)
from berth.handlers.resources import cluster_provisioners, users_of_cluster_provisioner


def environment(name: str, type_: str) -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": name, "resourceVersion": "1"},
        "spec": {"type": type_, "namespace": name},
    }


def workload(namespace: str, name: str, types: list[str], served_by: str | None = None) -> Any:
    status: dict[str, Any] = {}
    if served_by is not None:
        status["resources"] = [{"name": "r0", "type": types[0], "provisioner": served_by}]
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
        "spec": {
            "containers": {"main": {"image": "x:1"}},
            "resources": {f"r{i}": {"type": t} for i, t in enumerate(types)},
        },
        "status": status,
    }


def definition(name: str, rv: str = "1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "ClusterProvisioner",
        "metadata": {"name": name, "resourceVersion": rv},
        "spec": {"secret": {"name": "s"}, "outputs": ["url"], **spec},
    }


def cache(*definitions: dict[str, Any]) -> Cache:
    workloads = [
        workload("dev", "uses-pg", ["postgres"]),
        workload("dev", "uses-redis", ["redis"]),
        workload("prod", "uses-pg", ["postgres"]),
        workload("prod", "served-by-it", ["redis"], served_by="ClusterProvisioner/pg"),
    ]
    return Cache(
        indices={
            WORKLOADS_INDEX: {
                (w["metadata"]["namespace"], w["metadata"]["name"]): [w] for w in workloads
            },
            ENVIRONMENTS_INDEX: {
                "dev": [environment("dev", "development")],
                "prod": [environment("prod", "production")],
            },
            CLUSTER_PROVISIONERS_INDEX: {d["metadata"]["name"]: [d] for d in definitions},
        }
    )


def test_users_are_those_it_serves_and_those_it_could_serve() -> None:
    body = definition("pg", type="postgres", environmentTypes=["development"])
    assert users_of_cluster_provisioner(cache(body), body) == [
        ("dev", "uses-pg"),  # a postgres, in an Environment its criteria match
        ("prod", "served-by-it"),  # served by it now (its criteria may have just changed)
    ]


def test_a_definition_for_every_environment_concerns_every_user_of_its_type() -> None:
    body = definition("pg", rv="7", type="postgres")  # (name, resourceVersion) is its identity
    assert users_of_cluster_provisioner(cache(body), body) == [
        ("dev", "uses-pg"),
        ("prod", "served-by-it"),
        ("prod", "uses-pg"),
    ]


def test_cluster_provisioners_are_parsed_once_per_version_and_invalid_ones_left_out() -> None:
    good = definition("a", type="redis")
    bad = definition("b", type="redis", secret=None)  # no kind at all
    view = cache(good, bad)
    first = cluster_provisioners(view)
    assert [d.name for d in first] == ["a"]
    again = cluster_provisioners(view)
    assert again[0] is first[0]  # same resourceVersion: the parsed one
    changed = cache(definition("a", rv="2", type="redis", description="new"))
    assert cluster_provisioners(changed)[0].spec.description == "new"
