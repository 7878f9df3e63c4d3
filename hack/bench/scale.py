"""Benchmark: N Workloads at the API server's own pace, beside the floor, in one run.

Phases, on one local cluster (its own, `berth-bench`, sized by hack/cluster.sh's bench
profile; started here when it is not up, and stopped at the end unless --keep-cluster):

 1. floor   server-side apply of exactly the manifests `berth render` gives for the N
            Workloads (Deployment, Service, ConfigMap each), one kubectl call; then wait
            for every Deployment to be Available. No operator: what the cluster itself
            needs for that work.
 2. berth   the operator at its defaults; the N Workloads applied with one kubectl call;
            wait for every Workload to be Ready at its generation. API writes by verb and
            kind, reconciles, memory.
 3. edits   with the N present, a steady stream of spec edits (--edit-rate a second,
            --edits in all, each on another Workload): per edit, the time from the edit to
            observedGeneration caught up and Ready, and the Deployment's own rollout time
            (from its new template to Available), reported separately.
 4. idle    the operator's CPU and writes while nothing changes (--idle seconds).
 5. restart the operator stopped and started again into the N unchanged Workloads: writes
            (must be 0), time until every Workload was reconciled once, against the time
            to list the Workloads and their children.

Prints a table (floor, Berth, ratio) and writes it with a JSON of every figure to --out.
Times are wall-clock on whatever machine runs this: compare ratios, not seconds. Not a
test: nothing here passes or fails on a duration. The operator is started and scraped by
the tests' operator harness (tests/operatorharness.py), as plain `python -m berth run`.

Run from the repository's root: `python -m hack.bench.scale --help`, or `make bench N=...`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.clusterharness import (
    BIN_DIR,
    REPO_ROOT,
    ClusterAccess,
    ClusterUnavailable,
    KubectlFailed,
    LocalCluster,
)
from tests.operatorharness import Metrics, OperatorFailed, OperatorProcess, start_operator

from berth.api import Environment, Workload
from berth.render import render_workload

CLUSTER = LocalCluster("berth-bench", REPO_ROOT / ".cluster" / "bench", profile="bench")
FLOOR_NS = "bench-floor"
BERTH_NS = "bench-berth"
WRITES = "berth_api_writes_total"
RECONCILES = "berth_reconciles_total"
# kubectl calls that carry thousands of objects, or wait for them, take their time.
KUBECTL_TIMEOUT = 3600.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the API --------------------------------------------------------------------------------


class Api:
    """Raw JSON requests through the official client's connection (auth, TLS), without
    its models: deserializing thousands of objects into models would cost this process
    more CPU than the operator it measures."""

    def __init__(self, kubeconfig: Path) -> None:
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(str(kubeconfig), client_configuration=configuration)
        configuration.connection_pool_maxsize = 16
        self.client = client.ApiClient(configuration)
        self.host = configuration.host.rstrip("/")
        bearer = configuration.auth_settings().get("BearerToken")
        self.auth = {bearer["key"]: bearer["value"]} if bearer and bearer.get("value") else {}

    def call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        stream: bool = False,
        timeout: float | tuple[float, float] = 120,
    ) -> Any:
        url = self.host + path + ("?" + urlencode(query) if query else "")
        headers = {"Accept": "application/json", "Content-Type": content_type, **self.auth}
        response = self.client.call_api(
            method, url, header_params=headers, body=body, _request_timeout=timeout
        )
        if response.status >= 400:
            detail = response.read()[:500]
            raise RuntimeError(f"{method} {path}: {response.status} {detail!r}")
        if stream:
            return response.response
        data = response.read()
        return json.loads(data) if data else None

    def list(self, path: str, **query: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", path, query=query)
        return result

    def watch(self, path: str, resource_version: str) -> Iterator[dict[str, Any]]:
        response = self.call(
            "GET",
            path,
            query={
                "watch": "true",
                "resourceVersion": resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "600",
            },
            stream=True,
            timeout=(10, 700),
        )
        buffer = b""
        try:
            for chunk in response.stream(1 << 16):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.release_conn()


# -- watching objects reach a state -------------------------------------------------------


class Tracker(threading.Thread):
    """Watches one kind in one namespace and notes the first time each (name, mark) was
    seen, where ``judge`` gives the marks an object carries (e.g. "ready at generation 3")."""

    def __init__(self, api: Api, path: str, judge: Callable[[dict[str, Any]], list[Any]]):
        super().__init__(daemon=True)
        self.api, self.path, self.judge = api, path, judge
        self.first: dict[tuple[str, Any], float] = {}
        self.cond = threading.Condition()
        self.stopping = False

    def _see(self, obj: dict[str, Any], now: float) -> None:
        name = obj["metadata"]["name"]
        marks = self.judge(obj)
        if not marks:
            return
        with self.cond:
            for mark in marks:
                self.first.setdefault((name, mark), now)
            self.cond.notify_all()

    def run(self) -> None:
        while not self.stopping:
            try:
                listing = self.api.list(self.path)
                now = time.monotonic()
                for obj in listing.get("items") or []:
                    self._see(obj, now)
                rv = listing["metadata"]["resourceVersion"]
                for event in self.api.watch(self.path, rv):
                    if self.stopping:
                        return
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self._see(event["object"], time.monotonic())
            except Exception as err:
                if not self.stopping:
                    log(f"watch of {self.path} restarts: {err}")
                    time.sleep(1)

    def count(self, mark_of: Callable[[Any], bool]) -> int:
        with self.cond:
            return sum(1 for (_, mark) in self.first if mark_of(mark))

    def wait_count(self, mark_of: Callable[[Any], bool], n: int, timeout: float) -> float:
        """Wait until n objects carry a mark; returns the time the n-th got it."""
        deadline = time.monotonic() + timeout
        last_report = time.monotonic()
        with self.cond:
            while True:
                times = sorted(t for (_, mark), t in self.first.items() if mark_of(mark))
                if len(times) >= n:
                    return times[n - 1]
                if time.monotonic() > deadline:
                    raise SystemExit(f"timed out: {len(times)} of {n} after {timeout:.0f} s")
                if time.monotonic() - last_report > 15:
                    log(f"  {len(times)} of {n}...")
                    last_report = time.monotonic()
                self.cond.wait(1.0)

    def stop(self) -> None:
        self.stopping = True


def workload_marks(obj: dict[str, Any]) -> list[Any]:
    """("ready", generation) once the status says Ready for the current generation."""
    gen = int(obj["metadata"].get("generation") or 0)
    status = obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if (
        ready
        and ready.get("status") == "True"
        and int(status.get("observedGeneration") or 0) >= gen
        and int(ready.get("observedGeneration") or gen) >= gen
    ):
        return [("ready", gen)]
    return []


def deployment_marks(obj: dict[str, Any]) -> list[Any]:
    """("seen", rev) for a template carrying REV=rev, and ("done", rev) once rolled out."""
    containers = obj["spec"]["template"]["spec"].get("containers") or []
    env = {e.get("name"): e.get("value") for c in containers for e in c.get("env") or []}
    rev = env.get("REV", "0")
    marks: list[Any] = [("seen", rev)]
    status = obj.get("status") or {}
    want = int(obj["spec"].get("replicas", 1))
    if (
        int(status.get("observedGeneration") or 0) >= int(obj["metadata"].get("generation") or 0)
        and int(status.get("updatedReplicas") or 0) == want
        and int(status.get("availableReplicas") or 0) >= want
        and int(status.get("replicas") or 0) == want
    ):
        marks.append(("done", rev))
    return marks


# -- the objects --------------------------------------------------------------------------


def environment(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": namespace},
        "spec": {"type": "development", "namespace": namespace, "policy": {"maxReplicas": 3}},
    }


def workload(namespace: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": f"w{i:05d}", "namespace": namespace},
        "spec": {
            "containers": {
                "main": {
                    "image": "registry.example/bench:1.0",
                    "variables": {"NAME": "${metadata.name}", "REV": "0"},
                    "files": {"/etc/app.conf": {"content": "name: ${metadata.name}\n"}},
                }
            },
            "service": {"ports": {"web": {"port": 80, "targetPort": 8080}}},
        },
    }


def floor_manifests(n: int) -> list[dict[str, Any]]:
    """What `berth render` prints for each Workload (the same function, called here)."""
    env = Environment.model_validate(environment(FLOOR_NS))
    items: list[dict[str, Any]] = []
    for i in range(n):
        items += render_workload(Workload.model_validate(workload(FLOOR_NS, i)), env, {}).manifests
    return items


def check_render_matches_cli(tmp: Path) -> None:
    """The floor's manifests are byte for byte what the `berth render` command gives."""
    (tmp / "w.json").write_text(json.dumps(workload(FLOOR_NS, 0)))
    (tmp / "e.json").write_text(json.dumps(environment(FLOOR_NS)))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "berth",
            "render",
            "-f",
            str(tmp / "w.json"),
            "-e",
            str(tmp / "e.json"),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    ).stdout
    if json.loads(out)["items"] != floor_manifests(1):
        raise SystemExit("the floor's manifests differ from `berth render`'s")


def ensure_environment_gone(cluster: ClusterAccess, api: Api) -> None:
    """A former run's Environment, whose operator is gone: without its finalizer."""
    path = f"/apis/berth.dev/v1alpha1/environments/{BERTH_NS}"
    cluster.kubectl("delete", "environment", BERTH_NS, "--ignore-not-found", "--wait=false")
    try:
        api.call(
            "PATCH",
            path,
            body={"metadata": {"finalizers": None}},
            content_type="application/merge-patch+json",
        )
    except RuntimeError:
        return  # gone already
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            api.call("GET", path, timeout=10)
        except RuntimeError:
            return
        time.sleep(1)


def ensure_namespace_gone(cluster: ClusterAccess, api: Api, name: str, timeout: float) -> None:
    cluster.kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            api.call("GET", f"/api/v1/namespaces/{name}", timeout=10)
        except Exception:
            return
        time.sleep(2)
    log(f"namespace {name} still terminating after {timeout:.0f} s; going on")


def write_list(path: Path, items: list[dict[str, Any]]) -> Path:
    """``items`` as one List, for one kubectl call (written before the clock starts)."""
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def apply_list(cluster: ClusterAccess, listing: Path, field_manager: str) -> None:
    cluster.kubectl(
        "apply",
        "--server-side",
        f"--field-manager={field_manager}",
        "-f",
        str(listing),
        timeout=KUBECTL_TIMEOUT,
    )


# -- the operator ---------------------------------------------------------------------------


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS")
    )
    return cpu, rss / 1024


@dataclass
class Operator:
    """`python -m berth run` at WARNING (tests/operatorharness.py), one log per start
    (operator-TAG.log in ``out``); with ``profile``, under py-spy."""

    out: Path
    kubeconfig: Path
    extra: list[str] = field(default_factory=list)
    profile: bool = False
    running: OperatorProcess | None = None

    def start(self, tag: str) -> None:
        """Start it and wait until its /metrics answers (what the restart's "metrics up"
        measures)."""
        wrapper: list[str] = []
        if self.profile:
            # py-spy samples the operator from outside (folded stacks, one line each);
            # hack/bench/profile_summary.py sums them up.
            spy = Path(sys.executable).parent / "py-spy"
            folded = self.out / f"operator-{tag}.folded"
            wrapper = [str(spy), "record", "--rate", "50", "-f", "raw", "-o", str(folded), "--"]
        log_path = self.out / f"operator-{tag}.log"
        try:
            self.running = start_operator(
                self.kubeconfig,
                log_path,
                *("--log-level", "WARNING", *self.extra),
                checked=False,
                wrapper=wrapper,
                wait_for="/metrics",
                timeout=120,
            )
        except OperatorFailed as err:
            raise SystemExit(f"the operator did not start; see {log_path}\n{err}") from None

    def stop(self) -> None:
        if self.running is not None:
            # Under py-spy: the operator first, then py-spy ends by itself.
            self.running.stop(grace=90)
        self.running = None

    @property
    def process(self) -> OperatorProcess:
        assert self.running is not None, "the operator is not running"
        return self.running

    @property
    def pid(self) -> int:
        """The operator's own process (under py-spy, py-spy's child)."""
        return self.process.pid

    @property
    def started(self) -> float:
        return self.process.started_at

    def metrics(self) -> Metrics:
        return self.process.metrics()


def writes_by_kind(after: Metrics, before: Metrics) -> dict[str, float]:
    """API writes between two scrapes, by "VERB Kind"."""
    result: dict[str, float] = {}
    for labels, delta in after.increase(before, WRITES).items():
        label = dict(labels)
        key = f"{label['verb']} {label['kind']}"
        result[key] = result.get(key, 0.0) + delta
    return dict(sorted(result.items()))


def _kinds(by_kind: dict[str, float]) -> str:
    return ", ".join(f"{kind} {value:.0f}" for kind, value in by_kind.items())


def count(quantity: str) -> int:
    """A count as the API server writes it ("110", "1k")."""
    return int(quantity[:-1]) * 1000 if quantity.endswith("k") else int(quantity)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# -- the phases -----------------------------------------------------------------------------


@dataclass
class Bench:
    """What the phases of one run share."""

    args: argparse.Namespace
    cluster: ClusterAccess
    api: Api
    operator: Operator

    @property
    def n(self) -> int:
        return int(self.args.workloads)

    @property
    def out(self) -> Path:
        return Path(self.args.out)

    @property
    def timeout(self) -> float:
        return max(300.0, self.n * 0.8)

    def workloads_path(self) -> str:
        return f"/apis/berth.dev/v1alpha1/namespaces/{BERTH_NS}/workloads"

    def deployments_path(self, namespace: str) -> str:
        return f"/apis/apps/v1/namespaces/{namespace}/deployments"


def prepare(bench: Bench) -> None:
    """A cluster that takes the Pods, the CRDs, and nothing left of a former run."""
    nodes = bench.api.list("/api/v1/nodes")["items"]
    capacity = sum(count(node["status"]["allocatable"].get("pods", "0")) for node in nodes)
    if capacity < bench.n + 50:
        raise SystemExit(
            f"the cluster takes {capacity} Pods, {bench.n} are needed: start it with "
            "BERTH_PROFILE=bench (hack/cluster.sh) or more BERTH_NODES"
        )
    bench.cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds")
    )
    bench.cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    ensure_environment_gone(bench.cluster, bench.api)
    for ns in (FLOOR_NS, BERTH_NS):
        ensure_namespace_gone(bench.cluster, bench.api, ns, bench.timeout)


def measure_floor(bench: Bench) -> dict[str, Any]:
    """1. The rendered manifests applied, no operator: until every Deployment is Available."""
    n = bench.n
    log(f"floor: rendering {n} Workloads' manifests...")
    check_render_matches_cli(bench.out)
    manifests = floor_manifests(n)
    listing = write_list(bench.out / "floor.json", manifests)
    bench.cluster.kubectl("create", "namespace", FLOOR_NS)
    tracker = Tracker(bench.api, bench.deployments_path(FLOOR_NS), deployment_marks)
    tracker.start()
    log(f"floor: applying {len(manifests)} objects with one kubectl call...")
    start = time.monotonic()
    apply_list(bench.cluster, listing, "bench-floor")
    applied = time.monotonic() - start
    done = tracker.wait_count(lambda m: m == ("done", "0"), n, bench.timeout)
    tracker.stop()
    log(f"floor: {done - start:.1f} s (the kubectl apply: {applied:.1f} s)")
    ensure_namespace_gone(bench.cluster, bench.api, FLOOR_NS, bench.timeout)
    return {"seconds": done - start, "apply_seconds": applied}


def measure_creation(bench: Bench) -> tuple[dict[str, Any], Tracker, Tracker]:
    """2. The operator at its defaults, the N Workloads applied: until every one is Ready
    at its generation. Hands back the trackers of Workloads and Deployments, still
    watching (the edits need them)."""
    n, operator, cluster = bench.n, bench.operator, bench.cluster
    operator.start("first")
    cpu0, rss0 = proc_stats(operator.pid)
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(environment(BERTH_NS)))
    cluster.kubectl(
        "wait", "--for=condition=Ready", f"environment/{BERTH_NS}", "--timeout=120s", timeout=180
    )
    workloads = Tracker(bench.api, bench.workloads_path(), workload_marks)
    deployments = Tracker(bench.api, bench.deployments_path(BERTH_NS), deployment_marks)
    workloads.start()
    deployments.start()
    listing = write_list(bench.out / "workloads.json", [workload(BERTH_NS, i) for i in range(n)])
    before = operator.metrics()
    log(f"berth: applying {n} Workloads with one kubectl call...")
    start = time.monotonic()
    apply_list(cluster, listing, "bench")
    applied = time.monotonic() - start
    done = workloads.wait_count(lambda m: m == ("ready", 1), n, bench.timeout)
    ready_seconds = done - start
    time.sleep(2)  # the last writes (an Event after the status) land
    after = operator.metrics()
    cpu1, rss1 = proc_stats(operator.pid)
    writes = after.total(WRITES) - before.total(WRITES)
    reconciles = after.total(RECONCILES, kind="workload") - before.total(
        RECONCILES, kind="workload"
    )
    log(f"berth: {ready_seconds:.1f} s, {writes / n:.2f} writes per Workload, RSS {rss1:.0f} MiB")
    figures = {
        "seconds": ready_seconds,
        "apply_seconds": applied,
        "writes": writes,
        "writes_per_workload": writes / n,
        "writes_by_kind": {k: v / n for k, v in writes_by_kind(after, before).items()},
        "reconciles_per_workload": reconciles / n,
        "throttled": {k: v for k, v in after.series("berth_api_throttled_total").items() if v},
        "concurrency_limit_at_end": after.total("berth_api_concurrency_limit"),
        "cpu_seconds": cpu1 - cpu0,
        "rss_mib_empty": rss0,
        "rss_mib": rss1,
        "rss_kib_per_workload": (rss1 - rss0) * 1024 / n,
    }
    return figures, workloads, deployments


Edit = tuple[str, int, float]  # the Workload's name, its generation after the edit, when sent


def send_edits(bench: Bench) -> list[Edit]:
    """A steady stream of spec edits, each on another Workload (REV=k in its template)."""
    names = random.Random(7).sample(range(bench.n), min(bench.args.edits, bench.n))
    rate = bench.args.edit_rate
    log(f"edits: {len(names)} edits at {rate}/s with {bench.n} Workloads present...")
    edits: list[Edit] = []
    start = time.monotonic()
    for k, i in enumerate(names):
        due = start + k / rate
        time.sleep(max(0.0, due - time.monotonic()))
        name = f"w{i:05d}"
        patch = {"spec": {"containers": {"main": {"variables": {"REV": str(k + 1)}}}}}
        sent = time.monotonic()
        answer = bench.api.call(
            "PATCH",
            f"{bench.workloads_path()}/{name}",
            body=patch,
            content_type="application/merge-patch+json",
        )
        edits.append((name, int(answer["metadata"]["generation"]), sent))
    return edits


def edit_times(
    bench: Bench, edits: list[Edit], workloads: Tracker, deployments: Tracker
) -> tuple[list[float], list[float], list[float]]:
    """Per edit: edit → Ready at its generation; the Deployment's rollout (its new
    template seen → Available); and the difference, Berth's part."""
    latencies, rollouts, overheads = [], [], []
    deadline = time.monotonic() + bench.timeout
    for k, (name, gen, sent) in enumerate(edits):
        rev = str(k + 1)
        while True:
            with workloads.cond:
                ready = workloads.first.get((name, ("ready", gen)))
            with deployments.cond:
                seen = deployments.first.get((name, ("seen", rev)))
                rolled = deployments.first.get((name, ("done", rev)))
            if ready is not None and seen is not None and rolled is not None:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"edit of {name} not Ready in time")
            time.sleep(0.2)
        latencies.append(ready - sent)
        rollouts.append(rolled - seen)
        overheads.append((ready - sent) - (rolled - seen))
    return latencies, rollouts, overheads


def measure_edits(bench: Bench, workloads: Tracker, deployments: Tracker) -> dict[str, Any]:
    """3. Edits under a steady stream, with the N present."""
    before = bench.operator.metrics()
    edits = send_edits(bench)
    latencies, rollouts, overheads = edit_times(bench, edits, workloads, deployments)
    time.sleep(2)
    after = bench.operator.metrics()
    edit_writes = after.total(WRITES) - before.total(WRITES)
    log(
        f"edits: to Ready p50 {percentile(latencies, 50):.2f} s, p99 "
        f"{percentile(latencies, 99):.2f} s; rollout p50 {percentile(rollouts, 50):.2f} s"
    )
    return {
        "count": len(edits),
        "rate_per_second": bench.args.edit_rate,
        "to_ready_p50": percentile(latencies, 50),
        "to_ready_p99": percentile(latencies, 99),
        "rollout_p50": percentile(rollouts, 50),
        "rollout_p99": percentile(rollouts, 99),
        "berth_p50": percentile(overheads, 50),
        "berth_p99": percentile(overheads, 99),
        "writes_per_edit": edit_writes / len(edits),
        "writes_by_kind": {k: v / len(edits) for k, v in writes_by_kind(after, before).items()},
    }


def measure_idle(bench: Bench) -> dict[str, Any]:
    """4. The operator's CPU, writes and reconciles while nothing changes."""
    seconds, operator = bench.args.idle, bench.operator
    log(f"idle: {seconds:.0f} s...")
    time.sleep(3)
    before = operator.metrics()
    cpu_a, _ = proc_stats(operator.pid)
    time.sleep(seconds)
    cpu_b, rss_idle = proc_stats(operator.pid)
    after = operator.metrics()
    return {
        "seconds": seconds,
        "cpu_percent": (cpu_b - cpu_a) / seconds * 100,
        "writes": after.total(WRITES) - before.total(WRITES),
        "writes_by_kind": writes_by_kind(after, before),
        "reconciles": after.total(RECONCILES) - before.total(RECONCILES),
        "rss_mib": rss_idle,
    }


def listing_times(bench: Bench) -> tuple[float, float]:
    """What a restart must read at least: (the Workloads, with their children)."""
    start = time.monotonic()
    bench.api.list(bench.workloads_path())
    list_workloads = time.monotonic() - start
    for path in (
        bench.deployments_path(BERTH_NS),
        f"/api/v1/namespaces/{BERTH_NS}/services",
        f"/api/v1/namespaces/{BERTH_NS}/configmaps",
    ):
        bench.api.list(path, labelSelector="app.kubernetes.io/managed-by=berth,berth.dev/workload")
    return list_workloads, time.monotonic() - start


def measure_restart(bench: Bench) -> dict[str, Any]:
    """5. The operator stopped and started into the N unchanged Workloads: until every
    one was reconciled once; its writes (0), against the time to list what it reads."""
    operator = bench.operator
    operator.stop()
    list_workloads, list_all = listing_times(bench)
    log(f"restart: listing took {list_workloads:.2f} s (with children {list_all:.2f} s)")
    operator.start("restart")
    up = time.monotonic() - operator.started
    cpu_r0, _ = proc_stats(operator.pid)
    deadline = time.monotonic() + bench.timeout
    while True:
        if operator.metrics().total(RECONCILES, kind="workload") >= bench.n:
            settled = time.monotonic() - operator.started
            break
        if time.monotonic() > deadline:
            raise SystemExit("the restarted operator did not reconcile every Workload in time")
        time.sleep(0.1)
    cpu_r1, rss_r = proc_stats(operator.pid)
    time.sleep(5)
    metrics = operator.metrics()
    return {
        "settled_seconds": settled,
        "metrics_up_seconds": up,
        "list_workloads_seconds": list_workloads,
        "list_with_children_seconds": list_all,
        "writes": metrics.total(WRITES),
        "writes_by_kind": writes_by_kind(metrics, Metrics()),
        "cpu_seconds": cpu_r1 - cpu_r0,
        "rss_mib": rss_r,
    }


def clean_up(bench: Bench) -> None:
    # While the operator runs, so that it lets its Environment go (finalizer); the next
    # run clears what is left.
    bench.cluster.kubectl(
        "delete", "environment", BERTH_NS, "--ignore-not-found", "--timeout=60s", check=False
    )
    bench.cluster.kubectl("delete", "namespace", BERTH_NS, "--ignore-not-found", "--wait=false")


# -- the run --------------------------------------------------------------------------------


def run(args: argparse.Namespace, cluster: ClusterAccess, operator: Operator) -> dict[str, Any]:
    bench = Bench(args, cluster, Api(cluster.kubeconfig), operator)
    bench.out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "workloads": bench.n,
        "machine": {
            "cpus": os.cpu_count(),
            "load_at_start": os.getloadavg(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
    prepare(bench)
    if not args.skip_floor:
        result["floor"] = measure_floor(bench)
    result["berth"], workloads, deployments = measure_creation(bench)
    if args.edits:
        result["edits"] = measure_edits(bench, workloads, deployments)
    workloads.stop()
    deployments.stop()
    result["idle"] = measure_idle(bench)
    result["restart"] = measure_restart(bench)
    # A resync every 300 s is a pass over every Workload: a restart's CPU, at most.
    result["idle"]["cpu_percent_with_resync_estimate"] = (
        result["idle"]["cpu_percent"] + result["restart"]["cpu_seconds"] / 300.0 * 100
    )
    result["machine"]["load_at_end"] = os.getloadavg()
    save(result, bench.out)
    if not args.keep:
        clean_up(bench)
    operator.stop()
    return result


def save(result: dict[str, Any], out: Path) -> Path:
    """The table and the JSON, written as soon as the figures are in."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = out / f"bench-{result['workloads']}-{stamp}"
    base.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    base.with_suffix(".md").write_text(table(result))
    return base


Rows = list[tuple[str, str, str, str]]


def ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}" if value and base else "—"


def creation_rows(result: dict[str, Any]) -> Rows:
    n = result["workloads"]
    floor = result.get("floor", {}).get("seconds")
    berth = result["berth"]
    kinds = ", ".join(f"{k} {v:.2f}" for k, v in berth["writes_by_kind"].items())
    throttled = ", ".join(f"{k} {v:.0f}" for k, v in berth["throttled"].items()) or "none"
    return [
        (
            f"{n} Workloads: nothing to all Ready",
            f"{floor:.1f} s" if floor else "—",
            f"{berth['seconds']:.1f} s",
            ratio(berth["seconds"], floor),
        ),
        (
            "API writes per Workload until Ready",
            "3 (applies)",
            f"{berth['writes_per_workload']:.2f} ({kinds})",
            "",
        ),
        ("reconciles per Workload until Ready", "", f"{berth['reconciles_per_workload']:.2f}", ""),
        (
            "throttling signals; concurrency limit at end",
            "",
            f"{throttled}; {berth['concurrency_limit_at_end']:.0f}",
            "",
        ),
    ]


def edit_rows(result: dict[str, Any]) -> Rows:
    if "edits" not in result:
        return []
    e = result["edits"]
    return [
        (
            f"edit → observedGeneration and Ready, p50 / p99 "
            f"({e['count']} edits at {e['rate_per_second']:g}/s)",
            f"rollout alone {e['rollout_p50']:.2f} / {e['rollout_p99']:.2f} s",
            f"{e['to_ready_p50']:.2f} / {e['to_ready_p99']:.2f} s",
            f"Berth's part {e['berth_p50']:.2f} / {e['berth_p99']:.2f} s",
        ),
        ("API writes per edit", "1 (apply)", f"{e['writes_per_edit']:.2f}", ""),
    ]


def restart_and_idle_rows(result: dict[str, Any]) -> Rows:
    n, berth, r, i = result["workloads"], result["berth"], result["restart"], result["idle"]
    return [
        (
            f"restart into {n} unchanged Workloads: settled",
            f"list {r['list_workloads_seconds']:.2f} s "
            f"(with children {r['list_with_children_seconds']:.2f} s)",
            f"{r['settled_seconds']:.2f} s (metrics up at {r['metrics_up_seconds']:.2f} s)",
            ratio(r["settled_seconds"], r["list_with_children_seconds"]),
        ),
        ("API writes after the restart", "0", f"{r['writes']:.0f}", ""),
        (
            "operator RSS: empty / N Ready / after restart",
            "",
            f"{berth['rss_mib_empty']:.0f} / {berth['rss_mib']:.0f} / {r['rss_mib']:.0f} MiB",
            f"{berth['rss_kib_per_workload']:.1f} KiB per Workload",
        ),
        (
            f"idle {i['seconds']:.0f} s: CPU, writes",
            "",
            f"{i['cpu_percent']:.2f} % of a core, {i['writes']:.0f} writes"
            + (f" ({_kinds(i['writes_by_kind'])})" if i.get("writes_by_kind") else "")
            + f", {i['reconciles']:.0f} reconciles",
            f"with a resync every 300 s, at most ~{i['cpu_percent_with_resync_estimate']:.2f} %"
            " (a restart's CPU as the pass)",
        ),
    ]


def table(result: dict[str, Any]) -> str:
    n, m = result["workloads"], result["machine"]
    rows = creation_rows(result) + edit_rows(result) + restart_and_idle_rows(result)
    header = (
        f"Berth bench, {n} Workloads, {m['started']}; {m['cpus']} CPUs, load average "
        f"{m['load_at_start'][0]:.1f} at start, {m.get('load_at_end', [0])[0]:.1f} at end\n\n"
    )
    lines = ["| measure | floor | Berth | ratio / note |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return header + "\n".join(lines) + "\n"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hack.bench.scale",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--workloads", "-n", type=int, default=100, help="N: 100, 1000, 5000...")
    parser.add_argument("--edits", type=int, default=100, help="spec edits in the edit phase")
    parser.add_argument("--edit-rate", type=float, default=5.0, help="edits a second")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of the idle phase")
    parser.add_argument("--skip-floor", action="store_true", help="measure Berth only")
    parser.add_argument(
        "--operator-arg",
        action="append",
        help="an extra flag for `berth run` (repeatable); the default is none: its defaults",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the operator under py-spy (pip install py-spy); folded stacks in --out",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".cluster" / "bench-results")
    parser.add_argument("--keep", action="store_true", help="leave the bench's objects")
    parser.add_argument(
        "--keep-cluster", action="store_true", help="leave the bench cluster running"
    )
    return parser.parse_args()


def main() -> int:
    args = arguments()
    if not (BIN_DIR / "kubectl").exists():
        print("no tools: run `make tools` first", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    operator: Operator | None = None
    try:
        CLUSTER.up(quiet=False)
        cluster = CLUSTER.access(started_here=True)
        operator = Operator(args.out, cluster.kubeconfig, args.operator_arg or [], args.profile)
        result = run(args, cluster, operator)
    except (ClusterUnavailable, KubectlFailed) as err:
        raise SystemExit(f"bench: {str(err)[:3000]}") from None
    finally:
        if operator is not None:
            operator.stop()  # whatever happened: never an operator left behind
        if not args.keep_cluster:
            CLUSTER.down(quiet=False)
    print(table(result))
    print(f"(also in {args.out}/bench-{result['workloads']}-*.md and .json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
