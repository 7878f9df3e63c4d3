"""Ours means Berth wrote it (issue 17, point 1), on the real API server, the operator
running with the chart's rights.

Labels are anyone's to write: a Service, ConfigMap or Deployment made with kubectl and
labelled as Berth's is ``NameTaken`` — its resourceVersion, selector and data untouched,
and it stays when the Workload goes. So is a claim labelled as a resource's. What Berth
did write is adopted: its children after ``kubectl delete --cascade=orphan`` and a new
Workload of the name; and objects restored from a backup with our labels and our
managedFields entries, as a backup tool restores them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from berth.provision.identity import identities_of_spec
from tests.clusterharness import ClusterAccess
from tests.e2e.test_claims_reliability import gone
from tests.e2e.test_provisioning import (
    CLAIMS,
    claims,
    db_workload,
    provisioner,
    resource_entry,
)
from tests.kubeutil import Berth, stays, wait_for, workload_body

WEB = {"ports": {"web": {"port": 80, "targetPort": 8080}}}
FILES = {"/etc/app/conf": {"content": "x"}}


def spoof(cluster: ClusterAccess, namespace: str, kind: str, name: str, workload: str) -> None:
    """Label an object someone made as a child of ``workload``: exactly the two labels."""
    cluster.kubectl(
        "-n",
        namespace,
        "label",
        kind,
        name,
        "app.kubernetes.io/managed-by=berth",
        f"berth.dev/workload={workload}",
    )


def snapshot(read: Callable[[], Any]) -> Callable[[], dict[str, Any]]:
    """What must not change of an object: its resourceVersion, owners and content."""

    def now() -> dict[str, Any]:
        obj = read()
        return {
            "resourceVersion": obj.metadata.resource_version,
            "ownerReferences": obj.metadata.owner_references,
            "content": (
                obj.data
                if hasattr(obj, "data") and not hasattr(obj, "spec")
                else obj.spec.to_dict()
            ),
        }

    return now


def test_our_labels_on_kubectl_objects_make_them_name_taken_and_nothing_changes(
    cluster: ClusterAccess, berth: Berth, namespace: str, environment: str
) -> None:
    # A Service, a ConfigMap and a Deployment, each made with kubectl and labelled as a
    # child of the Workload of the same name that comes next.
    cluster.kubectl("-n", namespace, "create", "service", "clusterip", "svc", "--tcp=83:8083")
    spoof(cluster, namespace, "service", "svc", "svc")
    cluster.kubectl(
        "-n", namespace, "create", "configmap", "cm-files", "--from-literal=precious=yes"
    )
    spoof(cluster, namespace, "configmap", "cm-files", "cm")
    cluster.kubectl("-n", namespace, "create", "deployment", "dep", "--image=registry.acme.dev/x:1")
    spoof(cluster, namespace, "deployment", "dep", "dep")
    reads = {
        "svc": snapshot(lambda: berth.core.read_namespaced_service("svc", namespace)),
        "cm": snapshot(lambda: berth.core.read_namespaced_config_map("cm-files", namespace)),
        "dep": snapshot(lambda: berth.apps.read_namespaced_deployment("dep", namespace)),
    }
    before = {name: read() for name, read in reads.items()}
    assert before["svc"]["content"]["selector"] == {"app": "svc"}

    bodies = {
        "svc": workload_body("svc", service=WEB),
        "cm": workload_body(
            "cm", containers={"main": {"image": "registry.acme.dev/app:1.0", "files": FILES}}
        ),
        "dep": workload_body("dep"),
    }
    for body in bodies.values():
        berth.create_workload(namespace, body)
    for name, kind in (
        ("svc", "Service svc"),
        ("cm", "ConfigMap cm-files"),
        ("dep", "Deployment dep"),
    ):
        stalled = berth.wait_condition(namespace, name, "Stalled", "True", reason="NameTaken")
        assert f"{kind} already exists" in stalled["message"]
        assert "carries Berth's labels, but Berth did not write them" in stalled["message"]
        assert "kubectl" in stalled["message"]  # who did: the writers in managedFields

    def untouched() -> bool:
        return all(read() == before[name] for name, read in reads.items())

    stays(untouched, 6, "the labelled objects untouched over several resyncs")

    for name in bodies:
        berth.delete_workload(namespace, name)
    for name in bodies:
        wait_for(lambda n=name: gone(berth, namespace, n), 30, f"Workload {name} to go")  # type: ignore[misc]
    stays(untouched, 4, "the labelled objects still there, untouched, once the Workloads went")


def berth_children(berth: Berth, namespace: str, name: str) -> dict[str, Any]:
    return {
        "Service": berth.core.read_namespaced_service(name, namespace),
        "ConfigMap": berth.core.read_namespaced_config_map(f"{name}-files", namespace),
        "Deployment": berth.apps.read_namespaced_deployment(name, namespace),
    }


def app(name: str) -> dict[str, Any]:
    return workload_body(
        name,
        service=WEB,
        containers={"main": {"image": "registry.acme.dev/app:1.0", "files": FILES}},
    )


def owned_by(obj: Any, uid: str) -> bool:
    return [r.uid for r in obj.metadata.owner_references or []] == [uid]


def test_children_orphaned_then_asked_for_again_are_adopted(
    cluster: ClusterAccess, berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(namespace, app("keep"))
    berth.wait_condition(namespace, "keep", "Ready", "True", timeout=90)
    first = berth_children(berth, namespace, "keep")
    cluster.kubectl("-n", namespace, "delete", "workload", "keep", "--cascade=orphan")
    wait_for(lambda: gone(berth, namespace, "keep"), 30, "the Workload to go")
    wait_for(
        lambda: (
            not any(
                o.metadata.owner_references
                for o in berth_children(berth, namespace, "keep").values()
            )
        ),
        30,
        "the garbage collector to orphan the children",
    )

    created = berth.create_workload(namespace, app("keep"))
    berth.wait_condition(namespace, "keep", "Ready", "True", timeout=90)

    now = berth_children(berth, namespace, "keep")
    for kind, obj in now.items():
        assert obj.metadata.uid == first[kind].metadata.uid, f"{kind} was replaced, not adopted"
        assert owned_by(obj, created["metadata"]["uid"]), kind


def restorable(obj: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An object as a backup tool restores it: identity and server fields gone (and the
    owner references, whose owner is gone too), labels kept; and its managedFields, which
    the tool writes back once the object exists (a create gives every field to the
    creator; an update that sets managedFields sets them as given)."""
    restored = copy.deepcopy(obj)
    meta = restored["metadata"]
    fields = meta.pop("managedFields")
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation", "ownerReferences"):
        meta.pop(key, None)
    restored.pop("status", None)
    if restored["kind"] == "Service":
        restored["spec"].pop("clusterIP", None)
        restored["spec"].pop("clusterIPs", None)
    return restored, fields


def restore(berth: Berth, namespace: str, obj: dict[str, Any]) -> Any:
    body, fields = restorable(obj)
    name = body["metadata"]["name"]
    patch = [{"op": "replace", "path": "/metadata/managedFields", "value": fields}]
    if body["kind"] == "Deployment":
        berth.apps.create_namespaced_deployment(namespace, body)
        return berth.apps.patch_namespaced_deployment(name, namespace, patch)
    if body["kind"] == "Service":
        berth.core.create_namespaced_service(namespace, body)
        return berth.core.patch_namespaced_service(name, namespace, patch)
    berth.core.create_namespaced_config_map(namespace, body)
    return berth.core.patch_namespaced_config_map(name, namespace, patch)


def test_children_restored_from_a_backup_with_our_managed_fields_are_adopted(
    api: ApiClient, berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(namespace, app("back"))
    berth.wait_condition(namespace, "back", "Ready", "True", timeout=90)
    backup = {
        kind: {
            **api.sanitize_for_serialization(obj),
            "apiVersion": "apps/v1" if kind == "Deployment" else "v1",
            "kind": kind,
        }
        for kind, obj in berth_children(berth, namespace, "back").items()
    }
    berth.delete_workload(namespace, "back")
    wait_for(lambda: gone(berth, namespace, "back"), 30, "the Workload to go")

    def children_gone() -> bool:
        try:
            berth_children(berth, namespace, "back")
        except ApiException as err:
            return err.status == 404
        return False

    wait_for(children_gone, 60, "the garbage collector to take the children")

    # Restored: our labels, our managedFields entries, no owner (it is gone).
    restored = {kind: restore(berth, namespace, obj) for kind, obj in backup.items()}
    for obj in restored.values():
        ours = [
            e for e in obj.metadata.managed_fields if (e.manager, e.operation) == ("berth", "Apply")
        ]
        assert ours, "the restored entries are there"
        assert "f:berth.dev/workload" in ours[0].fields_v1["f:metadata"]["f:labels"]

    created = berth.create_workload(namespace, app("back"))
    berth.wait_condition(namespace, "back", "Ready", "True", timeout=90)
    for kind, obj in berth_children(berth, namespace, "back").items():
        assert obj.metadata.uid == restored[kind].metadata.uid, f"{kind} was replaced, not adopted"
        assert owned_by(obj, created["metadata"]["uid"]), kind


def test_a_restore_that_gives_the_restorer_our_labels_is_not_adopted(
    berth: Berth, namespace: str, environment: str
) -> None:
    """Restored by a plain create, which gives every field it sets to the creator: Berth's
    entry no longer owns the labels, so the objects are not Berth's doing any more."""
    berth.create_workload(namespace, workload_body("plain", service=WEB))
    berth.wait_condition(namespace, "plain", "Ready", "True", timeout=90)
    service = berth.core.read_namespaced_service("plain", namespace)
    body = {**berth.core.api_client.sanitize_for_serialization(service), "apiVersion": "v1"}
    body["kind"] = "Service"
    berth.delete_workload(namespace, "plain")
    wait_for(lambda: gone(berth, namespace, "plain"), 30, "the Workload to go")

    def service_gone() -> bool:
        try:
            berth.core.read_namespaced_service("plain", namespace)
        except ApiException as err:
            return err.status == 404
        return False

    wait_for(service_gone, 60, "the garbage collector to take the Service")
    restored, fields = restorable(body)
    restored["metadata"]["managedFields"] = fields  # given on create: the creator takes them
    berth.core.create_namespaced_service(namespace, restored)
    berth.create_workload(namespace, workload_body("plain", service=WEB))
    stalled = berth.wait_condition(namespace, "plain", "Stalled", "True", reason="NameTaken")
    assert "Service plain already exists" in stalled["message"]


def test_a_claim_labelled_as_a_resources_is_name_taken_and_outlives_the_workload(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any
) -> None:
    make_environment(provisioner("postgres"), deletionPolicy="Delete")
    body = db_workload("shop")
    identity = identities_of_spec("shop", body["spec"])["db"]
    custom = k8s.CustomObjectsApi(api)
    labels = {
        "app.kubernetes.io/managed-by": "berth",
        "berth.dev/workload": "shop",
        "berth.dev/resource": identity,
        "berth.dev/resource-type": "postgres",
    }
    custom.create_namespaced_custom_object(
        *CLAIMS[:2],
        namespace,
        CLAIMS[2],
        {
            "apiVersion": f"{CLAIMS[0]}/{CLAIMS[1]}",
            "kind": "PostgreSQLInstance",
            "metadata": {"name": identity, "labels": labels},
            "spec": {"parameters": {"storageGB": 500}},
        },
    )
    [before] = claims(api, namespace)

    berth.create_workload(namespace, body)
    stalled = berth.wait_condition(namespace, "shop", "Stalled", "True", reason="NameTaken")
    assert f"PostgreSQLInstance {identity}" in stalled["message"]
    entry = resource_entry(berth, namespace, "shop", "db")
    assert (entry["state"], entry["reason"]) == ("Failed", "NameTaken")

    def untouched() -> bool:
        """Berth wrote nothing to it (the test-only composer writes its status)."""
        [now] = claims(api, namespace)
        managers = {e["manager"] for e in now["metadata"]["managedFields"]}
        return (
            now["spec"] == before["spec"]
            and now["metadata"]["labels"] == before["metadata"]["labels"]
            and now["metadata"].get("annotations") == before["metadata"].get("annotations")
            and "berth" not in managers
        )

    stays(untouched, 4, "the claim untouched")
    berth.delete_workload(namespace, "shop")
    wait_for(lambda: gone(berth, namespace, "shop"), 30, "the Workload to go")
    stays(untouched, 4, "the claim still there under deletionPolicy Delete")
