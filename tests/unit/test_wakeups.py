"""Which Workloads an event wakes beyond its own object (berth.handlers.wakeups): those a
change to a ClusterProvisioner concerns, those sharing a resource, and the Environments
that count a Workload."""

from __future__ import annotations

from typing import Any

from berth.handlers.cache import (
    CLUSTER_PROVISIONERS_INDEX,
    ENVIRONMENTS_INDEX,
    WORKLOADS_INDEX,
    Cache,
)
from berth.handlers.catalogue import Catalogue
from berth.handlers.wakeups import (
    environments_of_workload,
    sharers,
    users_of_cluster_provisioner,
    workloads_of_environment,
)
from tests.unit.builders import NAMESPACE
from tests.unit.world import World


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
    assert users_of_cluster_provisioner(cache(body), Catalogue(), body) == [
        ("dev", "uses-pg"),  # a postgres, in an Environment its criteria match
        ("prod", "served-by-it"),  # served by it now (its criteria may have just changed)
    ]


def test_a_definition_for_every_environment_concerns_every_user_of_its_type() -> None:
    body = definition("pg", rv="7", type="postgres")  # (name, resourceVersion) is its identity
    assert users_of_cluster_provisioner(cache(body), Catalogue(), body) == [
        ("dev", "uses-pg"),
        ("prod", "served-by-it"),
        ("prod", "uses-pg"),
    ]


def test_cluster_provisioners_are_parsed_once_per_version_and_invalid_ones_left_out() -> None:
    good = definition("a", type="redis")
    bad = definition("b", type="redis", secret=None)  # no kind at all
    view = cache(good, bad)
    catalogue = Catalogue()
    first = catalogue.provisioners(view)
    assert [d.name for d in first] == ["a"]
    again = catalogue.provisioners(view)
    assert again[0] is first[0]  # same resourceVersion: the parsed one
    changed = cache(definition("a", rv="2", type="redis", description="new"))
    assert catalogue.provisioners(changed)[0].spec.description == "new"


async def test_sharers_by_spec_and_by_status() -> None:
    world = World()
    shared = {"db": {"type": "postgres", "id": "main"}}
    world.add_workload("a", resources=shared)
    world.add_workload("b", resources=shared)
    world.add_workload("c", resources={"db": {"type": "postgres"}})
    world.add_workload("d", resources=shared)
    await world.sync()
    body = world.workload_body("a")
    assert sharers(world.context.cache, body) == [(NAMESPACE, "b"), (NAMESPACE, "d")]
    # What it had until now counts too: an id it just dropped.
    former = {
        **world.workload_body("c"),
        "status": {"resources": [{"name": "db", "type": "postgres", "id": "main"}]},
    }
    assert (NAMESPACE, "a") in sharers(world.context.cache, former)
    # Nothing shared: no walk over the namespace.
    lone = {**world.workload_body("c"), "spec": {"containers": {}}}
    assert sharers(world.context.cache, lone) == []


async def test_environments_of_a_workload_and_workloads_of_an_environment() -> None:
    world = World()
    env = world.add_environment()
    world.add_workload("a")
    world.add_workload("b")
    await world.sync()
    named = {"metadata": {"namespace": "x"}, "spec": {"environment": "e"}}
    assert environments_of_workload(world.context.cache, named) == ["e"]
    by_namespace = {"metadata": {"namespace": NAMESPACE}, "spec": {}}
    assert environments_of_workload(world.context.cache, by_namespace) == [NAMESPACE]
    assert workloads_of_environment(world.context.cache, env) == [
        (NAMESPACE, "a"),
        (NAMESPACE, "b"),
    ]
