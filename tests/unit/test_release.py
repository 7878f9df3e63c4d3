"""Letting go (berth.handlers.release): objects that changed or vanished meanwhile, the
sweep's exceptions, where the inventory is looked for, and which objects a resource the
Workload no longer asks for has — by its status and by the labels."""

from __future__ import annotations

from typing import Any

import pytest

from berth.api import Provisioner
from berth.handlers.release import inventory_kinds, let_go, release, sweep
from berth.kube.resources import RETAINED_ANNOTATION
from berth.provision.identity import identities_of_spec
from tests.unit.builders import NAMESPACE
from tests.unit.world import CLAIM_API, CLAIM_KIND, POSTGRES, World

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


@pytest.mark.parametrize("policy", ["Delete", "Orphan"])
async def test_letting_go_of_an_object_already_gone_says_nothing(policy: str) -> None:
    world = World()
    gone = claim("x", uid="u-1", labels=dict(LABELS))
    assert await let_go(world.api, gone, policy, "w") is None
    assert world.api.writes_log == []


async def test_orphaning_an_object_without_our_labels_writes_nothing() -> None:
    world = World()
    stored = world.add(claim("x"))
    assert await let_go(world.api, stored, "Orphan", "w") is None
    assert world.api.writes_log == []


async def test_retaining_an_object_twice_marks_it_once() -> None:
    world = World()
    stored = world.add(claim("x", labels=dict(LABELS)), by_berth=True)
    assert await let_go(world.api, stored, "Retain", "w") == f"retained {CLAIM_KIND} x"
    marked = world.api.stored(CLAIM_API, CLAIM_KIND, "x", NAMESPACE)
    assert marked is not None
    assert marked["metadata"]["annotations"][RETAINED_ANNOTATION] == "w"
    world.api.forget_history()
    assert await let_go(world.api, marked, "Retain", "w") == f"retained {CLAIM_KIND} x"
    assert world.api.writes_log == []


@pytest.mark.parametrize("policy", ["Delete", "Orphan", "Retain"])
async def test_an_object_berth_did_not_write_is_never_let_go_of(policy: str) -> None:
    """Our labels on an object someone else made (kubectl create, then kubectl label):
    no policy deletes it, strips its labels or marks it."""
    world = World()
    stored = world.add(claim("x", labels=dict(LABELS)))
    assert await let_go(world.api, stored, policy, "w") is None
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
    assert await release(world.context, NAMESPACE, "w", [entry], "Delete") == []


async def test_the_sweep_spares_what_is_going_retained_or_asked_for() -> None:
    world = World()
    world.add(claim("going", labels=dict(LABELS), finalizers=["x/y"]), by_berth=True)
    await world.api.delete(CLAIM_API, CLAIM_KIND, "going", NAMESPACE)
    world.add(
        claim("kept", labels=dict(LABELS), annotations={RETAINED_ANNOTATION: "old"}), by_berth=True
    )
    asked = world.add_workload("user", resources={"db": {"type": "postgres", "id": "main"}})
    identity = identities_of_spec("user", asked["spec"])["db"]
    world.add(claim("wanted", labels={**LABELS, "berth.dev/resource": identity}), by_berth=True)
    world.add(claim("stray", labels=dict(LABELS)), by_berth=True)
    # Our labels, put there by someone else: Berth did not write it, and never takes it.
    world.add(claim("spoofed", labels=dict(LABELS)))
    await world.sync()
    world.api.forget_history()

    done = await sweep(world.context, NAMESPACE, "Delete", [(CLAIM_API, CLAIM_KIND)])

    assert done == [
        f"deleted {CLAIM_KIND} stray (gone, resource gone-db-1): no Workload asks for it"
    ]
    assert world.api.written() == [("delete", CLAIM_KIND, "stray")]
    assert await sweep(world.context, NAMESPACE, "Retain", [(CLAIM_API, CLAIM_KIND)]) == []


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
    provisioners = [
        Provisioner.model_validate(
            {"type": "b", "crossplane": {"apiVersion": "b/v1", "kind": "B"}}
        ),
        Provisioner.model_validate(
            {"type": "c", "crossplane": {"apiVersion": "c/v1", "kind": "C"}}
        ),
        Provisioner.model_validate({"type": "s", "secret": {"name": "s"}}),
    ]
    assert inventory_kinds(world.context.cache, NAMESPACE, provisioners) == {
        ("a/v1", "Claim"),
        ("v1", "Secret"),
        ("b/v1", "B"),
        ("c/v1", "C"),
    }


# -- a resource's objects: by its status and by the labels ---------------------------------


def db_claim(world: World, workload: str = "checkout") -> dict[str, Any]:
    """The claim of the Workload's resource db, as a crash before its status was written
    leaves it: labelled, listed nowhere."""
    identity = identities_of_spec(workload, {"resources": {"db": {"type": "postgres"}}})["db"]
    labels = {**LABELS, "berth.dev/workload": workload, "berth.dev/resource": identity}
    return world.add(claim(identity, labels=labels), by_berth=True)


async def test_a_removed_resource_lets_go_of_what_only_the_labels_know() -> None:
    """Its status entry lists no object (it was written before the claim was made): the
    labels say which claim is the resource's, and it goes at once, not at the next sweep."""
    world = World()
    world.add_environment(provisioners=[POSTGRES], deletionPolicy="Delete")
    body = world.add_workload(resources={"db": {"type": "postgres"}})
    made = db_claim(world)
    world.api.put({**body, "status": {"resources": [{"name": "db", "type": "postgres"}]}})
    world.context.provisioning.janitor.swept(NAMESPACE)  # not the once-per-namespace sweep
    world.edit_workload(resources=None)  # db removed
    await world.reconcile()
    assert ("delete", CLAIM_KIND, made["metadata"]["name"]) in world.written()
    assert world.claims() == []
    assert world.events()[0] == "ResourceReleased"


async def test_a_workload_deleted_under_retain_marks_what_only_the_labels_know() -> None:
    """A claim made just before a crash, never listed on a status: under Retain it is kept
    as what the Workload had, marked, so that no later sweep takes it."""
    world = World()
    world.add_environment(provisioners=[POSTGRES], deletionPolicy="Retain")
    body = world.add_workload(resources={"db": {"type": "postgres"}})
    made = db_claim(world)
    world.api.put(
        {
            **body,
            "metadata": {**body["metadata"], "finalizers": ["berth.dev/cleanup"]},
            "status": {"resources": [{"name": "db", "type": "postgres"}]},
        }
    )
    await world.api.delete("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE)
    await world.reconcile()
    [kept] = world.claims()
    assert kept["metadata"]["uid"] == made["metadata"]["uid"]
    assert kept["metadata"]["annotations"][RETAINED_ANNOTATION] == "checkout"
