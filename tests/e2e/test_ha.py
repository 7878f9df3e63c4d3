"""Two peered replicas (kopf peering) on the real API server: one works, the other stands
by and writes nothing; when the working one is SIGKILLed during a rollout, the standby
takes over within the peering lifetime and finishes the rollout; when a replica that
outranks the working one joins, the working one stops writing at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from tests.chartrbac import DEFAULT_VALUES
from tests.clusterharness import REPO_ROOT, ClusterAccess
from tests.composer import DELAY
from tests.e2e.conftest import ChartRights, OperatorProcess, start_operator
from tests.e2e.test_claims_reliability import paused
from tests.e2e.test_provisioning import (
    db_workload,
    provisioner,
)
from tests.kubeutil import Berth, settles, stays, wait_for, workload_body

PEERING_CRDS = REPO_ROOT / "charts/berth/charts/kopf-peering/crds"
LIFETIME = 10  # --peering-lifetime of the replicas here (the default is 60)
# The chart's rights with ha.enabled: kopf's peering objects besides the defaults.
HA_VALUES = {**DEFAULT_VALUES, "ha": {"enabled": True}}
# Documented in the manual (docs/operations/ha-and-sharding.md): the lifetime, plus a
# quarter of it (the grace), plus a poll.
TAKEOVER_BOUND = LIFETIME + 10
WORKLOADS = 4
WRITES = "berth_api_writes_total"


@pytest.fixture
def peering(cluster: ClusterAccess, api: ApiClient, namespace: str) -> Iterator[str]:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(PEERING_CRDS))
    cluster.kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev")
    name = f"ha-{namespace}"
    custom = k8s.CustomObjectsApi(api)
    custom.create_cluster_custom_object(
        "kopf.dev",
        "v1",
        "clusterkopfpeerings",
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}},
    )
    yield name
    custom.delete_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", name)


def replica(
    cluster: ClusterAccess, rights: ChartRights, peering: str, priority: int
) -> OperatorProcess:
    """A peered replica, with the chart's rights when ha.enabled (the peering's verbs)."""
    return start_operator(
        rights(HA_VALUES),
        cluster.kubeconfig.parent / f"operator-{peering}-{priority}.log",
        2,
        "--peering",
        peering,
        "--priority",
        str(priority),
        "--peering-lifetime",
        str(LIFETIME),
    )


def rolled_out(berth: Berth, namespace: str, image: str) -> bool:
    return all(berth.rolled_out(namespace, f"app{i}", image) for i in range(WORKLOADS))


def set_image(berth: Berth, namespace: str, image: str) -> None:
    for i in range(WORKLOADS):
        berth.patch_workload(
            namespace, f"app{i}", {"spec": {"containers": {"main": {"image": image}}}}
        )


def create_workloads(berth: Berth, namespace: str) -> None:
    for i in range(WORKLOADS):
        berth.create_workload(namespace, workload_body(f"app{i}"))


def test_the_standby_takes_over_when_the_working_replica_dies(
    cluster: ClusterAccess,
    berth: Berth,
    namespace: str,
    environment: str,
    operator: OperatorProcess,
    chart_rights: ChartRights,
    peering: str,
) -> None:
    with paused(operator):
        working = replica(cluster, chart_rights, peering, 200)
        standby = replica(cluster, chart_rights, peering, 100)
        try:
            create_workloads(berth, namespace)
            wait_for(
                lambda: rolled_out(berth, namespace, "registry.acme.dev/app:1.0"),
                60,
                "the Workloads to be Ready",
            )
            assert working.metric(WRITES) > 0
            assert standby.metric(WRITES) == 0, "the standby wrote while the other worked"

            # A rollout; the working replica dies in the middle of it.
            set_image(berth, namespace, "registry.acme.dev/app:2.0")
            wait_for(
                lambda: any(
                    d.spec.template.spec.containers[0].image.endswith(":2.0")
                    for d in berth.apps.list_namespaced_deployment(namespace).items
                ),
                20,
                "the rollout to start",
            )
            standby_before = standby.metric(WRITES)
            working.process.kill()
            working.process.wait()
            killed = time.monotonic()
            assert standby_before == 0, "the standby wrote while the other worked"

            wait_for(lambda: standby.metric(WRITES) > 0, 3 * LIFETIME, "the standby to write")
            takeover = time.monotonic() - killed
            wait_for(
                lambda: rolled_out(berth, namespace, "registry.acme.dev/app:2.0"),
                60,
                "the rollout to finish",
            )
            print(f"\nHA takeover: the standby's first write {takeover:.1f}s after the kill")
            assert takeover <= TAKEOVER_BOUND, f"takeover took {takeover:.1f}s"
        finally:
            working.stop()
            standby.stop()


def test_a_replica_that_is_outranked_stops_writing(
    cluster: ClusterAccess,
    berth: Berth,
    namespace: str,
    make_environment: Any,
    operator: OperatorProcess,
    chart_rights: ChartRights,
    peering: str,
) -> None:
    # A claim that takes a while: the replica that created it keeps polling it (claims
    # are read from the API server, not from the watch caches a pause freezes).
    make_environment(provisioner("postgres", crossplane={"annotations": {DELAY: "12"}}))
    with paused(operator):
        low = replica(cluster, chart_rights, peering, 100)
        high: OperatorProcess | None = None
        try:
            berth.create_workload(namespace, db_workload("slow"))
            wait_for(lambda: low.metric(WRITES) > 0, 20, "the low replica to start working")
            high = replica(cluster, chart_rights, peering, 200)
            # The low one stands by once it sees the high one's keep-alive.
            wait_for(lambda: "standing by" in low.log_path.read_text(), 20, "the low to stand by")
            # A reconcile under way when it stood by may finish: its writes end.
            low_writes = settles(lambda: low.metric(WRITES), 1, 30, "the low replica's writes")
            berth.wait_condition(namespace, "slow", "Ready", "True", timeout=60)
            # Over several of the low replica's polls and resyncs (2 s), not one write.
            stays(lambda: low.metric(WRITES) == low_writes, 6, "the outranked replica's silence")
            assert high.metric(WRITES) > 0
        finally:
            low.stop()
            if high is not None:
                high.stop()
