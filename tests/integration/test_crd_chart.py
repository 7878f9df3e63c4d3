"""The CRD chart (charts/berth-crds): the CRDs as templates, so `helm upgrade` upgrades
them — and the upgrade path from the chart that had them only in crds/, shown on the real
API server.

Why a chart of its own is in charts/berth-crds/Chart.yaml. The path an operator of an
existing installation takes (charts/berth/README.md, "CRDs"):

1. the release of the previous chart (`charts/berth` as at ``PREVIOUS_CHART``, from git)
   runs, its CRDs created by Helm from its crds/, owned by no release;
2. `helm install berth-crds charts/berth-crds --take-ownership`, once: the release adopts
   those CRDs and applies its own version of them;
3. `helm upgrade` of the operator's release to this chart;
4. from then on, every `helm upgrade berth-crds` applies the CRDs of its version.

The test runs those steps on CRDs of a group of its own (the generated CRDs with their
group renamed), so that Berth's CRDs, which the other tests on this cluster use, are not
touched; Helm and the API server treat them exactly alike.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.clusterharness import REPO_ROOT, ClusterAccess, kubectl_binary
from tests.integration.test_chart import (
    CHART,
    CRD_CHART,
    NO_ADMISSION,
    NO_CATALOGUE,
    documents,
    get_json,
    helm,
    helm_env,
    values_file,
)

__all__ = ["helm_env"]  # a fixture, used by name

# The last chart whose CRDs were only in crds/ (main before the CRD chart existed).
PREVIOUS_CHART = "526e21d83f4a4d5166e5035f5a7def3a42bc6b97"
KEEP = "helm.sh/resource-policy"
CREATE_JSON = ("create", "-o", "json", "-f", "-")


def crd_documents(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[doc["metadata"]["name"]] = doc
    return found


# -- no cluster needed --------------------------------------------------------------------


def test_the_crd_chart_lints_clean(helm_env: dict[str, str]) -> None:
    out = helm(helm_env, "lint", "--strict", str(CRD_CHART)).stdout
    assert "0 chart(s) failed" in out
    assert "[WARNING]" not in out, out


def test_the_crd_chart_renders_the_generated_crds_with_labels_and_keep(
    helm_env: dict[str, str], tmp_path: Path
) -> None:
    generated = crd_documents(REPO_ROOT / "crds")
    out = helm(helm_env, "template", "berth-crds", str(CRD_CHART)).stdout
    rendered = {d["metadata"]["name"]: d for d in documents(out)}
    assert sorted(rendered) == sorted(generated)
    for name, doc in rendered.items():
        meta = doc["metadata"]
        assert meta["annotations"] == {KEEP: "keep"}, name
        assert meta["labels"]["app.kubernetes.io/part-of"] == "berth"
        assert meta["labels"]["app.kubernetes.io/instance"] == "berth-crds"
        bare = copy.deepcopy(doc)
        del bare["metadata"]["labels"], bare["metadata"]["annotations"]
        # Byte-for-byte data: no integer turned float on the way (2147483647 and all).
        assert bare == generated[name], f"{name} differs from crds/"
    unkept = helm(
        helm_env, "template", "x", str(CRD_CHART), *values_file(tmp_path, {"keep": False})
    ).stdout
    assert all("annotations" not in d["metadata"] for d in documents(unkept))
    refused = helm(
        helm_env,
        "template",
        "x",
        str(CRD_CHART),
        *values_file(tmp_path, {"keep": "yes"}),
        check=False,
    )
    assert refused.returncode != 0
    assert "keep" in refused.stderr


# -- the upgrade, on the real API server ------------------------------------------------


def regroup(directory: Path, group: str, probe: str | None = None) -> None:
    """Move the CRDs in ``directory`` to ``group``; with ``probe``, give the Workload's
    spec one more field, of that name: the schema change an upgrade must bring."""
    for path in sorted(directory.glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for doc in docs:
            doc["spec"]["group"] = group
            doc["metadata"]["name"] = f"{doc['spec']['names']['plural']}.{group}"
            if probe and doc["spec"]["names"]["kind"] == "Workload":
                for version in doc["spec"]["versions"]:
                    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
                    spec["properties"][probe] = {"type": "string"}
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def previous_chart(tmp_path: Path) -> Path:
    """charts/berth as it was at PREVIOUS_CHART, from git."""
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", PREVIOUS_CHART, "charts/berth"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        pytest.fail(
            f"git cannot give the previous chart ({PREVIOUS_CHART}): "
            f"{archive.stderr.decode()}; a shallow clone lacks it",
            pytrace=False,
        )
    target = tmp_path / "previous"
    target.mkdir()
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target / "charts" / "berth"


def workload_keeps(cluster: ClusterAccess, group: str, namespace: str, probe: str) -> bool:
    """Whether the served schema has ``probe`` in a Workload's spec: a Workload with it is
    created and keeps it; kubectl's strict field validation refuses a field the schema
    does not know."""
    name = f"probe-{uuid.uuid4().hex[:6]}"
    body = {
        "apiVersion": f"{group}/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": {"main": {"image": "registry.acme.dev/app:1"}}, probe: "here"},
    }
    proc = subprocess.run(
        [str(kubectl_binary()), "--kubeconfig", str(cluster.kubeconfig), *CREATE_JSON],
        input=json.dumps(body),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        assert f'unknown field "spec.{probe}"' in proc.stderr, proc.stderr
        return False
    return json.loads(proc.stdout)["spec"].get(probe) == "here"


@pytest.fixture
def test_group(cluster: ClusterAccess) -> Iterator[str]:
    """A CRD group of this test's own; its CRDs are deleted at the end (Helm keeps them).
    Not waited for: the group is this run's alone, and on a loaded machine the API
    server's cleanup of a CRD can outlast any timeout worth waiting."""
    group = f"u{uuid.uuid4().hex[:6]}.upgrade.berth.dev"
    yield group
    for plural in ("workloads", "environments", "clusterprovisioners"):
        cluster.kubectl("delete", "crd", f"{plural}.{group}", "--ignore-not-found", "--wait=false")


def test_helm_upgrade_from_the_previous_chart_serves_the_new_crd_schema(
    cluster: ClusterAccess,
    namespace: str,
    helm_env: dict[str, str],
    tmp_path: Path,
    test_group: str,
) -> None:
    kube = ["--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace]
    release, crd_release = f"berth-{uuid.uuid4().hex[:5]}", f"crds-{uuid.uuid4().hex[:5]}"
    no_catalogue = values_file(tmp_path, {"catalogue": NO_CATALOGUE})
    # This chart's admission policies (cluster-scoped, one set per cluster) are the test
    # session's; the previous chart had none (and refuses the value).
    current_values = values_file(
        tmp_path, {"catalogue": NO_CATALOGUE, "admissionPolicies": NO_ADMISSION}
    )
    workloads_crd = f"workloads.{test_group}"

    # 1. The previous chart, installed as its README said: its crds/ come in, unowned.
    previous = previous_chart(tmp_path)
    regroup(previous / "crds", test_group)
    helm(helm_env, "install", release, str(previous), *kube, *no_catalogue)
    try:
        crd = get_json(cluster, "crd", workloads_crd)
        assert crd is not None, "the previous chart did not install its CRDs"
        assert "app.kubernetes.io/managed-by" not in (crd["metadata"].get("labels") or {})
        assert not workload_keeps(cluster, test_group, namespace, "probeOne")

        # 2. The CRD chart adopts them, once, and applies this version's schema.
        current = tmp_path / "berth-crds"
        shutil.copytree(CRD_CHART, current)
        regroup(current / "files", test_group, probe="probeOne")
        install = ["install", crd_release, str(current), *kube]
        refused = helm(helm_env, *install, check=False)
        # Without --take-ownership, Helm refuses CRDs that another install created.
        assert refused.returncode != 0
        assert "cannot be imported" in refused.stderr, refused.stderr
        helm(helm_env, *install, "--take-ownership")
        crd = get_json(cluster, "crd", workloads_crd)
        assert crd is not None
        assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == crd_release
        assert crd["metadata"]["annotations"][KEEP] == "keep"
        assert workload_keeps(cluster, test_group, namespace, "probeOne")

        # 3. The operator's release moves to this chart with a plain upgrade.
        helm(helm_env, "upgrade", release, str(CHART), *kube, *current_values)

        # 4. From now on, a plain `helm upgrade` of the CRD chart brings each new schema.
        regroup(current / "files", test_group, probe="probeTwo")
        helm(helm_env, "upgrade", crd_release, str(current), *kube)
        assert workload_keeps(cluster, test_group, namespace, "probeTwo")
        served = get_json(cluster, "crd", workloads_crd)
        assert served is not None
        shipped = crd_documents(current / "files")[workloads_crd]
        assert served["spec"]["versions"][0]["schema"] == shipped["spec"]["versions"][0]["schema"]

        # Uninstalling the CRD chart keeps the CRDs, and every Workload with them.
        helm(helm_env, "uninstall", crd_release, *kube, "--wait", "--timeout", "120s")
        assert get_json(cluster, "crd", workloads_crd) is not None
    finally:
        helm(helm_env, "uninstall", crd_release, *kube, check=False)
        helm(helm_env, "uninstall", release, *kube, "--wait", "--timeout", "120s", check=False)
