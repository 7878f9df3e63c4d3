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
finalizer stuck, no write while idle, every status write as the CRD declares it; and,
beside them (hack/chaos_bystanders.py), a Workload whose children someone made and
labelled as Berth's (NameTaken, never written over, owned or deleted) and one whose child
the API server refuses (sent once per operator process, never while idle). The operator
runs with the chart's own rights (tests/chartrbac.py). Prints a
table and a JSON document (also written to --json). Bounded by --timeout; not part of
`make test`. The operator runs as the e2e tests run it (tests/operatorharness.py: `python
-m tests.statuscheck run`, status writes checked).

Usage (from the repository's root): .venv/bin/python -m hack.chaos [--workloads N]
[--kills K] [--seed S] [--timeout S]; or `make chaos CHAOS_ARGS="..."`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from tests import chartrbac
from tests.clusterharness import (
    BIN_DIR,
    REPO_ROOT,
    ClusterAccess,
    ClusterUnavailable,
    KubectlFailed,
    LocalCluster,
)
from tests.composer import EXAMPLE_KINDS, TestOnlyComposer
from tests.operatorharness import (
    Metrics,
    OperatorExited,
    OperatorProcess,
    label_text,
    start_operator,
)

from berth.provision.identity import identities_of_spec
from hack.chaos_bystanders import NAMES as BYSTANDERS
from hack.chaos_bystanders import Bystanders

CLUSTER = LocalCluster("berth-chaos", REPO_ROOT / ".cluster" / "chaos")
STATE = CLUSTER.directory
GROUP, VERSION = "berth.dev", "v1alpha1"
CLAIM = ("platform.acme.dev", "v1alpha1", "postgresqlinstances")
NS_DELETE, NS_RETAIN = "chaos-delete", "chaos-retain"
RESYNC = 10.0
EXIT_AFTER_CLAIM = "BERTH_TEST_EXIT_AFTER_CLAIM"
# kube-controller-manager's and kube-scheduler's default --leader-elect-renew-deadline.
LEADER_RENEW_DEADLINE = 10.0
GARBAGE_COLLECTED_WITHIN = 60.0
CRASH_EXIT_CODE = 99
WRITES = "berth_api_writes_total"


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


# -- the operator ---------------------------------------------------------------------------


@dataclass
class Operator:
    """The operator under chaos (tests/operatorharness.py), SIGKILLed by pid, restarted on
    a new log each time."""

    kubeconfig: Path
    starts: int = 0
    kills: int = 0
    crash_exits: int = 0
    running: OperatorProcess | None = None
    logs: list[Path] = field(default_factory=list)

    def start(self, *, crash_after_claim: bool = False) -> None:
        """Start it and wait until it is healthy — or has exited (the crash point, or an
        error its log tells)."""
        self.starts += 1
        log_path = STATE / f"operator-{self.starts:02d}.log"
        self.logs.append(log_path)
        self.running = start_operator(
            self.kubeconfig,
            log_path,
            *("--resync", str(RESYNC)),
            env={EXIT_AFTER_CLAIM: "1"} if crash_after_claim else None,
            unset=() if crash_after_claim else (EXIT_AFTER_CLAIM,),
            wait_for=None,
        )
        with contextlib.suppress(OperatorExited):
            self.running.wait_answering("/healthz")

    def alive(self) -> bool:
        return self.running is not None and self.running.alive()

    def exit_code(self) -> int | None:
        return None if self.running is None else self.running.process.poll()

    def kill(self) -> None:
        if self.running is not None and self.running.alive():
            self.running.kill()
            self.kills += 1

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()

    def metrics(self) -> Metrics:
        assert self.running is not None
        return self.running.metrics()

    def tracebacks(self) -> int:
        return sum(p.read_text(errors="replace").count("Traceback") for p in self.logs)

    def status_violations(self) -> list[str]:
        """Status writes the CRD's model does not declare, as tests/statuscheck.py
        recorded them beside each log."""
        files = [p.with_suffix(".status-violations") for p in self.logs]
        return [line for f in files if f.exists() for line in f.read_text().splitlines()]


# -- the cluster ----------------------------------------------------------------------------


class Aborted(Exception):
    """The run cannot go on (its cluster broke in a way the run did not intend)."""


def kwok_dir() -> Path:
    return STATE / "kwok" / "clusters" / CLUSTER.name


def apiserver_port() -> int:
    text = (kwok_dir() / "kwok.yaml").read_text()
    found = re.search(r"kubeApiserverPort:\s*(\d+)", text)
    return int(found.group(1)) if found else 0


def port_owner(port: int) -> str:
    """Who listens on a loopback port (another local cluster may have taken it while the
    API server was down: kwokctl picks ports from one shared range)."""
    proc = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    return f"{port} held by {proc.stdout.strip() or 'nobody (the API server failed to start)'}"


def stop_apiserver() -> int:
    pid = int((kwok_dir() / "pids" / "kube-apiserver.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    return pid


def dead_components() -> list[str]:
    """The control plane's processes whose pid file names no running process."""
    dead = []
    for pid_file in sorted((kwok_dir() / "pids").glob("*.pid")):
        try:
            os.kill(int(pid_file.read_text().strip()), 0)
        except ProcessLookupError:
            dead.append(pid_file.stem)
    return dead


def start_apiserver() -> None:
    # kwokctl starts the components whose pid file names no running process.
    env = CLUSTER.env()
    env["KWOK_WORKDIR"] = str(STATE / "kwok")
    env["KWOK_KUBECTL_BINARY"] = str(BIN_DIR / "kubectl")
    env["PATH"] = f"{BIN_DIR}:{env['PATH']}"
    subprocess.run(
        [str(BIN_DIR / "kwokctl"), "--name", CLUSTER.name, "start", "cluster"],
        env=env,
        check=True,
        capture_output=True,
    )


# -- the objects ----------------------------------------------------------------------------


def provisioners() -> list[dict[str, Any]]:
    doc = yaml.safe_load((REPO_ROOT / "examples/provisioners/environment.yaml").read_text())
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

    def __init__(self, kubeconfig: Path) -> None:
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
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
    cluster: ClusterAccess
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
    # Workloads that must never converge: spoofed labels, a refused child.
    bystanders: Bystanders | None = None

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
            bodies = {
                w["metadata"]["name"]: w
                for w in self.world.workloads(namespace)
                if w["metadata"]["name"] not in BYSTANDERS  # never converge: checked apart
            }
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
            self.operator.start(crash_after_claim=True)
            name = f"crash{attempt}"
            spec = Spec(NS_DELETE, name, id=f"c{attempt}" if attempt else None)
            self.world.apply_workload(spec)
            deadline = time.monotonic() + 60
            while self.operator.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.operator.exit_code() == CRASH_EXIT_CODE:
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
        if self.bystanders is not None:  # its count starts from 0 again after the restart
            self.bystanders.count_refused()
        stop_apiserver()
        time.sleep(seconds)
        start_apiserver()
        self.wait_apiserver_ready()
        if self.bystanders is not None:
            self.bystanders.count_refused()
        self.outage = {
            "down_s": seconds,
            "restart_s": round(time.monotonic() - started - seconds, 1),
        }
        self.restart_leaderless(killed_at=started)
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

    def wait_apiserver_ready(self) -> None:
        back_by = time.monotonic() + 90
        while not self.cluster.succeeds("--request-timeout=2s", "get", "--raw", "/readyz"):
            if time.monotonic() > back_by:
                raise Aborted(
                    "the kube-apiserver did not come back within 90s of its restart; "
                    f"its port: {port_owner(apiserver_port())}"
                )
            time.sleep(0.2)

    def restart_leaderless(self, killed_at: float) -> None:
        """kube-controller-manager and kube-scheduler exit when they cannot renew their
        leader Lease within its renew deadline. After a short outage that happens once
        kwokctl has already started the API server again, and nothing would start them:
        start again whatever exited, until the deadline has passed since the kill with
        every component running."""
        restarts = 0
        while True:
            dead = dead_components()
            if not dead:
                if time.monotonic() - killed_at > LEADER_RENEW_DEADLINE + 5:
                    return
                time.sleep(0.5)
                continue
            if restarts == 3:
                raise Aborted(f"the control plane's {', '.join(dead)} keep exiting")
            restarts += 1
            say(f"phase apiserver-outage: {', '.join(dead)} exited; starting it again")
            start_apiserver()
            self.wait_apiserver_ready()

    def delete_half(self) -> None:
        chosen = self.rng.sample(sorted(self.specs), len(self.specs) // 2)
        with self.phase("deletion", self.args.kills - self.kills_planned):
            for key in chosen:
                del self.specs[key]
                self.world.delete_workload(*key)
                time.sleep(self.rng.uniform(0.0, 0.2))

    def run_all(self) -> bool:
        self.bystanders = Bystanders(self.cluster, NS_DELETE)
        self.bystanders.arrange(self.world.custom, self.operator.starts)
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


Row = Callable[[str, Any, Any, bool], None]
Bodies = dict[tuple[str, str], dict[str, Any]]


def check(run: Run) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def row(name: str, expected: Any, observed: Any, ok: bool) -> None:
        rows.append({"check": name, "expected": expected, "observed": observed, "ok": ok})

    bodies = {
        (ns, w["metadata"]["name"]): w
        for ns in (NS_DELETE, NS_RETAIN)
        for w in run.world.workloads(ns)
        if w["metadata"]["name"] not in BYSTANDERS
    }
    check_workloads(run, bodies, row)
    check_children(run, row)
    check_claims(run, bodies, row)
    idle_resends = check_idle(run, rows, row)
    if run.bystanders is not None:
        run.bystanders.check(run.world.custom, run.operator.starts, idle_resends, row)
    tracebacks = run.operator.tracebacks()
    row("tracebacks in the operator's logs", 0, tracebacks, tracebacks == 0)
    violations = run.operator.status_violations()
    row("status writes the CRD does not declare", 0, len(violations), not violations)
    if violations:
        rows[-1]["which"] = violations[:10]
    return rows


def check_workloads(run: Run, bodies: Bodies, row: Row) -> None:
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


def check_children(run: Run, row: Row) -> None:
    # A deleted Workload's children go through the garbage collector (ownerReferences),
    # which lags for a while after an API server outage (kube-controller-manager
    # rediscovers the resources first): it gets a bounded time, as it would in a cluster.
    started = time.monotonic()
    duplicates, orphans = count_children(run)
    while orphans and time.monotonic() - started < GARBAGE_COLLECTED_WITHIN:
        time.sleep(1)
        duplicates, orphans = count_children(run)
    row("duplicate children", 0, duplicates, duplicates == 0)
    row("children of deleted Workloads left", 0, orphans, orphans == 0)
    gc_waited = round(time.monotonic() - started, 1)
    if gc_waited >= 1:
        say(f"checks: the garbage collector took {gc_waited}s for the deleted Workloads")


def count_children(run: Run) -> tuple[int, int]:
    """(Children beyond one of a kind per Workload, children of no wanted Workload)."""
    world = run.world
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
                if owner in BYSTANDERS:
                    continue  # checked on their own (hack/chaos_bystanders.py)
                if (namespace, owner) not in run.specs:
                    orphans += 1
                elif kind != "ConfigMap":
                    owners[owner] = owners.get(owner, 0) + 1
            duplicates += sum(count - 1 for count in owners.values() if count > 1)
    return duplicates, orphans


def check_claims(run: Run, bodies: Bodies, row: Row) -> None:
    world = run.world
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


def check_idle(run: Run, rows: list[dict[str, Any]], row: Row) -> float:
    """No write while idle; returns how often the refused child was sent meanwhile."""
    # Idle: once the last effects of the run are written (Pods becoming available change
    # a status once more), nothing changes: across two resyncs and more, no write.
    settle_started = time.monotonic()
    last = run.operator.metrics().total(WRITES)
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < RESYNC and time.monotonic() - settle_started < 90:
        time.sleep(1)
        now = run.operator.metrics().total(WRITES)
        if now != last:
            last, quiet_since = now, time.monotonic()
    run.settle_s = round(time.monotonic() - settle_started, 1)
    before = run.operator.metrics()
    refused_before = run.bystanders.refused_count() if run.bystanders else 0.0
    time.sleep(run.args.idle)
    after = run.operator.metrics()
    refused_after = run.bystanders.refused_count() if run.bystanders else 0.0
    writes = after.total(WRITES) - before.total(WRITES)
    reconciles = after.total("berth_reconciles_total") - before.total("berth_reconciles_total")
    which = sorted(
        f"{label_text(labels)}: {delta:.0f}"
        for labels, delta in after.increase(before, WRITES).items()
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
    return refused_after - refused_before


def table(rows: list[dict[str, Any]]) -> str:
    width = max(len(r["check"]) for r in rows)
    lines = [f"{'check':<{width}}  {'expected':>10}  {'observed':>10}  ok", "-" * (width + 30)]
    for r in rows:
        mark = "yes" if r["ok"] else "NO"
        lines.append(f"{r['check']:<{width}}  {r['expected']!s:>10}  {r['observed']!s:>10}  {mark}")
    return "\n".join(lines)


# -- the whole ------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hack.chaos",
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
    return parser.parse_args()


def prepare(cluster: ClusterAccess) -> World:
    """The CRDs (Berth's and the example claims'), and the two Environments."""
    cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        str(REPO_ROOT / "crds"),
        "-f",
        str(REPO_ROOT / "examples/claim-crds"),
    )
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all")
    world = World(cluster.kubeconfig)
    for namespace, policy in ((NS_DELETE, "Delete"), (NS_RETAIN, "Retain")):
        with contextlib.suppress(ApiException):
            world.core.create_namespace({"metadata": {"name": namespace}})
        with contextlib.suppress(ApiException):
            world.custom.create_cluster_custom_object(
                GROUP, VERSION, "environments", environment(namespace, policy)
            )
    return world


def start_composer(world: World, stop: threading.Event) -> None:
    """Crossplane's part, in a thread that survives the API server's outage."""
    composer = TestOnlyComposer(world.api, EXAMPLE_KINDS)

    def compose() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                composer._run()
            stop.wait(1)

    composer._stop = stop
    threading.Thread(target=compose, name="composer", daemon=True).start()


def report(run: Run, rows: list[dict[str, Any]], seed: int, started: float) -> bool:
    result = {
        "seed": seed,
        "workloads": run.args.workloads,
        "operator_sigkills": run.operator.kills,
        "crash_window_exits": run.operator.crash_exits,
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
    run.args.json.write_text(json.dumps(result, indent=2))
    return bool(result["ok"])


def main() -> int:
    args = arguments()
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    started = time.monotonic()
    STATE.mkdir(parents=True, exist_ok=True)
    say(f"seed {seed}; cluster {CLUSTER.name} in {STATE}")
    composer_stop = threading.Event()
    operator: Operator | None = None
    try:
        CLUSTER.up(quiet=False)
        cluster = CLUSTER.access(started_here=True)
        world = prepare(cluster)
        start_composer(world, composer_stop)
        # The operator runs with the chart's rights (its ServiceAccount's token), as it
        # would installed: a verb the chart lacks shows here too.
        rights = chartrbac.grant(cluster, STATE, chartrbac.DEFAULT_VALUES, prefix="berth-chaos")
        operator = Operator(rights.kubeconfig)
        operator.start()
        run = Run(args, cluster, world, operator, random.Random(seed), Deadline(args.timeout))
        rows = check(run) if run.run_all() else []
        return 0 if report(run, rows, seed, started) else 1
    except (Aborted, ClusterUnavailable, KubectlFailed) as err:
        say(f"ABORTED: {err}")
        return 2
    finally:
        composer_stop.set()
        if operator is not None:
            operator.stop()
        if not args.keep_cluster:
            CLUSTER.down(quiet=False)


if __name__ == "__main__":
    sys.exit(main())
