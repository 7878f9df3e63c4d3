"""The Runtime with --shards (handlers/runtime.py + coordination/sharding.py): only the keys of
held shards are reconciled, a gained shard's objects are queued at once, every write of a
reconcile passes the shard's gate, and a clean stop hands the shards over."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from berth.api.common import API_VERSION
from berth.coordination.sharding import Sharder, ShardLost, _Held
from berth.coordination.shards import shard_lease_name, shard_of
from berth.handlers import informers as informers_module
from berth.handlers.config import OperatorConfig
from berth.handlers.context import Context
from berth.handlers.informers import ORPHAN, Watches, orphan_selector, shard_selector
from berth.handlers.keys import EnvironmentKey, Key, WorkloadKey
from berth.handlers.queue import WorkQueue
from berth.handlers.runtime import Runtime
from berth.handlers.watch import WATCHED
from berth.names import SHARD_BUCKET_LABEL
from berth.render.labels import shard_bucket
from tests.fakeapi import FakeApi, FakeClock
from tests.unit.builders import NAMESPACE, environment_dict, workload_dict
from tests.unit.world import World

SHARDS = 4
NS = "berth-system"
HOME = shard_of(NAMESPACE, SHARDS)
# A namespace of another shard than NAMESPACE's.
ELSEWHERE = next(f"team-{i}" for i in range(100) if shard_of(f"team-{i}", SHARDS) != HOME)
AWAY = shard_of(ELSEWHERE, SHARDS)


async def until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def reconciles(result: str) -> float:
    sample = REGISTRY.get_sample_value(
        "berth_reconciles_total", {"kind": "workload", "result": result}
    )
    return sample or 0.0


def in_namespace(body: dict[str, Any], namespace: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    if body["kind"] == "Environment":
        body["metadata"]["name"] = namespace
        body["spec"]["namespace"] = namespace
    else:
        body["metadata"]["namespace"] = namespace
    return body


class Cluster:
    """A Runtime with a Sharder on the fake API server, the client's writes gated."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.sharder = Sharder(SHARDS, "me", NS, 6, clock=self.clock)
        self.api = FakeApi(
            now=self.clock.now,
            before_write=self.sharder.guard,
            after_write=self.sharder.record_write,
        )
        self.runtime = Runtime(
            config=OperatorConfig(workers=2, resync_seconds=3600.0),
            client=self.api,
            queue=WorkQueue(base_delay=0.01, max_delay=0.05),
            sharder=self.sharder,
        )
        for namespace in (NAMESPACE, ELSEWHERE):
            self.api.add(in_namespace(environment_dict(), namespace))
            self.api.add(in_namespace(workload_dict("a"), namespace))
            self.api.add(in_namespace(workload_dict("b"), namespace))

    def hold(self, *shards: int) -> None:
        for shard in shards:
            self.sharder.held[shard] = _Held(valid_until=self.clock.monotonic() + 4)
            # as if the shard's informers had listed it (the fake's stores hold it all)
            self.runtime.watches._synced_shards.add(shard)

    def queued(self) -> set[Key]:
        return set(self.runtime.queue._pending)


async def test_a_gained_shard_queues_its_environments_and_workloads_only() -> None:
    c = Cluster()
    await c.api.fill(c.runtime.cache)
    c.runtime.enqueue_shard(AWAY)
    assert c.queued() == {
        EnvironmentKey(ELSEWHERE),
        WorkloadKey(ELSEWHERE, "a"),
        WorkloadKey(ELSEWHERE, "b"),
    }


async def test_the_resync_queues_only_the_keys_of_held_shards() -> None:
    c = Cluster()
    await c.api.fill(c.runtime.cache)
    c.runtime.enqueue_all()
    assert c.queued() == set()  # nothing held yet
    c.hold(HOME)
    c.runtime.enqueue_all()
    assert c.queued() == {
        EnvironmentKey(NAMESPACE),
        WorkloadKey(NAMESPACE, "a"),
        WorkloadKey(NAMESPACE, "b"),
    }


async def test_the_shard_of_a_key() -> None:
    c = Cluster()
    await c.api.fill(c.runtime.cache)
    assert c.runtime.shard_of_key(WorkloadKey(ELSEWHERE, "x")) == AWAY
    # An Environment's shard is the one of the namespace it serves, not of its name.
    c.api.add(in_namespace(environment_dict(), ELSEWHERE) | {"metadata": {"name": "odd"}})
    await c.api.fill(c.runtime.cache)
    assert c.runtime.shard_of_key(EnvironmentKey("odd")) == AWAY
    assert c.runtime.shard_of_key(EnvironmentKey("gone")) is None
    assert Runtime(config=OperatorConfig(), client=c.api).shard_of_key(EnvironmentKey("x")) is None


async def test_a_worker_skips_the_keys_of_shards_not_held() -> None:
    c = Cluster()
    await c.api.fill(c.runtime.cache)
    seen: list[Key] = []

    async def reconcile(_: Context, key: Key) -> float | None:
        seen.append(key)
        return None

    c.runtime.reconcilers["workload"] = reconcile
    c.hold(HOME)
    c.runtime.start()
    try:
        c.runtime.enqueue(WorkloadKey(ELSEWHERE, "a"))  # another replica's
        c.runtime.enqueue(WorkloadKey(NAMESPACE, "a"))
        await until(lambda: len(seen) == 1)
        await until(lambda: len(c.runtime.queue) == 0 and not c.runtime.queue._active)
    finally:
        c.sharder.held.clear()  # the stop hands over nothing
        await c.runtime.stop()
    assert seen == [WorkloadKey(NAMESPACE, "a")]


async def test_a_write_after_the_shard_was_lost_is_not_sent_and_the_reconcile_ends() -> None:
    c = Cluster()
    await c.api.fill(c.runtime.cache)
    c.hold(HOME)
    started, go_on = asyncio.Event(), asyncio.Event()
    writes = REGISTRY.get_sample_value("berth_shard_writes_total", {"shard": str(HOME)}) or 0.0

    async def reconcile(rt: Context, key: Key) -> float | None:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"n": "1"}}
        cm["metadata"] = {"name": "first", "namespace": key[1]}
        await rt.client.create(cm)  # the shard is held: sent
        started.set()
        await go_on.wait()
        cm["metadata"] = {"name": "second", "namespace": key[1]}
        await rt.client.create(cm)  # no longer held: refused before it is sent
        return None

    c.runtime.reconcilers["workload"] = reconcile
    lost = reconciles("shard_lost")
    c.runtime.start()
    try:
        c.runtime.enqueue(WorkloadKey(NAMESPACE, "a"))
        await asyncio.wait_for(started.wait(), 5)
        c.clock.advance(4)  # the renew deadline passes without a renewal
        go_on.set()
        await until(lambda: reconciles("shard_lost") == lost + 1)
    finally:
        await c.runtime.stop()
    assert [w for w in c.api.written() if w[1] == "ConfigMap"] == [("create", "ConfigMap", "first")]
    assert REGISTRY.get_sample_value("berth_shard_writes_total", {"shard": str(HOME)}) == (
        writes + 1
    )


async def test_a_real_reconcile_of_a_shard_not_held_writes_nothing() -> None:
    clock = FakeClock()
    sharder = Sharder(SHARDS, "me", NS, 6, clock=clock)
    world = World(before_write=sharder.guard)
    world.add_environment()
    world.add_workload()
    with sharder.reconciling(HOME), pytest.raises(ShardLost):
        await world.reconcile()
    assert world.written() == []  # not even the failure on the status
    sharder.held[HOME] = _Held(valid_until=clock.monotonic() + 10.0)
    with sharder.reconciling(HOME):
        await world.reconcile()
    assert ("apply", "Deployment", "checkout") in world.written()


async def test_a_replica_takes_its_shards_reconciles_them_and_hands_them_over_on_stop() -> None:
    c = Cluster()
    await c.api.fill(c.runtime.cache)
    seen: list[Key] = []

    async def reconcile(_: Context, key: Key) -> float | None:
        seen.append(key)
        return None

    c.runtime.reconcilers["workload"] = c.runtime.reconcilers["environment"] = reconcile
    c.runtime.start()
    c.runtime.start_sharding()
    c.runtime.start_sharding()  # idempotent
    try:
        await until(lambda: len(seen) == 6)  # every shard gained, its objects queued
    finally:
        await c.runtime.stop()
    assert set(seen) == {
        *(EnvironmentKey(ns) for ns in (NAMESPACE, ELSEWHERE)),
        *(WorkloadKey(ns, n) for ns in (NAMESPACE, ELSEWHERE) for n in ("a", "b")),
    }
    assert c.sharder.held == {}
    for shard in range(SHARDS):
        lease = c.api.stored("coordination.k8s.io/v1", "Lease", shard_lease_name(shard), NS)
        assert lease is not None
        assert lease["spec"]["holderIdentity"] is None  # free for the next replica


async def test_unlabelled_workloads_are_watched_as_stubs_and_their_leaving_is_no_deletion() -> None:
    told: list[tuple[str, dict[str, Any]]] = []
    watched = next(w for w in WATCHED if w.name == "workloads")
    watches = Watches(
        FakeApi(), WATCHED, lambda w, event: told.append((event.type, event.new)), shards=4
    )
    (informer,) = await watches._informers(watched, orphan_selector(None), orphans=True)
    assert informer.source.label_selector == "!berth.dev/shard-bucket"
    informer.handle({"type": "ADDED", "object": workload_dict("a")})
    assert [kind for kind, _ in told] == ["ADDED"]
    assert told[0][1][ORPHAN] is True
    assert "spec" not in told[0][1]  # a stub: enough to label it
    informer.handle({"type": "DELETED", "object": workload_dict("a")})
    assert [kind for kind, _ in told] == ["ADDED"]  # labelled, not gone: nobody told
    assert len(watches.stores["workloads"]) == 0


def test_a_shards_watches_select_its_buckets() -> None:
    selector = shard_selector("a=b", 1, 4)
    assert selector.startswith("a=b,berth.dev/shard-bucket in (1,5,9,")
    assert selector.endswith(",61)")


@pytest.mark.parametrize("namespaces", [(), ("team-a",)])
async def test_the_features_kinds_are_watched_where_the_operator_serves(
    namespaces: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def not_started(informers: Any, required: Any) -> None:
        return None

    monkeypatch.setattr(informers_module, "_started", not_started)
    watches = Watches(FakeApi(), WATCHED, lambda w, event: None, namespaces=namespaces)
    await watches.start()
    where = {(i.source.kind, i.source.namespace) for i in watches._cluster}
    # Cluster-wide, or in each namespace served (--namespace: the chart grants them there).
    served = list(namespaces) or [None]
    for kind in ("Preview", "Promotion", "PromotionApproval"):
        assert {ns for k, ns in where if k == kind} == set(served)
    assert ("Environment", None) in where  # cluster-scoped: one watch either way


def preview_environment(name: str, namespace: str, base: str) -> dict[str, Any]:
    body = in_namespace(environment_dict(), namespace)
    body["metadata"]["name"] = name
    body["spec"]["type"] = "preview"
    body["spec"]["preview"] = {"base": base}
    return body


def labelled(body: dict[str, Any], bucket: int) -> dict[str, Any]:
    body["metadata"].setdefault("labels", {})[SHARD_BUCKET_LABEL] = str(bucket)
    return body


async def test_a_previews_namespace_is_in_its_bases_shard_and_follows_its_base() -> None:
    c = Cluster()
    # ELSEWHERE becomes the namespace of a preview of NAMESPACE's Environment.
    c.api.add(preview_environment("pr", ELSEWHERE, base=NAMESPACE))
    await c.api.fill(c.runtime.cache)
    assert c.runtime.cache.shard_bucket_of(ELSEWHERE) == shard_bucket(NAMESPACE)
    assert c.runtime.shard_of_key(WorkloadKey(ELSEWHERE, "a")) == HOME
    assert c.runtime.shard_of_key(EnvironmentKey("pr")) == HOME
    c.hold(HOME)
    assert c.runtime.holds_namespace(ELSEWHERE)
    # Its base gone, the namespace is back in its own bucket (the derivation is redone
    # because the Environments changed, not served from the memo).
    store = c.runtime.cache.stores["environments"]
    store.remove(next(iter(store._objects.values())).source, ("", NAMESPACE))
    assert c.runtime.cache.shard_bucket_of(ELSEWHERE) == shard_bucket(ELSEWHERE)
    assert c.runtime.shard_of_key(WorkloadKey(ELSEWHERE, "a")) == AWAY


async def test_a_workload_labelled_for_its_namespaces_old_bucket_is_handed_over() -> None:
    c = Cluster()
    # ELSEWHERE's Workloads carry its own bucket; then it becomes a preview's namespace.
    for name in ("c", "d"):
        body = in_namespace(workload_dict(name), ELSEWHERE)
        c.api.add(labelled(body, shard_bucket(ELSEWHERE)))
    c.api.add(preview_environment("pr", ELSEWHERE, base=NAMESPACE))
    await c.api.fill(c.runtime.cache)
    seen: list[Key] = []

    async def reconcile(_: Context, key: Key) -> float | None:
        seen.append(key)
        return None

    c.runtime.reconcilers["workload"] = c.runtime.reconcilers["environment"] = reconcile
    c.hold(AWAY)  # the shard its label puts it in, not the one it belongs to
    c.runtime.start()
    try:
        c.runtime.enqueue_all()
        await until(
            lambda: all(
                (c.api.stored(API_VERSION, "Workload", n, ELSEWHERE) or {})["metadata"][
                    "labels"
                ].get(SHARD_BUCKET_LABEL)
                == str(shard_bucket(NAMESPACE))
                for n in ("c", "d")
            )
        )
        await until(lambda: len(c.runtime.queue) == 0 and not c.runtime.queue._active)
    finally:
        c.sharder.held.clear()
        await c.runtime.stop()
    # Relabelled, not reconciled: the holder of its new shard does that.
    assert WorkloadKey(ELSEWHERE, "c") not in seen
    assert c.runtime._labelled_shard(WorkloadKey(NAMESPACE, "a")) is None
