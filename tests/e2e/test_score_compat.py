"""Score files from the wild, on the real API server (issue 9, points 3, 6, 7, 8 and 9).

The Workloads come from the Score corpus through `berth import`, or are written here in
Score's own terms; the Environment uses the example provisioners."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from berth.api import Workload
from berth.cli import main as berth_main
from berth.provision import resource_identity
from tests.clusterharness import REPO_ROOT
from tests.e2e.conftest import OperatorProcess
from tests.kubeutil import Berth, environment_body, wait_for

CORPUS = REPO_ROOT / "tests" / "score-corpus"
EXAMPLE = yaml.safe_load((REPO_ROOT / "examples/provisioners/environment.yaml").read_text())
PROVISIONERS = [
    p
    for p in EXAMPLE["spec"]["provisioners"]
    if p["type"] in ("service-port", "volume", "dns", "route")
]


@pytest.fixture
def score_env(berth: Berth, namespace: str, operator: OperatorProcess) -> Iterator[str]:
    body = environment_body(
        namespace,
        namespace,
        provisioners=PROVISIONERS,
        routes={"domain": "apps.berth.test"},
        deletionPolicy="Delete",
    )
    body["spec"]["policy"] = {"maxReplicas": 3}
    berth.create_environment(body)
    berth.wait_served(namespace, namespace)
    yield namespace
    berth.delete_environment(namespace)


def imported(path: Path, namespace: str, *flags: str) -> dict[str, Any]:
    """`berth import` of a Score file, as a user would run it."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert berth_main(["import", str(path), "--namespace", namespace, *flags]) == 0
    return yaml.safe_load(out.getvalue())  # type: ignore[no-any-return]


def score_workload(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": {"main": {"image": "nginx:1.27"}}}
    body.update(spec)
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def deployment(api: ApiClient, namespace: str, name: str) -> Any:
    def get() -> Any:
        try:
            return k8s.AppsV1Api(api).read_namespaced_deployment(name, namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    return wait_for(get, 60, f"Deployment {namespace}/{name}")


def env_vars(dep: Any) -> dict[str, str]:
    return {e.name: e.value for e in dep.spec.template.spec.containers[0].env or []}


# -- point 3 -------------------------------------------------------------------------------


def test_service_port_by_name_waits_for_the_workload_then_resolves(
    berth: Berth, api: ApiClient, score_env: str
) -> None:
    ns = score_env
    example = CORPUS / "score-compose/examples/08-service-port-resource"
    berth.create_workload(ns, imported(example / "scoreB.yaml", ns))
    # workload-a does not exist yet: waiting, not stalled.
    waiting = berth.wait_condition(ns, "workload-b", "ResourcesReady", "False", reason="Waiting")
    assert "Workload workload-a does not exist in namespace" in waiting["message"]
    stalled = berth.condition(ns, "workload-b", "Stalled")
    assert stalled is not None
    assert stalled["status"] == "False"

    berth.create_workload(ns, imported(example / "scoreA.yaml", ns))
    berth.wait_condition(ns, "workload-b", "Ready", "True", timeout=90)
    # score-compose gives http://workload-a:web; the Service's name and port number it is.
    assert env_vars(deployment(api, ns, "workload-b"))["DEPENDENCY_URL"] == (
        "http://workload-a:8080"
    )


def test_service_port_naming_a_port_the_workload_lacks_is_stalled(
    berth: Berth, score_env: str
) -> None:
    ns = score_env
    berth.create_workload(ns, score_workload(ns, "api", service={"ports": {"web": {"port": 8080}}}))
    berth.create_workload(
        ns,
        score_workload(
            ns,
            "client",
            containers={
                "main": {
                    "image": "nginx:1.27",
                    "variables": {"API": "${resources.api.hostname}:${resources.api.port}"},
                }
            },
            resources={
                "api": {"type": "service-port", "params": {"workload": "api", "port": "grpc"}}
            },
        ),
    )
    stalled = berth.wait_condition(ns, "client", "Stalled", "True", reason="ParamInvalid")
    assert "Workload api has no service port grpc (its ports: web)" in stalled["message"]


# -- point 6 -------------------------------------------------------------------------------


def test_image_dot_is_refused_at_admission(berth: Berth, score_env: str) -> None:
    ns = score_env
    with pytest.raises(ApiException) as caught:
        berth.create_workload(ns, score_workload(ns, "built", containers={"main": {"image": "."}}))
    assert caught.value.status == 422
    assert "berth import --image IMAGE" in caught.value.body


def test_import_image_runs(berth: Berth, score_env: str, api: ApiClient) -> None:
    ns = score_env
    sample = CORPUS / "examples/specification/command/score.yaml"
    body = imported(sample, ns, "--image", "nginx:1.27")
    name = body["metadata"]["name"]
    berth.create_workload(ns, body)
    berth.wait_condition(ns, name, "Ready", "True", timeout=90)


# -- point 7 -------------------------------------------------------------------------------


def test_before_annotations_and_every_score_field(
    berth: Berth, score_env: str, api: ApiClient
) -> None:
    ns = score_env
    body = score_workload(
        ns,
        "ordered",
        metadata={
            "annotations": {
                "k8s.score.dev/kind": "Deployment",
                "k8s.score.dev/service-name": "ordered-api",
            },
            "team": "shop",
        },
        containers={
            "migrate": {
                "image": "busybox:1.36",
                "command": ["sh", "-c", "true"],
                "before": {"main": {"ready": "complete"}},
            },
            "proxy": {
                "image": "busybox:1.36",
                "readinessProbe": {"exec": {"command": ["true"]}},
                "before": {"main": {"ready": "healthy"}},
            },
            "main": {
                "image": "nginx:1.27",
                "files": [
                    {"target": "/etc/app/team", "content": "${metadata.team}", "noExpand": False}
                ],
                "livenessProbe": {"httpGet": {"path": "/", "port": 8080, "scheme": "HTTP"}},
            },
        },
        service={"ports": {"web": {"port": 80, "targetPort": 8080, "protocol": "TCP"}}},
        resources={"dns": {"type": "dns", "metadata": {"annotations": {"a.b/c": "d"}, "x": "y"}}},
    )
    berth.create_workload(ns, body)
    berth.wait_condition(ns, "ordered", "Ready", "True", timeout=90)
    pod = deployment(api, ns, "ordered").spec.template.spec
    assert [c.name for c in pod.init_containers] == ["migrate", "proxy"]
    assert pod.init_containers[1].restart_policy == "Always"
    assert pod.init_containers[1].startup_probe._exec.command == ["true"]
    assert [c.name for c in pod.containers] == ["main"]
    k8s.CoreV1Api(api).read_namespaced_service("ordered-api", ns)
    assert berth.workload(ns, "ordered")["status"]["endpoint"].startswith("ordered-api.")


def test_statefulset_kind_is_refused_at_admission(berth: Berth, score_env: str) -> None:
    ns = score_env
    body = score_workload(
        ns, "stateful", metadata={"annotations": {"k8s.score.dev/kind": "StatefulSet"}}
    )
    with pytest.raises(ApiException) as caught:
        berth.create_workload(ns, body)
    assert caught.value.status == 422
    assert "Berth runs every Workload as a Deployment" in caught.value.body


# -- point 8 -------------------------------------------------------------------------------


def test_volume_is_an_empty_dir_and_persistent_a_claim(
    berth: Berth, score_env: str, api: ApiClient
) -> None:
    ns = score_env
    sample = CORPUS / "score-compose/examples/05-volume-mounts/score.yaml"
    body = imported(sample, ns)
    name = body["metadata"]["name"]
    berth.create_workload(ns, body)
    berth.wait_condition(ns, name, "Ready", "True", timeout=90)
    volumes = deployment(api, ns, name).spec.template.spec.volumes
    assert [v.empty_dir is not None for v in volumes] == [True]
    core = k8s.CoreV1Api(api)
    assert core.list_namespaced_persistent_volume_claim(ns).items == []

    persistent = score_workload(
        ns,
        "keeper",
        containers={
            "main": {"image": "nginx:1.27", "volumes": {"/data": {"source": "${resources.data}"}}}
        },
        resources={"data": {"type": "volume", "class": "persistent", "params": {"size": "2Gi"}}},
    )
    berth.create_workload(ns, persistent)

    def claim() -> Any:
        items = core.list_namespaced_persistent_volume_claim(ns).items
        return items[0] if items else None

    pvc = wait_for(claim, 60, "the PersistentVolumeClaim of class persistent")
    assert pvc.spec.resources.requests["storage"] == "2Gi"
    dep = deployment(api, ns, "keeper")
    assert dep.spec.template.spec.volumes[0].persistent_volume_claim.claim_name == pvc.metadata.name


# -- point 9 -------------------------------------------------------------------------------


def test_status_url_comes_from_the_route(berth: Berth, score_env: str) -> None:
    ns = score_env
    sample = CORPUS / "score-compose/examples/09-dns-and-route/score.yaml"
    body = imported(sample, ns)
    name = body["metadata"]["name"]
    berth.create_workload(ns, body)
    berth.wait_condition(ns, name, "Ready", "True", timeout=90)
    workload = Workload.model_validate(berth.workload(ns, name))
    host = resource_identity(name, "dns", workload.spec.resources["dns"]) + ".apps.berth.test"  # type: ignore[index]
    assert berth.workload(ns, name)["status"]["url"] == f"http://{host}/my/[^/]+/path"
