"""Benchmark: sharded replicas (--shards) — wall time, and work and memory per replica.

For each R in --replicas (default 1, 2, 4): R operator processes (R = 1: one unsharded
operator, the default; R > 1: --shards R, so each replica holds one shard), and N
Workloads spread evenly over the shards (--namespaces namespaces, chosen so that each
shard gets as many), applied with one kubectl call per namespace, all at once (one call
sends its objects one by one: its pace is not what is measured), until every one is
Ready at its generation. Per replica: CPU seconds and API writes (Lease renewals counted apart) from
the apply to the last Ready, peak RSS, shards held; beside one replica's: the most any
replica needed of the CPU and memory one replica needs for the same Workloads. With
more than one replica, a shard then moves: one replica is killed (SIGKILL), and the
time until a survivor holds its shard, and until it has listed it and looked at each of
its Workloads, is set beside the lease duration plus one listing of that shard (made
here, with the shard's label selector). Then the Workloads are deleted (the replicas
still running, for the finalizers) and the replicas stopped.

Runs on the bench cluster of hack/bench/scale.py (`berth-bench`, started when not up,
stopped at the end unless --keep-cluster). Times are wall-clock on this machine, which
runs the API server and every replica on the same cores: compare work per replica and
ratios, not seconds. Not a test: nothing passes or fails on a number.

Run from the repository's root: `python -m hack.bench.shards --help`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.clusterharness import (
    BIN_DIR,
    REPO_ROOT,
    ClusterAccess,
    ClusterUnavailable,
    KubectlFailed,
)
from tests.operatorharness import Metrics

from berth.coordination.shards import shard_of
from berth.handlers.informers import shard_selector
from berth.handlers.watch import CHILD_SELECTOR
from hack.bench.scale import (
    CLUSTER,
    WRITES,
    Api,
    Operator,
    Tracker,
    apply_list,
    environment,
    log,
    proc_stats,
    workload,
    workload_marks,
    write_list,
)

SHARDED_LCM = 4  # namespaces are spread evenly over 4 shards, hence over 2 and 1 as well
LEASE_SECONDS = 15.0  # berth run's default --shard-lease-duration
RECONCILES = "berth_reconciles_total"


def namespaces(count: int) -> list[str]:
    """``count`` names (a multiple of 4), as many in each of 4 shards."""
    per = count // SHARDED_LCM
    found: dict[int, list[str]] = {i: [] for i in range(SHARDED_LCM)}
    i = 0
    while any(len(v) < per for v in found.values()):
        name = f"bench-shard-{i}"
        bucket = found[shard_of(name, SHARDED_LCM)]
        if len(bucket) < per:
            bucket.append(name)
        i += 1
    return sorted(n for names in found.values() for n in names)


class PeakRss(threading.Thread):
    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self.stopping = False

    def run(self) -> None:
        while not self.stopping:
            for pid in self.pids:
                with contextlib.suppress(OSError):
                    self.peak[pid] = max(self.peak[pid], proc_stats(pid)[1])
            time.sleep(0.5)


def lease_writes(metrics: Metrics) -> float:
    return metrics.total(WRITES, kind="Lease")


def start_replicas(
    args: argparse.Namespace, kubeconfig: Path, replicas: int, operators: list[Operator]
) -> None:
    """R operators (R = 1: unsharded; R > 1: --shards R) into ``operators`` (where the
    caller stops them, whatever happens), until each holds one shard."""
    extra = ["--resync", "300"]
    if replicas > 1:
        extra += ["--shards", str(replicas), "--shard-namespace", "default"]
    for i in range(replicas):
        operators.append(Operator(args.out, kubeconfig, extra, profile=args.profile))
        operators[-1].start(f"shards{replicas}-{i}")
    if replicas > 1:
        # Each its fair share, one shard: the first replica up holds them all for a while.
        deadline = time.monotonic() + 120
        while any(op.metrics().total("berth_shards_held") != 1 for op in operators):
            if time.monotonic() > deadline:
                raise SystemExit("the replicas did not settle on one shard each in 120 s")
            time.sleep(0.5)


def create_environments(cluster: ClusterAccess, names: list[str]) -> None:
    envs = [environment(ns) for ns in names]
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": envs}),
    )
    for ns in names:
        cluster.kubectl(
            "wait", "--for=condition=Ready", f"environment/{ns}", "--timeout=180s", timeout=240
        )


def shard_listing_seconds(api: Api, shard: int, shards: int) -> float:
    """What listing one shard's objects takes here: its Workloads, children and Pods by the
    label selectors its holder's informers use (berth.handlers.informers)."""
    start = time.monotonic()
    for path, selector in (
        ("/apis/berth.dev/v1alpha1/workloads", None),
        ("/apis/apps/v1/deployments", CHILD_SELECTOR),
        ("/api/v1/services", CHILD_SELECTOR),
        ("/api/v1/configmaps", CHILD_SELECTOR),
        ("/api/v1/pods", CHILD_SELECTOR),
    ):
        token = ""
        while True:  # page by page, as the informers do
            query = {"labelSelector": shard_selector(selector, shard, shards), "limit": "500"}
            page = api.list(path, **query, **({"continue": token} if token else {}))
            token = page["metadata"].get("continue") or ""
            if not token:
                break
    return time.monotonic() - start


def measure_move(api: Api, operators: list[Operator], names: list[str], n: int) -> dict[str, Any]:
    """SIGKILL the last replica: when a survivor holds its shard again, and when it has
    listed the shard and looked at each of its Workloads (its reconciles counted)."""
    replicas = len(operators)
    victim, survivors = operators[-1], operators[:-1]
    shard = next(
        s
        for s in range(replicas)
        if victim.metrics().total("berth_shard_writes_total", shard=str(s)) > 0
    )
    moved = sum(1 for i in range(n) if shard_of(names[i % len(names)], replicas) == shard)
    listing = shard_listing_seconds(api, shard, replicas)
    before = sum(op.metrics().total(RECONCILES, kind="workload") for op in survivors)
    log(f"move: killing a replica; its shard {shard} has {moved} Workloads")
    victim.process.kill()
    killed = time.monotonic()
    held = settled = None
    deadline = killed + 600
    while settled is None and time.monotonic() < deadline:
        metrics = [op.metrics() for op in survivors]
        now = time.monotonic() - killed
        if held is None and sum(m.total("berth_shards_held") for m in metrics) == replicas:
            held = now
        done = sum(m.total(RECONCILES, kind="workload") for m in metrics) - before
        if held is not None and done >= moved:
            settled = now
        time.sleep(0.2)
    log(f"move: held again after {held} s, settled after {settled} s (listing {listing:.2f} s)")
    return {
        "shard": shard,
        "workloads": moved,
        "held_seconds": held,
        "settled_seconds": settled,
        "lease_seconds": LEASE_SECONDS,
        "listing_seconds": listing,
    }


def control_plane_cpu() -> float:
    """CPU seconds the bench cluster's API server and etcd have used so far: what the
    replicas' watches and writes cost on the other side."""
    pids = CLUSTER.directory / "kwok" / "clusters" / CLUSTER.name / "pids"
    total = 0.0
    for component in ("kube-apiserver", "etcd"):
        with contextlib.suppress(OSError, ValueError):
            total += proc_stats(int((pids / f"{component}.pid").read_text().strip()))[0]
    return total


def wait_until_children_gone(api: Api, timeout: float = 900.0) -> None:
    """Until the garbage collector has taken the deleted Workloads' children and kwok
    their Pods: the next run starts on a cluster that does nothing else."""
    deadline = time.monotonic() + timeout
    for path in ("/apis/apps/v1/deployments", "/api/v1/pods"):
        while api.list(path, labelSelector=CHILD_SELECTOR, limit="1")["items"]:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"the children of the deleted Workloads were not gone in {timeout} s"
                )
            time.sleep(1)


# A Workload's children and what the Deployment makes: (API prefix, plural).
CHILD_COLLECTIONS = (
    ("/apis/apps/v1", "deployments"),
    ("/apis/apps/v1", "replicasets"),
    ("/api/v1", "services"),
    ("/api/v1", "configmaps"),
    ("/api/v1", "pods"),
)


def delete_workloads(api: Api, names: list[str]) -> None:
    """Every Workload, then their children, one delete-collection call per kind and
    namespace (the replicas still running, for any finalizer). Left to the garbage
    collector, a child at a time, 1,000 Workloads' children took minutes to go; the
    next run only needs them gone."""
    for ns in names:
        api.call("DELETE", f"/apis/berth.dev/v1alpha1/namespaces/{ns}/workloads", timeout=600)
    deadline = time.monotonic() + 600
    while api.list("/apis/berth.dev/v1alpha1/workloads", limit="1")["items"]:
        if time.monotonic() > deadline:
            raise SystemExit("the Workloads were not gone in 600 s")
        time.sleep(1)
    for ns in names:
        for prefix, plural in CHILD_COLLECTIONS:
            query = {"labelSelector": CHILD_SELECTOR, "gracePeriodSeconds": "0"}
            api.call("DELETE", f"{prefix}/namespaces/{ns}/{plural}", query=query, timeout=600)
    wait_until_children_gone(api)


def one_run(
    args: argparse.Namespace,
    cluster: ClusterAccess,
    api: Api,
    replicas: int,
    names: list[str],
    first: bool,
) -> dict[str, Any]:
    n = args.workloads
    operators: list[Operator] = []
    try:
        start_replicas(args, cluster.kubeconfig, replicas, operators)
        if first:
            create_environments(cluster, names)
        items = [workload(names[i % len(names)], i) for i in range(n)]
        listings = [
            write_list(
                args.out / f"shards-workloads-{n}-{ns}.json",
                [w for w in items if w["metadata"]["namespace"] == ns],
            )
            for ns in names
        ]
        tracker = Tracker(api, "/apis/berth.dev/v1alpha1/workloads", workload_marks)
        tracker.start()
        pids = [op.pid for op in operators]
        rss = PeakRss(pids)
        rss.start()
        before = [op.metrics() for op in operators]
        cpu_before = [proc_stats(pid)[0] for pid in pids]
        server_before = control_plane_cpu()
        log(f"{replicas} replica(s): applying {n} Workloads over {len(names)} namespaces...")
        start = time.monotonic()
        # One kubectl per namespace, all at once: one kubectl sends its objects one by
        # one, and its pace (a round trip each) would be what is measured.
        applying = [
            threading.Thread(target=apply_list, args=(cluster, listing, "bench"))
            for listing in listings
        ]
        for thread in applying:
            thread.start()
        for thread in applying:
            thread.join()
        done = tracker.wait_count(lambda m: m == ("ready", 1), n, max(300.0, n * 1.5))
        seconds = done - start
        time.sleep(2)
        after = [op.metrics() for op in operators]
        cpu_after = [proc_stats(pid)[0] for pid in pids]
        server_cpu = control_plane_cpu() - server_before
        tracker.stop()
        rss.stopping = True
        per_replica = []
        for i in range(replicas):
            writes = after[i].total(WRITES) - before[i].total(WRITES)
            leases = lease_writes(after[i]) - lease_writes(before[i])
            per_replica.append(
                {
                    "shards_held": after[i].total("berth_shards_held"),
                    "cpu_seconds": cpu_after[i] - cpu_before[i],
                    "peak_rss_mib": rss.peak[pids[i]],
                    "writes": writes - leases,
                    "lease_writes": leases,
                }
            )
        log(f"{replicas} replica(s): all Ready in {seconds:.1f} s")
        move = measure_move(api, operators, names, n) if replicas > 1 and args.move else None
        log(f"{replicas} replica(s): deleting the Workloads...")
        delete_workloads(api, names)
        return {
            "replicas": replicas,
            "seconds": seconds,
            "per_replica": per_replica,
            "move": move,
            "server_cpu_seconds": server_cpu,
            "load": os.getloadavg(),
        }
    finally:
        for op in operators:
            op.stop()


def table(runs: list[dict[str, Any]], n: int) -> str:
    base = runs[0]
    base_cpu = max(p["cpu_seconds"] for p in base["per_replica"])
    base_rss = max(p["peak_rss_mib"] for p in base["per_replica"])
    lines = [
        f"Sharding: {n} Workloads from nothing to Ready ({os.cpu_count()} CPUs, shared)",
        "",
        "| replicas (= shards) | wall s | throughput vs 1 | CPU s/replica (max) | vs 1 "
        "| CPU s total | API server + etcd CPU s | peak RSS MiB/replica (max) | vs 1 "
        "| writes/replica | Lease writes/replica | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        per = run["per_replica"]
        cpu = max(p["cpu_seconds"] for p in per)
        rss = max(p["peak_rss_mib"] for p in per)
        lines.append(
            f"| {run['replicas']} | {run['seconds']:.1f} | {base['seconds'] / run['seconds']:.2f} "
            f"| {cpu:.1f} | {cpu / base_cpu:.0%} "
            f"| {sum(p['cpu_seconds'] for p in per):.1f} "
            f"| {run.get('server_cpu_seconds', 0):.1f} "
            f"| {rss:.0f} | {rss / base_rss:.0%} "
            f"| {', '.join(format(p['writes'], '.0f') for p in per)} "
            f"| {max(p['lease_writes'] for p in per):.0f} "
            f"| {run.get('load', [0])[0]:.1f} |"
        )
    moves = [(run["replicas"], run["move"]) for run in runs if run.get("move")]
    if moves:
        lines += [
            "",
            "| replicas | a shard moves (SIGKILL): Workloads in it | held again after "
            "| settled after | lease + one listing of the shard |",
            "|---|---|---|---|---|",
        ]
        for replicas, move in moves:
            held, settled = move["held_seconds"], move["settled_seconds"]
            lines.append(
                f"| {replicas} | {move['workloads']} "
                f"| {'-' if held is None else format(held, '.1f')} s "
                f"| {'-' if settled is None else format(settled, '.1f')} s "
                f"| {move['lease_seconds'] + move['listing_seconds']:.1f} s "
                f"({move['lease_seconds']:.0f} + {move['listing_seconds']:.1f}) |"
            )
    return "\n".join(lines)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hack.bench.shards",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--workloads", "-n", type=int, default=300, help="Workloads per run")
    parser.add_argument("--namespaces", type=int, default=16, help="a multiple of 4")
    parser.add_argument("--replicas", default="1,2,4", help="comma-separated replica counts")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".cluster" / "bench-results")
    parser.add_argument(
        "--no-move", dest="move", action="store_false", help="skip killing a replica"
    )
    parser.add_argument("--keep-cluster", action="store_true", help="leave the bench cluster up")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run each replica under py-spy (pip install py-spy): operator-shards<R>-<i>.folded "
        "in --out, summed up by hack/bench/profile_summary.py",
    )
    args = parser.parse_args()
    if args.namespaces % SHARDED_LCM:
        parser.error("--namespaces must be a multiple of 4")
    return args


def all_runs(args: argparse.Namespace, cluster: ClusterAccess) -> list[dict[str, Any]]:
    counts = [int(r) for r in args.replicas.split(",")]
    names = namespaces(args.namespaces)
    api = Api(cluster.kubeconfig)
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    runs = [
        one_run(args, cluster, api, replicas, names, first=i == 0)
        for i, replicas in enumerate(counts)
    ]
    # The Environments carry a finalizer: one operator lets them go.
    cleaner = Operator(args.out, cluster.kubeconfig)
    cleaner.start("shards-cleanup")
    try:
        cluster.kubectl(
            "delete", "environments", *names, "--wait=true", "--timeout=300s", timeout=360
        )
    finally:
        cleaner.stop()
    cluster.kubectl("delete", "namespace", *names, "--wait=false", "--ignore-not-found")
    return runs


def main() -> int:
    args = arguments()
    if not (BIN_DIR / "kubectl").exists():
        print("no tools: run `make tools` first", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        CLUSTER.up(quiet=False)
        runs = all_runs(args, CLUSTER.access(started_here=True))
    except (ClusterUnavailable, KubectlFailed) as err:
        raise SystemExit(f"shards: {str(err)[:3000]}") from None
    finally:
        if not args.keep_cluster:
            CLUSTER.down(quiet=False)
    text = table(runs, args.workloads)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (args.out / f"shards-{args.workloads}-{stamp}.json").write_text(json.dumps(runs, indent=2))
    (args.out / f"shards-{args.workloads}-{stamp}.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
