"""The informer (berth.kube.informer) against the real API server: a paged list, then a
watch that tells what changes, only what its label selector selects; a relist of an
unchanged world tells nothing; a watch from a resourceVersion the server no longer keeps
is answered 410 Gone, and the informer lists again. tests/unit/test_kube_informer.py
covers the same step by step."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from berth.kube import credentials
from berth.kube.client import KubeClient
from berth.kube.informer import Informer, ResourceExpired, WatchSpec
from tests.clusterharness import ClusterAccess
from tests.kubeutil import wait_for_async

SELECTOR = "app.kubernetes.io/managed-by=berth"


@pytest.fixture
async def client(cluster: ClusterAccess) -> AsyncIterator[KubeClient]:
    async with KubeClient(lambda: credentials.load(str(cluster.kubeconfig))) as kube:
        yield kube


def configmap(namespace: str, name: str, *, ours: bool = True) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "berth"} if ours else {"team": "x"}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"n": "0"},
    }


async def test_list_in_pages_then_watch_what_the_selector_selects(
    client: KubeClient, namespace: str
) -> None:
    for i in range(5):
        await client.create(configmap(namespace, f"ours-{i}"))
    await client.create(configmap(namespace, "theirs", ours=False))
    seen: list[tuple[str, str]] = []
    informer = Informer(
        client,
        WatchSpec("v1", "ConfigMap", namespace, SELECTOR),
        lambda type_, obj: seen.append((type_, obj["metadata"]["name"])),
        page_size=2,
    )
    informer.start()
    try:
        await asyncio.wait_for(informer.synced.wait(), 20)
        assert sorted(seen) == [("ADDED", f"ours-{i}") for i in range(5)]
        seen.clear()

        await client.create(configmap(namespace, "ours-new"))
        await client.merge_patch("v1", "ConfigMap", "ours-0", {"data": {"n": "1"}}, namespace)
        await client.merge_patch("v1", "ConfigMap", "theirs", {"data": {"n": "1"}}, namespace)
        await client.delete("v1", "ConfigMap", "ours-1", namespace)
        await wait_for_async(lambda: len(seen) >= 3, 20, "three events")
        assert seen == [("ADDED", "ours-new"), ("MODIFIED", "ours-0"), ("DELETED", "ours-1")]
        assert informer.get(namespace, "ours-0")["data"] == {"n": "1"}  # type: ignore[index]
        assert informer.get(namespace, "ours-1") is None

        # A relist of an unchanged world tells nothing.
        seen.clear()
        await informer.relist()
        assert seen == []
    finally:
        await informer.stop()


async def test_a_watch_from_a_version_the_server_no_longer_keeps_lists_again(
    client: KubeClient, namespace: str
) -> None:
    await client.create(configmap(namespace, "ours-a"))
    seen: list[tuple[str, str]] = []
    informer = Informer(
        client,
        WatchSpec("v1", "ConfigMap", namespace, SELECTOR),
        lambda type_, obj: seen.append((type_, obj["metadata"]["name"])),
    )
    await informer.relist()
    assert informer.lists == 1
    # Long compacted away: the API server answers 410 Gone ("too old resource version").
    informer.resource_version = "1"
    with pytest.raises(ResourceExpired):
        await informer.watch_once(5)
    # As run() does then: list again, and go on watching from there.
    await client.create(configmap(namespace, "ours-b"))
    await informer.relist()
    assert informer.lists == 2
    assert seen == [("ADDED", "ours-a"), ("ADDED", "ours-b")]


async def test_every_namespace_without_one(client: KubeClient, namespace: str) -> None:
    """No namespace: the kind's objects of every namespace (how claims are watched by an
    operator of the whole cluster)."""
    await client.create(configmap(namespace, "ours-x"))
    informer = Informer(client, WatchSpec("v1", "ConfigMap", None, SELECTOR), lambda t, o: None)
    await informer.relist()
    assert informer.get(namespace, "ours-x") is not None
