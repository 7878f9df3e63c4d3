"""Run the real operator (`python -m berth run`, a subprocess) against the test cluster.

It runs as `python -m tests.statuscheck run`: the same operator, with every status it
writes checked against the CRD's model (see tests/statuscheck.py), started, scraped and
stopped by the one operator harness (tests/operatorharness.py). A failed test shows the
tail of its log through the shared hook in tests/conftest.py (``log_tail``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from tests import operatorharness
from tests.clusterharness import REPO_ROOT, ClusterAccess
from tests.kubeutil import Berth, environment_body
from tests.operatorharness import OperatorProcess

# Short enough that a test can watch several full resyncs go by.
RESYNC_SECONDS = 2


@pytest.fixture(scope="session")
def crds(cluster: ClusterAccess) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/workloads.berth.dev",
        "crd/environments.berth.dev",
        "crd/clusterprovisioners.berth.dev",
        "crd/workloadrevisions.berth.dev",
        "crd/promotions.berth.dev",
        "crd/promotionapprovals.berth.dev",
    )


def start_operator(
    kubeconfig: Path, log_path: Path, resync: float, *extra_args: str
) -> OperatorProcess:
    """`python -m berth run` as a subprocess (status writes checked), waited for until
    /healthz answers; the test fails with the log's tail when it does not. Every test
    operator also serves Backstage's catalog location, on a port of its own."""
    backstage_port = operatorharness.free_port()
    try:
        running = operatorharness.start_operator(
            kubeconfig,
            log_path,
            *("--resync", str(resync)),
            *("--backstage-port", str(backstage_port)),
            *extra_args,
        )
    except operatorharness.OperatorFailed as err:
        pytest.fail(str(err))
    running.backstage_port = backstage_port
    return running


@pytest.fixture(scope="session")
def operator(cluster: ClusterAccess, crds: None) -> Iterator[OperatorProcess]:
    running = start_operator(
        cluster.kubeconfig, cluster.kubeconfig.parent / "operator.log", RESYNC_SECONDS
    )
    yield running
    running.stop()


@pytest.fixture
def berth(api: ApiClient, crds: None) -> Berth:
    return Berth(api)


@pytest.fixture
def environment(berth: Berth, namespace: str, operator: OperatorProcess) -> Iterator[str]:
    """An Environment serving this test's namespace (named after it)."""
    berth.create_environment(environment_body(namespace, namespace))
    yield namespace
    berth.delete_environment(namespace)
