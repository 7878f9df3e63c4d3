"""The pure rules of sharding (coordination/shards.py) and the Sharder's gate
(coordination/sharding.py); the Lease traffic itself is proven on the real API server in
tests/e2e/test_sharding.py."""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

import pytest

from berth.coordination.sharding import Sharder, ShardLost, _Held
from berth.coordination.shards import (
    Observer,
    Timing,
    fair_shares,
    member_lease_name,
    preference,
    shard_of,
)


def test_a_namespace_has_one_shard_whatever_the_process() -> None:
    # Fixed values: the hash must not depend on PYTHONHASHSEED, the machine or the
    # version, or two replicas (or an upgrade) would disagree on who owns a namespace.
    names = ("team-a", "team-b", "default", "")
    assert [shard_of(ns, 4) for ns in names] == [0, 2, 1, 0]
    assert [shard_of(ns, 7) for ns in names] == [3, 1, 4, 1]
    assert all(0 <= shard_of(f"ns-{i}", 7) < 7 for i in range(100))


def test_namespaces_spread_over_the_shards() -> None:
    counts = Counter(shard_of(f"team-{i}", 4) for i in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert max(counts.values()) < 1.15 * min(counts.values())


@pytest.mark.parametrize(
    ("members", "shards", "expected"),
    [
        (["a"], 4, {"a": 4}),
        (["b", "a"], 4, {"a": 2, "b": 2}),
        (["c", "a", "b"], 4, {"a": 2, "b": 1, "c": 1}),
        (["a", "b", "c", "d", "e"], 4, {"a": 1, "b": 1, "c": 1, "d": 1, "e": 0}),
        (["a", "a", "b"], 3, {"a": 2, "b": 1}),
        ([], 4, {}),
    ],
)
def test_fair_shares_add_up_and_every_member_agrees(
    members: list[str], shards: int, expected: dict[str, int]
) -> None:
    assert fair_shares(members, shards) == expected
    if members:
        assert sum(fair_shares(members, shards).values()) == shards


def test_each_replica_tries_every_shard_once_from_a_point_of_its_own() -> None:
    for identity in ("pod-a", "pod-b", "berth@host/1/abc"):
        order = preference(identity, 5)
        assert sorted(order) == list(range(5))
        assert order[0] == shard_of(identity, 5)


def test_member_lease_names_are_valid_whatever_the_identity() -> None:
    name = member_lease_name("berth@Host_Name/123/abc")
    assert name.startswith("berth-member-")
    assert name == name.lower()
    assert "/" not in name
    assert "@" not in name
    assert len(name) <= 63


def test_timing_follows_client_go_proportions() -> None:
    timing = Timing(15)
    assert (timing.renew_deadline, timing.retry_period) == (10, 2)
    assert Timing(3).retry_period == 0.5
    assert Timing(6).renew_deadline < 6


def lease(name: str, holder: str | None, renew: str, duration: int = 6) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": renew},
        "spec": {"holderIdentity": holder, "renewTime": renew, "leaseDurationSeconds": duration},
    }


def test_expiry_is_judged_from_when_this_replica_saw_a_change() -> None:
    seen = Observer(default_seconds=6)
    seen.observe(lease("l", "other", "t1"), now=100.0)
    assert not seen.expired("l", 105.9)
    seen.observe(lease("l", "other", "t1"), now=105.0)  # same record again: no renewal
    assert seen.expired("l", 106.1)
    seen.observe(lease("l", "other", "t2"), now=106.5)  # renewed: the clock restarts
    assert not seen.expired("l", 112.0)
    assert seen.expired("l", 112.6)
    assert not seen.expired("missing", 1000.0)


def test_a_lease_gone_from_the_list_is_forgotten() -> None:
    seen = Observer(default_seconds=6)
    seen.observe_all([lease("a", "x", "1"), lease("b", "y", "1")], now=0.0)
    seen.observe_all([lease("b", "y", "1")], now=1.0)
    assert seen.lease("a") is None
    assert seen.lease("b") is not None


class Clock:
    """A ``berth.clock.Clock`` whose monotonic seconds a test sets."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime.datetime:
        return datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def test_a_replica_writes_for_a_shard_only_until_its_renew_deadline() -> None:
    clock = Clock()
    sharder = Sharder(4, "me", "ns", 6, clock=clock)
    sharder.held[2] = _Held(valid_until=clock.seconds + sharder.timing.renew_deadline)
    with sharder.reconciling(2):
        sharder.guard()  # held: the write goes
        clock.seconds = 3.9
        sharder.guard()
        clock.seconds = 4.0  # renew deadline (2/3 of 6 s) passed without a renewal
        with pytest.raises(ShardLost):
            sharder.guard()
    assert sharder.inflight[2] == 0


def test_a_shard_being_released_takes_no_more_writes() -> None:
    sharder = Sharder(4, "me", "ns", 6, clock=Clock())
    sharder.held[1] = _Held(valid_until=10.0)
    assert sharder.owned() == [1]
    sharder.held[1].releasing = True
    assert sharder.owned() == []
    with sharder.reconciling(1), pytest.raises(ShardLost):
        sharder.guard()


def test_writes_outside_a_reconcile_are_not_gated() -> None:
    sharder = Sharder(4, "me", "ns", 6, clock=Clock())
    assert sharder.owned() == []
    # The Lease loop's own writes run with no shard in the context: they always go.
    assert sharder.guard() is None  # type: ignore[func-returns-value]


async def test_a_clean_stop_refuses_new_writes_before_it_releases() -> None:
    sharder = Sharder(4, "me", "ns", 6, clock=Clock())
    sharder.held[0] = _Held(valid_until=10.0)
    sharder.held[3] = _Held(valid_until=10.0)
    await sharder.stop_writing()  # nothing under way: returns at once
    assert sharder.owned() == []
    assert sorted(sharder.held) == [0, 3]  # still held (renewed) until release_all


async def test_a_clean_stop_waits_for_the_reconcile_under_way() -> None:
    import asyncio

    sharder = Sharder(4, "me", "ns", 6, clock=Clock())
    sharder.held[1] = _Held(valid_until=10.0)
    go_on = asyncio.Event()
    order: list[str] = []

    async def reconcile() -> None:
        with sharder.reconciling(1):
            await go_on.wait()
            order.append("reconcile ended")

    task = asyncio.create_task(reconcile())
    await asyncio.sleep(0)  # the reconcile is under way
    stopping = asyncio.create_task(sharder.stop_writing())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    go_on.set()
    await stopping
    order.append("stopped")
    await task
    assert order == ["reconcile ended", "stopped"]
