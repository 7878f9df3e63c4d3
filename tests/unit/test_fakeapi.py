"""The in-memory API server of the unit tests keeps the promises its docstring makes.

These pin down the fake's own behaviour (so a controller test that relies on it
relies on something checked); what the real API server does is proven by the
integration and e2e suites.
"""

from __future__ import annotations

from typing import Any

import pytest

from berth.handlers.cache import Cache
from berth.kube.children import FIELD_MANAGER, untouched_since_our_apply
from berth.kube.client import ApiError, KubeClient
from berth.kube.finalizers import FINALIZER, set_finalizer
from tests.fakeapi import FakeApi, Write


def configmap(data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "ns", **meta},
        "data": data if data is not None else {"a": "1"},
    }


async def test_apply_creates_then_a_same_apply_changes_nothing() -> None:
    api = FakeApi()
    created = await api.apply(configmap(), field_manager=FIELD_MANAGER)
    assert created["metadata"]["uid"]
    assert created["metadata"]["generation"] == 1
    again = await api.apply(configmap(), field_manager=FIELD_MANAGER)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    assert api.written() == [("apply", "ConfigMap", "cm"), ("apply", "ConfigMap", "cm")]
    assert api.writes[("PATCH", "ConfigMap")] == 2


async def test_apply_removes_what_the_manager_no_longer_applies() -> None:
    api = FakeApi()
    await api.apply(configmap({"a": "1", "b": "2"}), field_manager=FIELD_MANAGER)
    after = await api.apply(configmap({"a": "1"}), field_manager=FIELD_MANAGER)
    assert after["data"] == {"a": "1"}


async def test_apply_keeps_fields_of_other_managers_and_bumps_generation_on_spec() -> None:
    api = FakeApi()
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "ns"},
        "spec": {"replicas": 1},
    }
    first = await api.apply(deployment, field_manager=FIELD_MANAGER)
    api.edit("apps/v1", "Deployment", "d", "ns", {"metadata": {"labels": {"x": "y"}}})
    second = await api.apply({**deployment, "spec": {"replicas": 2}}, field_manager="berth")
    assert second["metadata"]["labels"] == {"x": "y"}
    assert second["metadata"]["generation"] == first["metadata"]["generation"] + 1


async def test_apply_without_force_conflicts_with_another_managers_field() -> None:
    api = FakeApi()
    await api.apply(configmap(), field_manager=FIELD_MANAGER)
    api.edit("v1", "ConfigMap", "cm", "ns", {"data": {"a": "9"}}, manager="kubectl")
    with pytest.raises(ApiError) as caught:
        await api.apply(configmap(), field_manager=FIELD_MANAGER, force=False)
    assert caught.value.status == 409
    assert 'conflict with "kubectl"' in caught.value.message
    forced = await api.apply(configmap(), field_manager=FIELD_MANAGER)
    assert forced["data"] == {"a": "1"}
    managers = {e["manager"] for e in forced["metadata"]["managedFields"]}
    assert managers == {FIELD_MANAGER}  # kubectl lost its only field


async def test_dry_run_answers_and_stores_nothing() -> None:
    api = FakeApi()
    would_be = await api.apply(configmap(), field_manager=FIELD_MANAGER, dry_run=True)
    assert would_be["data"] == {"a": "1"}
    assert api.stored("v1", "ConfigMap", "cm", "ns") is None
    assert api.writes_log == []
    assert [(c.verb, c.dry_run) for c in api.calls] == [("apply", True)]


async def test_resource_version_in_an_apply_is_a_precondition() -> None:
    api = FakeApi()
    created = await api.apply(configmap(), field_manager=FIELD_MANAGER)
    api.edit("v1", "ConfigMap", "cm", "ns", {"data": {"b": "2"}})
    stale = configmap()
    stale["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    with pytest.raises(ApiError) as caught:
        await api.apply(stale, field_manager=FIELD_MANAGER)
    assert caught.value.conflict


async def test_status_goes_only_through_the_status_subresource() -> None:
    api = FakeApi()
    api.add(
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "Workload",
            "metadata": {"name": "w", "namespace": "ns"},
            "spec": {"containers": {}},
        }
    )
    body: dict[str, Any] = {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": "w", "namespace": "ns"},
        "status": {"observedGeneration": 1},
    }
    main = await api.apply(body, field_manager=FIELD_MANAGER)
    assert "status" not in main
    written = await api.apply(body, field_manager=FIELD_MANAGER, subresource="status")
    assert written["status"] == {"observedGeneration": 1}
    assert written["spec"] == {"containers": {}}
    assert written["metadata"]["generation"] == 1
    assert api.writes_log[-1] == Write(
        "apply", "Workload", "ns", "w", api.writes_log[-1].body, "status"
    )


async def test_refusal_raises_the_api_servers_status() -> None:
    api = FakeApi()
    api.refuse("apply", "Deployment", status=403, times=1)
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "ns"},
    }
    with pytest.raises(ApiError) as caught:
        await api.apply(manifest, field_manager=FIELD_MANAGER)
    err = caught.value
    assert (err.status, err.reason) == (403, "Forbidden")
    assert err.message.startswith('deployments.apps "d" is forbidden: User ')
    assert err.body["kind"] == "Status"
    assert err.body["code"] == 403
    assert api.writes_log == []
    await api.apply(manifest, field_manager=FIELD_MANAGER)  # times=1: served now
    assert api.written() == [("apply", "Deployment", "d")]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (404, "NotFound"),
        (409, "Conflict"),
        (422, "Invalid"),
        (429, "TooManyRequests"),
        (500, "InternalError"),
    ],
)
async def test_refusal_statuses(status: int, reason: str) -> None:
    api = FakeApi()
    api.refuse("create", status=status, message="said no")
    with pytest.raises(ApiError) as caught:
        await api.create(configmap())
    assert (caught.value.status, caught.value.reason, caught.value.message) == (
        status,
        reason,
        "said no",
    )


async def test_get_of_a_missing_object_is_none_and_of_an_unserved_kind_404() -> None:
    api = FakeApi()
    assert await api.get("v1", "ConfigMap", "nope", "ns") is None
    with pytest.raises(ApiError) as caught:
        await api.get("example.org/v1", "Thing", "x", "ns")
    assert caught.value.not_found
    api.serve("example.org/v1", "Thing")
    assert await api.get("example.org/v1", "Thing", "x", "ns") is None


async def test_list_by_label_selector() -> None:
    api = FakeApi()
    api.add(configmap(name="a", labels={"app": "x", "tier": "web"}))
    api.add(configmap(name="b", labels={"app": "x"}))
    api.add(configmap(name="c", labels={"app": "y"}))
    names = lambda items: [i["metadata"]["name"] for i in items]  # noqa: E731
    assert names(await api.list("v1", "ConfigMap", "ns", label_selector="app=x")) == ["a", "b"]
    assert names(await api.list("v1", "ConfigMap", "ns", label_selector="app=x,tier")) == ["a"]
    assert names(await api.list("v1", "ConfigMap", "ns", label_selector="app!=x")) == ["c"]
    assert names(await api.list("v1", "ConfigMap", "ns", label_selector="!tier")) == ["b", "c"]
    items = await api.list("v1", "ConfigMap", "ns")
    assert items[0]["kind"] == "ConfigMap"  # set by the client, as lists carry none


async def test_finalizer_patches_and_deletion() -> None:
    api = FakeApi()
    obj = api.add(configmap())
    with_finalizer = await set_finalizer(api, obj, True)
    assert with_finalizer is not None
    assert with_finalizer["metadata"]["finalizers"] == [FINALIZER]
    assert await api.delete("v1", "ConfigMap", "cm", "ns")
    deleting = api.stored("v1", "ConfigMap", "cm", "ns")
    assert deleting is not None
    assert deleting["metadata"]["deletionTimestamp"]
    assert await set_finalizer(api, deleting, False) is not None
    assert api.stored("v1", "ConfigMap", "cm", "ns") is None
    assert api.written() == [
        ("patch", "ConfigMap", "cm"),
        ("delete", "ConfigMap", "cm"),
        ("patch", "ConfigMap", "cm"),
    ]


async def test_json_patch_test_failure_is_422() -> None:
    api = FakeApi()
    api.add(configmap())
    path = await api.path_for("v1", "ConfigMap", "ns", "cm")
    ops = [
        {"op": "test", "path": "/metadata/uid", "value": "another"},
        {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
    ]
    with pytest.raises(ApiError) as caught:
        await api.request("PATCH", path, body=ops, content_type="application/json-patch+json")
    assert caught.value.status == 422
    assert "testing value /metadata/uid failed" in caught.value.message
    assert api.writes_log == []


async def test_set_finalizer_on_a_namesake_writes_nothing() -> None:
    api = FakeApi()
    obj = api.add(configmap())
    stale = {**obj, "metadata": {**obj["metadata"], "uid": "another"}}
    assert await set_finalizer(api, stale, True) is None  # 422, read again: not ours
    assert [c.verb for c in api.calls] == ["patch", "get"]
    assert api.writes_log == []


async def test_delete_with_a_uid_precondition_of_a_namesake_is_409() -> None:
    api = FakeApi()
    api.add(configmap())
    with pytest.raises(ApiError) as caught:
        await api.delete("v1", "ConfigMap", "cm", "ns", uid="someone-else")
    assert caught.value.conflict
    assert await api.delete("v1", "ConfigMap", "nope", "ns") is False


async def test_events_are_created_with_generated_names() -> None:
    api = FakeApi()
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "w.", "namespace": "ns"},
        "involvedObject": {"name": "w"},
        "type": "Normal",
        "reason": "Hello",
        "message": "hi",
    }
    created = await api.create(event)
    assert created["metadata"]["name"].startswith("w.")
    assert api.events("w") == [("Normal", "Hello", "hi")]
    assert api.written() == []
    assert api.written(include_events=True) == [("create", "Event", created["metadata"]["name"])]


async def test_garbage_collection_follows_owner_references() -> None:
    api = FakeApi()
    owner = api.add(configmap(name="owner"))
    api.add(
        configmap(
            name="child",
            ownerReferences=[
                {"kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
            ],
        )
    )
    assert api.collect_garbage() == []
    api.remove("v1", "ConfigMap", "owner", "ns")
    assert api.collect_garbage() == [("v1", "ConfigMap", "ns", "child")]


async def test_drift_by_another_manager_shows_in_managed_fields() -> None:
    api = FakeApi()
    mine = configmap()
    applied = await api.apply(mine, field_manager=FIELD_MANAGER)
    assert untouched_since_our_apply(applied, mine)
    edited = api.edit("v1", "ConfigMap", "cm", "ns", {"data": {"a": "2"}}, manager="kubectl")
    assert not untouched_since_our_apply(edited, mine)


async def test_fill_gives_the_cache_what_the_watches_would() -> None:
    api = FakeApi()
    api.add(
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "Workload",
            "metadata": {"name": "w", "namespace": "ns"},
            "spec": {},
        }
    )
    api.add(
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "Environment",
            "metadata": {"name": "e"},
            "spec": {"namespace": "ns"},
        }
    )
    labels = {"app.kubernetes.io/managed-by": "berth", "berth.dev/workload": "w"}
    api.add(configmap(labels=labels))
    api.add(configmap(name="not-ours"))
    cache = await api.fill(Cache())
    assert cache.workload(("ns", "w")) is not None
    assert [e["metadata"]["name"] for e in cache.environments_for_namespace("ns")] == ["e"]
    assert [c["metadata"]["name"] for c in cache.children_of(("ns", "w"))] == ["cm"]


async def test_requests_go_through_the_real_clients_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What hooks KubeClient.request (tests/statuscheck.py does) sees the fake's traffic,
    and the client's own retries and write counting run."""
    seen: list[tuple[str, str]] = []
    original = KubeClient.request

    async def request(self: KubeClient, method: str, path: str, **rest: Any) -> Any:
        seen.append((method, path))
        return await original(self, method, path, **rest)

    monkeypatch.setattr(KubeClient, "request", request)
    api = FakeApi()
    await api.apply(configmap(), field_manager=FIELD_MANAGER)
    assert seen == [("PATCH", "/api/v1/namespaces/ns/configmaps/cm")]
    assert api.writes[("PATCH", "ConfigMap")] == 1

    api.refuse("get", "ConfigMap", status=503, times=2)  # retried by the client, at once
    assert await api.get("v1", "ConfigMap", "cm", "ns") is not None
    assert [c.verb for c in api.calls[-3:]] == ["get", "get", "get"]


async def test_update_replaces_only_the_version_read_and_only_what_exists() -> None:
    api = FakeApi()
    created = await api.create(configmap())
    path = await api.path_for("v1", "ConfigMap", "ns", "cm")
    body = configmap({"a": "2"}, resourceVersion=created["metadata"]["resourceVersion"])
    updated = await api.request("PUT", path, body=body, kind="ConfigMap")
    assert updated["data"] == {"a": "2"}
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    with pytest.raises(ApiError) as stale:  # the version read is no longer the stored one
        await api.request("PUT", path, body=body, kind="ConfigMap")
    assert stale.value.conflict
    gone = await api.path_for("v1", "ConfigMap", "ns", "other")
    with pytest.raises(ApiError) as missing:
        await api.request("PUT", gone, body=configmap(), kind="ConfigMap")
    assert missing.value.not_found
    assert api.written() == [("create", "ConfigMap", "cm"), ("update", "ConfigMap", "cm")]


async def test_delete_with_a_resource_version_precondition_of_another_version_is_409() -> None:
    api = FakeApi()
    created = await api.create(configmap())
    path = await api.path_for("v1", "ConfigMap", "ns", "cm")
    stale = {"preconditions": {"resourceVersion": "1"}}
    with pytest.raises(ApiError) as err:
        await api.request("DELETE", path, body=stale, kind="ConfigMap")
    assert err.value.conflict
    assert api.stored("v1", "ConfigMap", "cm", "ns") is not None
    current = {"preconditions": {"resourceVersion": created["metadata"]["resourceVersion"]}}
    await api.request("DELETE", path, body=current, kind="ConfigMap")
    assert api.stored("v1", "ConfigMap", "cm", "ns") is None
