"""Run the real operator (`python -m berth run`, a subprocess) against the test cluster.

It runs as `python -m tests.statuscheck run`: the same operator, with every status it
writes checked against the CRD's model (see tests/statuscheck.py). A failed test shows the
tail of its log through the shared hook in tests/conftest.py (``log_tail``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from tests import statuscheck
from tests.clusterharness import REPO_ROOT, ClusterAccess
from tests.kubeutil import Berth, environment_body, poll_until

# Short enough that a test can watch several full resyncs go by.
RESYNC_SECONDS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OperatorProcess:
    process: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int
    # Backstage's catalog location (--backstage-port); 0: not served.
    backstage_port: int = 0

    def metric(self, name: str, **labels: str) -> float:
        """The current value of one sample of the operator's /metrics (0 when absent)."""
        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5)
            .read()
            .decode()
        )
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        """Stop the process this harness started, by its pid."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


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
    /healthz answers."""
    metrics_port, health_port, backstage_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        **statuscheck.subprocess_env(log_path.with_suffix(".status-violations")),
    }
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "BERTH_NAMESPACES"):
        env.pop(name, None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.statuscheck",
                "run",
                "--kubeconfig",
                str(kubeconfig),
                "--metrics-port",
                str(metrics_port),
                "--health-port",
                str(health_port),
                "--backstage-port",
                str(backstage_port),
                "--resync",
                str(resync),
                *extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
        )
    running = OperatorProcess(process, log_path, metrics_port, backstage_port)

    def healthy() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the operator exited with {process.returncode}:\n{running.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=1):
                return True
        except OSError:
            return False

    if not poll_until(healthy, 60):
        running.stop()
        pytest.fail(f"the operator was not healthy in 60s:\n{running.log_tail()}")
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
