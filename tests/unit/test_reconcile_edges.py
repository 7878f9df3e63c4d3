"""The Workload reconcile's corners: a named Environment, failures reported once, a
rollout's progress not written step by step, a Workload deleted while we look, Events
that cannot be posted, a provisioner without a claim, and the real clock."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from berth.clock import SystemClock, parse_time, rfc3339
from berth.handlers import workload as workload_handler
from berth.handlers.common import deletion_policy, post_event, write_status_and_events
from berth.handlers.keys import WorkloadKey
from tests.unit.builders import NAMESPACE, environment_dict
from tests.unit.world import World


async def test_a_workload_that_names_its_environment_runs_in_it() -> None:
    world = World()
    world.add_environment()
    world.add_workload(environment="team-a-dev")
    await world.reconcile()
    assert ("apply", "Deployment", "checkout") in world.written()
    assert world.status()["environment"] == "team-a-dev"


async def test_a_cancelled_reconcile_reports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()
    world.add_environment()
    world.add_workload()
    await world.sync()

    async def cancelled(*_: object) -> float | None:
        raise asyncio.CancelledError

    monkeypatch.setattr(workload_handler, "reconcile_once", cancelled)
    with pytest.raises(asyncio.CancelledError):
        await workload_handler.reconcile(world.context, WorkloadKey(NAMESPACE, "checkout"))
    assert world.api.writes_log == []


async def test_a_failure_is_reported_once_and_not_for_a_workload_gone() -> None:
    world = World()
    world.add_environment()
    world.add_workload()
    await world.sync()
    key = WorkloadKey(NAMESPACE, "checkout")
    await workload_handler.report_failure(world.context, key, RuntimeError("boom"))
    assert world.written() == [("apply", "Workload", "checkout")]
    await world.sync()
    world.api.forget_history()
    await workload_handler.report_failure(world.context, key, RuntimeError("boom"))
    assert world.written() == []  # the same words: nothing to write
    await workload_handler.report_failure(
        world.context, WorkloadKey(NAMESPACE, "x"), RuntimeError()
    )
    assert world.api.calls == []


async def test_a_rollouts_progress_is_not_written_step_by_step() -> None:
    world = World()
    world.add_environment()
    world.add_workload(replicas=3)
    await world.reconcile()
    assert world.condition("Ready") == ("False", "RolloutPending")
    deployment = world.api.stored("apps/v1", "Deployment", "checkout", NAMESPACE)
    assert deployment is not None

    def progress(ready: int) -> None:
        world.api.set_status(
            "apps/v1",
            "Deployment",
            "checkout",
            NAMESPACE,
            {
                "observedGeneration": deployment["metadata"]["generation"],
                "replicas": 3,
                "updatedReplicas": 3,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "conditions": [
                    {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
                ],
            },
        )

    progress(1)
    await world.reconcile()
    said = world.condition("Ready")
    world.clock.advance(1)
    progress(2)
    await world.reconcile()
    assert world.written() == []  # still rolling out: said once
    assert world.condition("Ready") == said
    world.roll_out()
    await world.reconcile()
    assert world.condition("Ready") == ("True", "Ready")


async def test_a_workload_deleted_while_we_look_gets_no_status() -> None:
    world = World()
    world.add_environment()
    world.add_workload()
    await world.sync()
    world.api.remove("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE)
    assert (
        await workload_handler.reconcile(world.context, WorkloadKey(NAMESPACE, "checkout")) is None
    )
    assert world.api.written() == [("apply", "Deployment", "checkout")]


async def test_an_event_that_cannot_be_posted_fails_nothing() -> None:
    world = World()
    body = world.add_workload()
    world.api.refuse("create", "Event", status=403)
    await post_event(world.context.events, body, "Hello", "hi", now="2026-01-01T00:00:00Z")
    assert world.api.events() == []
    world.api.refuse("apply", "Workload", status=500)
    with pytest.raises(Exception, match="500"):
        await write_status_and_events(
            world.api, world.context.events, body, {"observedGeneration": 1}, "2026-01-01T00:00:00Z"
        )


def test_an_environment_whose_policy_cannot_be_read_keeps_everything() -> None:
    assert deletion_policy(None) == "Retain"
    invalid = environment_dict(type="nowhere", deletionPolicy="Delete")
    assert deletion_policy(invalid) == "Retain"
    assert deletion_policy(environment_dict(deletionPolicy="Delete")) == "Delete"


def test_just_created_needs_a_creation_time_and_no_status() -> None:
    now = parse_time("2026-01-01T12:00:00Z")
    assert not workload_handler.just_created({"metadata": {}}, now)
    young = {"metadata": {"creationTimestamp": "2026-01-01T11:59:59Z"}}
    assert workload_handler.just_created(young, now)
    assert not workload_handler.just_created({**young, "status": {"x": 1}}, now)


async def test_a_resource_served_from_an_existing_secret_has_no_claim() -> None:
    world = World()
    world.add_environment(
        provisioners=[{"type": "api-key", "outputs": ["key"], "secret": {"name": "shared-key"}}]
    )
    world.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "shared-key", "namespace": NAMESPACE},
            "data": {"key": "eA=="},
        }
    )
    world.add_workload(resources={"k": {"type": "api-key"}})
    assert await world.reconcile() is None
    entry = world.status()["resources"][0]
    assert entry["state"] == "Ready"
    assert "claim" not in entry


async def test_an_invalid_cluster_provisioner_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World()
    world.add_environment()
    world.add(
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "ClusterProvisioner",
            "metadata": {"name": "broken"},
            "spec": {"outputs": ["x"]},
        }
    )
    await world.sync()
    catalogue = world.context.provisioning.catalogue
    assert catalogue.provisioners(world.context.cache) == []
    assert "ClusterProvisioner broken is ignored" in caplog.text


def test_the_system_clock() -> None:
    clock = SystemClock()
    before = clock.monotonic()
    now = clock.now()
    assert now.tzinfo is not None
    assert abs((datetime.datetime.now(datetime.UTC) - now).total_seconds()) < 5
    assert clock.monotonic() >= before
    assert parse_time(rfc3339(now)) == now.replace(microsecond=0)
