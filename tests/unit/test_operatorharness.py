"""The operator harness (tests/operatorharness.py): its reading of /metrics, and its
handling of a process — waited for, scraped, stopped by pid, its log read — shown on a
stand-in that serves the two endpoints the way the operator does (prometheus_client's
server), so that no cluster is needed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tests.operatorharness import (
    Metrics,
    OperatorExited,
    OperatorFailed,
    OperatorProcess,
    free_port,
    label_text,
    launch,
    operator_env,
)

STAND_IN = """
import sys, time
from prometheus_client import Counter, start_http_server
print("stand-in: starting", flush=True)
if sys.argv[1] == "exit":
    print("stand-in: giving up", flush=True)
    sys.exit(3)
writes = Counter("berth_api_writes_total", "writes", ["verb", "kind"])
writes.labels("PATCH", "Workload").inc(2)
if sys.argv[1] == "serve":
    start_http_server(int(sys.argv[2]))  # /metrics
    start_http_server(int(sys.argv[3]))  # /healthz (it answers any path)
time.sleep(120)
"""


def exposition() -> str:
    registry = CollectorRegistry()
    writes = Counter("berth_api_writes_total", "w", ["verb", "kind"], registry=registry)
    writes.labels("PATCH", "Workload").inc(3)
    writes.labels("PATCH", "Service").inc(1)
    writes.labels("POST", "Event").inc(2)
    Gauge("berth_workloads", "g", ["ready"], registry=registry).labels("true").set(5)
    Histogram("berth_reconcile_duration_seconds", "h", ["kind"], registry=registry).labels(
        "workload"
    ).observe(0.2)
    return generate_latest(registry).decode()


def test_metrics_are_read_by_sample_name_and_labels() -> None:
    metrics = Metrics.parse(exposition())
    assert metrics.total("berth_api_writes_total") == 6
    assert metrics.total("berth_api_writes_total", verb="PATCH") == 4
    assert metrics.total("berth_api_writes_total", verb="PATCH", kind="Service") == 1
    assert metrics.total("berth_api_writes_total", kind="Deployment") == 0
    assert metrics.total("berth_workloads", ready="true") == 5
    assert metrics.total("berth_reconcile_duration_seconds_count", kind="workload") == 1
    # A name is a whole sample name: the counter's _created samples are not its total.
    assert metrics.total("berth_api_writes") == 0
    assert metrics.total("berth_api_writes_created") > 0
    assert metrics.series("berth_workloads") == {'ready="true"': 5}
    assert Metrics().total("berth_api_writes_total") == 0


def test_the_increase_between_two_scrapes_leaves_out_what_did_not_change() -> None:
    before = Metrics.parse(exposition())
    registry = CollectorRegistry()
    writes = Counter("berth_api_writes_total", "w", ["verb", "kind"], registry=registry)
    writes.labels("PATCH", "Workload").inc(5)
    writes.labels("PATCH", "Service").inc(1)
    writes.labels("DELETE", "ConfigMap").inc(1)
    after = Metrics.parse(generate_latest(registry).decode())
    grown = after.increase(before, "berth_api_writes_total")
    assert {tuple(sorted(labels)): delta for labels, delta in grown.items()} == {
        (("kind", "ConfigMap"), ("verb", "DELETE")): 1,
        (("kind", "Workload"), ("verb", "PATCH")): 2,
    }


def test_labels_are_written_back_as_the_exposition_writes_them() -> None:
    (sample,) = (s for s in Metrics.parse(exposition()).samples if s.name == "berth_workloads")
    assert sample.label_text == 'ready="true"'
    assert label_text([("verb", "PATCH"), ("kind", "Workload")]) == 'verb="PATCH",kind="Workload"'


def test_the_operator_inherits_no_cluster_and_no_namespaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/somewhere/else")
    monkeypatch.setenv("BERTH_NAMESPACES", "a,b")
    monkeypatch.setenv("BERTH_TEST_SOMETHING", "1")
    env = operator_env({"BERTH_EXTRA": "x"}, unset=["BERTH_TEST_SOMETHING"])
    assert "KUBECONFIG" not in env
    assert "BERTH_NAMESPACES" not in env
    assert "BERTH_TEST_SOMETHING" not in env
    assert env["BERTH_EXTRA"] == "x"
    assert env["PYTHONUNBUFFERED"] == "1"


def stand_in(tmp_path: Path, mode: str, wrapper: list[str] | None = None) -> OperatorProcess:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    metrics_port, health_port = free_port(), free_port()
    command = [sys.executable, str(script), mode, str(metrics_port), str(health_port)]
    return launch(
        [*(wrapper or []), *command],
        tmp_path / f"{mode}.log",
        metrics_port,
        health_port,
        wrapped=wrapper is not None,
    )


def test_a_process_is_waited_for_scraped_and_stopped_by_its_pid(tmp_path: Path) -> None:
    running = stand_in(tmp_path, "serve")
    try:
        running.wait_answering("/healthz", 30)
        assert running.answers("/metrics")
        assert running.metric("berth_api_writes_total", kind="Workload") == 2
        assert "stand-in: starting" in running.log_tail()
    finally:
        running.stop(grace=10)
    assert not running.alive()
    assert running.process.returncode == -15  # SIGTERM, not a kill


def test_a_process_that_exits_first_is_told_with_its_log(tmp_path: Path) -> None:
    running = stand_in(tmp_path, "exit")
    with pytest.raises(OperatorExited, match="exited with 3") as raised:
        running.wait_answering("/healthz", 30)
    assert "stand-in: giving up" in str(raised.value)


def test_a_process_that_never_answers_is_stopped_and_told(tmp_path: Path) -> None:
    running = stand_in(tmp_path, "silent")
    with pytest.raises(OperatorFailed, match=r"did not answer /healthz in 1s") as raised:
        running.wait_answering("/healthz", 1)
    assert not isinstance(raised.value, OperatorExited)
    assert not running.alive(), "a process that did not come up is not left running"


def test_under_a_wrapper_the_pid_is_the_operator_s_and_a_kill_ends_both(
    tmp_path: Path,
) -> None:
    # The way py-spy runs it: WRAPPER -- COMMAND, the operator the wrapper's child.
    wrapper = [
        sys.executable,
        "-c",
        "import subprocess, sys; sys.exit(subprocess.call(sys.argv[2:]))",
        "--",
    ]
    running = stand_in(tmp_path, "serve", wrapper)
    try:
        running.wait_answering("/metrics", 30)
        assert running.pid != running.process.pid
        running.kill()
        assert not running.alive(), "the wrapper ends when the operator is killed"
    finally:
        running.stop(grace=10)
