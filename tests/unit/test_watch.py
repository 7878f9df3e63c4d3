"""kopf's side (berth.handlers.watch): the settings made at startup, the login, the
indices, and which keys each watch event wakes — nothing else."""

from __future__ import annotations

import asyncio
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
        assert settings.queueing.worker_limit is None
        assert settings.peering.lifetime == 17
        assert settings.persistence.finalizer == "berth.dev/kopf"
        selector = "app.kubernetes.io/managed-by=berth,berth.dev/workload"
        assert settings.watching.label_selectors[("apps", "v1", "deployments")] == selector
        assert settings.watching.label_selectors[("v1", "pods")] == selector
        runtime = memo.runtime
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


# -- indices -----------------------------------------------------------------------------


def pod(labels: dict[str, str], owner: str | None) -> dict[str, Any]:
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
        "status": {"phase": "Running"},
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
async def test_the_pods_index_knows_our_deployments_pods(
    labels: dict[str, str], replicaset: str | None, owner: str | None
) -> None:
    body = pod(labels, replicaset)
    assert watch.pod_owner(labels, body) == owner
    entry = await watch.berth_pods(namespace=NAMESPACE, labels=labels, body=body)
    assert list(entry) == ([(NAMESPACE, owner)] if owner else [])


@pytest.mark.parametrize(
    ("labels", "indexed"),
    [
        (OURS, True),
        ({**OURS, "berth.dev/resource": "r"}, False),  # a resource's object: the policy's
        ({"berth.dev/workload": "checkout"}, False),
        ({"app.kubernetes.io/managed-by": "berth"}, False),
    ],
)
async def test_the_children_indices(labels: dict[str, str], indexed: bool) -> None:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": labels}}
    for index in (watch.berth_deployments, watch.berth_services, watch.berth_configmaps):
        entry = await index(namespace=NAMESPACE, labels=labels, body=body)
        assert bool(entry) == indexed


# -- events wake keys --------------------------------------------------------------------


async def woken_world() -> tuple[FakeApi, kopf.Memo, dict[str, Any]]:
    """A Runtime with no workers (what is enqueued stays visible) and the indices kopf
    would hand over."""
    api = FakeApi()
    api.add(environment_dict())
    api.add(workload_dict("checkout", resources={"db": {"type": "postgres", "id": "main"}}))
    api.add(workload_dict("orders", resources={"db": {"type": "postgres", "id": "main"}}))
    api.add(workload_dict("lone"))
    memo = kopf.Memo()
    memo.runtime = Runtime(
        config=OperatorConfig(workers=0, resync_seconds=3600), client=api, queue=WorkQueue()
    )
    return api, memo, await api.indices()


def queued(memo: kopf.Memo) -> set[Any]:
    return set(memo.runtime.queue._pending)


async def test_the_first_event_hands_the_indices_over_and_queues_everything() -> None:
    api, memo, indices = await woken_world()
    body = api.stored("berth.dev/v1alpha1", "Workload", "lone", NAMESPACE)
    try:
        await watch.on_workload(event={"type": "ADDED"}, body=body, memo=memo, **indices)
        assert memo.runtime.cache.attached
        assert queued(memo) == {
            EnvironmentKey("team-a-dev"),
            WorkloadKey(NAMESPACE, "checkout"),
            WorkloadKey(NAMESPACE, "orders"),
            WorkloadKey(NAMESPACE, "lone"),
        }
        # Its Environment's counts are looked at a little later.
        assert EnvironmentKey("team-a-dev") in memo.runtime.queue._timers
    finally:
        await memo.runtime.stop()


async def test_a_workload_event_wakes_it_and_those_sharing_its_resources() -> None:
    api, memo, indices = await woken_world()
    memo.runtime.cache.attach(indices)
    body = api.stored("berth.dev/v1alpha1", "Workload", "checkout", NAMESPACE)
    await watch.on_workload(event={"type": "MODIFIED"}, body=body, memo=memo)
    assert queued(memo) == {
        WorkloadKey(NAMESPACE, "checkout"),
        WorkloadKey(NAMESPACE, "orders"),
    }
    memo.runtime.queue.shutdown()


async def test_our_own_status_write_coming_back_wakes_nobody_but_sharers() -> None:
    api, memo, indices = await woken_world()
    cache = memo.runtime.cache
    cache.attach(indices)
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
    await watch.on_workload(event={"type": "MODIFIED"}, body=after, memo=memo)
    assert queued(memo) == set()
    # A deletion is always news, and the memory of the write goes.
    await watch.on_workload(event={"type": "DELETED"}, body=after, memo=memo)
    assert queued(memo) == {WorkloadKey(NAMESPACE, "lone")}
    memo.runtime.queue.shutdown()


@pytest.mark.parametrize("event", ["MODIFIED", "DELETED"])
async def test_an_environment_event_wakes_it_and_its_workloads(event: str) -> None:
    api, memo, indices = await woken_world()
    memo.runtime.cache.attach(indices)
    body = api.stored("berth.dev/v1alpha1", "Environment", "team-a-dev")
    await watch.on_environment(event={"type": event}, body=body, memo=memo)
    assert queued(memo) == {
        EnvironmentKey("team-a-dev"),
        WorkloadKey(NAMESPACE, "checkout"),
        WorkloadKey(NAMESPACE, "orders"),
        WorkloadKey(NAMESPACE, "lone"),
    }


async def test_a_cluster_provisioner_event_wakes_the_workloads_of_its_type() -> None:
    _, memo, indices = await woken_world()
    memo.runtime.cache.attach(indices)
    body = {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "ClusterProvisioner",
        "metadata": {"name": "pg", "resourceVersion": "1"},
        "spec": {"type": "postgres", "secret": {"name": "s"}, "outputs": ["url"]},
    }
    await watch.on_cluster_provisioner(event={"type": "ADDED"}, body=body, memo=memo)
    assert queued(memo) == {
        WorkloadKey(NAMESPACE, "checkout"),
        WorkloadKey(NAMESPACE, "orders"),
    }


@pytest.mark.parametrize("handler", [watch.on_deployment, watch.on_service, watch.on_configmap])
async def test_a_child_event_wakes_its_owner_unless_it_is_our_echo(handler: Any) -> None:
    api, memo, indices = await woken_world()
    cache = memo.runtime.cache
    cache.attach(indices)
    child = api.add(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "checkout", "namespace": NAMESPACE, "labels": OURS},
        }
    )
    cache.remember_write(None, child)
    await handler(event={"type": "MODIFIED"}, body=child, memo=memo)
    assert queued(memo) == set()  # our own write coming back
    await handler(event={"type": "MODIFIED"}, body=child, memo=memo)
    assert queued(memo) == {WorkloadKey(NAMESPACE, "checkout")}
    await handler(event={"type": "DELETED"}, body=child, memo=memo)
    unowned = {**child, "metadata": {**child["metadata"], "labels": {}}}
    await handler(event={"type": "MODIFIED"}, body=unowned, memo=memo)
    assert queued(memo) == {WorkloadKey(NAMESPACE, "checkout")}


async def test_a_pod_event_wakes_the_workload_whose_deployment_made_it() -> None:
    _, memo, indices = await woken_world()
    memo.runtime.cache.attach(indices)
    labels = {**OURS, "pod-template-hash": "abc"}
    await watch.on_pod(
        event={"type": "MODIFIED"}, labels=labels, body=pod(labels, "other-abc"), memo=memo
    )
    assert queued(memo) == set()
    await watch.on_pod(
        event={"type": "MODIFIED"}, labels=labels, body=pod(labels, "checkout-abc"), memo=memo
    )
    assert queued(memo) == {WorkloadKey(NAMESPACE, "checkout")}


# -- promotion: revisions, Promotions, approvals ------------------------------------------


async def test_a_ready_workload_wakes_its_revision_and_the_promotions_that_target_it() -> None:
    api, memo, _ = await woken_world()
    for name, status in (("p1", {}), ("p2", {"phase": "Succeeded"})):
        api.add(
            {
                "apiVersion": "berth.dev/v1alpha1",
                "kind": "Promotion",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {"workload": "lone", "from": "dev"},
                "status": status,
            }
        )
    memo.runtime.cache.attach(await api.indices())
    body = api.edit(
        "berth.dev/v1alpha1",
        "Workload",
        "lone",
        NAMESPACE,
        {"status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}},
        subresource="status",
    )
    await watch.on_workload(event={"type": "MODIFIED"}, body=body, memo=memo)
    assert queued(memo) == {
        WorkloadKey(NAMESPACE, "lone"),
        RevisionKey(NAMESPACE, "lone"),
        PromotionKey(NAMESPACE, "p1"),  # not p2: it is done
    }
    memo.runtime.queue.shutdown()


async def test_promotion_and_approval_events_wake_the_promotion() -> None:
    api, memo, indices = await woken_world()
    memo.runtime.cache.attach(indices)
    promotion = api.add(
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "Promotion",
            "metadata": {"name": "p1", "namespace": NAMESPACE},
            "spec": {"workload": "lone", "from": "dev"},
        }
    )
    approval = api.add(
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "PromotionApproval",
            "metadata": {"name": "a1", "namespace": NAMESPACE},
            "spec": {"promotion": "p2", "approver": "me"},
        }
    )
    await watch.on_promotion(event={"type": "ADDED"}, body=promotion, memo=memo)
    await watch.on_approval(event={"type": "ADDED"}, body=approval, memo=memo)
    assert queued(memo) == {PromotionKey(NAMESPACE, "p1"), PromotionKey(NAMESPACE, "p2")}
    indexed = await watch.berth_promotionapprovals(namespace=NAMESPACE, body=approval)
    assert list(indexed) == [(NAMESPACE, "p2")]
    assert await watch.berth_promotionapprovals(namespace=NAMESPACE, body={"spec": {}}) == {}
    memo.runtime.queue.shutdown()


async def test_our_own_promotion_status_coming_back_wakes_nothing() -> None:
    api, memo, indices = await woken_world()
    cache = memo.runtime.cache
    cache.attach(indices)
    before = api.add(
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "Promotion",
            "metadata": {"name": "p1", "namespace": NAMESPACE},
            "spec": {"workload": "lone", "from": "dev"},
        }
    )
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
    await watch.on_promotion(event={"type": "MODIFIED"}, body=after, memo=memo)
    await watch.on_promotion(event={"type": "DELETED"}, body=after, memo=memo)
    assert queued(memo) == set()
    memo.runtime.queue.shutdown()


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
