"""Benchmark: a preview of a ten-Workload app, beside the same work done by hand.

On one local cluster (its own, `berth-bench`, started here when it is not up and
stopped at the end unless --keep-cluster; or --kubeconfig's), with the operator at its
defaults (plain `python -m berth run`, by tests/operatorharness.py) and the test-only
composer playing Crossplane (tests/composer.py: claims get
a finalizer released a second after their deletion, as a provider's would be):

  base      an Environment accepting previews, ten Workloads, two of them with a
            postgres claim; all Ready before anything is timed.
  preview   `kubectl apply` of a Preview -> every Workload of the preview Ready (ten:
            copies, each with its own claim where the base has one); then
            `kubectl delete preview` -> it returns (the teardown is over: Workloads,
            claims, namespace, Environment).
  by hand   what a person does with kubectl for the same: create the namespace, apply an
            Environment for it (the base's spec), copy the ten Workloads into it
            (`kubectl get -o json`, rewritten, `kubectl apply`), wait for all Ready; then
            delete the Workloads, wait for the claims to go, delete the Environment and
            the namespace, waiting for each.

Each is run --runs times; the table shows the median and the spread. Wall-clock on
whatever machine runs this: compare the two columns, not the seconds. Not a test.

Usage: .venv/bin/python hack/bench/previews.py [--runs 3] [--keep-cluster] [--kubeconfig PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from tests.composer import EXAMPLE_KINDS, FINALIZE, TestOnlyComposer  # noqa: E402
from tests.operatorharness import start_operator  # noqa: E402

CLUSTER_NAME = "berth-bench"
CLUSTER_DIR = REPO / ".cluster" / "bench"
BASE = "bench-base"
HAND = "bench-hand"
APP_SIZE = 10
WITH_DB = ("w00", "w01")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Kubectl:
    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 900) -> str:
        proc = subprocess.run(
            [str(REPO / ".bin" / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout


def provisioner() -> dict[str, Any]:
    return {
        "name": "postgres",
        "type": "postgres",
        "outputs": ["host", "password"],
        "crossplane": {
            "apiVersion": "platform.acme.dev/v1alpha1",
            "kind": "PostgreSQLInstance",
            "parameters": {"storageGB": 10},
            "fieldPaths": {"host": "status.host"},
            "annotations": {FINALIZE: "1"},
        },
    }


def environment(name: str, **extra: Any) -> dict[str, Any]:
    spec = {
        "type": "development",
        "namespace": name,
        "policy": {"allowedRegistries": ["registry.acme.dev/"]},
        "provisioners": [provisioner()],
        **extra,
    }
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": spec,
    }


def workload(name: str) -> dict[str, Any]:
    main: dict[str, Any] = {"image": f"registry.acme.dev/{name}:1", "variables": {"NAME": name}}
    spec: dict[str, Any] = {
        "containers": {"main": main},
        "service": {"ports": {"web": {"port": 80, "targetPort": 8080}}},
    }
    if name in WITH_DB:
        main["variables"]["DB_HOST"] = "${resources.db.host}"
        spec["resources"] = {"db": {"type": "postgres"}}
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": BASE},
        "spec": spec,
    }


def all_ready(kubectl: Kubectl, namespace: str, count: int, timeout: float = 600) -> None:
    """Poll until ``count`` Workloads of the namespace are Ready at their generation."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = json.loads(kubectl("get", "workloads", "-n", namespace, "-o", "json"))["items"]
        ready = 0
        for item in items:
            status = item.get("status") or {}
            conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
            if (
                conditions.get("Ready") == "True"
                and status.get("observedGeneration") == item["metadata"]["generation"]
            ):
                ready += 1
        if ready >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{namespace}: not {count} Workloads Ready in {timeout}s")


def exists(kubectl: Kubectl, *what: str) -> bool:
    return bool(kubectl("get", *what, "--ignore-not-found", "-o", "name").strip())


def timed(what: Callable[[], None]) -> float:
    start = time.monotonic()
    what()
    return time.monotonic() - start


def preview_run(kubectl: Kubectl, run: int) -> tuple[float, float]:
    name = f"bench-{run}"
    target = f"{BASE}-{name}"
    manifest = json.dumps(
        {
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "Preview",
            "metadata": {"name": name, "namespace": BASE},
            "spec": {"ttl": "1h"},
        }
    )

    def up() -> None:
        kubectl("apply", "-f", "-", stdin=manifest)
        while not exists(kubectl, "namespace", target):
            time.sleep(0.2)
        all_ready(kubectl, target, APP_SIZE)

    def down() -> None:
        kubectl("delete", "preview", name, "-n", BASE, "--timeout=600s")

    return timed(up), timed(down)


def hand_run(kubectl: Kubectl) -> tuple[float, float]:
    def up() -> None:
        kubectl("create", "namespace", HAND)
        kubectl("apply", "-f", "-", stdin=json.dumps(environment(HAND, deletionPolicy="Retain")))
        items = json.loads(kubectl("get", "workloads", "-n", BASE, "-o", "json"))["items"]
        copies = [
            {
                "apiVersion": i["apiVersion"],
                "kind": i["kind"],
                "metadata": {"name": i["metadata"]["name"], "namespace": HAND},
                "spec": i["spec"],
            }
            for i in items
        ]
        kubectl(
            "apply",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": copies}),
        )
        all_ready(kubectl, HAND, APP_SIZE)

    def down() -> None:
        # In order, as a careful person would: Workloads (their claims go with them under
        # Delete), the claims waited for, then the Environment and the namespace.
        kubectl(
            "patch",
            "environment",
            HAND,
            "--type=merge",
            "-p",
            '{"spec":{"deletionPolicy":"Delete"}}',
        )
        kubectl("delete", "workloads", "--all", "-n", HAND, "--timeout=600s")
        kubectl(
            "wait",
            "--for=delete",
            "postgresqlinstances.platform.acme.dev",
            "--all",
            "-n",
            HAND,
            "--timeout=600s",
        )
        kubectl("delete", "environment", HAND, "--timeout=600s")
        kubectl("delete", "namespace", HAND, "--ignore-not-found", "--timeout=600s")

    return timed(up), timed(down)


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} s  ({min(values):.1f}-{max(values):.1f})"


def report(results: dict[str, list[float]], runs: int) -> None:
    head = f"A preview of a {APP_SIZE}-Workload app ({len(WITH_DB)} claims)"
    print(f"\n{head}, {runs} runs, median (min-max):")
    print(f"{'':30} {'Preview':24} {'by hand with kubectl':24}")
    for label, key in (("apply -> all Ready", "up"), ("teardown (claims, namespace)", "down")):
        mine, theirs = summary(results[f"preview {key}"]), summary(results[f"hand {key}"])
        print(f"{label:30} {mine:24} {theirs:24}")
    print("kubectl calls a person makes: 1 to make it and 1 to remove it; by hand, 4 and 5.")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep-cluster", action="store_true")
    parser.add_argument("--kubeconfig", type=Path, help="use this cluster instead of berth-bench")
    args = parser.parse_args()
    started_cluster = False
    env = {**os.environ, "BERTH_CLUSTER_NAME": CLUSTER_NAME, "BERTH_CLUSTER_DIR": str(CLUSTER_DIR)}
    kubeconfig = args.kubeconfig or CLUSTER_DIR / "kubeconfig"
    if args.kubeconfig is None:
        state = subprocess.run(
            [str(REPO / "hack" / "cluster.sh"), "status"], env=env, capture_output=True
        )
        if state.returncode != 0:
            subprocess.run([str(REPO / "hack" / "cluster.sh"), "up"], env=env, check=True)
            started_cluster = True
    kubectl = Kubectl(kubeconfig)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "examples" / "claim-crds")
    )
    kubectl(
        "wait",
        "--for=condition=Established",
        "crd/previews.berth.dev",
        "crd/postgresqlinstances.platform.acme.dev",
    )
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration
    )
    composer = TestOnlyComposer(k8s.ApiClient(configuration), EXAMPLE_KINDS)
    composer.start()
    log_path = CLUSTER_DIR / "bench-previews-operator.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    operator = start_operator(kubeconfig, log_path, checked=False)
    try:
        log(f"base: {APP_SIZE} Workloads ({len(WITH_DB)} with a postgres claim) in {BASE}")
        kubectl("apply", "-f", "-", stdin=json.dumps(environment(BASE, previews={"maxCount": 5})))
        while not exists(kubectl, "namespace", BASE):
            time.sleep(0.2)
        kubectl(
            "apply",
            "-f",
            "-",
            stdin=json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "List",
                    "items": [workload(f"w{i:02d}") for i in range(APP_SIZE)],
                }
            ),
        )
        all_ready(kubectl, BASE, APP_SIZE)
        results: dict[str, list[float]] = {
            "preview up": [],
            "preview down": [],
            "hand up": [],
            "hand down": [],
        }
        for run in range(args.runs):
            up, down = preview_run(kubectl, run)
            results["preview up"].append(up)
            results["preview down"].append(down)
            log(f"run {run + 1}: preview {up:.1f} s up, {down:.1f} s down")
            up, down = hand_run(kubectl)
            results["hand up"].append(up)
            results["hand down"].append(down)
            log(f"run {run + 1}: by hand {up:.1f} s up, {down:.1f} s down")
        report(results, args.runs)
    finally:
        # The base goes the same way (deletionPolicy Delete), while the operator runs.
        subprocess.run(
            [
                str(REPO / ".bin" / "kubectl"),
                "--kubeconfig",
                str(kubeconfig),
                "delete",
                "environment",
                BASE,
                "--ignore-not-found",
                "--timeout=300s",
            ],
            capture_output=True,
        )
        operator.stop()
        composer.stop()
        if started_cluster and not args.keep_cluster:
            subprocess.run([str(REPO / "hack" / "cluster.sh"), "down"], env=env, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
