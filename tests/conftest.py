"""Fixtures shared by every suite.

Integration and e2e tests (everything under tests/integration and tests/e2e) get a
real API server through the ``cluster`` and ``api`` fixtures; each test that asks
for ``namespace`` gets a namespace of its own, deleted afterwards.

For every suite:
- a failed test's report shows the last lines of the log of each process it used: any
  fixture value with a ``log_tail(lines)`` method (the operator, a second operator, the
  image's operator, Argo CD) — the one log-on-failure hook, ``pytest_runtest_makereport``;
- every status the operator writes, in-process or as the e2e subprocess, is checked
  against the CRD's status model (tests/statuscheck.py); a test during which one did not
  fit fails.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client import ApiClient

from tests import clusterharness, statuscheck
from tests.kubeutil import wait_for

CLUSTER_SUITES = ("integration", "e2e")
LOG_LINES = 80


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
    wait_for(
        lambda: (
            core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        ),
        30,
        f"the default ServiceAccount of namespace {name}",
    )
    try:
        yield name
    finally:
        core.delete_namespace(name, propagation_policy="Background")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure (setup, call or teardown), add the tail of every log the test used."""
    report: pytest.TestReport = yield
    if report.failed:
        funcargs: dict[str, Any] = getattr(item, "funcargs", None) or {}
        for name, value in sorted(funcargs.items()):
            log_tail = getattr(value, "log_tail", None)
            if not callable(log_tail):
                continue
            try:
                tail = str(log_tail(LOG_LINES))
            except Exception as err:  # a log that cannot be read must not hide the failure
                tail = f"(could not read the log: {err})"
            report.sections.append((f"{name}: log, last {LOG_LINES} lines", tail))
    return report


@pytest.fixture(autouse=True)
def _status_as_declared() -> Iterator[None]:
    """Fail a test during which the operator wrote a status its CRD does not declare."""
    found: list[str] = []
    stop = statuscheck.watch(found.append)
    try:
        yield
    finally:
        stop()
    found += statuscheck.new_violations()
    if found:
        counts = Counter(found)
        pytest.fail(
            "the operator wrote a status the CRD's model does not declare (the API server "
            "drops such fields silently):\n"
            + "\n".join(f"{error} ({n} times)" if n > 1 else error for error, n in counts.items()),
            pytrace=False,
        )
