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
test: nothing here passes or fails on a duration.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "operator"))

from berth.api import Environment, Workload  # noqa: E402
from berth.render import render_workload  # noqa: E402

CLUSTER_NAME = "berth-bench"
CLUSTER_DIR = REPO / ".cluster" / "bench"
KUBECONFIG = CLUSTER_DIR / "kubeconfig"
FLOOR_NS = "bench-floor"
BERTH_NS = "bench-berth"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the cluster ------------------------------------------------------------------------


def cluster(action: str) -> None:
    env = dict(
        os.environ,
        BERTH_CLUSTER_NAME=CLUSTER_NAME,
        BERTH_CLUSTER_DIR=str(CLUSTER_DIR),
        BERTH_PROFILE="bench",
    )
    subprocess.run([str(REPO / "hack" / "cluster.sh"), action], env=env, check=True)


def kubectl(*args: str, stdin: str | None = None, timeout: float = 3600) -> str:
    cmd = [str(REPO / ".bin" / "kubectl"), "--kubeconfig", str(KUBECONFIG), *args]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args[:4])}...: {proc.stderr.strip()[:2000]}")
    return proc.stdout


class Api:
    """Raw JSON requests through the official client's connection (auth, TLS), without
    its models: deserializing thousands of objects into models would cost this process
    more CPU than the operator it measures."""

    def __init__(self) -> None:
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(str(KUBECONFIG), client_configuration=configuration)
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
        cwd=REPO,
    ).stdout
    if json.loads(out)["items"] != floor_manifests(1):
        raise SystemExit("the floor's manifests differ from `berth render`'s")


def ensure_environment_gone(api: Api) -> None:
    """A former run's Environment, whose operator is gone: without its finalizer."""
    path = f"/apis/berth.dev/v1alpha1/environments/{BERTH_NS}"
    kubectl("delete", "environment", BERTH_NS, "--ignore-not-found", "--wait=false")
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


def ensure_namespace_gone(api: Api, name: str, timeout: float) -> None:
    kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            api.call("GET", f"/api/v1/namespaces/{name}", timeout=10)
        except Exception:
            return
        time.sleep(2)
    log(f"namespace {name} still terminating after {timeout:.0f} s; going on")


# -- the operator ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    out: Path
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    started: float = 0.0

    profile: bool = False

    def start(self, tag: str) -> None:
        self.metrics_port, health = free_port(), free_port()
        logfile = open(self.out / f"operator-{tag}.log", "wb")  # noqa: SIM115 (the child owns it)
        command = [sys.executable, "-m", "berth", "run", "--kubeconfig", str(KUBECONFIG)]
        command += ["--metrics-port", str(self.metrics_port), "--health-port", str(health)]
        command += ["--log-level", "WARNING", *self.extra]
        if self.profile:
            # py-spy samples the operator from outside (folded stacks, one line each);
            # hack/bench/profile_summary.py sums them up.
            spy = Path(sys.executable).parent / "py-spy"
            folded = self.out / f"operator-{tag}.folded"
            spy_command = [str(spy), "record", "--rate", "50", "-f", "raw", "-o", str(folded)]
            command = [*spy_command, "--", *command]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(command, stdout=logfile, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2)
                return
            except OSError as err:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"the operator did not start; see {logfile.name}") from err
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)  # under py-spy: the operator, then py-spy ends
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def pid(self) -> int:
        """The operator's own process (under py-spy, py-spy's child)."""
        assert self.proc is not None
        if not self.profile:
            return self.proc.pid
        for children in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            found = children.read_text().split()
            if found:
                return int(found[0])
        raise RuntimeError("py-spy has no child process")

    def metrics(self) -> dict[str, dict[str, float]]:
        """Every berth_* sample, by metric name and label string."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        out: dict[str, dict[str, float]] = {}
        for line in text.splitlines():
            if not line.startswith("berth_"):
                continue
            series, value = line.rsplit(" ", 1)
            name, _, labels = series.partition("{")
            if name.endswith("_created"):
                continue
            out.setdefault(name, {})[labels.rstrip("}")] = float(value)
        return out


def total(metrics: dict[str, dict[str, float]], name: str, contains: str = "") -> float:
    return sum(v for k, v in metrics.get(name, {}).items() if contains in k)


def writes_by_kind(
    after: dict[str, dict[str, float]], before: dict[str, dict[str, float]]
) -> dict[str, float]:
    result = {}
    for labels, value in after.get("berth_api_writes_total", {}).items():
        delta = value - before.get("berth_api_writes_total", {}).get(labels, 0.0)
        if delta:
            parts = dict(p.split("=", 1) for p in labels.split(","))
            result[f"{parts['verb'].strip(chr(34))} {parts['kind'].strip(chr(34))}"] = delta
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


# -- the run -------------------------------------------------------------------------------


def run(args: argparse.Namespace, operator: Operator) -> dict[str, Any]:
    n = args.workloads
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    timeout = max(300.0, n * 0.8)
    result: dict[str, Any] = {
        "workloads": n,
        "machine": {
            "cpus": os.cpu_count(),
            "load_at_start": os.getloadavg(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
    api = Api()
    nodes = api.list("/api/v1/nodes")["items"]
    capacity = sum(count(node["status"]["allocatable"].get("pods", "0")) for node in nodes)
    if capacity < n + 50:
        raise SystemExit(
            f"the cluster takes {capacity} Pods, {n} are needed: start it with "
            "BERTH_PROFILE=bench (hack/cluster.sh) or more BERTH_NODES"
        )
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    ensure_environment_gone(api)
    for ns in (FLOOR_NS, BERTH_NS):
        ensure_namespace_gone(api, ns, timeout)

    # 1. the floor
    if not args.skip_floor:
        log(f"floor: rendering {n} Workloads' manifests...")
        check_render_matches_cli(out)
        manifests = floor_manifests(n)
        listing = out / "floor.json"
        listing.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}))
        kubectl("create", "namespace", FLOOR_NS)
        tracker = Tracker(api, f"/apis/apps/v1/namespaces/{FLOOR_NS}/deployments", deployment_marks)
        tracker.start()
        log(f"floor: applying {len(manifests)} objects with one kubectl call...")
        start = time.monotonic()
        kubectl("apply", "--server-side", "--field-manager=bench-floor", "-f", str(listing))
        applied = time.monotonic() - start
        done = tracker.wait_count(lambda m: m == ("done", "0"), n, timeout)
        tracker.stop()
        result["floor"] = {"seconds": done - start, "apply_seconds": applied}
        log(f"floor: {done - start:.1f} s (the kubectl apply: {applied:.1f} s)")
        ensure_namespace_gone(api, FLOOR_NS, timeout)

    # 2. Berth at its defaults
    operator.start("first")
    cpu0, rss0 = proc_stats(operator.pid)
    kubectl("apply", "-f", "-", stdin=json.dumps(environment(BERTH_NS)))
    kubectl("wait", "--for=condition=Ready", f"environment/{BERTH_NS}", "--timeout=120s")
    workloads = Tracker(
        api, f"/apis/berth.dev/v1alpha1/namespaces/{BERTH_NS}/workloads", workload_marks
    )
    deployments = Tracker(api, f"/apis/apps/v1/namespaces/{BERTH_NS}/deployments", deployment_marks)
    workloads.start()
    deployments.start()
    listing = out / "workloads.json"
    listing.write_text(
        json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": [workload(BERTH_NS, i) for i in range(n)]}
        )
    )
    before = operator.metrics()
    log(f"berth: applying {n} Workloads with one kubectl call...")
    start = time.monotonic()
    kubectl("apply", "--server-side", "--field-manager=bench", "-f", str(listing))
    applied = time.monotonic() - start
    done = workloads.wait_count(lambda m: m == ("ready", 1), n, timeout)
    ready_seconds = done - start
    time.sleep(2)  # the last writes (an Event after the status) land
    after = operator.metrics()
    cpu1, rss1 = proc_stats(operator.pid)
    writes = total(after, "berth_api_writes_total") - total(before, "berth_api_writes_total")
    result["berth"] = {
        "seconds": ready_seconds,
        "apply_seconds": applied,
        "writes": writes,
        "writes_per_workload": writes / n,
        "writes_by_kind": {k: v / n for k, v in writes_by_kind(after, before).items()},
        "reconciles_per_workload": (
            total(after, "berth_reconciles_total", 'kind="workload"')
            - total(before, "berth_reconciles_total", 'kind="workload"')
        )
        / n,
        "throttled": {k: v for k, v in after.get("berth_api_throttled_total", {}).items() if v},
        "concurrency_limit_at_end": total(after, "berth_api_concurrency_limit"),
        "cpu_seconds": cpu1 - cpu0,
        "rss_mib_empty": rss0,
        "rss_mib": rss1,
        "rss_kib_per_workload": (rss1 - rss0) * 1024 / n,
    }
    log(f"berth: {ready_seconds:.1f} s, {writes / n:.2f} writes per Workload, RSS {rss1:.0f} MiB")

    # 3. edits under a steady stream
    edits: list[tuple[str, int, float]] = []
    if args.edits:
        names = random.Random(7).sample(range(n), min(args.edits, n))
        log(f"edits: {len(names)} edits at {args.edit_rate}/s with {n} Workloads present...")
        before_edits = operator.metrics()
        start = time.monotonic()
        for k, i in enumerate(names):
            due = start + k / args.edit_rate
            time.sleep(max(0.0, due - time.monotonic()))
            name = f"w{i:05d}"
            patch = {"spec": {"containers": {"main": {"variables": {"REV": str(k + 1)}}}}}
            sent = time.monotonic()
            answer = api.call(
                "PATCH",
                f"/apis/berth.dev/v1alpha1/namespaces/{BERTH_NS}/workloads/{name}",
                body=patch,
                content_type="application/merge-patch+json",
            )
            edits.append((name, int(answer["metadata"]["generation"]), sent))
        latencies, rollouts, overheads = [], [], []
        deadline = time.monotonic() + timeout
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
        time.sleep(2)
        after_edits = operator.metrics()
        edit_writes = total(after_edits, "berth_api_writes_total") - total(
            before_edits, "berth_api_writes_total"
        )
        result["edits"] = {
            "count": len(edits),
            "rate_per_second": args.edit_rate,
            "to_ready_p50": percentile(latencies, 50),
            "to_ready_p99": percentile(latencies, 99),
            "rollout_p50": percentile(rollouts, 50),
            "rollout_p99": percentile(rollouts, 99),
            "berth_p50": percentile(overheads, 50),
            "berth_p99": percentile(overheads, 99),
            "writes_per_edit": edit_writes / len(edits),
            "writes_by_kind": {
                k: v / len(edits) for k, v in writes_by_kind(after_edits, before_edits).items()
            },
        }
        log(
            f"edits: to Ready p50 {percentile(latencies, 50):.2f} s, p99 "
            f"{percentile(latencies, 99):.2f} s; rollout p50 {percentile(rollouts, 50):.2f} s"
        )
    workloads.stop()
    deployments.stop()

    # 4. idle
    log(f"idle: {args.idle:.0f} s...")
    time.sleep(3)
    idle_before = operator.metrics()
    cpu_a, _ = proc_stats(operator.pid)
    time.sleep(args.idle)
    cpu_b, rss_idle = proc_stats(operator.pid)
    idle_after = operator.metrics()
    result["idle"] = {
        "seconds": args.idle,
        "cpu_percent": (cpu_b - cpu_a) / args.idle * 100,
        "writes": total(idle_after, "berth_api_writes_total")
        - total(idle_before, "berth_api_writes_total"),
        "writes_by_kind": writes_by_kind(idle_after, idle_before),
        "reconciles": total(idle_after, "berth_reconciles_total")
        - total(idle_before, "berth_reconciles_total"),
        "rss_mib": rss_idle,
    }

    # 5. restart into N unchanged Workloads
    operator.stop()
    start = time.monotonic()
    api.list(f"/apis/berth.dev/v1alpha1/namespaces/{BERTH_NS}/workloads")
    list_workloads = time.monotonic() - start
    for path in (
        f"/apis/apps/v1/namespaces/{BERTH_NS}/deployments",
        f"/api/v1/namespaces/{BERTH_NS}/services",
        f"/api/v1/namespaces/{BERTH_NS}/configmaps",
    ):
        api.list(path, labelSelector="app.kubernetes.io/managed-by=berth,berth.dev/workload")
    list_all = time.monotonic() - start
    log(f"restart: listing took {list_workloads:.2f} s (with children {list_all:.2f} s)")
    operator.start("restart")
    up = time.monotonic() - operator.started
    cpu_r0, _ = proc_stats(operator.pid)
    deadline = time.monotonic() + timeout
    while True:
        metrics = operator.metrics()
        if total(metrics, "berth_reconciles_total", 'kind="workload"') >= n:
            settled = time.monotonic() - operator.started
            break
        if time.monotonic() > deadline:
            raise SystemExit("the restarted operator did not reconcile every Workload in time")
        time.sleep(0.1)
    cpu_r1, rss_r = proc_stats(operator.pid)
    time.sleep(5)
    metrics = operator.metrics()
    result["restart"] = {
        "settled_seconds": settled,
        "metrics_up_seconds": up,
        "list_workloads_seconds": list_workloads,
        "list_with_children_seconds": list_all,
        "writes": total(metrics, "berth_api_writes_total"),
        "writes_by_kind": writes_by_kind(metrics, {}),
        "cpu_seconds": cpu_r1 - cpu_r0,
        "rss_mib": rss_r,
    }
    resync = 300.0
    result["idle"]["cpu_percent_with_resync_estimate"] = (
        result["idle"]["cpu_percent"] + (cpu_r1 - cpu_r0) / resync * 100
    )
    result["machine"]["load_at_end"] = os.getloadavg()
    save(result, out)
    if not args.keep:
        # While the operator runs, so that it lets its Environment go (finalizer); the
        # next run clears what is left.
        subprocess.run(
            [
                str(REPO / ".bin" / "kubectl"),
                "--kubeconfig",
                str(KUBECONFIG),
                "delete",
                "environment",
                BERTH_NS,
                "--ignore-not-found",
                "--timeout=60s",
            ],
            capture_output=True,
        )
        kubectl("delete", "namespace", BERTH_NS, "--ignore-not-found", "--wait=false")
    operator.stop()
    return result


def save(result: dict[str, Any], out: Path) -> Path:
    """The table and the JSON, written as soon as the figures are in."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = out / f"bench-{result['workloads']}-{stamp}"
    base.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    base.with_suffix(".md").write_text(table(result))
    return base


def table(result: dict[str, Any]) -> str:
    n = result["workloads"]
    rows: list[tuple[str, str, str, str]] = []
    floor = result.get("floor", {}).get("seconds")
    berth = result["berth"]

    def ratio(value: float | None, base: float | None) -> str:
        return f"{value / base:.2f}" if value and base else "—"

    rows.append(
        (
            f"{n} Workloads: nothing to all Ready",
            f"{floor:.1f} s" if floor else "—",
            f"{berth['seconds']:.1f} s",
            ratio(berth["seconds"], floor),
        )
    )
    kinds = ", ".join(f"{k} {v:.2f}" for k, v in berth["writes_by_kind"].items())
    rows.append(
        (
            "API writes per Workload until Ready",
            "3 (applies)",
            f"{berth['writes_per_workload']:.2f} ({kinds})",
            "",
        )
    )
    rows.append(
        ("reconciles per Workload until Ready", "", f"{berth['reconciles_per_workload']:.2f}", "")
    )
    throttled = ", ".join(f"{k} {v:.0f}" for k, v in berth["throttled"].items()) or "none"
    rows.append(
        (
            "throttling signals; concurrency limit at end",
            "",
            f"{throttled}; {berth['concurrency_limit_at_end']:.0f}",
            "",
        )
    )
    if "edits" in result:
        e = result["edits"]
        rows.append(
            (
                f"edit → observedGeneration and Ready, p50 / p99 "
                f"({e['count']} edits at {e['rate_per_second']:g}/s)",
                f"rollout alone {e['rollout_p50']:.2f} / {e['rollout_p99']:.2f} s",
                f"{e['to_ready_p50']:.2f} / {e['to_ready_p99']:.2f} s",
                f"Berth's part {e['berth_p50']:.2f} / {e['berth_p99']:.2f} s",
            )
        )
        rows.append(("API writes per edit", "1 (apply)", f"{e['writes_per_edit']:.2f}", ""))
    r = result["restart"]
    rows.append(
        (
            f"restart into {n} unchanged Workloads: settled",
            f"list {r['list_workloads_seconds']:.2f} s "
            f"(with children {r['list_with_children_seconds']:.2f} s)",
            f"{r['settled_seconds']:.2f} s (metrics up at {r['metrics_up_seconds']:.2f} s)",
            ratio(r["settled_seconds"], r["list_with_children_seconds"]),
        )
    )
    rows.append(("API writes after the restart", "0", f"{r['writes']:.0f}", ""))
    rows.append(
        (
            "operator RSS: empty / N Ready / after restart",
            "",
            f"{berth['rss_mib_empty']:.0f} / {berth['rss_mib']:.0f} / {r['rss_mib']:.0f} MiB",
            f"{berth['rss_kib_per_workload']:.1f} KiB per Workload",
        )
    )
    i = result["idle"]
    rows.append(
        (
            f"idle {i['seconds']:.0f} s: CPU, writes",
            "",
            f"{i['cpu_percent']:.2f} % of a core, {i['writes']:.0f} writes"
            + (f" ({_kinds(i['writes_by_kind'])})" if i.get("writes_by_kind") else "")
            + f", {i['reconciles']:.0f} reconciles",
            f"with a resync every 300 s, at most ~{i['cpu_percent_with_resync_estimate']:.2f} %"
            " (a restart's CPU as the pass)",
        )
    )
    m = result["machine"]
    header = (
        f"Berth bench, {n} Workloads, {m['started']}; {m['cpus']} CPUs, load average "
        f"{m['load_at_start'][0]:.1f} at start, {m.get('load_at_end', [0])[0]:.1f} at end\n\n"
    )
    lines = ["| measure | floor | Berth | ratio / note |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return header + "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
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
    parser.add_argument("--out", type=Path, default=REPO / ".cluster" / "bench-results")
    parser.add_argument("--keep", action="store_true", help="leave the bench's objects")
    parser.add_argument(
        "--keep-cluster", action="store_true", help="leave the bench cluster running"
    )
    args = parser.parse_args()
    if not (REPO / ".bin" / "kubectl").exists():
        print("no tools: run `make tools` first", file=sys.stderr)
        return 2
    cluster("up")
    args.out.mkdir(parents=True, exist_ok=True)
    operator = Operator(args.out, args.operator_arg or [], profile=args.profile)
    try:
        result = run(args, operator)
    finally:
        operator.stop()  # whatever happened: never an operator left behind
        if not args.keep_cluster:
            cluster("down")
    print(table(result))
    print(f"(also in {args.out}/bench-{result['workloads']}-*.md and .json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
