"""The informer (berth.kube.informer) against a small HTTP server that answers in order:
pages, watch events, bookmarks, 410 Gone in the stream and as an answer, and failures.
tests/integration/test_informer.py shows the same against the real API server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from berth.kube.client import KubeClient
from berth.kube.credentials import Credentials
from berth.kube.informer import Informer, Informers, Store, WatchSpec
from tests.unit.test_kube_client import Answer, ApiServer, apiserver, status

__all__ = ["apiserver"]  # the fixture, used by name

PATH = "/api/v1/namespaces/team/configmaps"
SPEC = WatchSpec("v1", "ConfigMap", "team", "app.kubernetes.io/managed-by=berth")


def cm(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "team", "resourceVersion": rv}}


def page(items: list[dict[str, Any]], rv: str, token: str = "") -> Answer:
    meta = {"resourceVersion": rv, **({"continue": token} if token else {})}
    return Answer(body={"kind": "ConfigMapList", "metadata": meta, "items": items})


def stream(*events: dict[str, Any]) -> Answer:
    return Answer(body="".join(json.dumps(e) + "\n" for e in events))


async def poll_until_async(predicate: Callable[[], object], seconds: float) -> bool:
    """Let the event loop run until ``predicate`` holds (False after ``seconds``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@pytest.fixture
async def client(apiserver: ApiServer) -> AsyncIterator[KubeClient]:
    async with KubeClient(lambda: Credentials(server=apiserver.url, token="t0")) as kube:
        yield kube


async def test_list_pages_then_watch_with_bookmarks_and_relist_on_410(
    apiserver: ApiServer, client: KubeClient
) -> None:
    apiserver.answer(
        "GET",
        PATH,
        page([cm("a", "3"), cm("b", "4")], "", token="next"),
        page([cm("c", "5")], "10"),
        stream(
            {"type": "ADDED", "object": cm("d", "11")},
            {"type": "MODIFIED", "object": cm("a", "12")},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "13"}}},
            {"type": "DELETED", "object": cm("b", "14")},
            {"type": "ERROR", "object": status(410, "Expired", "too old resource version")},
        ),
        # Listed again: only what differs from the copy is told (e arrived meanwhile).
        page([cm("a", "12"), cm("c", "5"), cm("d", "11"), cm("e", "15")], "15"),
        # The watch from 15 is refused as too old: listed again, nothing new.
        Answer(410, status(410, "Expired", "too old resource version: 15")),
        page([cm("a", "12"), cm("c", "5"), cm("d", "11"), cm("e", "15")], "16"),
    )
    seen: list[tuple[str, str]] = []
    errors: list[Exception] = []
    informer = Informer(
        client,
        SPEC,
        Store(),
        on_event=lambda event: seen.append((event.type, event.key[1])),
        on_error=lambda spec, err: errors.append(err),
        page_size=2,
    )
    informer.start()
    try:
        assert await poll_until_async(lambda: informer.listings == 3, 10)
        # The next watch finds no answer (404): told once, retried later.
        assert await poll_until_async(lambda: errors, 10)
        held = sorted(informer.store)
        kept_a = informer.get("team", "a")
    finally:
        gone = await informer.stop()
    assert len(gone) == len(held)  # stopped, it takes its objects out of the store

    assert seen == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("ADDED", "c"),
        ("ADDED", "d"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
        ("ADDED", "e"),
    ]
    assert held == [("team", n) for n in "acde"]
    assert kept_a == {**cm("a", "12"), "apiVersion": "v1", "kind": "ConfigMap"}
    queries = [s.query for s in apiserver.requests("GET", PATH)]
    selector = {"labelSelector": "app.kubernetes.io/managed-by=berth"}
    assert queries[0] == {"limit": "2", **selector}
    assert queries[1] == {"limit": "2", "continue": "next", **selector}
    assert queries[2]["watch"] == "1"
    assert queries[2]["allowWatchBookmarks"] == "true"
    assert queries[2]["resourceVersion"] == "10"
    assert "continue" not in queries[3]  # the relist after the ERROR event
    assert queries[4]["resourceVersion"] == "15"
    assert queries[6]["resourceVersion"] == "16"
    assert len(errors) == 1


async def test_a_watch_that_ends_resumes_from_the_last_bookmark(
    apiserver: ApiServer, client: KubeClient
) -> None:
    apiserver.answer(
        "GET",
        PATH,
        page([], "7"),
        stream({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "42"}}}),
        stream({"type": "ADDED", "object": cm("late", "43")}),
    )
    seen: list[str] = []
    informer = Informer(client, SPEC, Store(), on_event=lambda event: seen.append(event.type))
    informer.start()
    try:
        assert await poll_until_async(lambda: seen == ["ADDED"], 10)
    finally:
        await informer.stop()
    watches = [s.query for s in apiserver.requests("GET", PATH) if s.query.get("watch")]
    assert [w["resourceVersion"] for w in watches[:2]] == ["7", "42"]
    assert informer.listings == 1  # a watch that ends is started again, not a relist


async def test_informers_start_and_stop_with_the_wanted_set(
    apiserver: ApiServer, client: KubeClient
) -> None:
    told: list[tuple[WatchSpec, str]] = []
    informers = Informers(client, lambda spec, type_, obj: told.append((spec, type_)))
    other = WatchSpec("v1", "ConfigMap", "other")
    apiserver.answer("GET", PATH, page([cm("a", "1")], "1"))
    await informers.want([SPEC, other])
    assert set(informers.running) == {SPEC, other}
    assert await poll_until_async(lambda: (SPEC, "ADDED") in told, 10)
    running = informers.running[SPEC]
    await informers.want([other])
    assert list(informers.running) == [other]
    assert running._task is None
    await informers.stop()
    assert informers.running == {}
