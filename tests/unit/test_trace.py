"""``berth trace``'s tree, without a cluster: objects in, tree out (the pure part).

The reading itself (berth.cli.trace.fetch) runs against the real API server in
tests/e2e/test_trace.py, with golden output."""

from __future__ import annotations

import copy
import datetime
import io
import json
from typing import Any

import pytest

from berth.cli import main
from berth.cli.trace import glyphs_for, parse_target, use_colour
from berth.cli.trace.model import Node, Snapshot, State, Trace, Unreadable
from berth.cli.trace.plan import plan_kinds, plan_objects, plan_secrets
from berth.cli.trace.tree import environment_trace, workload_trace
from berth.cli.trace.view import ASCII, UNICODE, age, layout, render_text, trace_json
from tests.traceutil import table_rows

NS = "team-a-dev"
NOW = datetime.datetime(2025, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
CREATED = "2025-01-01T11:55:00Z"  # five minutes before NOW
CLAIM_REF = {
    "apiVersion": "platform.acme.dev/v1alpha1",
    "kind": "PostgreSQLInstance",
    "name": "shop-db",
    "namespace": NS,
}
CLAIM_KEY = ("platform.acme.dev/v1alpha1", "PostgreSQLInstance", NS, "shop-db")
SECRET_KEY = ("v1", "Secret", NS, "shop-db-conn")
PROVISIONER_KEY = ("berth.dev/v1alpha1", "ClusterProvisioner", "", "postgres")


def cond(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": NS, "creationTimestamp": CREATED, **extra}


def owned(kind: str, name: str) -> list[dict[str, Any]]:
    return [{"kind": kind, "name": name, "controller": True}]


def ready_workload() -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": meta("shop", generation=2),
        "spec": {"containers": {"main": {"image": "registry.acme.dev/shop:2.0.1"}}},
        "status": {
            "observedGeneration": 2,
            "environment": NS,
            "conditions": [
                cond("Ready", "True", "Ready", "1 of 1 replicas available"),
                cond("Reconciling", "False", "Ready"),
                cond("Stalled", "False", "Ready"),
            ],
            "resources": [
                {
                    "name": "db",
                    "type": "postgres",
                    "provisioner": "ClusterProvisioner/postgres",
                    "selection": "matched type postgres",
                    "state": "Ready",
                    "reason": "Provisioned",
                    "message": "outputs ready",
                    "claim": CLAIM_REF,
                    "objects": [CLAIM_REF],
                }
            ],
            "managedObjects": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "shop-files", "namespace": NS},
                {"apiVersion": "v1", "kind": "Service", "name": "shop", "namespace": NS},
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop", "namespace": NS},
            ],
        },
    }


def deployment(available: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("shop", generation=1),
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": available,
            "availableReplicas": available,
        },
    }


def replica_set(name: str = "shop-6f7d", replicas: int = 1, ready: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta(name, ownerReferences=owned("Deployment", "shop")),
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": ready},
    }


def pod(name: str = "shop-6f7d-abcde", waiting: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "ready": waiting is None, "state": {}}
    if waiting:
        container["state"] = {"waiting": {"reason": waiting, "message": "Back-off pulling image"}}
    ready = "False" if waiting else "True"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(name, ownerReferences=owned("ReplicaSet", "shop-6f7d")),
        "status": {
            "phase": "Pending" if waiting else "Running",
            "conditions": [cond("Ready", ready, "")],
            "containerStatuses": [container],
        },
    }


def plain(kind: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": meta(name)}


def claim(ready: str = "True", synced: str = "True", message: str = "") -> dict[str, Any]:
    return {
        "apiVersion": CLAIM_KEY[0],
        "kind": CLAIM_KEY[1],
        "metadata": meta("shop-db"),
        "spec": {"writeConnectionSecretToRef": {"name": "shop-db-conn"}},
        "status": {
            "conditions": [
                cond(
                    "Synced", synced, "ReconcileSuccess" if synced == "True" else "Error", message
                ),
                cond("Ready", ready, "Available" if ready == "True" else "Creating"),
            ]
        },
    }


def environment(ready: bool = True) -> dict[str, Any]:
    conditions = (
        [cond("Ready", "True", "Ready", "namespace team-a-dev is ready")]
        if ready
        else [
            cond("Ready", "False", "NamespaceTaken", "namespace team-a-dev is already served"),
            cond("Stalled", "True", "NamespaceTaken", "namespace team-a-dev is already served"),
        ]
    )
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": NS, "creationTimestamp": CREATED, "generation": 1},
        "spec": {"namespace": NS},
        "status": {"observedGeneration": 1, "conditions": conditions},
    }


def snapshot(workload: dict[str, Any] | None = None) -> Snapshot:
    """What fetch reads for the ready shop Workload."""
    snap = Snapshot(now=NOW, namespace=NS, workloads=[workload or ready_workload()])
    snap.environments[NS] = environment()
    snap.listed = {
        ("apps/v1", "Deployment"): [deployment()],
        ("apps/v1", "ReplicaSet"): [
            replica_set(),
            replica_set("shop-5c4b", replicas=0, ready=0),  # an old one, empty: hidden
        ],
        ("v1", "Pod"): [pod()],
        ("v1", "Service"): [plain("Service", "shop")],
        ("v1", "ConfigMap"): [plain("ConfigMap", "shop-files")],
    }
    snap.objects = {
        CLAIM_KEY: claim(),
        SECRET_KEY: {"kind": "PartialObjectMetadata", "metadata": meta("shop-db-conn")},
        PROVISIONER_KEY: {"kind": "ClusterProvisioner", "metadata": {"name": "postgres"}},
    }
    return snap


def lines(node: Node, depth: int = 0) -> list[str]:
    """The tree as ``kind/name state`` lines, indented: what the shape tests compare."""
    out = [f"{'  ' * depth}{node.kind}/{node.name} {node.health.state}"]
    for child in node.children:
        out += lines(child, depth + 1)
    return out


def trace_of(snap: Snapshot) -> Trace:
    workloads = snap.workloads
    assert not isinstance(workloads, Unreadable)
    return workload_trace(snap, workloads[0])


# -- the tree ------------------------------------------------------------------------------


def test_a_ready_workload_shows_every_part_and_no_failure() -> None:
    trace = trace_of(snapshot())
    assert lines(trace.root) == [
        "Workload/shop Ready",
        "  Environment/team-a-dev Ready",
        "  Resource/db Ready",
        "    ClusterProvisioner/postgres Present",
        "    PostgreSQLInstance/shop-db Ready",
        "      Secret/shop-db-conn Present",
        "  Deployment/shop Ready",
        "    ReplicaSet/shop-6f7d Ready",
        "      Pod/shop-6f7d-abcde Ready",
        "  Service/shop Present",
        "  ConfigMap/shop-files Present",
    ]
    assert trace.first_failure is None
    provisioner = trace.root.children[1].children[0]
    assert provisioner.health.reason == "Chosen"
    assert provisioner.health.message == "matched type postgres"
    assert trace.root.children[1].note == "postgres"


def test_a_pod_that_cannot_pull_its_image_is_the_first_failure() -> None:
    snap = snapshot()
    workload = ready_workload()
    workload["status"]["conditions"] = [
        cond("Ready", "False", "ImagePullBackOff", "1 of 1 Pods: container main: Back-off"),
        cond("Reconciling", "True", "ImagePullBackOff"),
        cond("Stalled", "False", "Progressing"),
    ]
    snap.workloads = [workload]
    snap.listed[("apps/v1", "Deployment")] = [deployment(available=0)]
    snap.listed[("v1", "Pod")] = [pod(waiting="ImagePullBackOff")]
    trace = trace_of(snap)
    first = trace.first_failure
    assert first is not None
    assert (first.kind, first.name) == ("Pod", "shop-6f7d-abcde")
    assert first.health.reason == "ImagePullBackOff"
    assert first.health.message == "container main: Back-off pulling image"  # the operator's words
    assert [n for n in trace.root.walk() if n.first_failure] == [first]
    # The Workload reports it too, but the Pod is the one to read first.
    assert trace.root.health.state == State.FAILED


def test_a_stalled_workload_is_its_own_first_failure() -> None:
    workload = ready_workload()
    workload["status"]["conditions"] = [
        cond("Ready", "False", "ImageNotAllowed", "image evil/x is not allowed"),
        cond("Reconciling", "False", "ImageNotAllowed"),
        cond("Stalled", "True", "ImageNotAllowed", "image evil/x is not allowed; kept"),
    ]
    trace = trace_of(snapshot(workload))
    assert trace.first_failure is trace.root
    assert trace.root.health == trace.root.health.__class__(
        State.FAILED, "ImageNotAllowed", "image evil/x is not allowed; kept"
    )


def test_a_claim_crossplane_cannot_compose_comes_before_its_resource() -> None:
    workload = ready_workload()
    entry = workload["status"]["resources"][0]
    entry.update(state="Failed", reason="ClaimNotSynced", message="cannot compose")
    snap = snapshot(workload)
    snap.objects[CLAIM_KEY] = claim(ready="False", synced="False", message="no composition")
    del snap.objects[SECRET_KEY]
    first = trace_of(snap).first_failure
    assert first is not None
    assert (first.kind, first.health.reason, first.health.message) == (
        "PostgreSQLInstance",
        "Error",
        "no composition",
    )
    secret = first.children[0]
    assert (secret.health.state, secret.health.reason) == (State.PROGRESSING, "NotFound")


def test_a_claim_without_conditions_yet_is_on_its_way() -> None:
    snap = snapshot()
    snap.objects[CLAIM_KEY] = {**claim(), "status": {}}
    snap.objects[SECRET_KEY] = None
    node = trace_of(snap).root.children[1].children[1]
    assert (node.kind, node.health.state, node.health.reason) == (
        "PostgreSQLInstance",
        State.PROGRESSING,
        "NoReadyCondition",
    )
    assert node.children[0].health.state == State.PROGRESSING  # its Secret: not yet


def test_a_ready_claim_without_its_secret_points_at_the_secret() -> None:
    snap = snapshot()
    snap.objects[SECRET_KEY] = None
    first = trace_of(snap).first_failure
    assert first is not None
    assert (first.kind, first.name, first.health.reason) == ("Secret", "shop-db-conn", "NotFound")


def test_a_cluster_provisioner_gone_is_a_failure_and_one_unreadable_is_unknown() -> None:
    snap = snapshot()
    snap.objects[PROVISIONER_KEY] = None
    first = trace_of(snap).first_failure
    assert first is not None
    assert (first.kind, first.health.reason) == ("ClusterProvisioner", "NotFound")
    assert "matched type postgres" in first.health.message

    snap.objects[PROVISIONER_KEY] = Unreadable("Forbidden", "clusterprovisioners is forbidden")
    trace = trace_of(snap)
    node = trace.root.children[1].children[0]
    assert (node.health.state, node.ready) == (State.UNKNOWN, None)
    assert "matched type postgres" in node.health.message
    assert trace.first_failure is None


def test_an_environment_local_provisioner_is_named_with_its_environment() -> None:
    workload = ready_workload()
    workload["status"]["resources"][0]["provisioner"] = "postgres"
    node = trace_of(snapshot(workload)).root.children[1].children[0]
    assert (node.kind, node.name, node.note) == (
        "Provisioner",
        "postgres",
        "of Environment team-a-dev",
    )


def test_a_forbidden_kind_is_shown_not_a_crash() -> None:
    snap = snapshot()
    snap.listed[("v1", "Pod")] = Unreadable("Forbidden", 'pods is forbidden: User "dev"')
    trace = trace_of(snap)
    pods = trace.root.children[2].children[0].children
    assert [(p.kind, p.name, p.health.state, p.health.reason) for p in pods] == [
        ("Pod", "*", State.UNKNOWN, "Forbidden")
    ]
    text = render_text(trace, namespace=NS, now=NOW)
    row = next(row for row in table_rows(text) if "Pod/*" in row[1])
    assert row[1:4] == ["│  │  └─ Pod/*", "?", "Forbidden"]


def test_a_missing_child_fails_a_ready_workload_and_waits_for_a_new_one() -> None:
    snap = snapshot()
    snap.listed[("v1", "Service")] = []
    first = trace_of(snap).first_failure
    assert first is not None
    assert (first.kind, first.health.state, first.health.reason) == (
        "Service",
        State.FAILED,
        "NotFound",
    )

    workload = ready_workload()
    workload["status"]["conditions"][0] = cond("Ready", "False", "RollingOut", "0 of 1 updated")
    snap.workloads = [workload]
    trace = trace_of(snap)
    assert trace.first_failure is None
    assert trace.root.health.state == State.PROGRESSING


def test_a_status_behind_its_generation_is_in_progress() -> None:
    workload = ready_workload()
    workload["metadata"]["generation"] = 3
    trace = trace_of(snapshot(workload))
    assert (trace.root.health.state, trace.root.health.reason) == (
        State.PROGRESSING,
        "Reconciling",
    )


def test_a_failed_environment_comes_first_in_a_workloads_tree() -> None:
    snap = snapshot()
    snap.environments[NS] = environment(ready=False)
    first = trace_of(snap).first_failure
    assert first is not None
    assert (first.kind, first.health.reason) == ("Environment", "NamespaceTaken")


def test_an_environment_lists_its_namespace_and_workloads() -> None:
    snap = snapshot()
    other = copy.deepcopy(ready_workload())
    other["metadata"]["name"] = "a-first"
    other["status"] = {}
    snap.workloads = [ready_workload(), other]
    snap.objects[("v1", "Namespace", "", NS)] = {
        "kind": "Namespace",
        "metadata": {"name": NS},
        "status": {"phase": "Active"},
    }
    trace = environment_trace(snap, environment())
    assert [line for line in lines(trace.root) if line.count("  ") <= 1] == [
        "Environment/team-a-dev Ready",
        "  Namespace/team-a-dev Ready",
        "  Workload/a-first Progressing",
        "  Workload/shop Ready",
    ]
    # No Environment under each Workload: it is the root.
    assert all(n.kind != "Environment" for n in trace.root.children[2].children)

    snap.workloads = Unreadable("Forbidden", "workloads is forbidden")
    failed = environment_trace(snap, environment(ready=False))
    assert failed.first_failure is failed.root
    assert [(n.kind, n.name, n.health.reason) for n in failed.root.children[1:]] == [
        ("Workload", "*", "Forbidden")
    ]


# -- what to read --------------------------------------------------------------------------


def test_the_plan_reads_what_the_statuses_name() -> None:
    workloads = [ready_workload()]
    assert plan_kinds(workloads) == [
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("v1", "Pod"),
        ("v1", "ConfigMap"),
        ("v1", "Service"),
    ]
    assert plan_objects(workloads) == [CLAIM_KEY, PROVISIONER_KEY]
    assert plan_secrets({CLAIM_KEY: claim(), PROVISIONER_KEY: None}) == [SECRET_KEY]
    assert plan_secrets({CLAIM_KEY: Unreadable("Forbidden", "no")}) == []


# -- the views -----------------------------------------------------------------------------


def test_the_table_marks_the_first_failure_and_repeats_it_below() -> None:
    snap = snapshot()
    snap.listed[("v1", "Pod")] = [pod(waiting="ImagePullBackOff")]
    text = render_text(trace_of(snap), namespace=NS, now=NOW)
    rows = table_rows(text)
    assert rows[0][1:] == ["NAME", "READY", "STATUS", "AGE", "MESSAGE"]
    marked = [row for row in rows if row[0] == "» "]
    assert marked == [
        [
            "» ",
            "│     └─ Pod/shop-6f7d-abcde",
            "False",
            "ImagePullBackOff",
            "5m",
            "container main: Back-off pulling image",
        ]
    ]
    assert text.splitlines()[-1] == (
        "First failure: Pod team-a-dev/shop-6f7d-abcde: ImagePullBackOff: "
        "container main: Back-off pulling image"
    )
    assert "\x1b[" not in text


READY_TABLE = """\
  NAME                               READY  STATUS       AGE  MESSAGE
  Workload/shop                      True   Ready        5m   1 of 1 replicas available
  ├─ Environment/team-a-dev          True   Ready        5m   namespace team-a-dev is ready
  ├─ Resource/db (postgres)          True   Provisioned  -    outputs ready
  │  ├─ ClusterProvisioner/postgres  -      Chosen       -    matched type postgres
  │  └─ PostgreSQLInstance/shop-db   True   Available    5m
  │     └─ Secret/shop-db-conn       -      Present      5m   connection Secret; values never read
  ├─ Deployment/shop                 True   Available    5m   1 of 1 replicas available
  │  └─ ReplicaSet/shop-6f7d         True   Ready        5m   1 of 1 Pods ready
  │     └─ Pod/shop-6f7d-abcde       True   Running      5m
  ├─ Service/shop                    -      Present      5m
  └─ ConfigMap/shop-files            -      Present      5m

First failure: none
"""


def test_the_table_of_a_ready_workload() -> None:
    assert render_text(trace_of(snapshot()), namespace=NS, now=NOW) == READY_TABLE


def test_colour_only_where_asked_and_the_ascii_fallback() -> None:
    trace = trace_of(snapshot())
    coloured = render_text(trace, namespace=NS, now=NOW, colour=True)
    assert "\x1b[32mTrue\x1b[0m" in coloured
    # The colour codes do not move the columns.
    plain_text = render_text(trace, namespace=NS, now=NOW)
    assert coloured.replace("\x1b[32m", "").replace("\x1b[2m", "").replace("\x1b[0m", "") == (
        plain_text
    )
    ascii_text = render_text(trace, namespace=NS, now=NOW, glyphs=ASCII)
    assert "|- Environment/team-a-dev" in ascii_text
    assert ascii_text.isascii()


class Stream(io.StringIO):
    def __init__(self, tty: bool, encoding: str = "utf-8") -> None:
        super().__init__()
        self._tty, self._encoding = tty, encoding

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self) -> str:
        return self._encoding


@pytest.mark.parametrize(
    ("choice", "tty", "environ", "expected"),
    [
        ("auto", True, {}, True),
        ("auto", False, {}, False),
        ("auto", True, {"NO_COLOR": "1"}, False),
        ("auto", True, {"NO_COLOR": ""}, True),  # no-color.org: set and not empty
        ("always", False, {"NO_COLOR": "1"}, True),
        ("never", True, {}, False),
    ],
)
def test_colour_on_a_terminal_without_no_color(
    choice: str, tty: bool, environ: dict[str, str], expected: bool
) -> None:
    assert use_colour(choice, Stream(tty), environ) is expected


def test_glyphs_follow_the_output_encoding() -> None:
    assert glyphs_for(Stream(False, "utf-8")) is UNICODE
    assert glyphs_for(Stream(False, "ascii")) is ASCII


def test_the_json_schema_is_stable() -> None:
    snap = snapshot()
    snap.listed[("v1", "Pod")] = [pod(waiting="ImagePullBackOff")]
    doc = json.loads(json.dumps(trace_json(trace_of(snap))))
    assert set(doc) == {"schemaVersion", "root", "firstFailure"}
    assert doc["schemaVersion"] == 1
    keys = {
        "kind",
        "apiVersion",
        "name",
        "namespace",
        "note",
        "state",
        "ready",
        "reason",
        "message",
        "created",
        "firstFailure",
        "children",
    }

    def check(node: dict[str, Any]) -> None:
        assert set(node) == keys
        for child in node["children"]:
            check(child)

    check(doc["root"])
    assert doc["firstFailure"]["kind"] == "Pod"
    assert doc["firstFailure"]["ready"] is False
    assert "children" not in doc["firstFailure"]
    resource = doc["root"]["children"][1]
    assert (resource["kind"], resource["apiVersion"], resource["note"]) == (
        "Resource",
        None,
        "postgres",
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (119, "119s"), (120, "2m"), (7199, "119m"), (7200, "2h"), (3 * 86400, "3d")],
)
def test_ages_as_kubectl_prints_them(seconds: int, shown: str) -> None:
    created = (NOW - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert age(created, NOW) == shown
    assert age(None, NOW) == "-"


def test_layout_pads_all_but_the_last_column() -> None:
    assert layout([["a", "bb", "c"], ["ccc", "d", ""]], ["> ", "  "]) == [
        "> a    bb  c",
        "  ccc  d",
    ]


# -- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("wl/shop", None), ("Workload", "shop")),
        (("workload", "shop"), ("Workload", "shop")),
        (("Workloads/shop", None), ("Workload", "shop")),
        (("env/team-a-dev", None), ("Environment", "team-a-dev")),
        (("environment", "team-a-dev"), ("Environment", "team-a-dev")),
    ],
)
def test_targets(words: tuple[str, str | None], expected: tuple[str, str]) -> None:
    assert parse_target(*words) == expected


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["wl"], "TYPE/NAME or TYPE NAME"),
        (["wl/a", "b"], "TYPE/NAME or TYPE NAME"),
        (["pod/a"], "unknown type 'pod'"),
        (["wl/"], "a name is required"),
    ],
)
def test_bad_targets_say_how(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    assert main(["trace", *argv]) == 2
    assert words in capsys.readouterr().err


def test_no_credentials_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    missing = str(tmp_path / "nope")
    assert main(["trace", "wl/shop", "--kubeconfig", missing]) == 1
    err = capsys.readouterr().err
    assert err.startswith("berth trace: cannot load Kubernetes credentials from ")
    assert missing in err
