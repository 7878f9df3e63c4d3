"""Run the operator as a subprocess: free ports, /healthz, /metrics, its log, a stop by pid.

The one harness for every operator a test or a script starts: the e2e fixtures
(tests/e2e/conftest.py and the tests that run operators of their own), the chaos run
(hack/chaos.py) and the benchmarks (hack/bench/).

- ``start_operator`` runs ``python -m tests.statuscheck run`` — the operator, with every
  status it writes checked against the CRD's model (tests/statuscheck.py) — or, with
  ``checked=False``, plain ``python -m berth run`` (the benchmarks: nothing in the way of
  what they measure). It picks free metrics and health ports and waits for /healthz.
- ``launch`` runs any command that serves the operator's endpoints (the image's operator
  of tests/e2e/test_image.py, the operator under py-spy) and hands back the same
  ``OperatorProcess``.
- ``Metrics`` is one scrape of /metrics, read by prometheus_client's own parser of the
  text format: samples by name and labels, totals, differences between two scrapes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests import statuscheck
from tests.clusterharness import REPO_ROOT
from tests.kubeutil import poll_until

# An operator answers /healthz within seconds; a loaded machine may take a minute.
HEALTHY_WITHIN = 60.0
# Never inherited from the shell that runs the tests or a script: the operator is pointed
# at its cluster by --kubeconfig alone, and watches what its arguments say.
NOT_INHERITED = ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "BERTH_NAMESPACES")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- /metrics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]  # in the order the exposition gives them
    value: float

    def has(self, labels: Mapping[str, str]) -> bool:
        own = dict(self.labels)
        return all(own.get(key) == value for key, value in labels.items())

    @property
    def label_text(self) -> str:
        return label_text(self.labels)


def label_text(labels: Iterable[tuple[str, str]]) -> str:
    """Labels as the exposition writes them: ``verb="PATCH",kind="Workload"``."""
    return ",".join(f'{key}="{value}"' for key, value in labels)


@dataclass(frozen=True)
class Metrics:
    """One scrape of an operator's /metrics."""

    samples: tuple[Sample, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Metrics:
        return cls(
            tuple(
                Sample(sample.name, tuple(sample.labels.items()), float(sample.value))
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            )
        )

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` that carry ``labels`` (0 when there is none)."""
        return sum(s.value for s in self.samples if s.name == name and s.has(labels))

    def series(self, name: str) -> dict[str, float]:
        """Each sample of ``name``, by its label text."""
        return {s.label_text: s.value for s in self.samples if s.name == name}

    def increase(self, since: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """What each sample of ``name`` grew by since an earlier scrape, by its labels;
        the ones that did not change are left out."""
        before = {s.labels: s.value for s in since.samples if s.name == name}
        grown = {
            s.labels: s.value - before.get(s.labels, 0.0) for s in self.samples if s.name == name
        }
        return {labels: delta for labels, delta in grown.items() if delta}


def scrape(port: int, timeout: float = 10) -> Metrics:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as answer:
        return Metrics.parse(answer.read().decode())


# -- the process ------------------------------------------------------------------------


class OperatorFailed(RuntimeError):
    """The operator did not come up; the message ends with the tail of its log."""


class OperatorExited(OperatorFailed):
    """The operator exited before it answered (a crash point, or an error its log tells)."""


@dataclass
class OperatorProcess:
    process: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int
    health_port: int = 0
    # Started under a wrapper (py-spy): the operator is the wrapper's child.
    wrapped: bool = False
    started_at: float = field(default_factory=time.monotonic)
    # Backstage's catalog location (--backstage-port); 0: not served.
    backstage_port: int = 0

    @property
    def pid(self) -> int:
        """The operator's own process id (under a wrapper, the wrapper's child)."""
        if not self.wrapped:
            return self.process.pid
        for children in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            found = children.read_text().split()
            if found:
                return int(found[0])
        raise RuntimeError(f"the wrapper (pid {self.process.pid}) has no child process")

    def alive(self) -> bool:
        return self.process.poll() is None

    def metrics(self) -> Metrics:
        return scrape(self.metrics_port)

    def metric(self, name: str, **labels: str) -> float:
        """The current value of one sample of the operator's /metrics (0 when absent;
        the sum when several samples carry ``labels``)."""
        return self.metrics().total(name, **labels)

    def answers(self, path: str) -> bool:
        """Whether the operator answers ``path`` (/healthz on the health port, /metrics on
        the metrics one); ``OperatorExited`` once the process is gone."""
        if self.process.poll() is not None:
            raise OperatorExited(
                f"the operator exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        port = self.metrics_port if path == "/metrics" else self.health_port
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return True
        except OSError:
            return False

    def wait_answering(self, path: str = "/healthz", timeout: float = HEALTHY_WITHIN) -> None:
        """Until the operator answers ``path``. When it does not in time, it is stopped and
        ``OperatorFailed`` raised; when it exits first, ``OperatorExited``."""
        if not poll_until(lambda: self.answers(path), timeout):
            self.stop()
            raise OperatorFailed(
                f"the operator did not answer {path} in {timeout:.0f}s:\n{self.log_tail()}"
            )

    def kill(self) -> None:
        """SIGKILL, by pid: no clean stop, no handover (a crash)."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, grace: float = 15) -> None:
        """SIGTERM to the operator, by pid (under a wrapper, the wrapper ends with it);
        SIGKILL after ``grace`` seconds."""
        if not self.alive():
            return
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def operator_env(
    extra: Mapping[str, str] | None = None, unset: Iterable[str] = ()
) -> dict[str, str]:
    """This process's environment, less what must not be inherited, with ``extra``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra or {})}
    for name in (*NOT_INHERITED, *unset):
        env.pop(name, None)
    return env


def launch(
    command: Sequence[str],
    log_path: Path,
    metrics_port: int,
    health_port: int = 0,
    *,
    env: Mapping[str, str] | None = None,
    wrapped: bool = False,
) -> OperatorProcess:
    """Start ``command`` (from the repository's root, its output to ``log_path``); it does
    not wait for it to answer (``OperatorProcess.wait_answering``)."""
    started_at = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=REPO_ROOT,
        )
    return OperatorProcess(
        process, log_path, metrics_port, health_port, wrapped=wrapped, started_at=started_at
    )


def start_operator(
    kubeconfig: Path,
    log_path: Path,
    *args: str,
    checked: bool = True,
    env: Mapping[str, str] | None = None,
    unset: Iterable[str] = (),
    wrapper: Sequence[str] = (),
    wait_for: str | None = "/healthz",
    timeout: float = HEALTHY_WITHIN,
) -> OperatorProcess:
    """``berth run ARGS`` against ``kubeconfig`` on free ports, waited for until it answers
    ``wait_for`` (None: not waited for); ``OperatorFailed``/``OperatorExited`` when not.

    ``checked``: as ``python -m tests.statuscheck`` (status writes checked, violations to
    LOG.status-violations), else as ``python -m berth``. ``env`` is added to this
    process's environment, ``unset`` taken from it; ``wrapper`` is a command the operator
    runs under (``py-spy record ... --``)."""
    metrics_port, health_port = free_port(), free_port()
    module = "tests.statuscheck" if checked else "berth"
    command = [
        *wrapper,
        sys.executable,
        *("-m", module, "run"),
        *("--kubeconfig", str(kubeconfig)),
        *("--metrics-port", str(metrics_port)),
        *("--health-port", str(health_port)),
        *args,
    ]
    violations = (
        statuscheck.subprocess_env(log_path.with_suffix(".status-violations")) if checked else {}
    )
    running = launch(
        command,
        log_path,
        metrics_port,
        health_port,
        env=operator_env({**violations, **(env or {})}, unset),
        wrapped=bool(wrapper),
    )
    if wait_for is not None:
        running.wait_answering(wait_for, timeout)
    return running
