"""The informer (berth.kube.informer) against the real API server: a paged listing, the
watch's events, an object that leaves the selector when a label changes, a watch that
ends and resumes without a listing, and a resourceVersion too old to watch from (410),
answered by a listing that tells what changed meanwhile; without a namespace, every
namespace's objects (how claims are watched). tests/unit/test_kube_informer.py shows
the same against a scripted HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from berth.kube import credentials, informer
from berth.kube.client import Gone, KubeClient
from berth.kube.informer import ADDED, DELETED, MODIFIED, Event, Informer, Source, Store
from tests.clusterharness import ClusterAccess

SELECTOR = "berth-test/informer=yes"


@pytest.fixture
async def client(cluster: ClusterAccess) -> AsyncIterator[KubeClient]:
    async with KubeClient(lambda: credentials.load(str(cluster.kubeconfig))) as kube:
        yield kube


def configmap(namespace: str, name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"berth-test/informer": "yes"},
        },
        "data": data,
    }


class Watched:
    """An informer on the test's namespace, and what it told: each event (and each new
    watch request) wakes whoever waits in ``until``."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.seen: list[Event] = []
        self.watches = 0
        self.changed = asyncio.Event()
        self.informer = Informer(
            client,
            Source("v1", "ConfigMap", namespace, SELECTOR),
            Store(),
            keep=lambda obj: {"rv": obj["metadata"]["resourceVersion"], **(obj.get("data") or {})},
            on_event=self._told,
            page_size=2,
        )
        stream = client.watch_stream

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.watches += 1
            self.changed.set()
            return stream(*args, **kwargs)

        client.watch_stream = counted  # type: ignore[method-assign]

    def _told(self, event: Event) -> None:
        self.seen.append(event)
        self.changed.set()

    async def until(self, check: Callable[[], Any], what: str) -> Any:
        """Until ``check()`` is truthy (looked at after each event), for at most 30 s."""
        async with asyncio.timeout(30):
            while not (found := check()):
                self.changed.clear()
                await self.changed.wait()
        return found


async def test_a_paged_listing_then_the_watch(client: KubeClient, namespace: str) -> None:
    for i in range(5):
        await client.create(configmap(namespace, f"cm-{i}", n=str(i)))
    unlabelled = configmap(namespace, "other")
    del unlabelled["metadata"]["labels"]
    await client.create(unlabelled)
    pages: list[str] = []
    request = client.request

    async def counted(method: str, path: str, **kwargs: Any) -> Any:
        if kwargs.get("params", {}).get("limit"):
            pages.append(kwargs["params"].get("continue") or "")
        return await request(method, path, **kwargs)

    client.request = counted  # type: ignore[method-assign]
    watched = Watched(client, namespace)
    inf, seen = watched.informer, watched.seen
    inf.start()
    try:
        await asyncio.wait_for(inf.synced.wait(), 30)
        assert len(pages) == 3  # 5 objects, 2 a page: the server gave continue tokens
        assert sorted(k[1] for k in inf.store) == [f"cm-{i}" for i in range(5)]  # not "other"
        assert {e.listed for e in seen} == {True}
        seen.clear()

        await client.create(configmap(namespace, "cm-new", n="new"))
        await client.merge_patch("v1", "ConfigMap", "cm-0", {"data": {"n": "changed"}}, namespace)
        await client.delete("v1", "ConfigMap", "cm-1", namespace)
        # A label changed: the object leaves the selector, and the watch says DELETED.
        await client.merge_patch(
            "v1", "ConfigMap", "cm-2", {"metadata": {"labels": {"berth-test/informer": "no"}}},
            namespace,
        )  # fmt: skip
        await watched.until(lambda: len(seen) >= 4, "four watch events")
        assert [(e.type, e.key[1], e.listed) for e in seen] == [
            (ADDED, "cm-new", False),
            (MODIFIED, "cm-0", False),
            (DELETED, "cm-1", False),
            (DELETED, "cm-2", False),
        ]
        assert inf.store.get((namespace, "cm-0"))["n"] == "changed"
        assert inf.listings == 1
    finally:
        await inf.stop()
    assert len(inf.store) == 0


async def test_a_watch_that_ends_resumes_without_a_listing(
    client: KubeClient, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(informer, "WATCH_SECONDS", (1, 1))  # the server ends each after 1 s
    watched = Watched(client, namespace)
    inf, seen = watched.informer, watched.seen
    inf.start()
    try:
        await asyncio.wait_for(inf.synced.wait(), 30)
        for i in range(3):
            # Each in a watch of its own: after the server ended the one before.
            started = watched.watches
            await watched.until(lambda n=started: watched.watches > n, "the next watch")
            await client.create(configmap(namespace, f"later-{i}"))
        await watched.until(lambda: len(inf.store) == 3, "the objects made across watches")
        assert inf.listings == 1
        assert [e.type for e in seen] == [ADDED] * 3
    finally:
        await inf.stop()


async def test_too_old_a_version_lists_again_and_tells_the_difference(
    client: KubeClient, namespace: str
) -> None:
    await client.create(configmap(namespace, "kept", n="1"))
    await client.create(configmap(namespace, "goes"))
    watched = Watched(client, namespace)
    inf, seen = watched.informer, watched.seen
    await inf.relist()
    # Changes the informer does not watch...
    await client.delete("v1", "ConfigMap", "goes", namespace)
    await client.create(configmap(namespace, "comes"))
    await client.merge_patch("v1", "ConfigMap", "kept", {"data": {"n": "2"}}, namespace)
    # ...and a version the server no longer keeps (etcd compacted it long ago).
    inf.resource_version = "1"
    with pytest.raises(Gone):
        await inf.watch()
    seen.clear()
    inf.start()  # run(): lists again, as it does after a 410
    try:
        await watched.until(lambda: inf.listings == 2, "a second listing")
        assert sorted((e.type, e.key[1]) for e in seen) == [
            (ADDED, "comes"),
            (DELETED, "goes"),
            (MODIFIED, "kept"),
        ]
        assert inf.store.get((namespace, "kept"))["n"] == "2"
    finally:
        await inf.stop()


async def test_every_namespace_without_one(client: KubeClient, namespace: str) -> None:
    """No namespace: the kind's objects of every namespace (how claims are watched by an
    operator of the whole cluster)."""
    await client.create(configmap(namespace, "ours-x"))
    inf = Informer(client, Source("v1", "ConfigMap", None, SELECTOR), Store())
    await inf.relist()
    assert inf.get(namespace, "ours-x") is not None
