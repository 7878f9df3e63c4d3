"""outputs_from: a claim's state and outputs, from the claim and its Secret's keys."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from berth.provision import ResourcePlan, ResourceState, check_secret_keys, outputs_from, plan
from berth.render import SecretRef
from tests.unit.builders import environment, workload

PROVISIONER: dict[str, Any] = {
    "type": "postgres",
    "name": "postgres",
    "outputs": ["host", "port", "name", "username", "password"],
    "crossplane": {
        "apiVersion": "platform.acme.dev/v1alpha1",
        "kind": "PostgreSQLInstance",
        "fieldPaths": {"host": "status.host", "port": "status.port", "name": "status.db.name"},
    },
}
T = "2024-05-01T10:00:00Z"


def the_plan() -> ResourcePlan:
    env = environment(provisioners=[copy.deepcopy(PROVISIONER)])
    return plan(workload(resources={"db": {"type": "postgres"}}), env, "db", {})


def claim(*conditions: dict[str, Any], **status: Any) -> dict[str, Any]:
    """A claim as the API server returns it, with Crossplane's conditions."""
    result = copy.deepcopy(dict(the_plan().manifests[0]))
    result["metadata"].update(
        {"uid": "0d5c", "resourceVersion": "42", "generation": 1, "creationTimestamp": T}
    )
    result["spec"]["resourceRef"] = {
        "apiVersion": "platform.acme.dev/v1alpha1",
        "kind": "XPostgreSQLInstance",
        "name": f"{result['metadata']['name']}-x7k2p",
    }
    if conditions or status:
        result["status"] = {"conditions": list(conditions), **status}
    return result


def cond(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    result = {"type": type_, "status": status, "reason": reason, "lastTransitionTime": T}
    if message:
        result["message"] = message
    return result


SYNCED = cond("Synced", "True", "ReconcileSuccess")
READY = cond("Ready", "True", "Available")
FIELDS = {"host": "db.internal", "port": 5432, "db": {"name": "app"}}
KEYS = {"username", "password", "endpoint"}


def test_no_claim_yet_is_pending() -> None:
    p = the_plan()
    assert outputs_from(p, None, None) == (
        None,
        ResourceState(
            "Pending",
            "ClaimPending",
            f"PostgreSQLInstance {p.identity} (for resource 'db') does not exist yet",
        ),
    )


def test_claim_without_status_is_provisioning() -> None:
    p = the_plan()
    values, state = outputs_from(p, claim(), None)
    assert values is None
    assert state == ResourceState(
        "Provisioning",
        "ClaimNotReady",
        f"PostgreSQLInstance {p.identity} is not ready: it has no Ready condition yet",
    )


def test_creating_is_provisioning_with_the_claims_words() -> None:
    p = the_plan()
    values, state = outputs_from(
        p,
        claim(SYNCED, cond("Ready", "False", "Creating", "Composite resource is being created")),
        None,
    )
    assert values is None
    assert state.phase == "Provisioning"
    assert state.reason == "ClaimNotReady"
    assert state.message == (
        f"PostgreSQLInstance {p.identity} is not ready: Ready=False (Creating): "
        "Composite resource is being created"
    )
    _, unknown = outputs_from(p, claim(SYNCED, cond("Ready", "Unknown", "Waiting")), None)
    assert unknown.message.endswith("is not ready: Ready=Unknown (Waiting)")


def test_synced_false_fails_with_crossplanes_message_word_for_word() -> None:
    p = the_plan()
    message = (
        'cannot compose resources: cannot render composed resource "rds": cannot '
        "find a Composition matching labels {provider: aws, tier: tiny}: 0 found"
    )
    values, state = outputs_from(
        p,
        claim(
            cond("Synced", "False", "ReconcileError", message),
            cond("Ready", "False", "Creating"),
        ),
        None,
    )
    assert values is None
    assert state == ResourceState(
        "Failed",
        "ClaimNotSynced",
        f"PostgreSQLInstance {p.identity} is not synced (ReconcileError): {message}",
    )
    assert state.failed
    assert message in state.message
    assert p.identity in state.message


def test_synced_false_wins_over_ready_true() -> None:
    _, state = outputs_from(
        the_plan(),
        claim(cond("Synced", "False", "ReconcileError", "provider down"), READY, **FIELDS),
        KEYS,
    )
    assert state.reason == "ClaimNotSynced"


def test_deleting_claim() -> None:
    being_deleted = claim(SYNCED, READY, **FIELDS)
    being_deleted["metadata"]["deletionTimestamp"] = T
    values, state = outputs_from(the_plan(), being_deleted, KEYS)
    assert values is None
    assert (state.phase, state.reason) == ("Provisioning", "ClaimDeleting")


def test_ready_but_no_connection_secret_yet() -> None:
    p = the_plan()
    values, state = outputs_from(p, claim(SYNCED, READY, **FIELDS), None)
    assert values is None
    assert state == ResourceState(
        "Provisioning",
        "ConnectionSecretPending",
        f"PostgreSQLInstance {p.identity} is ready, but its connection Secret "
        f"{p.identity}-conn does not exist yet",
    )


def test_ready_with_everything() -> None:
    p = the_plan()
    values, state = outputs_from(p, claim(SYNCED, READY, **FIELDS), KEYS)
    conn = f"{p.identity}-conn"
    assert values == {
        "host": "db.internal",
        "port": "5432",
        "name": "app",
        "username": SecretRef(conn, "username"),
        "password": SecretRef(conn, "password"),
    }
    assert state == ResourceState(
        "Ready",
        "Provisioned",
        f"resource 'db' is provisioned by postgres (PostgreSQLInstance {p.identity})",
    )
    assert state.ready


def test_ready_but_a_secret_key_is_missing() -> None:
    p = the_plan()
    values, state = outputs_from(p, claim(SYNCED, READY, **FIELDS), {"username", "endpoint"})
    assert values is None
    assert state == ResourceState(
        "Failed",
        "MissingOutput",
        f"PostgreSQLInstance {p.identity} is ready, but resource 'db' misses outputs "
        f"'password' (Secret {p.identity}-conn has no key password); keys present in "
        f"Secret {p.identity}-conn: endpoint, username",
    )


def test_ready_but_a_status_field_is_missing() -> None:
    p = the_plan()
    values, state = outputs_from(p, claim(SYNCED, READY, host="db.internal", db={}), KEYS)
    assert values is None
    assert state.reason == "MissingOutput"
    assert state.message.startswith(
        f"PostgreSQLInstance {p.identity} is ready, but resource 'db' misses outputs 'port' "
        "(the claim has no value at status.port), 'name' (the claim has no value at "
        "status.db.name)"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("x", "x"), (5432, "5432"), (True, "true"), (1.5, "1.5"), ({"a": 1}, None), ([1], None)],
)
def test_status_field_values(value: Any, expected: str | None) -> None:
    fields = {**FIELDS, "host": value}
    values, state = outputs_from(the_plan(), claim(SYNCED, READY, **fields), KEYS)
    if expected is None:
        assert state.reason == "MissingOutput"
    else:
        assert values is not None
        assert values["host"] == expected


def test_field_paths_with_indexes() -> None:
    provisioner = copy.deepcopy(PROVISIONER)
    provisioner["outputs"] = ["host"]
    provisioner["crossplane"]["fieldPaths"] = {"host": "status.endpoints[1].address"}
    env = environment(provisioners=[provisioner])
    p = plan(workload(resources={"db": {"type": "postgres"}}), env, "db", {})
    status = {"endpoints": [{"address": "a"}, {"address": "b"}]}
    values, _ = outputs_from(p, claim(SYNCED, READY, **status), set())
    assert values is not None
    assert values["host"] == "b"
    _, state = outputs_from(p, claim(SYNCED, READY, endpoints=[{"address": "a"}]), set())
    assert state.reason == "MissingOutput"


def test_only_plain_outputs_need_no_secret() -> None:
    provisioner = copy.deepcopy(PROVISIONER)
    provisioner["outputs"] = ["host"]
    env = environment(provisioners=[provisioner])
    p = plan(workload(resources={"db": {"type": "postgres"}}), env, "db", {})
    values, state = outputs_from(p, claim(SYNCED, READY, **FIELDS), None)
    assert state.ready
    assert values == {"host": "db.internal", "port": "5432", "name": "app"}


def test_check_secret_keys_of_a_connection_secret() -> None:
    p = the_plan()
    assert check_secret_keys(p, KEYS) is None
    missing = check_secret_keys(p, {"endpoint"})
    assert missing is not None
    assert missing.reason == "MissingOutput"
    assert missing.resource == "db"
    assert missing.message == (
        f"resource 'db': Secret {p.identity}-conn lacks outputs 'username' (key username), "
        "'password' (key password) (keys present: endpoint)"
    )
    absent = check_secret_keys(p, None)
    assert absent is not None
    assert absent.reason == "SecretNotFound"
