"""A Workload whose inputs have not changed since its children were last rendered is not
rendered again (berth.handlers.rendered): only its status is computed — while the
operator runs (its memory), and after a restart (status.renderedFrom)."""

from __future__ import annotations

from typing import Any

import pytest

from berth.handlers import workload as workload_handler
from berth.handlers.informers import orphan_stub
from berth.handlers.keys import WorkloadKey
from berth.handlers.rendered import operator_version
from berth.handlers.runtime import Runtime
from berth.names import SHARD_BUCKET_LABEL
from berth.render import render_workload
from berth.render.labels import shard_bucket
from tests.unit.builders import NAMESPACE
from tests.unit.world import WEB_SERVICE, World


class Renders:
    """Counts the renders of the reconciles (the real render, counted)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return render_workload(*args, **kwargs)

        monkeypatch.setattr(workload_handler, "render_workload", counted)


async def ready_world(**spec: Any) -> World:
    world = World()
    world.add_environment()
    world.add_workload(service=WEB_SERVICE, **spec)
    await world.reconcile()
    world.roll_out()
    await world.reconcile()
    assert world.condition("Ready") == ("True", "Ready")
    return world


def restart(world: World) -> None:
    """A new operator process on the same cluster: nothing remembered."""
    world.runtime = Runtime(config=world.runtime.config, client=world.api, clock=world.clock)


async def test_a_good_render_is_recorded_on_the_status() -> None:
    world = await ready_world()
    env = world.api.stored("berth.dev/v1alpha1", "Environment", NAMESPACE)
    assert env is not None
    assert world.status()["renderedFrom"] == {
        "generation": 1,
        "environmentUid": env["metadata"]["uid"],
        "environmentGeneration": env["metadata"]["generation"],
        "operatorVersion": operator_version(),
    }
    assert operator_version().startswith("0.")


async def test_unchanged_inputs_are_not_rendered_again_running_or_restarted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await ready_world()
    renders = Renders(monkeypatch)
    # A status-only wake (its Deployment lost a replica): the status follows, no render.
    deployment = world.api.stored("apps/v1", "Deployment", "checkout", NAMESPACE)
    assert deployment is not None
    world.api.set_status(
        "apps/v1",
        "Deployment",
        "checkout",
        NAMESPACE,
        {**deployment["status"], "readyReplicas": 0, "availableReplicas": 0},
    )
    await world.reconcile()
    assert world.condition("Ready") == ("False", "ReplicasUnavailable")
    world.roll_out()
    await world.reconcile()
    assert world.condition("Ready") == ("True", "Ready")
    assert renders.count == 0
    # A restart: the record on the status does what the memory did, and nothing is written.
    restart(world)
    assert await world.reconcile() is None
    assert (renders.count, world.written()) == (0, [])


async def test_a_child_someone_else_changed_is_rendered_and_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await ready_world()
    renders = Renders(monkeypatch)
    world.api.edit(
        "apps/v1", "Deployment", "checkout", NAMESPACE, {"spec": {"replicas": 5}}, manager="kubectl"
    )
    await world.reconcile()
    assert renders.count == 1
    assert ("apply", "Deployment", "checkout") in world.written()


async def test_a_missing_child_or_new_inputs_take_the_whole_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await ready_world()
    renders = Renders(monkeypatch)
    world.api.remove("v1", "Service", "checkout", NAMESPACE)
    await world.reconcile()
    assert (renders.count, world.written()[:1]) == (1, [("apply", "Service", "checkout")])
    # A new Environment spec that changes nothing of the Workload's children: rendered
    # again, and nothing written — not even the new record, which rides along with the
    # next status write.
    before = world.status()["renderedFrom"]
    world.edit_environment(deletionPolicy="Delete")
    await world.reconcile()
    assert (renders.count, world.written()) == (2, [])
    assert world.status()["renderedFrom"] == before
    await world.reconcile()  # remembered in the running operator meanwhile
    assert renders.count == 2
    restart(world)  # but not across a restart: rendered once more
    await world.reconcile()
    assert renders.count == 3


async def test_a_workload_with_resources_is_always_rendered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    world.add_environment(
        provisioners=[{"type": "api-key", "outputs": ["key"], "secret": {"name": "shared-key"}}]
    )
    world.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "shared-key", "namespace": NAMESPACE},
            "data": {"key": "czNjcjN0"},
        }
    )
    world.add_workload(resources={"api": {"type": "api-key"}})
    await world.reconcile()
    world.roll_out()
    await world.reconcile()
    assert world.condition("Ready") == ("True", "Ready")
    renders = Renders(monkeypatch)
    await world.reconcile()
    assert renders.count == 1  # its outputs come from a Secret nobody watches


async def test_with_shards_an_unlabelled_workload_is_labelled_once_and_reconciled() -> None:
    world = World()
    world.context.sharded = True
    world.add_environment()
    world.add_workload()
    await world.reconcile()
    body = world.workload_body()
    assert body["metadata"]["labels"][SHARD_BUCKET_LABEL] == str(shard_bucket(NAMESPACE))
    assert world.written()[:2] == [
        ("patch", "Workload", "checkout"),
        ("apply", "Deployment", "checkout"),
    ]
    await world.reconcile()
    assert ("patch", "Workload", "checkout") not in world.written()  # once in its life


async def test_the_stub_of_an_unlabelled_workload_is_labelled_then_reconciled_whole() -> None:
    world = World()
    world.context.sharded = True
    world.add_environment()
    world.add_workload()
    await world.sync()
    stores = world.runtime.cache.stores
    key = (NAMESPACE, "checkout")
    stub = orphan_stub(world.workload_body())
    stores["workloads"].put("orphans", key, stub)  # what the unlabelled watch keeps
    world.api.forget_history()
    await workload_handler.reconcile(world.context, WorkloadKey(*key))
    assert world.written()[:2] == [
        ("patch", "Workload", "checkout"),
        ("apply", "Deployment", "checkout"),
    ]
    # A stub of one labelled meanwhile (its watch event is late): nothing but waiting.
    world.api.forget_history()
    labelled = {
        **stub,
        "metadata": {**stub["metadata"], "labels": world.workload_body()["metadata"]["labels"]},
    }
    stores["workloads"].put("orphans", key, labelled)
    assert await workload_handler.reconcile(world.context, WorkloadKey(*key)) is None
    assert world.written() == []
