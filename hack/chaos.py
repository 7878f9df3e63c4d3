"""Chaos run: Workloads with claims, the operator SIGKILLed, the API server stopped.

On a cluster of its own (hack/cluster.sh, name berth-chaos, state in .cluster/chaos), with
the test-only composer (tests/composer.py) playing Crossplane, it:

1. creates N Workloads with postgres claims in two Environments (deletionPolicy Delete and
   Retain), pairs of them sharing a claim by id, while SIGKILLing the operator;
2. kills the operator in the window between creating a claim and recording it in a
   status (the test-only BERTH_TEST_EXIT_AFTER_CLAIM crash point), then deletes that
   Workload and changes another one's id while the operator is down;
3. changes a third of the Workloads — ids, classes, params, images — with more kills;
4. kills the kube-apiserver, keeps it down, starts it again the way kwokctl does
   (`kwokctl start cluster` starts the components that are not running), and changes
   Workloads right after;
5. deletes half of the Workloads, with more kills;

then checks: every Workload converged, no duplicate children, one claim per identity,
no claim that no Workload asks for (Delete), nothing lost that Retain protects, no
finalizer stuck, no write while idle. Prints a table and a JSON document (also written to
--json). Bounded by --timeout; not part of `make test`.

Usage: .venv/bin/python hack/chaos.py [--workloads N] [--kills K] [--seed S] [--timeout S]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
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

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "operator"))

from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402
from tests.composer import EXAMPLE_KINDS, TestOnlyComposer  # noqa: E402

from berth.provision.identity import identities_of_spec  # noqa: E402

CLUSTER = "berth-chaos"
STATE = REPO / ".cluster" / "chaos"
KUBECONFIG = STATE / "kubeconfig"
BIN = REPO / ".bin"
GROUP, VERSION = "berth.dev", "v1alpha1"
CLAIM = ("platform.acme.dev", "v1alpha1", "postgresqlinstances")
NS_DELETE, NS_RETAIN = "chaos-delete", "chaos-retain"
RESYNC = 10.0
EXIT_AFTER_CLAIM = "BERTH_TEST_EXIT_AFTER_CLAIM"


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the operator ---------------------------------------------------------------------------


@dataclass
class Operator:
    """`python -m berth run`, started and SIGKILLed by pid, restarted on a new log."""

    starts: int = 0
    kills: int = 0
    crash_exits: int = 0
    process: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    logs: list[Path] = field(default_factory=list)

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        self.starts += 1
        self.metrics_port, health = free_port(), free_port()
        log_path = STATE / f"operator-{self.starts:02d}.log"
        self.logs.append(log_path)
        # Through tests.statuscheck (`berth run` with its status writes checked): the
        # test-only crash point (EXIT_AFTER_CLAIM) lives there, not in the operator.
        violations = log_path.with_suffix(".status-violations")
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "BERTH_TEST_STATUS_VIOLATIONS": str(violations),
            **(extra_env or {}),
        }
        for name in ("KUBECONFIG", "BERTH_NAMESPACES"):
            env.pop(name, None)
        if not extra_env:
            env.pop(EXIT_AFTER_CLAIM, None)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.statuscheck",
                    "run",
                    "--kubeconfig",
                    str(KUBECONFIG),
                    "--metrics-port",
                    str(self.metrics_port),
                    "--health-port",
                    str(health),
                    "--resync",
                    str(RESYNC),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return  # exited (a crash point, or an error the log tells)
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"the operator was not healthy in 60s; see {log_path}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def metrics(self) -> dict[str, float]:
        """Every berth_* sample by its name with labels, and each name's total."""
        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5)
            .read()
            .decode()
        )
        totals: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("berth_") and not line.startswith("#"):
                sample, value = line.rsplit(" ", 1)
                name = sample.split("{", 1)[0]
                if not name.endswith("_created"):
                    totals[name] = totals.get(name, 0.0) + float(value)
                    totals[sample] = float(value)
        return totals

    def tracebacks(self) -> int:
        return sum(p.read_text(errors="replace").count("Traceback") for p in self.logs)


# -- the cluster ----------------------------------------------------------------------------


def cluster_env() -> dict[str, str]:
    return {**os.environ, "BERTH_CLUSTER_NAME": CLUSTER, "BERTH_CLUSTER_DIR": str(STATE)}


def cluster(action: str) -> None:
    subprocess.run([str(REPO / "hack" / "cluster.sh"), action], env=cluster_env(), check=True)


def kubectl(*args: str) -> str:
    proc = subprocess.run(
        [str(BIN / "kubectl"), "--kubeconfig", str(KUBECONFIG), *args],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def apiserver_pid_file() -> Path:
    pids = STATE / "kwok" / "clusters" / CLUSTER / "pids"
    return pids / "kube-apiserver.pid"


def apiserver_ready() -> bool:
    proc = subprocess.run(
        [
            str(BIN / "kubectl"),
            "--kubeconfig",
            str(KUBECONFIG),
            "--request-timeout=2s",
            "get",
            "--raw",
            "/readyz",
        ],
        capture_output=True,
    )
    return proc.returncode == 0


class Aborted(Exception):
    """The run cannot go on (its cluster broke in a way the run did not intend)."""


def apiserver_port() -> int:
    text = (STATE / "kwok" / "clusters" / CLUSTER / "kwok.yaml").read_text()
    found = re.search(r"kubeApiserverPort:\s*(\d+)", text)
    return int(found.group(1)) if found else 0


def port_owner(port: int) -> str:
    """Who listens on a loopback port (another local cluster may have taken it while the
    API server was down: kwokctl picks ports from one shared range)."""
    proc = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    return f"{port} held by {proc.stdout.strip() or 'nobody (the API server failed to start)'}"


def stop_apiserver() -> int:
    pid = int(apiserver_pid_file().read_text().strip())
    os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    return pid


def start_apiserver() -> None:
    # kwokctl starts the components whose pid file names no running process.
    env = cluster_env()
    env["KWOK_WORKDIR"] = str(STATE / "kwok")
    env["KWOK_KUBECTL_BINARY"] = str(BIN / "kubectl")
    env["PATH"] = f"{BIN}:{env['PATH']}"
    subprocess.run(
        [str(BIN / "kwokctl"), "--name", CLUSTER, "start", "cluster"],
        env=env,
        check=True,
        capture_output=True,
    )


# -- the objects ----------------------------------------------------------------------------


def provisioners() -> list[dict[str, Any]]:
    doc = yaml.safe_load((REPO / "examples/provisioners/environment.yaml").read_text())
    return [p for p in doc["spec"]["provisioners"] if p["name"] in ("postgres", "postgres-large")]


def environment(name: str, policy: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": {
            "type": "development",
            "namespace": name,
            "deletionPolicy": policy,
            "defaults": {"replicas": 1},
            "policy": {"allowedRegistries": ["registry.acme.dev/"], "maxReplicas": 3},
            "provisioners": provisioners(),
        },
    }


@dataclass
class Spec:
    """What the run wants of one Workload."""

    namespace: str
    name: str
    id: str | None = None
    klass: str | None = None
    storage: int = 10
    image: str = "1.0"

    def body(self) -> dict[str, Any]:
        db: dict[str, Any] = {"type": "postgres", "params": {"storageGB": self.storage}}
        if self.id:
            db["id"] = self.id
        if self.klass:
            db["class"] = self.klass
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Workload",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "containers": {
                    "main": {
                        "image": f"registry.acme.dev/app:{self.image}",
                        "variables": {
                            "DB_HOST": "${resources.db.host}",
                            "DB_PASSWORD": "${resources.db.password}",
                        },
                    }
                },
                "service": {"ports": {"web": {"port": 80, "targetPort": 8080}}},
                "resources": {"db": db},
            },
        }


class World:
    """The API through the official client: what the run arranges and inspects."""

    def __init__(self) -> None:
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(config_file=str(KUBECONFIG), client_configuration=configuration)
        configuration.retries = 0
        self.api = k8s.ApiClient(configuration)
        self.custom = k8s.CustomObjectsApi(self.api)
        self.core = k8s.CoreV1Api(self.api)
        self.apps = k8s.AppsV1Api(self.api)

    def retrying(self, call: Callable[[], Any], tries: int = 30) -> Any:
        for attempt in range(tries):
            try:
                return call()
            except ApiException as err:
                if err.status in (409, 500, 503, 504, 429) and attempt < tries - 1:
                    time.sleep(0.5)
                    continue
                raise
            except Exception:  # the API server is down for a moment
                if attempt == tries - 1:
                    raise
                time.sleep(1)
        return None

    def apply_workload(self, spec: Spec) -> None:
        body = spec.body()

        def put() -> None:
            try:
                current = self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, spec.namespace, "workloads", spec.name
                )
            except ApiException as err:
                if err.status != 404:
                    raise
                self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, spec.namespace, "workloads", body
                )
                return
            current["spec"] = body["spec"]
            self.custom.replace_namespaced_custom_object(
                GROUP, VERSION, spec.namespace, "workloads", spec.name, current
            )

        self.retrying(put)

    def delete_workload(self, namespace: str, name: str) -> None:
        def delete() -> None:
            try:
                self.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, "workloads", name
                )
            except ApiException as err:
                if err.status != 404:
                    raise

        self.retrying(delete)

    def workloads(self, namespace: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.retrying(
            lambda: self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "workloads"
            )["items"]
        )
        return items

    def claims(self, namespace: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.retrying(
            lambda: self.custom.list_namespaced_custom_object(
                CLAIM[0], CLAIM[1], namespace, CLAIM[2]
            )["items"]
        )
        return items


def converged(body: dict[str, Any]) -> bool:
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"].get("generation"):
        return False
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
    return bool(ready and ready["status"] == "True")


# -- the run --------------------------------------------------------------------------------


@dataclass
class Run:
    args: argparse.Namespace
    world: World
    operator: Operator
    rng: random.Random
    deadline: Deadline
    specs: dict[tuple[str, str], Spec] = field(default_factory=dict)
    retained_uids: dict[str, str] = field(default_factory=dict)  # uid -> claim name
    phases: list[dict[str, Any]] = field(default_factory=list)
    outage: dict[str, float] = field(default_factory=dict)
    kills_planned: int = 0
    settle_s: float = 0.0

    @contextlib.contextmanager
    def phase(self, name: str, kills: int) -> Iterator[None]:
        """Run the body (which changes objects) while SIGKILLing the operator ``kills``
        times at random moments, then wait until everything converged."""
        say(f"phase {name}: {kills} operator kills")
        started = time.monotonic()
        stop = threading.Event()
        done_kills = [0]

        def killer() -> None:
            for _ in range(kills):
                if stop.wait(self.rng.uniform(1.0, 6.0)):
                    break
                self.operator.kill()
                done_kills[0] += 1
                time.sleep(self.rng.uniform(0.2, 1.5))  # down for a moment
                self.operator.start()

        thread = threading.Thread(target=killer, name=f"killer-{name}")
        thread.start()
        try:
            yield
            while thread.is_alive() and done_kills[0] < kills:
                time.sleep(0.2)  # let every planned kill happen within the phase
        finally:
            stop.set()
            thread.join()
        if not self.operator.alive():
            self.operator.start()
        waited = self.wait_converged(name)
        self.phases.append(
            {
                "phase": name,
                "kills": done_kills[0],
                "seconds": round(time.monotonic() - started, 1),
                "converged_after_s": waited,
            }
        )
        self.record_retained()

    def wait_converged(self, name: str) -> float | None:
        """Until every wanted Workload is converged and every unwanted one is gone."""
        started = time.monotonic()
        while self.deadline.left() > 0:
            if self.all_converged():
                return round(time.monotonic() - started, 1)
            time.sleep(1)
        say(f"phase {name}: NOT converged before the deadline")
        return None

    def all_converged(self) -> bool:
        for namespace in (NS_DELETE, NS_RETAIN):
            bodies = {w["metadata"]["name"]: w for w in self.world.workloads(namespace)}
            wanted = {n for (ns, n) in self.specs if ns == namespace}
            if set(bodies) != wanted:
                return False
            if not all(converged(bodies[n]) for n in wanted):
                return False
        return True

    def record_retained(self) -> None:
        for claim in self.world.claims(NS_RETAIN):
            self.retained_uids[claim["metadata"]["uid"]] = claim["metadata"]["name"]

    # -- steps --------------------------------------------------------------------------

    def rollout(self) -> None:
        n = self.args.workloads
        for i in range(n):
            pair = i // 2
            namespace = NS_RETAIN if pair % 4 == 3 else NS_DELETE
            spec = Spec(namespace, f"w{i:03d}")
            if pair % 3 == 0:  # a pair sharing one claim
                spec.id = f"s{pair}"
            self.specs[(namespace, spec.name)] = spec
        with self.phase("rollout", self.share(0.4)):
            for spec in list(self.specs.values()):
                self.world.apply_workload(spec)
                time.sleep(self.rng.uniform(0.0, 0.15))

    def crash_window(self) -> None:
        """The operator dies right after creating a claim, before recording it."""
        say("phase crash-window: the operator exits right after creating a claim")
        started = time.monotonic()
        exits = 0
        for attempt in range(2):
            self.operator.kill()
            self.operator.start({EXIT_AFTER_CLAIM: "1"})
            name = f"crash{attempt}"
            spec = Spec(NS_DELETE, name, id=f"c{attempt}" if attempt else None)
            self.world.apply_workload(spec)
            deadline = time.monotonic() + 60
            while self.operator.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.operator.process is not None and self.operator.process.returncode == 99:
                exits += 1
                self.operator.crash_exits += 1
            else:
                self.operator.kill()
            if attempt == 0:
                # Deleted while the operator is down: its claim is in no status.
                self.world.delete_workload(NS_DELETE, name)
            else:
                # Its id changed while the operator is down: the claim of the old id is
                # in no status either.
                spec.id = "c-moved"
                self.world.apply_workload(spec)
                self.specs[(NS_DELETE, name)] = spec
            self.operator.start()
        waited = self.wait_converged("crash-window")
        self.phases.append(
            {
                "phase": "crash-window",
                "kills": exits,
                "seconds": round(time.monotonic() - started, 1),
                "converged_after_s": waited,
            }
        )

    def change(self) -> None:
        chosen = self.rng.sample(sorted(self.specs), max(1, len(self.specs) // 3))
        with self.phase("change", self.share(0.3)):
            for key in chosen:
                spec = self.specs[key]
                what = self.rng.choice(["id", "class", "params", "image"])
                if what == "id":
                    # Every sharer of the old id moves with it (no conflict is made here).
                    old = spec.id
                    new = f"m{self.rng.randrange(10**6)}"
                    for other in self.specs.values():
                        if other.namespace == spec.namespace and old and other.id == old:
                            other.id = new
                            self.world.apply_workload(other)
                    if not old:
                        spec.id = new
                        self.world.apply_workload(spec)
                elif what == "class":
                    for other in self.sharers(spec):
                        other.klass = "large" if other.klass is None else None
                        self.world.apply_workload(other)
                elif what == "params":
                    for other in self.sharers(spec):
                        other.storage += 5
                        self.world.apply_workload(other)
                else:
                    spec.image = f"1.{self.rng.randrange(1, 100)}"
                    self.world.apply_workload(spec)
                time.sleep(self.rng.uniform(0.0, 0.3))

    def sharers(self, spec: Spec) -> list[Spec]:
        if spec.id is None:
            return [spec]
        return [
            o
            for o in self.specs.values()
            if o.namespace == spec.namespace and o.id == spec.id and o.klass == spec.klass
        ]

    def apiserver_outage(self) -> None:
        seconds = self.args.outage
        say(f"phase apiserver-outage: kube-apiserver killed for {seconds:.0f}s")
        started = time.monotonic()
        stop_apiserver()
        time.sleep(seconds)
        start_apiserver()
        back_by = time.monotonic() + 90
        while not apiserver_ready():
            if time.monotonic() > back_by:
                raise Aborted(
                    "the kube-apiserver did not come back within 90s of its restart; "
                    f"its port: {port_owner(apiserver_port())}"
                )
            time.sleep(0.2)
        self.outage = {
            "down_s": seconds,
            "restart_s": round(time.monotonic() - started - seconds, 1),
        }
        # Changes right after: the operator must have reconnected by itself to see them.
        for key in self.rng.sample(sorted(self.specs), max(1, len(self.specs) // 8)):
            spec = self.specs[key]
            spec.image = f"2.{self.rng.randrange(1, 100)}"
            self.world.apply_workload(spec)
        waited = self.wait_converged("apiserver-outage")
        self.phases.append(
            {
                "phase": "apiserver-outage",
                "kills": 0,
                "seconds": round(time.monotonic() - started, 1),
                "converged_after_s": waited,
            }
        )

    def delete_half(self) -> None:
        chosen = self.rng.sample(sorted(self.specs), len(self.specs) // 2)
        with self.phase("deletion", self.args.kills - self.kills_planned):
            for key in chosen:
                del self.specs[key]
                self.world.delete_workload(*key)
                time.sleep(self.rng.uniform(0.0, 0.2))

    def run_all(self) -> bool:
        self.rollout()
        self.crash_window()
        self.change()
        self.apiserver_outage()
        self.delete_half()
        return True

    def share(self, fraction: float) -> int:
        kills = round(self.args.kills * fraction)
        kills = min(kills, self.args.kills - self.kills_planned)
        self.kills_planned += kills
        return kills


# -- the checks -----------------------------------------------------------------------------


def check(run: Run) -> list[dict[str, Any]]:
    world = run.world
    rows: list[dict[str, Any]] = []

    def row(name: str, expected: Any, observed: Any, ok: bool) -> None:
        rows.append({"check": name, "expected": expected, "observed": observed, "ok": ok})

    bodies = {
        (ns, w["metadata"]["name"]): w for ns in (NS_DELETE, NS_RETAIN) for w in world.workloads(ns)
    }
    done = sum(1 for key in run.specs if key in bodies and converged(bodies[key]))
    row(
        "Workloads converged (Ready, current generation)",
        f"{len(run.specs)}/{len(run.specs)}",
        f"{done}/{len(run.specs)}",
        done == len(run.specs),
    )
    stuck = [k for k, b in bodies.items() if b["metadata"].get("deletionTimestamp")]
    extra = [k for k in bodies if k not in run.specs]
    row(
        "finalizers stuck (deleted Workloads still there)",
        0,
        len(stuck) + len(extra),
        not stuck and not extra,
    )

    duplicates = 0
    orphans = 0
    for namespace in (NS_DELETE, NS_RETAIN):
        for kind, lister in (
            ("Deployment", world.apps.list_namespaced_deployment),
            ("Service", world.core.list_namespaced_service),
            ("ConfigMap", world.core.list_namespaced_config_map),
        ):
            items = world.retrying(
                lambda lister=lister, namespace=namespace: (
                    lister(namespace, label_selector="berth.dev/workload,!berth.dev/resource").items
                )
            )
            owners: dict[str, int] = {}
            for item in items:
                owner = item.metadata.labels["berth.dev/workload"]
                if (namespace, owner) not in run.specs:
                    orphans += 1
                elif kind != "ConfigMap":
                    owners[owner] = owners.get(owner, 0) + 1
            duplicates += sum(count - 1 for count in owners.values() if count > 1)
    row("duplicate children", 0, duplicates, duplicates == 0)
    row("children of deleted Workloads left", 0, orphans, orphans == 0)

    # Claims are named by identity; the identity label says which resource each one is.
    per_identity: dict[tuple[str, str], int] = {}
    for namespace in (NS_DELETE, NS_RETAIN):
        for claim in world.claims(namespace):
            label = (claim["metadata"].get("labels") or {}).get("berth.dev/resource", "")
            per_identity[(namespace, label)] = per_identity.get((namespace, label), 0) + 1
    doubled = sum(n - 1 for n in per_identity.values() if n > 1)
    row("claims beyond one per identity", 0, doubled, doubled == 0)

    missing = 0
    wrong_ref = 0
    unasked: list[str] = []
    for namespace in (NS_DELETE, NS_RETAIN):
        asked: set[str] = set()
        for key, body in bodies.items():
            if key[0] != namespace or key not in run.specs:
                continue
            identity = identities_of_spec(key[1], body.get("spec"))["db"]
            asked.add(identity)
            entry = next(
                (e for e in (body.get("status") or {}).get("resources") or [] if e["name"] == "db"),
                {},
            )
            if (entry.get("claim") or {}).get("name") != identity:
                wrong_ref += 1
        existing = {c["metadata"]["name"] for c in world.claims(namespace)}
        missing += len(asked - existing)
        if namespace == NS_DELETE:
            unasked = sorted(existing - asked)
    row("claims missing (an identity asked for, no claim)", 0, missing, missing == 0)
    row("status entries naming another claim", 0, wrong_ref, wrong_ref == 0)
    row("claims no Workload asks for (Delete)", 0, len(unasked), not unasked)
    kept = {c["metadata"]["uid"] for c in world.claims(NS_RETAIN)}
    lost = [name for uid, name in run.retained_uids.items() if uid not in kept]
    row(
        "Retain: claims lost",
        f"0 of {len(run.retained_uids)}",
        f"{len(lost)} of {len(run.retained_uids)}",
        not lost,
    )

    # Idle: once the last effects of the run are written (Pods becoming available change
    # a status once more), nothing changes: across two resyncs and more, no write.
    settle_started = time.monotonic()
    last = run.operator.metrics().get("berth_api_writes_total", 0)
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < RESYNC and time.monotonic() - settle_started < 90:
        time.sleep(1)
        now = run.operator.metrics().get("berth_api_writes_total", 0)
        if now != last:
            last, quiet_since = now, time.monotonic()
    run.settle_s = round(time.monotonic() - settle_started, 1)
    before = run.operator.metrics()
    time.sleep(run.args.idle)
    after = run.operator.metrics()
    writes = after.get("berth_api_writes_total", 0) - before.get("berth_api_writes_total", 0)
    reconciles = after.get("berth_reconciles_total", 0) - before.get("berth_reconciles_total", 0)
    which = sorted(
        f"{k.split('{', 1)[1].rstrip('}')}: {after[k] - before.get(k, 0):.0f}"
        for k in after
        if k.startswith("berth_api_writes_total{") and after[k] != before.get(k, 0)
    )
    row(
        f"API writes while idle ({run.args.idle:.0f}s, resync {RESYNC:.0f}s)",
        0,
        int(writes),
        writes == 0,
    )
    if which:
        rows[-1]["which"] = which
    rows.append(
        {
            "check": "reconciles while idle (information)",
            "expected": "-",
            "observed": int(reconciles),
            "ok": True,
        }
    )
    tracebacks = run.operator.tracebacks()
    row("tracebacks in the operator's logs", 0, tracebacks, tracebacks == 0)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    width = max(len(r["check"]) for r in rows)
    lines = [f"{'check':<{width}}  {'expected':>10}  {'observed':>10}  ok", "-" * (width + 30)]
    for r in rows:
        mark = "yes" if r["ok"] else "NO"
        lines.append(f"{r['check']:<{width}}  {r['expected']!s:>10}  {r['observed']!s:>10}  {mark}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--workloads", type=int, default=40, help="Workloads to create (default 40)"
    )
    parser.add_argument(
        "--kills", type=int, default=12, help="operator SIGKILLs in all (default 12)"
    )
    parser.add_argument("--outage", type=float, default=20.0, help="API server down for (s)")
    parser.add_argument("--idle", type=float, default=2.5 * RESYNC, help="idle window checked (s)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--timeout", type=float, default=1500.0, help="bound on the whole run (s)")
    parser.add_argument("--json", type=Path, default=STATE / "chaos.json", help="JSON result file")
    parser.add_argument(
        "--keep-cluster", action="store_true", help="leave the chaos cluster up at the end"
    )
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    started = time.monotonic()
    STATE.mkdir(parents=True, exist_ok=True)
    say(f"seed {seed}; cluster {CLUSTER} in {STATE}")
    cluster("up")
    operator = Operator()
    composer_stop = threading.Event()
    try:
        kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            str(REPO / "crds"),
            "-f",
            str(REPO / "examples/claim-crds"),
        )
        kubectl("wait", "--for=condition=Established", "crd", "--all")
        world = World()
        composer = TestOnlyComposer(world.api, EXAMPLE_KINDS)

        def compose() -> None:  # survives the API server's outage
            while not composer_stop.is_set():
                with contextlib.suppress(Exception):
                    composer._run()
                composer_stop.wait(1)

        composer._stop = composer_stop
        threading.Thread(target=compose, name="composer", daemon=True).start()
        for namespace, policy in ((NS_DELETE, "Delete"), (NS_RETAIN, "Retain")):
            with contextlib.suppress(ApiException):
                world.core.create_namespace({"metadata": {"name": namespace}})
            with contextlib.suppress(ApiException):
                world.custom.create_cluster_custom_object(
                    GROUP, VERSION, "environments", environment(namespace, policy)
                )
        operator.start()
        run = Run(args, world, operator, random.Random(seed), Deadline(args.timeout))
        try:
            rows = check(run) if run.run_all() else []
        except Aborted as err:
            say(f"ABORTED: {err}")
            return 2
        result = {
            "seed": seed,
            "workloads": args.workloads,
            "operator_sigkills": operator.kills,
            "crash_window_exits": operator.crash_exits,
            "apiserver_outage": run.outage,
            "settled_before_idle_s": run.settle_s,
            "phases": run.phases,
            "checks": rows,
            "ok": all(r["ok"] for r in rows),
            "seconds": round(time.monotonic() - started, 1),
        }
        print(table(rows))
        print()
        phases = ", ".join(
            f"{p['phase']} {p['kills']} kills {p['converged_after_s']}s" for p in run.phases
        )
        print(f"phases: {phases}")
        print(json.dumps(result, indent=2))
        args.json.write_text(json.dumps(result, indent=2))
        return 0 if result["ok"] else 1
    finally:
        composer_stop.set()
        operator.stop()
        if not args.keep_cluster:
            cluster("down")


if __name__ == "__main__":
    sys.exit(main())
