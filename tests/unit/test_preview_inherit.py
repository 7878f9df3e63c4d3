"""A preview's effective Environment: the preview over its base, field by field."""

from __future__ import annotations

from typing import Any

from berth.api import Environment
from berth.preview.inherit import (
    base_name,
    effective_environment,
    effective_spec,
    merged,
    preview_homes,
)

BASE: dict[str, Any] = {
    "type": "development",
    "namespace": "team-a-dev",
    "deletionPolicy": "Retain",
    "defaults": {
        "replicas": 2,
        "containerResources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
    },
    "policy": {
        "allowedRegistries": ["registry.acme.dev/"],
        "maxReplicas": 3,
        "podSecurity": "baseline",
    },
    "routes": {"domain": "dev.apps.acme.dev"},
    "provisioners": [
        {
            "type": "postgres",
            "crossplane": {"apiVersion": "platform.acme.dev/v1alpha1", "kind": "PG"},
        },
        {"type": "redis", "secret": {"name": "redis"}},
        {"type": "postgres", "id": "shared-db", "secret": {"name": "db"}},
    ],
    "previews": {"maxCount": 3},
}
PREVIEW: dict[str, Any] = {
    "type": "preview",
    "namespace": "team-a-dev-pr-1",
    "preview": {"base": "team-a-dev"},
}


def test_a_preview_that_sets_nothing_runs_under_its_base() -> None:
    spec = effective_spec(PREVIEW, BASE)
    assert spec["type"] == "preview"
    assert spec["namespace"] == "team-a-dev-pr-1"
    assert spec["defaults"] == BASE["defaults"]
    assert spec["policy"] == BASE["policy"]
    assert spec["routes"] == BASE["routes"]
    assert spec["provisioners"] == BASE["provisioners"]
    # never inherited: the base's deletion policy and its previews policy
    assert "deletionPolicy" not in spec
    assert "previews" not in spec
    env = Environment.model_validate({"metadata": {"name": "p"}, "spec": spec})
    assert env.effective_deletion_policy() == "Delete"
    assert env.spec.pod_security_level() == "baseline"


def test_what_the_preview_sets_wins_key_by_key() -> None:
    own = {
        **PREVIEW,
        "defaults": {"containerResources": {"requests": {"cpu": "10m"}}},
        "policy": {"maxReplicas": 1, "podSecurity": "restricted"},
        "deletionPolicy": "Orphan",
    }
    spec = effective_spec(own, BASE)
    assert spec["defaults"] == {
        "replicas": 2,
        "containerResources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
    }
    assert spec["policy"] == {
        "allowedRegistries": ["registry.acme.dev/"],
        "maxReplicas": 1,
        "podSecurity": "restricted",
    }
    assert spec["deletionPolicy"] == "Orphan"


def test_lists_and_routes_are_replaced_whole() -> None:
    own = {
        **PREVIEW,
        "policy": {"allowedRegistries": ["ghcr.example/"]},
        "routes": {"domain": "pr.dev"},
    }
    spec = effective_spec(own, BASE)
    assert spec["policy"]["allowedRegistries"] == ["ghcr.example/"]
    assert spec["routes"] == {"domain": "pr.dev"}


def test_a_preview_provisioner_replaces_the_bases_of_the_same_selector_only() -> None:
    mine = {"type": "postgres", "template": {"manifests": "[]"}}
    spec = effective_spec({**PREVIEW, "provisioners": [mine]}, BASE)
    assert spec["provisioners"] == [mine, BASE["provisioners"][1], BASE["provisioners"][2]]


def test_merging_never_aliases_the_inputs() -> None:
    spec = effective_spec(PREVIEW, BASE)
    spec["defaults"]["containerResources"]["requests"]["cpu"] = "9"
    spec["provisioners"][0]["type"] = "x"
    assert BASE["defaults"]["containerResources"]["requests"]["cpu"] == "50m"
    assert BASE["provisioners"][0]["type"] == "postgres"
    assert merged({"a": [1]}, None) == {"a": [1]}
    assert merged(None, {"a": 1}) == {"a": 1}
    assert merged({"a": 1}, 2) == 2


def test_the_effective_environment_keeps_the_previews_metadata() -> None:
    body = {"metadata": {"name": "team-a-dev-pr-1"}, "spec": PREVIEW}
    result = effective_environment(body, {"metadata": {"name": "team-a-dev"}, "spec": BASE})
    assert result["metadata"] == {"name": "team-a-dev-pr-1"}
    assert result["spec"]["routes"] == BASE["routes"]
    assert effective_environment(body, None) == body


def test_base_name() -> None:
    assert base_name({"spec": PREVIEW}) == "team-a-dev"
    assert base_name({"spec": BASE}) is None
    assert base_name({"spec": {"type": "preview"}}) is None


def _env(name: str, namespace: str, created: str, base: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"namespace": namespace}
    if base is not None:
        spec |= {"type": "preview", "preview": {"base": base}}
    return {"metadata": {"name": name, "creationTimestamp": created}, "spec": spec}


def test_a_previews_namespace_has_its_bases_namespace_as_home() -> None:
    environments = [
        _env("shop", "shop", "2026-01-01T00:00:00Z"),
        _env("shop-pr-1", "shop-pr-1", "2026-01-02T00:00:00Z", base="shop"),
        _env("orphan", "orphan-ns", "2026-01-02T00:00:00Z", base="gone"),  # base missing
    ]
    assert preview_homes(environments) == {"shop-pr-1": "shop"}


def test_the_oldest_environment_of_a_namespace_decides_its_home() -> None:
    environments = [
        _env("b", "b", "2026-01-01T00:00:00Z"),
        _env("a", "a", "2026-01-01T00:00:00Z"),
        _env("late", "shared", "2026-01-03T00:00:00Z", base="b"),
        _env("early", "shared", "2026-01-02T00:00:00Z", base="a"),
    ]
    assert preview_homes(environments) == {"shared": "a"}
