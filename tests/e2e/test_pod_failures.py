"""Pods' own failures are the Workload's (issue 9 point 5, issue 10 point 7).

Each failure is played on the real cluster. kwok plays the kubelet: the Stage in
hack/kwok-stages.yaml gives a Pod whose template carries the annotation
``kwok.berth.dev/fail`` the container states a kubelet would (ImagePullBackOff,
ErrImagePull, CreateContainerConfigError, CrashLoopBackOff, OOMKilled); the Workload sets
it in ``spec.metadata.annotations``, which Berth puts on the Pod template. Unschedulable
is the real scheduler's verdict (a request no node can hold) and ReplicaFailure the real
ReplicaSet controller's (a ResourceQuota that admits no Pod).

Each test asserts what an SRE sees without listing Pods — the Ready condition's reason
and message (container, the Pod's words, how many Pods), ``kubectl describe`` and one
Warning Event — and that the Workload is Ready again once the cause is fixed.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from tests.clusterharness import ClusterAccess
from tests.e2e.conftest import RESYNC_SECONDS
from tests.kubeutil import Berth, stays, wait_for, workload_body

FAIL = "kwok.berth.dev/fail"
IMAGE = "registry.acme.dev/app:1.0"


def warnings(berth: Berth, namespace: str, name: str, reason: str) -> list[Any]:
    events = berth.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    ).items
    return [
        e
        for e in events
        if e.involved_object.kind == "Workload" and e.type == "Warning" and e.reason == reason
    ]


def failing_workload(name: str, fail: str | None = None, **spec: Any) -> dict[str, Any]:
    body = workload_body(name, replicas=2, **spec)
    if fail is not None:
        body["spec"]["metadata"] = {"annotations": {FAIL: fail}}
    return body


def assert_reported(
    cluster: ClusterAccess,
    berth: Berth,
    namespace: str,
    name: str,
    reason: str,
    *words: str,
) -> dict[str, Any]:
    """Ready=False with the Pods' reason, words in its message, in describe, one Warning."""

    # The Pods fail one after the other: "1 of 2 Pods" can come first.
    def reported() -> dict[str, Any] | None:
        ready = berth.condition(namespace, name, "Ready")
        if (
            ready
            and (ready["status"], ready["reason"]) == ("False", reason)
            and all(word in ready["message"] for word in words)
        ):
            return ready
        return None

    ready = wait_for(reported, 90, f"Ready=False ({reason}) saying {words} on {namespace}/{name}")
    conditions = {c["type"]: c for c in berth.workload(namespace, name)["status"]["conditions"]}
    assert conditions["Reconciling"]["status"] == "True"
    assert conditions["Stalled"]["status"] == "False"

    described = cluster.kubectl("-n", namespace, "describe", "workload", name)
    assert reason in described
    assert " ".join(ready["message"].split())[:60] in " ".join(described.split())

    wait_for(
        lambda: warnings(berth, namespace, name, reason),
        30,
        f"a Warning Event {reason} on {namespace}/{name}",
    )
    # Once: the status stays as it is over several resyncs, and so does the Event count.
    first = berth.condition(namespace, name, "Ready")
    stays(
        lambda: berth.condition(namespace, name, "Ready") == first,
        3 * RESYNC_SECONDS,
        "the Ready condition, unchanged",
    )
    events = warnings(berth, namespace, name, reason)
    assert len(events) == 1, events
    assert (events[0].count or 1) == 1, events
    # posted when the reason first appeared, maybe while fewer Pods had failed
    assert events[0].message.split(" Pods: ", 1)[1] == ready["message"].split(" Pods: ", 1)[1]
    return ready


def assert_recovers(berth: Berth, namespace: str, name: str, patch: dict[str, Any]) -> None:
    berth.patch_workload(namespace, name, patch)
    berth.wait_condition(namespace, name, "Ready", "True", timeout=120)


UNFAIL = {"spec": {"metadata": None}}


def test_image_pull_back_off(
    cluster: ClusterAccess, berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(namespace, failing_workload("web", "ImagePullBackOff"))
    assert_reported(
        cluster,
        berth,
        namespace,
        "web",
        "ImagePullBackOff",
        f'2 of 2 Pods: container main: Back-off pulling image "{IMAGE}"',
    )
    assert_recovers(berth, namespace, "web", UNFAIL)


def test_err_image_pull(
    cluster: ClusterAccess, berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(namespace, failing_workload("web", "ErrImagePull"))
    assert_reported(
        cluster,
        berth,
        namespace,
        "web",
        "ErrImagePull",
        f'2 of 2 Pods: container main: failed to pull and unpack image "{IMAGE}": not found',
    )
    assert_recovers(berth, namespace, "web", UNFAIL)


def test_crash_loop_back_off(
    cluster: ClusterAccess, berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(namespace, failing_workload("web", "CrashLoopBackOff"))
    ready = assert_reported(
        cluster,
        berth,
        namespace,
        "web",
        "CrashLoopBackOff",
        "2 of 2 Pods: container main: keeps exiting with exit code 1 (Error)",
        "kubectl logs --previous",
    )
    # Nothing that changes by itself: no back-off duration, no Pod name.
    assert "back-off" not in ready["message"]
    assert "web-" not in ready["message"]
    assert_recovers(berth, namespace, "web", UNFAIL)


def test_create_container_config_error_for_a_root_image_says_what_to_do(
    cluster: ClusterAccess, berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(namespace, failing_workload("web", "CreateContainerConfigError"))
    ready = assert_reported(
        cluster,
        berth,
        namespace,
        "web",
        "CreateContainerConfigError",
        "2 of 2 Pods: container main: container has runAsNonRoot and image will run as root",
        "numeric USER",
        "policy.podSecurity: baseline",
    )
    assert "web-" not in ready["message"]  # the kubelet's Pod clause is left out
    assert_recovers(berth, namespace, "web", UNFAIL)


def test_oom_killed(cluster: ClusterAccess, berth: Berth, namespace: str, environment: str) -> None:
    berth.create_workload(namespace, failing_workload("web", "OOMKilled"))
    assert_reported(
        cluster,
        berth,
        namespace,
        "web",
        "OOMKilled",
        "2 of 2 Pods: container main: killed for using more memory than its limit (OOMKilled)",
        "resources.limits.memory",
    )
    assert_recovers(berth, namespace, "web", UNFAIL)


def test_unschedulable(
    cluster: ClusterAccess, berth: Berth, namespace: str, environment: str
) -> None:
    """Real: the scheduler finds no node with 1000 CPUs to spare."""
    body = failing_workload("web")
    body["spec"]["containers"]["main"]["resources"] = {"requests": {"cpu": "1000"}}
    berth.create_workload(namespace, body)
    assert_reported(
        cluster,
        berth,
        namespace,
        "web",
        "Unschedulable",
        "2 of 2 Pods: 0/",
        "Insufficient cpu",
    )
    fixed = {"spec": {"containers": {"main": {"resources": {"requests": {"cpu": "50m"}}}}}}
    assert_recovers(berth, namespace, "web", fixed)


def test_replica_failure_from_a_quota(
    cluster: ClusterAccess, berth: Berth, namespace: str, environment: str
) -> None:
    """Real: the ReplicaSet controller cannot create Pods past a ResourceQuota."""
    quota = k8s.V1ResourceQuota(
        metadata=k8s.V1ObjectMeta(name="no-pods"), spec=k8s.V1ResourceQuotaSpec(hard={"pods": "0"})
    )
    berth.core.create_namespaced_resource_quota(namespace, quota)
    # Until the quota controller has counted, admission refuses with another message.
    wait_for(
        lambda: berth.core.read_namespaced_resource_quota("no-pods", namespace).status.hard or {},
        30,
        "the quota's status",
    )
    berth.create_workload(namespace, failing_workload("web"))
    assert_reported(
        cluster,
        berth,
        namespace,
        "web",
        "ReplicaFailure",
        "Deployment web cannot create Pods: ",
        "forbidden: exceeded quota: no-pods",
    )
    berth.core.delete_namespaced_resource_quota("no-pods", namespace)
    berth.wait_condition(namespace, "web", "Ready", "True", timeout=120)
