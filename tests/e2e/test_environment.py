"""An Environment owns its namespace, counts its Workloads, and its changes reach them."""

from __future__ import annotations

from tests.clusterharness import ClusterAccess
from tests.kubeutil import Berth, wait_for, workload_body


def test_environment_labels_its_namespace_and_counts_workloads(
    cluster: ClusterAccess, berth: Berth, namespace: str, environment: str
) -> None:
    labels = wait_for(
        lambda: (
            (berth.core.read_namespace(namespace).metadata.labels or {}).get(
                "berth.dev/environment"
            )
            and berth.core.read_namespace(namespace).metadata.labels
        ),
        15,
        "the namespace labels",
    )
    assert labels["berth.dev/environment"] == environment
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"

    berth.create_workload(namespace, workload_body("one"))
    berth.create_workload(namespace, workload_body("two"))
    berth.wait_condition(namespace, "one", "Ready", "True")
    berth.wait_condition(namespace, "two", "Ready", "True")

    def counted() -> dict[str, int] | None:
        status = berth.environment(environment).get("status") or {}
        return status if status.get("readyWorkloads") == 2 else None

    status = wait_for(counted, 15, "the Environment to count 2 ready Workloads")
    assert status["workloads"] == 2
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert ready["status"] == "True"
    out = cluster.kubectl(
        "wait", "--for=condition=Ready", f"environment/{environment}", "--timeout=10s"
    )
    assert "condition met" in out


def test_a_change_to_the_environment_reaches_its_workloads(
    berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(namespace, workload_body("follower"))
    berth.wait_condition(namespace, "follower", "Ready", "True")
    assert berth.apps.read_namespaced_deployment("follower", namespace).spec.replicas == 1

    berth.patch_environment(environment, {"spec": {"defaults": {"replicas": 2}}})
    wait_for(
        lambda: berth.apps.read_namespaced_deployment("follower", namespace).spec.replicas == 2,
        10,
        "the new default replica count",
    )

    berth.patch_environment(
        environment, {"spec": {"policy": {"allowedRegistries": ["registry.other.dev/"]}}}
    )
    stalled = berth.wait_condition(
        namespace, "follower", "Stalled", "True", timeout=10, reason="ImageNotAllowed"
    )
    assert stalled["reason"] == "ImageNotAllowed"
    # What runs keeps running.
    assert berth.apps.read_namespaced_deployment("follower", namespace).spec.replicas == 2
