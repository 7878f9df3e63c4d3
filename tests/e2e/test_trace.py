"""``berth trace`` on a real cluster, against golden output (issue 22 point 4).

The quick start as ``make dev`` makes it — the default catalogue, examples/environment.yaml
(team-a-dev) and its three Workloads, the test-only composer playing Crossplane — and two
Workloads beside them: ``legacy``, Stalled (its image is outside the Environment's
allowed registries), and ``payments``, whose Pods crash (kwok plays the kubelet: see
hack/kwok-stages.yaml) and whose database a ClusterProvisioner of the catalogue serves.
Each is traced with the real command, as a subprocess, once its tree has settled; the
output, with what changes from run to run replaced (ages, Pods' hashes and random
names: tests/traceutil.py), must equal tests/e2e/golden/<name>.

Regenerate the golden files after an intended change of the output with
``BERTH_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/e2e/test_trace.py`` and review
the diff (git diff tests/e2e/golden/) before committing it.

Also shown: the same command as a kubectl plugin (``kubectl berth trace``, found on
PATH), and a user who may not read Pods nor anything cluster-scoped gets a tree with
``?`` (Forbidden) where they are, not an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.clusterharness import REPO_ROOT, ClusterAccess, kubectl_binary
from tests.composer import EXAMPLE_KINDS, TestOnlyComposer
from tests.e2e.conftest import OperatorProcess
from tests.kubeutil import Berth, settles, wait_for
from tests.traceutil import normalise_json, normalise_table, table_rows

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("BERTH_UPDATE_GOLDEN") == "1"
EXAMPLES = REPO_ROOT / "examples"
CATALOGUE = REPO_ROOT / "charts" / "berth" / "catalogue"
NAMESPACE = ENVIRONMENT = "team-a-dev"
EXAMPLE_WORKLOADS = ("hello", "checkout", "shop")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())  # type: ignore[no-any-return]


def berth_trace(cluster: ClusterAccess, *args: str, kubeconfig: Path | None = None) -> str:
    """`python -m berth trace ...` as a user runs it; its stdout (exit code 0 required)."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "berth",
            "trace",
            *args,
            "--kubeconfig",
            str(kubeconfig or cluster.kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def settled(cluster: ClusterAccess, *args: str) -> str:
    """The normalised trace once it has stayed the same a while (the rollouts, claims and
    Pods' states have come to rest)."""
    return settles(
        lambda: normalise_table(berth_trace(cluster, *args)),
        quiet=4,
        timeout=120,
        what=f"berth trace {' '.join(args)}",
    )


def assert_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        print(f"\nupdated {path.relative_to(REPO_ROOT)}")
    expected = path.read_text() if path.exists() else "(no golden file)\n"
    assert actual == expected, (
        f"berth trace differs from {path.relative_to(REPO_ROOT)} "
        "(BERTH_UPDATE_GOLDEN=1 rewrites it):\n" + actual
    )


def _delete_environment(custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api) -> None:
    try:  # deletionPolicy Delete (a development Environment's): its Workloads go first
        custom.delete_cluster_custom_object("berth.dev", "v1alpha1", "environments", ENVIRONMENT)
    except ApiException as err:
        if err.status != 404:
            raise

    def gone(read: Any, *args: str) -> bool:
        try:
            read(*args)
        except ApiException as err:
            return bool(err.status == 404)
        return False

    read_env = custom.get_cluster_custom_object
    wait_for(
        lambda: gone(read_env, "berth.dev", "v1alpha1", "environments", ENVIRONMENT), 120, "env"
    )
    try:  # Berth never deletes a namespace
        core.delete_namespace(NAMESPACE, propagation_policy="Background")
    except ApiException as err:
        if err.status != 404:
            raise
    wait_for(lambda: gone(core.read_namespace, NAMESPACE), 120, f"namespace {NAMESPACE} gone")


def stalled_workload() -> dict[str, Any]:
    """A Workload from before its Environment's registry rule: admitted while the rule was
    only audited, Stalled (ImageNotAllowed) since the rule is enforced."""
    body = load(EXAMPLES / "hello.yaml")
    body["metadata"]["name"] = "legacy"
    body["spec"]["containers"]["main"]["image"] = "registry.other.dev/legacy:0.9"
    return body


def crashing_workload() -> dict[str, Any]:
    body = load(EXAMPLES / "hello.yaml")
    body["metadata"]["name"] = "payments"
    body["spec"]["replicas"] = 2
    body["spec"]["metadata"] = {"annotations": {"kwok.berth.dev/fail": "CrashLoopBackOff"}}
    body["spec"]["resources"] = {"ledger": {"type": "mysql"}}
    return body


def create_legacy(berth: Berth) -> None:
    """The Stalled Workload, as it comes about with admission in place: it ran before the
    Environment's registry rule was enforced (kubectl apply refuses it since)."""
    audited = {"spec": {"policy": {"enforcement": {"allowedRegistries": "Audit"}}}}
    berth.patch_environment(ENVIRONMENT, audited)
    berth.wait_admitted(NAMESPACE, stalled_workload())
    berth.create_workload(NAMESPACE, stalled_workload())
    berth.wait_condition(NAMESPACE, "legacy", "Ready", "True", timeout=120)
    berth.patch_environment(ENVIRONMENT, {"spec": {"policy": {"enforcement": None}}})


@pytest.fixture(scope="module")
def quick_start(
    cluster: ClusterAccess, api: ApiClient, operator: OperatorProcess
) -> Iterator[Berth]:
    """What `make dev` makes, plus the Stalled and the crashing Workload; removed after."""
    berth = Berth(api)
    custom, core = k8s.CustomObjectsApi(api), k8s.CoreV1Api(api)
    _delete_environment(custom, core)  # a previous run's, interrupted
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(EXAMPLES / "claim-crds")
    )
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/postgresqlinstances.platform.acme.dev"
    )
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CATALOGUE))
    composer = TestOnlyComposer(api, EXAMPLE_KINDS)
    composer.start()
    try:
        cluster.kubectl("apply", "-f", str(EXAMPLES / "environment.yaml"))
        cluster.kubectl(
            "wait", "--for=condition=Ready", f"environment/{ENVIRONMENT}", "--timeout=60s"
        )
        for name in EXAMPLE_WORKLOADS:
            cluster.kubectl("apply", "-f", str(EXAMPLES / f"{name}.yaml"))
        create_legacy(berth)
        berth.create_workload(NAMESPACE, crashing_workload())
        for name in EXAMPLE_WORKLOADS:
            berth.wait_condition(NAMESPACE, name, "Ready", "True", timeout=120)
        berth.wait_condition(NAMESPACE, "legacy", "Stalled", "True")
        berth.wait_condition(
            NAMESPACE, "payments", "Ready", "False", reason="CrashLoopBackOff", timeout=120
        )
        yield berth
    finally:
        _delete_environment(custom, core)
        cluster.kubectl("delete", "--ignore-not-found", "-f", str(CATALOGUE))
        composer.stop()


@pytest.mark.parametrize("name", EXAMPLE_WORKLOADS)
def test_the_examples(cluster: ClusterAccess, quick_start: Berth, name: str) -> None:
    text = settled(cluster, f"wl/{name}", "-n", NAMESPACE)
    assert text.endswith("\nFirst failure: none\n")
    assert_golden(f"workload-{name}.txt", text)


def test_a_stalled_workload(cluster: ClusterAccess, quick_start: Berth) -> None:
    text = settled(cluster, "workload", "legacy", "-n", NAMESPACE)
    first = [row for row in table_rows(text) if row[0].strip()]
    assert [row[1:4] for row in first] == [["Workload/legacy", "False", "ImageNotAllowed"]]
    assert_golden("workload-legacy-stalled.txt", text)


def test_a_workload_whose_pods_crash(cluster: ClusterAccess, quick_start: Berth) -> None:
    text = settled(cluster, "wl/payments", "-n", NAMESPACE)
    first = [row for row in table_rows(text) if row[0].strip()]
    assert len(first) == 1
    assert first[0][1].endswith("Pod/payments-<hash>-<id>")
    assert first[0][3] == "CrashLoopBackOff"
    assert "ClusterProvisioner/default-mysql" in text
    assert_golden("workload-payments-crashing.txt", text)

    doc = normalise_json(
        json.loads(berth_trace(cluster, "wl/payments", "-n", NAMESPACE, "-o", "json"))
    )
    assert doc["firstFailure"]["kind"] == "Pod"
    assert doc["firstFailure"]["reason"] == "CrashLoopBackOff"
    assert_golden("workload-payments-crashing.json", json.dumps(doc, indent=2) + "\n")


def test_the_environment(cluster: ClusterAccess, quick_start: Berth) -> None:
    text = settled(cluster, f"env/{ENVIRONMENT}")
    names = [row[1] for row in table_rows(text)]
    assert [n for n in names if n.startswith(("├─ Workload/", "└─ Workload/"))] == [
        "├─ Workload/checkout",
        "├─ Workload/hello",
        "├─ Workload/legacy",
        "├─ Workload/payments",
        "└─ Workload/shop",
    ]
    # The Environment is fine; the first failure is among its Workloads (legacy's, the
    # first failed one in the tree).
    assert "First failure: Workload team-a-dev/legacy: ImageNotAllowed" in text
    assert_golden("environment-team-a-dev.txt", text)


def test_as_a_kubectl_plugin(cluster: ClusterAccess, quick_start: Berth) -> None:
    """`kubectl berth trace` finds kubectl-berth on PATH (the venv's, where `make venv`
    installs it) and reads KUBECONFIG as kubectl does."""
    plugin_dir = Path(sys.executable).parent
    assert (plugin_dir / "kubectl-berth").exists()
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "PATH": f"{plugin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    listed = subprocess.run(
        [str(kubectl_binary()), "plugin", "list"], capture_output=True, text=True, env=env
    )
    assert "kubectl-berth" in listed.stdout, listed.stdout + listed.stderr

    def plugin() -> str:
        proc = subprocess.run(
            [str(kubectl_binary()), "berth", "trace", "wl/hello", "-n", NAMESPACE],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return normalise_table(proc.stdout)

    assert (
        settles(plugin, quiet=2, timeout=60, what="kubectl berth trace")
        == (GOLDEN / "workload-hello.txt").read_text()
    )
    help_text = subprocess.run(
        [str(kubectl_binary()), "berth", "trace", "--help"], capture_output=True, text=True, env=env
    ).stdout
    assert help_text.startswith("usage: kubectl berth trace")


# -- a user with fewer rights ---------------------------------------------------------------

READER = "trace-reader"


def reader_kubeconfig(cluster: ClusterAccess, tmp: Path) -> Path:
    """A kubeconfig holding a token of a ServiceAccount that may read Workloads,
    Deployments, ReplicaSets, Services and ConfigMaps in team-a-dev, and nothing else
    (no Pods, no claims, no Secrets, nothing cluster-scoped)."""
    rbac = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": READER}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": READER},
            "rules": [
                {"apiGroups": ["berth.dev"], "resources": ["workloads"], "verbs": ["get", "list"]},
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments", "replicasets"],
                    "verbs": ["get", "list"],
                },
                {
                    "apiGroups": [""],
                    "resources": ["services", "configmaps"],
                    "verbs": ["get", "list"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": READER},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": READER},
            "subjects": [{"kind": "ServiceAccount", "name": READER, "namespace": NAMESPACE}],
        },
    ]
    manifest = tmp / "reader.yaml"
    manifest.write_text(yaml.safe_dump_all(rbac))
    cluster.kubectl("apply", "-n", NAMESPACE, "-f", str(manifest))
    token = cluster.kubectl("create", "token", READER, "-n", NAMESPACE, "--duration=1h").strip()
    admin = load(cluster.kubeconfig)
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    server = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [server],
        "users": [{"name": READER, "user": {"token": token}}],
        "contexts": [
            {
                "name": READER,
                "context": {"cluster": server["name"], "user": READER, "namespace": NAMESPACE},
            }
        ],
        "current-context": READER,
    }
    path = tmp / "reader.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_what_the_user_may_not_read_is_shown_not_a_crash(
    cluster: ClusterAccess, quick_start: Berth, tmp_path: Path
) -> None:
    kubeconfig = reader_kubeconfig(cluster, tmp_path)
    # No -n: the namespace comes from the kubeconfig's context, as kubectl takes it.
    text = berth_trace(cluster, "wl/shop", kubeconfig=kubeconfig)
    rows = {row[1].split("─ ")[-1]: row[2:4] for row in table_rows(text)[1:]}
    assert rows["Workload/shop"] == ["True", "Ready"]
    assert rows["Deployment/shop"] == ["True", "Available"]
    # Cluster-scoped, a claim's kind, Pods: not granted; each where it would be.
    assert rows["Environment/team-a-dev"] == ["?", "Forbidden"]
    assert rows["Pod/*"] == ["?", "Forbidden"]
    claims = [cells for name, cells in rows.items() if name.startswith("PostgreSQLInstance/")]
    assert claims == [["?", "Forbidden"]]
    assert 'User "system:serviceaccount:team-a-dev:trace-reader" cannot list' in text
    assert text.endswith("\nFirst failure: none\n")
