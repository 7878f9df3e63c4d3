"""The teardown order, as decisions on what is left."""

from __future__ import annotations

from typing import Any

from berth.names import CREATED_BY_ANNOTATION, RETAINED_ANNOTATION
from berth.preview.teardown import holding, plan_teardown

ENV = "team-a-dev-pr-1"


def obj(kind: str, name: str, *, deleting: bool = False, **meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **meta}
    if deleting:
        metadata["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    return {"kind": kind, "metadata": metadata}


def namespace(*, ours: bool = True, deleting: bool = False) -> dict[str, Any]:
    annotations = {CREATED_BY_ANNOTATION: ENV} if ours else {}
    return obj("Namespace", ENV, deleting=deleting, annotations=annotations)


def test_workloads_go_first() -> None:
    claim = obj("PostgreSQLInstance", "db")
    plan = plan_teardown(
        environment=ENV,
        workloads=[
            obj("Workload", "a"),
            obj("Workload", "b", deleting=True, finalizers=["berth.dev/cleanup"]),
        ],
        provisioned=[claim],
        namespace=namespace(),
    )
    assert plan.phase == "Workloads"
    assert plan.delete_workloads == ["a"]
    assert plan.delete_objects == []
    assert not plan.delete_namespace
    assert plan.waiting_for == ["Workload/b; waits on finalizers berth.dev/cleanup"]
    assert plan.status() == {"phase": "Workloads", "waitingFor": plan.waiting_for}


def test_then_what_was_provisioned_and_a_claim_that_will_not_go_is_named() -> None:
    stuck = obj(
        "PostgreSQLInstance",
        "db",
        deleting=True,
        finalizers=["finalizer.apiextensions.crossplane.io"],
    )
    stuck["status"] = {
        "conditions": [
            {"type": "Synced", "status": "True"},
            {
                "type": "Ready",
                "status": "False",
                "reason": "Deleting",
                "message": "provider cannot reach the database",
            },
        ]
    }
    fresh = obj("PostgreSQLInstance", "cache")
    plan = plan_teardown(
        environment=ENV, workloads=[], provisioned=[stuck, fresh], namespace=namespace()
    )
    assert plan.phase == "Resources"
    assert plan.delete_objects == [fresh]
    assert plan.waiting_for == [
        "PostgreSQLInstance/db; waits on finalizers finalizer.apiextensions.crossplane.io; "
        "Ready=False (Deleting): provider cannot reach the database"
    ]
    assert not plan.delete_namespace
    assert not plan.done


def test_then_the_namespace_berth_created() -> None:
    plan = plan_teardown(environment=ENV, workloads=[], provisioned=[], namespace=namespace())
    assert plan.phase == "Namespace"
    assert plan.delete_namespace
    waiting = plan_teardown(
        environment=ENV, workloads=[], provisioned=[], namespace=namespace(deleting=True)
    )
    assert waiting.phase == "Namespace"
    assert not waiting.delete_namespace
    assert waiting.waiting_for == [f"Namespace/{ENV} is being deleted"]
    done = plan_teardown(environment=ENV, workloads=[], provisioned=[], namespace=None)
    assert done.done
    assert done.namespace_kept is None


def test_a_namespace_berth_did_not_create_or_that_holds_retained_objects_stays() -> None:
    theirs = plan_teardown(
        environment=ENV, workloads=[], provisioned=[], namespace=namespace(ours=False)
    )
    assert theirs.done
    assert not theirs.delete_namespace
    assert theirs.namespace_kept == f"namespace {ENV} stays: Berth did not create it for {ENV}"
    retained = obj("PostgreSQLInstance", "db", annotations={RETAINED_ANNOTATION: "cart"})
    kept = plan_teardown(
        environment=ENV, workloads=[], provisioned=[retained], namespace=namespace()
    )
    assert kept.done
    assert not kept.delete_namespace
    assert kept.delete_objects == []
    assert kept.namespace_kept == f"namespace {ENV} stays: it holds retained PostgreSQLInstance/db"


def test_holding_says_what_it_can() -> None:
    assert holding(obj("X", "a", deleting=True)) == "X/a; is being deleted"
    unsynced = obj("X", "a", deleting=True)
    unsynced["status"] = {
        "conditions": [{"type": "Synced", "status": "False", "reason": "ReconcileError"}]
    }
    assert holding(unsynced) == "X/a; Synced=False (ReconcileError)"
