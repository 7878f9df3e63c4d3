"""A Workload's and an Environment's status (berth.render.status): conditions, replicas,
the Pods' own failures, and what stays when the inputs are wrong."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from berth.problems import Problem
from berth.render.conditions import CONDITION_ORDER
from berth.render.status import Observed, environment_status, workload_status
from tests.unit.builders import (
    PULLING,
    T0,
    T1,
    T2,
    TIMED_OUT,
    by_type,
    deployment,
    pulling_pods,
)


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
    # the rollout's reading of it: tests/unit/test_render_rollout.py
    conditions = by_type(
        workload_status(Observed(generation=1, environment="e", deployment=dep), None, T0)
    )
    assert (conditions["Ready"]["reason"], conditions["Reconciling"]["status"]) == (
        "ReplicaFailure",
        "True",
    )
    assert conditions["Ready"]["message"] == f"Deployment checkout cannot create Pods: {message}"
    assert conditions["Stalled"]["status"] == "False"


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
