"""Fixtures shared by every suite.

Integration and e2e tests (everything under tests/integration and tests/e2e) get a
real API server through the ``cluster`` and ``api`` fixtures; each test that asks
for ``namespace`` gets a namespace of its own, deleted afterwards.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client import ApiClient

from tests import clusterharness

CLUSTER_SUITES = ("integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for suite in CLUSTER_SUITES:
            if suite in parts:
                item.add_marker(getattr(pytest.mark, suite))


@pytest.fixture(scope="session")
def cluster() -> Iterator[clusterharness.ClusterAccess]:
    try:
        acquired = clusterharness.acquire()
    except clusterharness.ClusterUnavailable as err:
        pytest.fail(f"no Kubernetes API server for the integration tests: {err}", pytrace=False)
    try:
        yield acquired
    finally:
        clusterharness.release(acquired)


@pytest.fixture(scope="session")
def api(cluster: clusterharness.ClusterAccess) -> Iterator[ApiClient]:
    """A client of the official library, for tests to arrange and inspect."""
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(
        config_file=str(cluster.kubeconfig), client_configuration=configuration
    )
    with ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture
def namespace(request: pytest.FixtureRequest, api: ApiClient) -> Iterator[str]:
    """A namespace of this test's own, removed when the test ends."""
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:6]
    name = f"t-{digest}-{uuid.uuid4().hex[:6]}"
    core = k8s.CoreV1Api(api)
    core.create_namespace(
        k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels={"berth.dev/test": "true"}))
    )
    # Pods need the namespace's default ServiceAccount, which appears asynchronously.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if core.list_namespaced_service_account(name, field_selector="metadata.name=default").items:
            break
        time.sleep(0.2)
    try:
        yield name
    finally:
        core.delete_namespace(name, propagation_policy="Background")
