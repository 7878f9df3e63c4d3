"""handlers.promotion on the fake API: the checks before the write (each refusal leaves the
target untouched), approval, the write, and following the target to Ready."""

from __future__ import annotations

from typing import Any

import pytest

from berth.api.promotion import PromotionStatus
from berth.handlers.promotion import FOLLOW_SECONDS, RETRY_SECONDS
from berth.names import (
    ARGOCD_TRACKING_ANNOTATION,
    PROMOTED_REVISION_ANNOTATION,
    PROMOTION_ANNOTATION,
    PROMOTION_FIELD_MANAGER,
)
from tests.unit.pipeline_world import API, DIGEST, IMAGE, Pipeline

PINNED = f"{IMAGE}@{DIGEST}"


async def pipeline(**prod: Any) -> Pipeline:
    """dev's checkout Ready and recorded (revision 1); an empty prod."""
    world = Pipeline()
    world.add_environment("dev")
    world.add_environment("prod", **prod)
    world.add_workload("checkout", "dev")
    await world.make_ready("checkout", "dev", f"r/x@{DIGEST}")
    await world.record("checkout", "dev")
    return world


def only_status_written(world: Pipeline, name: str = "p1") -> None:
    assert world.api.written() == [("apply", "Promotion", name)]


async def test_a_promotion_creates_the_target_pinned_and_follows_it_to_ready() -> None:
    world = await pipeline()
    world.add_promotion("p1", "prod", **{"from": "dev"})
    assert await world.promote("p1", "prod") == FOLLOW_SECONDS
    target = world.body("Workload", "checkout", "prod")
    assert target["spec"] == {"containers": {"main": {"image": PINNED}}}
    assert target["metadata"]["annotations"] == {
        PROMOTION_ANNOTATION: "prod/p1",
        PROMOTED_REVISION_ANNOTATION: "dev/checkout-r1",
    }
    managers = {m["manager"] for m in target["metadata"]["managedFields"]}
    assert managers == {PROMOTION_FIELD_MANAGER}
    status = world.promotion_status("p1", "prod")
    PromotionStatus.model_validate(status)
    assert status["target"] == {"namespace": "prod", "name": "checkout", "generation": 1}
    assert (status["sourceRevision"], status["revisionNumber"]) == ("dev/checkout-r1", 1)
    assert world.ready("p1", "prod")[:2] == ("Progressing", "Progressing")
    # The target's rollout, then its revision: the Promotion follows.
    await world.make_ready("checkout", "prod")
    assert await world.promote("p1", "prod") == FOLLOW_SECONDS
    assert world.ready("p1", "prod")[0] == "Progressing"  # Ready, not recorded yet
    await world.record("checkout", "prod")
    assert await world.promote("p1", "prod") is None
    phase, reason, message = world.ready("p1", "prod")
    assert (phase, reason) == ("Succeeded", "Promoted")
    assert message == (
        "Workload prod/checkout is Ready at revision dev/checkout-r1 (recorded there as "
        "checkout-r1)"
    )
    assert world.promotion_status("p1", "prod")["completionTime"] == "2026-01-01T12:00:00Z"
    history = world.body("Workload", "checkout", "prod")["status"]["history"]
    assert history[0]["promotion"] == "prod/p1"
    assert await world.promote("p1", "prod") is None  # done: nothing more
    assert world.api.written() == []


async def test_an_existing_target_is_replaced_whole_on_the_version_checked() -> None:
    world = await pipeline()
    world.add_workload("checkout", "prod", replicas=2, resources={"cache": {"type": "redis"}})
    before = world.body("Workload", "checkout", "prod")
    world.add_promotion("p1", "prod", **{"from": "dev"})
    await world.promote("p1", "prod")
    after = world.body("Workload", "checkout", "prod")
    assert after["spec"] == {"containers": {"main": {"image": PINNED}}}
    assert after["metadata"]["generation"] == 2
    target = world.promotion_status("p1", "prod")["target"]
    assert target["resourceVersionBefore"] == before["metadata"]["resourceVersion"]
    assert ("update", "Workload", "checkout") in world.api.written()


async def test_a_target_changed_between_check_and_write_is_checked_again() -> None:
    world = await pipeline()
    world.add_workload("checkout", "prod")
    world.add_promotion("p1", "prod", **{"from": "dev"})
    world.api.refuse("update", "Workload", status=409, reason="Conflict", times=1)
    assert await world.promote("p1", "prod") == RETRY_SECONDS
    assert world.ready("p1", "prod")[0] == "Pending"
    assert await world.promote("p1", "prod") == FOLLOW_SECONDS
    assert world.ready("p1", "prod")[0] == "Progressing"


async def test_a_target_already_at_the_revision_is_not_written() -> None:
    world = await pipeline()
    world.add_workload("checkout", "prod", containers={"main": {"image": PINNED}})
    world.add_promotion("p1", "prod", **{"from": "dev"})
    await world.promote("p1", "prod")
    only_status_written(world)
    assert world.promotion_status("p1", "prod")["target"]["generation"] == 1


@pytest.mark.parametrize(
    ("prod", "spec", "reason", "words"),
    [
        (
            {"policy": {"maxReplicas": 0}},
            {"from": "dev"},
            "ReplicasAboveLimit",
            "Environment 'prod' cannot take the revision: replicas 1 (the Environment's default)",
        ),
        (
            {"promotion": {"from": ["staging"]}},
            {"from": "dev"},
            "PromotionPathNotAllowed",
            "does not accept promotions from 'dev' (spec.promotion.from: staging)",
        ),
        ({}, {"from": "dev", "revision": 7}, "RevisionNotFound", "has no revision 7"),
        ({}, {"from": "qa"}, "EnvironmentNotFound", "Environment 'qa' does not exist"),
        (
            {},
            {"from": "dev", "to": "dev"},
            "InvalidPromotion",
            "Environment 'dev' (spec.to) serves namespace 'dev', not 'prod'",
        ),
    ],
)
async def test_a_refused_promotion_fails_for_good_and_leaves_the_target_untouched(
    prod: dict[str, Any], spec: dict[str, Any], reason: str, words: str
) -> None:
    world = await pipeline(**prod)
    world.add_workload("checkout", "prod")
    before = world.body("Workload", "checkout", "prod")
    world.add_promotion("p1", "prod", **spec)
    assert await world.promote("p1", "prod") is None
    phase, found, message = world.ready("p1", "prod")
    assert (phase, found) == ("Failed", reason)
    assert words in message
    only_status_written(world)
    after = world.body("Workload", "checkout", "prod")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    conditions = {
        c["type"]: c["status"] for c in world.promotion_status("p1", "prod")["conditions"]
    }
    assert conditions == {"Ready": "False", "Reconciling": "False", "Stalled": "True"}
    assert await world.promote("p1", "prod") is None  # final
    assert world.api.written() == []
    assert world.api.event_reasons("p1") == [reason]


async def test_a_source_never_ready_and_a_missing_source_are_named() -> None:
    world = Pipeline()
    world.add_environment("dev")
    world.add_environment("prod")
    world.add_workload("checkout", "dev")
    world.add_promotion("p1", "prod", **{"from": "dev"})
    await world.promote("p1", "prod")
    assert world.ready("p1", "prod")[1] == "NoReadyRevision"
    world.add_promotion("p2", "prod", **{"from": "dev"}, workload="cart")
    world.api.edit(API, "Promotion", "p2", "prod", {"spec": {"workload": "cart"}})
    await world.promote("p2", "prod")
    assert world.ready("p2", "prod")[1:] == (
        "WorkloadNotFound",
        "Environment 'dev' has no Workload 'cart' (namespace 'dev')",
    )


async def test_a_target_synced_from_git_is_not_written() -> None:
    world = await pipeline()
    body = world.add_workload("checkout", "prod")
    body["metadata"]["annotations"] = {
        ARGOCD_TRACKING_ANNOTATION: "shop:berth.dev/Workload:prod/checkout"
    }
    world.api.put(body)
    world.add_promotion("p1", "prod", **{"from": "dev"})
    await world.promote("p1", "prod")
    phase, reason, message = world.ready("p1", "prod")
    assert (phase, reason) == ("Failed", "ManagedByGitOps")
    assert "`berth promote checkout --from dev --to prod --write <checkout>`" in message
    only_status_written(world)


async def test_approval_is_waited_for_and_recorded() -> None:
    world = await pipeline(promotion={"requireApproval": True})
    world.add_promotion("p1", "prod", **{"from": "dev"})
    # An approval left from an earlier Promotion of the same name does not count.
    world.world.add(
        {
            "apiVersion": API,
            "kind": "PromotionApproval",
            "metadata": {"name": "old", "namespace": "prod"},
            "spec": {"promotion": "p1", "approver": "someone"},
        },
        age=3600,
    )
    assert await world.promote("p1", "prod") == FOLLOW_SECONDS
    assert world.ready("p1", "prod")[:2] == ("WaitingForApproval", "AwaitingApproval")
    only_status_written(world)
    assert world.api.stored(API, "Workload", "checkout", "prod") is None
    world.world.add(
        {
            "apiVersion": API,
            "kind": "PromotionApproval",
            "metadata": {"name": "yes", "namespace": "prod"},
            "spec": {"promotion": "p1", "approver": "system:serviceaccount:prod:lead"},
        },
        age=1,
    )
    await world.promote("p1", "prod")
    status = world.promotion_status("p1", "prod")
    assert status["approvedBy"] == "system:serviceaccount:prod:lead"
    assert status["phase"] == "Progressing"
    assert world.api.stored(API, "Workload", "checkout", "prod") is not None


async def test_a_rollback_is_a_promotion_from_the_environment_itself() -> None:
    world = await pipeline(promotion={"from": []})
    world.edit("checkout", "dev", replicas=2)
    await world.make_ready("checkout", "dev")
    await world.record("checkout", "dev")
    world.add_promotion("back", "dev", **{"from": "dev", "revision": 1})
    await world.promote("back", "dev")
    assert world.body("Workload", "checkout", "dev")["spec"] == {
        "containers": {"main": {"image": PINNED}}
    }
    await world.make_ready("checkout", "dev")
    await world.record("checkout", "dev")
    await world.promote("back", "dev")
    assert world.ready("back", "dev")[0] == "Succeeded"
    status = world.body("Workload", "checkout", "dev")["status"]
    assert status["revision"]["name"] == "checkout-r1"  # no new revision: the old one again
    assert [(e["revision"], e.get("promotion")) for e in status["history"]] == [
        ("checkout-r1", "dev/back"),
        ("checkout-r2", None),
        ("checkout-r1", None),
    ]


async def test_a_target_changed_by_someone_else_supersedes_the_promotion() -> None:
    world = await pipeline()
    world.add_promotion("p1", "prod", **{"from": "dev"})
    await world.promote("p1", "prod")
    world.edit("checkout", "prod", replicas=3)
    await world.promote("p1", "prod")
    phase, reason, message = world.ready("p1", "prod")
    assert (phase, reason) == ("Failed", "Superseded")
    assert "was changed (generation 2) before it became Ready at generation 1" in message


async def test_a_stalled_target_fails_the_promotion_while_it_lasts() -> None:
    world = await pipeline()
    world.add_promotion("p1", "prod", **{"from": "dev"})
    await world.promote("p1", "prod")
    world.api.set_status(
        API,
        "Workload",
        "checkout",
        "prod",
        {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "ImagePullBackOff", "message": "x"},
                {"type": "Stalled", "status": "True", "reason": "ImagePullBackOff"},
            ],
        },
    )
    assert await world.promote("p1", "prod") == FOLLOW_SECONDS
    assert world.ready("p1", "prod")[:2] == ("Failed", "ImagePullBackOff")
    await world.make_ready("checkout", "prod")
    await world.record("checkout", "prod")
    await world.promote("p1", "prod")
    assert world.ready("p1", "prod")[0] == "Succeeded"


async def test_a_promotion_gone_or_invalid() -> None:
    world = await pipeline()
    assert await world.promote("nothing", "prod") is None
    world.add_promotion("bad", "prod", **{"from": "dev"})
    world.api.edit(API, "Promotion", "bad", "prod", {"spec": {"revision": "x"}})
    await world.promote("bad", "prod")
    assert world.ready("bad", "prod")[:2] == ("Failed", "InvalidPromotion")


async def test_no_environment_serves_the_namespace() -> None:
    world = await pipeline()
    world.add_promotion("p1", "nowhere", **{"from": "dev"})
    await world.promote("p1", "nowhere")
    assert world.ready("p1", "nowhere")[1] == "EnvironmentNotFound"


async def test_a_young_promotion_looks_again_for_what_the_watches_may_not_have_brought() -> None:
    world = await pipeline()
    world.add_promotion("p1", "prod", age=1, **{"from": "qa"})
    assert await world.promote("p1", "prod") == RETRY_SECONDS
    phase, reason, message = world.ready("p1", "prod")
    assert (phase, reason) == ("Pending", "EnvironmentNotFound")
    assert message == "Environment 'qa' does not exist; looking again"
    world.world.clock.advance(10)
    assert await world.promote("p1", "prod") is None
    assert world.ready("p1", "prod")[:2] == ("Failed", "EnvironmentNotFound")


async def test_a_source_ready_at_a_generation_not_yet_recorded_is_waited_for() -> None:
    world = await pipeline()
    world.edit("checkout", "dev", replicas=2)
    await world.make_ready("checkout", "dev")  # Ready at generation 2, not recorded
    world.add_promotion("p1", "prod", **{"from": "dev"})
    assert await world.promote("p1", "prod") == RETRY_SECONDS
    phase, _, message = world.ready("p1", "prod")
    assert phase == "Pending"
    assert "Ready at generation 2; waiting for its revision to be recorded" in message
    await world.record("checkout", "dev")
    await world.promote("p1", "prod")
    assert world.promotion_status("p1", "prod")["revisionNumber"] == 2
