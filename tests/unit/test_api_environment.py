"""The Environment model (berth.api.environment): parsing, defaults, round trips."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from berth.api import Environment
from tests.unit.builders import environment


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return str(exc.value)


# -- Environment ---------------------------------------------------------------------------


SERVER_ENVIRONMENT: dict[str, Any] = {
    "apiVersion": "berth.dev/v1alpha1",
    "kind": "Environment",
    "metadata": {"name": "team-a-prod", "uid": "abc", "generation": 1},
    "spec": {
        "type": "production",
        "namespace": "team-a-prod",
        "defaults": {
            "replicas": 2,
            "containerResources": {
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"memory": "256Mi"},
            },
        },
        "policy": {
            "allowedRegistries": ["registry.acme.dev/"],
            "maxReplicas": 3,
            "requireLimits": False,
            "requireDigest": False,
            "disallowLatestTag": False,
            "podSecurity": "restricted",
        },
        "deletionPolicy": "Retain",
        "routes": {"domain": "apps.acme.dev"},
        "provisioners": [
            {
                "type": "postgres",
                "class": "large",
                "outputs": ["host", "password"],
                "crossplane": {
                    "apiVersion": "platform.acme.dev/v1alpha1",
                    "kind": "PostgreSQLInstance",
                    "parameters": {"storageGB": 10},
                },
            },
            {"type": "redis", "template": {"anything": ["goes"]}},
            {"type": "existing", "id": "shared", "secret": {"name": "s"}},
        ],
    },
    "status": {
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "False", "reason": "Reconciling"}],
        "namespace": "team-a-prod",
        "workloads": 3,
        "readyWorkloads": 2,
    },
}


def test_environment_round_trips_the_wire_form() -> None:
    env = Environment.model_validate(copy.deepcopy(SERVER_ENVIRONMENT))
    assert env.model_dump(mode="json", by_alias=True, exclude_none=True) == SERVER_ENVIRONMENT
    assert env.spec.provisioners is not None
    assert [p.kind for p in env.spec.provisioners] == ["crossplane", "template", "secret"]
    assert env.spec.provisioners[0].class_ == "large"


def test_environment_type_is_an_enum() -> None:
    with pytest.raises(ValidationError) as exc:
        environment(type="qa")
    assert "'development', 'staging', 'production' or 'preview'" in errors_of(exc)


def test_environment_namespace_must_be_a_dns_label() -> None:
    with pytest.raises(ValidationError) as exc:
        environment(namespace="Team_A")
    assert "namespace" in errors_of(exc)


def test_defaults_replicas() -> None:
    assert environment().spec.default_replicas() == 1
    with_defaults = environment(defaults={"containerResources": {"limits": {"memory": "1Gi"}}})
    assert with_defaults.spec.defaults is not None
    assert with_defaults.spec.defaults.replicas == 1
    assert environment(defaults={"replicas": 0}).spec.default_replicas() == 0
    with pytest.raises(ValidationError):
        environment(defaults={"replicas": -1})


@pytest.mark.parametrize(
    ("env_type", "policy", "expected"),
    [
        ("production", None, "Retain"),
        ("development", None, "Delete"),
        ("staging", None, "Delete"),
        ("preview", None, "Delete"),
        ("production", "Delete", "Delete"),
        ("development", "Orphan", "Orphan"),
    ],
)
def test_effective_deletion_policy(env_type: str, policy: str | None, expected: str) -> None:
    spec: dict[str, Any] = {"type": env_type}
    if policy is not None:
        spec["deletionPolicy"] = policy
    env = environment(**spec)
    assert env.effective_deletion_policy() == expected
    assert env.spec.effective_deletion_policy() == expected


@pytest.mark.parametrize(
    ("provisioner", "found"),
    [
        ({"type": "postgres"}, "none"),
        ({"type": "postgres", "secret": {}, "template": {}}, "template, secret"),
    ],
)
def test_provisioner_needs_exactly_one_kind(provisioner: dict[str, Any], found: str) -> None:
    with pytest.raises(ValidationError) as exc:
        environment(provisioners=[provisioner])
    assert (
        f"a provisioner needs exactly one of crossplane, template, secret (found: {found})"
        in errors_of(exc)
    )


def test_policy_bounds() -> None:
    with pytest.raises(ValidationError):
        environment(policy={"maxReplicas": -1})
    with pytest.raises(ValidationError):
        environment(policy={"allowedRegistries": []})
    env = environment(policy={"maxReplicas": 0})
    assert env.spec.policy is not None
    assert env.spec.policy.require_limits is False
    assert env.spec.policy.allowed_registries is None


def test_routes_domain_is_checked() -> None:
    assert environment(routes={"domain": "dev.apps.acme.dev"}).spec.routes is not None
    with pytest.raises(ValidationError):
        environment(routes={"domain": "not a domain"})
