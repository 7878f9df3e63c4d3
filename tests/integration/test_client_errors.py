"""The real API server's refusals become the client's exception classes (kube/client.py).

The unit tests pin down the mapping from status to class; these prove that the answers
the operator relies on come with the status it expects — a failed JSON-patch test is a
422, a stale resourceVersion and a uid precondition are 409s, a missing grant is a 403.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from berth.kube import credentials
from berth.kube.client import Conflict, Forbidden, Invalid, KubeClient, NotFound, Unauthorized
from berth.kube.finalizers import JSON_PATCH
from tests.clusterharness import ClusterAccess
from tests.integration.test_api_throttling import token_kubeconfig


@pytest.fixture
async def client(cluster: ClusterAccess) -> AsyncIterator[KubeClient]:
    async with KubeClient(lambda: credentials.load(str(cluster.kubeconfig))) as kube:
        yield kube


def configmap(namespace: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": namespace},
        "data": data if data is not None else {"greeting": "hello"},
    }


async def test_not_found_for_an_object_and_for_a_kind(client: KubeClient, namespace: str) -> None:
    assert await client.get("v1", "ConfigMap", "nothing", namespace) is None
    assert await client.delete("v1", "ConfigMap", "nothing", namespace) is False
    with pytest.raises(NotFound, match="does not serve"):
        await client.resource_info("db.example.dev/v1", "PostgreSQLInstance")


async def test_conflicts_already_exists_stale_version_and_uid_precondition(
    client: KubeClient, namespace: str
) -> None:
    created = await client.create(configmap(namespace))
    with pytest.raises(Conflict) as caught:
        await client.create(configmap(namespace))
    assert caught.value.reason == "AlreadyExists"

    stale = configmap(namespace, {"greeting": "hi"})
    stale["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    await client.merge_patch("v1", "ConfigMap", "settings", {"data": {"x": "1"}}, namespace)
    with pytest.raises(Conflict) as caught:
        await client.apply(stale, field_manager="berth-test")
    assert caught.value.reason == "Conflict"

    with pytest.raises(Conflict, match="the UID in the precondition"):
        await client.delete("v1", "ConfigMap", "settings", namespace, uid="not-its-uid")


async def test_invalid_objects_and_failed_json_patch_tests_are_422(
    client: KubeClient, namespace: str
) -> None:
    with pytest.raises(Invalid) as caught:
        await client.apply(configmap(namespace, {"not a key!": "x"}), field_manager="berth-test")
    assert caught.value.reason == "Invalid"
    assert "not a key!" in caught.value.message

    await client.create(configmap(namespace))
    path = await client.path_for("v1", "ConfigMap", namespace, "settings")
    # What the finalizer code relies on: a test op that fails is a 422, so it re-reads.
    with pytest.raises(Invalid):
        await client.request(
            "PATCH",
            path,
            body=[{"op": "test", "path": "/metadata/uid", "value": "not-its-uid"}],
            content_type=JSON_PATCH,
        )


async def test_forbidden_and_unauthorized(
    cluster: ClusterAccess, api: ApiClient, namespace: str, tmp_path: Path
) -> None:
    k8s.CoreV1Api(api).create_namespaced_service_account(
        namespace, {"metadata": {"name": "nobody"}}
    )
    token = cluster.kubectl("create", "token", "nobody", "-n", namespace, "--duration=1h").strip()
    granted_nothing = token_kubeconfig(cluster, token, tmp_path / "nobody.kubeconfig")
    async with KubeClient(lambda: credentials.load(str(granted_nothing))) as client:
        with pytest.raises(Forbidden) as caught:
            await client.get("v1", "ConfigMap", "settings", namespace)
        assert "cannot get resource" in caught.value.message
    bogus = token_kubeconfig(cluster, "not-a-token", tmp_path / "bogus.kubeconfig")
    async with KubeClient(lambda: credentials.load(str(bogus))) as client:
        with pytest.raises(Unauthorized):
            await client.request("GET", "/api/v1")
