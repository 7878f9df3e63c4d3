"""Waiting is woken, not polled (issue 17, point 4), on the real API server with the
chart's rights: Workloads Waiting for other Workloads and one whose claim is not synced
cost nothing at idle — no reconcile, no write — and each is woken within a second when
what it waits for appears or changes. A name that can never exist is refused, not
waited for; and a 403 is logged with the verb and resource, and counted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from tests.chartrbac import DEFAULT_VALUES, EXAMPLE_CLAIMS
from tests.clusterharness import ClusterAccess
from tests.composer import TestOnlyComposer
from tests.e2e.conftest import ChartRights, OperatorProcess, start_operator
from tests.e2e.test_claims_reliability import paused
from tests.e2e.test_provisioning import (
    CLAIMS,
    claims,
    db_workload,
    provisioner,
    resource_entry,
)
from tests.kubeutil import Berth, environment_body, settles, stays, wait_for, workload_body

WEB = {"ports": {"web": {"port": 80, "targetPort": 8080}}}
IDLE_SECONDS = 30


def port_of(target: str) -> dict[str, Any]:
    return {"billing": {"type": "service-port", "params": {"workload": target, "port": "web"}}}


def ready_reason(berth: Berth, namespace: str, name: str) -> str | None:
    found = berth.condition(namespace, name, "Ready")
    return None if found is None else str(found["reason"])


def woken_within(check: Any, seconds: float, what: str) -> float:
    """How long until ``check()`` holds, polled closely; fails beyond ``seconds``."""
    started = time.monotonic()
    wait_for(check, seconds, what, interval=0.05)
    return time.monotonic() - started


@pytest.fixture
def own_environment(berth: Berth, namespace: str, claim_crds: None) -> Iterator[str]:
    body = environment_body(
        namespace, namespace, provisioners=[provisioner("service-port"), provisioner("postgres")]
    )
    berth.create_environment(body)
    yield namespace
    berth.delete_environment(namespace)


def test_waiting_costs_nothing_at_idle_and_is_woken_within_a_second(
    cluster: ClusterAccess,
    api: ApiClient,
    berth: Berth,
    namespace: str,
    own_environment: str,
    operator: OperatorProcess,
    chart_rights: ChartRights,
    composer: TestOnlyComposer,
) -> None:
    values = {**DEFAULT_VALUES, "operator": {"namespaces": [namespace]}}
    # The test plays Crossplane itself: the composer (which other modules' tests may
    # have started for the session) composes nothing meanwhile.
    with paused(operator), composer.held():
        # An operator of this namespace alone, with a resync far beyond the test: any
        # reconcile here is one an event asked for.
        own = start_operator(
            chart_rights(values),
            cluster.kubeconfig.parent / f"operator-wakeups-{namespace}.log",
            3600,
            *("--namespace", namespace),
        )
        try:
            idle_then_woken(api, berth, namespace, own)
        finally:
            own.stop()


def set_claim_status(api: ApiClient, namespace: str, name: str, status: dict[str, Any]) -> None:
    """Play Crossplane: write the claim's status (what the composer would)."""
    k8s.CustomObjectsApi(api).patch_namespaced_custom_object_status(
        *CLAIMS[:2], namespace, CLAIMS[2], name, {"status": status}
    )


def condition(type_: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def idle_then_woken(api: ApiClient, berth: Berth, namespace: str, own: OperatorProcess) -> None:
    berth.wait_served(namespace, namespace)  # admission refuses Workloads until then
    berth.create_workload(namespace, workload_body("first", resources=port_of("later-a")))
    berth.create_workload(namespace, workload_body("second", resources=port_of("later-b")))
    berth.create_workload(namespace, db_workload("shop"))
    for name in ("first", "second"):
        berth.wait_condition(namespace, name, "Ready", "False", reason="Waiting", timeout=60)
    wait_for(lambda: claims(api, namespace), 30, "the claim")
    [claim] = claims(api, namespace)
    claim_name = claim["metadata"]["name"]
    not_synced = {
        "conditions": [
            condition("Synced", "False", "ReconcileError", "cannot compose: quota exceeded"),
            condition("Ready", "False", "Creating"),
        ]
    }
    set_claim_status(api, namespace, claim_name, not_synced)
    berth.wait_condition(namespace, "shop", "Stalled", "True", reason="ClaimNotSynced", timeout=30)

    def reconciles() -> float:
        return own.metric("berth_reconciles_total", kind="workload")

    def writes() -> float:
        return own.metric("berth_api_writes_total")

    settles(lambda: (reconciles(), writes()), 3, 60, "the operator's first reconciles")
    before = (reconciles(), writes())
    stays(
        lambda: (reconciles(), writes()) == before,
        IDLE_SECONDS,
        f"no reconcile and no write in {IDLE_SECONDS} s of idle",
    )

    # What they wait for appears: each is looked at at once.
    berth.create_workload(namespace, workload_body("later-a", service=WEB))
    took = woken_within(
        lambda: ready_reason(berth, namespace, "first") != "Waiting",
        1.0,
        "the Workload waiting for later-a to be woken",
    )
    assert ready_reason(berth, namespace, "second") == "Waiting"
    ready = {
        "host": "db.internal",
        "port": 5432,
        "conditions": [
            condition("Synced", "True", "ReconcileSuccess"),
            condition("Ready", "True", "Available"),
        ],
    }
    set_claim_status(api, namespace, claim_name, ready)
    took_claim = woken_within(
        lambda: resource_entry(berth, namespace, "shop", "db")["reason"] != "ClaimNotSynced",
        1.0,
        "the Workload of the claim to be woken",
    )
    print(f"woken after {took:.2f} s (a Workload appeared), {took_claim:.2f} s (a claim changed)")


def test_a_name_that_can_never_exist_is_refused_not_waited_for(
    berth: Berth, namespace: str, own_environment: str, operator: OperatorProcess
) -> None:
    berth.wait_served(namespace, namespace)  # admission refuses Workloads until then
    berth.create_workload(namespace, workload_body("probe", resources=port_of("../sb/victim")))
    stalled = berth.wait_condition(namespace, "probe", "Stalled", "True", reason="ParamInvalid")
    assert 'params.workload "../sb/victim" is not a Workload\'s name' in stalled["message"]


def test_all_annotations_at_once_is_an_invalid_placeholder(
    berth: Berth, namespace: str, environment: str
) -> None:
    container = {
        "image": "registry.acme.dev/app:1.0",
        "variables": {"ALL": "${metadata.annotations}"},
    }
    body = workload_body("annotated", containers={"main": container})
    berth.create_workload(namespace, body)
    stalled = berth.wait_condition(
        namespace, "annotated", "Stalled", "True", reason="InvalidPlaceholder"
    )
    assert "${metadata.annotations.<key>}" in stalled["message"]


def test_a_403_is_logged_with_its_verb_and_resource_and_counted(
    cluster: ClusterAccess,
    berth: Berth,
    namespace: str,
    own_environment: str,
    operator: OperatorProcess,
    chart_rights: ChartRights,
) -> None:
    """The chart without the example claim kinds (rbac.claims empty): the claim's apply
    is refused, and the operator says which right it lacks."""
    values = {"rbac": {"claims": []}, "operator": {"namespaces": [namespace]}}
    assert EXAMPLE_CLAIMS not in values["rbac"]["claims"]
    with paused(operator):
        own = start_operator(
            chart_rights(values),
            cluster.kubeconfig.parent / f"operator-403-{namespace}.log",
            3600,
            *("--namespace", namespace),
        )
        try:
            berth.wait_served(namespace, namespace)  # admission refuses Workloads until then
            berth.create_workload(namespace, db_workload("shop"))
            berth.wait_condition(namespace, "shop", "Stalled", "True", reason="Forbidden")
            resource = f"{CLAIMS[2]}.{CLAIMS[0]}"
            wait_for(
                lambda: own.metric("berth_api_forbidden_total", verb="get", resource=resource),
                30,
                "the 403 counted",
            )
            # Berth reads a claim before it applies it: the read is refused first.
            line = f"forbids the operator to get {resource} in namespace {namespace}"
            warned = [t for t in own.log_tail(400).splitlines() if line in t]
            assert warned, own.log_tail()
            assert "WARNING" in warned[0].upper(), warned[0]
        finally:
            own.stop()
