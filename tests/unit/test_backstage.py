"""Backstage: the label on everything a Workload runs, and the catalog Berth gives Backstage.

The catalog is a pure function (berth.backstage.catalog_entities); these tests feed it
Environments and Workloads as the operator's cache holds them (plain dicts) and read the
entities back as Backstage would: by kind, name, spec and relations.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from berth.api import Workload
from berth.backstage import (
    ENTITY_NAME_MAX,
    catalog_entities,
    catalog_yaml,
    entity_name,
    is_entity_name,
)
from berth.render import render_workload
from berth.render.labels import component_id
from tests.unit.builders import NAMESPACE, environment, environment_dict, workload_dict

KUBERNETES_ID = "backstage.io/kubernetes-id"
# Backstage's own rule for entity names, written out independently of berth.backstage.
BACKSTAGE_NAME = re.compile(r"^[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$")


def running(body: dict[str, Any], env: str = "team-a-dev", **status: Any) -> dict[str, Any]:
    """A Workload as the cache holds it once the reconciler has found its Environment."""
    body = copy.deepcopy(body)
    body["status"] = {"environment": env, **status}
    return body


def with_annotations(body: dict[str, Any], **annotations: str) -> dict[str, Any]:
    body.setdefault("spec", {}).setdefault("metadata", {}).setdefault("annotations", {}).update(
        annotations
    )
    return body


def by_kind(entities: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {e["metadata"]["name"]: e for e in entities if e["kind"] == kind}


# -- labels -----------------------------------------------------------------------------------


def every_label_set(manifests: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The labels of every object and of every Pod template among the manifests."""
    found = [m["metadata"]["labels"] for m in manifests]
    found += [
        m["spec"]["template"]["metadata"]["labels"] for m in manifests if m["kind"] == "Deployment"
    ]
    return found


def test_every_object_and_the_pod_template_carry_the_workload_name_as_kubernetes_id() -> None:
    body = workload_dict(
        containers={
            "main": {"image": "registry.acme.dev/c:1", "files": {"/etc/c": {"content": "x"}}}
        },
        service={"ports": {"web": {"port": 80}}},
    )
    rendered = render_workload(Workload.model_validate(body), environment(), {})
    kinds = sorted(m["kind"] for m in rendered.manifests)
    assert kinds == ["ConfigMap", "Deployment", "Service"]
    labels = every_label_set(rendered.manifests)
    assert len(labels) == 4
    assert all(found[KUBERNETES_ID] == "checkout" for found in labels)


def test_a_score_annotation_names_another_component_but_never_changes_the_selector() -> None:
    body = with_annotations(
        workload_dict("checkout-worker", service={"ports": {"web": {"port": 80}}}),
        **{KUBERNETES_ID: "checkout"},
    )
    rendered = render_workload(Workload.model_validate(body), environment(), {})
    assert all(found[KUBERNETES_ID] == "checkout" for found in every_label_set(rendered.manifests))
    deployment = next(m for m in rendered.manifests if m["kind"] == "Deployment")
    service = next(m for m in rendered.manifests if m["kind"] == "Service")
    # Selectors are immutable: the component may change, what selects the Pods may not.
    assert deployment["spec"]["selector"] == {
        "matchLabels": {"berth.dev/workload": "checkout-worker"}
    }
    assert service["spec"]["selector"] == {"berth.dev/workload": "checkout-worker"}


@pytest.mark.parametrize("value", ["", "-checkout", "check out", "x" * 64, "a/b"])
def test_a_component_that_cannot_be_a_label_is_refused_with_a_message(value: str) -> None:
    body = with_annotations(workload_dict(), **{KUBERNETES_ID: value})
    with pytest.raises(ValidationError, match=r"backstage\.io/kubernetes-id names the Backstage"):
        Workload.model_validate(body)
    # The catalog reads raw objects: it falls back to the Workload's name, like the labels.
    assert component_id("checkout", body["spec"]["metadata"]["annotations"]) == "checkout"


def test_component_id_reads_only_a_map_of_annotations() -> None:
    assert component_id("hello", None) == "hello"
    assert component_id("hello", ["backstage.io/kubernetes-id"]) == "hello"
    assert component_id("hello", {KUBERNETES_ID: "greeter"}) == "greeter"


# -- entity names -----------------------------------------------------------------------------


def test_entity_names_are_readable_where_they_can_be_and_always_valid() -> None:
    assert entity_name("checkout", "team-a-dev") == "checkout.team-a-dev"
    assert entity_name("team-a-dev") == "team-a-dev"
    long = entity_name("c" * 60, "production-eu-west")
    assert is_entity_name(long)
    assert len(long) <= ENTITY_NAME_MAX
    # A dot in the first part would make the split ambiguous: a.b + c vs a + b.c.
    assert entity_name("a.b", "c") != entity_name("a", "b.c")
    for parts in [("a.b", "c"), ("a", "b.c"), ("x" * 80,), ("_odd_", "env"), ("..", "..")]:
        name = entity_name(*parts)
        assert len(name) <= ENTITY_NAME_MAX, parts
        assert BACKSTAGE_NAME.match(name), parts


def test_the_same_workload_in_two_environments_is_two_components() -> None:
    prod = environment_dict(type="production", namespace="team-a-prod")
    prod["metadata"]["name"] = "team-a-prod"
    dev_checkout = running(workload_dict())
    prod_checkout = running(workload_dict(), env="team-a-prod")
    prod_checkout["metadata"]["namespace"] = "team-a-prod"
    entities = catalog_entities([environment_dict(), prod], [dev_checkout, prod_checkout])
    components = by_kind(entities, "Component")
    assert sorted(components) == ["checkout.team-a-dev", "checkout.team-a-prod"]
    prod_entity = components["checkout.team-a-prod"]
    # Both find their objects by the same label, each in its own Environment's namespace.
    assert prod_entity["metadata"]["annotations"][KUBERNETES_ID] == "checkout"
    assert prod_entity["metadata"]["annotations"]["backstage.io/kubernetes-namespace"] == (
        "team-a-prod"
    )
    assert prod_entity["spec"]["lifecycle"] == "production"
    assert prod_entity["spec"]["system"] == "team-a-prod"
    assert sorted(by_kind(entities, "System")) == ["team-a-dev", "team-a-prod"]


# -- the catalog ------------------------------------------------------------------------------


def shop() -> dict[str, Any]:
    body = workload_dict(
        "shop",
        containers={
            "main": {
                "image": "registry.acme.dev/shop:2",
                "variables": {"DB_PASSWORD": "${resources.db.password}", "TOKEN": "s3cr3t-literal"},
            }
        },
        service={"ports": {"web": {"port": 80}}},
        resources={
            "db": {"type": "postgres", "params": {"adminPassword": "p4ramsecret"}},
            "orders": {"type": "amqp", "id": "orders"},
            "web": {"type": "route", "params": {"host": "shop.dev", "path": "/", "port": 80}},
            "env": {"type": "environment"},
            "api": {"type": "service-port", "params": {"workload": "checkout", "port": "web"}},
        },
    )
    body["metadata"]["labels"] = {KUBERNETES_ID: "shop"}
    return running(
        body,
        url="http://shop.dev/",
        resources=[
            {
                "name": "db",
                "type": "postgres",
                "provisioner": "postgres",
                "outputs": ["host", "password"],
            },
            {"name": "orders", "type": "amqp", "id": "orders", "provisioner": "default-amqp"},
        ],
    )


def billing() -> dict[str, Any]:
    body = workload_dict("billing", resources={"orders": {"type": "amqp", "id": "orders"}})
    return running(with_annotations(body, **{"berth.dev/owner": "group:payments"}))


def test_components_resources_and_the_environment_as_a_system() -> None:
    entities = catalog_entities(
        [environment_dict()], [shop(), billing(), running(workload_dict("checkout"))]
    )
    assert [e["kind"] for e in entities] == ["System"] + ["Component"] * 3 + ["Resource"] * 2
    system = by_kind(entities, "System")["team-a-dev"]
    assert system["spec"] == {"owner": "team-a-dev"}
    components = by_kind(entities, "Component")
    shop_entity = components["shop.team-a-dev"]
    assert shop_entity["spec"] == {
        "type": "service",
        "lifecycle": "development",
        "owner": "team-a-dev",
        "system": "team-a-dev",
        # Its database, the queue it shares, and the Workload it reaches by a service-port;
        # not its route (a link) nor its environment resource.
        "dependsOn": sorted(
            [
                "component:checkout.team-a-dev",
                f"resource:{entity_orders(entities)}",
                f"resource:{entity_db(entities)}",
            ]
        ),
    }
    assert shop_entity["metadata"]["links"] == [
        {"url": "http://shop.dev/", "title": "shop (team-a-dev)"}
    ]
    assert shop_entity["metadata"]["annotations"] == {
        KUBERNETES_ID: "shop",
        "backstage.io/kubernetes-namespace": NAMESPACE,
        "berth.dev/workload": "team-a-dev/shop",
        "berth.dev/environment": "team-a-dev",
    }
    # The owner: a Score annotation, else the Environment's.
    assert components["billing.team-a-dev"]["spec"]["owner"] == "group:payments"
    assert components["billing.team-a-dev"]["spec"]["type"] == "worker"
    resources = by_kind(entities, "Resource")
    shared = resources[entity_orders(entities)]
    # Shared by shop and billing: one Resource, owned by the Environment's owner.
    assert shared["spec"] == {"type": "amqp", "owner": "team-a-dev", "system": "team-a-dev"}
    assert "team-a-dev/billing, team-a-dev/shop" in shared["metadata"]["description"]
    db = resources[entity_db(entities)]
    identity = db["metadata"]["annotations"]["berth.dev/resource"]
    assert db["metadata"]["annotations"]["backstage.io/kubernetes-label-selector"] == (
        f"berth.dev/resource={identity}"
    )
    assert db["metadata"]["annotations"]["berth.dev/outputs"] == "host, password"


def entity_orders(entities: list[dict[str, Any]]) -> str:
    return next(n for n, e in by_kind(entities, "Resource").items() if e["spec"]["type"] == "amqp")


def entity_db(entities: list[dict[str, Any]]) -> str:
    return next(
        n for n, e in by_kind(entities, "Resource").items() if e["spec"]["type"] == "postgres"
    )


def test_no_value_of_the_workload_reaches_the_catalog() -> None:
    text = catalog_yaml(catalog_entities([environment_dict()], [shop(), billing()]))
    for secret in ("s3cr3t-literal", "p4ramsecret", "${resources.db.password}", "DB_PASSWORD"):
        assert secret not in text


def test_every_name_and_reference_is_valid_for_backstage() -> None:
    long_env = environment_dict(namespace="ns")
    long_env["metadata"]["name"] = "e" * 70 + ".example"
    long = running(
        workload_dict("w" * 63, resources={"db": {"type": "postgres"}}),
        env=long_env["metadata"]["name"],
    )
    entities = catalog_entities([environment_dict(), long_env], [shop(), long])
    names = {(e["kind"], e["metadata"]["name"]) for e in entities}
    assert len(names) == len(entities)  # unique per kind
    for _, name in names:
        assert len(name) <= ENTITY_NAME_MAX, name
        assert BACKSTAGE_NAME.match(name), name
    refs = [ref for e in entities for ref in e["spec"].get("dependsOn", [])]
    refs += [f"system:{e['spec']['system']}" for e in entities if "system" in e["spec"]]
    for ref in refs:
        kind, _, name = ref.partition(":")
        assert (kind.capitalize(), name) in names, ref


def test_a_bad_owner_annotation_falls_back_and_says_so_in_the_portal() -> None:
    env = environment_dict()
    env["metadata"]["annotations"] = {"berth.dev/owner": "not a ref!"}
    body = running(with_annotations(workload_dict(), **{"berth.dev/owner": "group:"}))
    entities = catalog_entities([env], [body])
    component = by_kind(entities, "Component")["checkout.team-a-dev"]
    assert component["spec"]["owner"] == "team-a-dev"
    assert (
        "berth.dev/owner ('group:') is not an entity reference"
        in component["metadata"]["description"]
    )
    system = by_kind(entities, "System")["team-a-dev"]
    assert (
        "is not an entity reference; owner defaults to team-a-dev"
        in system["metadata"]["description"]
    )


def test_an_environment_owner_annotation_owns_its_system_and_components() -> None:
    env = environment_dict()
    env["metadata"]["annotations"] = {"berth.dev/owner": "group:team-a"}
    entities = catalog_entities([env], [running(workload_dict())])
    assert {e["spec"]["owner"] for e in entities} == {"group:team-a"}


def test_workloads_naming_one_component_are_one_component() -> None:
    web = running(with_annotations(workload_dict("checkout-web"), **{KUBERNETES_ID: "checkout"}))
    worker = running(
        with_annotations(
            workload_dict("checkout-worker", resources={"q": {"type": "amqp"}}),
            **{KUBERNETES_ID: "checkout"},
        )
    )
    entities = catalog_entities([environment_dict()], [web, worker])
    components = by_kind(entities, "Component")
    assert list(components) == ["checkout.team-a-dev"]
    annotations = components["checkout.team-a-dev"]["metadata"]["annotations"]
    assert annotations["berth.dev/workload"] == "team-a-dev/checkout-web,team-a-dev/checkout-worker"
    # Neither Workload carries the label: the portal says why it cannot show them.
    assert (
        "has no label backstage.io/kubernetes-id=checkout"
        in (components["checkout.team-a-dev"]["metadata"]["description"])
    )


def test_what_is_not_running_somewhere_is_not_in_the_catalog() -> None:
    no_env = running(workload_dict("orphan"), env="gone")
    unreconciled = workload_dict("fresh")  # no status yet, no spec.environment
    named = workload_dict("named", environment="team-a-dev")  # named: counts at once
    leaving = running(workload_dict("leaving"))
    leaving["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    broken_env = {"metadata": {"name": "half"}, "spec": {}}
    entities = catalog_entities(
        [environment_dict(), broken_env], [no_env, unreconciled, named, leaving, {"metadata": {}}]
    )
    assert sorted(by_kind(entities, "Component")) == ["named.team-a-dev"]
    assert sorted(by_kind(entities, "System")) == ["team-a-dev"]


def test_the_catalog_is_deterministic_and_reads_back_as_documents() -> None:
    workloads = [shop(), billing(), running(workload_dict("checkout"))]
    first = catalog_yaml(catalog_entities([environment_dict()], workloads))
    second = catalog_yaml(catalog_entities([environment_dict()], list(reversed(workloads))))
    assert first == second
    documents = list(yaml.safe_load_all(first))
    assert documents == json.loads(json.dumps(documents))  # plain data, nothing YAML-only
    assert documents == catalog_entities([environment_dict()], workloads)
