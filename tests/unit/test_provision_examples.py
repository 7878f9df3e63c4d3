"""The shipped provisioners (examples/provisioners) and claim CRDs (examples/claim-crds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.api import Environment, Provisioner, Workload
from berth.api.environment import CrossplaneProvisioner, SecretProvisioner, TemplateProvisioner
from berth.provision import (
    FromField,
    FromSecret,
    ResourcePlan,
    check_provisioners,
    kind_spec,
    outputs_from,
    plan,
)
from berth.provision.observe import field_value
from berth.render import Outputs, render_workload, resolve_params, resource_order
from berth.render.outputs import OutputValue
from tests.unit.builders import workload

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENVIRONMENT = EXAMPLES / "provisioners" / "environment.yaml"
WORKLOAD = EXAMPLES / "provisioners" / "workload.yaml"
CLAIM_CRDS = EXAMPLES / "claim-crds"

# Score's output names, per type (class dev: the in-cluster Redis promises host and port).
SCORE_OUTPUTS = {
    ("postgres", None): ["host", "port", "name", "database", "username", "password"],
    ("postgres", "large"): ["host", "port", "name", "database", "username", "password"],
    ("mysql", None): ["host", "port", "name", "database", "username", "password"],
    ("redis", None): ["host", "port", "username", "password"],
    ("redis", "dev"): ["host", "port"],
    ("mongodb", None): ["host", "port", "username", "password", "connection"],
    ("amqp", None): ["host", "port", "vhost", "username", "password"],
    ("s3", None): [
        "bucket",
        "region",
        "endpoint",
        "access_key_id",
        "secret_key",
        "aws_access_key_id",
        "aws_secret_key",
    ],
    ("dns", None): ["host"],
    ("route", None): [],
    ("volume", None): ["emptyDir"],
    ("volume", "persistent"): ["claimName"],
    ("service-port", None): ["hostname", "port"],
}
SECRET_OUTPUTS = {"password", "connection", "access_key_id", "secret_key", "aws_access_key_id"}
SECRET_OUTPUTS |= {"aws_secret_key"}
# Params each example needs to plan (the others plan with none).
PARAMS: dict[str, dict[str, Any]] = {
    "route": {"host": "checkout.staging.apps.acme.dev", "port": 80},
    "service-port": {"workload": "billing", "port": "http"},
}
# The Environment's other Workloads' Services, for service-port.
SERVICES = {
    "billing": {
        "service": "billing",
        "ports": {"http": {"port": 8080, "targetPort": 80, "protocol": "TCP"}},
    }
}


def load_environment() -> Environment:
    return Environment.model_validate(yaml.safe_load(ENVIRONMENT.read_text()))


def claim_crds() -> dict[tuple[str, str, str], dict[str, Any]]:
    crds: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in sorted(CLAIM_CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if crd is None:
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                crds[(spec["group"], version["name"], spec["names"]["kind"])] = crd
    return crds


def crd_schema(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def conforms(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """A small structural check of ``value`` against an OpenAPI v3 schema."""
    problems: list[str] = []
    kind = schema.get("type")
    if schema.get("x-kubernetes-preserve-unknown-fields") and kind in (None, "object"):
        return problems if isinstance(value, dict) else [f"{path}: not an object"]
    checks = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "boolean": bool,
    }
    if kind in checks and not isinstance(value, checks[kind]):
        return [f"{path}: not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if kind == "object":
        for required in schema.get("required", []):
            if required not in value:
                problems.append(f"{path}.{required}: required")
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                problems.extend(conforms(item, properties[key], f"{path}.{key}"))
            elif isinstance(extra, dict):
                problems.extend(conforms(item, extra, f"{path}.{key}"))
            elif properties is not None:
                problems.append(f"{path}.{key}: unknown field")
    if kind == "array":
        for index, item in enumerate(value):
            problems.extend(conforms(item, schema.get("items", {}), f"{path}[{index}]"))
    return problems


def plan_example(env: Environment, provisioner: Provisioner) -> ResourcePlan:
    resource: dict[str, Any] = {"type": provisioner.type}
    if provisioner.class_ is not None:
        resource["class"] = provisioner.class_
    if provisioner.id is not None:
        resource["id"] = provisioner.id
    params = PARAMS.get(provisioner.type)
    if params:
        resource["params"] = params
    wl = workload("checkout", resources={"res": resource})
    return plan(wl, env, "res", params or {}, services=SERVICES)


def example_provisioners() -> list[Provisioner]:
    return list(load_environment().spec.provisioners or [])


def test_the_example_environment_is_valid() -> None:
    env = load_environment()
    assert check_provisioners(env.spec.provisioners) == []
    served = {(p.type, p.class_) for p in env.spec.provisioners or []}
    assert served == set(SCORE_OUTPUTS)


@pytest.mark.parametrize("provisioner", example_provisioners(), ids=lambda p: p.name or p.type)
def test_every_example_provisioner_plans_cleanly(provisioner: Provisioner) -> None:
    env = load_environment()
    result = plan_example(env, provisioner)
    assert result.provisioner == provisioner.name
    assert [o.name for o in result.outputs] == SCORE_OUTPUTS[(provisioner.type, provisioner.class_)]
    for output in result.outputs:
        assert output.secret == (output.name in SECRET_OUTPUTS), output.name
    for manifest in result.manifests:
        assert manifest["apiVersion"]
        assert manifest["kind"]
        assert manifest["metadata"]["name"].startswith(result.identity)
        assert manifest["metadata"]["namespace"] == "team-a-staging"
        assert manifest["metadata"]["labels"]["berth.dev/resource"] == result.identity


@pytest.mark.parametrize(
    "provisioner",
    [p for p in example_provisioners() if p.crossplane is not None],
    ids=lambda p: p.name or p.type,
)
def test_claims_fit_the_claim_crds(provisioner: Provisioner) -> None:
    env = load_environment()
    result = plan_example(env, provisioner)
    assert result.claim is not None
    group, version = result.claim.api_version.split("/")
    crd = claim_crds()[(group, version, result.claim.kind)]
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}
    schema = crd_schema(crd)
    spec = schema["properties"]["spec"]["properties"]
    assert spec["parameters"]["x-kubernetes-preserve-unknown-fields"] is True
    for field in ("compositionSelector", "compositionRef", "writeConnectionSecretToRef"):
        assert field in spec
    status = schema["properties"]["status"]["properties"]
    assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]
    (claim,) = result.manifests
    assert conforms(claim["spec"], schema["properties"]["spec"], "spec") == []
    for output in result.outputs:
        if isinstance(output.source, FromField):
            path = output.source.path.split(".")
            assert path[0] == "status"
            assert path[1] in status, f"{result.claim.kind} status has no {path[1]}"


def test_every_claim_crd_is_used() -> None:
    used = set()
    for provisioner in example_provisioners():
        if provisioner.crossplane is not None:
            group, version = provisioner.crossplane["apiVersion"].split("/")
            used.add((group, version, provisioner.crossplane["kind"]))
    assert set(claim_crds()) == used


# -- the example Workload, end to end, without a cluster ------------------------------------


def fake_cluster(result: ResourcePlan) -> tuple[dict[str, Any] | None, set[str] | None]:
    """What a cluster would show once Crossplane (or whoever) has done its part: a Ready
    claim with every status field the plan reads, and a Secret with every key it reads."""
    keys = {o.source.key for o in result.outputs if isinstance(o.source, FromSecret)}
    if result.claim is None:
        return None, keys if result.secret_name else None
    claim = dict(result.manifests[0])
    status: dict[str, Any] = {
        "conditions": [
            {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"},
            {"type": "Ready", "status": "True", "reason": "Available"},
        ]
    }
    for output in result.outputs:
        if isinstance(output.source, FromField):
            field = output.source.path.split(".")[1]
            status[field] = 5432 if field == "port" else f"{output.name}-value"
    claim["status"] = status
    return claim, keys


def test_the_example_workload_end_to_end() -> None:
    env = load_environment()
    wl = Workload.model_validate(yaml.safe_load(WORKLOAD.read_text()))
    outputs: dict[str, dict[str, OutputValue]] = {}
    plans: dict[str, ResourcePlan] = {}
    for name in resource_order(wl):
        params = resolve_params(wl, name, outputs)
        result = plan(wl, env, name, params)
        claim, keys = fake_cluster(result)
        values, state = outputs_from(result, claim, keys)
        assert state.ready, state
        assert values is not None
        if claim is not None:
            for output in result.outputs:
                if isinstance(output.source, FromField):
                    assert values[output.name] == str(field_value(claim, output.source.path))
        outputs[name] = values
        plans[name] = result

    dns_host = outputs["dns"]["host"]
    assert dns_host == f"{plans['dns'].identity}.staging.apps.acme.dev"
    ingress = plans["web"].manifests[0]
    assert ingress["spec"]["rules"][0]["host"] == dns_host
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {
        "name": "checkout",
        "port": {"number": 80},
    }
    assert plans["data"].manifests[0]["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert plans["db"].manifests[0]["spec"]["parameters"] == {"storageGB": 20, "version": "16"}

    final: Outputs = outputs
    rendered = render_workload(wl, env, final)
    deployment = next(m for m in rendered.manifests if m["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env_vars = {item["name"]: item for item in container["env"]}
    conn = f"{plans['db'].identity}-conn"
    assert env_vars["DB_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": conn, "key": "password"}
    }
    assert env_vars["DB_HOST"]["value"] == "host-value"
    assert env_vars["REDIS_ADDR"]["value"] == f"{plans['cache'].identity}:6379"
    assert env_vars["PUBLIC_URL"]["value"] == f"https://{dns_host}/"
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"persistentVolumeClaim": {"claimName": plans["data"].identity}} in [
        {k: v for k, v in volume.items() if k != "name"} for volume in volumes
    ]
    assert {"name": "pvc-scratch", "emptyDir": {}} in volumes
    assert plans["scratch"].manifests == ()
    config = next(m for m in rendered.manifests if m["kind"] == "ConfigMap")
    assert "host=host-value\nport=5432\n" in config["data"].values()


KIND_MODELS = {
    "crossplane": CrossplaneProvisioner,
    "template": TemplateProvisioner,
    "secret": SecretProvisioner,
}


@pytest.mark.parametrize("provisioner", example_provisioners(), ids=lambda p: p.name or p.type)
def test_kind_specs_of_the_examples(provisioner: Provisioner) -> None:
    """Each example's crossplane/template/secret block validates as its kind's model, and
    reads back whole: no key of the example is ignored or changed on the way."""
    spec = kind_spec(provisioner, provisioner.name or provisioner.type)
    assert isinstance(spec, KIND_MODELS[provisioner.kind])
    written = getattr(provisioner, provisioner.kind)
    assert spec.model_dump(mode="json", by_alias=True, exclude_unset=True) == written
