"""An Environment's policy changes under a running Workload: the Workload is Stalled with
the reason, and what it runs keeps running untouched (bad input never costs data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.unit.builders import NAMESPACE
from tests.unit.world import World


@dataclass(frozen=True)
class Case:
    id: str
    policy: dict[str, Any]
    reason: str
    message: str


CASES = [
    Case(
        "fewer replicas allowed than the Workload runs",
        {"maxReplicas": 2},
        "ReplicasAboveLimit",
        "replicas 3 is above the maximum of 2 that Environment 'team-a-dev' allows",
    ),
    Case(
        "its registry no longer allowed",
        {"allowedRegistries": ["registry.other.dev/"]},
        "ImageNotAllowed",
        "container 'main' image 'registry.acme.dev/checkout:1.4.2' is not from a registry",
    ),
    Case(
        "limits now required",
        {"requireLimits": True},
        "LimitsRequired",
        "container 'main' has no cpu and memory limit",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_policy_change_that_forbids_a_running_workload(case: Case) -> None:
    world = World()
    world.add_environment()
    world.add_workload(replicas=3)
    await world.reconcile()
    world.roll_out()
    await world.reconcile()
    assert world.condition("Ready") == ("True", "Ready")
    before = world.api.stored("apps/v1", "Deployment", "checkout", NAMESPACE)

    world.edit_environment(policy=case.policy)
    assert await world.reconcile() is None  # Stalled: no polling, the next change wakes it

    assert world.written() == [("apply", "Workload", "checkout")]
    assert world.condition("Stalled") == ("True", case.reason)
    assert world.condition("Ready") == ("False", case.reason)
    assert world.condition("InputsValid") == ("False", case.reason)
    assert case.message in world.message("Stalled")
    assert "the running Deployment is left as it was" in world.message("Stalled")
    assert world.events()[-1] == case.reason
    assert world.api.stored("apps/v1", "Deployment", "checkout", NAMESPACE) == before
    # Its replicas still count as they are.
    assert world.status()["replicas"]["ready"] == 3

    # The platform team takes it back: the Workload is Ready again, nothing rewritten.
    world.edit_environment(policy=None)
    await world.reconcile()
    assert world.written() == [("apply", "Workload", "checkout")]
    assert world.condition("Ready") == ("True", "Ready")
