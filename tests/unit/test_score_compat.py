"""Score files from the wild: issue 9's points 3, 6, 7, 8 and 9, without a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from berth.api import Environment, Workload
from berth.api.crdgen import build_crds
from berth.cli import main
from berth.provision import ProvisionError, plan, workload_services
from berth.render import RenderError, render_workload
from berth.render.url import route_url
from tests.unit.builders import container, environment, workload, workload_dict

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_ENVIRONMENT = REPO / "examples" / "provisioners" / "environment.yaml"
CORPUS = REPO / "tests" / "score-corpus"


def example_environment() -> Environment:
    body = yaml.safe_load(EXAMPLE_ENVIRONMENT.read_text())
    body["spec"]["namespace"] = "team-a-dev"
    return Environment.model_validate(body)


def deployment_of(wl: Workload, outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    rendered = render_workload(wl, environment(), outputs or {})
    return next(m for m in rendered.manifests if m["kind"] == "Deployment")


# -- point 3: service-port resolves another Workload's port by name ---------------------------


def billing_bodies() -> list[dict[str, Any]]:
    billing = workload_dict(
        "billing",
        service={"ports": {"web": {"port": 80, "targetPort": 8080}, "admin": {"port": 9000}}},
    )
    renamed = workload_dict(
        "ledger",
        metadata={"annotations": {"k8s.score.dev/service-name": "ledger-api"}},
        service={"ports": {"grpc": {"port": 5000}}},
    )
    gone = workload_dict("gone", service={"ports": {"web": {"port": 80}}})
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return [billing, renamed, gone, workload_dict("worker")]


def test_workload_services_from_the_cache() -> None:
    assert workload_services(billing_bodies()) == {
        "billing": {
            "service": "billing",
            "ports": {
                "admin": {"port": 9000, "targetPort": 9000, "protocol": "TCP"},
                "web": {"port": 80, "targetPort": 8080, "protocol": "TCP"},
            },
        },
        "ledger": {
            "service": "ledger-api",
            "ports": {"grpc": {"port": 5000, "targetPort": 5000, "protocol": "TCP"}},
        },
        "worker": {"service": "worker", "ports": {}},
    }


def plan_service_port(params: dict[str, Any]) -> Any:
    wl = workload(resources={"dep": {"type": "service-port", "params": params}})
    services = workload_services(billing_bodies())
    return plan(wl, example_environment(), "dep", params, services=services)


@pytest.mark.parametrize(
    ("params", "hostname", "port"),
    [
        ({"workload": "billing", "port": "web"}, "billing", "80"),
        ({"workload": "billing", "port": "admin"}, "billing", "9000"),
        ({"workload": "billing", "port": 80}, "billing", "80"),
        ({"workload": "ledger", "port": "grpc"}, "ledger-api", "5000"),
    ],
)
def test_service_port_gives_the_service_and_the_port_number(
    params: dict[str, Any], hostname: str, port: str
) -> None:
    result = plan_service_port(params)
    values = {o.name: o.source.value for o in result.outputs}  # type: ignore[union-attr]
    assert values == {"hostname": hostname, "port": port}


def test_service_port_of_a_port_the_workload_lacks_lists_its_ports() -> None:
    with pytest.raises(ProvisionError) as caught:
        plan_service_port({"workload": "billing", "port": "grpc"})
    assert caught.value.reason == "ParamInvalid"
    assert not caught.value.transient
    assert "Workload billing has no service port grpc (its ports: admin, web)" in str(caught.value)
    with pytest.raises(ProvisionError) as caught:
        plan_service_port({"workload": "worker", "port": "web"})
    assert "(its ports: none)" in str(caught.value)


def test_service_port_of_a_workload_not_there_yet_waits() -> None:
    with pytest.raises(ProvisionError) as caught:
        plan_service_port({"workload": "gone", "port": "web"})
    assert caught.value.reason == "Waiting"
    assert caught.value.transient
    assert "Workload gone does not exist in namespace team-a-dev yet" in str(caught.value)


# -- point 6: image '.' ----------------------------------------------------------------------


def test_image_dot_is_refused_by_the_model_and_the_crd() -> None:
    with pytest.raises(ValidationError, match="berth import --image"):
        workload(containers={"main": container(image=".")})
    crd = next(c for c in build_crds() if c["spec"]["names"]["kind"] == "Workload")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    image = schema["properties"]["spec"]["properties"]["containers"]["additionalProperties"][
        "properties"
    ]["image"]
    assert image["x-kubernetes-validations"][0]["rule"] == "self != '.'"


SCORE_DOT = """\
apiVersion: score.dev/v1b1
metadata: {name: app}
containers:
  web: {image: .}
  sidecar: {image: "busybox:1.36"}
"""


def run_import(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, *flags: str
) -> tuple[int, str, str]:
    path = tmp_path / "score.yaml"
    path.write_text(SCORE_DOT)
    code = main(["import", str(path), *flags])
    out, err = capsys.readouterr()
    return code, out, err


def test_import_without_image_says_what_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_import(capsys, tmp_path)
    assert code == 1
    assert "score.yaml:4: containers.web.image: '.' is Score's image built" in err
    assert "--image IMAGE (every '.' image) or --image web=IMAGE" in err


def test_import_image_fills_every_dot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_import(capsys, tmp_path, "--image", "shop/web:1.2")
    assert code == 0
    containers = yaml.safe_load(out)["spec"]["containers"]
    assert containers["web"]["image"] == "shop/web:1.2"
    assert containers["sidecar"]["image"] == "busybox:1.36"


def test_import_image_per_container(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_import(
        capsys, tmp_path, "--image", "web=shop/web:2", "--image", "sidecar=busybox:1.37"
    )
    assert code == 0
    containers = yaml.safe_load(out)["spec"]["containers"]
    assert containers["web"]["image"] == "shop/web:2"
    assert containers["sidecar"]["image"] == "busybox:1.37"
    code, _, err = run_import(capsys, tmp_path, "--image", "db=postgres:16", "--image", "x:1")
    assert code == 1
    assert "the Score file has no container 'db' (containers: sidecar, web)" in err


# -- point 7: every Score field --------------------------------------------------------------


def test_before_complete_is_an_init_container_started_a_sidecar() -> None:
    wl = workload(
        containers={
            "migrate": container(before={"main": {"ready": "complete"}}),
            "proxy": container(
                before={"main": {"ready": "healthy"}},
                readinessProbe={"exec": {"command": ["true"]}},
            ),
            "agent": container(before={"proxy": {"ready": "started"}}),
            "main": container(),
        }
    )
    pod = deployment_of(wl)["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["main"]
    init = pod["initContainers"]
    # agent must start before proxy; migrate and agent have no order between them.
    assert [c["name"] for c in init] == ["agent", "migrate", "proxy"]
    assert init[0]["restartPolicy"] == "Always"
    assert "restartPolicy" not in init[1]
    assert init[2]["restartPolicy"] == "Always"
    assert init[2]["startupProbe"] == {"exec": {"command": ["true"]}}


@pytest.mark.parametrize(
    ("containers", "message"),
    [
        (
            {
                "a": container(before={"b": {"ready": "started"}}),
                "b": container(before={"a": {"ready": "started"}}),
            },
            "every container has a before",
        ),
        (
            {"a": container(before={"zz": {"ready": "started"}})},
            "names 'zz', which is not a container",
        ),
        (
            {"a": container(before={"a": {"ready": "started"}}), "b": container()},
            "names the container itself",
        ),
    ],
)
def test_invalid_before_is_refused(containers: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        workload(containers=containers)


def test_before_healthy_needs_a_probe() -> None:
    wl = workload(containers={"a": container(before={"b": {"ready": "healthy"}}), "b": container()})
    with pytest.raises(RenderError) as caught:
        render_workload(wl, environment(), {})
    assert caught.value.reason == "InvalidBefore"
    assert "needs a readinessProbe or livenessProbe" in caught.value.message


def test_kind_annotation_deployment_is_honoured_statefulset_refused() -> None:
    ok = workload(metadata={"annotations": {"k8s.score.dev/kind": "Deployment"}})
    assert deployment_of(ok)["kind"] == "Deployment"
    with pytest.raises(ValidationError, match="Berth runs every Workload as a Deployment"):
        workload(metadata={"annotations": {"k8s.score.dev/kind": "StatefulSet"}})


def test_service_name_annotation_names_the_service() -> None:
    wl = workload(
        metadata={"annotations": {"k8s.score.dev/service-name": "checkout-api"}},
        service={"ports": {"web": {"port": 80}}},
    )
    rendered = render_workload(wl, environment(), {})
    service = next(m for m in rendered.manifests if m["kind"] == "Service")
    assert service["metadata"]["name"] == "checkout-api"
    assert rendered.endpoint == "checkout-api.team-a-dev.svc.cluster.local:80"
    with pytest.raises(ValidationError, match="must be a DNS-1035 label"):
        workload(metadata={"annotations": {"k8s.score.dev/service-name": "Bad_Name"}})


def test_unknown_fields_are_named_in_scores_terms(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "score.yaml"
    path.write_text(
        "apiVersion: score.dev/v1b1\nmetadata: {name: app}\n"
        "containers:\n  main:\n    image: nginx\n    imagePullPolicy: Always\n"
    )
    assert main(["import", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Extra inputs" not in err
    assert (
        "score.yaml:6: containers.main.imagePullPolicy: imagePullPolicy is not a field of the "
        "Score specification (score.dev/v1b1) here; the fields here are: args, before, "
        "command, files, image, livenessProbe, readinessProbe, resources, variables, volumes"
    ) in err


def test_the_full_score_sample_imports(capsys: pytest.CaptureFixture[str]) -> None:
    """Every field of Score's own full sample is accepted (its '.' image is filled in)."""
    sample = CORPUS / "spec" / "samples" / "score-full.yaml"
    assert main(["import", str(sample), "--image", "example/built:1"]) == 0
    spec = yaml.safe_load(capsys.readouterr().out)["spec"]
    assert spec["metadata"]["extra-key"] == "extra-value"
    assert spec["resources"]["resource-one1"]["metadata"]["extra-key"] == "extra-value"


def test_every_corpus_file_imports_but_the_before_cycle(
    capsys: pytest.CaptureFixture[str],
) -> None:
    refused = []
    for path in sorted(CORPUS.rglob("*.yaml")):
        if path.name == "expected-refusals.yaml":
            continue
        if main(["import", str(path), "--image", "example/built:1"]) != 0:
            refused.append(str(path.relative_to(CORPUS)))
        capsys.readouterr()
    assert refused == ["score-compose/internal/command/generate_test.go.d/06.yaml"]


# -- point 8: volume is an emptyDir; class persistent a claim ------------------------------


def plan_volume(**request: Any) -> Any:
    wl = workload(resources={"data": {"type": "volume", **request}})
    return plan(wl, example_environment(), "data", request.get("params") or {})


def test_volume_is_an_empty_dir_by_default() -> None:
    result = plan_volume()
    assert result.manifests == ()
    assert [(o.name, o.source.value) for o in result.outputs] == [("emptyDir", "")]  # type: ignore[union-attr]
    wl = workload(
        containers={"main": container(volumes={"/data": {"source": "${resources.data}"}})},
        resources={"data": {"type": "volume"}},
    )
    pod = deployment_of(wl, {"data": {"emptyDir": ""}})["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "pvc-data", "emptyDir": {}}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "pvc-data", "mountPath": "/data"}]
    sized = plan_volume(params={"sizeLimit": "512Mi"})
    outputs = {o.name: o.source.value for o in sized.outputs}  # type: ignore[union-attr]
    assert outputs == {"emptyDir": "", "sizeLimit": "512Mi"}
    pod = deployment_of(wl, {"data": outputs})["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "pvc-data", "emptyDir": {"sizeLimit": "512Mi"}}]


def test_volume_of_class_persistent_is_a_claim() -> None:
    result = plan_volume(**{"class": "persistent", "params": {"size": "5Gi"}})
    (claim,) = result.manifests
    assert claim["kind"] == "PersistentVolumeClaim"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert [o.name for o in result.outputs] == ["claimName"]


# -- point 9: status.url from the route ------------------------------------------------------


def test_url_comes_from_the_route() -> None:
    wl = workload(
        service={"ports": {"web": {"port": 80}}},
        resources={
            "dns": {"type": "dns"},
            "web": {
                "type": "route",
                "params": {"host": "${resources.dns.host}", "path": "/shop", "port": 80},
            },
        },
    )
    assert route_url(wl, {}) is None  # the host is not known yet: no URL, no problem
    outputs: dict[str, Any] = {"dns": {"host": "checkout.dev.acme.test"}}
    assert route_url(wl, outputs) == "http://checkout.dev.acme.test/shop"
    assert render_workload(wl, environment(), outputs).url == "http://checkout.dev.acme.test/shop"
    assert route_url(workload(), {}) is None


@pytest.mark.parametrize(
    ("before", "fields", "message"),
    [
        (
            {"b": {"ready": "complete"}, "c": {"ready": "started"}},
            {},
            "its before entries mix ready: complete with started",
        ),
        (
            {"b": {"ready": "complete"}},
            {"readinessProbe": {"exec": {"command": ["true"]}}},
            "runs to completion before the others start (before: ready: complete), so it "
            "cannot have a readinessProbe",
        ),
    ],
)
def test_before_kubernetes_cannot_honour_is_refused(
    before: dict[str, Any], fields: dict[str, Any], message: str
) -> None:
    wl = workload(
        containers={"a": container(before=before, **fields), "b": container(), "c": container()}
    )
    with pytest.raises(RenderError) as caught:
        render_workload(wl, environment(), {})
    assert caught.value.reason == "InvalidBefore"
    assert message in caught.value.message


def test_score_conformance_offline_imports_the_corpus(tmp_path: Path) -> None:
    """hack/score-conformance finds every Score file and imports it (no cluster here; the
    cluster run is in the issue's note)."""
    import json
    import subprocess
    import sys

    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "hack" / "score-conformance"), "--offline", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "98 Score files under" in proc.stderr
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 98
    refused = [(r["file"], r["reason"]) for r in rows if r["result"] != "Imported"]
    assert refused == [
        ("score-compose/internal/command/generate_test.go.d/06.yaml", "ImportFailed")
    ]
    # the two files of score-compose's service-port example share an Environment
    pair = {r["namespace"] for r in rows if "08-service-port-resource" in r["file"]}
    assert len(pair) == 1
