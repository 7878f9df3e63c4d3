"""berth.promotion.preflight, .progress and .history: what a promotion checks before it
writes, the way it goes, and which revisions may go."""

from __future__ import annotations

from typing import Any

import pytest

from berth.api import ClusterProvisioner, Environment, Workload
from berth.names import ARGOCD_INSTANCE_LABEL, ARGOCD_TRACKING_ANNOTATION
from berth.problems import Problem
from berth.promotion.history import collectable, history_limit, with_entry
from berth.promotion.preflight import (
    gitops_problem,
    path_problem,
    preflight,
    problems_message,
    target_spec,
)
from berth.promotion.progress import (
    Step,
    conditions,
    eligible_approvals,
    follow,
    source_revision,
    waiting_for_approval,
)
from berth.reasons import Reason
from berth.render.policy import check_policy

A = "sha256:" + "a" * 64
IMAGE = f"registry.acme.dev/checkout:1.4@{A}"
POSTGRES = {"type": "postgres", "crossplane": {"apiVersion": "db.acme.dev/v1", "kind": "Pg"}}


def env(name: str = "prod", **spec: Any) -> Environment:
    body = {"type": "production", "namespace": f"team-{name}", **spec}
    return Environment.model_validate({"metadata": {"name": name}, "spec": body})


def template(**spec: Any) -> dict[str, Any]:
    return {"containers": {"main": {"image": IMAGE}}, **spec}


# -- target_spec, path, GitOps --------------------------------------------------------------


def test_the_target_spec_names_the_target_where_the_template_named_one() -> None:
    assert target_spec(template(environment="dev"), "prod", False)["environment"] == "prod"
    assert "environment" not in target_spec(template(), "prod", False)
    assert target_spec(template(), "prod", True)["environment"] == "prod"


def test_the_path_is_the_targets_from_list_and_a_rollback_always_passes() -> None:
    open_env = env()
    staged = env(promotion={"from": ["staging"]})
    closed = env(promotion={"from": []})
    assert path_problem("dev", open_env) is None
    assert path_problem("staging", staged) is None
    assert path_problem("prod", closed) is None  # a rollback
    problem = path_problem("dev", staged)
    assert problem == Problem(
        Reason.PROMOTION_PATH_NOT_ALLOWED,
        "Environment 'prod' does not accept promotions from 'dev' (spec.promotion.from: "
        "staging); promote along the pipeline, or ask the platform team to add it",
    )
    assert "(spec.promotion.from: none)" in (path_problem("dev", closed) or Problem("", "")).message


@pytest.mark.parametrize(
    ("meta", "found"),
    [
        ({"annotations": {ARGOCD_TRACKING_ANNOTATION: "app:berth.dev/Workload:p/c"}}, "annotation"),
        ({"labels": {ARGOCD_INSTANCE_LABEL: "shop"}}, "label"),
    ],
)
def test_a_target_synced_from_git_is_not_written(meta: dict[str, Any], found: str) -> None:
    target = {"metadata": {"name": "checkout", "namespace": "team-prod", **meta}}
    problem = gitops_problem(target, "berth promote checkout --from staging --to prod --write DIR")
    assert problem is not None
    assert problem.reason == Reason.MANAGED_BY_GIT_OPS
    assert f"synced from git ({found} " in problem.message
    assert "`berth promote checkout --from staging --to prod --write DIR`" in problem.message
    assert gitops_problem({"metadata": {"name": "c"}}, "x") is None
    assert gitops_problem(None, "x") is None


# -- preflight ------------------------------------------------------------------------------


def test_a_target_that_can_take_the_revision_has_no_problem() -> None:
    spec = template(resources={"db": {"type": "postgres"}})
    assert preflight(spec, "checkout", env(provisioners=[POSTGRES])) == []


def test_the_policy_answers_as_check_policy_does() -> None:
    strict = env(policy={"allowedRegistries": ["other.acme.dev/"], "maxReplicas": 1})
    spec = template(replicas=3)
    problems = preflight(spec, "checkout", strict)
    workload = Workload.model_validate(
        {"metadata": {"name": "checkout", "namespace": "team-prod"}, "spec": spec}
    )
    assert problems == check_policy(workload, strict)
    assert [p.reason for p in problems] == [Reason.IMAGE_NOT_ALLOWED, Reason.REPLICAS_ABOVE_LIMIT]


def test_a_resource_type_without_a_provisioner_is_named() -> None:
    spec = template(resources={"db": {"type": "postgres"}, "cache": {"type": "redis"}})
    problems = preflight(spec, "checkout", env(provisioners=[POSTGRES]))
    assert [p.reason for p in problems] == [Reason.NO_PROVISIONER]
    assert "resource 'cache' of type 'redis'" in problems[0].message


def test_a_cluster_provisioner_serves_as_it_does_for_the_workload() -> None:
    cluster = ClusterProvisioner.model_validate(
        {"metadata": {"name": "redis"}, "spec": {"type": "redis", "secret": {"name": "redis"}}}
    )
    spec = template(resources={"cache": {"type": "redis"}})
    assert preflight(spec, "checkout", env(), [cluster]) == []


def test_params_the_targets_provisioner_refuses_are_named() -> None:
    strict = {**POSTGRES, "crossplane": {**POSTGRES["crossplane"], "parameters": {"size": 1}}}
    spec = template(resources={"db": {"type": "postgres", "params": {"replicas": 3}}})
    problems = preflight(spec, "checkout", env(provisioners=[strict]))
    assert [p.reason for p in problems] == [Reason.PARAM_NOT_ALLOWED]


def test_a_template_the_schema_refuses_is_invalid_spec() -> None:
    (problem,) = preflight({"containers": {}}, "checkout", env())
    assert problem.reason == Reason.INVALID_SPEC
    assert problem.message.startswith("the revision's spec is not a valid Workload here: ")


def test_the_message_names_every_problem_and_says_the_target_is_unchanged() -> None:
    problems = [Problem("A", "one"), Problem("B", "two")]
    assert problems_message(problems, "prod") == (
        "Environment 'prod' cannot take the revision: one; two; the target is unchanged"
    )


# -- progress -------------------------------------------------------------------------------


def revision(number: int) -> dict[str, Any]:
    return {"metadata": {"name": f"checkout-r{number}"}, "spec": {"revision": number}}


def source(current: str | None = None) -> dict[str, Any]:
    status = (
        {"revision": {"name": current, "number": 1, "workloadGeneration": 1}} if current else {}
    )
    return {"metadata": {"name": "checkout", "namespace": "team-dev"}, "status": status}


def test_the_source_revision_is_the_named_one_or_the_current_one() -> None:
    revisions = [revision(1), revision(2)]
    assert source_revision({"revision": 1}, source("checkout-r2"), revisions) == revision(1)
    assert source_revision({}, source("checkout-r2"), revisions) == revision(2)


def test_a_missing_revision_lists_those_there_are() -> None:
    problem = source_revision({"revision": 9}, source("checkout-r2"), [revision(2), revision(1)])
    assert problem == Problem(
        Reason.REVISION_NOT_FOUND,
        "Workload team-dev/checkout has no revision 9 (its revisions: 1, 2); name one it has, "
        "or leave spec.revision out for its current one",
    )
    gone = source_revision({}, source("checkout-r0"), [revision(2)])
    assert isinstance(gone, Problem)
    assert gone.reason == Reason.REVISION_NOT_FOUND


def test_a_source_never_ready_has_no_revision() -> None:
    problem = source_revision({}, source(), [])
    assert isinstance(problem, Problem)
    assert problem.reason == Reason.NO_READY_REVISION


def approval(name: str, promotion: str, created: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"promotion": promotion, "approver": "u"},
    }


def test_only_approvals_of_this_promotion_made_after_it_count() -> None:
    promotion = {"metadata": {"name": "p1", "creationTimestamp": "2026-01-01T10:00:00Z"}}
    approvals = [
        approval("late", "p1", "2026-01-01T10:05:00Z"),
        approval("old", "p1", "2026-01-01T09:00:00Z"),
        approval("other", "p2", "2026-01-01T10:01:00Z"),
        approval("same-second", "p1", "2026-01-01T10:00:00Z"),
    ]
    names = [a["metadata"]["name"] for a in eligible_approvals(promotion, approvals)]
    assert names == ["same-second", "late"]


def test_waiting_says_who_may_approve() -> None:
    waiting = waiting_for_approval("prod")
    assert (waiting.phase, waiting.reason) == ("WaitingForApproval", Reason.AWAITING_APPROVAL)
    assert "by a subject allowed to create one there (RBAC" in waiting.message


def target(
    generation: int, observed: int, ready: str, recorded: int | None = None, **extra: Any
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "conditions": [
            {"type": "Ready", "status": ready, "reason": "R", "message": "m"},
            *extra.get("more", []),
        ],
    }
    if recorded is not None:
        status["revision"] = {"name": "checkout-r4", "number": 4, "workloadGeneration": recorded}
    return {
        "metadata": {"name": "checkout", "namespace": "p", "generation": generation},
        "status": status,
    }


def test_following_the_target() -> None:
    assert follow(target(3, 2, "True"), 3, "d/c-r1").phase == "Progressing"
    assert follow(target(3, 3, "True"), 3, "d/c-r1").phase == "Progressing"  # not recorded yet
    done = follow(target(3, 3, "True", recorded=3), 3, "d/c-r1")
    assert (done.phase, done.reason) == ("Succeeded", Reason.PROMOTED)
    assert "recorded there as checkout-r4" in done.message
    stalled = target(3, 3, "False", more=[{"type": "Stalled", "status": "True", "reason": "S"}])
    assert (follow(stalled, 3, "r").phase, follow(stalled, 3, "r").reason) == ("Failed", "R")
    superseded = follow(target(4, 4, "True", recorded=4), 3, "r")
    assert (superseded.phase, superseded.reason) == ("Failed", Reason.SUPERSEDED)
    assert follow(None, 3, "r").reason == Reason.SUPERSEDED


def by_type(conds: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in conds}


def test_conditions_are_kstatus() -> None:
    now = "2026-01-01T10:00:00Z"
    assert by_type(conditions(Step("Progressing", "Progressing", "m"), None, now)) == {
        "Ready": ("False", "Progressing"),
        "Reconciling": ("True", "Progressing"),
        "Stalled": ("False", "Progressing"),
    }
    assert by_type(conditions(Step("Failed", "NoProvisioner", "m"), None, now)) == {
        "Ready": ("False", "NoProvisioner"),
        "Reconciling": ("False", "NoProvisioner"),
        "Stalled": ("True", "NoProvisioner"),
    }
    done = conditions(Step("Succeeded", "Promoted", "m"), None, now)
    assert by_type(done)["Ready"] == ("True", "Promoted")
    assert by_type(done)["Reconciling"] == ("False", "Ready")


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    first = conditions(Step("Progressing", "Progressing", "a"), None, "2026-01-01T10:00:00Z")
    later = conditions(
        Step("Progressing", "Progressing", "b"), {"conditions": first}, "2026-01-01T10:05:00Z"
    )
    assert {c["lastTransitionTime"] for c in later} == {"2026-01-01T10:00:00Z"}
    done = conditions(
        Step("Succeeded", "Promoted", "c"), {"conditions": later}, "2026-01-01T10:09:00Z"
    )
    ready = next(c for c in done if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == "2026-01-01T10:09:00Z"


# -- history --------------------------------------------------------------------------------


def test_the_limit_is_the_environments_or_ten() -> None:
    assert history_limit(None) == 10
    assert history_limit(env()) == 10
    assert history_limit(env(promotion={"revisionHistoryLimit": 3})) == 3


def test_the_oldest_unreferenced_revisions_go_first() -> None:
    revisions = [revision(n) for n in (5, 1, 2, 3, 4)]
    assert collectable(revisions, 5, set()) == []
    assert collectable(revisions, 3, set()) == ["checkout-r1", "checkout-r2"]
    assert collectable(revisions, 3, {"checkout-r1"}) == ["checkout-r2", "checkout-r3"]
    everything = {f"checkout-r{n}" for n in range(1, 6)}
    assert collectable(revisions, 1, everything) == []


def test_history_is_newest_first_and_bounded() -> None:
    history = [{"revision": "r2"}, {"revision": "r1"}]
    assert with_entry(history, {"revision": "r3"}, 2) == [{"revision": "r3"}, {"revision": "r2"}]
    assert with_entry(None, {"revision": "r1"}, 10) == [{"revision": "r1"}]
