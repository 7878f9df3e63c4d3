"""The less travelled paths of provisioning (berth.handlers.provisioning): the cluster's
catalogue, resources that cannot be planned yet or at all, the hook right after a claim
is made, and the provisioning time."""

from __future__ import annotations

import datetime

import pytest
from prometheus_client import REGISTRY

from berth.handlers.provisioning import observe_provisioning_time
from berth.provision import ClaimRef
from tests.statuscheck import crash_after_claims
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
    assert world.context.provisioning.catalogue.provisioners(world.context.cache) == []


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


async def test_the_hook_after_a_claim_is_made_runs_before_any_status_lists_it() -> None:
    """The Runtime's test hook (tests/statuscheck.py stops the operator there): called
    once per claim created, not for one that exists already."""

    class Exited(Exception):
        pass

    made: list[ClaimRef] = []

    def exit_after_first(claim: ClaimRef) -> None:
        made.append(claim)
        raise Exited(claim.name)

    world = World(after_claim_created=exit_after_first)
    world.add_environment(provisioners=[POSTGRES])
    world.add_workload(resources={"db": {"type": "postgres"}})
    with pytest.raises(Exited):
        await world.reconcile()
    assert len(world.claims()) == 1  # made, and never listed on a status
    assert "resources" not in world.status()
    assert [c.name for c in made] == [world.claims()[0]["metadata"]["name"]]
    await world.reconcile()  # the claim exists now: no hook
    assert len(made) == 1


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


def test_the_crash_point_ends_the_process_after_the_nth_claim() -> None:
    """tests/statuscheck.py's hook for BERTH_TEST_EXIT_AFTER_CLAIM=N."""
    exits: list[int] = []
    hook = crash_after_claims(2, exit=exits.append)
    claim = ClaimRef(CLAIM_API, CLAIM_KIND, "c", "ns")
    hook(claim)
    assert exits == []
    hook(claim)
    assert exits == [99]
