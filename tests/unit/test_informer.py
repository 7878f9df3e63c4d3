"""The informer's decisions (berth.kube.informer): pages, events, bookmarks, a 410 and the
listing after it, stores shared by several informers. A scripted client stands in for
the wire here; tests/integration/test_informer.py runs the same informer against the
real API server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from berth.kube.client import ApiError, Gone
from berth.kube.informer import (
    ADDED,
    DELETED,
    MODIFIED,
    Event,
    Informer,
    Informers,
    Source,
    Store,
    WatchSpec,
    compact,
)


def cm(name: str, rv: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}, "data": data}


class Scripted:
    """Answers listings from ``pages`` and watches from ``streams``, in order."""

    def __init__(self, pages: list[Any], streams: list[Any]) -> None:
        self.pages = pages
        self.streams = streams
        self.requests: list[dict[str, str]] = []
        self.watches: list[dict[str, str]] = []

    async def path_for(self, api_version: str, kind: str, namespace: str | None) -> str:
        return f"/api/{api_version}/{kind}"

    async def request(self, method: str, path: str, *, params: Mapping[str, str]) -> Any:
        self.requests.append(dict(params))
        token = int(params.get("continue") or 0)
        page = self.pages[token]
        if page == "gone":
            raise ApiError(410, "Expired", "the continue token expired")
        more = token + 1 < len(self.pages)
        return {
            "items": page,
            "metadata": {"resourceVersion": "100", "continue": str(token + 1) if more else ""},
        }

    async def watch_stream(
        self, path: str, params: Mapping[str, str], *, idle_seconds: float
    ) -> AsyncIterator[dict[str, Any]]:
        self.watches.append(dict(params))
        if not self.streams:
            await asyncio.Event().wait()  # a watch that says nothing more
        for event in self.streams.pop(0):
            if isinstance(event, Exception):
                raise event
            yield event


def informer(client: Scripted, store: Store | None = None) -> tuple[Informer, list[Event]]:
    seen: list[Event] = []
    made = Informer(
        client,  # type: ignore[arg-type]
        Source("v1", "ConfigMap", label_selector="a=b"),
        store if store is not None else Store(),
        keep=lambda obj: {"rv": obj["metadata"]["resourceVersion"], **obj.get("data", {})},
        on_event=seen.append,
        page_size=2,
    )
    return made, seen


async def test_the_first_listing_is_paged_and_told_as_the_starting_state() -> None:
    client = Scripted([[cm("a", "1"), cm("b", "2")], [cm("c", "3")]], [])
    inf, seen = informer(client)
    await inf.relist()
    assert [p.get("continue") for p in client.requests] == [None, "1"]
    assert {p["limit"] for p in client.requests} == {"2"}
    assert client.requests[0]["labelSelector"] == "a=b"
    assert [(e.type, e.key, e.listed) for e in seen] == [
        (ADDED, ("ns", "a"), True),
        (ADDED, ("ns", "b"), True),
        (ADDED, ("ns", "c"), True),
    ]
    assert inf.synced.is_set()
    assert inf.resource_version == "100"
    assert inf.store.get(("ns", "b")) == {"rv": "2"}  # what keep made of it


async def test_an_expired_continue_token_starts_the_listing_over() -> None:
    client = Scripted([[cm("a", "1")], "gone"], [])
    inf, _ = informer(client)
    # The token always expires here, so it keeps starting over; what matters is that it
    # starts from the first page again, not from the expired token.
    client.request = _limited(client.request)  # type: ignore[method-assign]
    with pytest.raises(RecursionError):
        await inf.relist()
    assert [p.get("continue") for p in client.requests[:3]] == [None, "1", None]


def _limited(request: Any) -> Any:
    calls = 0

    async def limited(method: str, path: str, *, params: Mapping[str, str]) -> Any:
        nonlocal calls
        calls += 1
        if calls > 5:
            raise RecursionError
        return await request(method, path, params=params)

    return limited


async def test_watch_events_bookmarks_and_resume_where_it_was() -> None:
    stream = [
        {"type": "ADDED", "object": cm("d", "101")},
        {"type": "MODIFIED", "object": cm("a", "102", x="1")},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "150"}}},
        {"type": "DELETED", "object": cm("b", "151")},
        {"type": "DELETED", "object": cm("never-seen", "152")},
    ]
    client = Scripted([[cm("a", "1"), cm("b", "2")]], [stream, []])
    inf, seen = informer(client)
    await inf.relist()
    seen.clear()
    await inf.watch()
    assert client.watches[0]["resourceVersion"] == "100"
    assert client.watches[0]["allowWatchBookmarks"] == "true"
    assert [(e.type, e.key[1], e.listed) for e in seen] == [
        (ADDED, "d", False),
        (MODIFIED, "a", False),
        (DELETED, "b", False),  # what was never seen is no event
    ]
    assert seen[1].old == {"rv": "1"}
    assert seen[1].new == {"rv": "102", "x": "1"}
    assert inf.resource_version == "152"
    await inf.watch()  # the server ended the watch: the next one resumes, no listing
    assert client.watches[1]["resourceVersion"] == "152"
    assert len(client.requests) == 1


async def test_a_410_lists_again_and_tells_what_changed_meanwhile() -> None:
    client = Scripted(
        [[cm("a", "1"), cm("b", "2")]],
        [[{"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "old"}}]],
    )
    inf, seen = informer(client)
    await inf.relist()
    with pytest.raises(Gone):
        await inf.watch()
    client.pages = [[cm("a", "5", x="1"), cm("c", "6")]]  # b went, c came, a changed
    seen.clear()
    await inf.relist()
    assert sorted((e.type, e.key[1], e.listed) for e in seen) == [
        (ADDED, "c", False),
        (DELETED, "b", False),
        (MODIFIED, "a", False),
    ]


async def test_run_lists_once_and_recovers_from_failures() -> None:
    client = Scripted(
        [[cm("a", "1")]],
        [[ApiError(500, "InternalError", "boom")], [{"type": "ADDED", "object": cm("b", "2")}]],
    )
    inf, _seen = informer(client)
    inf.start()
    try:
        for _ in range(300):
            if inf.store.get(("ns", "b")) is not None:
                break
            await asyncio.sleep(0.01)
        assert inf.store.get(("ns", "b")) == {"rv": "2"}
        assert inf.listings == 1  # a failed watch resumes; only a 410 lists again
    finally:
        await inf.stop()


async def test_informers_sharing_a_store_each_take_only_their_own() -> None:
    store = Store(index_of=lambda kept: kept.get("owner"))
    first, _ = informer(Scripted([[cm("a", "1", owner="x")]], []), store)
    second, seen = informer(Scripted([[cm("b", "2", owner="x")]], []), store)
    await first.relist()
    await second.relist()
    assert sorted(k for k in store) == [("ns", "a"), ("ns", "b")]
    assert [o["rv"] for o in store.indexed("x")] == ["1", "2"]
    # "a" moves to the second informer's selector (a label changed): added there first,
    # then deleted from the first one's, in that order or the other.
    second.handle({"type": "ADDED", "object": cm("a", "3", owner="x")})
    first.handle({"type": "DELETED", "object": cm("a", "3", owner="x")})
    assert store.get(("ns", "a")) == {"rv": "3", "owner": "x"}
    assert [e.type for e in seen] == [ADDED, MODIFIED]
    # A stopped informer takes its objects (only its own) out of the store.
    assert sorted(o["rv"] for o in await second.stop()) == ["2", "3"]
    assert len(store) == 0
    assert store.indexed("x") == []
    assert second.settled.is_set()


async def test_a_safety_listing_of_an_unchanged_world_tells_nothing() -> None:
    client = Scripted([[cm("a", "1"), cm("b", "2")]], [])
    inf, seen = informer(client)
    await inf.relist()
    seen.clear()
    await inf.relist()
    assert seen == []


async def test_informers_follow_what_is_wanted_and_tell_whole_objects() -> None:
    client = Scripted([[cm("a", "1")]], [])
    told: list[tuple[str, str, str]] = []
    errors: list[Source] = []
    informers = Informers(
        client,  # type: ignore[arg-type]
        lambda source, kind, obj: told.append((source.kind, kind, obj["metadata"]["name"])),
        on_error=lambda source, err: errors.append(source),
    )
    claims = WatchSpec("db.example/v1", "Claim", None, "a=b")
    await informers.want([claims])
    for _ in range(100):
        if told:
            break
        await asyncio.sleep(0.01)
    assert told == [("Claim", ADDED, "a")]
    assert informers.running[claims].get("ns", "a")["metadata"]["name"] == "a"
    await informers.want([])
    assert informers.running == {}
    await informers.stop()


def test_what_is_kept_shares_its_keys_and_short_strings() -> None:
    def decoded() -> dict[str, Any]:  # each decode makes strings of its own
        text = '{"metadata": {"labels": {"app.kubernetes.io/managed-by": "berth"}}, "x": ["%s"]}'
        return json.loads(text % ("y" * 100))

    a, b = compact(decoded()), compact(decoded())
    assert a == decoded()
    (key_a,), (key_b,) = a["metadata"]["labels"], b["metadata"]["labels"]
    assert key_a is key_b
    assert a["metadata"]["labels"][key_a] is b["metadata"]["labels"][key_b]
    assert a["x"][0] is not b["x"][0]  # a long string stays the object's own
