"""Sharding's Lease rounds (coordination/sharding.py) on the in-memory API server: replicas
taking, renewing, sharing and giving back shards, each judging expiry by its own clock.

Every replica here is a ``Sharder`` on one ``FakeApi``, ticked by hand (``tick`` is one
retry period's round), with a ``FakeClock`` for its monotonic clock: no test waits for
real. The same traffic on the real API server: tests/e2e/test_sharding.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from prometheus_client import REGISTRY

from berth import metrics
from berth.coordination.sharding import Sharder, ShardLost
from berth.coordination.shards import (
    fair_shares,
    member_lease_name,
    preference,
    shard_lease_name,
)
from tests.fakeapi import FakeApi, FakeClock

NS = "berth-system"
LEASE = ("coordination.k8s.io/v1", "Lease")
SHARDS = 4
SECONDS = 6  # lease duration: renew deadline 4 s, retry period 0.8 s


class Replica:
    """One replica: its Sharder and the shards it was told it gained, in order."""

    def __init__(self, api: FakeApi, clock: FakeClock, identity: str, shards: int = SHARDS) -> None:
        self.api = api
        self.sharder = Sharder(shards, identity, NS, SECONDS, clock=clock)
        self.gained: list[int] = []

    async def tick(self) -> None:
        await self.sharder.tick(self.api, self.gained.append)

    @property
    def held(self) -> list[int]:
        return sorted(self.sharder.held)


def holder(api: FakeApi, shard: int) -> str | None:
    lease = api.stored(*LEASE, shard_lease_name(shard), NS)
    assert lease is not None, f"shard {shard} has no Lease"
    return (lease.get("spec") or {}).get("holderIdentity")


def member(api: FakeApi, identity: str) -> dict[str, Any] | None:
    return api.stored(*LEASE, member_lease_name(identity), NS)


def transitions(event: str) -> float:
    sample = REGISTRY.get_sample_value("berth_shard_transitions_total", {"event": event})
    return sample or 0.0


def world() -> tuple[FakeApi, FakeClock]:
    clock = FakeClock()
    return FakeApi(now=clock.now), clock


async def test_a_replica_alone_takes_every_free_shard_in_its_order_of_preference() -> None:
    api, clock = world()
    a = Replica(api, clock, "a")
    before = transitions("acquired")
    await a.tick()
    assert a.gained == preference("a", SHARDS)  # each one queued as it came
    assert a.held == a.sharder.owned() == [0, 1, 2, 3]
    assert all(holder(api, s) == "a" for s in range(SHARDS))
    assert transitions("acquired") == before + SHARDS
    joined = member(api, "a")
    assert joined is not None
    assert joined["spec"]["holderIdentity"] == "a"
    assert joined["metadata"]["labels"] == {
        "berth.dev/shard-lease": "member",
        "berth.dev/shards": str(SHARDS),
    }
    lease = api.stored(*LEASE, shard_lease_name(0), NS)
    assert lease is not None
    assert lease["metadata"]["labels"] == {"berth.dev/shard-lease": "shard", "berth.dev/shard": "0"}
    assert lease["spec"]["leaseDurationSeconds"] == SECONDS
    assert lease["spec"]["leaseTransitions"] == 0


async def test_renewing_moves_the_write_deadline_and_changes_no_holder() -> None:
    api, clock = world()
    a = Replica(api, clock, "a")
    await a.tick()
    first = {s: a.sharder.held[s].valid_until for s in range(SHARDS)}
    clock.advance(3)
    api.forget_history()
    await a.tick()
    assert {s: a.sharder.held[s].valid_until for s in range(SHARDS)} == {
        s: first[s] + 3 for s in range(SHARDS)
    }
    # One conditional replace each: the member's own Lease and the four held.
    assert api.written() == [("update", "Lease", member_lease_name("a"))] + [
        ("update", "Lease", shard_lease_name(s)) for s in range(SHARDS)
    ]
    assert a.gained == preference("a", SHARDS)  # nothing gained twice
    clock.advance(3.9)  # 6.9 s after the first acquire: held thanks to the renewal
    assert a.sharder.owned() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "arrange",
    [
        pytest.param("deleted", id="member Lease deleted behind its back: created again"),
        pytest.param("restarted", id="restarted replica: takes its old member Lease over"),
    ],
)
async def test_the_member_lease_is_kept_whatever_happened_to_it(arrange: str) -> None:
    api, clock = world()
    a = Replica(api, clock, "a")
    await a.tick()
    if arrange == "deleted":
        api.remove(*LEASE, member_lease_name("a"), NS)
    else:
        a = Replica(api, clock, "a")  # a new process, same identity, knows no version
    await a.tick()
    lease = member(api, "a")
    assert lease is not None
    assert a.sharder._member_rv == lease["metadata"]["resourceVersion"]
    # The restarted replica finds its own name on the shard Leases: its previous life,
    # which wrote nothing since; it takes them back at once.
    assert a.held == [0, 1, 2, 3]


async def test_the_renew_deadline_closes_the_write_gate_before_anyone_may_take_over() -> None:
    api, clock = world()
    a = Replica(api, clock, "a")
    await a.tick()
    for shard in range(SHARDS):  # the API server stops taking the renewals
        api.refuse("update", "Lease", shard_lease_name(shard), status=500)
    clock.advance(2)
    await a.tick()  # the renewals fail: still inside the renew deadline, still held
    assert a.sharder.owned() == [0, 1, 2, 3]
    clock.advance(2)  # 4 s (renew deadline) after the last renewal sent
    assert a.sharder.owned() == []  # closed by the clock alone, before any round
    with a.sharder.reconciling(0), pytest.raises(ShardLost) as lost:
        a.sharder.guard()
    assert lost.value.shard == 0
    before = transitions("lost")
    await a.tick()
    assert a.held == []
    assert transitions("lost") == before + SHARDS
    api.allow()
    await a.tick()  # the API server is back: its own Leases are taken back
    assert a.held == [0, 1, 2, 3]
    assert a.gained == preference("a", SHARDS) * 2


async def test_a_lease_with_another_holder_is_dropped_at_once() -> None:
    api, clock = world()
    a = Replica(api, clock, "a")
    await a.tick()
    api.edit(*LEASE, shard_lease_name(2), NS, {"spec": {"holderIdentity": "z"}})
    await a.tick()
    assert a.held == [0, 1, 3]
    assert holder(api, 2) == "z"  # not written over: z's until it expires


async def test_expiry_is_judged_by_observation_on_the_replicas_own_clock() -> None:
    api, clock = world()
    a = Replica(api, clock, "a")
    await a.tick()
    # a's Leases say they were renewed long ago, by a's wall clock: b does not care.
    for shard in range(SHARDS):
        spec = {"renewTime": "2020-01-01T00:00:00.000000Z"}
        api.edit(*LEASE, shard_lease_name(shard), NS, {"spec": spec})
    b = Replica(api, clock, "b")
    await b.tick()  # first sight of a's Leases: held, unexpired
    assert b.held == []
    assert b.sharder.members == ["a", "b"]
    clock.advance(SECONDS - 0.5)  # a died: no renewal, but not yet a lease duration
    await b.tick()
    assert b.held == []
    clock.advance(1)  # unchanged for more than the lease duration, by b's own clock
    await b.tick()
    assert b.sharder.members == ["b"]
    assert b.held == [0, 1, 2, 3]
    assert b.gained == preference("b", SHARDS)
    lease = api.stored(*LEASE, shard_lease_name(0), NS)
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1


async def test_a_gone_replicas_member_lease_is_deleted_after_twice_the_duration() -> None:
    api, clock = world()
    await Replica(api, clock, "a").tick()
    b = Replica(api, clock, "b")
    await b.tick()
    for _ in range(3):  # b renews every few seconds; a is silent
        clock.advance(SECONDS - 2)
        await b.tick()
    assert member(api, "a") is not None  # gone for 12 s: expired, not yet forgotten
    clock.advance(0.5)
    await b.tick()
    assert member(api, "a") is None
    assert member(api, "b") is not None


class RacingApi(FakeApi):
    """Another replica takes a Lease between this replica's list and its write."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(now=clock.now)
        self.race: Callable[[], None] | None = None

    def answer(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        content_type: str,
    ) -> tuple[int, Any, dict[str, str]]:
        answered = super().answer(method, path, params, data, content_type)
        if method == "GET" and path.endswith("/leases") and self.race is not None:
            race, self.race = self.race, None
            race()
        return answered


@pytest.mark.parametrize(
    "loses",
    [
        pytest.param("update", id="takeover of an expired Lease"),
        pytest.param("create", id="first Lease of a shard"),
    ],
)
async def test_of_two_replicas_racing_for_a_lease_the_loser_holds_nothing(loses: str) -> None:
    clock = FakeClock()
    api = RacingApi(clock)
    b = Replica(api, clock, "b")
    first = preference("b", SHARDS)[0]
    if loses == "update":
        await Replica(api, clock, "a").tick()  # a takes all, then dies
        await b.tick()
        clock.advance(SECONDS + 1)
        old = api.stored(*LEASE, shard_lease_name(first), NS)
        assert old is not None

        def race() -> None:  # c took the expired Lease first
            api.edit(*LEASE, shard_lease_name(first), NS, {"spec": {"holderIdentity": "c"}})

    else:

        def race() -> None:  # c created the Lease first
            spec = {"holderIdentity": "c", "leaseDurationSeconds": SECONDS}
            labels = {"berth.dev/shard-lease": "shard", "berth.dev/shard": str(first)}
            meta = {"name": shard_lease_name(first), "namespace": NS, "labels": labels}
            api.add({"apiVersion": LEASE[0], "kind": LEASE[1], "metadata": meta, "spec": spec})

    api.race = race
    await b.tick()
    assert holder(api, first) == "c"  # b's conditional write was refused (409)
    assert first not in b.held
    assert first not in b.gained
    assert len(b.held) == SHARDS - 1  # the rest were free for the taking


async def test_a_refused_acquire_is_tried_again_next_round() -> None:
    api, clock = world()
    a = Replica(api, clock, "a")
    first = preference("a", SHARDS)[0]
    api.refuse("create", "Lease", shard_lease_name(first), status=403, times=1)
    await a.tick()
    assert first not in a.held
    await a.tick()
    assert a.held == [0, 1, 2, 3]


async def test_fair_shares_as_replicas_join() -> None:
    api, clock = world()
    replicas: list[Replica] = []
    for identity in ("a", "b", "c"):
        replicas.append(Replica(api, clock, identity))
        for _ in range(3):  # enough rounds to settle: release, then take
            for replica in replicas:
                await replica.tick()
        shares = fair_shares([r.sharder.identity for r in replicas], SHARDS)
        assert {r.sharder.identity: len(r.held) for r in replicas} == shares
        owners = [s for r in replicas for s in r.held]
        assert sorted(owners) == list(range(SHARDS))  # each shard held once
        for r in replicas:
            assert all(holder(api, s) == r.sharder.identity for s in r.held)
    assert {r.sharder.identity: len(r.held) for r in replicas} == {"a": 2, "b": 1, "c": 1}


async def test_a_surplus_shard_is_given_back_only_after_its_reconciles_end() -> None:
    api, clock = world()
    a = Replica(api, clock, "a")
    await a.tick()
    b = Replica(api, clock, "b")
    await b.tick()  # b joins: a's share is now 2
    before = transitions("released")
    with a.sharder.reconciling(3):  # a reconcile of shard 3 is under way
        await a.tick()
        assert a.held == [0, 1, 3]  # 2 given back; 3 kept while its reconcile runs
        assert holder(api, 2) is None
        assert holder(api, 3) == "a"
        assert a.sharder.owned() == [0, 1]  # but no new reconcile of 3 starts
        with pytest.raises(ShardLost):  # and the one under way writes no more
            a.sharder.guard()
        await a.tick()
        assert holder(api, 3) == "a"
    await a.tick()
    assert a.held == [0, 1]
    assert holder(api, 3) is None
    assert transitions("released") == before + 2
    await b.tick()
    assert b.held == [2, 3]
    assert b.gained == [s for s in preference("b", SHARDS) if s in (2, 3)]


async def test_a_shard_being_given_back_is_kept_when_the_share_grows_back() -> None:
    api, clock = world()
    a = Replica(api, clock, "a")
    await a.tick()
    b = Replica(api, clock, "b")
    await b.tick()
    with a.sharder.reconciling(3):
        await a.tick()
        assert a.sharder.owned() == [0, 1]
        await b.sharder.release_all(api)  # b leaves before taking anything
        await a.tick()
    assert a.sharder.members == ["a"]
    assert a.held == a.sharder.owned() == [0, 1, 2, 3]
    assert holder(api, 3) == "a"


async def test_a_shard_count_mismatch_holds_nothing_until_it_is_resolved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, clock = world()
    a = Replica(api, clock, "a")
    await a.tick()
    other = Replica(api, clock, "b", shards=3)  # a replica with another --shards
    await other.tick()
    assert other.held == []
    with caplog.at_level(logging.INFO, logger="berth"):
        await a.tick()
        assert a.held == []
        assert all(holder(api, s) is None for s in range(SHARDS))
        assert "b (3 shards)" in caplog.text
        await a.tick()
        assert a.held == []  # still: no shard while the mismatch lasts
        await other.sharder.release_all(api)
        await a.tick()
        assert "every live replica runs with 4 shards again" in caplog.text
    assert a.held == [0, 1, 2, 3]


async def test_a_clean_stop_releases_the_shards_and_leaves_the_membership() -> None:
    api, clock = world()
    a = Replica(api, clock, "a")
    await a.tick()
    await a.sharder.stop_writing()
    assert a.sharder.owned() == []
    gained = list(a.gained)
    await a.tick()  # a round while draining: renews, takes and gives nothing
    assert a.held == [0, 1, 2, 3]
    assert a.gained == gained
    await a.sharder.release_all(api)
    assert a.held == []
    assert all(holder(api, s) is None for s in range(SHARDS))
    assert member(api, "a") is None
    b = Replica(api, clock, "b")
    await b.tick()  # free at once: no lease duration to wait
    assert b.held == [0, 1, 2, 3]


async def test_a_clean_stop_releases_what_it_can(caplog: pytest.LogCaptureFixture) -> None:
    api, clock = world()
    a = Replica(api, clock, "a")
    await a.tick()
    api.refuse("update", "Lease", shard_lease_name(1), status=403)
    api.refuse("delete", "Lease", status=500)
    await a.sharder.release_all(api)
    assert "could not release shard 1" in caplog.text
    assert [holder(api, s) for s in range(SHARDS)] == [None, "a", None, None]
    assert a.held == []
    assert member(api, "a") is not None  # left to expire; the others delete it later


async def wait_for(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("timed out")


@pytest.mark.parametrize(
    ("trouble", "logged", "held"),
    [
        pytest.param(None, "sharding: 4 shards", SHARDS, id="a round"),
        pytest.param("api", "could not be read or written", 0, id="the API server refuses"),
        # on_gained fails after the first shard was taken: the loop goes on.
        pytest.param("bug", "the Lease round failed", 1, id="a bug in a round"),
    ],
)
async def test_the_loop_survives_a_failed_round(
    trouble: str | None, logged: str, held: int, caplog: pytest.LogCaptureFixture
) -> None:
    api, clock = world()
    sharder = Sharder(SHARDS, "a", NS, SECONDS, clock=clock)
    gained: list[int] = []

    def on_gained(shard: int) -> None:
        if trouble == "bug":
            raise RuntimeError("boom")
        gained.append(shard)

    if trouble == "api":
        api.refuse("list", "Lease", status=403)
    metrics.SHARDS_HELD.set(-1)  # whatever an earlier test left: not this loop's figure
    task = asyncio.create_task(sharder.run(api, on_gained))
    try:
        with caplog.at_level(logging.INFO, logger="berth"):
            await wait_for(lambda: logged in caplog.text)
            # The round ended (the gauge says what it holds) and the loop is sleeping.
            await wait_for(lambda: REGISTRY.get_sample_value("berth_shards_held") == held)
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(sharder.owned()) == held
    assert len(gained) == (SHARDS if trouble is None else 0)


def test_writes_of_a_reconcile_are_counted_and_audited(caplog: pytest.LogCaptureFixture) -> None:
    sharder = Sharder(SHARDS, "a", NS, SECONDS, audit_writes=True, clock=FakeClock())
    sharder.record_write("POST", "/api/v1/x", {}, 0.1)  # outside a reconcile: not counted
    assert caplog.text == ""
    counted = REGISTRY.get_sample_value("berth_shard_writes_total", {"shard": "2"}) or 0.0
    created = {"metadata": {"name": "cm", "resourceVersion": "42"}}
    with caplog.at_level(logging.INFO, logger="berth.writes"), sharder.reconciling(2):
        sharder.record_write("POST", "/api/v1/namespaces/n/configmaps?fieldManager=b", created, 0.1)
        sharder.record_write("PATCH", "/api/v1/namespaces/n/configmaps/cm", "not a dict", 0.2)
    assert REGISTRY.get_sample_value("berth_shard_writes_total", {"shard": "2"}) == counted + 2
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "write POST /api/v1/namespaces/n/configmaps/cm rv=42 took=0.100s shard=2 by a",
        "write PATCH /api/v1/namespaces/n/configmaps/cm rv= took=0.200s shard=2 by a",
    ]
