"""The less travelled paths of provisioning and letting go: the cluster's catalogue,
resources that cannot be planned yet or at all, objects that vanished meanwhile, the
sweep's exceptions, and which Workloads a change to one shared resource concerns."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from berth.handlers import resources
from berth.handlers.resources import (
    definer_plan,
    inventory_kinds,
    let_go,
    observe_provisioning_time,
    sharers,
    sweep,
    users_of,
)
from berth.kube.resources import RETAINED_ANNOTATION
from tests.unit.builders import NAMESPACE, environment
from tests.unit.world import CLAIM_API, CLAIM_KIND, POSTGRES, World

LARGE = {
    "apiVersion": "berth.dev/v1alpha1",
    "kind": "ClusterProvisioner",
    "metadata": {"name": "postgres-large"},
    "spec": {
        "type": "postgres",
        "class": "large",
        "outputs": ["host"],
        "crossplane": {
            "apiVersion": CLAIM_API,
            "kind": CLAIM_KIND,
            "parameters": {"storageGB": 100},
            "fieldPaths": {"host": "status.host"},
        },
    },
}
LABELS = {
    "app.kubernetes.io/managed-by": "berth",
    "berth.dev/workload": "gone",
    "berth.dev/resource": "gone-db-1",
}


def claim(name: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": CLAIM_API,
        "kind": CLAIM_KIND,
        "metadata": {"name": name, "namespace": NAMESPACE, **meta},
        "spec": {},
    }


async def test_a_cluster_provisioner_serves_what_the_environment_does_not() -> None:
    world = World()
    world.add_environment()
    world.add(LARGE)
    world.add_workload(resources={"db": {"type": "postgres", "class": "large"}})
    await world.reconcile()
    [made] = world.claims()
    assert made["spec"]["parameters"] == {"storageGB": 100}
    entry = world.status()["resources"][0]
    assert (entry["provisioner"], entry["class"]) == ("ClusterProvisioner/postgres-large", "large")


async def test_an_invalid_cluster_provisioner_serves_nothing() -> None:
    world = World()
    world.add_environment()
    world.add({**LARGE, "spec": {"type": "postgres"}})  # neither crossplane nor template
    world.add_workload(resources={"db": {"type": "postgres", "class": "large"}})
    assert await world.reconcile() is None
    entry = world.status()["resources"][0]
    assert entry["state"] == "Failed"
    assert world.condition("Stalled")[0] == "True"
    assert resources.cluster_provisioners(world.runtime.cache) == []


async def test_a_resource_no_provisioner_serves_is_stalled() -> None:
    world = World()
    world.add_environment(provisioners=[POSTGRES])
    world.add_workload(resources={"cache": {"type": "memcached"}})
    assert await world.reconcile() is None
    entry = world.status()["resources"][0]
    assert (entry["name"], entry["state"]) == ("cache", "Failed")
    assert world.condition("Stalled") == ("True", entry["reason"])
    assert world.claims() == []


async def test_a_resource_whose_params_wait_for_another_ones_outputs_is_pending() -> None:
    world = World()
    world.add_environment(provisioners=[POSTGRES])
    world.add_workload(
        resources={
            "db": {"type": "postgres"},
            "replica": {"type": "postgres", "params": {"storageGB": "${resources.db.port}"}},
        }
    )
    assert await world.reconcile() == 2.0
    entries = {e["name"]: e for e in world.status()["resources"]}
    assert entries["replica"]["state"] == "Pending"
    assert entries["db"]["state"] == "Provisioning"
    assert len(world.claims()) == 1


async def test_resources_that_wait_for_each_other_are_not_provisioned() -> None:
    world = World()
    world.add_environment(provisioners=[POSTGRES])
    world.add_workload(
        resources={
            "a": {"type": "postgres", "params": {"storageGB": "${resources.b.port}"}},
            "b": {"type": "postgres", "params": {"storageGB": "${resources.a.port}"}},
        }
    )
    assert await world.reconcile() is None
    assert world.claims() == []
    assert world.condition("Stalled")[0] == "True"


async def test_the_test_only_crash_point(monkeypatch: pytest.MonkeyPatch) -> None:
    class Exited(Exception):
        pass

    def exit_(code: int) -> None:
        raise Exited(code)

    monkeypatch.setenv("BERTH_TEST_EXIT_AFTER_CLAIM", "1")
    monkeypatch.setattr(resources.os, "_exit", exit_)
    monkeypatch.setattr(resources, "_claims_created", 0)
    world = World()
    world.add_environment(provisioners=[POSTGRES])
    world.add_workload(resources={"db": {"type": "postgres"}})
    with pytest.raises(Exited):
        await world.reconcile()
    assert len(world.claims()) == 1  # made, and never listed on a status


def test_provisioning_time_is_measured_from_the_first_object_made() -> None:
    def observed() -> tuple[float, float]:
        labels = {"type": "test-type"}
        count = REGISTRY.get_sample_value("berth_provisioning_duration_seconds_count", labels)
        total = REGISTRY.get_sample_value("berth_provisioning_duration_seconds_sum", labels)
        return count or 0.0, total or 0.0

    now = datetime.datetime(2026, 1, 1, 0, 1, tzinfo=datetime.UTC)
    before = observed()
    observe_provisioning_time("test-type", None, [{"metadata": {}}], now)  # no stamp: nothing
    assert observed() == before
    made = {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}
    later = {"metadata": {"creationTimestamp": "2026-01-01T00:00:30Z"}}
    observe_provisioning_time("test-type", later, [made], now)
    assert observed() == (before[0] + 1, before[1] + 60.0)


# -- letting go of objects that changed meanwhile --------------------------------------------


@pytest.mark.parametrize("policy", ["Delete", "Orphan"])
async def test_letting_go_of_an_object_already_gone_says_nothing(policy: str) -> None:
    world = World()
    gone = claim("x", uid="u-1", labels=dict(LABELS))
    assert await let_go(world.runtime, gone, policy, "w") is None
    assert world.api.writes_log == []


async def test_orphaning_an_object_without_our_labels_writes_nothing() -> None:
    world = World()
    stored = world.add(claim("x"))
    assert await let_go(world.runtime, stored, "Orphan", "w") is None
    assert world.api.writes_log == []


async def test_retaining_an_object_twice_marks_it_once() -> None:
    world = World()
    stored = world.add(claim("x", labels=dict(LABELS)))
    assert await let_go(world.runtime, stored, "Retain", "w") == f"retained {CLAIM_KIND} x"
    marked = world.api.stored(CLAIM_API, CLAIM_KIND, "x", NAMESPACE)
    assert marked is not None
    assert marked["metadata"]["annotations"][RETAINED_ANNOTATION] == "w"
    world.api.forget_history()
    assert await let_go(world.runtime, marked, "Retain", "w") == f"retained {CLAIM_KIND} x"
    assert world.api.writes_log == []


async def test_release_skips_objects_already_gone() -> None:
    world = World()
    entry = {
        "name": "db",
        "type": "postgres",
        "objects": [
            {"apiVersion": CLAIM_API, "kind": CLAIM_KIND, "name": "x", "namespace": NAMESPACE}
        ],
    }
    assert await resources.release(world.runtime, NAMESPACE, "w", [entry], "Delete") == []


async def test_the_sweep_spares_what_is_going_retained_or_asked_for() -> None:
    world = World()
    world.add(claim("going", labels=dict(LABELS), finalizers=["x/y"]))
    await world.api.delete(CLAIM_API, CLAIM_KIND, "going", NAMESPACE)
    world.add(claim("kept", labels=dict(LABELS), annotations={RETAINED_ANNOTATION: "old"}))
    asked = world.add_workload("user", resources={"db": {"type": "postgres", "id": "main"}})
    identity = resources.identities_of_spec("user", asked["spec"])["db"]
    world.add(claim("wanted", labels={**LABELS, "berth.dev/resource": identity}))
    world.add(claim("stray", labels=dict(LABELS)))
    await world.sync()
    world.api.forget_history()

    done = await sweep(world.runtime, NAMESPACE, "Delete", [(CLAIM_API, CLAIM_KIND)])

    assert done == [
        f"deleted {CLAIM_KIND} stray (gone, resource gone-db-1): no Workload asks for it"
    ]
    assert world.api.written() == [("delete", CLAIM_KIND, "stray")]
    assert await sweep(world.runtime, NAMESPACE, "Retain", [(CLAIM_API, CLAIM_KIND)]) == []


async def test_the_inventory_is_looked_for_in_every_kind_the_statuses_list() -> None:
    world = World()
    body = world.add_workload()
    world.api.put(
        {
            **body,
            "status": {
                "resources": [
                    {
                        "name": "db",
                        "claim": {"apiVersion": "a/v1", "kind": "Claim", "name": "c"},
                        "objects": [{"apiVersion": "v1", "kind": "Secret", "name": "s"}, "junk"],
                    }
                ]
            },
        }
    )
    await world.sync()
    env = {"spec": {"provisioners": [{"crossplane": {"apiVersion": "b/v1", "kind": "B"}}, None]}}
    assert inventory_kinds(world.runtime, NAMESPACE, env, [("c/v1", "C")]) == {
        ("a/v1", "Claim"),
        ("v1", "Secret"),
        ("b/v1", "B"),
        ("c/v1", "C"),
    }


# -- shared resources: who else is concerned -------------------------------------------------


async def test_sharers_by_spec_and_by_status() -> None:
    world = World()
    shared = {"db": {"type": "postgres", "id": "main"}}
    world.add_workload("a", resources=shared)
    world.add_workload("b", resources=shared)
    world.add_workload("c", resources={"db": {"type": "postgres"}})
    going = world.add_workload("d", resources=shared)
    await world.sync()
    body = world.workload_body("a")
    assert sharers(world.runtime.cache, body) == [(NAMESPACE, "b"), (NAMESPACE, "d")]
    # What it had until now counts too: an id it just dropped.
    former = {
        **world.workload_body("c"),
        "status": {"resources": [{"name": "db", "type": "postgres", "id": "main"}]},
    }
    assert (NAMESPACE, "a") in sharers(world.runtime.cache, former)
    # Nothing shared: no walk over the namespace.
    lone = {**world.workload_body("c"), "spec": {"containers": {}}}
    assert sharers(world.runtime.cache, lone) == []

    world.api.put({**going, "metadata": {**going["metadata"], "finalizers": ["x/y"]}})
    await world.api.delete("berth.dev/v1alpha1", "Workload", "d", NAMESPACE)
    await world.sync()
    identity = resources.identities_of_spec("a", {"resources": shared})["db"]
    assert sorted(users_of(world.runtime, NAMESPACE, identity)) == ["a", "b"]


def test_a_definer_whose_plan_cannot_be_made_now_is_no_definition() -> None:
    env = environment(provisioners=[POSTGRES])
    invalid = {"metadata": {"name": "x", "namespace": NAMESPACE}, "spec": {"containers": 1}}
    assert definer_plan(invalid, env, "any") is None
    waiting = {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": "x", "namespace": NAMESPACE},
        "spec": {
            "containers": {"main": {"image": "i"}},
            "resources": {
                "db": {
                    "type": "postgres",
                    "id": "main",
                    "params": {"storageGB": "${resources.o.port}"},
                },
                "o": {"type": "postgres"},
            },
        },
    }
    identity = resources.identities_of_spec("x", waiting["spec"])["db"]
    assert definer_plan(waiting, env, identity) is None
    assert definer_plan(waiting, env, "not-asked-for") is None
