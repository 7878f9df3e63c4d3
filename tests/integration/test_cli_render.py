"""What `berth render` and `berth crds` print is accepted by a real API server.

The offline output is meant for GitOps previews and `kubectl apply`: these tests apply it
to the real control plane, in a namespace that enforces the Pod Security `restricted`
profile, and wait for the Deployment to become available.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from berth.cli import main
from tests.clusterharness import REPO_ROOT, ClusterAccess
from tests.kubeutil import wait_for

EXAMPLES = REPO_ROOT / "examples"


def environment_for(namespace: str, path: Path) -> str:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / "environment.yaml").read_text())
    body["metadata"]["name"] = namespace
    body["spec"]["namespace"] = namespace
    path.write_text(yaml.safe_dump(body))
    return str(path)


def render(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["render", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.mark.parametrize("example", ["checkout.yaml", "hello.yaml"])
def test_rendered_manifests_apply_and_run_under_restricted_pod_security(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    cluster: ClusterAccess,
    api: ApiClient,
    namespace: str,
    example: str,
) -> None:
    core = k8s.CoreV1Api(api)
    core.patch_namespace(
        namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    workload: dict[str, Any] = yaml.safe_load((EXAMPLES / example).read_text())
    del workload["metadata"]["namespace"]  # the Environment's namespace is the default
    workload_path = tmp_path / "workload.yaml"
    workload_path.write_text(yaml.safe_dump(workload))
    stream = render(
        capsys, "-f", str(workload_path), "-e", environment_for(namespace, tmp_path / "env.yaml")
    )
    manifests = list(yaml.safe_load_all(stream))
    assert {m["metadata"]["namespace"] for m in manifests} == {namespace}
    manifest_path = tmp_path / "manifests.yaml"
    manifest_path.write_text(stream)

    cluster.kubectl(
        "apply", "--server-side", "--field-manager", "berth-preview", "-f", str(manifest_path)
    )

    name = workload["metadata"]["name"]
    replicas = workload["spec"].get("replicas", 1)
    apps = k8s.AppsV1Api(api)

    def available() -> bool:
        status = apps.read_namespaced_deployment(name, namespace).status
        return status is not None and int(status.available_replicas or 0) >= replicas

    wait_for(available, 90, f"Deployment {name} to have {replicas} available replicas")
    # Pods were admitted under `restricted`, so none was refused
    events = core.list_namespaced_event(namespace).items
    refused = [e.message for e in events if "violates PodSecurity" in (e.message or "")]
    assert refused == []


def test_crds_are_accepted_by_the_api_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, cluster: ClusterAccess
) -> None:
    assert main(["crds"]) == 0
    path = tmp_path / "crds.yaml"
    path.write_text(capsys.readouterr().out)
    out = cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", str(path)
    )
    assert "workloads.berth.dev" in out
    assert "environments.berth.dev" in out
