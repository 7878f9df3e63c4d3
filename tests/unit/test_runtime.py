"""The reconcile workers: one key at a time, requeued when asked, retried when failed,
counted in the metrics; the resync and the Workload gauge; standing by while peered."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from berth.handlers import watch
from berth.handlers.config import OperatorConfig
from berth.handlers.context import Context
from berth.handlers.keys import EnvironmentKey, Key, WorkloadKey
from berth.handlers.queue import WorkQueue
from berth.handlers.runtime import Runtime
from berth.kube.client import ApiError
from tests.fakeapi import FakeApi
from tests.unit.builders import NAMESPACE, environment_dict, workload_dict


async def until(check: Callable[[], bool]) -> None:
    """Wait (polling) until ``check()`` holds; fail after five seconds."""
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def reconciles(kind: str, result: str) -> float:
    return (
        REGISTRY.get_sample_value("berth_reconciles_total", {"kind": kind, "result": result}) or 0.0
    )


def runtime(api: FakeApi | None = None, **config: Any) -> Runtime:
    """A Runtime on the fake API, with the gates its settings call for (a Peering when
    not standalone)."""
    settings = OperatorConfig(**{"workers": 2, "resync_seconds": 3600.0, **config})
    sharder, peering = watch.gates(settings)
    return Runtime(
        config=settings,
        client=api or FakeApi(),
        queue=WorkQueue(base_delay=0.01, max_delay=0.05),
        sharder=sharder,
        peering=peering,
    )


async def test_a_worker_reconciles_and_requeues_when_asked() -> None:
    rt = runtime()
    seen: list[Key] = []

    async def reconcile(_: Context, key: Key) -> float | None:
        seen.append(key)
        return 0.01 if len(seen) == 1 else None

    rt.reconcilers["workload"] = reconcile
    before = reconciles("workload", "success")
    rt.start()
    rt.start()  # idempotent
    try:
        rt.enqueue(WorkloadKey(NAMESPACE, "a"))
        await until(lambda: len(seen) == 2)
        assert seen == [WorkloadKey(NAMESPACE, "a")] * 2
        assert reconciles("workload", "success") == before + 2
    finally:
        await rt.stop()


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (ApiError(409, "Conflict", "the object has been modified"), "conflict"),
        (ApiError(500, "InternalError", "etcd"), "error"),
        (RuntimeError("a bug"), "error"),
    ],
)
async def test_a_failed_reconcile_is_counted_and_retried(error: Exception, result: str) -> None:
    rt = runtime()
    attempts = 0

    async def reconcile(_: Context, key: Key) -> float | None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise error
        return None

    rt.reconcilers["environment"] = reconcile
    before = reconciles("environment", result)
    rt.start()
    try:
        rt.enqueue(EnvironmentKey("e"))
        await until(lambda: attempts == 2)  # retried after the queue's back-off
        assert reconciles("environment", result) == before + 1
    finally:
        await rt.stop()


async def test_stop_cancels_a_reconcile_under_way() -> None:
    rt = runtime(workers=1)
    started = asyncio.Event()

    async def reconcile(_: Context, key: Key) -> float | None:
        started.set()
        await asyncio.sleep(60)
        return None

    rt.reconcilers["workload"] = reconcile
    rt.start()
    rt.enqueue(WorkloadKey(NAMESPACE, "a"))
    await asyncio.wait_for(started.wait(), 5)
    await rt.stop()
    assert rt._tasks == []


async def test_the_resync_looks_at_everything_again_and_the_gauge_counts() -> None:
    api = FakeApi()
    api.add(environment_dict())
    ready = workload_dict("ready")
    ready["status"] = {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]}
    api.add(ready)
    api.add(workload_dict("not-ready"))
    rt = runtime(api, resync_seconds=0.02)
    await api.fill(rt.cache)
    seen: list[Key] = []

    async def reconcile(_: Context, key: Key) -> float | None:
        seen.append(key)
        return None

    rt.reconcilers["workload"] = rt.reconcilers["environment"] = reconcile
    rt.start()
    try:
        await until(lambda: len(seen) >= 6)  # twice over, by the resync alone
        assert set(seen) == {
            EnvironmentKey("team-a-dev"),
            WorkloadKey(NAMESPACE, "not-ready"),
            WorkloadKey(NAMESPACE, "ready"),
        }
        await until(lambda: REGISTRY.get_sample_value("berth_workloads", {"ready": "true"}) == 1)
        assert REGISTRY.get_sample_value("berth_workloads", {"ready": "false"}) == 1
    finally:
        await rt.stop()


async def test_enqueue_all_queues_every_environment_and_workload() -> None:
    api = FakeApi()
    api.add(environment_dict())
    api.add(workload_dict())
    rt = runtime(api)
    await api.fill(rt.cache)
    rt.enqueue_all()
    assert len(rt.queue) == 2


def peering(peers: dict[str, int]) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).isoformat()
    return {
        "apiVersion": "kopf.dev/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": "berth"},
        "status": {
            p: {"priority": prio, "lifetime": 60, "lastseen": now} for p, prio in peers.items()
        },
    }


async def test_a_peered_replica_works_only_while_no_live_peer_outranks_it() -> None:
    api = FakeApi()
    api.add(peering({"other": 10}))
    rt = runtime(api, standalone=False, identity="me", priority=5, peering_lifetime=5)
    seen: list[Key] = []

    async def reconcile(_: Context, key: Key) -> float | None:
        seen.append(key)
        return None

    rt.reconcilers["workload"] = reconcile
    assert rt.peering is not None
    rt.peering.active.set()  # as if it had worked until now
    rt.start()
    try:
        await until(lambda: not rt.peering.active.is_set())  # type: ignore[union-attr]
        rt.enqueue(WorkloadKey(NAMESPACE, "a"))
        await asyncio.sleep(0.1)
        assert seen == []  # a standby holds its key

        # The API server does not answer for a while: nothing changes.
        api.refuse("get", "ClusterKopfPeering", status=503, times=1)
        await until(lambda: any(c.kind == "ClusterKopfPeering" for c in api.calls[-1:]))

        stored = api.stored("kopf.dev/v1", "ClusterKopfPeering", "berth")
        assert stored is not None
        api.put({**stored, "status": peering({"other": 1})["status"]})
        await until(rt.peering.active.is_set)
        await until(lambda: seen == [WorkloadKey(NAMESPACE, "a")])
    finally:
        await rt.stop()


async def test_a_replica_peered_per_namespace_reads_each_namespaces_peering() -> None:
    api = FakeApi()
    rt = runtime(api, standalone=False, identity="me", namespaces=("a", "b"))
    rt.start()
    try:
        await until(rt.peering.active.is_set)  # no peering objects yet: nobody outranks it
        kinds = {(c.kind, c.namespace) for c in api.calls}
        assert {("KopfPeering", "a"), ("KopfPeering", "b")} <= kinds
    finally:
        await rt.stop()
