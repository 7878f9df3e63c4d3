"""A real Prometheus against the real operator: the chart's alerts fire and resolve, and
every query of the chart's Grafana dashboard has data after a Workload's life.

Prometheus (tests/prometheusharness.py) scrapes the e2e operator's /metrics the way the
chart's ServiceMonitor says (path, port, with the Prometheus Operator's target labels),
every second, and evaluates the chart's PrometheusRule — rendered by `helm template` from
charts/berth/rules/alerts.yaml with short `for`s — every second.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.clusterharness import BIN_DIR, REPO_ROOT
from tests.e2e.conftest import OperatorProcess
from tests.kubeutil import Berth, poll_until, wait_for, workload_body
from tests.prometheusharness import (
    LocalPrometheus,
    PrometheusUnavailable,
    has_finite_value,
    scrape_config,
    start_prometheus,
)

CHART = REPO_ROOT / "charts" / "berth"
DASHBOARD = CHART / "dashboards" / "berth.json"
RELEASE, RELEASE_NAMESPACE = "berth", "berth-system"
# Short for the test: an alert fires this long after its condition starts to hold.
FOR = "5s"
FOR_SECONDS = 5
# How far behind a condition an alert may fire: FOR, the operator's counting interval
# (handlers/runtime.py, 5 s), a scrape and an evaluation (1 s each), and slack for a
# shared two-core machine.
ALERT_WINDOW = FOR_SECONDS + 5 + 1 + 1 + 40
VALUES = {
    "serviceMonitor": {"enabled": True, "interval": "1s", "scrapeTimeout": "1s"},
    "prometheusRule": {
        "enabled": True,
        "runbookBaseURL": "https://docs.example/berth",
        "alerts": {
            "operatorDown": {"for": "30s", "severity": "critical"},
            "workloadsStalled": {"for": FOR, "severity": "warning"},
            "workloadsNotReady": {"for": "10m", "severity": "warning"},
            "provisioningStuck": {"for": "10m", "severity": "warning"},
            "reconcileErrors": {"for": "10m", "severity": "warning", "ratio": 0.05},
            "workQueueGrowing": {"for": "10m", "severity": "warning", "depth": 100},
            "shardUnheld": {"for": "1m", "severity": "critical"},
        },
    },
}
# What Grafana puts in place of the dashboard's variables; $__range is the life cycle's.
RATE_INTERVAL = "10s"
# Admission refuses a Workload whose image is outside its Environment's allowedRegistries;
# a policy that tightens under a running one stalls it (ImageNotAllowed) instead.
TIGHTENED = {"spec": {"policy": {"allowedRegistries": ["registry.other.dev/"]}}}
RESTORED = {"spec": {"policy": {"allowedRegistries": ["registry.acme.dev/"]}}}
UNSERVED = "berth-e2e-unserved"  # a resource type no provisioner serves


def helm_template(tmp: Path) -> list[dict[str, Any]]:
    helm = BIN_DIR / "helm"
    if not helm.exists():
        pytest.fail(f"{helm} is missing: run `make tools` first", pytrace=False)
    values = tmp / "values.yaml"
    values.write_text(yaml.safe_dump(VALUES))
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[name] = str(tmp / "helm" / name.lower())
    proc = subprocess.run(
        [str(helm), "template", RELEASE, str(CHART), "-n", RELEASE_NAMESPACE, "-f", str(values)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind]
    return found


@pytest.fixture(scope="module")
def prometheus(
    operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPrometheus]:
    tmp = tmp_path_factory.mktemp("prometheus")
    docs = helm_template(tmp)
    scrape = scrape_config(
        one(docs, "ServiceMonitor"),
        one(docs, "Service"),
        f"127.0.0.1:{operator.metrics_port}",
        pod="berth-e2e",
    )
    try:
        running = start_prometheus(tmp / "server", scrape, one(docs, "PrometheusRule")["spec"])
    except PrometheusUnavailable as err:
        pytest.fail(str(err), pytrace=False)
    try:
        # Scraped, through the labels the rules select on.
        up = f'up{{job="{RELEASE}-metrics", namespace="{RELEASE_NAMESPACE}"}}'
        wait_for(lambda: [s for s in running.query(up) if s["value"][1] == "1"], 60, up)
        yield running
    finally:
        running.stop()


def stalled_alerts(prometheus: LocalPrometheus, environment: str, state: str | None) -> list[Any]:
    return [
        a
        for a in prometheus.alerts("BerthWorkloadsStalled", state)
        if a["labels"].get("environment") == environment
    ]


def test_a_stalled_workload_fires_its_alert_and_it_resolves_when_fixed(
    prometheus: LocalPrometheus, berth: Berth, namespace: str, environment: str
) -> None:
    berth.create_workload(namespace, workload_body("web"))
    berth.wait_condition(namespace, "web", "Ready", "True")
    assert not stalled_alerts(prometheus, environment, None)

    berth.patch_environment(environment, TIGHTENED)
    berth.wait_condition(namespace, "web", "Stalled", "True", reason="ImageNotAllowed")
    stalled_at = time.monotonic()
    (alert,) = wait_for(
        lambda: stalled_alerts(prometheus, environment, "firing"),
        ALERT_WINDOW,
        f"BerthWorkloadsStalled firing for {environment}",
    )
    fired_after = time.monotonic() - stalled_at
    assert fired_after >= FOR_SECONDS, f"fired {fired_after:.1f}s after the stall, before its for"
    assert alert["labels"] == {
        "alertname": "BerthWorkloadsStalled",
        "environment": environment,
        "reason": "ImageNotAllowed",
        "severity": "warning",
    }
    assert alert["annotations"]["summary"] == (
        f"1 Workload(s) in Environment {environment} Stalled (ImageNotAllowed)."
    )
    assert alert["annotations"]["runbook_url"] == (
        "https://docs.example/berth/operations/alerts/#berthworkloadsstalled"
    )
    assert not prometheus.alerts("BerthOperatorDown"), "the rules miss the scraped operator"

    berth.patch_environment(environment, RESTORED)
    berth.wait_condition(namespace, "web", "Ready", "True")
    wait_for(
        lambda: not stalled_alerts(prometheus, environment, None),
        ALERT_WINDOW,
        "BerthWorkloadsStalled resolved once the Workload is fixed",
    )


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expr) of every target of every panel."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def as_grafana_sends(expr: str, range_seconds: int) -> str:
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    expr = expr.replace("$__range", f"{range_seconds}s")
    expr = expr.replace("$namespace", RELEASE_NAMESPACE)  # no regex metacharacters in it
    assert "$" not in expr, f"a dashboard variable the test does not know: {expr}"
    return expr


def seen_stalled(prometheus: LocalPrometheus, environment: str, reason: str) -> None:
    """Hold a stall until Prometheus has it: the operator counts every 5 s, so a state
    shorter than that may never be sampled (as in any gauge a scrape reads)."""
    selector = f'environment="{environment}", condition="Stalled", status="True"'
    expr = f'berth_workload_conditions{{{selector}, reason="{reason}"}}'
    wait_for(lambda: prometheus.query(expr), 60, f"{expr} in Prometheus")


def life_cycle(prometheus: LocalPrometheus, berth: Berth, namespace: str) -> None:
    """Create, Ready, edit, stall (policy), fix, stall (provisioning), fix, delete."""
    berth.create_workload(namespace, workload_body("shop"))
    berth.wait_condition(namespace, "shop", "Ready", "True")
    edit = {"spec": {"containers": {"main": {"variables": {"GREETING": "hello"}}}}}
    generation = berth.patch_workload(namespace, "shop", edit)["metadata"]["generation"]
    wait_for(
        lambda: (
            berth.workload(namespace, "shop").get("status", {}).get("observedGeneration")
            == generation
        ),
        60,
        "the edit observed",
    )
    berth.wait_condition(namespace, "shop", "Ready", "True")
    berth.patch_environment(namespace, TIGHTENED)  # the Environment is named after it
    berth.wait_condition(namespace, "shop", "Stalled", "True", reason="ImageNotAllowed")
    seen_stalled(prometheus, namespace, "ImageNotAllowed")
    berth.patch_environment(namespace, RESTORED)
    berth.wait_condition(namespace, "shop", "Ready", "True")
    unserved = {"spec": {"resources": {"cache": {"type": UNSERVED}}}}
    berth.patch_workload(namespace, "shop", unserved)
    berth.wait_condition(namespace, "shop", "Stalled", "True", reason="NoProvisioner")
    seen_stalled(prometheus, namespace, "NoProvisioner")
    berth.patch_workload(namespace, "shop", {"spec": {"resources": None}})
    berth.wait_condition(namespace, "shop", "Ready", "True")
    berth.delete_workload(namespace, "shop")
    wait_for(lambda: not workload_exists(berth, namespace, "shop"), 60, "the Workload gone")


def workload_exists(berth: Berth, namespace: str, name: str) -> bool:
    try:
        berth.workload(namespace, name)
    except Exception as err:  # kubernetes' ApiException: 404 once it is gone
        if getattr(err, "status", None) == 404:
            return False
        raise
    return True


def test_every_dashboard_query_has_data_after_a_workloads_life(
    prometheus: LocalPrometheus, berth: Berth, namespace: str, environment: str
) -> None:
    start = time.time()
    life_cycle(prometheus, berth, namespace)
    queries = dashboard_queries()
    assert len(queries) >= 20, "the dashboard lost its panels"

    def empty_panels() -> list[str]:
        range_seconds = int(time.time() - start) + 1
        empty = []
        for title, expr in queries:
            sent = as_grafana_sends(expr, range_seconds)
            if not has_finite_value(prometheus.query_range(sent, start, time.time())):
                empty.append(f"{title}: {sent}")
        return empty

    # The last steps' samples come with the next count (5 s) and scrape (1 s): wait for
    # them rather than guess, and fail naming every panel that stayed empty.
    all_have_data = poll_until(lambda: not empty_panels(), 60, interval=2)
    assert all_have_data, "panels without data:\n" + "\n".join(empty_panels())
    # The dashboard's one query variable has the operator's namespace to offer.
    namespaces = prometheus.get("label/namespace/values", **{"match[]": "berth_reconciles_total"})
    assert RELEASE_NAMESPACE in namespaces
