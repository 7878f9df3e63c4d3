"""Sharded replicas (--shards) on the real API server: every replica works, each on the
Workloads of the shards whose Lease it holds, and no Workload ever has two writers.

Two replicas share four shards; a third joins (the others keep running, unrestarted) and
takes its fair share; one is SIGKILLed and its shards are taken over within the lease
duration. Rollouts run while the shards move. Every replica logs each write of its
reconciles (``--log-writes``: object, time it took, shard) and each shard it acquired or
released; all replicas run on this machine, so their log times share one clock. From
those logs the test proves that

- a replica wrote only for a shard while it held that shard's Lease (between its
  "acquired" and its "released" — or its death), and
- for every object, the writes of two replicas never overlap: one replica's last write
  was answered before the next replica's first write was sent.
"""

from __future__ import annotations

import datetime
import itertools
import re
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from berth.coordination.shards import shard_of
from berth.names import PREVIEW_EDITOR_ROLE, PREVIEW_REQUESTER_ROLE, SHARD_BUCKET_LABEL
from berth.render.labels import shard_bucket
from tests.chartrbac import DEFAULT_VALUES
from tests.clusterharness import ClusterAccess
from tests.e2e.conftest import ChartRights, OperatorProcess, start_operator
from tests.e2e.test_claims_reliability import paused
from tests.e2e.test_rbac import (
    RBAC_KINDS,
    ChartRbac,
    apply_docs,
    delete_cluster_scoped,
    helm_template,
    refusals,
    run_kubectl,
    token_kubeconfig,
)
from tests.kubeutil import Berth, environment_body, settles, wait_for, workload_body
from tests.previewkit import Previews, app_workload, base_environment, preview_body

SHARDS = 4
LEASE = 6  # --shard-lease-duration here (the default is 15): renew deadline 4 s, retry 0.8 s
TAKEOVER_BOUND = LEASE + 6  # the manual promises the lease duration plus a few seconds
NAMESPACES = 8  # two per shard
PER_NAMESPACE = 4  # 32 Workloads
HELD = "berth_shards_held"
RESYNC = 600
# The chart's rights with sharding.enabled: the shard Leases' Role besides the defaults.
SHARDING_VALUES = {
    **DEFAULT_VALUES,
    "sharding": {"enabled": True, "shards": SHARDS, "leaseDuration": LEASE},
}
LOG_TICK = 0.001  # the log's timestamps are cut to the millisecond
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")
WRITE = re.compile(r"write (\w+) (\S+) rv=\S* took=([\d.]+)s shard=(\d+) by ")
ACQUIRED = re.compile(r"sharding: acquired shard (\d+)")
RELEASED = re.compile(r"sharding: released shard (\d+)")
# A replica that could not renew in time: its writes stopped at the time it names.
DROPPED = re.compile(
    r"sharding: stopped writing for shard (\d+) "
    r"\(no write since (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\)"
)


@dataclass
class Replica:
    name: str
    process: OperatorProcess
    killed_at: float | None = None

    def held(self) -> int:
        return int(self.process.metric(HELD))


@dataclass
class Tenure:
    replica: str
    start: float
    end: float = float("inf")
    # How long after ``end`` a write sent before it may still be answered. A released
    # shard: none (the Lease is cleared only once no reconcile of it runs). A dropped one
    # (its Lease not renewed in time): the gate closed at ``end``, but another replica may
    # take the shard only once the last renewal has aged a full lease duration, which is
    # a third of it later; a write answered before then overlapped no other holder.
    grace: float = 0.0


@dataclass
class Write:
    replica: str
    shard: int
    obj: str
    sent: float
    answered: float


@dataclass
class Journal:
    tenures: dict[int, list[Tenure]] = field(default_factory=lambda: defaultdict(list))
    writes: list[Write] = field(default_factory=list)


def stamp_time(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def log_time(line: str) -> float | None:
    found = LOG_TIME.match(line)
    return None if found is None else stamp_time(found.group(1))


def read_journal(replicas: list[Replica]) -> Journal:
    journal = Journal()
    for replica in replicas:
        open_tenures: dict[int, Tenure] = {}
        for line in replica.process.log_path.read_text(errors="replace").splitlines():
            at = log_time(line)
            if at is None:
                continue
            if found := ACQUIRED.search(line):
                shard = int(found.group(1))
                assert shard not in open_tenures, f"{replica.name} acquired shard {shard} twice"
                open_tenures[shard] = Tenure(replica.name, at)
                journal.tenures[shard].append(open_tenures[shard])
            elif found := RELEASED.search(line):
                tenure = open_tenures.pop(int(found.group(1)), None)
                if tenure is not None:
                    tenure.end = at
            elif found := DROPPED.search(line):
                tenure = open_tenures.pop(int(found.group(1)), None)
                if tenure is not None:
                    tenure.end = stamp_time(found.group(2))
                    tenure.grace = LEASE / 3
            elif found := WRITE.search(line):
                obj = found.group(2).removesuffix("/status")
                took = float(found.group(3))
                # Sent: "took" before the answer, and a log tick earlier still, so
                # that two writers' windows err towards overlapping.
                journal.writes.append(
                    Write(replica.name, int(found.group(4)), obj, at - took - LOG_TICK, at)
                )
        for tenure in open_tenures.values():
            if replica.killed_at is not None:
                tenure.end = replica.killed_at
    return journal


NAMESPACED = re.compile(r"/namespaces/([^/]+)")
ENVIRONMENT = re.compile(r"/environments/([^/]+)")


def namespace_of(path: str) -> str | None:
    """The namespace an object written belongs to, for sharding: its own; a Namespace's
    name; an Environment's name (here always its namespace's). None for the Events of
    Environments, which go to "default"."""
    if found := ENVIRONMENT.search(path):
        return found.group(1)
    found = NAMESPACED.search(path)
    if found is None or found.group(1) == "default":
        return None
    return found.group(1)


def check_journal(journal: Journal) -> tuple[int, int]:
    """Assert the two properties of the module docstring; (writes, hand-overs) seen."""
    for shard, tenures in journal.tenures.items():
        ordered = sorted(tenures, key=lambda t: t.start)
        for before, after in itertools.pairwise(ordered):
            assert before.end <= after.start, (
                f"shard {shard}: {after.replica} acquired it at {after.start:.3f} while "
                f"{before.replica} held it (until {before.end:.3f})"
            )
    for write in journal.writes:
        # The shard a write was made for is the shard of the object's namespace.
        home = namespace_of(write.obj)
        assert home is None or shard_of(home, SHARDS) == write.shard, (
            f"{write.replica} wrote {write.obj} (namespace {home}) as shard {write.shard}"
        )
        assert any(
            t.replica == write.replica
            # Both stamps are log times, cut to the millisecond, and "sent" was moved a
            # tick earlier: a write within two ticks of its acquisition is not before it.
            and t.start <= write.sent + 2 * LOG_TICK
            and write.sent <= t.end
            and write.answered <= t.end + t.grace
            for t in journal.tenures[write.shard]
        ), f"{write.replica} wrote {write.obj} for shard {write.shard} without holding it"
    by_object: dict[str, list[Write]] = defaultdict(list)
    for write in journal.writes:
        by_object[write.obj].append(write)
    handovers = 0
    for obj, writes in by_object.items():
        writes.sort(key=lambda w: w.sent)
        last_of: dict[str, float] = {}
        current = writes[0].replica
        for write in writes:
            if write.replica != current:
                handovers += 1
                previous_end = last_of[current]
                assert previous_end <= write.sent, (
                    f"{obj}: {write.replica} wrote at {write.sent:.3f} while {current}'s "
                    f"write was answered only at {previous_end:.3f}"
                )
                current = write.replica
            last_of[write.replica] = max(last_of.get(write.replica, 0.0), write.answered)
    return len(journal.writes), handovers


def namespaces_covering_every_shard(prefix: str) -> list[str]:
    """NAMESPACES names, NAMESPACES // SHARDS in each shard."""
    wanted = NAMESPACES // SHARDS
    found: dict[int, list[str]] = defaultdict(list)
    i = 0
    while sum(len(v) for v in found.values()) < NAMESPACES:
        name = f"{prefix}-s{i}"
        shard = shard_of(name, SHARDS)
        if len(found[shard]) < wanted:
            found[shard].append(name)
        i += 1
    return sorted(n for names in found.values() for n in names)


def start_replica(
    cluster: ClusterAccess, rights: ChartRights, lease_namespace: str, name: str
) -> Replica:
    """A sharded replica, with the chart's rights when sharding.enabled (its Lease Role in
    ``lease_namespace``, the release's)."""
    # A resync far beyond any test here: a Workload whose edit came while another replica
    # held its shard is reconciled on takeover only because a shard gained is queued.
    process = start_operator(
        rights(SHARDING_VALUES, namespace=lease_namespace),
        cluster.kubeconfig.parent / f"operator-shard-{lease_namespace}-{name}.log",
        RESYNC,
        "--shards",
        str(SHARDS),
        "--shard-namespace",
        lease_namespace,
        "--shard-lease-duration",
        str(LEASE),
        "--log-writes",
    )
    return Replica(name, process)


def all_rolled_out(berth: Berth, namespaces: list[str], image: str) -> bool:
    return all(
        berth.rolled_out(namespace, f"app{i}", image)
        for namespace in namespaces
        for i in range(PER_NAMESPACE)
    )


def set_image(berth: Berth, namespaces: list[str], image: str) -> None:
    for namespace in namespaces:
        for i in range(PER_NAMESPACE):
            berth.patch_workload(
                namespace, f"app{i}", {"spec": {"containers": {"main": {"image": image}}}}
            )


def has_service_account(berth: Berth, namespace: str) -> bool:
    # Pods need the namespace's default ServiceAccount, which appears asynchronously.
    found = berth.core.list_namespaced_service_account(
        namespace, field_selector="metadata.name=default"
    )
    return bool(found.items)


def held_by(replicas: list[Replica]) -> dict[str, int]:
    return {r.name: r.held() for r in replicas if r.killed_at is None}


def populate(berth: Berth, shard_namespaces: list[str]) -> None:
    """An Environment per namespace, PER_NAMESPACE Workloads in each, all Ready."""
    for ns in shard_namespaces:
        berth.create_environment(environment_body(ns, ns))
    for ns in shard_namespaces:
        wait_for(partial(has_service_account, berth, ns), 30, f"namespace {ns} ready")
        for i in range(PER_NAMESPACE):
            berth.create_workload(ns, workload_body(f"app{i}"))
    wait_for(
        lambda: all_rolled_out(berth, shard_namespaces, "registry.acme.dev/app:1.0"),
        120,
        "every Workload Ready",
    )


def teardown(berth: Berth, shard_namespaces: list[str], replicas: list[Replica]) -> None:
    """Workloads and Environments carry finalizers: gone while replicas still run."""
    for r in replicas:
        if r.killed_at is None:
            r.process.process.send_signal(signal.SIGCONT)  # should a test have paused one
    for ns in shard_namespaces:
        for i in range(PER_NAMESPACE):
            berth.delete_workload(ns, f"app{i}")
    for ns in shard_namespaces:
        berth.delete_environment(ns)
    try:
        wait_for(
            lambda: (
                not any(
                    berth.custom.list_namespaced_custom_object(
                        "berth.dev", "v1alpha1", ns, "workloads"
                    )["items"]
                    for ns in shard_namespaces
                )
            ),
            60,
            "the Workloads to be gone",
        )
    finally:
        for r in replicas:
            if r.killed_at is None:
                r.process.stop()


def write_lines(replica: Replica) -> int:
    return sum(
        1
        for line in replica.process.log_path.read_text(errors="replace").splitlines()
        if WRITE.search(line)
    )


@pytest.fixture
def shard_namespaces(api: ApiClient, berth: Berth, namespace: str) -> Iterator[list[str]]:
    names = namespaces_covering_every_shard(namespace)
    yield names
    core = k8s.CoreV1Api(api)
    for name in names:
        berth.delete_environment(name)
        try:
            core.delete_namespace(name)
        except ApiException as err:
            if err.status != 404:
                raise


def test_replicas_share_the_workloads_by_shard_and_never_write_the_same_one(
    cluster: ClusterAccess,
    berth: Berth,
    namespace: str,
    operator: OperatorProcess,
    chart_rights: ChartRights,
    shard_namespaces: list[str],
) -> None:
    replicas: list[Replica] = []
    with paused(operator):
        try:
            replicas.append(start_replica(cluster, chart_rights, namespace, "a"))
            replicas.append(start_replica(cluster, chart_rights, namespace, "b"))
            wait_for(
                lambda: held_by(replicas) == {"a": 2, "b": 2},
                3 * LEASE,
                "two replicas to hold two shards each",
            )
            populate(berth, shard_namespaces)
            assert all(r.process.metric("berth_shard_writes_total") > 0 for r in replicas)

            # A third replica joins during a rollout; the others keep running.
            set_image(berth, shard_namespaces, "registry.acme.dev/app:2.0")
            pids = {r.name: r.process.process.pid for r in replicas}
            replicas.append(start_replica(cluster, chart_rights, namespace, "c"))
            wait_for(
                lambda: sorted(held_by(replicas).values()) == [1, 1, 2],
                4 * LEASE,
                "the third replica to take its share (2, 1, 1)",
            )
            assert all(r.process.process.poll() is None for r in replicas)
            assert {r.name: r.process.process.pid for r in replicas[:2]} == pids
            wait_for(
                lambda: all_rolled_out(berth, shard_namespaces, "registry.acme.dev/app:2.0"),
                120,
                "every Workload rolled out to 2.0 while the shards moved",
            )
            # The newcomer works its share: the next rollout of its Workloads is its own.
            set_image(berth, shard_namespaces, "registry.acme.dev/app:2.1")
            wait_for(
                lambda: all_rolled_out(berth, shard_namespaces, "registry.acme.dev/app:2.1"),
                120,
                "every Workload rolled out to 2.1 with three replicas",
            )
            assert replicas[2].process.metric("berth_shard_writes_total") > 0

            # The replica with the most shards is SIGKILLed in the middle of a rollout.
            victim = max(replicas, key=lambda r: r.held())
            set_image(berth, shard_namespaces, "registry.acme.dev/app:3.0")
            victim.process.process.send_signal(signal.SIGKILL)
            victim.process.process.wait()
            victim.killed_at = time.time()
            wait_for(
                lambda: sorted(held_by(replicas).values()) == [2, 2],
                3 * TAKEOVER_BOUND,
                "the survivors to take the dead replica's shards",
            )
            takeover = time.time() - victim.killed_at
            wait_for(
                lambda: all_rolled_out(berth, shard_namespaces, "registry.acme.dev/app:3.0"),
                120,
                "every Workload rolled out to 3.0 after the kill",
            )
            print(f"\nsharding: the dead replica's shards were held again {takeover:.1f}s later")
            assert takeover <= TAKEOVER_BOUND, f"takeover took {takeover:.1f}s"

            writes, handovers = check_journal(read_journal(replicas))
            print(f"sharding: {writes} writes checked, {handovers} hand-overs between replicas")
            assert handovers > 0, "no object changed hands: the test proved nothing"
        finally:
            teardown(berth, shard_namespaces, replicas)


def test_a_stalled_replica_writes_nothing_once_its_shards_could_have_moved(
    cluster: ClusterAccess,
    berth: Berth,
    namespace: str,
    operator: OperatorProcess,
    chart_rights: ChartRights,
    shard_namespaces: list[str],
) -> None:
    """A replica frozen (SIGSTOP: a long GC pause, a starved or partitioned process) past
    its renew deadline: the other takes its shards once their Leases expire and rolls its
    Workloads out; thawed, the frozen one finds it holds nothing, writes nothing for the
    shards it had, and gets its share back by the rules."""
    replicas: list[Replica] = []
    with paused(operator):
        try:
            replicas.append(start_replica(cluster, chart_rights, namespace, "a"))
            replicas.append(start_replica(cluster, chart_rights, namespace, "b"))
            frozen, other = replicas
            wait_for(lambda: held_by(replicas) == {"a": 2, "b": 2}, 3 * LEASE, "a 2/2 split")
            populate(berth, shard_namespaces)
            # Frozen while idle, so that no request of its own is in flight.
            quiet = settles(partial(write_lines, frozen), 2, 60, "the replica's writes")
            frozen.process.process.send_signal(signal.SIGSTOP)
            set_image(berth, shard_namespaces, "registry.acme.dev/app:2.0")
            wait_for(lambda: other.held() == SHARDS, 3 * TAKEOVER_BOUND, "the takeover")
            wait_for(
                lambda: all_rolled_out(berth, shard_namespaces, "registry.acme.dev/app:2.0"),
                120,
                "the rollout, by the other replica alone",
            )
            assert write_lines(frozen) == quiet
            frozen.process.process.send_signal(signal.SIGCONT)
            wait_for(
                lambda: "stopped writing for shard" in frozen.process.log_path.read_text(),
                3 * LEASE,
                "the thawed replica to notice it holds nothing",
            )
            wait_for(lambda: held_by(replicas) == {"a": 2, "b": 2}, 6 * LEASE, "a 2/2 split again")
            set_image(berth, shard_namespaces, "registry.acme.dev/app:2.1")
            wait_for(
                lambda: all_rolled_out(berth, shard_namespaces, "registry.acme.dev/app:2.1"),
                120,
                "the next rollout, by both",
            )
            assert write_lines(frozen) > quiet
            writes, handovers = check_journal(read_journal(replicas))
            print(f"\nsharding, stalled replica: {writes} writes, {handovers} hand-overs")
            assert handovers > 0
        finally:
            teardown(berth, shard_namespaces, replicas)


def test_the_shard_leases_say_who_holds_what(
    cluster: ClusterAccess,
    api: ApiClient,
    namespace: str,
    operator: OperatorProcess,
    chart_rights: ChartRights,
) -> None:
    """A replica stopped cleanly hands its shards over at once: it clears its Leases'
    holder and removes its membership, so the other takes them without waiting for the
    lease to expire."""
    coordination = k8s.CoordinationV1Api(api)
    with paused(operator):
        a = start_replica(cluster, chart_rights, namespace, "a")
        b: Replica | None = None
        try:
            wait_for(lambda: a.held() == SHARDS, 3 * LEASE, "one replica to hold every shard")
            leases = coordination.list_namespaced_lease(namespace).items
            shard_leases = [
                lease
                for lease in leases
                if (lease.metadata.labels or {}).get("berth.dev/shard-lease") == "shard"
            ]
            assert sorted(lease.metadata.name for lease in shard_leases) == [
                f"berth-shard-{i}" for i in range(SHARDS)
            ]
            holders = {lease.spec.holder_identity for lease in shard_leases}
            assert len(holders) == 1
            assert None not in holders
            assert all(lease.spec.lease_duration_seconds == LEASE for lease in shard_leases)

            b = start_replica(cluster, chart_rights, namespace, "b")
            wait_for(lambda: (a.held(), b.held()) == (2, 2), 4 * LEASE, "a fair split")
            a.process.stop()
            stopped = time.monotonic()
            wait_for(lambda: b.held() == SHARDS, LEASE, "the other to take every shard")
            # Well within the lease duration: nothing had to expire.
            assert time.monotonic() - stopped < LEASE
            members = [
                lease
                for lease in coordination.list_namespaced_lease(namespace).items
                if (lease.metadata.labels or {}).get("berth.dev/shard-lease") == "member"
            ]
            assert len(members) == 1
        finally:
            a.process.stop()
            if b is not None:
                b.process.stop()


def test_shards_and_peering_exclude_each_other(cluster: ClusterAccess, tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "berth",
            "run",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--shards",
            "2",
            "--peering",
            "berth",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--shards and --peering exclude each other" in result.stderr


def test_the_journal_check_catches_two_writers() -> None:
    """The check above is not vacuous: overlapping writers, a write outside a tenure and a
    write under the wrong shard each fail it (a made-up journal; no cluster needed)."""
    ns = "team-x"
    shard = shard_of(ns, SHARDS)
    obj = f"/apis/apps/v1/namespaces/{ns}/deployments/app"

    def journal(*writes: Write, tenures: list[Tenure]) -> Journal:
        made = Journal()
        made.tenures[shard] = tenures
        made.writes = list(writes)
        return made

    clean = journal(
        Write("a", shard, obj, 1.0, 1.2),
        Write("b", shard, obj, 5.0, 5.1),
        tenures=[Tenure("a", 0.0, 2.0), Tenure("b", 4.0)],
    )
    assert check_journal(clean) == (2, 1)
    with pytest.raises(AssertionError, match="while a held it"):
        check_journal(journal(tenures=[Tenure("a", 0.0, 5.0), Tenure("b", 4.0)]))
    with pytest.raises(AssertionError, match="without holding it"):
        check_journal(journal(Write("a", shard, obj, 2.5, 2.6), tenures=[Tenure("a", 0.0, 2.0)]))
    with pytest.raises(AssertionError, match="as shard"):
        check_journal(journal(Write("a", (shard + 1) % SHARDS, obj, 1.0, 1.1), tenures=[]))
    # Sent before a dropped tenure's gate closed: answered within the grace is fine, past
    # it (another may hold the shard by then) is not; a released tenure has no grace.
    in_flight = Write("a", shard, obj, 1.9, 2.0 + LEASE / 3 - 0.1)
    assert check_journal(journal(in_flight, tenures=[Tenure("a", 0.0, 2.0, LEASE / 3)]))
    late = Write("a", shard, obj, 1.9, 2.0 + LEASE / 3 + 0.1)
    with pytest.raises(AssertionError, match="without holding it"):
        check_journal(journal(late, tenures=[Tenure("a", 0.0, 2.0, LEASE / 3)]))
    with pytest.raises(AssertionError, match="without holding it"):
        check_journal(journal(in_flight, tenures=[Tenure("a", 0.0, 2.0)]))
    # Within the logs' resolution of the acquisition is not before it; beyond, it is.
    assert check_journal(journal(Write("a", shard, obj, 0.999, 1.1), tenures=[Tenure("a", 1.0)]))
    with pytest.raises(AssertionError, match="without holding it"):
        check_journal(journal(Write("a", shard, obj, 0.99, 1.1), tenures=[Tenure("a", 1.0)]))
    overlapping = journal(
        Write("a", shard, obj, 1.0, 4.5),
        Write("b", shard, obj, 4.2, 4.3),
        tenures=[Tenure("a", 0.0, 4.6), Tenure("b", 4.1)],
    )
    with pytest.raises(AssertionError, match="while a held it"):
        check_journal(overlapping)


def test_a_sharded_replica_needs_only_the_charts_rbac(
    cluster: ClusterAccess,
    api: ApiClient,
    berth: Berth,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    """The chart with sharding.enabled: its ServiceAccount's token runs a sharded replica
    that takes every shard and brings a Workload to Ready, refused nothing; and the Lease
    rights are those verbs, in the release's namespace only."""
    release = f"berth-shard-rbac-{uuid.uuid4().hex[:6]}"
    core = k8s.CoreV1Api(api)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=release)))
    values = {"sharding": {"enabled": True, "shards": 2, "leaseDuration": LEASE}}
    docs = [d for d in helm_template(tmp_path, release, release, values) if d["kind"] in RBAC_KINDS]
    workload_ns = f"{release}-wl"
    replica: OperatorProcess | None = None
    try:
        # The operator's, and five for people (previews: two; promotion: three).
        assert sorted(d["kind"] for d in docs) == [
            "ClusterRole",  # the operator's
            "ClusterRole",  # preview editors'
            "ClusterRole",  # preview requesters'
            "ClusterRole",  # promotion approvers'
            "ClusterRole",  # promoters'
            "ClusterRole",  # Environment viewers'
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "ServiceAccount",
        ]
        (sa,) = [d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"]
        apply_docs(cluster, tmp_path, docs)
        proc = run_kubectl(cluster.kubeconfig, "create", "token", sa, "-n", release)
        assert proc.returncode == 0, proc.stderr
        kubeconfig = token_kubeconfig(cluster, proc.stdout.strip(), tmp_path / "sa.kubeconfig")
        rbac = ChartRbac(release, release, sa, kubeconfig, docs)
        for verb in ("get", "list", "create", "update", "delete"):
            assert rbac.can_i(verb, "leases.coordination.k8s.io", "-n", release)
        for verb in ("watch", "patch", "deletecollection"):
            assert not rbac.can_i(verb, "leases.coordination.k8s.io", "-n", release)
        assert not rbac.can_i("create", "leases.coordination.k8s.io", "-n", "default")
        assert not rbac.can_i("list", "leases.coordination.k8s.io", "--all-namespaces")

        with paused(operator):
            replica = start_operator(
                rbac,
                tmp_path / "sharded-rbac-operator.log",
                5,
                *("--shards", "2", "--shard-namespace", release),
                *("--shard-lease-duration", str(LEASE)),
            )
            wait_for(
                lambda: replica is not None and replica.metric(HELD) == 2, 3 * LEASE, "2 shards"
            )
            berth.create_environment(environment_body(workload_ns, workload_ns))
            wait_for(partial(has_service_account, berth, workload_ns), 30, "the namespace")
            berth.create_workload(workload_ns, workload_body("app"))
            berth.wait_condition(workload_ns, "app", "Ready", "True", timeout=60)
            berth.delete_workload(workload_ns, "app")
            berth.delete_environment(workload_ns)
            wait_for(
                lambda: (
                    not berth.custom.list_cluster_custom_object(
                        "berth.dev",
                        "v1alpha1",
                        "environments",
                        field_selector=f"metadata.name={workload_ns}",
                    )["items"]
                ),
                60,
                "the Environment to be gone",
            )
            replica.stop()
            log_text = replica.log_path.read_text(errors="replace")
            assert "acquired shard" in log_text
            assert refusals(log_text, {workload_ns}) == []
    finally:
        if replica is not None:
            replica.stop()
        berth.delete_environment(workload_ns)
        delete_cluster_scoped(cluster, docs)
        for name in (release, workload_ns):
            try:
                core.delete_namespace(name)
            except ApiException as err:
                if err.status != 404:
                    raise


PEOPLE_ROLES = {PREVIEW_REQUESTER_ROLE, PREVIEW_EDITOR_ROLE}


def workloads_in(berth: Berth, namespace: str) -> list[dict[str, object]]:
    found = berth.custom.list_namespaced_custom_object(
        "berth.dev", "v1alpha1", namespace, "workloads"
    )
    return list(found["items"])


def shard_holders(api: ApiClient, lease_namespace: str) -> dict[int, str]:
    """Each shard's holder, as its Lease says."""
    leases = k8s.CoordinationV1Api(api)
    holders: dict[int, str] = {}
    for shard in range(SHARDS):
        lease = leases.read_namespaced_lease(f"berth-shard-{shard}", lease_namespace)
        holders[shard] = (lease.spec.holder_identity if lease.spec else None) or ""
    return holders


def bucket_label(obj: object) -> str | None:
    labels = getattr(getattr(obj, "metadata", None), "labels", None) or {}
    return labels.get(SHARD_BUCKET_LABEL)


def test_a_preview_is_in_its_bases_shard_whatever_its_namespace_hashes_to(
    cluster: ClusterAccess,
    api: ApiClient,
    berth: Berth,
    namespace: str,
    operator: OperatorProcess,
    chart_rights: ChartRights,
) -> None:
    """A preview is made from its base's Workloads, which only the holder of the base's
    shard has listed: the preview's namespace, its copies and their children are in the
    base's bucket, so one replica holds both. The Preview's name is picked so that its
    namespace's own hash falls in a shard another replica holds (before the fix, that
    preview waited forever with no copies)."""
    previews = Previews(api, berth)
    replicas: list[Replica] = []
    target = ""
    with paused(operator):
        try:
            replicas.append(start_replica(cluster, chart_rights, namespace, "a"))
            replicas.append(start_replica(cluster, chart_rights, namespace, "b"))
            wait_for(lambda: held_by(replicas) == {"a": 2, "b": 2}, 3 * LEASE, "2 shards each")
            berth.create_environment(base_environment(namespace, namespace, maxCount=2))
            for name in ("cart", "web"):
                berth.create_workload(namespace, app_workload(name))
            for name in ("cart", "web"):
                berth.wait_condition(namespace, name, "Ready", "True", timeout=90)

            holders = shard_holders(api, namespace)
            base_holder = holders[shard_of(namespace, SHARDS)]
            name = next(
                f"pr-{i}"
                for i in itertools.count()
                if holders[shard_of(f"{namespace}-pr-{i}", SHARDS)] != base_holder
            )
            target = f"{namespace}-{name}"
            previews.create(namespace, preview_body(name, ttl="1h"))
            previews.wait_ready(namespace, name)
            wait_for(
                lambda: (
                    {w["metadata"]["name"] for w in workloads_in(berth, target)} == {"cart", "web"}
                ),
                60,
                "the base's Workloads copied into the preview",
            )
            for app in ("cart", "web"):
                berth.wait_condition(target, app, "Ready", "True", timeout=90)

            base_bucket = str(shard_bucket(namespace))
            assert str(shard_bucket(target)) != base_bucket
            assert bucket_label(berth.core.read_namespace(target)) == base_bucket
            for app in ("cart", "web"):
                copy = berth.workload(target, app)
                assert copy["metadata"]["labels"][SHARD_BUCKET_LABEL] == base_bucket
                deployment = berth.apps.read_namespaced_deployment(app, target)
                assert bucket_label(deployment) == base_bucket
                assert bucket_label(deployment.spec.template) == base_bucket
            # One replica wrote both sides: the other wrote nothing of the preview.
            writers = {
                r.name
                for r in replicas
                for line in r.process.log_path.read_text(errors="replace").splitlines()
                if (found := WRITE.search(line)) and namespace_of(found[2]) == target
            }
            assert len(writers) == 1, f"the preview's objects were written by {writers}"
        finally:
            previews.remove_all(namespace)
            wait_for(lambda: previews.environment(target) is None, 120, "the preview gone")
            for app in ("cart", "web"):
                berth.delete_workload(namespace, app)
            berth.delete_environment(namespace)
            wait_for(lambda: not workloads_in(berth, namespace), 60, "the base's Workloads gone")
            for r in replicas:
                r.process.stop()
            # The chart's preview roles for people have fixed names, and this grant
            # applied them without Helm's ownership: left there, a later `helm install`
            # of the chart in this session refuses to take them over.
            docs = chart_rights(SHARDING_VALUES, namespace=namespace).docs
            delete_cluster_scoped(
                cluster,
                [d for d in docs if d["metadata"]["name"] in PEOPLE_ROLES],
            )
