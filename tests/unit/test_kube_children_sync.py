"""Writing a Workload's children (kube/children.py) against the in-memory API.

Given what is stored, which writes does a sync send, and what does it report: the first
sync applies, a quiet one writes nothing, drift is corrected, another's label is no
drift, a name taken by someone else stops the sync, a refusal stops it, and what is no
longer desired is pruned only when it is ours.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from berth.kube.children import (
    APPLIED_HASH_ANNOTATION,
    NameConflict,
    ObjectKey,
    Refusal,
    apply_if_changed,
    foreign_owner,
    prepared_manifest,
    slim_child,
    sync_children,
)
from berth.kube.client import ServerError
from tests.fakeapi import FakeApi

NS = "team"
LABELS = {"app.kubernetes.io/managed-by": "berth", "berth.dev/workload": "shop"}


class Clock:
    """The fake API server's clock, moved by the test (managedFields times are seconds)."""

    def __init__(self) -> None:
        self.now = datetime.datetime(2026, 5, 1, 10, 0, 0, tzinfo=datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.now

    def tick(self, seconds: int = 1) -> None:
        self.now += datetime.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(clock: Clock) -> FakeApi:
    return FakeApi(now=clock)


def workload(api: FakeApi, name: str = "shop") -> dict[str, Any]:
    return api.add(
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "Workload",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"containers": {"main": {"image": "shop:1"}}},
        }
    )


def configmap(data: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "shop", "namespace": NS, "labels": dict(LABELS)},
        "data": data if data is not None else {"GREETING": "hello"},
    }


def service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "shop", "namespace": NS, "labels": dict(LABELS)},
        "spec": {"selector": {"berth.dev/workload": "shop"}, "ports": [{"port": 80}]},
    }


def deployment(replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "shop", "namespace": NS, "labels": dict(LABELS)},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "main"}]}}},
    }


def desired() -> list[dict[str, Any]]:
    return [deployment(), configmap(), service()]


def key(kind: str, name: str = "shop") -> ObjectKey:
    return ObjectKey("apps" if kind == "Deployment" else "", kind, NS, name)


def live(api: FakeApi) -> list[dict[str, Any]]:
    """What the watches hold: every object with the inventory label."""
    return [
        o
        for kind in ("ConfigMap", "Service", "Deployment")
        for o in api.of_kind(kind, NS)
        if (o["metadata"].get("labels") or {}).get("berth.dev/workload") == "shop"
    ]


async def test_the_first_sync_applies_every_child_in_dependency_order(api: FakeApi) -> None:
    owner = workload(api)
    result = await sync_children(api, owner, desired(), [])
    # ConfigMap and Service before the Deployment that uses them.
    assert api.written() == [
        ("apply", "ConfigMap", "shop"),
        ("apply", "Service", "shop"),
        ("apply", "Deployment", "shop"),
    ]
    assert result.applied == [key("ConfigMap"), key("Service"), key("Deployment")]
    assert (result.unchanged, result.corrected, result.pruned) == ([], [], [])
    assert result.refused is None
    assert result.conflict is None
    stored = api.stored("apps/v1", "Deployment", "shop", NS)
    assert stored is not None
    (ref,) = stored["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["uid"], ref["controller"]) == (
        "Workload",
        owner["metadata"]["uid"],
        True,
    )
    assert APPLIED_HASH_ANNOTATION in stored["metadata"]["annotations"]
    assert result.current[key("Deployment")]["metadata"]["uid"] == stored["metadata"]["uid"]
    # Fields applied with force under our one manager.
    assert [c.verb for c in api.calls if c.kind == "Deployment"] == ["get", "apply"]


async def test_a_sync_that_changes_nothing_writes_nothing(api: FakeApi, clock: Clock) -> None:
    owner = workload(api)
    await sync_children(api, owner, desired(), [])
    clock.tick(60)
    api.forget_history()
    result = await sync_children(api, owner, desired(), live(api))
    assert api.calls == []  # not even a dry run: the hash and managedFields say enough
    assert result.unchanged == [key("ConfigMap"), key("Service"), key("Deployment")]
    assert result.applied == []
    assert set(result.current) == set(result.unchanged)


async def test_a_changed_manifest_is_applied_without_a_dry_run(api: FakeApi) -> None:
    owner = workload(api)
    await sync_children(api, owner, desired(), [])
    api.forget_history()
    result = await sync_children(
        api, owner, [deployment(replicas=3), configmap(), service()], live(api)
    )
    assert api.written() == [("apply", "Deployment", "shop")]
    assert not any(c.dry_run for c in api.calls)
    assert result.applied == [key("Deployment")]
    assert result.corrected == []  # our change, not a correction
    stored = api.stored("apps/v1", "Deployment", "shop", NS)
    assert stored is not None
    assert stored["spec"]["replicas"] == 3


async def test_drift_by_another_writer_is_corrected(api: FakeApi, clock: Clock) -> None:
    owner = workload(api)
    await sync_children(api, owner, desired(), [])
    clock.tick()
    api.edit("v1", "ConfigMap", "shop", NS, {"data": {"GREETING": "hacked"}})
    api.forget_history()
    result = await sync_children(api, owner, desired(), live(api))
    assert [(c.verb, c.dry_run) for c in api.calls] == [("apply", True), ("apply", False)]
    assert result.corrected == [key("ConfigMap")]
    assert result.applied == [key("ConfigMap")]
    stored = api.stored("v1", "ConfigMap", "shop", NS)
    assert stored is not None
    assert stored["data"] == {"GREETING": "hello"}


async def test_an_edit_older_than_our_apply_is_no_drift(api: FakeApi, clock: Clock) -> None:
    owner = workload(api)
    # Restored from a backup by kubectl, with our labels: ours, taken over by our apply.
    api.add(configmap(), manager="kubectl")
    clock.tick()
    await sync_children(api, owner, [configmap()], [])
    api.forget_history()
    await sync_children(api, owner, [configmap()], live(api))
    assert api.calls == []  # kubectl's entry is older than our apply: nothing to look at


async def test_another_writers_label_is_no_drift(api: FakeApi, clock: Clock) -> None:
    owner = workload(api)
    await sync_children(api, owner, desired(), [])
    clock.tick()
    api.edit("v1", "Service", "shop", NS, {"metadata": {"labels": {"team": "blue"}}})
    api.forget_history()
    result = await sync_children(api, owner, desired(), live(api))
    assert api.written() == []
    assert [(c.kind, c.verb, c.dry_run) for c in api.calls] == [("Service", "apply", True)]
    assert key("Service") in result.unchanged


async def test_a_stale_copy_is_judged_on_the_object_as_it_is_now(
    api: FakeApi, clock: Clock
) -> None:
    owner = workload(api)
    await sync_children(api, owner, [configmap()], [])
    clock.tick()
    api.edit("v1", "ConfigMap", "shop", NS, {"data": {"GREETING": "hacked"}})
    stale = live(api)  # the watch saw the edit...
    # ...but not yet its undoing (and another writer's label since).
    api.edit("v1", "ConfigMap", "shop", NS, {"data": {"GREETING": "hello"}})
    api.edit("v1", "ConfigMap", "shop", NS, {"metadata": {"labels": {"team": "green"}}})
    api.forget_history()
    result = await sync_children(api, owner, [configmap()], stale)
    # The dry run's resourceVersion is ahead of our copy: read it again, and it is fine.
    assert [(c.verb, c.dry_run) for c in api.calls] == [("apply", True), ("get", False)]
    assert api.written() == []
    assert result.unchanged == [key("ConfigMap")]
    assert result.current[key("ConfigMap")]["metadata"]["labels"]["team"] == "green"


async def test_a_slim_cached_copy_is_read_whole_before_judging(api: FakeApi, clock: Clock) -> None:
    owner = workload(api)
    await sync_children(api, owner, [deployment()], [])
    clock.tick()
    api.set_status("apps/v1", "Deployment", "shop", NS, {"replicas": 1})  # status: not drift
    api.edit("apps/v1", "Deployment", "shop", NS, {"metadata": {"labels": {"x": "y"}}})
    slim = [slim_child(o) for o in live(api)]
    api.forget_history()
    result = await sync_children(api, owner, [deployment()], slim)
    assert [(c.verb, c.dry_run) for c in api.calls] == [("apply", True), ("get", False)]
    assert api.written() == []
    assert result.current[key("Deployment")]["spec"]["template"]  # the whole object


async def test_a_slim_copy_of_a_drifted_child_is_corrected(api: FakeApi, clock: Clock) -> None:
    owner = workload(api)
    await sync_children(api, owner, [deployment()], [])
    clock.tick()
    api.edit("apps/v1", "Deployment", "shop", NS, {"spec": {"replicas": 7}}, manager="kubectl")
    api.forget_history()
    result = await sync_children(api, owner, [deployment()], [slim_child(o) for o in live(api)])
    assert result.corrected == [key("Deployment")]
    stored = api.stored("apps/v1", "Deployment", "shop", NS)
    assert stored is not None
    assert stored["spec"]["replicas"] == 1


async def test_apply_if_changed_without_a_live_copy_applies() -> None:
    api = FakeApi()
    written, now = await apply_if_changed(api, prepared_manifest(configmap()), None)
    assert written
    assert now["metadata"]["uid"]


# -- names that are not ours ----------------------------------------------------------------


async def test_a_name_taken_by_someone_else_stops_the_sync_before_any_write(
    api: FakeApi,
) -> None:
    owner = workload(api)
    api.add(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": NS}},
        manager="kubectl",
    )
    result = await sync_children(api, owner, desired(), [])
    # The ConfigMap (sorted first) went; at the Service the sync stopped.
    assert api.written() == [("apply", "ConfigMap", "shop")]
    assert result.conflict == NameConflict(
        key("Service"), "nobody Berth knows (written by kubectl)"
    )
    assert result.refused is None
    stored = api.stored("v1", "Service", "shop", NS)
    assert stored is not None
    assert "spec" not in stored  # untouched


async def test_a_name_taken_by_another_workload_names_it(api: FakeApi) -> None:
    owner = workload(api)
    other = workload(api, "cart")
    await sync_children(
        api,
        other,
        [
            {
                **configmap(),
                "metadata": {
                    **configmap()["metadata"],
                    "labels": {**LABELS, "berth.dev/workload": "cart"},
                },
            }
        ],
        [],
    )
    result = await sync_children(api, owner, [configmap()], [])
    assert result.conflict is not None
    assert result.conflict.owner == "Workload cart"


async def test_our_own_child_missing_from_the_inventory_is_applied_not_refused(
    api: FakeApi,
) -> None:
    owner = workload(api)
    await sync_children(api, owner, [configmap()], [])
    api.forget_history()
    # The watch is behind: the inventory does not have it yet.
    result = await sync_children(api, owner, [configmap()], [])
    assert result.conflict is None
    assert result.unchanged == [key("ConfigMap")]


def owner_ref(kind: str, name: str, uid: str) -> dict[str, Any]:
    return {"apiVersion": "x/v1", "kind": kind, "name": name, "uid": uid, "controller": True}


BERTH_APPLIED_LABELS = {
    "manager": "berth",
    "operation": "Apply",
    "fieldsV1": {"f:metadata": {"f:labels": {f"f:{k}": {} for k in LABELS}}},
}

OWNER = {
    "apiVersion": "berth.dev/v1alpha1",
    "kind": "Workload",
    "metadata": {"name": "shop", "uid": "u-shop"},
}


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        # Our controller reference: ours, whatever the labels say.
        ({"ownerReferences": [owner_ref("Workload", "shop", "u-shop")]}, None),
        # A former Workload of the same name, not yet collected, with our labels that
        # Berth applied: ours (adopted).
        (
            {
                "labels": LABELS,
                "ownerReferences": [owner_ref("Workload", "shop", "u-old")],
                "managedFields": [BERTH_APPLIED_LABELS],
            },
            None,
        ),
        ({"labels": LABELS, "managedFields": [BERTH_APPLIED_LABELS]}, None),
        # Our labels, written by someone else: not ours.
        (
            {"labels": LABELS, "managedFields": [{"manager": "kubectl-label"}]},
            "nobody Berth knows: it carries Berth's labels, but Berth did not write them "
            "(written by kubectl-label)",
        ),
        ({"ownerReferences": [owner_ref("ReplicaSet", "rs", "u-rs")]}, "ReplicaSet rs"),
        (
            {"labels": {**LABELS, "berth.dev/resource": "db"}},
            "the resource 'db' of Workload shop",
        ),
        ({"labels": {**LABELS, "berth.dev/workload": "cart"}}, "Workload cart"),
        ({"labels": {"app.kubernetes.io/managed-by": "helm"}}, "nobody Berth knows"),
        (
            {"managedFields": [{"manager": "helm"}, {"manager": "kubectl"}, {}]},
            "nobody Berth knows (written by helm, kubectl)",
        ),
    ],
)
def test_who_an_existing_object_belongs_to(meta: dict[str, Any], expected: str | None) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop", **meta}}
    assert foreign_owner(obj, OWNER) == expected


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "permanent"),
    [
        (422, None, True),
        (400, None, True),
        (403, None, False),  # RBAC: an operator's grant may come
        (403, 'admission webhook "policy.acme.dev" denied the request: no', True),
        (409, None, False),
    ],
)
async def test_a_refused_child_stops_the_sync_and_is_reported(
    api: FakeApi, status: int, message: str | None, permanent: bool
) -> None:
    owner = workload(api)
    await sync_children(api, owner, [configmap(), deployment()], [])
    stale_child = api.stored("v1", "ConfigMap", "shop", NS)
    assert stale_child is not None
    api.refuse("apply", "Deployment", status=status, message=message)
    api.forget_history()
    # Desired: a changed Deployment, and no ConfigMap any more (it would be pruned).
    result = await sync_children(api, owner, [deployment(replicas=2)], live(api))
    assert result.refused is not None
    assert isinstance(result.refused, Refusal)
    assert (result.refused.key, result.refused.status) == (key("Deployment"), status)
    assert result.refused.permanent is permanent
    if message:
        assert result.refused.message == message
    assert result.pruned == []  # nothing pruned after a refusal
    assert api.stored("v1", "ConfigMap", "shop", NS) is not None
    assert api.written() == []


async def test_a_server_error_is_raised_not_reported_as_a_refusal(api: FakeApi) -> None:
    owner = workload(api)
    api.refuse("apply", "ConfigMap", status=500)
    with pytest.raises(ServerError):
        await sync_children(api, owner, [configmap()], [])


# -- pruning --------------------------------------------------------------------------------


async def test_what_is_no_longer_desired_is_pruned_only_when_it_is_ours(api: FakeApi) -> None:
    owner = workload(api)
    await sync_children(api, owner, desired(), [])
    # Someone else's object that carries our inventory label: listed, never pruned.
    api.add(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "copied", "namespace": NS, "labels": dict(LABELS)},
        }
    )
    api.forget_history()
    result = await sync_children(api, owner, [deployment()], live(api))
    assert result.pruned == [key("ConfigMap"), key("Service")]
    assert api.written() == [("delete", "ConfigMap", "shop"), ("delete", "Service", "shop")]
    deletes = [w for w in api.writes_log if w.verb == "delete"]
    assert all(w.body["preconditions"]["uid"] for w in deletes)  # never a namesake
    assert api.stored("v1", "ConfigMap", "copied", NS) is not None


async def test_a_child_already_gone_is_not_counted_as_pruned(api: FakeApi) -> None:
    owner = workload(api)
    await sync_children(api, owner, [configmap(), service()], [])
    known = live(api)
    api.remove("v1", "Service", "shop", NS)
    result = await sync_children(api, owner, [configmap()], known)
    assert result.pruned == []
