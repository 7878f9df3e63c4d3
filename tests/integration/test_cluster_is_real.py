"""The local control plane is a real Kubernetes: these prove it before anything
of Berth's is tested on it."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.clusterharness import ClusterAccess
from tests.kubeutil import wait_for

RESTRICTED_POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": RESTRICTED_POD_SECURITY,
                    "containers": [
                        {
                            "name": "main",
                            "image": "registry.example/app:1.0",
                            "ports": [{"containerPort": 8080}],
                            "securityContext": RESTRICTED_CONTAINER_SECURITY,
                        }
                    ],
                },
            },
        },
    }


def test_deployment_becomes_available_with_ready_pods_on_kwok_nodes(
    api: ApiClient, namespace: str
) -> None:
    apps, core = k8s.AppsV1Api(api), k8s.CoreV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("web", 3))

    def available() -> int:
        status = apps.read_namespaced_deployment_status("web", namespace).status
        return (status.available_replicas or 0) == 3 and status.ready_replicas == 3

    wait_for(available, 60, "3 available replicas")

    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 3
    kwok_nodes = {
        node.metadata.name
        for node in core.list_node().items
        if (node.metadata.annotations or {}).get("kwok.x-k8s.io/node") == "fake"
    }
    assert len(kwok_nodes) >= 3, "the cluster should run at least 3 kwok nodes"
    for pod in pods:
        assert pod.status.phase == "Running"
        assert pod.spec.node_name in kwok_nodes, f"{pod.metadata.name} is not on a kwok node"
        ready = {c.type: c.status for c in pod.status.conditions}
        assert ready.get("Ready") == "True"
    # The ReplicaSet came from the real deployment controller.
    replica_sets = apps.list_namespaced_replica_set(namespace, label_selector="app=web").items
    assert [rs.metadata.owner_references[0].name for rs in replica_sets] == ["web"]


def test_kubectl_wait_for_available_returns(
    cluster: ClusterAccess, api: ApiClient, namespace: str
) -> None:
    k8s.AppsV1Api(api).create_namespaced_deployment(namespace, deployment("waited", 2))
    out = cluster.kubectl(
        "-n", namespace, "wait", "--for=condition=Available", "deployment/waited", "--timeout=60s"
    )
    assert "condition met" in out


def test_service_gets_a_cluster_ip(api: ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api)
    service = core.create_namespaced_service(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    ip = service.spec.cluster_ip
    assert ip
    assert ip != "None"
    assert ip.count(".") == 3


WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.harness.berth.dev"},
    "spec": {
        "group": "harness.berth.dev",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "listKind": "WidgetList",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "size": {"type": "integer"},
                                    "max": {"type": "integer"},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.size <= self.max",
                                        "message": "size must not exceed max",
                                    }
                                ],
                            },
                            "status": {
                                "type": "object",
                                "properties": {"phase": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def widget_crd(api: ApiClient) -> Any:
    ext = k8s.ApiextensionsV1Api(api)
    name = WIDGET_CRD["metadata"]["name"]
    try:
        ext.create_custom_resource_definition(WIDGET_CRD)
    except ApiException as err:
        if err.status != 409:
            raise

    def established() -> bool:
        crd = ext.read_custom_resource_definition(name)
        return any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
        )

    wait_for(established, 30, "the Widget CRD to be established")
    yield name
    ext.delete_custom_resource_definition(name)


def test_crd_with_status_printer_columns_and_cel_is_served(
    cluster: ClusterAccess, api: ApiClient, namespace: str, widget_crd: str
) -> None:
    custom = k8s.CustomObjectsApi(api)
    group, version, plural = "harness.berth.dev", "v1", "widgets"
    body = {
        "apiVersion": f"{group}/{version}",
        "kind": "Widget",
        "metadata": {"name": "ok"},
        "spec": {"size": 2, "max": 3},
    }
    custom.create_namespaced_custom_object(group, version, namespace, plural, body)

    # The status subresource: a write to it changes status, and a write to the main
    # resource cannot.
    custom.patch_namespaced_custom_object_status(
        group, version, namespace, plural, "ok", {"status": {"phase": "Happy"}}
    )
    obj = custom.get_namespaced_custom_object(group, version, namespace, plural, "ok")
    assert obj["status"] == {"phase": "Happy"}
    custom.patch_namespaced_custom_object(
        group, version, namespace, plural, "ok", {"status": {"phase": "Ignored"}}
    )
    obj = custom.get_namespaced_custom_object(group, version, namespace, plural, "ok")
    assert obj["status"] == {"phase": "Happy"}

    # Printer columns come back from the server.
    table = cluster.kubectl("-n", namespace, "get", "widgets")
    header, row = table.strip().splitlines()[:2]
    # Custom columns replace the default AGE column unless a CRD lists it.
    assert header.split() == ["NAME", "SIZE", "PHASE"]
    assert row.split()[:3] == ["ok", "2", "Happy"]

    # The CEL rule is enforced by the API server, with its message.
    bad = {**body, "metadata": {"name": "too-big"}, "spec": {"size": 5, "max": 3}}
    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(group, version, namespace, plural, bad)
    assert caught.value.status == 422
    assert "size must not exceed max" in caught.value.body
