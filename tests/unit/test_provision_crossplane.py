"""The crossplane kind: the claim, its labels, parameters and where outputs come from."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from berth.api import Environment, Workload
from berth.provision import (
    ClaimRef,
    FromField,
    FromSecret,
    FromValue,
    ProvisionError,
    plan,
    resource_identity,
)
from tests.unit.builders import environment, workload

POSTGRES: dict[str, Any] = {
    "name": "postgres",
    "type": "postgres",
    "outputs": ["host", "port", "name", "username", "password"],
    "crossplane": {
        "apiVersion": "platform.acme.dev/v1alpha1",
        "kind": "PostgreSQLInstance",
        "compositionSelector": {"matchLabels": {"provider": "aws", "tier": "small"}},
        "parameters": {"storageGB": 10, "tags": {"team": "a", "cost": "low"}},
        "allowedParams": ["storageGB", "tags", "version"],
        "fieldPaths": {"host": "status.host", "port": "status.port"},
        "values": {"name": "app"},
        "connectionSecretKeys": {"username": "user"},
    },
}


def env_with(*provisioners: dict[str, Any]) -> Environment:
    return environment(provisioners=[copy.deepcopy(p) for p in provisioners])


def db_workload(name: str = "checkout", **resource: Any) -> Workload:
    return workload(name, resources={"db": {"type": "postgres", **resource}})


def params_of(wl: Workload, resource: str = "db") -> dict[str, Any]:
    return dict((wl.spec.resources or {})[resource].params or {})


def test_the_claim() -> None:
    wl = db_workload(params={"storageGB": 20, "tags": {"cost": "high"}})
    result = plan(wl, env_with(POSTGRES), "db", params_of(wl))
    identity = resource_identity("checkout", "db", (wl.spec.resources or {})["db"])
    assert result.identity == identity
    assert result.kind == "crossplane"
    assert not result.shared
    assert result.namespace == "team-a-dev"
    assert result.provisioner == "postgres"
    assert result.reason == "postgres matched type postgres; 1 provisioner considered"
    assert list(result.manifests) == [
        {
            "apiVersion": "platform.acme.dev/v1alpha1",
            "kind": "PostgreSQLInstance",
            "metadata": {
                "name": identity,
                "namespace": "team-a-dev",
                "labels": {
                    "app.kubernetes.io/managed-by": "berth",
                    "berth.dev/resource": identity,
                    "berth.dev/resource-type": "postgres",
                    "berth.dev/workload": "checkout",
                },
            },
            "spec": {
                "parameters": {"storageGB": 20, "tags": {"team": "a", "cost": "high"}},
                "compositionSelector": {"matchLabels": {"provider": "aws", "tier": "small"}},
                "writeConnectionSecretToRef": {"name": f"{identity}-conn"},
            },
        }
    ]
    assert result.claim == ClaimRef(
        "platform.acme.dev/v1alpha1", "PostgreSQLInstance", identity, "team-a-dev"
    )
    assert result.secret_name == f"{identity}-conn"


def test_where_outputs_come_from() -> None:
    wl = db_workload()
    result = plan(wl, env_with(POSTGRES), "db", {})
    conn = f"{result.identity}-conn"
    assert [(o.name, o.source, o.secret) for o in result.outputs] == [
        ("host", FromField("status.host"), False),
        ("port", FromField("status.port"), False),
        ("name", FromValue("app"), False),
        ("username", FromSecret(conn, "user"), True),
        ("password", FromSecret(conn, "password"), True),
    ]
    assert [o.name for o in result.outputs] == ["host", "port", "name", "username", "password"]
    assert result.output("password") is not None
    assert result.output("nope") is None


def test_outputs_named_only_in_the_crossplane_block_are_promised_too() -> None:
    provisioner = copy.deepcopy(POSTGRES)
    provisioner["outputs"] = ["password"]
    result = plan(db_workload(), env_with(provisioner), "db", {})
    assert [o.name for o in result.outputs] == ["password", "host", "name", "port", "username"]


def test_composition_ref_and_annotations() -> None:
    provisioner = copy.deepcopy(POSTGRES)
    del provisioner["crossplane"]["compositionSelector"]
    provisioner["crossplane"]["compositionRef"] = {"name": "pg-aws"}
    provisioner["crossplane"]["annotations"] = {"composer.berth.dev/fail": "boom"}
    wl = workload(
        metadata={"annotations": {"crossplane.io/paused": "true"}},
        resources={
            "db": {
                "type": "postgres",
                "metadata": {"annotations": {"crossplane.io/external-name": "prod-db"}},
            }
        },
    )
    claim = plan(wl, env_with(provisioner), "db", {}).manifests[0]
    assert claim["spec"]["compositionRef"] == {"name": "pg-aws"}
    assert "compositionSelector" not in claim["spec"]
    # only the platform's annotations: a Workload cannot pause or adopt a database
    assert claim["metadata"]["annotations"] == {"composer.berth.dev/fail": "boom"}


def test_shared_claims_carry_no_workload_label_and_agree_across_workloads() -> None:
    env = env_with(POSTGRES)
    one = db_workload("checkout", id="main")
    two = db_workload("billing", id="main")
    first = plan(one, env, "db", {})
    second = plan(two, env, "db", {})
    assert first.shared
    assert first.identity == second.identity
    assert first.identity.startswith("postgres-main-")
    labels = first.manifests[0]["metadata"]["labels"]
    assert labels == {
        "app.kubernetes.io/managed-by": "berth",
        "berth.dev/resource": first.identity,
        "berth.dev/resource-type": "postgres",
        "berth.dev/shared": "true",
    }
    assert first.manifests == second.manifests
    assert first.fingerprint == second.fingerprint
    different = plan(
        db_workload("billing", id="main", params={"storageGB": 50}),
        env,
        "db",
        {"storageGB": 50},
    )
    assert different.fingerprint != first.fingerprint


def test_params_not_allowed_and_invalid() -> None:
    wl = db_workload(params={"superuser": True, "storageGB": "lots"})
    with pytest.raises(ProvisionError) as caught:
        plan(wl, env_with(POSTGRES), "db", params_of(wl))
    assert [(p.reason, p.resource) for p in caught.value.problems] == [
        ("ParamNotAllowed", "db"),
        ("ParamInvalid", "db"),
    ]
    assert caught.value.message == (
        "resource 'db' sets params.superuser, which provisioner postgres does not accept "
        "(it accepts: storageGB, tags, version); resource 'db' params.storageGB is a string, "
        "but provisioner postgres expects a number (its default is 10)"
    )


def test_resolved_params_are_what_counts() -> None:
    wl = db_workload(params={"version": "${resources.other.version}"})
    claim = plan(wl, env_with(POSTGRES), "db", {"version": "16"}).manifests[0]
    assert claim["spec"]["parameters"]["version"] == "16"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"kind": None},
            "provisioner postgres (type postgres) is invalid: crossplane.kind: Field required; "
            "the platform team must fix the Environment",
        ),
        (
            {"compositionRef": {"name": "x"}},
            "provisioner postgres (type postgres) is invalid: crossplane: Value error, set "
            "compositionSelector or compositionRef, not both; the platform team must fix the "
            "Environment",
        ),
        (
            {"values": {"host": "db"}},
            "provisioner postgres (type postgres) is invalid: crossplane: Value error, outputs "
            "host are in both fieldPaths and values; an output has one source; the platform "
            "team must fix the Environment",
        ),
        (
            {"apiVersion": "v1"},
            "provisioner postgres (type postgres) is invalid: crossplane.apiVersion: String "
            "should match pattern",
        ),
        (
            {"surprise": 1},
            "provisioner postgres (type postgres) is invalid: crossplane.surprise: Extra "
            "inputs are not permitted",
        ),
    ],
)
def test_invalid_crossplane_blocks(change: dict[str, Any], expected: str) -> None:
    provisioner = copy.deepcopy(POSTGRES)
    for key, value in change.items():
        if value is None:
            del provisioner["crossplane"][key]
        else:
            provisioner["crossplane"][key] = value
    with pytest.raises(ProvisionError) as caught:
        plan(db_workload(), env_with(provisioner), "db", {})
    assert caught.value.reason == "InvalidProvisioner"
    assert caught.value.problems[0].resource == "db"
    assert caught.value.message.startswith(expected)


def test_unknown_resource_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        plan(db_workload(), env_with(POSTGRES), "nope", {})


def test_plans_are_deterministic() -> None:
    wl = db_workload(params={"tags": {"b": "2", "a": "1"}})
    first = plan(wl, env_with(POSTGRES), "db", params_of(wl))
    second = plan(wl, env_with(POSTGRES), "db", params_of(wl))
    assert first == second
    assert first.fingerprint == second.fingerprint
