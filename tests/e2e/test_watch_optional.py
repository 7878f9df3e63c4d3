"""An operator started on a cluster without the Promotion CRD (as after an upgrade that
brought the operator but not its release's CRDs) still reconciles Workloads, says once at
error what is missing and how to fix it, shows ``berth_watch_available{kind="Promotion"}``
at 0, and takes Promotions up, without a restart, once the CRD is installed.

How, without disturbing the other modules on the shared cluster. The session's operator
is paused (SIGSTOP) for the test, so that the operator under test is the only one at
work and the Workload it turns Ready proves that it started. The Promotion CRD is deleted
for the test and applied again from crds/ before the test ends, whatever happened:
Promotions are the only kind it removes, no other module's objects are alive then (the
modules run one after the other), and the session's operator, resumed, lists them again
itself (its informer retries like this one's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from tests.clusterharness import REPO_ROOT, ClusterAccess
from tests.e2e.conftest import RESYNC_SECONDS, ChartRights, OperatorProcess, start_operator
from tests.e2e.test_claims_reliability import paused
from tests.kubeutil import GROUP, VERSION, Berth, environment_body, wait_for, workload_body

PROMOTION_CRD = "promotions.berth.dev"
# The informer's backoff tops out at 30 s (± 20 %): it tries again within that.
TAKEN_UP_WITHIN = 90


@contextlib.contextmanager
def promotion_crd_missing(cluster: ClusterAccess) -> Iterator[None]:
    """The Promotion CRD gone (and every Promotion with it) while the block runs; then
    installed again from crds/, and served, whatever the block did."""
    cluster.kubectl("delete", "crd", PROMOTION_CRD, "--wait=true", "--ignore-not-found")
    try:
        yield
    finally:
        install_promotion_crd(cluster)


def install_promotion_crd(cluster: ClusterAccess) -> None:
    crd = REPO_ROOT / "crds" / "berth.dev_promotions.yaml"
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{PROMOTION_CRD}")


def error_lines(own: OperatorProcess, text: str) -> list[str]:
    lines = own.log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if text in line and "ERROR" in line.upper()]


def promotion_body(workload: str, source: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Promotion",
        "metadata": {"name": "to-here"},
        "spec": {"workload": workload, "from": source},
    }


def test_without_the_promotion_crd_workloads_are_reconciled_and_promotions_come_once_it_is(
    cluster: ClusterAccess,
    berth: Berth,
    namespace: str,
    operator: OperatorProcess,
    chart_rights: ChartRights,
) -> None:
    with paused(operator), promotion_crd_missing(cluster):
        own = start_operator(
            chart_rights(),
            cluster.kubeconfig.parent / f"operator-optional-{namespace}.log",
            RESYNC_SECONDS,
        )
        try:
            # It started without Promotions: it serves the Environment, and the Workload
            # turns Ready (the session's operator is paused: this one did it).
            berth.create_environment(environment_body(namespace, namespace))
            berth.wait_served(namespace, namespace)
            berth.create_workload(namespace, workload_body("shop"))
            berth.wait_condition(namespace, "shop", "Ready", "True")
            assert own.metric("berth_watch_available", kind="Promotion") == 0
            assert own.metric("berth_watch_available", kind="Workload") == 1
            assert own.metric("berth_watch_available", kind="PromotionApproval") == 1
            said = error_lines(own, "cannot list Promotion (promotions.berth.dev)")
            assert len(said) == 1, own.log_tail()
            assert "the CRD promotions.berth.dev is not installed" in said[0]

            # The CRD installed: no restart, the kind is listed and watched, and a new
            # Promotion is reconciled by this operator (it has a status).
            install_promotion_crd(cluster)
            wait_for(
                lambda: own.metric("berth_watch_available", kind="Promotion") == 1,
                TAKEN_UP_WITHIN,
                "the operator to list Promotions",
            )
            berth.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, "promotions", promotion_body("shop", "nowhere")
            )
            status = wait_for(
                lambda: berth.custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, "promotions", "to-here"
                ).get("status"),
                30,
                "the Promotion to have a status",
            )
            assert status.get("phase"), status
            assert own.metric("berth_reconciles_total", kind="promotion") >= 1
            assert own.alive()  # the same process all along
            assert "Promotion (promotions.berth.dev): listed" in own.log_tail(400)
            assert len(error_lines(own, "cannot list Promotion")) == 1, own.log_tail()
        finally:
            own.stop()
            berth.delete_environment(namespace)
