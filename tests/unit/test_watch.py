"""kopf's side (berth.handlers.watch): the settings made at startup, the login, the
indices, and which keys each watch event wakes — nothing else."""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import signal
from pathlib import Path
from typing import Any

import kopf
import pytest

from berth.handlers import watch
from berth.handlers.config import OperatorConfig
from berth.handlers.keys import (
    EnvironmentKey,
    PreviewKey,
    PromotionKey,
    RevisionKey,
    WorkloadKey,
)
from berth.handlers.queue import WorkQueue
from berth.handlers.runtime import Runtime
from berth.kube.informer import Informer, Source
from tests.fakeapi import FakeApi
from tests.unit.builders import NAMESPACE, environment_dict, workload_dict

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: "t0ken"}
contexts:
- name: x
  context: {cluster: c, user: u, namespace: team-a-dev}
current-context: x
"""

OURS = {"app.kubernetes.io/managed-by": "berth", "berth.dev/workload": "checkout"}


def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)


async def test_startup_settings_and_runtime(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = kopf.OperatorSettings()
    memo = kopf.Memo()
    memo.config = OperatorConfig(kubeconfig=kubeconfig(tmp_path), peering_lifetime=17)
    loop = asyncio.get_running_loop()
    try:
        await watch.configure(settings=settings, memo=memo)
        assert settings.posting.enabled is False
        assert settings.peering.lifetime == 17
        assert settings.persistence.finalizer == "berth.dev/kopf"
        # kopf watches nothing of ours: Berth's informers do, one line per kind.
        assert not settings.watching.label_selectors
        runtime = memo.runtime
        assert runtime.watched == watch.WATCHED
        assert set(runtime.reconcilers) == {
            "workload",
            "environment",
            "preview",
            "revision",
            "promotion",
        }
        assert runtime.client.credentials.server == "https://127.0.0.1:6443"

        # SIGUSR1 dumps the tasks, for a stuck operator.
        with caplog.at_level(logging.WARNING, logger="berth"):
            os.kill(os.getpid(), signal.SIGUSR1)
            await asyncio.sleep(0.05)
        assert "asyncio tasks:" in caplog.text

        await watch.shutdown(memo=memo)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)


def test_the_gates_are_the_settings_ones() -> None:
    assert watch.gates(OperatorConfig()) == (None, None)  # alone: always works
    sharder, peering = watch.gates(
        OperatorConfig(shards=4, identity="me", shard_namespace="ops", shard_lease_seconds=9)
    )
    assert sharder is not None
    assert (sharder.shards, sharder.identity, sharder.namespace) == (4, "me", "ops")
    assert peering is None
    sharder, peering = watch.gates(
        OperatorConfig(
            standalone=False,
            peering="team",
            identity="me",
            priority=3,
            peering_lifetime=20,
            namespaces=("a",),
        )
    )
    assert sharder is None
    assert peering is not None
    assert (peering.name, peering.identity, peering.priority) == ("team", "me", 3)
    assert (peering.lifetime, peering.namespaces) == (20, ("a",))
    assert not peering.active.is_set()  # standing by until it has read the peering


def test_keys_say_what_they_name() -> None:
    assert (str(WorkloadKey("ns", "shop")), WorkloadKey("ns", "shop").kind) == (
        "ns/shop",
        "workload",
    )
    assert (str(EnvironmentKey("dev")), EnvironmentKey("dev").kind) == ("dev", "environment")


def test_login_reads_the_same_credentials(tmp_path: Path) -> None:
    memo = kopf.Memo()
    memo.config = OperatorConfig(kubeconfig=kubeconfig(tmp_path))
    info = watch.login(memo=memo)
    assert (info.server, info.scheme, info.token) == ("https://127.0.0.1:6443", "Bearer", "t0ken")
    assert info.insecure is True


# -- what is kept and indexed -------------------------------------------------------------


def pod(labels: dict[str, str], owner: str | None, **status: Any) -> dict[str, Any]:
    refs = [{"kind": "ReplicaSet", "name": owner}] if owner else []
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": NAMESPACE,
            "labels": labels,
            "ownerReferences": refs,
        },
        "status": {"phase": "Running", **status},
    }


@pytest.mark.parametrize(
    ("labels", "replicaset", "owner"),
    [
        ({**OURS, "pod-template-hash": "abc"}, "checkout-abc", "checkout"),
        ({**OURS, "pod-template-hash": "abc"}, "other-abc", None),  # a template's Deployment
        ({**OURS, "berth.dev/resource": "r"}, "checkout-", None),  # a resource's Pod
        ({"berth.dev/workload": "checkout"}, "checkout-", None),  # not managed by us
        (OURS, None, None),  # no ReplicaSet
    ],
)
def test_the_pods_store_knows_our_deployments_pods(
    labels: dict[str, str], replicaset: str | None, owner: str | None
) -> None:
    body = pod(labels, replicaset)
    expected = WorkloadKey(NAMESPACE, owner) if owner else None
    assert watch.pod_owner(labels, body) == expected
    kept = watch.keep_pod(body)
    assert (kept.owner, kept.summary.name, kept.summary.phase) == (expected, "p", "Running")


@pytest.mark.parametrize(
    ("labels", "indexed"),
    [
        (OURS, True),
        ({**OURS, "berth.dev/resource": "r"}, False),  # a resource's object: the policy's
        ({"berth.dev/workload": "checkout"}, False),
        ({"app.kubernetes.io/managed-by": "berth"}, False),
    ],
)
def test_the_children_are_indexed_by_owner(labels: dict[str, str], indexed: bool) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": NAMESPACE, "labels": labels},
    }
    for name in ("deployments", "services", "configmaps"):
        watched = next(w for w in watch.WATCHED if w.name == name)
        assert watched.index is not None
        owner = watched.index(watched.keep(body))
        assert owner == (WorkloadKey(NAMESPACE, "checkout") if indexed else None)


def test_every_watched_kind_has_a_store_a_rule_and_the_right_scope() -> None:
    by_name = {w.name: w for w in watch.WATCHED}
    assert set(by_name) == {
        "workloads",
        "environments",
        "clusterprovisioners",
        "deployments",
        "services",
        "configmaps",
        "pods",
        "previews",
        "promotions",
        "promotionapprovals",
    }
    assert all(w.wake is not None for w in watch.WATCHED)
    # The few cluster-wide kinds every replica needs (a preview Environment reads its
    # Preview in another namespace); the rest per shard.
    assert {n for n, w in by_name.items() if not w.sharded} == {
        "environments",
        "clusterprovisioners",
        "previews",
        "promotions",
        "promotionapprovals",
    }
    assert {n for n, w in by_name.items() if w.orphans} == {"workloads"}
    selector = "app.kubernetes.io/managed-by=berth,berth.dev/workload"
    assert {w.selector for w in watch.WATCHED if w.sharded and w.name != "workloads"} == {selector}


# -- events wake keys --------------------------------------------------------------------


async def woken_world() -> tuple[FakeApi, Runtime]:
    """A Runtime with no workers (what is enqueued stays visible) and the stores its
    informers would have filled."""
    api = FakeApi()
    api.add(environment_dict())
    api.add(workload_dict("checkout", resources={"db": {"type": "postgres", "id": "main"}}))
    api.add(workload_dict("orders", resources={"db": {"type": "postgres", "id": "main"}}))
    api.add(workload_dict("lone"))
    runtime = Runtime(
        config=OperatorConfig(workers=0, resync_seconds=3600),
        client=api,
        queue=WorkQueue(),
        watched=watch.WATCHED,
    )
    await api.fill(runtime.cache)
    _INFORMERS.clear()
    return api, runtime


# One informer per (runtime, store), as a replica has: a store forgets an object only
# when the informer that put it there says it went.
_INFORMERS: dict[tuple[int, str], Informer] = {}


def told(runtime: Runtime, name: str, kind: str, body: dict[str, Any]) -> None:
    """What the informer of store ``name`` does with one watch event."""
    watched = next(w for w in watch.WATCHED if w.name == name)
    informer = _INFORMERS.get((id(runtime), name))
    if informer is None:
        informer = _INFORMERS[id(runtime), name] = Informer(
            runtime.client,
            Source(watched.api_version, watched.kind),
            runtime.cache.stores[name],
            keep=watched.keep,
            on_event=lambda event: runtime.on_event(watched, event),
        )
    informer.handle({"type": kind, "object": copy.deepcopy(body)})


def queued(runtime: Runtime) -> set[Any]:
    return set(runtime.queue._pending)


def urgent(runtime: Runtime) -> set[Any]:
    return set(runtime.queue._urgent)


async def test_a_workload_event_wakes_it_and_those_sharing_its_resources() -> None:
    api, runtime = await woken_world()
    body = api.stored("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE)
    assert body is not None
    told(runtime, "workloads", "MODIFIED", body)
    assert queued(runtime) == {
        WorkloadKey(NAMESPACE, "checkout"),
        WorkloadKey(NAMESPACE, "orders"),
    }
    assert urgent(runtime) == set()  # the same generation: no hurry
    edited = api.edit("berth.dev/v1alpha1", "Workload", "lone", NAMESPACE, {"spec": {"x": 1}})
    told(runtime, "workloads", "MODIFIED", edited)
    assert urgent(runtime) == {WorkloadKey(NAMESPACE, "lone")}  # a new generation goes first
    # Whether it is Ready changed: its Environment's counts are looked at a little later.
    assert EnvironmentKey("team-a-dev") not in runtime.queue._timers
    ready = copy.deepcopy(edited)
    ready["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    told(runtime, "workloads", "MODIFIED", ready)
    assert EnvironmentKey("team-a-dev") in runtime.queue._timers
    runtime.queue.shutdown()


async def test_our_own_status_write_coming_back_wakes_nobody_but_sharers() -> None:
    api, runtime = await woken_world()
    cache = runtime.cache
    before = api.stored("berth.dev/v1alpha1", "Workload", "lone", NAMESPACE)
    assert before is not None
    after = api.edit(
        "berth.dev/v1alpha1",
        "Workload",
        "lone",
        NAMESPACE,
        {"status": {"x": 1}},
        manager="berth",
        subresource="status",
    )
    cache.remember_write(before, after)
    told(runtime, "workloads", "MODIFIED", after)
    assert queued(runtime) == set()
    # A deletion is always news, and the memory of the write goes.
    told(runtime, "workloads", "DELETED", after)
    assert queued(runtime) == urgent(runtime) == {WorkloadKey(NAMESPACE, "lone")}
    runtime.queue.shutdown()


@pytest.mark.parametrize("event", ["MODIFIED", "DELETED"])
async def test_an_environment_event_wakes_it_and_on_a_new_spec_its_workloads(event: str) -> None:
    api, runtime = await woken_world()
    body = api.stored("berth.dev/v1alpha1", "Environment", "team-a-dev")
    assert body is not None
    told(runtime, "environments", "MODIFIED", body)  # its status, say: itself only
    assert queued(runtime) == {EnvironmentKey("team-a-dev")}
    edited = api.edit("berth.dev/v1alpha1", "Environment", "team-a-dev", None, {"spec": {"x": 1}})
    told(runtime, "environments", event, edited)
    assert queued(runtime) == {
        EnvironmentKey("team-a-dev"),
        WorkloadKey(NAMESPACE, "checkout"),
        WorkloadKey(NAMESPACE, "orders"),
        WorkloadKey(NAMESPACE, "lone"),
    }


async def test_a_cluster_provisioner_event_wakes_the_workloads_of_its_type() -> None:
    _, runtime = await woken_world()
    body = {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "ClusterProvisioner",
        "metadata": {"name": "pg", "resourceVersion": "1", "generation": 1},
        "spec": {"type": "postgres", "secret": {"name": "s"}, "outputs": ["url"]},
    }
    told(runtime, "clusterprovisioners", "ADDED", body)
    assert queued(runtime) == {
        WorkloadKey(NAMESPACE, "checkout"),
        WorkloadKey(NAMESPACE, "orders"),
    }


@pytest.mark.parametrize("name", ["deployments", "services", "configmaps"])
async def test_a_child_event_wakes_its_owner_unless_it_is_our_echo(name: str) -> None:
    api, runtime = await woken_world()
    cache = runtime.cache
    child = api.add(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "checkout", "namespace": NAMESPACE, "labels": OURS},
        }
    )
    cache.remember_write(None, child)
    told(runtime, name, "ADDED", child)
    assert queued(runtime) == set()  # our own write coming back
    changed = api.edit("v1", "ConfigMap", "checkout", NAMESPACE, {"data": {"a": "b"}})
    told(runtime, name, "MODIFIED", changed)
    assert queued(runtime) == {WorkloadKey(NAMESPACE, "checkout")}
    told(runtime, name, "DELETED", changed)
    unowned = {**child, "metadata": {**child["metadata"], "labels": {}}}
    told(runtime, name, "MODIFIED", unowned)
    assert queued(runtime) == {WorkloadKey(NAMESPACE, "checkout")}


def deployment(ready: int, *, rv: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "checkout",
            "namespace": NAMESPACE,
            "labels": OURS,
            "generation": 1,
            "resourceVersion": rv,
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update",
                 "subresource": "status", "time": f"2026-01-01T00:00:0{rv}Z"},
            ],
        },
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 1,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [{"type": "Progressing", "status": "True"}],
            "unavailableReplicas": 2 - ready,
        },
    }  # fmt: skip


async def test_a_deployments_status_wakes_its_owner_only_at_a_step_of_its_rollout() -> None:
    _, runtime = await woken_world()
    told(runtime, "deployments", "ADDED", deployment(0, rv="1"))
    runtime.queue._pending.clear()
    # Only a field the rollout is not read from changed (a count, a timestamp): no step.
    quiet = deployment(0, rv="2")
    quiet["status"]["conditions"][0]["lastUpdateTime"] = "later"
    told(runtime, "deployments", "MODIFIED", quiet)
    assert queued(runtime) == set()
    told(runtime, "deployments", "MODIFIED", deployment(1, rv="3"))  # one more available
    assert queued(runtime) == {WorkloadKey(NAMESPACE, "checkout")}


async def test_a_pod_event_wakes_its_workload_when_what_its_pods_say_changed() -> None:
    _, runtime = await woken_world()
    labels = {**OURS, "pod-template-hash": "abc"}
    told(runtime, "pods", "ADDED", pod(labels, "other-abc"))
    assert queued(runtime) == set()  # not our Deployment's
    told(runtime, "pods", "MODIFIED", pod(labels, "checkout-abc"))
    assert queued(runtime) == set()  # running, nothing to say: no finding before or after
    failing = pod(
        labels,
        "checkout-abc",
        containerStatuses=[
            {"name": "main", "ready": False, "state": {"waiting": {"reason": "ImagePullBackOff"}}}
        ],
    )
    told(runtime, "pods", "MODIFIED", failing)
    assert queued(runtime) == {WorkloadKey(NAMESPACE, "checkout")}


# -- promotion: revisions, Promotions, approvals ------------------------------------------


def promotion_dict(name: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Promotion",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"workload": "lone", "from": "dev"},
        "status": status or {},
    }


async def test_a_ready_workload_wakes_its_revision_and_the_promotions_that_target_it() -> None:
    api, runtime = await woken_world()
    for name, status in (("p1", {}), ("p2", {"phase": "Succeeded"})):
        told(runtime, "promotions", "ADDED", api.add(promotion_dict(name, status)))
    runtime.queue._pending.clear()
    body = api.edit(
        "berth.dev/v1alpha1",
        "Workload",
        "lone",
        NAMESPACE,
        {"status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}},
        subresource="status",
    )
    told(runtime, "workloads", "MODIFIED", body)
    assert queued(runtime) == {
        WorkloadKey(NAMESPACE, "lone"),
        RevisionKey(NAMESPACE, "lone"),
        PromotionKey(NAMESPACE, "p1"),  # not p2: it is done
    }


async def test_promotion_and_approval_events_wake_the_promotion() -> None:
    api, runtime = await woken_world()
    promotion = api.add(promotion_dict("p1"))
    approval = api.add(
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "PromotionApproval",
            "metadata": {"name": "a1", "namespace": NAMESPACE},
            "spec": {"promotion": "p2", "approver": "me"},
        }
    )
    told(runtime, "promotions", "ADDED", promotion)
    told(runtime, "promotionapprovals", "ADDED", approval)
    assert queued(runtime) == {PromotionKey(NAMESPACE, "p1"), PromotionKey(NAMESPACE, "p2")}
    # Approvals are found by the Promotion they name.
    assert [a["metadata"]["name"] for a in runtime.cache.approvals_of(NAMESPACE, "p2")] == ["a1"]
    assert watch.approval_of({"metadata": {"namespace": NAMESPACE}, "spec": {}}) is None


async def test_our_own_promotion_status_coming_back_wakes_nothing() -> None:
    api, runtime = await woken_world()
    cache = runtime.cache
    before = api.add(promotion_dict("p1"))
    told(runtime, "promotions", "ADDED", before)
    runtime.queue._pending.clear()
    after = api.edit(
        "berth.dev/v1alpha1",
        "Promotion",
        "p1",
        NAMESPACE,
        {"status": {"phase": "Pending"}},
        manager="berth",
        subresource="status",
    )
    cache.remember_write(before, after)
    told(runtime, "promotions", "MODIFIED", after)
    told(runtime, "promotions", "DELETED", after)
    assert queued(runtime) == set()


def test_keys_of_different_kinds_never_stand_for_each_other() -> None:
    keys = {
        WorkloadKey("ns", "checkout"),
        PreviewKey("ns", "checkout"),
        RevisionKey("ns", "checkout"),
        PromotionKey("ns", "checkout"),
    }
    assert len(keys) == 4
    assert RevisionKey("ns", "checkout") == RevisionKey("ns", "checkout")
    assert (str(RevisionKey("ns", "w")), RevisionKey("ns", "w").kind) == ("ns/w", "revision")
    assert (str(PromotionKey("ns", "p")), PromotionKey("ns", "p").kind) == ("ns/p", "promotion")
