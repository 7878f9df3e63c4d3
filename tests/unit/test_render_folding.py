"""Fewer status writes: the steps of a rollout are said once (berth.render.folding)."""

from __future__ import annotations

from typing import Any

from berth.problems import Problem
from berth.render.events import transitions
from berth.render.folding import (
    FIRST_STATUS_WAIT_SECONDS,
    first_status_wait,
    only_rollout_progress,
    only_workload_counts,
)
from berth.render.status import Observed, environment_status, workload_status
from tests.unit.builders import T0, T1, T2, deployment


def status(
    generation: int = 1, previous: dict[str, Any] | None = None, now: str = T0, **kwargs: Any
) -> dict[str, Any]:
    observed: dict[str, Any] = {"generation": generation, "environment": "e", "desired_replicas": 1}
    observed.update(kwargs)
    return workload_status(Observed(**observed), previous, now)


def steps_of_a_new_workload() -> list[dict[str, Any]]:
    """What each reconcile computes while one replica rolls out, in order."""
    missing = status()
    pending = status(
        previous=missing,
        now=T1,
        deployment=deployment(replicas=1, observed=0, updated=0, total=0, ready=0, available=0),
    )
    rolling = status(
        previous=pending,
        now=T1,
        deployment=deployment(replicas=1, updated=0, total=0, ready=0, available=0),
    )
    unavailable = status(
        previous=rolling,
        now=T2,
        deployment=deployment(replicas=1, updated=1, total=1, ready=0, available=0),
    )
    ready = status(previous=unavailable, now=T2, deployment=deployment(replicas=1))
    return [missing, pending, rolling, unavailable, ready]


def written(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statuses that would be written, each judged against the last one written."""
    out: list[dict[str, Any]] = []
    for step in steps:
        if not out or (step != out[-1] and not only_rollout_progress(out[-1], step)):
            out.append(step)
    return out


def reason(status_: dict[str, Any]) -> str:
    return next(c["reason"] for c in status_["conditions"] if c["type"] == "Ready")


def test_a_new_workload_is_written_not_ready_once_then_ready() -> None:
    steps = steps_of_a_new_workload()
    assert [reason(s) for s in steps] == [
        "DeploymentMissing",
        "RolloutPending",
        "RollingOut",
        "ReplicasUnavailable",
        "Ready",
    ]
    assert [reason(s) for s in written(steps)] == ["DeploymentMissing", "Ready"]


def test_nothing_written_yet_is_always_written() -> None:
    assert not only_rollout_progress(None, status())
    assert not only_rollout_progress({}, status())


def test_a_new_generation_is_written_at_once_so_observed_generation_never_lags() -> None:
    ready = status(deployment=deployment(replicas=1))
    edited = status(
        generation=2,
        previous=ready,
        now=T1,
        deployment=deployment(replicas=1, generation=2, observed=1),
    )
    assert reason(edited) == "RolloutPending"
    assert not only_rollout_progress(ready, edited)
    # Even from one "on its way" to another.
    pending_again = status(
        generation=3,
        previous=edited,
        now=T1,
        deployment=deployment(replicas=1, generation=3, observed=2),
    )
    assert not only_rollout_progress(edited, pending_again)


def test_changed_replica_counts_are_written() -> None:
    one = status(
        desired_replicas=3,
        deployment=deployment(replicas=3, updated=3, total=3, ready=1, available=1),
    )
    two = status(
        desired_replicas=3,
        previous=one,
        now=T1,
        deployment=deployment(replicas=3, updated=3, total=3, ready=2, available=2),
    )
    assert reason(one) == reason(two) == "ReplicasUnavailable"
    assert not only_rollout_progress(one, two)


def test_failures_and_endings_are_never_folded() -> None:
    rolling = status(deployment=deployment(replicas=1, ready=0, available=0))
    deadline = status(
        previous=rolling,
        now=T1,
        deployment=deployment(
            replicas=1,
            ready=0,
            available=0,
            progressing={
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
            },
        ),
    )
    problem = status(previous=rolling, now=T1, problem=Problem("InvalidSpec", "bad"))
    waiting = status(
        previous=rolling,
        now=T1,
        resources_problem=Problem("OutputsUnavailable", "wait"),
        deployment=deployment(replicas=1, ready=0, available=0),
    )
    refused = status(
        previous=rolling,
        now=T1,
        retrying=Problem("ChildForbidden", "no"),
        deployment=deployment(replicas=1, ready=0, available=0),
    )
    ready = status(previous=rolling, now=T1, deployment=deployment(replicas=1))
    for later in (deadline, problem, waiting, refused, ready):
        assert not only_rollout_progress(rolling, later), reason(later)


def test_other_changes_while_rolling_out_are_written() -> None:
    rolling = status(deployment=deployment(replicas=1, ready=0, available=0))
    with_endpoint = status(
        previous=rolling,
        endpoint="web.ns.svc:80",
        deployment=deployment(replicas=1, updated=1, ready=0, available=0),
    )
    assert not only_rollout_progress(rolling, with_endpoint)


def test_a_new_spec_rolling_out_is_no_warning_and_ready_again_is_news() -> None:
    ready = status(deployment=deployment(replicas=1))
    edited = status(
        generation=2,
        previous=ready,
        now=T1,
        deployment=deployment(replicas=1, generation=2, observed=1),
    )
    assert transitions(ready, edited) == []
    again = status(
        generation=2,
        previous=edited,
        now=T2,
        deployment=deployment(replicas=1, generation=2, observed=2),
    )
    assert [(e.reason, e.warning) for e in transitions(edited, again)] == [("Ready", False)]
    # Losing Ready with no new spec (a Pod gone) is still a Warning.
    degraded = status(
        previous=ready, now=T1, deployment=deployment(replicas=1, ready=0, available=0)
    )
    assert [(e.reason, e.warning) for e in transitions(ready, degraded)] == [
        ("ReplicasUnavailable", True)
    ]


def environment(workloads: int, ready: int, **kwargs: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "generation": 1,
        "namespace": "team-a",
        "namespace_ready": True,
        "problem": None,
        "workloads": workloads,
        "ready_workloads": ready,
        "previous": None,
        "now": T0,
    }
    arguments.update(kwargs)
    return environment_status(**arguments)


def test_an_environments_counts_alone_are_told_apart_from_other_changes() -> None:
    base = environment(3, 1)
    assert only_workload_counts(base, environment(4, 2, previous=base, now=T1))
    assert not only_workload_counts(None, base)
    # Anything else is written at once: a new generation, the namespace, a problem.
    assert not only_workload_counts(base, environment(3, 1, generation=2, previous=base))
    assert not only_workload_counts(base, environment(3, 1, namespace_ready=False, previous=base))
    problem = environment(3, 1, problem=Problem("InvalidSpec", "bad"), previous=base)
    assert not only_workload_counts(base, problem)


def test_a_young_rollouts_counts_going_up_and_down_are_folded_then_written() -> None:
    # T0 is when Ready turned False; a surge Pod makes two ready replicas of one.
    one = status(deployment=deployment(replicas=1, updated=0, total=1, ready=1, available=1))
    surge = status(
        previous=one,
        now=T0,
        deployment=deployment(replicas=1, updated=1, total=2, ready=2, available=2),
    )
    assert one["replicas"] != surge["replicas"]
    assert only_rollout_progress(one, surge, "2024-05-01T10:00:09Z")
    assert not only_rollout_progress(one, surge, "2024-05-01T10:00:10Z")
    assert not only_rollout_progress(one, surge)  # no time given: counts are news


def test_a_new_workloads_first_status_waits_briefly_for_a_quick_rollout() -> None:
    created, one_second_later = "2024-05-01T10:00:00Z", "2024-05-01T10:00:01Z"
    rolling = status(
        now=one_second_later,
        deployment=deployment(replicas=1, updated=1, total=1, ready=0, available=0),
    )
    assert first_status_wait(None, rolling, created, one_second_later) == (
        FIRST_STATUS_WAIT_SECONDS - 1
    )
    # Written once the wait is over: a slow rollout still says it is on its way.
    assert first_status_wait(None, rolling, created, "2024-05-01T10:00:05Z") is None
    assert first_status_wait(None, rolling, "", one_second_later) is None  # no stamp: now


def test_only_a_first_status_that_says_rolling_out_waits() -> None:
    created = now = "2024-05-01T10:00:00Z"
    ready = status(now=now, deployment=deployment(replicas=1))
    assert first_status_wait(None, ready, created, now) is None
    stalled = status(now=now, problem=Problem("ImageNotAllowed", "no"))
    assert first_status_wait(None, stalled, created, now) is None
    # A Workload that has a status already (an edit, a restart) is written at once.
    rolling = status(now=now)
    assert first_status_wait(None, rolling, created, now) == FIRST_STATUS_WAIT_SECONDS
    assert first_status_wait(ready, rolling, created, now) is None
