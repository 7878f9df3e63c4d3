"""A Workload's children: made, left alone when nothing changed, restored when someone
else changed them, never written over when not ours, and refusals shown on the status."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from berth.handlers.workload import REFUSED_RETRY_SECONDS
from berth.kube.client import ApiError
from berth.render.folding import FIRST_STATUS_WAIT_SECONDS
from tests.unit.builders import NAMESPACE
from tests.unit.world import WEB_SERVICE, World


async def running_world(**spec: object) -> World:
    """An Environment and a Workload with a Service, reconciled and rolled out: Ready."""
    world = World()
    world.add_environment()
    world.add_workload(service=WEB_SERVICE, **spec)
    await world.reconcile()
    world.roll_out()
    await world.reconcile()
    assert world.condition("Ready") == ("True", "Ready")
    return world


async def test_a_new_workload_gets_its_children_then_becomes_ready() -> None:
    world = World()
    world.add_environment()
    world.add_workload(service=WEB_SERVICE)

    assert await world.reconcile() is None
    # The Service before the Deployment that uses it; then what happened, on the status.
    assert world.written() == [
        ("apply", "Service", "checkout"),
        ("apply", "Deployment", "checkout"),
        ("apply", "Workload", "checkout"),
    ]
    assert world.api.writes_log[-1].subresource == "status"
    assert world.condition("Ready") == ("False", "RolloutPending")
    assert world.condition("Reconciling")[0] == "True"
    assert world.status()["observedGeneration"] == 1
    assert [o["kind"] for o in world.status()["managedObjects"]] == ["Deployment", "Service"]
    deployment = world.api.stored("apps/v1", "Deployment", "checkout", NAMESPACE)
    assert deployment is not None
    owner = deployment["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"]) == ("Workload", world.workload_body()["metadata"]["uid"])
    assert world.events() == []  # the first steps of a new Workload are no news

    world.roll_out()
    assert await world.reconcile() is None
    assert world.written() == [("apply", "Workload", "checkout")]
    assert world.condition("Ready") == ("True", "Ready")
    assert world.events() == ["Ready"]


async def test_a_new_workloads_first_status_waits_a_moment_for_its_rollout() -> None:
    world = World()
    world.add_environment()
    world.add_workload(age=0)
    assert await world.reconcile() == FIRST_STATUS_WAIT_SECONDS
    assert world.written() == [("apply", "Deployment", "checkout")]
    assert "conditions" not in world.status()

    # Not quick: once the wait is over, "rolling out" is said.
    world.clock.advance(FIRST_STATUS_WAIT_SECONDS)
    assert await world.reconcile() is None
    assert world.written() == [("apply", "Workload", "checkout")]
    assert world.condition("Ready") == ("False", "RolloutPending")


async def test_a_reconcile_that_changes_nothing_writes_nothing() -> None:
    world = await running_world()
    assert await world.reconcile() is None
    assert world.written() == []
    assert [c for c in world.api.calls if c.verb != "get"] == []


async def test_a_reconcile_before_the_watches_catch_up_sees_its_own_writes() -> None:
    world = World()
    world.add_environment()
    world.add_workload(service=WEB_SERVICE)
    await world.reconcile()
    assert len(world.written()) == 3
    # The cache still shows no children and no status: what was written is remembered.
    assert await world.reconcile(caught_up=False) is None
    assert world.written() == []
    # And once the watches do bring the writes back, nothing changes either.
    assert await world.reconcile() is None
    assert world.written() == []


async def test_drift_is_corrected_and_said() -> None:
    world = await running_world()
    world.api.edit(
        "apps/v1", "Deployment", "checkout", NAMESPACE, {"spec": {"replicas": 7}}, manager="kubectl"
    )
    assert await world.reconcile() is None
    assert world.written() == [
        ("apply", "Deployment", "checkout"),
        ("apply", "Workload", "checkout"),
    ]
    deployment = world.api.stored("apps/v1", "Deployment", "checkout", NAMESPACE)
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 1
    # Said once; and the Deployment's new generation is a rollout to wait for.
    assert world.events() == ["Ready", "DriftCorrected", "RolloutPending"]
    assert world.api.events("checkout")[1] == (
        "Normal",
        "DriftCorrected",
        "Deployment checkout had been changed by someone else; restored to the Workload's spec",
    )
    world.roll_out()
    await world.reconcile()
    assert world.condition("Ready") == ("True", "Ready")
    assert world.written() == [("apply", "Workload", "checkout")]


async def test_another_writers_label_is_no_drift() -> None:
    world = await running_world()
    world.api.edit(
        "apps/v1",
        "Deployment",
        "checkout",
        NAMESPACE,
        {"metadata": {"labels": {"team": "a"}}},
        manager="kubectl",
    )
    assert await world.reconcile() is None
    assert world.written() == []
    assert "DriftCorrected" not in world.events()


async def test_a_child_no_longer_rendered_is_pruned() -> None:
    world = await running_world()
    world.edit_workload(service=None)
    await world.reconcile()
    assert ("delete", "Service", "checkout") in world.written()
    assert world.api.stored("v1", "Service", "checkout", NAMESPACE) is None
    assert [o["kind"] for o in world.status()["managedObjects"]] == ["Deployment"]


async def test_an_object_of_the_same_name_that_is_not_ours_is_left_alone() -> None:
    world = World()
    world.add_environment()
    world.add(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "checkout", "namespace": NAMESPACE},
            "spec": {"ports": [{"port": 1}]},
        }
    )
    world.add_workload(service=WEB_SERVICE)
    assert await world.reconcile() is None
    assert world.written() == [("apply", "Workload", "checkout")]
    assert world.condition("Stalled") == ("True", "NameTaken")
    assert "belongs to nobody Berth knows (written by kubectl)" in world.message("Ready")
    assert world.events() == ["NameTaken"]
    service = world.api.stored("v1", "Service", "checkout", NAMESPACE)
    assert service is not None
    assert service["spec"] == {"ports": [{"port": 1}]}


@dataclass(frozen=True)
class Refused:
    id: str
    status: int
    message: str
    reason: str  # the Ready condition's reason
    stalled: bool  # refused for good (Stalled) or retried (Reconciling)
    requeue: float | None


REFUSALS = [
    Refused(
        "403 Forbidden: retried, RBAC may be granted",
        403,
        'deployments.apps "checkout" is forbidden: User "system:serviceaccount:berth:berth" '
        'cannot patch resource "deployments" in API group "apps"',
        "ChildForbidden",
        False,
        REFUSED_RETRY_SECONDS,
    ),
    Refused(
        "403 from an admission webhook: refused until the Workload changes",
        403,
        'admission webhook "policy.acme.dev" denied the request: no latest tags',
        "ChildForbidden",
        True,
        None,
    ),
    Refused(
        "409 Conflict: retried",
        409,
        'Operation cannot be fulfilled on deployments.apps "checkout": the object has been '
        "modified; please apply your changes to the latest version and try again",
        "ChildConflict",
        False,
        REFUSED_RETRY_SECONDS,
    ),
    Refused(
        "422 Invalid: refused until the Workload changes",
        422,
        'Deployment.apps "checkout" is invalid: spec.template.spec.containers[0].image: '
        "Required value",
        "ChildRejected",
        True,
        None,
    ),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c.id for c in REFUSALS])
async def test_a_refused_child_is_shown_in_the_api_servers_words(case: Refused) -> None:
    world = World()
    world.add_environment()
    world.add_workload(service=WEB_SERVICE)
    world.api.refuse("apply", "Deployment", status=case.status, message=case.message)

    assert await world.reconcile() == case.requeue

    # The Service went first and stays; nothing after the refusal was written.
    assert world.written() == [("apply", "Service", "checkout"), ("apply", "Workload", "checkout")]
    assert world.condition("Ready") == ("False", case.reason)
    assert case.message in world.message("Ready")
    assert f"Deployment checkout ({case.status})" in world.message("Ready")
    assert world.condition("Stalled")[0] == ("True" if case.stalled else "False")
    assert [o["kind"] for o in world.status()["managedObjects"]] == ["Service"]
    assert world.events() == [case.reason]

    world.api.allow()
    if case.stalled:
        # Refused for good: not sent again while nothing it depends on changes (a
        # resync, a neighbour's wake-up), however often it is looked at.
        for _ in range(3):
            assert await world.reconcile() is None
            assert world.written() == []
        assert world.condition("Ready") == ("False", case.reason)
        # The Workload changes: sent once more, and let through this time.
        world.edit_workload(service={"ports": {"web": {"port": 8080}}})
    # Let through: the next reconcile makes the Deployment and clears the condition.
    assert await world.reconcile() is None
    assert ("apply", "Deployment", "checkout") in world.written()
    assert world.condition("Ready") == ("False", "RolloutPending")
    assert world.condition("Stalled")[0] == "False"


async def test_a_refused_child_of_a_running_workload_leaves_it_running() -> None:
    world = await running_world()
    world.api.refuse("apply", "Deployment", status=422, message="spec: Invalid value")
    world.edit_workload(containers={"main": {"image": "registry.acme.dev/checkout:2"}})
    assert await world.reconcile() is None
    assert world.condition("Stalled") == ("True", "ChildRejected")
    deployment = world.api.stored("apps/v1", "Deployment", "checkout", NAMESPACE)
    assert deployment is not None
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.acme.dev/checkout:1.4.2"


async def test_an_unforeseen_error_is_reported_on_the_status_and_raised() -> None:
    world = World()
    world.add_environment()
    world.add_workload()
    world.api.refuse("apply", "Deployment", status=500, message="etcdserver: request timed out")
    with pytest.raises(ApiError) as caught:
        await world.reconcile()
    assert caught.value.status == 500
    assert world.written() == [("apply", "Workload", "checkout")]
    assert world.condition("Ready") == ("False", "ReconcileError")
    assert world.condition("Reconciling") == ("True", "ReconcileError")
    assert world.condition("Stalled") == ("False", "Retrying")
    assert "etcdserver: request timed out" in world.message("Ready")


async def test_an_error_that_also_prevents_the_report_is_raised_still() -> None:
    world = World()
    world.add_environment()
    world.add_workload()
    world.api.refuse(None, None, status=500)
    with pytest.raises(ApiError):
        await world.reconcile()
    assert world.written() == []


async def test_a_workload_gone_from_the_cache_is_nothing_to_do() -> None:
    world = World()
    world.add_environment()
    assert await world.reconcile("nobody") is None
    assert world.api.calls == []


async def test_an_invalid_workload_is_stalled_and_its_deployment_kept() -> None:
    world = await running_world()
    world.edit_workload(containers={"main": {"image": ""}, "bad name!": {"image": "x"}})
    assert await world.reconcile() is None
    assert world.written() == [("apply", "Workload", "checkout")]
    assert world.condition("Stalled") == ("True", "InvalidSpec")
    assert world.condition("InputsValid")[0] == "False"
    assert world.api.stored("apps/v1", "Deployment", "checkout", NAMESPACE) is not None


async def test_an_invalid_environment_stalls_its_workloads() -> None:
    world = await running_world()
    world.edit_environment(defaults={"replicas": "many"})
    assert await world.reconcile() is None
    assert world.condition("Stalled") == ("True", "EnvironmentInvalid")
    assert "the Environment spec is invalid" in world.message("Ready")
