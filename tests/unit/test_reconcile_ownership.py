"""An object is the Workload's only if Berth wrote it (berth.kube.ownership): our labels on
someone else's object make it NameTaken, nothing written over it, nothing pruned; what
Berth wrote for a former Workload of the name (orphaned, restored) is adopted. The same
for a resource's objects. And a child refused for good is not sent again until its
inputs change."""

from __future__ import annotations

import copy
from typing import Any

from berth.names import FIELD_MANAGER
from tests.unit.builders import NAMESPACE
from tests.unit.world import CLAIM_API, CLAIM_KIND, POSTGRES, WEB_SERVICE, World

OUR_LABELS = {"app.kubernetes.io/managed-by": "berth", "berth.dev/workload": "checkout"}


def spoofed_service() -> dict[str, Any]:
    """A Service a person made with kubectl and labelled as Berth's."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "checkout", "namespace": NAMESPACE, "labels": dict(OUR_LABELS)},
        "spec": {"selector": {"app": "checkout"}, "ports": [{"port": 83, "targetPort": 8083}]},
    }


async def test_our_labels_on_a_persons_service_make_it_name_taken() -> None:
    world = World()
    world.add_environment()
    world.add_workload(service=WEB_SERVICE)
    before = world.add(spoofed_service())

    assert await world.reconcile() is None

    assert world.condition("Ready") == ("False", "NameTaken")
    message = world.message("Ready")
    assert "Service checkout" in message
    assert "carries Berth's labels, but Berth did not write them (written by kubectl)" in message
    # Nothing of it changed, nothing was written but the status, and the status does
    # not list it as the Workload's.
    after = world.api.stored("v1", "Service", "checkout", NAMESPACE)
    assert after == before
    assert world.written() == [("apply", "Workload", "checkout")]
    assert all(o["kind"] != "Service" for o in world.status().get("managedObjects") or [])


async def test_a_persons_labelled_configmap_is_not_pruned() -> None:
    """Our labels on a ConfigMap the Workload does not ask for: not its child, so never
    pruned (it carries no owner reference of the Workload either)."""
    world = World()
    world.add_environment()
    world.add_workload()
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "checkout-extra", "namespace": NAMESPACE, "labels": OUR_LABELS},
        "data": {"precious": "yes"},
    }
    world.add(cm)
    await world.reconcile()
    assert world.api.stored("v1", "ConfigMap", "checkout-extra", NAMESPACE) is not None
    assert ("delete", "ConfigMap", "checkout-extra") not in world.written()


async def test_children_berth_wrote_for_a_former_workload_of_the_name_are_adopted() -> None:
    """Deleted with --cascade=orphan and created again: the children lost their owner
    references, Berth's apply entries stayed. The new Workload takes them over."""
    world = World()
    world.add_environment()
    old = world.add_workload(service=WEB_SERVICE)
    await world.reconcile()
    service = world.api.stored("v1", "Service", "checkout", NAMESPACE)
    assert service is not None
    # Orphaned: the garbage collector removed the owner reference; the Workload is gone.
    orphaned = copy.deepcopy(service)
    orphaned["metadata"].pop("ownerReferences")
    world.api.put(orphaned)
    await world.api.delete("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE)
    world.api.objects.pop(("berth.dev/v1alpha1", "Workload", NAMESPACE, "checkout"), None)
    new = world.add_workload(service=WEB_SERVICE)
    assert new["metadata"]["uid"] != old["metadata"]["uid"]

    await world.reconcile()

    assert world.condition("Ready")[1] != "NameTaken"
    adopted = world.api.stored("v1", "Service", "checkout", NAMESPACE)
    assert adopted is not None
    assert adopted["metadata"]["uid"] == service["metadata"]["uid"]
    assert [r["uid"] for r in adopted["metadata"]["ownerReferences"]] == [new["metadata"]["uid"]]


async def test_a_persons_claim_with_our_labels_is_name_taken_for_the_resource() -> None:
    world = World()
    world.add_environment(provisioners=[POSTGRES], deletionPolicy="Delete")
    world.add_workload(resources={"db": {"type": "postgres"}})
    # What Berth would name the claim: learnt from a first reconcile in another world.
    probe = World()
    probe.add_environment(provisioners=[POSTGRES])
    probe.add_workload(resources={"db": {"type": "postgres"}})
    await probe.reconcile()
    (planned,) = probe.claims()
    spoofed = {
        "apiVersion": CLAIM_API,
        "kind": CLAIM_KIND,
        "metadata": {
            "name": planned["metadata"]["name"],
            "namespace": NAMESPACE,
            "labels": dict(planned["metadata"]["labels"]),
        },
        "spec": {"parameters": {"storageGB": 500}},
    }
    before = world.add(spoofed)

    await world.reconcile()

    assert world.condition("Ready") == ("False", "NameTaken")
    (entry,) = world.status()["resources"]
    assert entry["reason"] == "NameTaken"
    assert "carries Berth's labels, but Berth did not write them" in entry["message"]
    assert world.api.stored(CLAIM_API, CLAIM_KIND, planned["metadata"]["name"], NAMESPACE) == before
    assert [w for w in world.written() if w[1] == CLAIM_KIND] == []

    # The Workload goes, under deletionPolicy Delete: the claim is not Berth's to delete.
    await world.api.delete("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE)
    await world.reconcile()
    assert world.api.stored(CLAIM_API, CLAIM_KIND, planned["metadata"]["name"], NAMESPACE)


async def test_a_claim_berth_wrote_and_orphaned_is_adopted_again() -> None:
    """deletionPolicy Orphan took the claim's managed-by and workload labels; Berth's apply
    still owns its resource label: the Workload created again uses it again."""
    world = World()
    world.add_environment(provisioners=[POSTGRES], deletionPolicy="Orphan")
    world.add_workload(resources={"db": {"type": "postgres"}})
    await world.reconcile()
    (claim,) = world.claims()
    await world.api.delete("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE)
    await world.reconcile()
    (orphaned,) = world.claims()
    assert "app.kubernetes.io/managed-by" not in orphaned["metadata"]["labels"]
    world.api.objects.pop(("berth.dev/v1alpha1", "Workload", NAMESPACE, "checkout"), None)

    world.add_workload(resources={"db": {"type": "postgres"}})
    await world.reconcile()

    (adopted,) = world.claims()
    assert adopted["metadata"]["uid"] == claim["metadata"]["uid"]
    assert adopted["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "berth"
    assert world.condition("Ready")[1] != "NameTaken"
    managers = {e["manager"] for e in adopted["metadata"]["managedFields"]}
    assert FIELD_MANAGER in managers


# -- a refused child is not sent again ---------------------------------------------------


async def test_a_refused_child_is_sent_again_only_when_its_inputs_change() -> None:
    world = World()
    world.add_environment()
    world.add_workload(service=WEB_SERVICE)
    world.api.refuse("apply", "Deployment", status=422, message="spec: Invalid value: -5")
    await world.reconcile()
    assert world.condition("Ready") == ("False", "ChildRejected")

    def sent() -> int:
        return sum(1 for c in world.api.calls if (c.verb, c.kind) == ("apply", "Deployment"))

    # Resyncs and neighbours' wake-ups: the same inputs, nothing sent again.
    for _ in range(3):
        await world.reconcile()
        assert sent() == 0, world.api.calls
    assert len(world.context.refusals) == 1

    # The Environment changes (its generation moves): sent once more, refused again.
    world.edit_environment(defaults={"replicas": 2})
    await world.reconcile()
    assert sent() == 1
    await world.reconcile()
    assert sent() == 0

    # Let through now, and the Workload changes: sent, applied, and forgotten.
    world.api.allow()
    world.edit_workload(service={"ports": {"web": {"port": 8080}}})
    await world.reconcile()
    assert ("apply", "Deployment", "checkout") in world.written()
    assert len(world.context.refusals) == 0
