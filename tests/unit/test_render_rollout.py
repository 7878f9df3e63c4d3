"""Reading a Deployment's rollout (berth.render.rollout), one row per step it can be at."""

from __future__ import annotations

from typing import Any

import pytest

from berth.render.rollout import Rollout, rollout
from tests.unit.builders import TIMED_OUT, deployment

QUOTA = 'pods "checkout-5d4f-x" is forbidden: exceeded quota: q, requested: pods=1'


def replica_failure(message: str) -> dict[str, Any]:
    """A Deployment whose ReplicaSet cannot create Pods, in the API server's words."""
    dep = deployment(updated=0, total=0, ready=0, available=0)
    dep["status"]["conditions"].append(
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message}
    )
    return dep


def row(
    id_: str,
    dep: dict[str, Any] | None,
    desired: int,
    *,
    reason: str,
    message: str,
    counts: tuple[int, int, int],
    flags: tuple[bool, bool, bool],
) -> Any:
    """One step: the Deployment, then what the rollout says — its reason and message, its
    (ready, available, desired) counts and its (available, stalled, in_progress) flags."""
    ready, available, want = counts
    expected = Rollout(
        reason=reason, message=message, ready=ready, available_replicas=available, desired=want
    )
    return pytest.param(dep, desired, expected, flags, id=id_)


PENDING = "the rollout of Deployment checkout has not started yet"
DONE = (True, False, False)
GOING = (False, False, True)
STUCK = (False, True, False)

ROWS = [
    row(
        "no-deployment-is-in-progress",
        None,
        3,
        reason="DeploymentMissing",
        message="the Deployment does not exist yet",
        counts=(0, 0, 3),
        flags=GOING,
    ),
    row(
        "pending-while-generation-not-observed",
        deployment(generation=3, observed=2),
        2,
        reason="RolloutPending",
        message=PENDING,
        counts=(2, 2, 2),
        flags=GOING,
    ),
    row(
        "updated-below-desired",
        deployment(replicas=3, updated=1, total=3, ready=3, available=3),
        3,
        reason="RollingOut",
        message="1 of 3 replicas updated",
        counts=(3, 3, 3),
        flags=GOING,
    ),
    row(
        "old-replicas-pending-termination",
        deployment(replicas=2, updated=2, total=3, ready=3, available=3),
        2,
        reason="RollingOut",
        message="1 old replicas are pending termination",
        counts=(3, 3, 2),
        flags=GOING,
    ),
    row(
        "unavailable-replicas",
        deployment(replicas=2, ready=1, available=1),
        2,
        reason="ReplicasUnavailable",
        message="1 of 2 replicas available",
        counts=(1, 1, 2),
        flags=GOING,
    ),
    row(
        "available",
        deployment(replicas=2),
        2,
        reason="Available",
        message="2 of 2 replicas available",
        counts=(2, 2, 2),
        flags=DONE,
    ),
    # the Deployment says 3 although the caller thought 2: the Deployment is the fact
    row(
        "replicas-from-the-deployment-spec",
        deployment(replicas=3, updated=3, total=3, ready=2, available=2),
        2,
        reason="ReplicasUnavailable",
        message="2 of 3 replicas available",
        counts=(2, 2, 3),
        flags=GOING,
    ),
    row(
        "progress-deadline-exceeded-is-stalled",
        deployment(replicas=2, updated=2, ready=0, available=0, progressing=TIMED_OUT),
        2,
        reason="ProgressDeadlineExceeded",
        message="Deployment checkout exceeded its progress deadline: "
        'ReplicaSet "checkout-5d4f" has timed out progressing.',
        counts=(0, 0, 2),
        flags=STUCK,
    ),
    row(
        "progressing-condition-that-is-fine-is-not-stalled",
        deployment(
            progressing={"status": "True", "reason": "NewReplicaSetAvailable", "message": "ok"}
        ),
        2,
        reason="Available",
        message="2 of 2 replicas available",
        counts=(2, 2, 2),
        flags=DONE,
    ),
    row(
        "new-generation-after-deadline-is-pending-not-stalled",
        deployment(generation=4, observed=3, ready=0, available=0, progressing=TIMED_OUT),
        2,
        reason="RolloutPending",
        message=PENDING,
        counts=(0, 0, 2),
        flags=GOING,
    ),
    row(
        "replica-failure-surfaces-the-api-servers-words",
        replica_failure(QUOTA),
        2,
        reason="ReplicaFailure",
        message=f"Deployment checkout cannot create Pods: {QUOTA}",
        counts=(0, 0, 2),
        flags=GOING,
    ),
]


@pytest.mark.parametrize(("dep", "desired", "expected", "flags"), ROWS)
def test_rollout(
    dep: dict[str, Any] | None,
    desired: int,
    expected: Rollout,
    flags: tuple[bool, bool, bool],
) -> None:
    roll = rollout(dep, desired)
    assert roll == expected
    assert (roll.available, roll.stalled, roll.in_progress) == flags


def test_replica_failure_without_a_reason_says_so() -> None:
    dep = replica_failure("")
    dep["status"]["conditions"][-1]["reason"] = ""
    assert rollout(dep, 2).message == "Deployment checkout cannot create Pods: no reason given"


def test_a_replica_failure_once_every_replica_is_available_is_history() -> None:
    dep = deployment()
    dep["status"]["conditions"].append({"type": "ReplicaFailure", "status": "True"})
    assert rollout(dep, 2).reason == "Available"
