"""Our writes to our own objects and to provisioned resources, against the in-memory API:
status (kube/status.py), Events (kube/events.py), our finalizer (kube/finalizers.py),
resource objects and the retained mark (kube/resources.py)."""

from __future__ import annotations

from typing import Any

import pytest

from berth.kube.client import Conflict, Forbidden, Invalid, NotFound, ServerError
from berth.kube.events import EventRecorder
from berth.kube.finalizers import ATTEMPTS, FINALIZER, has_finalizer, set_finalizer
from berth.kube.resources import (
    RETAINED_ANNOTATION,
    apply_resource_objects,
    delete_object,
    get_object,
    list_provisioned,
    mark_retained,
    read_objects,
    secret_keys,
)
from berth.kube.status import ours, write_status
from tests.fakeapi import FakeApi

NS = "team"
NOW = "2026-05-01T10:00:00Z"
LATER = "2026-05-01T10:05:00Z"


def workload(api: FakeApi, **meta: Any) -> dict[str, Any]:
    return api.add(
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "Workload",
            "metadata": {"name": "shop", "namespace": NS, **meta},
            "spec": {},
        }
    )


def environment(api: FakeApi) -> dict[str, Any]:
    return api.add(
        {"apiVersion": "berth.dev/v1alpha1", "kind": "Environment", "metadata": {"name": "dev"}}
    )


# -- status -----------------------------------------------------------------------------


def test_ours_leaves_out_what_kopf_writes() -> None:
    assert ours({"kopf": {"progress": {}}, "observedGeneration": 2}) == {"observedGeneration": 2}
    assert ours(None) == {}


async def test_status_is_applied_whole_through_the_subresource_and_only_when_changed() -> None:
    api = FakeApi()
    obj = workload(api)
    status = {"observedGeneration": 1, "endpoint": "shop.team.svc"}
    written = await write_status(api, obj, status)
    assert written is not None
    assert written["status"] == status
    (write,) = api.writes_log
    assert (write.verb, write.subresource, write.namespace) == ("apply", "status", NS)
    assert write.body["metadata"] == {"name": "shop", "namespace": NS}  # nothing else of it
    api.forget_history()
    # The same status again (kopf's own field aside): no request at all.
    same = {**written, "status": {**written["status"], "kopf": {"dummy": "x"}}}
    assert await write_status(api, same, dict(status)) is None
    assert api.calls == []


async def test_a_cluster_scoped_objects_status_has_no_namespace() -> None:
    api = FakeApi()
    env = environment(api)
    await write_status(api, env, {"observedGeneration": 1})
    (write,) = api.writes_log
    assert write.body["metadata"] == {"name": "dev"}
    stored = api.stored("berth.dev/v1alpha1", "Environment", "dev")
    assert stored is not None
    assert stored["status"] == {"observedGeneration": 1}


# -- Events -----------------------------------------------------------------------------


async def test_an_event_names_its_object_and_a_repeat_bumps_its_count() -> None:
    api = FakeApi()
    events = EventRecorder(api)
    obj = workload(api)
    await events.post(obj, reason="Ready", message="all good", warning=False, now=NOW)
    (event,) = api.of_kind("Event", NS)
    assert event["involvedObject"] == {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "name": "shop",
        "namespace": NS,
        "uid": obj["metadata"]["uid"],
    }
    assert (event["type"], event["reason"], event["count"]) == ("Normal", "Ready", 1)
    assert event["metadata"]["name"].startswith("shop.")
    await events.post(obj, reason="Ready", message="all good", warning=False, now=LATER)
    (event,) = api.of_kind("Event", NS)
    assert (event["count"], event["firstTimestamp"], event["lastTimestamp"]) == (2, NOW, LATER)
    assert [w.verb for w in api.writes_log] == ["create", "patch"]
    # Another message is another Event.
    await events.post(obj, reason="Stalled", message="no", warning=True, now=LATER)
    assert api.events("shop") == [("Normal", "Ready", "all good"), ("Warning", "Stalled", "no")]


async def test_an_expired_event_is_posted_anew() -> None:
    api = FakeApi()
    events = EventRecorder(api)
    obj = workload(api)
    await events.post(obj, reason="Ready", message="m", warning=False, now=NOW)
    (event,) = api.of_kind("Event", NS)
    api.remove("v1", "Event", event["metadata"]["name"], NS)  # Events live an hour
    await events.post(obj, reason="Ready", message="m", warning=False, now=LATER)
    (fresh,) = api.of_kind("Event", NS)
    assert fresh["count"] == 1
    assert fresh["metadata"]["name"] != event["metadata"]["name"]


async def test_an_event_that_cannot_be_bumped_for_another_reason_is_raised() -> None:
    api = FakeApi()
    events = EventRecorder(api)
    obj = workload(api)
    await events.post(obj, reason="Ready", message="m", warning=False, now=NOW)
    api.refuse("patch", "Event", status=403)
    with pytest.raises(Forbidden):
        await events.post(obj, reason="Ready", message="m", warning=False, now=LATER)


async def test_a_cluster_scoped_objects_events_go_to_default_and_long_messages_are_cut() -> None:
    api = FakeApi()
    events = EventRecorder(api)
    env = environment(api)
    await events.post(env, reason="Invalid", message="x" * 5000, warning=True, now=NOW)
    (event,) = api.of_kind("Event", "default")
    assert event["involvedObject"]["namespace"] == ""
    assert len(event["message"]) == 1024


async def test_the_memory_of_posted_events_is_bounded() -> None:
    api = FakeApi()
    events = EventRecorder(api, limit=2)
    obj = workload(api)
    for message in ("one", "two", "three"):
        await events.post(obj, reason="R", message=message, warning=False, now=NOW)
    assert [k[3] for k in events.recent] == ["two", "three"]
    # "one" was forgotten: a repeat is a new Event, not a bump.
    await events.post(obj, reason="R", message="one", warning=False, now=LATER)
    assert len(api.of_kind("Event", NS)) == 4


# -- our finalizer ----------------------------------------------------------------------


async def test_the_finalizer_is_added_once_and_removed_leaving_others_alone() -> None:
    api = FakeApi()
    obj = workload(api)
    assert not has_finalizer(obj)
    added = await set_finalizer(api, obj, True)
    assert added is not None
    assert added["metadata"]["finalizers"] == [FINALIZER]
    assert await set_finalizer(api, added, True) is None  # already so: no request
    api.edit(
        "berth.dev/v1alpha1",
        "Workload",
        "shop",
        NS,
        {"metadata": {"finalizers": ["argocd.argoproj.io/x", FINALIZER]}},
    )
    fresh = api.stored("berth.dev/v1alpha1", "Workload", "shop", NS)
    assert fresh is not None
    removed = await set_finalizer(api, fresh, False)
    assert removed is not None
    assert removed["metadata"]["finalizers"] == ["argocd.argoproj.io/x"]
    assert await set_finalizer(api, removed, False) is None
    assert [w.verb for w in api.writes_log] == ["patch", "patch"]
    # JSON patches that test the uid first: a patch never creates, and never hits a namesake.
    assert api.writes_log[0].body[0] == {
        "op": "test",
        "path": "/metadata/uid",
        "value": obj["metadata"]["uid"],
    }


async def test_adding_beside_another_controllers_finalizer_appends() -> None:
    api = FakeApi()
    obj = workload(api, finalizers=["foregroundDeletion"])
    added = await set_finalizer(api, obj, True)
    assert added is not None
    assert added["metadata"]["finalizers"] == ["foregroundDeletion", FINALIZER]


async def test_a_finalizer_list_changed_meanwhile_is_read_again_and_retried() -> None:
    api = FakeApi()
    obj = workload(api, finalizers=[FINALIZER])
    # Argo CD adds its own in front after our read: our index is stale, the test op fails.
    api.edit(
        "berth.dev/v1alpha1",
        "Workload",
        "shop",
        NS,
        {"metadata": {"finalizers": ["foregroundDeletion", FINALIZER]}},
    )
    removed = await set_finalizer(api, obj, False)
    assert removed is not None
    assert removed["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert [c.verb for c in api.calls] == ["patch", "get", "patch"]


async def test_a_finalizer_on_an_object_gone_or_replaced_is_left_alone() -> None:
    api = FakeApi()
    obj = workload(api, finalizers=[FINALIZER])
    api.remove("berth.dev/v1alpha1", "Workload", "shop", NS)
    assert await set_finalizer(api, obj, False) is None  # 404
    workload(api, finalizers=["foregroundDeletion", FINALIZER])  # a namesake
    assert await set_finalizer(api, obj, False) is None  # uid test fails, re-read: not ours
    namesake = api.stored("berth.dev/v1alpha1", "Workload", "shop", NS)
    assert namesake is not None
    assert namesake["metadata"]["finalizers"] == ["foregroundDeletion", FINALIZER]


async def test_a_finalizer_patch_refused_every_time_is_raised_after_a_few_attempts() -> None:
    api = FakeApi()
    obj = workload(api)
    api.refuse("patch", "Workload", status=422)
    with pytest.raises(Invalid):
        await set_finalizer(api, obj, True)
    assert [c.verb for c in api.calls].count("patch") == ATTEMPTS


async def test_a_finalizer_patch_on_an_object_gone_during_the_retry_is_left_alone() -> None:
    api = FakeApi()
    obj = workload(api)
    api.refuse("patch", "Workload", status=422, times=1)
    api.refuse("get", "Workload", status=404, times=1)
    assert await set_finalizer(api, obj, True) is None


async def test_a_finalizer_patch_refused_otherwise_is_raised_at_once() -> None:
    api = FakeApi()
    obj = workload(api)
    api.refuse("patch", "Workload", status=403)
    with pytest.raises(Forbidden):
        await set_finalizer(api, obj, True)
    assert [c.verb for c in api.calls] == ["patch"]


# -- provisioned resources ----------------------------------------------------------------


CLAIM_API = "db.acme.dev/v1"


def claim(params: dict[str, Any] | None = None, name: str = "shop-db") -> dict[str, Any]:
    return {
        "apiVersion": CLAIM_API,
        "kind": "PostgreSQLInstance",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"app.kubernetes.io/managed-by": "berth", "berth.dev/resource": "db"},
        },
        "spec": {"parameters": params or {"storageGB": 10}},
    }


def claims_api() -> FakeApi:
    api = FakeApi()
    api.serve(CLAIM_API, "PostgreSQLInstance")
    return api


async def test_a_secrets_keys_and_never_its_values() -> None:
    api = FakeApi()
    assert await secret_keys(api, NS, "db-conn") is None
    api.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db-conn", "namespace": NS},
            "data": {"host": "aG9zdA==", "password": "c2VjcmV0"},
            "stringData": {"port": "5432"},
        }
    )
    assert await secret_keys(api, NS, "db-conn") == {"host", "password", "port"}


async def test_resource_objects_are_written_when_they_change_and_not_otherwise() -> None:
    api = claims_api()
    current, written = await apply_resource_objects(api, [claim()])
    assert written == 1
    assert current[0]["metadata"]["uid"]
    assert "ownerReferences" not in current[0]["metadata"]  # their fate is the policy's
    api.forget_history()
    live = await read_objects(api, [claim()])
    current, written = await apply_resource_objects(api, [claim()], live)
    assert written == 0
    assert api.written() == []
    current, written = await apply_resource_objects(api, [claim({"storageGB": 20})])
    assert written == 1
    assert current[0]["spec"]["parameters"] == {"storageGB": 20}


async def test_a_conditional_write_fails_when_the_definition_moved_since_the_read() -> None:
    api = claims_api()
    await apply_resource_objects(api, [claim()])
    live = await read_objects(api, [claim()])
    # Another Workload takes the shared definition over between our read and our write.
    api.edit(CLAIM_API, "PostgreSQLInstance", "shop-db", NS, {"spec": {"parameters": {"x": 1}}})
    with pytest.raises(Conflict, match="has been modified"):
        await apply_resource_objects(api, [claim({"storageGB": 30})], live, conditional=True)
    stored = api.stored(CLAIM_API, "PostgreSQLInstance", "shop-db", NS)
    assert stored is not None
    assert stored["spec"]["parameters"] == {"storageGB": 10, "x": 1}  # theirs, untouched


async def test_a_retained_object_asked_for_again_loses_its_mark() -> None:
    api = claims_api()
    (obj,), _ = await apply_resource_objects(api, [claim()])
    marked = await mark_retained(api, obj, "shop")
    assert marked is not None
    assert marked["metadata"]["annotations"][RETAINED_ANNOTATION] == "shop"
    assert await mark_retained(api, marked, "shop") is None  # already marked
    (now,), written = await apply_resource_objects(api, [claim()])
    assert written == 1
    assert RETAINED_ANNOTATION not in now["metadata"]["annotations"]
    stored = api.stored(CLAIM_API, "PostgreSQLInstance", "shop-db", NS)
    assert stored is not None
    assert RETAINED_ANNOTATION not in stored["metadata"]["annotations"]


async def test_marking_an_object_gone_is_nothing() -> None:
    api = claims_api()
    (obj,), _ = await apply_resource_objects(api, [claim()])
    api.remove(CLAIM_API, "PostgreSQLInstance", "shop-db", NS)
    assert await mark_retained(api, obj, "shop") is None


async def test_provisioned_objects_are_found_by_their_labels_kinds_not_served_skipped() -> None:
    api = claims_api()
    api.serve("cache.acme.dev/v1", "Redis")
    api.serve("cluster.acme.dev/v1", "Bucket", namespaced=False)
    await apply_resource_objects(api, [claim(), claim(name="other-db")])
    api.add({**claim(name="hand-made"), "metadata": {"name": "hand-made", "namespace": NS}})
    api.add(
        {
            **claim(name="elsewhere"),
            "metadata": {**claim()["metadata"], "name": "x", "namespace": "other"},
        }
    )
    api.add(
        {
            "apiVersion": "cluster.acme.dev/v1",
            "kind": "Bucket",
            "metadata": {"name": "b", "labels": claim()["metadata"]["labels"]},
        }
    )
    api.refuse("list", "Redis", status=403)
    found = await list_provisioned(
        api,
        [
            (CLAIM_API, "PostgreSQLInstance"),
            (CLAIM_API, "PostgreSQLInstance"),
            ("cache.acme.dev/v1", "Redis"),  # may not list: skipped
            ("mq.acme.dev/v1", "Queue"),  # not served: skipped
            ("cluster.acme.dev/v1", "Bucket"),  # cluster-scoped: not this namespace's
        ],
        NS,
    )
    assert sorted(o["metadata"]["name"] for o in found) == ["other-db", "shop-db"]
    api.refuse("list", "PostgreSQLInstance", status=500)
    with pytest.raises(ServerError):
        await list_provisioned(api, [(CLAIM_API, "PostgreSQLInstance")], NS)


async def test_get_and_delete_of_a_kind_not_served_are_none_and_false() -> None:
    api = claims_api()
    assert await get_object(api, "mq.acme.dev/v1", "Queue", "q", NS) is None
    assert await delete_object(api, "mq.acme.dev/v1", "Queue", "q", NS) is False
    (obj,), _ = await apply_resource_objects(api, [claim()])
    got = await get_object(api, CLAIM_API, "PostgreSQLInstance", "shop-db", NS)
    assert got is not None
    assert await delete_object(
        api, CLAIM_API, "PostgreSQLInstance", "shop-db", NS, uid=obj["metadata"]["uid"]
    )
    assert await delete_object(api, CLAIM_API, "PostgreSQLInstance", "shop-db", NS) is False
    with pytest.raises(NotFound):
        await api.resource_info("mq.acme.dev/v1", "Queue")


async def test_get_and_delete_raise_what_is_not_a_missing_kind() -> None:
    api = claims_api()
    api.refuse("get", status=403)
    api.refuse("delete", status=403)
    api.refuse("patch", status=403)
    with pytest.raises(Forbidden):
        await get_object(api, CLAIM_API, "PostgreSQLInstance", "shop-db", NS)
    with pytest.raises(Forbidden):
        await delete_object(api, CLAIM_API, "PostgreSQLInstance", "shop-db", NS)
    with pytest.raises(Forbidden):
        await mark_retained(api, claim(), "shop")
