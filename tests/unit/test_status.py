"""Status computation (berth.render.status): conditions, rollouts, events, Environments."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from berth.problems import Problem
from berth.render.pods import ContainerSummary, PodSummary
from berth.render.status import (
    CONDITION_ORDER,
    Observed,
    condition,
    environment_status,
    rollout,
    transitions,
    workload_status,
)

T0 = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T10:05:00Z"
T2 = "2024-05-01T10:10:00Z"


def deployment(
    *,
    replicas: int = 2,
    generation: int = 1,
    observed: int = 1,
    updated: int = 2,
    total: int = 2,
    ready: int = 2,
    available: int = 2,
    progressing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "conditions": [
            {
                "type": "Available",
                "status": "True" if available >= replicas else "False",
                "reason": "MinimumReplicasAvailable",
            }
        ],
    }
    if progressing is not None:
        status["conditions"].append({"type": "Progressing", **progressing})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "team-a-dev", "generation": generation},
        "spec": {"replicas": replicas},
        "status": status,
    }


TIMED_OUT = {
    "status": "False",
    "reason": "ProgressDeadlineExceeded",
    "message": 'ReplicaSet "checkout-5d4f" has timed out progressing.',
}


def by_type(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


# -- condition() ----------------------------------------------------------------------------


def test_condition_keeps_transition_time_when_status_unchanged() -> None:
    previous = [condition([], "Ready", False, "RollingOut", "1 of 2 updated", T0, 1)]
    again = condition(previous, "Ready", False, "ReplicasUnavailable", "1 of 2 available", T1, 2)
    assert again["lastTransitionTime"] == T0
    # everything else is the new state
    assert again == {
        "type": "Ready",
        "status": "False",
        "reason": "ReplicasUnavailable",
        "message": "1 of 2 available",
        "lastTransitionTime": T0,
        "observedGeneration": 2,
    }


def test_condition_takes_now_when_status_flips() -> None:
    previous = [condition([], "Ready", False, "RollingOut", "m", T0, 1)]
    flipped = condition(previous, "Ready", True, "Ready", "m", T1, 1)
    assert flipped["status"] == "True"
    assert flipped["lastTransitionTime"] == T1


def test_condition_only_looks_at_its_own_type() -> None:
    previous = [condition([], "Stalled", False, "Ready", "m", T0, 1)]
    assert condition(previous, "Ready", False, "RollingOut", "m", T1, 1)["lastTransitionTime"] == T1


# -- rollout() ------------------------------------------------------------------------------


def test_rollout_without_deployment_is_in_progress() -> None:
    roll = rollout(None, 3)
    assert (roll.available, roll.stalled, roll.in_progress) == (False, False, True)
    assert roll.reason == "DeploymentMissing"
    assert (roll.ready, roll.available_replicas, roll.desired) == (0, 0, 3)


def test_rollout_pending_while_generation_not_observed() -> None:
    roll = rollout(deployment(generation=3, observed=2), 2)
    assert roll.reason == "RolloutPending"
    assert (roll.available, roll.in_progress, roll.stalled) == (False, True, False)


def test_rollout_updated_below_desired() -> None:
    roll = rollout(deployment(replicas=3, updated=1, total=3, ready=3, available=3), 3)
    assert roll.reason == "RollingOut"
    assert roll.message == "1 of 3 replicas updated"
    assert not roll.available
    assert roll.in_progress


def test_rollout_old_replicas_pending_termination() -> None:
    roll = rollout(deployment(replicas=2, updated=2, total=3, ready=3, available=3), 2)
    assert roll.reason == "RollingOut"
    assert roll.message == "1 old replicas are pending termination"
    assert not roll.available


def test_rollout_unavailable_replicas() -> None:
    roll = rollout(deployment(replicas=2, ready=1, available=1), 2)
    assert roll.reason == "ReplicasUnavailable"
    assert roll.message == "1 of 2 replicas available"
    assert (roll.available, roll.in_progress, roll.stalled) == (False, True, False)
    assert (roll.ready, roll.available_replicas) == (1, 1)


def test_rollout_available() -> None:
    roll = rollout(deployment(replicas=2), 2)
    assert roll.reason == "Available"
    assert (roll.available, roll.in_progress, roll.stalled) == (True, False, False)
    assert (roll.ready, roll.available_replicas, roll.desired) == (2, 2, 2)


def test_rollout_takes_replicas_from_the_deployment_spec() -> None:
    # the Deployment says 3 although the caller thought 2: the Deployment is the fact
    roll = rollout(deployment(replicas=3, updated=3, total=3, ready=2, available=2), 2)
    assert roll.desired == 3
    assert roll.reason == "ReplicasUnavailable"


def test_rollout_progress_deadline_exceeded_is_stalled() -> None:
    roll = rollout(
        deployment(replicas=2, updated=2, ready=0, available=0, progressing=TIMED_OUT), 2
    )
    assert roll.reason == "ProgressDeadlineExceeded"
    assert (roll.stalled, roll.available, roll.in_progress) == (True, False, False)
    assert "checkout" in roll.message
    assert "timed out progressing" in roll.message


def test_rollout_progressing_condition_that_is_fine_is_not_stalled() -> None:
    fine = {"status": "True", "reason": "NewReplicaSetAvailable", "message": "ok"}
    assert rollout(deployment(progressing=fine), 2).available


def test_rollout_new_generation_after_deadline_is_pending_not_stalled() -> None:
    fixed = deployment(generation=4, observed=3, ready=0, available=0, progressing=TIMED_OUT)
    roll = rollout(fixed, 2)
    assert roll.reason == "RolloutPending"
    assert not roll.stalled


# -- workload_status() ----------------------------------------------------------------------


def test_problem_is_stalled_and_not_ready_with_its_reason() -> None:
    problem = Problem("ImageNotAllowed", "container 'main': image docker.io/x is not allowed")
    status = workload_status(
        Observed(generation=3, environment="team-a-dev", problem=problem), None, T0
    )
    conds = by_type(status)
    assert conds["Ready"]["status"] == "False"
    assert conds["Ready"]["reason"] == "ImageNotAllowed"
    assert conds["Ready"]["message"] == problem.message
    assert conds["Stalled"]["status"] == "True"
    assert conds["Stalled"]["reason"] == "ImageNotAllowed"
    assert conds["Reconciling"]["status"] == "False"
    assert conds["InputsValid"]["status"] == "False"
    assert "ResourcesReady" not in conds
    assert "Available" not in conds  # no Deployment, nothing to say about it
    assert "left as it was" not in conds["Stalled"]["message"]
    assert all(c["observedGeneration"] == 3 for c in status["conditions"])
    assert status["observedGeneration"] == 3
    assert status["environment"] == "team-a-dev"


def test_problem_with_running_deployment_says_it_is_left_alone() -> None:
    problem = Problem("InvalidPlaceholder", "container 'main' variable 'X': bad")
    observed = Observed(
        generation=2, environment="team-a-dev", problem=problem, deployment=deployment()
    )
    conds = by_type(workload_status(observed, None, T0))
    assert conds["Stalled"]["message"].startswith(problem.message)
    assert conds["Stalled"]["message"].endswith("; the running Deployment is left as it was")
    # The Deployment keeps running and says so
    assert conds["Available"]["status"] == "True"
    assert conds["Ready"]["status"] == "False"


def test_resources_problem_is_reconciling_not_stalled() -> None:
    waiting = Problem("OutputsUnavailable", "waiting for the outputs of resource 'db'")
    observed = Observed(generation=1, environment="e", resources_problem=waiting)
    conds = by_type(workload_status(observed, None, T0))
    assert conds["InputsValid"]["status"] == "True"
    assert conds["ResourcesReady"] == conds["ResourcesReady"] | {
        "status": "False",
        "reason": "OutputsUnavailable",
    }
    assert conds["Ready"]["status"] == "False"
    assert conds["Ready"]["reason"] == "OutputsUnavailable"
    assert conds["Reconciling"]["status"] == "True"
    assert conds["Reconciling"]["reason"] == "OutputsUnavailable"
    assert conds["Stalled"]["status"] == "False"


def test_progressing_rollout() -> None:
    observed = Observed(
        generation=1,
        environment="e",
        deployment=deployment(replicas=2, ready=1, available=1),
        desired_replicas=2,
    )
    status = workload_status(observed, None, T0)
    conds = by_type(status)
    assert conds["Ready"]["status"] == "False"
    assert conds["Ready"]["reason"] == "ReplicasUnavailable"
    assert conds["Reconciling"]["status"] == "True"
    assert conds["Stalled"]["status"] == "False"
    assert conds["Available"]["status"] == "False"
    assert conds["ResourcesReady"]["message"] == "no resources requested"
    assert status["replicas"] == {"desired": 2, "ready": 1, "available": 1, "summary": "1/2"}


def test_no_deployment_yet_is_reconciling() -> None:
    status = workload_status(Observed(generation=1, environment="e", desired_replicas=2), None, T0)
    conds = by_type(status)
    assert conds["Ready"]["reason"] == "DeploymentMissing"
    assert conds["Reconciling"]["status"] == "True"
    assert status["replicas"]["summary"] == "0/2"


def test_ready_workload() -> None:
    observed = Observed(
        generation=5,
        environment="team-a-dev",
        deployment=deployment(replicas=2),
        desired_replicas=2,
        endpoint="checkout.team-a-dev.svc.cluster.local:80",
        managed_objects=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}],
        resources=[{"name": "db", "type": "postgres"}],
    )
    status = workload_status(observed, None, T0)
    conds = by_type(status)
    assert conds["Ready"] == {
        "type": "Ready",
        "status": "True",
        "reason": "Ready",
        "message": "2 of 2 replicas available",
        "lastTransitionTime": T0,
        "observedGeneration": 5,
    }
    assert conds["Reconciling"]["status"] == "False"
    assert conds["Stalled"]["status"] == "False"
    assert conds["Available"]["status"] == "True"
    assert conds["ResourcesReady"]["message"] == "1 resource(s) ready"
    assert status["endpoint"] == "checkout.team-a-dev.svc.cluster.local:80"
    assert status["managedObjects"] == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}
    ]
    assert status["resources"] == [{"name": "db", "type": "postgres"}]
    assert status["replicas"]["summary"] == "2/2"
    assert "url" not in status


def test_progress_deadline_makes_the_workload_stalled() -> None:
    observed = Observed(
        generation=1,
        environment="e",
        deployment=deployment(ready=0, available=0, progressing=TIMED_OUT),
        desired_replicas=2,
    )
    conds = by_type(workload_status(observed, None, T0))
    assert conds["Stalled"]["status"] == "True"
    assert conds["Stalled"]["reason"] == "ProgressDeadlineExceeded"
    assert conds["Ready"]["reason"] == "ProgressDeadlineExceeded"
    assert conds["Reconciling"]["status"] == "False"
    assert conds["InputsValid"]["status"] == "True"


def test_status_keeps_transition_times_across_reconciles() -> None:
    rolling = Observed(generation=1, environment="e", deployment=deployment(ready=1, available=1))
    first = workload_status(rolling, None, T0)
    second = workload_status(rolling, first, T1)
    assert second == first  # nothing changed, so nothing to write
    ready = Observed(generation=1, environment="e", deployment=deployment())
    third = workload_status(ready, second, T2)
    conds = by_type(third)
    assert conds["Ready"]["lastTransitionTime"] == T2
    assert conds["Reconciling"]["lastTransitionTime"] == T2
    assert conds["Stalled"]["lastTransitionTime"] == T0  # False all along
    assert conds["InputsValid"]["lastTransitionTime"] == T0


def test_workload_status_is_deterministic() -> None:
    def observed() -> Observed:
        return Observed(
            generation=2,
            environment="e",
            deployment=deployment(ready=1, available=1),
            managed_objects=[{"apiVersion": "v1", "kind": "Service", "name": "checkout"}],
        )

    previous = workload_status(observed(), None, T0)
    one = workload_status(observed(), copy.deepcopy(previous), T1)
    two = workload_status(observed(), copy.deepcopy(previous), T1)
    assert one == two
    assert repr(one) == repr(two)  # same key order too


@pytest.mark.parametrize(
    "observed",
    [
        Observed(generation=1, environment="e", problem=Problem("InvalidSpec", "m")),
        Observed(generation=1, environment="e", problem=Problem("X", "m"), deployment=deployment()),
        Observed(
            generation=1, environment="e", resources_problem=Problem("OutputsUnavailable", "m")
        ),
        Observed(generation=1, environment="e", deployment=deployment(ready=0, available=0)),
        Observed(generation=1, environment="e", deployment=deployment()),
    ],
    ids=["problem", "problem-running", "resources", "progressing", "ready"],
)
def test_conditions_come_in_a_fixed_order(observed: Observed) -> None:
    types = [c["type"] for c in workload_status(observed, None, T0)["conditions"]]
    assert types == [t for t in CONDITION_ORDER if t in types]
    assert types[:3] == ["Ready", "Reconciling", "Stalled"]
    assert len(types) == len(set(types))


def test_previous_conditions_in_another_order_do_not_change_the_order() -> None:
    observed = Observed(generation=1, environment="e", deployment=deployment())
    first = workload_status(observed, None, T0)
    shuffled = {**first, "conditions": list(reversed(first["conditions"]))}
    assert workload_status(observed, shuffled, T1) == first


# -- transitions() --------------------------------------------------------------------------


def status_of(observed: Observed, previous: dict[str, Any] | None, now: str) -> dict[str, Any]:
    return workload_status(observed, previous, now)


def test_first_not_ready_steps_post_no_event() -> None:
    missing = status_of(Observed(generation=1, environment="e", desired_replicas=2), None, T0)
    assert transitions(None, missing) == []
    rolling = status_of(
        Observed(generation=1, environment="e", deployment=deployment(ready=0, available=0)),
        missing,
        T1,
    )
    assert transitions(missing, rolling) == []
    waiting = status_of(
        Observed(
            generation=1, environment="e", resources_problem=Problem("OutputsUnavailable", "m")
        ),
        None,
        T0,
    )
    assert transitions(None, waiting) == []


def test_becoming_ready_posts_a_normal_event() -> None:
    rolling = status_of(
        Observed(generation=1, environment="e", deployment=deployment(ready=0, available=0)),
        None,
        T0,
    )
    ready = status_of(Observed(generation=1, environment="e", deployment=deployment()), rolling, T1)
    events = transitions(rolling, ready)
    assert len(events) == 1
    assert events[0].reason == "Ready"
    assert events[0].message == "2 of 2 replicas available"
    assert not events[0].warning


def test_ready_from_nothing_posts_an_event() -> None:
    ready = status_of(Observed(generation=1, environment="e", deployment=deployment()), None, T0)
    assert [e.reason for e in transitions(None, ready)] == ["Ready"]


def test_losing_ready_posts_a_warning() -> None:
    ready = status_of(Observed(generation=1, environment="e", deployment=deployment()), None, T0)
    degraded = status_of(
        Observed(generation=1, environment="e", deployment=deployment(ready=1, available=1)),
        ready,
        T1,
    )
    events = transitions(ready, degraded)
    assert len(events) == 1
    assert events[0].reason == "ReplicasUnavailable"
    assert events[0].warning


def test_becoming_stalled_posts_one_warning() -> None:
    ready = status_of(Observed(generation=1, environment="e", deployment=deployment()), None, T0)
    stalled = status_of(
        Observed(
            generation=2,
            environment="e",
            problem=Problem("ImageNotAllowed", "image x is not allowed"),
            deployment=deployment(),
        ),
        ready,
        T1,
    )
    events = transitions(ready, stalled)
    # one event, for the Stalled reason; losing Ready is the same news
    assert len(events) == 1
    assert events[0].reason == "ImageNotAllowed"
    assert events[0].warning
    assert "image x is not allowed" in events[0].message


def test_stalled_from_the_start_posts_a_warning() -> None:
    stalled = status_of(
        Observed(generation=1, environment="e", problem=Problem("InvalidSpec", "m")), None, T0
    )
    events = transitions(None, stalled)
    assert [(e.reason, e.warning) for e in events] == [("InvalidSpec", True)]


def test_stalled_reason_change_posts_a_new_warning() -> None:
    first = status_of(
        Observed(generation=1, environment="e", problem=Problem("InvalidSpec", "m")), None, T0
    )
    second = status_of(
        Observed(generation=2, environment="e", problem=Problem("ImageNotAllowed", "n")),
        first,
        T1,
    )
    events = transitions(first, second)
    assert [(e.reason, e.warning) for e in events] == [("ImageNotAllowed", True)]


def test_unchanged_status_posts_nothing() -> None:
    for observed in (
        Observed(generation=1, environment="e", problem=Problem("InvalidSpec", "m")),
        Observed(generation=1, environment="e", deployment=deployment()),
        Observed(generation=1, environment="e", deployment=deployment(ready=1, available=1)),
    ):
        first = status_of(observed, None, T0)
        second = status_of(observed, first, T1)
        assert transitions(first, second) == []


def test_leaving_stalled_for_progress_posts_nothing() -> None:
    stalled = status_of(
        Observed(generation=1, environment="e", problem=Problem("InvalidSpec", "m")), None, T0
    )
    rolling = status_of(
        Observed(generation=2, environment="e", deployment=deployment(ready=0, available=0)),
        stalled,
        T1,
    )
    assert transitions(stalled, rolling) == []


# -- Pods' own failures and ReplicaFailure ------------------------------------------------------

PULLING = 'Back-off pulling image "registry.acme.dev/app:nope"'


def pulling_pods(count: int = 2) -> list[PodSummary]:
    return [
        PodSummary(
            f"checkout-1-{i}",
            containers=(
                ContainerSummary(
                    "main", waiting_reason="ImagePullBackOff", waiting_message=PULLING
                ),
            ),
        )
        for i in range(count)
    ]


def test_pod_failure_is_the_ready_reason_while_reconciling() -> None:
    observed = Observed(
        generation=1,
        environment="e",
        deployment=deployment(ready=0, available=0, updated=2),
        pods=pulling_pods(),
    )
    conditions = by_type(workload_status(observed, None, T0))
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ImagePullBackOff"
    assert conditions["Ready"]["message"] == f"2 of 2 Pods: container main: {PULLING}"
    assert conditions["Reconciling"]["status"] == "True"
    assert conditions["Reconciling"]["reason"] == "ImagePullBackOff"
    assert conditions["Stalled"]["status"] == "False"
    assert conditions["Available"]["reason"] == "ReplicasUnavailable"


def test_pod_failures_do_not_matter_once_the_rollout_is_available() -> None:
    observed = Observed(
        generation=1, environment="e", deployment=deployment(), pods=pulling_pods(1)
    )
    assert by_type(workload_status(observed, None, T0))["Ready"]["status"] == "True"


def test_pod_failure_after_the_progress_deadline_is_stalled_and_keeps_the_pods_words() -> None:
    observed = Observed(
        generation=1,
        environment="e",
        deployment=deployment(ready=0, available=0, progressing=TIMED_OUT),
        pods=pulling_pods(),
    )
    conditions = by_type(workload_status(observed, None, T0))
    assert conditions["Ready"]["reason"] == "ProgressDeadlineExceeded"
    assert PULLING in conditions["Ready"]["message"]
    assert conditions["Stalled"]["status"] == "True"
    assert conditions["Stalled"]["reason"] == "ProgressDeadlineExceeded"
    assert PULLING in conditions["Stalled"]["message"]


def test_replica_failure_surfaces_the_api_servers_words() -> None:
    dep = deployment(updated=0, total=0, ready=0, available=0)
    message = 'pods "checkout-5d4f-x" is forbidden: exceeded quota: q, requested: pods=1'
    dep["status"]["conditions"].append(
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message}
    )
    roll = rollout(dep, 2)
    assert roll.reason == "ReplicaFailure"
    assert roll.message == f"Deployment checkout cannot create Pods: {message}"
    assert not roll.stalled
    conditions = by_type(
        workload_status(Observed(generation=1, environment="e", deployment=dep), None, T0)
    )
    assert (conditions["Ready"]["reason"], conditions["Reconciling"]["status"]) == (
        "ReplicaFailure",
        "True",
    )


def test_a_pod_failure_posts_one_warning_when_it_first_appears() -> None:
    rolling_obs = Observed(
        generation=1, environment="e", deployment=deployment(ready=0, available=0)
    )
    failing_obs = Observed(
        generation=1,
        environment="e",
        deployment=deployment(ready=0, available=0),
        pods=pulling_pods(),
    )
    rolling = status_of(rolling_obs, None, T0)
    failing = status_of(failing_obs, rolling, T1)
    events = transitions(rolling, failing)
    assert [(e.reason, e.warning) for e in events] == [("ImagePullBackOff", True)]
    assert events[0].message == f"2 of 2 Pods: container main: {PULLING}"
    # the same failure again: no news; nor from nothing to failing twice
    assert transitions(failing, status_of(failing_obs, failing, T2)) == []
    assert [e.reason for e in transitions(None, status_of(failing_obs, None, T0))] == [
        "ImagePullBackOff"
    ]
    # fixed: Ready, one Normal event
    ready = status_of(Observed(generation=2, environment="e", deployment=deployment()), failing, T2)
    assert [(e.reason, e.warning) for e in transitions(failing, ready)] == [("Ready", False)]


def test_losing_ready_to_a_pod_failure_posts_one_warning() -> None:
    ready = status_of(Observed(generation=1, environment="e", deployment=deployment()), None, T0)
    failing = status_of(
        Observed(
            generation=1,
            environment="e",
            deployment=deployment(ready=0, available=0),
            pods=pulling_pods(),
        ),
        ready,
        T1,
    )
    assert [e.reason for e in transitions(ready, failing)] == ["ImagePullBackOff"]


# -- environment_status() -------------------------------------------------------------------


def env_status(**kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "generation": 1,
        "namespace": "team-a-dev",
        "namespace_ready": True,
        "problem": None,
        "workloads": 3,
        "ready_workloads": 2,
        "previous": None,
        "now": T0,
    }
    args.update(kwargs)
    return environment_status(**args)


def test_environment_ready() -> None:
    status = env_status()
    assert status["observedGeneration"] == 1
    assert status["namespace"] == "team-a-dev"
    assert (status["workloads"], status["readyWorkloads"]) == (3, 2)
    conds = by_type(status)
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Reconciling", "Stalled"]
    assert conds["Ready"]["status"] == "True"
    assert conds["Ready"]["message"] == "namespace team-a-dev is ready; 2 of 3 Workloads ready"
    assert conds["Reconciling"]["status"] == "False"
    assert conds["Stalled"]["status"] == "False"


def test_environment_namespace_not_ready() -> None:
    conds = by_type(env_status(namespace_ready=False))
    assert conds["Ready"]["status"] == "False"
    assert conds["Ready"]["reason"] == "NamespaceNotReady"
    assert conds["Reconciling"]["status"] == "True"
    assert conds["Stalled"]["status"] == "False"


def test_environment_problem_is_stalled() -> None:
    problem = Problem("NamespaceTaken", "namespace team-a-dev is served by Environment old")
    conds = by_type(env_status(problem=problem, namespace_ready=True))
    assert conds["Ready"] == conds["Ready"] | {"status": "False", "reason": "NamespaceTaken"}
    assert conds["Stalled"]["status"] == "True"
    assert conds["Stalled"]["message"] == problem.message
    assert conds["Reconciling"]["status"] == "False"


def test_environment_status_keeps_transition_times() -> None:
    first = env_status(namespace_ready=False)
    second = env_status(previous=first, now=T1)
    conds = by_type(second)
    assert conds["Ready"]["lastTransitionTime"] == T1  # flipped
    assert conds["Stalled"]["lastTransitionTime"] == T0  # False both times
    third = env_status(previous=second, now=T2, ready_workloads=3)
    assert by_type(third)["Ready"]["lastTransitionTime"] == T1
    assert env_status(previous=second, now=T2) == second


def test_a_refusal_that_is_retried_is_reconciling_not_stalled() -> None:
    problem = Problem(
        "ChildForbidden", "the API server refused (retrying) Service web (403): quota"
    )
    status = workload_status(Observed(generation=3, environment="dev", retrying=problem), None, T0)
    conds = by_type(status)
    assert conds["Ready"]["status"] == "False"
    assert conds["Ready"]["reason"] == "ChildForbidden"
    assert conds["Ready"]["message"] == problem.message
    assert conds["Reconciling"]["status"] == "True"
    assert conds["Stalled"]["status"] == "False"
    assert status["observedGeneration"] == 3


def test_a_retried_failure_posts_one_warning_when_it_first_shows() -> None:
    problem = Problem("ChildForbidden", "refused (retrying)")
    pending = workload_status(Observed(generation=1, environment="dev"), None, T0)
    failing = workload_status(
        Observed(generation=1, environment="dev", retrying=problem), pending, T0
    )
    events = transitions(pending, failing)
    assert [(e.reason, e.warning) for e in events] == [("ChildForbidden", True)]
    assert transitions(failing, failing) == []
