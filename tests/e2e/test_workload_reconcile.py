"""A Workload applied in an Environment runs, reports the truth, and stays put."""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from tests.clusterharness import ClusterAccess
from tests.e2e.conftest import RESYNC_SECONDS, OperatorProcess
from tests.kubeutil import Berth, settles, stays, wait_for, workload_body


def managed_children(berth: Berth, namespace: str, name: str) -> dict[str, Any]:
    selector = f"berth.dev/workload={name}"
    return {
        "Deployment": berth.apps.list_namespaced_deployment(
            namespace, label_selector=selector
        ).items,
        "Service": berth.core.list_namespaced_service(namespace, label_selector=selector).items,
        "ConfigMap": berth.core.list_namespaced_config_map(
            namespace, label_selector=selector
        ).items,
    }


def test_workload_becomes_ready_and_kubectl_wait_returns(
    cluster: ClusterAccess, berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(namespace, workload_body("web", replicas=2))
    out = cluster.kubectl(
        "-n", namespace, "wait", "--for=condition=Ready", "workload/web", "--timeout=60s"
    )
    assert "condition met" in out

    wl = berth.workload(namespace, "web")
    status = wl["status"]
    assert status["observedGeneration"] == wl["metadata"]["generation"]
    assert status["environment"] == environment
    assert status["replicas"] == {"desired": 2, "ready": 2, "available": 2, "summary": "2/2"}
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Reconciling"]["status"] == "False"
    assert conditions["Stalled"]["status"] == "False"
    assert conditions["InputsValid"]["status"] == "True"
    assert conditions["Available"]["status"] == "True"

    deployment = berth.apps.read_namespaced_deployment("web", namespace)
    owner = deployment.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "Workload",
        "web",
        wl["metadata"]["uid"],
        True,
    )
    assert deployment.metadata.labels["app.kubernetes.io/managed-by"] == "berth"
    assert [f.manager for f in deployment.metadata.managed_fields if f.operation == "Apply"] == [
        "berth"
    ]
    env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
    assert env["NAME"] == "web"
    pods = berth.core.list_namespaced_pod(namespace, label_selector="berth.dev/workload=web").items
    assert len(pods) == 2
    assert all(p.status.phase == "Running" for p in pods)
    assert status["managedObjects"] == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    ]

    # Applied right after its Environment: no scary detour through EnvironmentNotFound,
    # just one Normal event on becoming Ready, and one as that Ready generation's
    # revision is recorded (what `berth promote` takes from).
    def workload_events() -> list[tuple[str, str]]:
        events = berth.core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=web"
        ).items
        return [(e.type, e.reason) for e in events if e.involved_object.kind == "Workload"]

    # The Event is posted right after the status write that kubectl wait saw.
    expected = [("Normal", "Ready"), ("Normal", "RevisionRecorded")]
    wait_for(lambda: sorted(workload_events()) == expected, 10, "the Ready and revision Events")
    assert sorted(workload_events()) == expected

    # The printer columns answer "is it up, where".
    table = cluster.kubectl("-n", namespace, "get", "workloads")
    header, row = table.strip().splitlines()[:2]
    assert header.split() == [
        "NAME",
        "ENVIRONMENT",
        "SOURCE",  # empty: not a preview's copy
        "READY",
        "STATUS",
        "REPLICAS",
        "URL",
        "AGE",
    ]
    assert row.split()[:5] == ["web", environment, "True", "Ready", "2/2"]


def test_service_ports_become_a_service_and_an_endpoint(
    berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(
        namespace,
        workload_body("api", service={"ports": {"web": {"port": 80, "targetPort": 8080}}}),
    )
    berth.wait_condition(namespace, "api", "Ready", "True")
    service = berth.core.read_namespaced_service("api", namespace)
    assert service.spec.cluster_ip
    assert [(p.name, p.port, p.target_port, p.protocol) for p in service.spec.ports] == [
        ("web", 80, 8080, "TCP")
    ]
    assert service.spec.selector == {"berth.dev/workload": "api"}
    assert (
        berth.workload(namespace, "api")["status"]["endpoint"]
        == f"api.{namespace}.svc.cluster.local:80"
    )


def test_drift_is_corrected_within_seconds(
    cluster: ClusterAccess,
    berth: Berth,
    namespace: str,
    environment: str,
    operator: OperatorProcess,
) -> None:
    berth.create_workload(
        namespace, workload_body("drift", service={"ports": {"web": {"port": 80}}})
    )
    berth.wait_condition(namespace, "drift", "Ready", "True")

    cluster.kubectl("-n", namespace, "scale", "deployment/drift", "--replicas=3")
    wait_for(
        lambda: berth.apps.read_namespaced_deployment("drift", namespace).spec.replicas == 1,
        10,
        "the replica count to be set back",
    )

    cluster.kubectl(
        "-n", namespace, "label", "deployment/drift", "berth.dev/workload=other", "--overwrite"
    )
    wait_for(
        lambda: (
            berth.apps.read_namespaced_deployment("drift", namespace).metadata.labels[
                "berth.dev/workload"
            ]
            == "drift"
        ),
        10,
        "the inventory label to be set back",
    )

    old_uid = berth.core.read_namespaced_service("drift", namespace).metadata.uid
    berth.core.delete_namespaced_service("drift", namespace)

    def recreated() -> bool:
        try:
            return berth.core.read_namespaced_service("drift", namespace).metadata.uid != old_uid
        except ApiException as err:
            if err.status == 404:
                return False
            raise

    wait_for(recreated, 10, "the deleted Service to be recreated")
    wait_for(
        lambda: any(
            e.reason == "DriftCorrected" for e in berth.workload_events(namespace, "drift")
        ),
        15,
        "a DriftCorrected Event",
    )
    assert operator.metric("berth_drift_corrections_total", kind="Deployment") >= 1
    wait_for(
        lambda: operator.metric("berth_workloads", ready="true") >= 1,
        10,
        "the berth_workloads gauge to count a ready Workload",
    )


def test_a_reconcile_that_changes_nothing_writes_nothing(
    berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(
        namespace,
        workload_body(
            "quiet",
            service={"ports": {"web": {"port": 80, "targetPort": 8080}}},
            containers={
                "main": {
                    "image": "registry.acme.dev/app:1.0",
                    "files": {"/etc/app.conf": {"content": "name: ${metadata.name}\n"}},
                }
            },
        ),
    )
    berth.wait_condition(namespace, "quiet", "Ready", "True")

    def versions() -> dict[str, str]:
        children = managed_children(berth, namespace, "quiet")
        found = {
            f"{kind}/{obj.metadata.name}": obj.metadata.resource_version
            for kind, objs in children.items()
            for obj in objs
        }
        found["Workload/quiet"] = berth.workload(namespace, "quiet")["metadata"]["resourceVersion"]
        return found

    # Let the rollout's own writes settle, then watch several full resyncs go by.
    before = settles(versions, RESYNC_SECONDS, 60, "the rollout's writes")
    assert set(before) == {
        "Deployment/quiet",
        "Service/quiet",
        "ConfigMap/quiet-files",
        "Workload/quiet",
    }
    stays(lambda: versions() == before, RESYNC_SECONDS * 3 + 1, "no write over three resyncs")


def test_a_spec_change_rolls_the_pods(berth: Berth, namespace: str, environment: str) -> None:
    body = workload_body(
        "roll",
        containers={
            "main": {
                "image": "registry.acme.dev/app:1.0",
                "files": {"/etc/app.conf": {"content": "level: info\n"}},
            }
        },
    )
    berth.create_workload(namespace, body)
    berth.wait_condition(namespace, "roll", "Ready", "True")
    template = berth.apps.read_namespaced_deployment("roll", namespace).spec.template
    checksum = template.metadata.annotations["berth.dev/config-checksum"]

    berth.patch_workload(
        namespace,
        "roll",
        {
            "spec": {
                "containers": {"main": {"files": {"/etc/app.conf": {"content": "level: debug\n"}}}}
            }
        },
    )

    def rolled() -> bool:
        template = berth.apps.read_namespaced_deployment("roll", namespace).spec.template
        return template.metadata.annotations["berth.dev/config-checksum"] != checksum

    wait_for(rolled, 10, "the pod template checksum to change")
    config = berth.core.read_namespaced_config_map("roll-files", namespace)
    assert "level: debug\n" in config.data.values()
    wl = berth.wait_condition(namespace, "roll", "Ready", "True")
    assert wl["observedGeneration"] == berth.workload(namespace, "roll")["metadata"]["generation"]


def test_the_operator_never_writes_spec_or_metadata(
    cluster: ClusterAccess, berth: Berth, namespace: str, environment: str
) -> None:
    """What Argo CD diffs (spec, labels, annotations) stays exactly as applied."""
    body = workload_body("gitops")
    body["metadata"]["labels"] = {"team": "a"}
    body["metadata"]["annotations"] = {"note": "from git"}
    created = berth.create_workload(namespace, body)
    berth.wait_condition(namespace, "gitops", "Ready", "True")

    def as_applied() -> bool:
        now = berth.workload(namespace, "gitops")
        meta = now["metadata"]
        return (
            now["spec"] == created["spec"]
            and meta.get("labels") == {"team": "a"}
            and meta.get("annotations") == {"note": "from git"}
            and not meta.get("finalizers")
            and meta["generation"] == created["metadata"]["generation"]
        )

    stays(as_applied, RESYNC_SECONDS * 2, "spec and metadata as applied, over two resyncs")
    now = berth.workload(namespace, "gitops")
    assert now["spec"] == created["spec"]
    assert now["metadata"].get("labels") == {"team": "a"}
    assert now["metadata"].get("annotations") == {"note": "from git"}
    assert not now["metadata"].get("finalizers")
    assert now["metadata"]["generation"] == created["metadata"]["generation"]
    raw = cluster.kubectl(
        "-n", namespace, "get", "workload", "gitops", "--show-managed-fields", "-o", "json"
    )
    import json

    fields = json.loads(raw)["metadata"]["managedFields"]
    ours = [f for f in fields if f["manager"] == "berth"]
    assert ours
    assert all(f.get("subresource") == "status" for f in ours), ours
    assert "kopf" not in json.dumps(now["metadata"])

    env = berth.environment(environment)
    assert not env["metadata"].get("annotations")
    # Only its own finalizer, which carries out the Environment's deletion policy.
    assert env["metadata"].get("finalizers") == ["berth.dev/cleanup"]


def test_a_rollout_that_cannot_progress_is_reported(
    berth: Berth, namespace: str, operator: Any
) -> None:
    """Pods no node can hold: the Deployment's progress deadline passes, the Workload says so."""
    from tests.kubeutil import environment_body

    berth.create_environment(
        environment_body(
            namespace, namespace, defaults={"replicas": 1, "progressDeadlineSeconds": 3}
        )
    )
    berth.wait_served(namespace, namespace)
    try:
        berth.create_workload(
            namespace,
            workload_body(
                "huge",
                containers={
                    "main": {
                        "image": "registry.acme.dev/app:1.0",
                        "resources": {"requests": {"memory": "64Ti"}, "limits": {"memory": "64Ti"}},
                    }
                },
            ),
        )
        ready = berth.wait_condition(
            namespace, "huge", "Ready", "False", reason="ProgressDeadlineExceeded"
        )
        assert "huge" in ready["message"]
        # and the Pods' own words (issue 9 point 5): the scheduler's verdict
        assert "1 of 1 Pods: 0/" in ready["message"]
        assert "Insufficient memory" in ready["message"]
        stalled = berth.condition(namespace, "huge", "Stalled")
        assert stalled is not None
        assert (stalled["status"], stalled["reason"]) == ("True", "ProgressDeadlineExceeded")
        assert (
            berth.apps.read_namespaced_deployment("huge", namespace).spec.progress_deadline_seconds
            == 3
        )
    finally:
        berth.delete_environment(namespace)
