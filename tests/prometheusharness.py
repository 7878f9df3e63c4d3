"""A real Prometheus for e2e tests: the binary `make test-tools` builds from its Go module
(github.com/prometheus/prometheus), run in a temporary directory of its own on a free
loopback port, stopped by its pid, and asked everything through its HTTP API.

The scrape configuration is derived from the chart's ServiceMonitor (path, interval,
timeout) and labels each sample as the Prometheus Operator labels a ServiceMonitor's
targets (job = the metrics Service's name, namespace, service, endpoint, pod), so that the
chart's alert rules select the samples exactly as they would in a cluster.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.clusterharness import BIN_DIR
from tests.kubeutil import poll_until

PROMETHEUS = BIN_DIR / "prometheus"


class PrometheusUnavailable(Exception):
    """The binary is missing, or the server did not become ready; the message says which."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalPrometheus:
    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def log_path(self) -> Path:
        return self.directory / "prometheus.log"

    def get(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the ``data`` of a successful answer."""
        query = urllib.parse.urlencode(params)
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as err:  # a bad query: Prometheus says why
            raise AssertionError(f"{path} {params}: {err.code} {err.read().decode()}") from err
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("query", query=expr)["result"]
        return result

    def query_range(
        self, expr: str, start: float, end: float, step: float = 1.0
    ) -> list[dict[str, Any]]:
        data = self.get("query_range", query=expr, start=str(start), end=str(end), step=str(step))
        result: list[dict[str, Any]] = data["result"]
        return result

    def alerts(self, name: str, state: str | None = None) -> list[dict[str, Any]]:
        """Active alerts of that name (pending or firing; only ``state`` when given)."""
        found = [a for a in self.get("alerts")["alerts"] if a["labels"]["alertname"] == name]
        return [a for a in found if state is None or a["state"] == state]

    def stop(self) -> None:
        """Stop the process this harness started, by its pid."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def has_finite_value(series: list[dict[str, Any]]) -> bool:
    """A query_range result with at least one number a panel can draw (not NaN, not Inf)."""
    return any(math.isfinite(float(v)) for s in series for _, v in s.get("values", []))


def scrape_config(
    monitor: Mapping[str, Any], service: Mapping[str, Any], target: str, pod: str
) -> dict[str, Any]:
    """One scrape job for ``target`` as the Prometheus Operator makes it from the
    ServiceMonitor's first endpoint, pointing at the Service."""
    (endpoint,) = monitor["spec"]["endpoints"]
    namespace = monitor["metadata"]["namespace"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [namespace]}
    for key, value in monitor["spec"]["selector"]["matchLabels"].items():
        assert service["metadata"]["labels"][key] == value, "the ServiceMonitor misses the Service"
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["port"] in ports, "the ServiceMonitor's port is not the Service's"
    return {
        "job_name": f"serviceMonitor/{namespace}/{monitor['metadata']['name']}/0",
        "metrics_path": endpoint["path"],
        "scrape_interval": endpoint["interval"],
        "scrape_timeout": endpoint["scrapeTimeout"],
        "static_configs": [
            {
                "targets": [target],
                "labels": {
                    "job": service["metadata"]["name"],
                    "namespace": namespace,
                    "service": service["metadata"]["name"],
                    "endpoint": endpoint["port"],
                    "pod": pod,
                },
            }
        ],
    }


def start_prometheus(
    directory: Path, scrape: dict[str, Any], rules: Mapping[str, Any], evaluation: str = "1s"
) -> LocalPrometheus:
    """Prometheus with one scrape job and one rule file, ready to answer queries."""
    if not PROMETHEUS.exists():
        raise PrometheusUnavailable(f"{PROMETHEUS} is missing: run `make test-tools` first")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yaml").write_text(yaml.safe_dump(dict(rules), sort_keys=False))
    config = {
        "global": {"evaluation_interval": evaluation, "scrape_interval": scrape["scrape_interval"]},
        "rule_files": [str(directory / "rules.yaml")],
        "scrape_configs": [scrape],
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    with (directory / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
    running = LocalPrometheus(process, port, directory)

    def ready() -> bool:
        if process.poll() is not None:
            raise PrometheusUnavailable(
                f"prometheus exited with {process.returncode}:\n{running.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    if not poll_until(ready, 60):
        running.stop()
        raise PrometheusUnavailable(f"prometheus was not ready in 60s:\n{running.log_tail()}")
    return running
