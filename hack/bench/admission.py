"""Benchmark: the admission latency of a Workload create with 1, 100 and 1,000 Environments.

Berth's admission policies (admission/) take the Environment as their parameter. Bound
as the operator binds them (one binding per Environment and level, the Environment by
name, for the namespace labelled as its), a request is matched to its one binding by a
label selector before any CEL runs. Bound by a selector (one binding per level for every
Environment, the design measured first), the API server evaluates each policy once per
Environment, and a match condition lets every Environment of another namespace pass.
This measures both, on a local cluster of its own (`berth-admission`, started here when
it is not up, stopped at the end unless --keep-cluster):

 - without the policies (the floor), then with them, with 1, 100 and 1,000 Environments,
   for each way of binding (--bindings);
 - per setting, --requests server-side dry-run creates of a Workload that keeps every
   rule (all rules evaluated, admitted) and as many of one that breaks one (refused),
   through one kept-alive HTTPS connection (the Python client), and --kubectl runs of
   `kubectl apply --dry-run=server -f` (a process each: what a developer waits for).

No operator runs: the namespace is labelled, and the bindings made, here as the operator
would. Prints a table of p50/p99 in milliseconds and writes it with every sample to
--out. Not a test: nothing here passes or fails on a duration.

Run from the repository's root: `.venv/bin/python -m hack.bench.admission --help`.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from tests.clusterharness import BIN_DIR, KUBECTL_CACHE, REPO_ROOT, LocalCluster

from berth.api.policy import ENFORCEMENT_LEVELS
from berth.names import ENVIRONMENT_LABEL
from berth.render.admission import environment_bindings, policy_name

REPO = REPO_ROOT
BENCH_CLUSTER = LocalCluster("berth-admission", REPO / ".cluster" / "admission")
KUBECONFIG = BENCH_CLUSTER.kubeconfig
POLICIES = REPO / "admission" / "policies.yaml"
NAMESPACE = "bench-admission"
ENVIRONMENT = "bench-admission"
GROUP, VERSION = "berth.dev", "v1alpha1"
POLICY = {
    "allowedRegistries": ["registry.acme.dev/"],
    "maxReplicas": 3,
    "requireLimits": True,
    "disallowLatestTag": True,
    "allowedResources": [{"type": "postgres", "classes": ["small"]}, {"type": "route"}],
    "enforcement": {"disallowLatestTag": "Warn"},
}
KEEPS = {
    "containers": {
        name: {
            "image": f"registry.acme.dev/{name}:1.0",
            "resources": {"limits": {"cpu": "1", "memory": "256Mi"}},
        }
        for name in ("main", "sidecar", "tools")
    },
    "replicas": 2,
    "resources": {"db": {"type": "postgres", "class": "small"}, "web": {"type": "route"}},
}
BREAKS = {**copy.deepcopy(KEEPS), "replicas": 9}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def kubectl(
    *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(BIN_DIR / "kubectl"),
        *("--kubeconfig", str(KUBECONFIG)),
        *("--cache-dir", str(BENCH_CLUSTER.directory / KUBECTL_CACHE)),
        *args,
    ]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args[:4])}...: {proc.stderr.strip()[:2000]}")
    return proc


def environment(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": {"type": "development", "namespace": namespace, "policy": POLICY},
    }


def workload(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workload",
        "metadata": {"name": "bench", "namespace": NAMESPACE},
        "spec": spec,
    }


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def api_samples(custom: k8s.CustomObjectsApi, spec: dict[str, Any], count: int) -> list[float]:
    """Milliseconds per dry-run create through one kept-alive connection."""
    body = workload(spec)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        try:
            custom.create_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, "workloads", body, dry_run="All"
            )
        except ApiException as err:
            if err.status != 403:
                raise
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def kubectl_samples(spec: dict[str, Any], count: int) -> list[float]:
    """Milliseconds per `kubectl apply --dry-run=server -f FILE` (process start included)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "workload.json"
        path.write_text(json.dumps(workload(spec)))
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            kubectl("apply", "--dry-run=server", "-f", str(path), check=False)
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def ensure_environments(total: int, binding: str) -> None:
    """``total`` Environments: the bench namespace's, and others of namespaces elsewhere;
    bound as ``binding`` says: "operator" (one binding per Environment and level, by
    name, as the operator makes them) or "selector" (one binding per level for every
    Environment, paramRef.selector)."""
    names = [(ENVIRONMENT, NAMESPACE)] + [
        (f"other-{i:04}", f"other-{i:04}") for i in range(1, total)
    ]
    listing = {"apiVersion": "v1", "kind": "List", "items": [environment(n, ns) for n, ns in names]}
    kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(listing))
    stored = json.loads(kubectl("get", "environments", "-o", "json").stdout)["items"]
    if len(stored) != total:
        raise SystemExit(f"expected {total} Environments, found {len(stored)}")
    if binding == "operator":
        bindings = [
            b
            for env in stored
            for b in environment_bindings(env["metadata"]["name"], env["metadata"]["uid"])
        ]
    else:
        bindings = [selector_binding(level) for level in ENFORCEMENT_LEVELS]
    listing = {"apiVersion": "v1", "kind": "List", "items": bindings}
    kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(listing))


def selector_binding(level: str) -> dict[str, Any]:
    """One binding of a level's policy to every Environment (the design measured first)."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": f"{policy_name(level)}.selector"},
        "spec": {
            "policyName": policy_name(level),
            "validationActions": [level],
            "paramRef": {"selector": {}, "parameterNotFoundAction": "Allow"},
        },
    }


def wait_enforced(custom: k8s.CustomObjectsApi, total: int) -> None:
    """Until the policies refuse the breaking Workload (the param informer has them)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            custom.create_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, "workloads", workload(BREAKS), dry_run="All"
            )
        except ApiException as err:
            if err.status == 403 and "'berth-policy-deny'" in str(err.body):
                return
            raise
        time.sleep(0.5)  # polling the API server for a state
    raise SystemExit(f"the admission policies were not in force with {total} Environments")


def measure(custom: k8s.CustomObjectsApi, label: str, args: argparse.Namespace) -> dict[str, Any]:
    keeps = api_samples(custom, KEEPS, args.requests)
    breaks = api_samples(custom, BREAKS, args.requests)
    cli = kubectl_samples(KEEPS, args.kubectl)
    row = {
        "setting": label,
        "admitted_p50": percentile(keeps, 0.5),
        "admitted_p99": percentile(keeps, 0.99),
        "refused_p50": percentile(breaks, 0.5),
        "refused_p99": percentile(breaks, 0.99),
        "kubectl_p50": percentile(cli, 0.5),
        "kubectl_p99": percentile(cli, 0.99),
        "samples": {"admitted": keeps, "refused": breaks, "kubectl": cli},
    }
    log(f"{label}: admitted p50 {row['admitted_p50']:.1f} ms, p99 {row['admitted_p99']:.1f} ms")
    return row


def prepare() -> k8s.CustomObjectsApi:
    """CRDs, the bench namespace labelled as its Environment's, that Environment, and a
    client with a warm connection."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl(
        "wait",
        "--for=condition=Established",
        "crd/environments.berth.dev",
        "crd/workloads.berth.dev",
    )
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": {ENVIRONMENT_LABEL: ENVIRONMENT}},
    }
    kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(namespace))
    kubectl(
        "apply", "--server-side", "-f", "-", stdin=json.dumps(environment(ENVIRONMENT, NAMESPACE))
    )
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(str(KUBECONFIG), client_configuration=configuration)
    custom = k8s.CustomObjectsApi(k8s.ApiClient(configuration))
    api_samples(custom, KEEPS, 20)  # warm the connection and the server's caches
    return custom


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="API dry-runs per setting")
    parser.add_argument("--kubectl", type=int, default=20, help="kubectl runs per setting")
    parser.add_argument("--environments", default="1,100,1000", help="Environment counts")
    parser.add_argument(
        "--bindings",
        default="selector,operator",
        help="operator: a binding per Environment and level (what Berth does); selector: "
        "one per level for every Environment (evaluated once per Environment)",
    )
    parser.add_argument("--out", type=Path, default=REPO / ".cluster" / "bench-admission.json")
    parser.add_argument("--keep-cluster", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.environments.split(",")]

    rows: list[dict[str, Any]] = []
    for index, binding in enumerate(args.bindings.split(",")):
        # A fresh cluster for each way of binding: nothing of the last one left.
        BENCH_CLUSTER.up(quiet=False)
        try:
            custom = prepare()
            if index == 0:
                rows.append(measure(custom, "no admission policies, 1 Environment", args))
            kubectl("apply", "--server-side", "--force-conflicts", "-f", str(POLICIES))
            for total in counts:
                ensure_environments(total, binding)
                wait_enforced(custom, total)
                api_samples(custom, KEEPS, 20)
                rows.append(measure(custom, f"{binding} bindings, {total} Environment(s)", args))
        finally:
            if not args.keep_cluster:
                BENCH_CLUSTER.down(quiet=False)

    header = (
        f"{'setting':44} {'admitted p50/p99':>18} {'refused p50/p99':>18} {'kubectl p50/p99':>18}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['setting']:44} "
            f"{row['admitted_p50']:8.1f}/{row['admitted_p99']:<8.1f} "
            f"{row['refused_p50']:8.1f}/{row['refused_p99']:<8.1f} "
            f"{row['kubectl_p50']:8.1f}/{row['kubectl_p99']:<8.1f}"
        )
    print(f"(milliseconds; {args.requests} API dry-runs and {args.kubectl} kubectl runs each)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "policy": POLICY}, indent=2))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
