"""Run the real operator (`python -m berth run`, a subprocess) against the test cluster.

It runs as `python -m tests.statuscheck run`: the same operator, with every status it
writes checked against the CRD's model (see tests/statuscheck.py), started, scraped and
stopped by the one operator harness (tests/operatorharness.py). A failed test shows the
tail of its log through the shared hook in tests/conftest.py (``log_tail``).

Every operator runs with the chart's own rights (tests/chartrbac.py): a token of the
ServiceAccount that ``helm template`` renders for the values it needs (``chart_rights``),
so a verb the chart lacks fails a test. One that needs more passes ``AdminRights`` with
the reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from tests import chartrbac, operatorharness
from tests.chartrbac import ChartRbac, Rights
from tests.clusterharness import REPO_ROOT, ClusterAccess, install_admission_policies
from tests.composer import EXAMPLE_KINDS, TestOnlyComposer
from tests.kubeutil import Berth, environment_body
from tests.operatorharness import OperatorProcess

# Short enough that a test can watch several full resyncs go by.
RESYNC_SECONDS = 2


@pytest.fixture(scope="session")
def crds(cluster: ClusterAccess) -> None:
    """Berth's CRDs, then its admission policies (admission/), as the chart installs them:
    every e2e test runs with Workloads checked at admission."""
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
    install_admission_policies(cluster)


# The chart's rights for some values (None: chartrbac.DEFAULT_VALUES), granted once per
# set of values in a session; ``namespace``: the release's, when it must be a given one
# (the sharding Role's, where the test's Leases are).
ChartRights = Callable[..., ChartRbac]


@pytest.fixture(scope="session")
def chart_rights(
    cluster: ClusterAccess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChartRights]:
    """The chart's RBAC, as ``helm template`` renders it, and a token of its ServiceAccount."""
    tmp = tmp_path_factory.mktemp("chart-rights")
    granted: dict[tuple[str, str | None], ChartRbac] = {}

    def rights(
        values: Mapping[str, Any] | None = None, *, namespace: str | None = None
    ) -> ChartRbac:
        key = (chartrbac.values_key(values), namespace)
        if key not in granted:
            try:
                granted[key] = chartrbac.grant(cluster, tmp, values, namespace=namespace)
            except chartrbac.HelmMissing as err:
                pytest.fail(str(err), pytrace=False)
        return granted[key]

    yield rights
    for done in granted.values():
        chartrbac.revoke(cluster, done)


def start_operator(
    rights: Rights, log_path: Path, resync: float, *extra_args: str
) -> OperatorProcess:
    """`python -m berth run` as a subprocess (status writes checked), with ``rights`` (the
    chart's, or the admin's with a reason), waited for until /healthz answers; the test
    fails with the log's tail when it does not. Every test operator also serves
    Backstage's catalog location, on a port of its own."""
    backstage_port = operatorharness.free_port()
    try:
        running = operatorharness.start_operator(
            rights.kubeconfig,
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
def operator(
    cluster: ClusterAccess, crds: None, chart_rights: ChartRights
) -> Iterator[OperatorProcess]:
    """The session's operator, cluster-wide, with the chart's default rights."""
    running = start_operator(
        chart_rights(), cluster.kubeconfig.parent / "operator.log", RESYNC_SECONDS
    )
    yield running
    running.stop()


@pytest.fixture
def berth(api: ApiClient, crds: None) -> Berth:
    return Berth(api)


@pytest.fixture
def environment(berth: Berth, namespace: str, operator: OperatorProcess) -> Iterator[str]:
    """An Environment serving this test's namespace (named after it), once the operator
    has labelled the namespace as its (admission finds a Workload's Environment by it)."""
    berth.create_environment(environment_body(namespace, namespace))
    berth.wait_served(namespace, namespace)
    yield namespace
    berth.delete_environment(namespace)


# The claim kinds of the examples and the test-only composer playing Crossplane for them:
# one of each for the session. Defined here, not in a test module: a session fixture
# imported into several modules is one instance per module, and composers a test did not
# hold would go on composing while it plays Crossplane by hand.
@pytest.fixture(scope="session")
def claim_crds(cluster: ClusterAccess) -> None:
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "examples/claim-crds")
    )
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/postgresqlinstances.platform.acme.dev"
    )


@pytest.fixture(scope="session")
def composer(api: ApiClient, claim_crds: None) -> Iterator[TestOnlyComposer]:
    running = TestOnlyComposer(api, EXAMPLE_KINDS)
    running.start()
    yield running
    running.stop()
    assert not running.errors, running.errors


# An Environment for the test's namespace, with the provisioners given (the claims
# composed by the composer), deleted after the test.
@pytest.fixture
def make_environment(
    berth: Berth, namespace: str, operator: OperatorProcess, composer: TestOnlyComposer
) -> Iterator[Any]:
    def make(*provisioners: dict[str, Any], **spec: Any) -> str:
        body = environment_body(namespace, namespace, provisioners=list(provisioners), **spec)
        body["spec"]["policy"]["maxReplicas"] = 5
        berth.create_environment(body)
        berth.wait_served(namespace, namespace)
        return namespace

    yield make
    berth.delete_environment(namespace)
