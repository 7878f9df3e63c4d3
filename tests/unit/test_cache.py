"""The operator's view of the cluster (berth.handlers.cache.Cache).

The informers' stores (berth.kube.informer.Store) are filled by hand here, the way an
informer puts what it lists and watches.
"""

from __future__ import annotations

from typing import Any

from berth.handlers.cache import Cache, child_owner, resource_version
from berth.kube.informer import Store, object_key
from berth.names import MANAGED_BY_LABEL, MANAGED_BY_VALUE, WORKLOAD_LABEL

NS = "team-a-dev"


def workload(rv: str, name: str = "checkout", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": rv, "uid": f"uid-{name}"},
        "spec": {"containers": {"main": {"image": "x:1"}}},
        "status": dict(status),
    }


def environment(name: str, namespace: str, created: str, rv: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": name, "creationTimestamp": created, "resourceVersion": rv},
        "spec": {"type": "development", "namespace": namespace},
    }


def child(kind: str, name: str, rv: str, owner: str = "checkout") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1" if kind == "Deployment" else "v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": NS,
            "resourceVersion": rv,
            "labels": {WORKLOAD_LABEL: owner, MANAGED_BY_LABEL: MANAGED_BY_VALUE},
        },
    }


STORE_OF_KIND = {
    "Workload": "workloads",
    "Environment": "environments",
    "Deployment": "deployments",
    "Service": "services",
    "ConfigMap": "configmaps",
}


def make_cache(*objects: dict[str, Any]) -> Cache:
    cache = Cache()
    cache.attach(
        {
            name: Store(index_of=child_owner if name not in ("workloads", "environments") else None)
            for name in STORE_OF_KIND.values()
        }
    )
    for obj in objects:
        put(cache, obj)
    return cache


def put(cache: Cache, obj: dict[str, Any]) -> None:
    """What an informer does with an object it was told of."""
    cache.stores[STORE_OF_KIND[obj["kind"]]].put("informer", object_key(obj), obj)


def test_resource_version() -> None:
    assert resource_version(None) is None
    assert resource_version({"metadata": {}}) is None
    assert resource_version({"metadata": {"resourceVersion": 42}}) == "42"


def test_attach_takes_the_stores() -> None:
    cache = Cache()
    before = cache.attached
    cache.attach({"workloads": Store()})
    assert (before, cache.attached) == (False, True)
    assert set(cache.stores) == {"workloads"}


def test_reads_before_any_write_come_from_the_store() -> None:
    cache = make_cache(workload("1"))
    found = cache.workload((NS, "checkout"))
    assert found is not None
    assert resource_version(found) == "1"
    assert cache.workload((NS, "missing")) is None
    assert cache.workload_keys() == [(NS, "checkout")]


def test_read_right_after_a_write_sees_the_write() -> None:
    cache = make_cache(workload("1"))
    before = cache.workload((NS, "checkout"))
    written = workload("2", observedGeneration=1)
    cache.remember_write(before, written)
    # the watch has not delivered rv 2 yet: the store still shows rv 1
    assert cache.workload((NS, "checkout")) == written
    assert cache.workload((NS, "checkout")) == written  # and keeps doing so


def test_cache_wins_once_it_moved_on() -> None:
    cache = make_cache(workload("1"))
    cache.remember_write(cache.workload((NS, "checkout")), workload("2", observedGeneration=1))
    put(cache, workload("2", observedGeneration=1))
    assert resource_version(cache.workload((NS, "checkout"))) == "2"
    # someone else wrote after us: the cache, not our memory, is the truth
    put(cache, workload("3", observedGeneration=7))
    found = cache.workload((NS, "checkout"))
    assert found is not None
    assert found["status"] == {"observedGeneration": 7}


def test_memory_is_dropped_once_the_cache_moved_on() -> None:
    cache = make_cache(workload("1"))
    cache.remember_write(cache.workload((NS, "checkout")), workload("2"))
    put(cache, workload("3"))
    assert resource_version(cache.workload((NS, "checkout"))) == "3"
    # even if the store were to show the old version again, the memory is gone
    put(cache, workload("1"))
    assert resource_version(cache.workload((NS, "checkout"))) == "1"


def test_two_writes_before_the_watch_catches_up() -> None:
    cache = make_cache(workload("1"))
    cache.remember_write(cache.workload((NS, "checkout")), workload("2", step=1))
    second_before = cache.workload((NS, "checkout"))
    assert resource_version(second_before) == "2"
    cache.remember_write(second_before, workload("3", step=2))
    assert resource_version(cache.workload((NS, "checkout"))) == "3"


def test_watch_catching_up_with_the_first_of_two_writes_is_still_behind() -> None:
    """Two writes (rv 2, then 3) and the watch delivers rv 2: the cache is still behind
    our last write, and reading it would compute a status from before that write (and
    post an Event for a transition already reported)."""
    cache = make_cache(workload("1"))
    cache.remember_write(cache.workload((NS, "checkout")), workload("2", step=1))
    cache.remember_write(cache.workload((NS, "checkout")), workload("3", step=2))
    put(cache, workload("2", step=1))
    found = cache.workload((NS, "checkout"))
    assert found is not None
    assert found["status"] == {"step": 2}
    put(cache, workload("3", step=2))
    assert resource_version(cache.workload((NS, "checkout"))) == "3"


def test_forget_drops_the_memory_of_a_write() -> None:
    cache = make_cache(workload("1"))
    cache.remember_write(cache.workload((NS, "checkout")), workload("2"))
    cache.forget(workload("2"))
    assert resource_version(cache.workload((NS, "checkout"))) == "1"
    cache.forget(workload("9", name="never-written"))  # unknown objects are fine


def test_environment_reads_see_our_status_write() -> None:
    cache = make_cache(environment("dev", NS, "2024-01-01T00:00:00Z", rv="5"))
    fresh = environment("dev", NS, "2024-01-01T00:00:00Z", rv="6")
    fresh["status"] = {"observedGeneration": 1}
    cache.remember_write(cache.environment("dev"), fresh)
    assert cache.environment("dev") == fresh
    assert cache.environment("missing") is None
    assert cache.environment_names() == ["dev"]


def test_children_of_merges_new_children_from_recent_writes() -> None:
    deployment = child("Deployment", "checkout", "10")
    cache = make_cache(deployment)
    # just created: the watch has not seen them yet
    service = child("Service", "checkout", "11")
    configmap = child("ConfigMap", "checkout-files", "12")
    cache.remember_write(None, service)
    cache.remember_write(None, configmap)
    # a new child of another Workload is not ours
    cache.remember_write(None, child("Service", "other", "13", owner="other"))
    # nor is our own status write on the Workload
    cache.remember_write(workload("1"), workload("2"))
    children = cache.children_of((NS, "checkout"))
    assert [(c["kind"], c["metadata"]["name"]) for c in children] == [
        ("ConfigMap", "checkout-files"),
        ("Service", "checkout"),
        ("Deployment", "checkout"),
    ]
    assert [c["kind"] for c in cache.children_of((NS, "other"))] == ["Service"]


def test_children_of_prefers_our_write_to_a_stale_cached_child() -> None:
    first = child("Deployment", "checkout", "10")
    cache = make_cache(first)
    updated = child("Deployment", "checkout", "11")
    updated["spec"] = {"replicas": 3}
    cache.remember_write(first, updated)
    assert cache.children_of((NS, "checkout")) == [updated]
    put(cache, child("Deployment", "checkout", "12"))
    assert [resource_version(c) for c in cache.children_of((NS, "checkout"))] == ["12"]


def test_children_of_unknown_owner_is_empty() -> None:
    cache = make_cache(child("Deployment", "c", "1"))
    assert cache.children_of((NS, "nobody")) == []
    assert Cache().children_of((NS, "checkout")) == []  # not attached yet


def test_environments_for_namespace_oldest_first() -> None:
    cache = make_cache(
        environment("newer", NS, "2024-03-01T00:00:00Z"),
        environment("oldest", NS, "2024-01-01T00:00:00Z"),
        environment("elsewhere", "other-ns", "2023-01-01T00:00:00Z"),
        environment("b-same-time", NS, "2024-02-01T00:00:00Z"),
        environment("a-same-time", NS, "2024-02-01T00:00:00Z"),
    )
    names = [e["metadata"]["name"] for e in cache.environments_for_namespace(NS)]
    assert names == ["oldest", "a-same-time", "b-same-time", "newer"]
    assert [e["metadata"]["name"] for e in cache.environments_for_namespace("other-ns")] == [
        "elsewhere"
    ]
    assert cache.environments_for_namespace("nobody") == []


def test_workloads_in_a_namespace() -> None:
    other = workload("1", name="c")
    other["metadata"]["namespace"] = "other"
    cache = make_cache(workload("1", name="b"), workload("1", name="a"), other)
    assert [w["metadata"]["name"] for w in cache.workloads_in(NS)] == ["a", "b"]


def test_the_echo_of_our_own_write_is_told_once_and_nothing_else_is() -> None:
    cache = make_cache(workload("1"))
    cache.remember_write(workload("1"), workload("2"))
    assert not cache.own_echo(workload("1"))  # an older event, delivered late
    # The cache catching up with our write does not make the echo forgotten...
    put(cache, workload("2"))
    assert cache.workload((NS, "checkout"))["metadata"]["resourceVersion"] == "2"
    # ...it is told once, when its event comes.
    assert cache.own_echo(workload("2"))
    assert not cache.own_echo(workload("2"))
    assert not cache.own_echo(workload("3"))  # someone else's write
    cache.remember_write(workload("3"), workload("4"))
    cache.forget(workload("4"))
    assert not cache.own_echo(workload("4"))
