"""The operator's client honours the API server's flow control (API Priority and Fairness).

A user of this test's own (a ServiceAccount in the test namespace) is given a priority
level with a tiny share of the server's concurrency that rejects instead of queueing, by
a FlowSchema that matches only that user. Then the operator's client (berth.kube.client)
sends far more requests at once than that share allows: the server answers 429 with a
Retry-After, and the client must wait, let fewer requests through, and in the end
write every object — while the server's own metrics confirm that it did reject them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from berth.kube import credentials
from berth.kube.client import KubeClient
from berth.kube.limiter import THROTTLED
from tests.clusterharness import ClusterAccess
from tests.kubeutil import wait_for

REQUESTS = 60


def token_kubeconfig(cluster: ClusterAccess, token: str, path: Path) -> Path:
    """The test cluster's server and CA, with only this bearer token."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    server = dict(
        next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])["cluster"]
    )
    ca = server.get("certificate-authority")
    if ca and not Path(ca).is_absolute():
        server["certificate-authority"] = str((cluster.kubeconfig.parent / ca).resolve())
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": server}],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


@pytest.fixture
def throttled_user(
    cluster: ClusterAccess, api: ApiClient, namespace: str, tmp_path: Path
) -> Iterator[tuple[Path, str, str]]:
    """(kubeconfig of a throttled ServiceAccount, its priority level, its flow schema)."""
    core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
    flow = k8s.FlowcontrolApiserverV1Api(api)
    sa = "throttled"
    core.create_namespaced_service_account(namespace, {"metadata": {"name": sa}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": sa},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": sa},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}],
        },
    )
    name = f"berth-{namespace}"
    flow.create_priority_level_configuration(
        {
            "metadata": {"name": name},
            "spec": {
                "type": "Limited",
                "limited": {
                    # The smallest share there is, nothing lent or borrowed, and no queue:
                    # what does not fit is turned away at once with a 429.
                    "nominalConcurrencyShares": 1,
                    "lendablePercent": 0,
                    "borrowingLimitPercent": 0,
                    "limitResponse": {"type": "Reject"},
                },
            },
        }
    )
    flow.create_flow_schema(
        {
            "metadata": {"name": name},
            "spec": {
                "priorityLevelConfiguration": {"name": name},
                "matchingPrecedence": 500,  # before the built-in service-accounts schema
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [
                    {
                        "subjects": [
                            {
                                "kind": "ServiceAccount",
                                "serviceAccount": {"name": sa, "namespace": namespace},
                            }
                        ],
                        "resourceRules": [
                            {
                                "verbs": ["*"],
                                "apiGroups": ["*"],
                                "resources": ["*"],
                                "namespaces": ["*"],
                                "clusterScope": True,
                            }
                        ],
                        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                    }
                ],
            },
        }
    )
    try:
        # The server's flow-control controller takes the new schema in; it says so by
        # a Dangling=False condition on it.
        def conditions() -> dict[str, str]:
            schema = flow.read_flow_schema(name)
            return {c.type: c.status for c in (schema.status.conditions or [])}

        wait_for(
            lambda: conditions().get("Dangling") == "False",
            60,
            f"FlowSchema {name} to be taken in (Dangling=False)",
        )
        token = cluster.kubectl("create", "token", sa, "-n", namespace, "--duration=1h").strip()
        yield token_kubeconfig(cluster, token, tmp_path / "throttled.kubeconfig"), name, name
    finally:
        for delete in (flow.delete_flow_schema, flow.delete_priority_level_configuration):
            try:
                delete(name)
            except ApiException as err:
                if err.status != 404:
                    raise


def rejected_by(metrics_text: str, priority_level: str) -> float:
    """The API server's own count of requests it rejected at one priority level."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("apiserver_flowcontrol_rejected_requests_total{") and re.search(
            rf'priority_level="{re.escape(priority_level)}"', line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def configmap(namespace: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"cm-{i:03d}", "namespace": namespace},
        "data": {"payload": "x" * 4096},
    }


def test_a_429_from_priority_and_fairness_is_waited_out_with_fewer_requests_in_flight(
    cluster: ClusterAccess,
    api: ApiClient,
    namespace: str,
    throttled_user: tuple[Path, str, str],
) -> None:
    kubeconfig, level, _ = throttled_user
    causes: list[str] = []
    limits: list[float] = []

    async def flood() -> KubeClient:
        client = KubeClient(
            lambda: credentials.load(str(kubeconfig)),
            on_throttle=causes.append,
            on_limit=lambda limit, inflight: limits.append(limit),
        )
        async with client:
            await asyncio.gather(
                *(
                    client.apply(configmap(namespace, i), field_manager="berth-test")
                    for i in range(REQUESTS)
                )
            )
        return client

    before = rejected_by(cluster.kubectl("get", "--raw", "/metrics"), level)
    client = asyncio.run(flood())
    after = rejected_by(cluster.kubectl("get", "--raw", "/metrics"), level)

    # The server did turn requests away, at this user's priority level...
    assert after - before >= 1, "the API server rejected nothing: the test proves nothing"
    # ...the client saw each rejection as throttling and let fewer requests through...
    assert causes.count(THROTTLED) >= 1
    assert min(limits) < limits[0]
    # ...and every write went through in the end, once each.
    names = {
        cm.metadata.name
        for cm in k8s.CoreV1Api(api).list_namespaced_config_map(namespace).items
        if cm.metadata.name.startswith("cm-")
    }
    assert names == {f"cm-{i:03d}" for i in range(REQUESTS)}
    assert client.writes[("PATCH", "ConfigMap")] == REQUESTS
