"""A Workload whose Environment is not there: waited for while the Workload is new,
reported (Stalled, with a message saying what to do) once it is not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from berth.handlers.workload_facts import ENVIRONMENT_GRACE_SECONDS
from berth.render.folding import FIRST_STATUS_WAIT_SECONDS
from tests.unit.builders import environment_dict
from tests.unit.world import World


@dataclass(frozen=True)
class Case:
    id: str
    age: float  # how long ago the Workload was created
    spec: dict[str, Any] = field(default_factory=dict)
    environments: tuple[dict[str, Any], ...] = ()
    reconciled_before: bool = False  # it has a status already
    requeue: float | None = None
    writes: tuple[tuple[str, str, str], ...] = ()
    ready: tuple[str, str] | None = None  # (status, reason) of Ready afterwards
    events: tuple[str, ...] = ()
    message: str = ""  # a part of Ready's message


def elsewhere() -> dict[str, Any]:
    env = environment_dict(namespace="team-b-dev")
    env["metadata"]["name"] = "team-b-dev"
    return env


STATUS_WRITE = (("apply", "Workload", "checkout"),)
CASES = [
    Case(
        "a Workload created a second ago waits for its Environment, writing nothing",
        age=1,
        requeue=ENVIRONMENT_GRACE_SECONDS / 4,
    ),
    Case(
        "once the grace period is over, it is Stalled",
        age=ENVIRONMENT_GRACE_SECONDS,
        writes=STATUS_WRITE,
        ready=("False", "EnvironmentNotFound"),
        events=("EnvironmentNotFound",),
        message="no Environment serves namespace 'team-a-dev'",
    ),
    Case(
        "a Workload reconciled before gets no grace, however young",
        age=1,
        reconciled_before=True,
        writes=STATUS_WRITE,
        ready=("False", "EnvironmentNotFound"),
        events=("EnvironmentNotFound",),
    ),
    Case(
        "an Environment named in spec.environment that does not exist",
        age=60,
        spec={"environment": "nope"},
        writes=STATUS_WRITE,
        ready=("False", "EnvironmentNotFound"),
        events=("EnvironmentNotFound",),
        message="Environment 'nope' (spec.environment) does not exist",
    ),
    Case(
        "a named Environment of another namespace is a mismatch, reported at once",
        age=1,
        spec={"environment": "team-b-dev"},
        environments=(elsewhere(),),
        writes=STATUS_WRITE,
        ready=("False", "EnvironmentMismatch"),
        events=("EnvironmentMismatch",),
        message="Environment 'team-b-dev' serves namespace 'team-b-dev', not 'team-a-dev'",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_environment_not_found(case: Case) -> None:
    world = World()
    for env in case.environments:
        world.add(env, age=600)
    world.add_workload(age=case.age, **case.spec)
    if case.reconciled_before:
        world.api.edit(
            "berth.dev/v1alpha1",
            "Workload",
            "checkout",
            "team-a-dev",
            {"status": {"observedGeneration": 1}},
            manager="berth",
            subresource="status",
        )

    assert await world.reconcile() == case.requeue

    assert world.written() == list(case.writes)
    assert world.events() == list(case.events)
    if case.ready is not None:
        assert world.condition("Ready") == case.ready
        assert world.condition("Stalled") == ("True", case.ready[1])
        assert case.message in world.message("Ready")
    else:
        assert "conditions" not in world.status()
    # Nothing of the Workload's is made while it has no Environment.
    assert world.api.of_kind("Deployment") == []


async def test_an_environment_that_comes_within_the_grace_period_is_used() -> None:
    world = World()
    world.add_workload(age=0)
    assert await world.reconcile() == ENVIRONMENT_GRACE_SECONDS / 4
    world.clock.advance(1)
    world.add_environment()
    # Its first status waits for the first rollout (FIRST_STATUS_WAIT_SECONDS from creation).
    assert await world.reconcile() == FIRST_STATUS_WAIT_SECONDS - 1
    assert world.written() == [("apply", "Deployment", "checkout")]
    world.roll_out()
    world.clock.advance(1)
    assert await world.reconcile() is None
    assert world.written() == [("apply", "Workload", "checkout")]
    assert world.condition("Ready") == ("True", "Ready")
    assert world.events() == []  # never Stalled, and its first report is Ready


async def test_a_stalled_workload_recovers_when_its_environment_comes() -> None:
    world = World()
    world.add_workload(age=60)
    await world.reconcile()
    assert world.condition("Stalled") == ("True", "EnvironmentNotFound")
    world.add_environment()
    await world.reconcile()
    assert world.condition("Stalled")[0] == "False"
    assert ("apply", "Deployment", "checkout") in world.written()
