"""Benchmark: what revisions cost in etcd, and what a promotion adds to a rollout.

On the bench cluster (hack/cluster.sh's bench profile, as `make bench` uses it):

 1. revisions  N Workloads (--workloads) in one Environment, then --edits rounds: every
               Workload's spec edited once (a variable changes), and every new generation
               waited for until Ready and recorded. Each round makes one distinct pinned
               spec per Workload: the worst case for revisions (an edit back to an earlier
               spec would reuse its revision). Then: revisions per Workload, how many were
               created and collected (the Environment's revisionHistoryLimit, default 10),
               bytes per revision as the API server serves them (JSON, managedFields
               included: what etcd stores for a custom resource, give or take its framing),
               and the API server's own storage metrics before and after.
 2. promotion  --promotions Workloads promoted one at a time into a production
               Environment: per promotion, the time from creating the Promotion to
               Succeeded, beside the target Deployment's own rollout (from the Deployment's
               appearance to Available), both taken by polling every 50 ms.

Prints a table and writes it with a JSON of every figure to --out. Run by hand (not a
test), from the repository's root: `python -m hack.bench.revisions -n 1000 --edits 10`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.clusterharness import REPO_ROOT, ClusterAccess, ClusterUnavailable, KubectlFailed

from hack.bench.scale import CLUSTER, Api, Operator, log, writes_by_kind

NS = "bench-rev"
PROD = "bench-rev-prod"
API = "/apis/berth.dev/v1alpha1"
IMAGE = "registry.bench.example/shop/app:1.0"


def environment(name: str, kind: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": {"type": kind, "namespace": name, "deletionPolicy": "Delete", **spec},
    }


def workload(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": f"app-{i:05d}", "namespace": NS},
        "spec": {"containers": {"main": {"image": IMAGE, "variables": {"ROUND": "0"}}}},
    }


def recorded(api: Api, n: int, what: str, timeout: float = 3600) -> float:
    """Wait until all n Workloads have their current generation recorded; seconds."""
    started = time.monotonic()
    last = 0.0
    while True:
        items = api.list(f"{API}/namespaces/{NS}/workloads")["items"]
        done = sum(
            1
            for w in items
            if ((w.get("status") or {}).get("revision") or {}).get("workloadGeneration")
            == w["metadata"]["generation"]
        )
        if done >= n:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out: {done} of {n} {what}")
        if time.monotonic() - last > 15:
            log(f"  {what}: {done} of {n} recorded")
            last = time.monotonic()
        time.sleep(2)


def storage_metrics(cluster: ClusterAccess) -> dict[str, float]:
    """The API server's gauge of etcd's database size (the whole cluster's: Pods,
    Deployments, Events and all; context, not the revisions' share)."""
    text = cluster.kubectl("get", "--raw", "/metrics")
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("apiserver_storage_size_bytes"):
            found["etcd_db_bytes"] = found.get("etcd_db_bytes", 0) + float(line.rsplit(" ", 1)[1])
    return found


def mean_bytes(api: Api, path: str) -> float:
    """Mean size of the objects at ``path`` as the API server serves them (JSON)."""
    items = api.list(path)["items"]
    sizes = [len(json.dumps(item, separators=(",", ":")).encode()) for item in items]
    return statistics.mean(sizes) if sizes else 0.0


def revision_sizes(api: Api) -> dict[str, Any]:
    items = api.list(f"{API}/namespaces/{NS}/workloadrevisions")["items"]
    sizes = [len(json.dumps(item, separators=(",", ":")).encode()) for item in items]
    per_workload: dict[str, int] = {}
    for item in items:
        owner = item["spec"]["workload"]
        per_workload[owner] = per_workload.get(owner, 0) + 1
    counts = list(per_workload.values()) or [0]
    return {
        "revisions": len(items),
        "per_workload_min": min(counts),
        "per_workload_max": max(counts),
        "bytes_total": sum(sizes),
        "bytes_per_revision_mean": statistics.mean(sizes) if sizes else 0,
        "bytes_per_revision_max": max(sizes, default=0),
        "highest_number": max((int(i["spec"]["revision"]) for i in items), default=0),
    }


def edit_round(api: Api, n: int, round_no: int) -> None:
    def patch(i: int) -> None:
        body = {"spec": {"containers": {"main": {"variables": {"ROUND": str(round_no)}}}}}
        api.call(
            "PATCH",
            f"{API}/namespaces/{NS}/workloads/app-{i:05d}",
            body=body,
            content_type="application/merge-patch+json",
        )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(patch, range(n)))


def promote_one(api: Api, name: str) -> dict[str, float]:
    """Create a Promotion of ``name`` into PROD and time it against its rollout."""
    started = time.monotonic()
    api.call(
        "POST",
        f"{API}/namespaces/{PROD}/promotions",
        body={
            "apiVersion": "berth.dev/v1alpha1",
            "kind": "Promotion",
            "metadata": {"name": f"promote-{name}"},
            "spec": {"workload": name, "from": NS},
        },
    )
    marks: dict[str, float] = {}
    deployment = f"/apis/apps/v1/namespaces/{PROD}/deployments/{name}"
    while "succeeded" not in marks:
        if time.monotonic() - started > 300:
            raise SystemExit(f"promotion of {name} did not succeed: {marks}")
        now = time.monotonic() - started
        try:
            found = api.call("GET", deployment)
        except RuntimeError:
            found = None
        if found is not None:
            marks.setdefault("deployment", now)
            status, want = found.get("status") or {}, int(found["spec"].get("replicas", 1))
            if (
                int(status.get("availableReplicas") or 0) >= want
                and int(status.get("updatedReplicas") or 0) == want
            ):
                marks.setdefault("available", now)
        promotion = api.call("GET", f"{API}/namespaces/{PROD}/promotions/promote-{name}")
        if (promotion.get("status") or {}).get("phase") == "Succeeded":
            marks["succeeded"] = now
        time.sleep(0.05)
    return {
        "promotion_s": marks["succeeded"],
        "rollout_s": marks.get("available", marks["succeeded"]) - marks.get("deployment", 0.0),
        "before_deployment_s": marks.get("deployment", 0.0),
    }


def run(args: argparse.Namespace, cluster: ClusterAccess, operator: Operator) -> dict[str, Any]:
    api = Api(cluster.kubeconfig)
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    before = storage_metrics(cluster)
    operator.start("revisions")
    started = operator.metrics()
    for env in (
        environment(NS, "development"),
        environment(PROD, "production", promotion={"from": [NS]}),
    ):
        cluster.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(env))
    time.sleep(3)  # the Environments' namespaces (created by the operator)
    cluster.kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        stdin="\n".join(json.dumps(workload(i)) for i in range(args.workloads)),
    )
    rounds = [recorded(api, args.workloads, "created")]
    for round_no in range(1, args.edits + 1):
        edit_round(api, args.workloads, round_no)
        rounds.append(recorded(api, args.workloads, f"round {round_no}"))
        log(f"round {round_no}: all recorded in {rounds[-1]:.0f} s")
    time.sleep(10)  # the storage gauges are sampled
    after = storage_metrics(cluster)
    sizes = revision_sizes(api)
    sizes["bytes_per_workload_mean"] = mean_bytes(api, f"{API}/namespaces/{NS}/workloads")
    sizes["bytes_per_deployment_mean"] = mean_bytes(
        api, f"/apis/apps/v1/namespaces/{NS}/deployments"
    )
    metrics = operator.metrics()
    timings = [promote_one(api, f"app-{i:05d}") for i in range(args.promotions)]
    return {
        "workloads": args.workloads,
        "edits": args.edits,
        "rounds_s": rounds,
        "sizes": sizes,
        "storage_before": before,
        "storage_after": after,
        "operator_writes": writes_by_kind(metrics, started),
        "promotions": timings,
    }


def table(result: dict[str, Any]) -> str:
    sizes, n = result["sizes"], result["workloads"]
    made = n * (result["edits"] + 1)
    timings = result["promotions"]
    rows = [
        ("Workloads x generations recorded", f"{n} x {result['edits'] + 1} = {made}"),
        ("revisions kept (all Workloads)", str(sizes["revisions"])),
        (
            "revisions per Workload (min-max)",
            f"{sizes['per_workload_min']}-{sizes['per_workload_max']}",
        ),
        ("revisions collected", str(made - sizes["revisions"])),
        (
            "bytes per revision (mean / max)",
            f"{sizes['bytes_per_revision_mean']:.0f} / {sizes['bytes_per_revision_max']}",
        ),
        ("bytes of revisions in all", f"{sizes['bytes_total'] / 1e6:.1f} MB"),
        (
            "for scale: bytes per Workload / per Deployment",
            f"{sizes['bytes_per_workload_mean']:.0f} / {sizes['bytes_per_deployment_mean']:.0f}",
        ),
        (
            "etcd database before / after",
            " / ".join(
                f"{result[k].get('etcd_db_bytes', 0) / 1e6:.0f} MB"
                for k in ("storage_before", "storage_after")
            ),
        ),
    ]
    if timings:
        promo = [t["promotion_s"] for t in timings]
        roll = [t["rollout_s"] for t in timings]
        rows += [
            (
                f"promotion create -> Succeeded (median of {len(timings)})",
                f"{statistics.median(promo):.2f} s",
            ),
            ("  of which the Deployment's own rollout", f"{statistics.median(roll):.2f} s"),
            (
                "  create -> target Deployment exists",
                f"{statistics.median(t['before_deployment_s'] for t in timings):.2f} s",
            ),
        ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hack.bench.revisions", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--workloads", "-n", type=int, default=1000)
    parser.add_argument(
        "--edits", type=int, default=10, help="edit rounds (each edits every Workload)"
    )
    parser.add_argument(
        "--promotions", type=int, default=20, help="promotions timed, one at a time"
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".cluster" / "bench-results")
    parser.add_argument(
        "--keep-cluster", action="store_true", help="leave the bench cluster running"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    operator: Operator | None = None
    try:
        CLUSTER.up(quiet=False)
        cluster = CLUSTER.access(started_here=True)
        operator = Operator(args.out, cluster.kubeconfig)
        result = run(args, cluster, operator)
    except (ClusterUnavailable, KubectlFailed) as err:
        raise SystemExit(f"bench: {str(err)[:3000]}") from None
    finally:
        if operator is not None:
            operator.stop()  # whatever happened: never an operator left behind
        if not args.keep_cluster:
            CLUSTER.down(quiet=False)
    text = table(result)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"revisions-{stamp}.json").write_text(json.dumps(result, indent=2))
    (args.out / f"revisions-{stamp}.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
