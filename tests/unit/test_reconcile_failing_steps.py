"""One step of a reconcile fails at a time (the API server answers 500 to its write):
the reconcile stops there and is retried, and the Workload's status says so — unless
the failing write is the status itself, or an Event, which never fails anything."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from berth.kube.client import ApiError
from berth.kube.finalizers import FINALIZER
from tests.unit.builders import NAMESPACE
from tests.unit.world import CLAIM_KIND, POSTGRES, World


@dataclass(frozen=True)
class Step:
    id: str
    verb: str
    kind: str
    subresource: str | None = None
    deleting: bool = False  # the Workload is being deleted (under deletionPolicy Delete)
    raises: bool = True
    reported: bool = True  # the failure shows on the status (Ready=False ReconcileError)


STEPS = [
    Step("our finalizer", "patch", "Workload", subresource=""),
    Step("a resource's claim", "apply", CLAIM_KIND),
    Step("a child", "apply", "Deployment"),
    Step("the status itself", "apply", "Workload", subresource="status", reported=False),
    Step("finalizing: the claim's deletion", "delete", CLAIM_KIND, deleting=True),
    Step("finalizing: our finalizer's removal", "patch", "Workload", "", deleting=True),
]


async def arranged(deleting: bool) -> World:
    world = World()
    world.add_environment(provisioners=[POSTGRES], deletionPolicy="Delete")
    world.add_workload(resources={"db": {"type": "postgres"}})
    if deleting:
        await world.reconcile()  # claim made, finalizer set
        await world.api.delete("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE)
    return world


@pytest.mark.parametrize("step", STEPS, ids=[s.id for s in STEPS])
async def test_a_failing_step(step: Step) -> None:
    world = await arranged(step.deleting)
    world.api.refuse(step.verb, step.kind, status=500, subresource=step.subresource)

    with pytest.raises(ApiError) as caught:
        await world.reconcile()
    assert caught.value.status == 500

    refused = [c for c in world.api.calls if (c.verb, c.kind) == (step.verb, step.kind)]
    assert refused, "the step was reached"
    assert len(set(refused)) == 1  # the same request, retried by the client
    if step.reported:
        assert world.condition("Ready") == ("False", "ReconcileError")
        assert world.condition("Reconciling") == ("True", "ReconcileError")
        assert "500" in world.message("Ready")
    else:
        assert "conditions" not in world.status()

    # Once the API server answers again, the next reconcile completes the work.
    world.api.allow()
    await world.reconcile()
    if step.deleting:
        assert world.api.stored("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE) is None
        assert world.claims() == []
    else:
        assert FINALIZER in world.workload_body()["metadata"]["finalizers"]
        assert len(world.claims()) == 1
        assert world.condition("Ready")[1] != "ReconcileError"


async def test_an_event_that_fails_fails_nothing() -> None:
    world = World()
    world.add_workload()  # no Environment: Stalled, which is said with an Event
    world.api.refuse("create", "Event", status=500)
    assert await world.reconcile() is None
    assert world.condition("Stalled") == ("True", "EnvironmentNotFound")
    assert world.events() == []


async def test_a_claim_that_cannot_be_read_fails_the_reconcile_before_any_write() -> None:
    world = await arranged(False)
    world.api.refuse("get", CLAIM_KIND, status=500)
    with pytest.raises(ApiError):
        await world.reconcile()
    assert world.claims() == []
    assert world.written() == [
        ("patch", "Workload", "checkout"),  # our finalizer comes first
        ("apply", "Workload", "checkout"),  # the report
    ]
    assert world.condition("Ready") == ("False", "ReconcileError")
