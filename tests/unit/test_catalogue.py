"""The default catalogue (charts/berth/catalogue): every type score-k8s and score-compose
provide by default, with Score's output names, planned and rendered without a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.api import ClusterProvisioner
from berth.provision import ProvisionError, check_provisioners, match, outputs_from, plan
from berth.render import render_workload
from berth.render.outputs import OutputValue
from tests.unit.builders import environment, workload

CATALOGUE = Path(__file__).resolve().parents[2] / "charts" / "berth" / "catalogue"

# Score's output names, per (type, class), as score-k8s and score-compose's defaults (and
# Score's community provisioners for service, endpoint, llm-model) name them.
SCORE_OUTPUTS: dict[tuple[str, str | None], list[str]] = {
    ("service", None): ["name"],
    ("endpoint", None): ["url", "name", "host", "port"],
    ("environment", None): ["name", "type", "namespace"],
    ("service-port", None): ["hostname", "port"],
    ("workload-port", None): ["hostname", "port"],
    ("dns", None): ["host"],
    ("route", None): [],
    ("volume", None): ["emptyDir"],
    ("volume", "persistent"): ["claimName"],
    ("tmp-volume", None): ["emptyDir", "sizeLimit"],
    ("postgres", None): ["host", "port", "name", "database", "username", "password"],
    ("postgres-instance", None): ["host", "port", "username", "password"],
    ("mysql", None): ["host", "port", "name", "database", "username", "password"],
    ("redis", None): ["host", "port", "username", "password"],
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
    ("kafka-topic", None): ["host", "port", "name", "num_partitions"],
    ("elasticsearch", None): ["host", "port", "username", "password"],
    ("mssql", None): ["server", "port", "connection", "database", "username", "password"],
    ("llm-model", None): ["model", "url", "api-key"],
}
# Params a type needs to plan (the others plan with none).
PARAMS: dict[str, dict[str, Any]] = {
    "route": {"host": "shop.localhost", "port": 80},
    "service-port": {"workload": "billing", "port": 8080},
    "workload-port": {"workload": "billing", "port": 8080},
}
# The Environment's other Workloads' Services, as the operator passes them to plan().
SERVICES = {
    "billing": {
        "service": "billing",
        "ports": {"http": {"port": 8080, "targetPort": 80, "protocol": "TCP"}},
    }
}
# Types whose instances hold data: served in development and preview Environments only.
STATEFUL = {
    "postgres",
    "postgres-instance",
    "mysql",
    "redis",
    "mongodb",
    "amqp",
    "s3",
    "kafka-topic",
    "elasticsearch",
    "mssql",
    "llm-model",
}


def load_catalogue() -> list[ClusterProvisioner]:
    found = []
    for path in sorted(CATALOGUE.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append(ClusterProvisioner.model_validate(document))
    return found


def plan_type(definition: ClusterProvisioner, env_type: str = "development") -> Any:
    spec = definition.spec
    resource: dict[str, Any] = {"type": spec.type}
    if spec.class_ is not None:
        resource["class"] = spec.class_
    params = PARAMS.get(spec.type)
    if params:
        resource["params"] = params
    wl = workload("shop", resources={"res": resource})
    env = environment(type=env_type)
    chosen = match("res", wl.spec.resources["res"], None, load_catalogue(), env)  # type: ignore[index]
    return plan(wl, env, "res", params or {}, chosen, SERVICES)


def test_the_catalogue_serves_every_type_with_score_output_names() -> None:
    served = {(d.spec.type, d.spec.class_) for d in load_catalogue()}
    assert served == set(SCORE_OUTPUTS)
    names = [d.name for d in load_catalogue()]
    assert len(names) == len(set(names))
    assert all(name.startswith("default-") for name in names)


@pytest.mark.parametrize("definition", load_catalogue(), ids=lambda d: d.name)
def test_every_definition_is_valid_and_plans(definition: ClusterProvisioner) -> None:
    assert check_provisioners([definition.provisioner()]) == []
    result = plan_type(definition)
    assert result.provisioner == f"ClusterProvisioner/{definition.name}"
    assert [o.name for o in result.outputs] == SCORE_OUTPUTS[
        (definition.spec.type, definition.spec.class_)
    ]
    # No template may write a Secret, so every output is a plain value, known at once.
    values, state = outputs_from(result, None, None)
    assert state.ready, state
    assert values is not None
    for manifest in result.manifests:
        assert manifest["metadata"]["namespace"] == "team-a-dev"
        assert manifest["metadata"]["labels"]["berth.dev/resource"] == result.identity
        if manifest["kind"] == "Deployment":
            assert_restricted(manifest["spec"]["template"]["spec"])


def assert_restricted(pod: dict[str, Any]) -> None:
    """What the namespace's Pod Security (restricted) admits."""
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert "/" in container["image"] or ":" in container["image"]


@pytest.mark.parametrize("definition", load_catalogue(), ids=lambda d: d.name)
def test_stateful_types_only_in_development_and_preview(definition: ClusterProvisioner) -> None:
    if definition.spec.type in STATEFUL:
        assert definition.spec.environment_types == ["development", "preview"]
    else:
        assert definition.spec.environment_types is None
    assert definition.spec.environment_names is None


def test_a_production_environment_is_told_what_the_catalogue_offers() -> None:
    (postgres,) = [d for d in load_catalogue() if d.spec.type == "postgres"]
    with pytest.raises(ProvisionError) as caught:
        plan_type(postgres, env_type="production")
    assert "ClusterProvisioner/default-postgres serves environment types development, preview" in (
        str(caught.value)
    )


def rendered_outputs(resources: dict[str, Any]) -> dict[str, dict[str, OutputValue]]:
    wl = workload("shop", resources=resources)
    env = environment()
    outputs: dict[str, dict[str, OutputValue]] = {}
    for name, request in (wl.spec.resources or {}).items():
        chosen = match(name, request, None, load_catalogue(), env)
        result = plan(wl, env, name, dict(request.params or {}), chosen)
        values, _ = outputs_from(result, None, None)
        assert values is not None
        outputs[name] = values
    return outputs


def test_score_sample_service_and_volumes_render() -> None:
    resources = {
        "cart": {"type": "service"},
        "scratch": {"type": "volume"},
        "tmp": {"type": "tmp-volume"},
        "db": {"type": "postgres"},
    }
    outputs = rendered_outputs(resources)
    assert outputs["cart"] == {"name": "cart"}
    wl = workload(
        "shop",
        containers={
            "main": {
                "image": "registry.acme.dev/shop:1",
                "variables": {
                    "CART_ADDR": "${resources.cart.name}:7070",
                    "DB": "postgres://${resources.db.username}@${resources.db.host}/"
                    "${resources.db.database}",
                },
                "volumes": {
                    "/scratch": {"source": "${resources.scratch}"},
                    "/tmp": {"source": "${resources.tmp}"},
                },
            }
        },
        resources=resources,
    )
    rendered = render_workload(wl, environment(), outputs)
    (deployment,) = [m for m in rendered.manifests if m["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "pvc-scratch", "emptyDir": {}} in pod["volumes"]
    assert {"name": "pvc-tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}} in (
        pod["volumes"]
    )
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["CART_ADDR"] == "cart:7070"
    assert env["DB"].startswith("postgres://app@shop-db-")


@pytest.mark.parametrize("type_", ["service-port", "workload-port"])
def test_port_by_name_resolves_to_the_services_port_number(type_: str) -> None:
    (definition,) = [d for d in load_catalogue() if d.spec.type == type_]
    env = environment()

    def plan_port(params: dict[str, Any]) -> Any:
        wl = workload("shop", resources={"dep": {"type": type_, "params": params}})
        chosen = match("dep", wl.spec.resources["dep"], None, [definition], env)  # type: ignore[index]
        return plan(wl, env, "dep", params, chosen, SERVICES)

    result = plan_port({"workload": "billing", "port": "http"})
    values = {o.name: o.source.value for o in result.outputs}
    assert values == {"hostname": "billing", "port": "8080"}
    with pytest.raises(ProvisionError) as caught:
        plan_port({"workload": "billing", "port": "web"})
    assert "Workload billing has no service port web (its ports: http)" in str(caught.value)
    with pytest.raises(ProvisionError) as caught:
        plan_port({"workload": "ledger", "port": "web"})
    assert caught.value.transient
    assert "Workload ledger does not exist in namespace team-a-dev yet" in str(caught.value)
    # A value that can never name a Workload is refused at once, not waited for.
    for never in ("../sb/victim", "Billing", "a" * 64, "9lives", 5, "billing\n"):
        with pytest.raises(ProvisionError) as caught:
            plan_port({"workload": never, "port": "http"})
        assert caught.value.reason == "ParamInvalid", never
        assert not caught.value.transient
        assert "is not a Workload's name" in str(caught.value)
    with pytest.raises(ProvisionError) as caught:
        plan_port({"workload": "../sb/victim", "port": "http"})
    assert 'params.workload "../sb/victim" is not a Workload\'s name' in str(caught.value)


def test_the_example_cluster_provisioners_layer_over_the_catalogue() -> None:
    examples = [
        ClusterProvisioner.model_validate(doc)
        for doc in yaml.safe_load_all(
            (CATALOGUE.parents[2] / "examples" / "cluster-provisioners.yaml").read_text()
        )
        if doc
    ]
    catalogue = load_catalogue() + examples
    assert check_provisioners([d.provisioner() for d in examples]) == []
    db = workload("shop", resources={"db": {"type": "postgres"}}).spec.resources["db"]  # type: ignore[index]
    big = workload("shop", resources={"db": {"type": "postgres", "class": "large"}}).spec.resources[
        "db"
    ]  # type: ignore[index]
    served = {
        env_type: match("db", db, None, catalogue, environment(type=env_type)).name
        for env_type in ("development", "preview", "staging", "production")
    }
    assert served == {
        "development": "ClusterProvisioner/default-postgres",
        "preview": "ClusterProvisioner/default-postgres",
        "staging": "ClusterProvisioner/postgres-production",
        "production": "ClusterProvisioner/postgres-production",
    }
    chosen = match("db", big, None, catalogue, environment(type="development"))
    assert chosen.name == "ClusterProvisioner/postgres-large"
    result = plan(
        workload("shop", resources={"db": {"type": "postgres"}}),
        environment(type="production"),
        "db",
        {},
        match("db", db, None, catalogue, environment(type="production")),
    )
    password = result.output("password")
    assert password is not None
    assert password.secret
