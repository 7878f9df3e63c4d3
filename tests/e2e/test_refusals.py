"""Every input ends with a status: what the API server refuses, and names Berth may not take.

A child the API server will not accept — found by render beforehand, or refused by the
server itself (validation, an admission policy, a quota) — ends on the Workload as
``Stalled`` (or ``Ready=False`` while retried) with the server's own words and one
Warning Event, and whatever already runs is left exactly as it was. An object Berth did
not create for a Workload is never written over, nor ever deleted with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.chartrbac import DEFAULT_VALUES
from tests.clusterharness import ClusterAccess
from tests.e2e.conftest import RESYNC_SECONDS, ChartRights, OperatorProcess, start_operator
from tests.kubeutil import Berth, environment_body, settles, stays, wait_for, workload_body
from tests.operatorharness import Metrics

WEB = {"ports": {"web": {"port": 80, "targetPort": 8080}}}


def deployment_version(berth: Berth, namespace: str, name: str) -> str:
    return str(berth.apps.read_namespaced_deployment(name, namespace).metadata.resource_version)


def test_astral_characters_reach_the_pods_unharmed(
    berth: Berth, namespace: str, environment: str
) -> None:
    # Astral characters, and the ones YAML would refuse or fold (DEL, NEL, U+2028).
    greeting = "Grüße \U0001f680 \U0001d49c \x7f \x85 \u2028"
    files = {"/etc/app/motd": {"content": f"welcome {greeting}\n"}}
    body = workload_body(
        "emoji",
        containers={
            "main": {
                "image": "registry.acme.dev/app:1.0",
                "variables": {"GREETING": greeting},
                "files": files,
            }
        },
    )
    berth.create_workload(namespace, body)
    berth.wait_condition(namespace, "emoji", "Ready", "True", timeout=90)
    deployment = berth.apps.read_namespaced_deployment("emoji", namespace)
    env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
    assert env["GREETING"] == greeting
    configmap = berth.core.read_namespaced_config_map("emoji-files", namespace)
    assert any(greeting in value for value in configmap.data.values())


def test_a_ready_workload_updated_to_what_render_refuses_keeps_running(
    berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(namespace, workload_body("dup", service=WEB))
    berth.wait_condition(namespace, "dup", "Ready", "True", timeout=90)
    before = deployment_version(berth, namespace, "dup")

    ports = {"web": {"port": 80}, "http": {"port": 80, "targetPort": 9090}}
    updated = berth.patch_workload(namespace, "dup", {"spec": {"service": {"ports": ports}}})
    generation = updated["metadata"]["generation"]
    stalled = berth.wait_condition(namespace, "dup", "Stalled", "True", reason="DuplicatePort")
    assert "'http' and 'web' both use port 80/TCP" in stalled["message"]
    status = berth.workload(namespace, "dup")["status"]
    assert status["observedGeneration"] == generation
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "DuplicatePort")
    assert ready["observedGeneration"] == generation
    assert deployment_version(berth, namespace, "dup") == before
    berth.wait_event_reasons(namespace, "dup", ["DuplicatePort"])


@pytest.fixture
def deny_policy(api: ApiClient, namespace: str) -> Iterator[str]:
    """A ValidatingAdmissionPolicy (the API server's own, no webhook needed) that refuses
    Deployments whose Pods ask for a forbidden tier, in this test's namespace only —
    standing in for the policy engines platforms run (Kyverno, Gatekeeper)."""
    admission = k8s.AdmissionregistrationV1Api(api)
    name = f"deny-gold-{namespace}"
    admission.create_validating_admission_policy(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["apps"],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["deployments"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "!has(object.spec.template.metadata.annotations) || "
                        "!('tier' in object.spec.template.metadata.annotations) || "
                        "object.spec.template.metadata.annotations['tier'] != 'gold'",
                        "message": "the gold tier is reserved for the payments team",
                    }
                ],
            },
        }
    )
    admission.create_validating_admission_policy_binding(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                },
            },
        }
    )
    # The policy takes a moment to reach the API server's admission chain: wait until a
    # server-side dry run of a gold Deployment is refused.
    probe = {
        "metadata": {"name": "probe"},
        "spec": {
            "selector": {"matchLabels": {"app": "probe"}},
            "template": {
                "metadata": {"labels": {"app": "probe"}, "annotations": {"tier": "gold"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    apps = k8s.AppsV1Api(api)

    def in_force() -> bool:
        try:
            apps.create_namespaced_deployment(namespace, probe, dry_run="All")
        except ApiException as err:
            return err.status == 422
        return False

    wait_for(in_force, 30, "the admission policy to be in force", interval=0.5)
    yield name
    admission.delete_validating_admission_policy_binding(name)
    admission.delete_validating_admission_policy(name)


def test_an_admission_policys_denial_is_reported_word_for_word(
    berth: Berth, namespace: str, environment: str, deny_policy: str
) -> None:
    berth.create_workload(namespace, workload_body("tiered"))
    berth.wait_condition(namespace, "tiered", "Ready", "True", timeout=90)
    before = deployment_version(berth, namespace, "tiered")

    berth.patch_workload(
        namespace, "tiered", {"spec": {"metadata": {"annotations": {"tier": "gold"}}}}
    )
    stalled = berth.wait_condition(namespace, "tiered", "Stalled", "True", reason="ChildRejected")
    assert "Deployment tiered" in stalled["message"]
    assert "the gold tier is reserved for the payments team" in stalled["message"]
    assert deny_policy in stalled["message"]  # the API server's words name the policy
    assert deployment_version(berth, namespace, "tiered") == before
    berth.wait_event_reasons(namespace, "tiered", ["ChildRejected"])

    berth.patch_workload(
        namespace, "tiered", {"spec": {"metadata": {"annotations": {"tier": "silver"}}}}
    )
    berth.wait_condition(namespace, "tiered", "Ready", "True", timeout=90)


# The API server's own count of the server-side applies (PATCH requests, which its
# metrics call APPLY) of Deployments it refused as invalid, dry runs apart.
REFUSED_DEPLOYMENT_PATCHES = {
    "verb": "APPLY",
    "resource": "deployments",
    "code": "422",
    "dry_run": "",
}


def apiserver_count(cluster: ClusterAccess, **labels: str) -> float:
    """A sum of the API server's own apiserver_request_total samples (its /metrics)."""
    text = cluster.kubectl("get", "--raw", "/metrics")
    return Metrics.parse(text).total("apiserver_request_total", **labels)


def test_a_refused_child_is_sent_once_until_its_inputs_change(
    cluster: ClusterAccess,
    berth: Berth,
    namespace: str,
    environment: str,
    operator: OperatorProcess,
) -> None:
    """Issue 17, point 3: a child refused for good is not sent again by resyncs or by its
    neighbours' wake-ups (each one that comes or goes changes the Environment's counts,
    which wakes every Workload of the namespace) — counted by the API server itself and
    by the operator's failed-writes counter — and is sent again once the Workload changes."""
    failed = {"verb": "PATCH", "kind": "Deployment", "code": "422"}
    server_before = apiserver_count(cluster, **REFUSED_DEPLOYMENT_PATCHES)
    ours_before = operator.metric("berth_api_write_failures_total", **failed)
    container = {"image": "registry.acme.dev/app:1.0", "resources": {"limits": {"memory": "-5"}}}
    berth.create_workload(namespace, workload_body("minus", containers={"main": container}))
    stalled = berth.wait_condition(namespace, "minus", "Stalled", "True", reason="ChildRejected")
    assert "Deployment minus (422)" in stalled["message"]

    # Neighbours come and go, and resyncs go by (RESYNC_SECONDS each).
    for i in range(3):
        berth.create_workload(namespace, workload_body(f"neighbour{i}"))
    for i in range(3):
        berth.wait_condition(namespace, f"neighbour{i}", "Ready", "True", timeout=90)
    for i in range(3):
        berth.delete_workload(namespace, f"neighbour{i}")
    sent: list[float] = []

    def sent_once() -> bool:
        sent.append(apiserver_count(cluster, **REFUSED_DEPLOYMENT_PATCHES) - server_before)
        return sent[-1] == 1

    stays(
        sent_once,
        6 * RESYNC_SECONDS,
        "exactly one refused PATCH over six resyncs and the neighbours' churn",
    )
    assert sent[-1] == 1, sent
    ours = operator.metric("berth_api_write_failures_total", **failed) - ours_before
    assert ours == 1, ours
    assert berth.condition(namespace, "minus", "Stalled")["reason"] == "ChildRejected"  # type: ignore[index]

    # The Workload changes: sent again, taken, Ready.
    container["resources"]["limits"]["memory"] = "64Mi"  # type: ignore[index]
    berth.patch_workload(namespace, "minus", {"spec": {"containers": {"main": container}}})
    berth.wait_condition(namespace, "minus", "Ready", "True", timeout=90)
    assert apiserver_count(cluster, **REFUSED_DEPLOYMENT_PATCHES) - server_before == 1


def test_a_quota_refusal_is_retried_and_clears_by_itself(
    berth: Berth, namespace: str, environment: str
) -> None:
    berth.core.create_namespaced_resource_quota(
        namespace,
        {"metadata": {"name": "no-services"}, "spec": {"hard": {"services": "0"}}},
    )
    # The quota controller must have counted usage before it enforces anything.
    wait_for(
        lambda: berth.core.read_namespaced_resource_quota("no-services", namespace).status.hard,
        30,
        "the quota to be in force",
    )
    berth.create_workload(namespace, workload_body("svc", service=WEB))
    ready = berth.wait_condition(namespace, "svc", "Ready", "False", reason="ChildForbidden")
    assert "Service svc (403)" in ready["message"]
    assert "exceeded quota: no-services" in ready["message"]
    assert berth.condition(namespace, "svc", "Reconciling")["status"] == "True"  # type: ignore[index]
    assert berth.condition(namespace, "svc", "Stalled")["status"] == "False"  # type: ignore[index]
    berth.wait_event_reasons(namespace, "svc", ["ChildForbidden"])

    berth.core.delete_namespaced_resource_quota("no-services", namespace)
    berth.wait_condition(namespace, "svc", "Ready", "True", timeout=90)


def test_objects_berth_did_not_create_are_never_taken_over(
    berth: Berth, namespace: str, environment: str
) -> None:
    platform_service = {
        "metadata": {"name": "platform-svc", "labels": {"team": "platform"}},
        "spec": {"selector": {"app": "platform"}, "ports": [{"name": "web", "port": 80}]},
    }
    berth.core.create_namespaced_service(namespace, platform_service)
    berth.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "platform-svc-files"}, "data": {"keep": "me"}}
    )
    files = {"/etc/app/conf": {"content": "x"}}
    body = workload_body(
        "platform-svc",
        service=WEB,
        containers={"main": {"image": "registry.acme.dev/app:1.0", "files": files}},
    )
    berth.create_workload(namespace, body)
    stalled = berth.wait_condition(namespace, "platform-svc", "Stalled", "True", reason="NameTaken")
    assert "ConfigMap platform-svc-files already exists" in stalled["message"]
    assert "nobody Berth knows" in stalled["message"]

    def untouched() -> bool:
        svc = berth.core.read_namespaced_service("platform-svc", namespace)
        cm = berth.core.read_namespaced_config_map("platform-svc-files", namespace)
        return (
            svc.spec.selector == {"app": "platform"}
            and not svc.metadata.owner_references
            and cm.data == {"keep": "me"}
            and not cm.metadata.owner_references
        )

    stays(untouched, 4, "the platform's objects untouched")
    with pytest.raises(ApiException) as caught:
        berth.apps.read_namespaced_deployment("platform-svc", namespace)
    assert caught.value.status == 404

    berth.delete_workload(namespace, "platform-svc")
    wait_for(
        lambda: (
            not berth.custom.list_namespaced_custom_object(
                "berth.dev", "v1alpha1", namespace, "workloads"
            )["items"]
        ),
        30,
        "the Workload to go",
    )
    stays(untouched, 3, "the platform's objects still there and untouched")


def test_a_foreign_label_is_not_drift_and_repeated_corrections_count_on_one_event(
    cluster: ClusterAccess, berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(namespace, workload_body("labelled", service=WEB))
    berth.wait_condition(namespace, "labelled", "Ready", "True", timeout=90)

    stop = threading.Event()

    def relabel() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            berth.core.patch_namespaced_service(
                "labelled", namespace, {"metadata": {"labels": {"audit.acme.dev/seen": str(i)}}}
            )
            time.sleep(0.1)  # not a wait: the foreign writer's pace is the subject

    writer = threading.Thread(target=relabel)
    writer.start()
    try:
        time.sleep(8)  # not a wait: the foreign writer's time on stage, over several resyncs
    finally:
        stop.set()
        writer.join()
    events = berth.core.list_namespaced_event(
        namespace, field_selector="involvedObject.name=labelled"
    ).items
    assert [e.message for e in events if e.reason == "DriftCorrected"] == []

    for replicas in (3, 4, 5):
        cluster.kubectl("-n", namespace, "scale", "deployment/labelled", f"--replicas={replicas}")
        wait_for(
            lambda: berth.apps.read_namespaced_deployment("labelled", namespace).spec.replicas == 1,
            15,
            "the replica count to be set back",
        )

    def corrections() -> list[int]:
        items = berth.core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=labelled"
        ).items
        return [e.count for e in items if e.reason == "DriftCorrected"]

    wait_for(lambda: corrections() == [3], 10, "one DriftCorrected Event counting 3")


def test_a_stalled_workload_is_not_polled(
    cluster: ClusterAccess,
    berth: Berth,
    namespace: str,
    environment: str,
    chart_rights: ChartRights,
) -> None:
    """A resource no provisioner serves needs a change from someone: nothing to poll for."""
    berth.create_workload(
        namespace, workload_body("lonely", resources={"db": {"type": "no-such-type"}})
    )
    berth.wait_condition(namespace, "lonely", "Stalled", "True", reason="NoProvisioner")
    # An operator of this namespace alone, with a resync long enough not to count.
    own = start_operator(
        chart_rights({**DEFAULT_VALUES, "operator": {"namespaces": [namespace]}}),
        cluster.kubeconfig.parent / f"operator-{namespace}.log",
        3600,
        "--namespace",
        namespace,
    )
    try:
        wait_for(
            lambda: own.metric("berth_reconciles_total", kind="workload") >= 1,
            30,
            "the first reconcile",
        )
        # The start's own reconciles (the first list, a status write's echo) end first.
        before = settles(
            lambda: own.metric("berth_reconciles_total", kind="workload"),
            3,
            30,
            "the operator's first reconciles",
        )
        stays(
            lambda: own.metric("berth_reconciles_total", kind="workload") - before <= 1,
            10,
            "at most one reconcile of a Stalled Workload in 10 s",
        )
    finally:
        own.stop()


def test_a_baseline_environment_lets_root_images_run(
    berth: Berth, namespace: str, operator: OperatorProcess
) -> None:
    body = environment_body(namespace, namespace)
    body["spec"]["policy"] = {"podSecurity": "baseline"}
    berth.create_environment(body)
    try:
        wait_for(
            lambda: (
                (berth.core.read_namespace(namespace).metadata.labels or {}).get(
                    "pod-security.kubernetes.io/enforce"
                )
                == "baseline"
            ),
            30,
            "the namespace to enforce baseline",
        )
        berth.create_workload(namespace, workload_body("rooty"))
        berth.wait_condition(namespace, "rooty", "Ready", "True", timeout=90)
        pod_spec = berth.apps.read_namespaced_deployment("rooty", namespace).spec.template.spec
        assert pod_spec.security_context.run_as_non_root is None
        assert pod_spec.containers[0].security_context is None
        # The namespace refuses what baseline forbids: a privileged Pod.
        privileged = {
            "metadata": {"name": "priv"},
            "spec": {
                "containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]
            },
        }
        with pytest.raises(ApiException) as caught:
            berth.core.create_namespaced_pod(namespace, privileged)
        assert caught.value.status == 403
        assert "baseline" in str(caught.value.body)
    finally:
        berth.delete_environment(namespace)
