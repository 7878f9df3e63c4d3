"""Benchmark: N Workloads from nothing to Ready, then idle, on the local cluster.

Measures, side by side in one run: time until every Workload is Ready, the operator's
API writes and reconciles per Workload, writes while idle across several resyncs
(should be zero), the operator's CPU time while idle, and its memory.

Usage: .venv/bin/python hack/bench/reconcile.py [--workloads N] [--resync S] [--idle S]
Needs `make cluster` (the kubeconfig at .cluster/kubeconfig); the operator is started
here, on its own ports, and stopped at the end, with everything it created.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KUBECONFIG = REPO / ".cluster" / "kubeconfig"
KUBECTL = [str(REPO / ".bin" / "kubectl"), "--kubeconfig", str(KUBECONFIG)]
NAMESPACE = "berth-bench"


def kubectl(*args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([*KUBECTL, *args], input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("berth_") and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name.endswith("_created"):
                continue
            totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS")
    )
    return cpu, rss / 1024


def workload(i: int) -> dict[str, object]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": f"w{i:04d}", "namespace": NAMESPACE},
        "spec": {
            "containers": {
                "main": {
                    "image": "registry.acme.dev/bench:1.0",
                    "variables": {"NAME": "${metadata.name}"},
                    "files": {"/etc/app.conf": {"content": "name: ${metadata.name}\n"}},
                }
            },
            "service": {"ports": {"web": {"port": 80, "targetPort": 8080}}},
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", type=int, default=50)
    parser.add_argument("--resync", type=float, default=5.0, help="operator resync period (s)")
    parser.add_argument("--idle", type=float, default=20.0, help="idle period measured (s)")
    args = parser.parse_args()
    if not KUBECONFIG.exists():
        print("no local cluster: run `make cluster` first", file=sys.stderr)
        return 2

    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    env = {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": NAMESPACE},
        "spec": {"type": "development", "namespace": NAMESPACE, "policy": {"maxReplicas": 3}},
    }
    port, health = free_port(), free_port()
    log = open(REPO / ".cluster" / "bench-operator.log", "wb")  # noqa: SIM115 (closed in finally)
    operator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "berth",
            "run",
            "--kubeconfig",
            str(KUBECONFIG),
            "--metrics-port",
            str(port),
            "--health-port",
            str(health),
            "--resync",
            str(args.resync),
            "--log-level",
            "WARNING",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    rows: list[tuple[str, str]] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=1)
                break
            except OSError as err:
                if time.monotonic() > deadline or operator.poll() is not None:
                    raise SystemExit(
                        "the operator did not start; see .cluster/bench-operator.log"
                    ) from err
                time.sleep(0.2)
        _, rss_start = proc_stats(operator.pid)
        kubectl("apply", "-f", "-", stdin=json.dumps(env))
        kubectl("wait", "--for=condition=Ready", f"environment/{NAMESPACE}", "--timeout=60s")
        before = metrics(port)
        start = time.monotonic()
        items = {
            "apiVersion": "v1",
            "kind": "List",
            "items": [workload(i) for i in range(args.workloads)],
        }
        kubectl("apply", "-f", "-", stdin=json.dumps(items))
        kubectl(
            "-n", NAMESPACE, "wait", "--for=condition=Ready", "workloads", "--all", "--timeout=600s"
        )
        to_ready = time.monotonic() - start
        settled = metrics(port)
        time.sleep(args.resync)  # let the last status writes land
        cpu0, _ = proc_stats(operator.pid)
        idle_before = metrics(port)
        time.sleep(args.idle)
        idle_after = metrics(port)
        cpu1, rss_idle = proc_stats(operator.pid)

        n = args.workloads
        writes = settled.get("berth_api_writes_total", 0) - before.get("berth_api_writes_total", 0)
        reconciles = settled.get("berth_reconciles_total", 0) - before.get(
            "berth_reconciles_total", 0
        )
        idle_writes = idle_after.get("berth_api_writes_total", 0) - idle_before.get(
            "berth_api_writes_total", 0
        )
        idle_reconciles = idle_after.get("berth_reconciles_total", 0) - idle_before.get(
            "berth_reconciles_total", 0
        )
        rows += [
            ("workloads", f"{n}"),
            (
                "time until all Ready",
                f"{to_ready:.1f} s ({to_ready / n * 1000:.0f} ms per Workload)",
            ),
            ("API writes until Ready", f"{writes:.0f} ({writes / n:.1f} per Workload)"),
            ("reconciles until Ready", f"{reconciles:.0f} ({reconciles / n:.1f} per Workload)"),
            (
                f"idle {args.idle:.0f} s: reconciles",
                f"{idle_reconciles:.0f} (resync every {args.resync:.0f} s)",
            ),
            (f"idle {args.idle:.0f} s: API writes", f"{idle_writes:.0f}"),
            (
                f"idle {args.idle:.0f} s: operator CPU",
                f"{cpu1 - cpu0:.2f} s ({(cpu1 - cpu0) / args.idle * 100:.1f} % of a core)",
            ),
            ("operator RSS at start / idle", f"{rss_start:.0f} MiB / {rss_idle:.0f} MiB"),
        ]
    finally:
        kubectl("delete", "environment", NAMESPACE, "--ignore-not-found", "--wait=false")
        kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
        operator.terminate()
        operator.wait(timeout=15)
        log.close()
    width = max(len(k) for k, _ in rows)
    print(f"\n{'measure':{width}s} | value\n{'-' * width}-|------")
    for key, value in rows:
        print(f"{key:{width}s} | {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
