"""Berth's alerts as the chart ships them, through the real promtool (built by
`make test-tools`): `promtool check rules`, and `promtool test rules` with
tests/promtool/alerts_test.yaml (series in, alerts out; each alert firing and not).

The rules are rendered by `helm template` from charts/berth/rules/alerts.yaml, the one
file the chart's PrometheusRule is made of, so what promtool tests is what a cluster gets.
No cluster needed: it is here because it needs helm and promtool. A missing promtool fails
the test; it never skips it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.clusterharness import BIN_DIR, REPO_ROOT
from tests.integration.test_chart import helm_env, only, render

__all__ = ["helm_env"]  # a fixture, used by name

PROMTOOL = BIN_DIR / "promtool"
UNIT_TESTS = REPO_ROOT / "tests" / "promtool" / "alerts_test.yaml"
RUNBOOKS = REPO_ROOT / "docs" / "operations" / "alerts.md"
# What tests/promtool/alerts_test.yaml is written for: the chart's defaults, release
# "berth" in namespace "berth-system", and a runbook base URL.
RUNBOOK_BASE = "https://docs.example/berth"
SHIPPED = {"prometheusRule": {"enabled": True, "runbookBaseURL": RUNBOOK_BASE + "/"}}
ALERTS = {
    "BerthOperatorDown",
    "BerthWorkloadsStalled",
    "BerthWorkloadsNotReady",
    "BerthProvisioningStuck",
    "BerthReconcileErrors",
    "BerthWorkQueueGrowing",
    "BerthShardUnheld",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if not PROMTOOL.exists():
        pytest.fail(f"{PROMTOOL} is missing: run `make test-tools` first", pytrace=False)
    return subprocess.run(
        [str(PROMTOOL), *args], capture_output=True, text=True, timeout=120, check=False
    )


def rule_spec(
    env: Mapping[str, str],
    tmp_path: Path,
    values: Mapping[str, Any],
    *,
    release: str = "berth",
    namespace: str = "berth-system",
) -> dict[str, Any]:
    docs = render(env, tmp_path, values, release=release, namespace=namespace)
    rule = only(docs, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    spec: dict[str, Any] = rule["spec"]
    return spec


def rules_by_alert(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for group in spec["groups"] for r in group["rules"]}


@pytest.fixture
def shipped_rules(helm_env: dict[str, str], tmp_path: Path) -> Path:
    """The chart's rules as shipped, beside a copy of the unit tests that load them."""
    spec = rule_spec(helm_env, tmp_path, SHIPPED)
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    return tmp_path


def test_promtool_checks_the_rules_the_chart_renders(shipped_rules: Path) -> None:
    proc = promtool("check", "rules", str(shipped_rules / "alerts.yaml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in proc.stdout, proc.stdout


def test_promtool_unit_tests_of_every_alert_pass(shipped_rules: Path) -> None:
    proc = promtool("test", "rules", str(shipped_rules / UNIT_TESTS.name))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout, proc.stdout


def test_every_alert_is_tested_firing_and_not_firing(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    assert set(rules_by_alert(rule_spec(helm_env, tmp_path, SHIPPED))) == ALERTS
    cases = [
        case
        for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    fires = {c["alertname"] for c in cases if c["exp_alerts"]}
    stays_quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert fires == ALERTS, f"never shown firing: {ALERTS - fires}"
    assert stays_quiet == ALERTS, f"never shown not firing: {ALERTS - stays_quiet}"


def test_every_alert_links_its_runbook_section(helm_env: dict[str, str], tmp_path: Path) -> None:
    headings = re.findall(r"^## (\w+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    assert sorted(headings) == sorted(ALERTS), "docs/operations/alerts.md: one section per alert"
    for name, rule in rules_by_alert(rule_spec(helm_env, tmp_path, SHIPPED)).items():
        url = f"{RUNBOOK_BASE}/operations/alerts/#{name.lower()}"
        assert rule["annotations"]["runbook_url"] == url
        assert {"summary", "description"} <= set(rule["annotations"]), name
    # Without a base URL there is nowhere to link: no annotation rather than a broken one.
    bare = rule_spec(helm_env, tmp_path, {"prometheusRule": {"enabled": True}})
    assert not [r for r in rules_by_alert(bare).values() if "runbook_url" in r["annotations"]]


def test_values_set_each_alerts_for_severity_and_threshold(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    alerts = {
        "operatorDown": {"for": "1m", "severity": "page"},
        "workloadsStalled": {"for": "2m", "severity": "ticket"},
        "workloadsNotReady": {"for": "3m", "severity": "ticket"},
        "provisioningStuck": {"for": "4m", "severity": "ticket"},
        "reconcileErrors": {"for": "5m", "severity": "ticket", "ratio": 0.25},
        "workQueueGrowing": {"for": "6m", "severity": "ticket", "depth": 2500},
        "shardUnheld": {"for": "7m", "severity": "page"},
    }
    values = {"prometheusRule": {"enabled": True, "labels": {"release": "kps"}, "alerts": alerts}}
    docs = render(helm_env, tmp_path, values)
    assert only(docs, "PrometheusRule")["metadata"]["labels"]["release"] == "kps"
    rules = rules_by_alert(rule_spec(helm_env, tmp_path, values))
    for key, name in [
        ("operatorDown", "BerthOperatorDown"),
        ("workloadsStalled", "BerthWorkloadsStalled"),
        ("workloadsNotReady", "BerthWorkloadsNotReady"),
        ("provisioningStuck", "BerthProvisioningStuck"),
        ("reconcileErrors", "BerthReconcileErrors"),
        ("workQueueGrowing", "BerthWorkQueueGrowing"),
        ("shardUnheld", "BerthShardUnheld"),
    ]:
        assert rules[name]["for"] == alerts[key]["for"], name
        assert rules[name]["labels"]["severity"] == alerts[key]["severity"], name
    assert re.search(r"> 0\.25$", rules["BerthReconcileErrors"]["expr"].strip())
    assert "berth_workqueue_depth{" in rules["BerthWorkQueueGrowing"]["expr"]
    assert "} > 2500" in rules["BerthWorkQueueGrowing"]["expr"]
    # Off by default, as the ServiceMonitor is.
    assert not [d for d in render(helm_env, tmp_path) if d["kind"] == "PrometheusRule"]


def test_the_rules_select_what_the_service_monitor_scrapes(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    """Prometheus Operator labels a ServiceMonitor's samples with job=<Service name> and
    namespace=<its namespace>: every selector of every rule names exactly those."""
    values = {**SHIPPED, "serviceMonitor": {"enabled": True}}
    docs = render(helm_env, tmp_path, values, release="ops", namespace="platform-metrics")
    service = only(docs, "Service")
    assert only(docs, "ServiceMonitor")["spec"]["namespaceSelector"] == {
        "matchNames": ["platform-metrics"]
    }
    spec = rule_spec(helm_env, tmp_path, values, release="ops", namespace="platform-metrics")
    wanted = f'job="{service["metadata"]["name"]}", namespace="platform-metrics"'
    for name, rule in rules_by_alert(spec).items():
        selectors = re.findall(r"\b(berth_\w+|up)\{([^}]*)\}", rule["expr"])
        assert selectors, name
        for metric, selector in selectors:
            assert selector.startswith(wanted), f"{name}: {metric}{{{selector}}}"
