"""kube/leases.py: the Lease calls and what each of the API server's answers becomes —
a conflict or a Lease gone is a lost race (None / False), anything else is raised."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from berth.kube import leases
from berth.kube.client import ApiError
from tests.fakeapi import FakeApi

NS = "berth-system"
LABELS = {"berth.dev/shard-lease": "shard", "berth.dev/shard": "0"}


def manifest(holder: str = "a", rv: str | None = None, name: str = "l") -> dict[str, Any]:
    spec = {"holderIdentity": holder, "leaseDurationSeconds": 6}
    return leases.lease_manifest(name, NS, LABELS, spec, rv)


def test_micro_time_is_utc_with_microseconds() -> None:
    cest = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2026, 1, 1, 14, 0, 0, 1234, tzinfo=cest)
    assert leases.micro_time(moment) == "2026-01-01T12:00:00.001234Z"


def test_a_manifest_carries_the_version_read_only_when_given() -> None:
    fresh = manifest()
    assert fresh["apiVersion"] == "coordination.k8s.io/v1"
    assert fresh["kind"] == "Lease"
    assert "resourceVersion" not in fresh["metadata"]
    assert manifest(rv="7")["metadata"]["resourceVersion"] == "7"


async def test_list_finds_the_leases_of_the_selector_only() -> None:
    api = FakeApi()
    await leases.create_lease(api, manifest(name="shard"))
    other = leases.lease_manifest("member", NS, {"berth.dev/shard-lease": "member"}, {})
    await leases.create_lease(api, other)
    elsewhere = leases.lease_manifest("x", "other", {"berth.dev/shard-lease": "member"}, {})
    await leases.create_lease(api, elsewhere)  # another namespace's
    found = await leases.list_leases(api, NS, "berth.dev/shard-lease")
    assert sorted(lease["metadata"]["name"] for lease in found) == ["member", "shard"]
    only = await leases.list_leases(api, NS, "berth.dev/shard-lease=member")
    assert [lease["metadata"]["name"] for lease in only] == ["member"]


async def test_create_then_a_second_create_loses_the_race() -> None:
    api = FakeApi()
    created = await leases.create_lease(api, manifest("a"))
    assert created is not None
    assert created["spec"]["holderIdentity"] == "a"
    assert await leases.create_lease(api, manifest("b")) is None  # 409 AlreadyExists
    stored = api.stored("coordination.k8s.io/v1", "Lease", "l", NS)
    assert stored is not None
    assert stored["spec"]["holderIdentity"] == "a"


async def test_replace_wins_only_with_the_version_read() -> None:
    api = FakeApi()
    created = await leases.create_lease(api, manifest("a"))
    assert created is not None
    rv = created["metadata"]["resourceVersion"]
    won = await leases.replace_lease(api, manifest("b", rv))
    assert won is not None
    assert won["spec"]["holderIdentity"] == "b"
    assert won["metadata"]["resourceVersion"] != rv
    # A second replica that read the same version loses: 409 on the conditional write.
    assert await leases.replace_lease(api, manifest("c", rv)) is None
    assert api.written() == [("create", "Lease", "l"), ("update", "Lease", "l")]


async def test_replace_of_a_lease_gone_is_a_lost_race() -> None:
    assert await leases.replace_lease(FakeApi(), manifest("a", "1")) is None


async def test_delete_only_the_version_read() -> None:
    api = FakeApi()
    created = await leases.create_lease(api, manifest("a"))
    assert created is not None
    rv = created["metadata"]["resourceVersion"]
    assert await leases.delete_lease(api, "l", NS, "1") is False  # another version: kept
    assert api.stored("coordination.k8s.io/v1", "Lease", "l", NS) is not None
    assert await leases.delete_lease(api, "l", NS, rv) is True
    assert api.stored("coordination.k8s.io/v1", "Lease", "l", NS) is None
    assert await leases.delete_lease(api, "l", NS, rv) is False  # gone already (404)


@pytest.mark.parametrize(
    ("verb", "status", "raises"),
    [
        ("create", 409, False),
        ("create", 403, True),
        ("create", 422, True),
        ("create", 500, True),
        ("update", 409, False),
        ("update", 404, False),
        ("update", 403, True),
        ("update", 503, True),
        ("delete", 409, False),
        ("delete", 404, False),
        ("delete", 403, True),
        ("delete", 500, True),
    ],
)
async def test_what_each_answer_becomes(verb: str, status: int, raises: bool) -> None:
    api = FakeApi()
    created = await leases.create_lease(api, manifest("a"))
    assert created is not None
    rv = created["metadata"]["resourceVersion"]
    api.refuse(verb, "Lease", status=status)
    calls = {
        "create": lambda: leases.create_lease(api, manifest("b", name="l2")),
        "update": lambda: leases.replace_lease(api, manifest("b", rv)),
        "delete": lambda: leases.delete_lease(api, "l", NS, rv),
    }
    if raises:
        with pytest.raises(ApiError) as caught:
            await calls[verb]()
        assert caught.value.status == status
    else:
        assert await calls[verb]() in (None, False)
    api.allow()
    stored = api.stored("coordination.k8s.io/v1", "Lease", "l", NS)
    assert stored is not None  # a refused write changed nothing
    assert stored["metadata"]["resourceVersion"] == rv
