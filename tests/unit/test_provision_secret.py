"""The secret kind: outputs are keys of an existing Secret, all of them secret."""

from __future__ import annotations

from typing import Any

import pytest

from berth.provision import (
    FromSecret,
    ProvisionError,
    ResourcePlan,
    ResourceState,
    check_secret_keys,
    outputs_from,
    plan,
)
from berth.render import SecretRef
from tests.unit.builders import environment, workload

PROVISIONER: dict[str, Any] = {
    "name": "legacy-db",
    "type": "postgres",
    "id": "legacy",
    "outputs": ["host", "password"],
    "secret": {
        "name": "legacy-db-credentials",
        "keys": {"password": "PGPASSWORD", "user": "PGUSER"},
    },
}


def the_plan(
    params: dict[str, Any] | None = None, provisioner: dict[str, Any] = PROVISIONER
) -> ResourcePlan:
    env = environment(provisioners=[provisioner])
    resource: dict[str, Any] = {"type": "postgres", "id": "legacy"}
    if params:
        resource["params"] = params
    return plan(workload(resources={"db": resource}), env, "db", params or {})


def test_plan() -> None:
    result = the_plan()
    assert result.kind == "secret"
    assert result.manifests == ()
    assert result.claim is None
    assert result.secret_name == "legacy-db-credentials"
    assert result.shared
    assert [(o.name, o.source, o.secret) for o in result.outputs] == [
        ("host", FromSecret("legacy-db-credentials", "host"), True),
        ("password", FromSecret("legacy-db-credentials", "PGPASSWORD"), True),
        ("user", FromSecret("legacy-db-credentials", "PGUSER"), True),
    ]
    assert (
        result.reason == "legacy-db matched type postgres and id legacy; 1 provisioner considered"
    )


def test_no_params_accepted() -> None:
    with pytest.raises(ProvisionError) as caught:
        the_plan({"storageGB": 10})
    assert caught.value.reason == "ParamNotAllowed"
    assert caught.value.message == (
        "resource 'db' sets params.storageGB, which provisioner legacy-db does not accept "
        "(it accepts no params)"
    )


def test_a_secret_provisioner_must_promise_something() -> None:
    with pytest.raises(ProvisionError) as caught:
        the_plan(provisioner={"type": "postgres", "secret": {"name": "creds"}})
    assert caught.value.reason == "InvalidProvisioner"
    assert caught.value.message == (
        "provisioner provisioners[0] (secret creds) promises no outputs; list them in outputs "
        "or secret.keys"
    )


def test_secret_name_must_be_a_name() -> None:
    with pytest.raises(ProvisionError) as caught:
        the_plan(provisioner={"type": "postgres", "outputs": ["a"], "secret": {"name": "Not OK"}})
    assert caught.value.reason == "InvalidProvisioner"
    assert "secret.name: String should match pattern" in caught.value.message


def test_states() -> None:
    result = the_plan()
    assert outputs_from(result, None, None) == (
        None,
        ResourceState(
            "Pending",
            "SecretNotFound",
            "resource 'db' reads its outputs from Secret legacy-db-credentials in namespace "
            "team-a-dev, which does not exist (provisioner legacy-db)",
        ),
    )
    values, state = outputs_from(result, None, {"host", "PGUSER"})
    assert values is None
    assert state == ResourceState(
        "Failed",
        "MissingOutput",
        "resource 'db' (provisioner legacy-db) misses outputs 'password' (Secret "
        "legacy-db-credentials has no key PGPASSWORD); keys present in Secret "
        "legacy-db-credentials: PGUSER, host",
    )
    values, state = outputs_from(result, None, {"host", "PGUSER", "PGPASSWORD", "other"})
    assert state.ready
    assert values == {
        "host": SecretRef("legacy-db-credentials", "host"),
        "password": SecretRef("legacy-db-credentials", "PGPASSWORD"),
        "user": SecretRef("legacy-db-credentials", "PGUSER"),
    }


def test_check_secret_keys() -> None:
    result = the_plan()
    assert check_secret_keys(result, {"host", "PGUSER", "PGPASSWORD"}) is None
    problem = check_secret_keys(result, {"host"})
    assert problem is not None
    assert (problem.reason, problem.resource) == ("MissingOutput", "db")
    assert problem.message == (
        "resource 'db': Secret legacy-db-credentials lacks outputs 'password' (key PGPASSWORD), "
        "'user' (key PGUSER) (keys present: host)"
    )
    absent = check_secret_keys(result, None)
    assert absent is not None
    assert absent.reason == "SecretNotFound"
