"""The portal: a real Backstage backend (catalog and Kubernetes plugins, from npm) reads
Berth's catalog location and the test cluster, and shows what a developer would see.

Everything is asserted through Backstage's own REST API: the catalog's entities and
relations, and the Kubernetes plugin's objects of an entity (the call its Kubernetes tab
makes). Backstage's app-config is examples/backstage/app-config.yaml and its cluster
access examples/backstage/rbac.yaml, as the docs give them (docs/guides/backstage.md).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from berth.handlers.backstage import CATALOG_PATH
from tests.backstageharness import (
    RBAC_EXAMPLE,
    ClusterLink,
    LocalBackstage,
    app_config,
    cluster_link,
    free_port,
    install,
    new_api_token,
    start_backstage,
)
from tests.clusterharness import REPO_ROOT, ClusterAccess
from tests.composer import TestOnlyComposer
from tests.e2e.conftest import OperatorProcess
from tests.kubeutil import Berth, wait_for

EXAMPLES = REPO_ROOT / "examples"
OWNER = "group:team-a"
# Backstage reads the location every couple of seconds (the test's processingInterval);
# an orphaned entity goes at the catalog's next orphan cleanup, every 30 s.
CATALOG_SECONDS = 120
KUBERNETES_ID = "backstage.io/kubernetes-id"


@pytest.fixture(scope="module")
def backstage_install() -> Path:
    """hack/backstage.sh: installs the backend on a fresh machine, a no-op when cached."""
    return install()


@pytest.fixture
def backstage_reader(
    cluster: ClusterAccess, api: ApiClient, namespace: str
) -> Iterator[ClusterLink]:
    """examples/backstage/rbac.yaml, its ServiceAccount in this test's namespace and its
    cluster-wide names suffixed; Backstage gets a token of it and nothing else."""
    docs = list(yaml.safe_load_all(RBAC_EXAMPLE.read_text()))
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    account["metadata"]["namespace"] = namespace
    suffix = f"-{namespace}"
    for doc in docs:
        if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            doc["metadata"]["name"] += suffix
        if doc["kind"] == "ClusterRoleBinding":
            doc["roleRef"]["name"] += suffix
            doc["subjects"][0]["namespace"] = namespace
    path = cluster.kubeconfig.parent / f"backstage-rbac{suffix}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    cluster.kubectl("apply", "--server-side", "-f", str(path))
    token = k8s.CoreV1Api(api).create_namespaced_service_account_token(
        account["metadata"]["name"],
        namespace,
        k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        ),
    )
    try:
        yield cluster_link(cluster.kubeconfig, token.status.token)
    finally:
        cluster.kubectl("delete", "--ignore-not-found", "-f", str(path))


@pytest.fixture
def backstage(
    backstage_install: Path,
    backstage_reader: ClusterLink,
    operator: OperatorProcess,
    tmp_path: Path,
) -> Iterator[LocalBackstage]:
    """A Backstage backend reading the operator's catalog location and the test cluster."""
    location = f"http://127.0.0.1:{operator.backstage_port}{CATALOG_PATH}"
    config = app_config(free_port(), location, backstage_reader, new_api_token())
    running = start_backstage(backstage_install, tmp_path / "backstage", config)
    try:
        yield running
    finally:
        running.stop()


def example(name: str, namespace: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    body["metadata"]["namespace"] = namespace
    return body


def example_environment(name: str) -> dict[str, Any]:
    """examples/environment.yaml serving a namespace of its name, owned by team-a."""
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / "environment.yaml").read_text())
    body["metadata"] = {"name": name, "annotations": {"berth.dev/owner": OWNER}}
    body["spec"]["namespace"] = name
    body["spec"]["deletionPolicy"] = "Delete"
    return body


def names(entities: list[dict[str, Any]]) -> set[str]:
    return {e["metadata"]["name"] for e in entities}


def relations(entity: dict[str, Any], type_: str) -> set[str]:
    return {r["targetRef"] for r in entity.get("relations") or [] if r["type"] == type_}


def objects_by_type(answer: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The Kubernetes plugin's answer for one cluster, by object type (no errors allowed:
    a 403 would mean the documented RBAC misses something)."""
    (cluster,) = answer["items"]
    assert cluster["cluster"]["name"] == "berth-e2e"
    assert cluster["errors"] == []
    found: dict[str, list[dict[str, Any]]] = {}
    for response in cluster["resources"]:
        found.setdefault(response["type"], []).extend(response["resources"])
    return found


def condition(body: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in body["status"]["conditions"] if c["type"] == type_)


# Run alone on a fresh machine, the fixture installs Backstage first (minutes; `make test`
# installs it before pytest starts).
@pytest.mark.timeout(1200)
def test_backstage_shows_every_workload_with_its_objects_resources_and_status(
    backstage: LocalBackstage,
    berth: Berth,
    namespace: str,
    composer: TestOnlyComposer,
) -> None:
    env = namespace
    berth.create_environment(example_environment(env))
    berth.wait_served(env, env)  # admission refuses Workloads until the namespace is its
    try:
        shows_the_catalog_and_the_kubernetes_tab(backstage, berth, env)
        follows_workloads_coming_and_going(backstage, berth, env)
    finally:
        berth.delete_environment(env)


def shows_the_catalog_and_the_kubernetes_tab(
    backstage: LocalBackstage, berth: Berth, env: str
) -> None:
    for name in ("checkout", "shop"):
        berth.create_workload(env, example(name, env))
    # A Workload Berth refuses: Stalled, and the portal says why. (One that breaks the
    # Environment's policy never gets in: admission refuses it. This one names a resource
    # it does not declare, which only the operator finds.)
    refused = copy.deepcopy(example("checkout", env))
    refused["metadata"]["name"] = "refused"
    refused["metadata"]["labels"] = {KUBERNETES_ID: "refused"}
    refused["spec"]["containers"]["main"]["variables"]["DB_HOST"] = "${resources.db.host}"
    berth.create_workload(env, refused)
    for name in ("checkout", "shop"):
        berth.wait_condition(env, name, "Ready", "True", timeout=180)
    berth.wait_condition(env, "refused", "Stalled", "True", timeout=60)

    components = {f"{name}.{env}" for name in ("checkout", "shop", "refused")}
    wait_for(
        lambda: components <= names(backstage.entities(kind="component")),
        CATALOG_SECONDS,
        f"the catalog's Components {sorted(components)}",
    )
    system = backstage.entity("system", env)
    assert system is not None
    assert system["spec"]["owner"] == OWNER
    assert relations(system, "hasPart") >= {f"component:default/{c}" for c in components}

    shop = wait_for(
        lambda: (
            (e := backstage.entity("component", f"shop.{env}")) and relations(e, "dependsOn") and e
        ),
        CATALOG_SECONDS,
        "shop's dependencies in the catalog",
    )
    assert shop["spec"] == {
        "type": "service",
        "lifecycle": "development",
        "owner": OWNER,
        "system": env,
        "dependsOn": shop["spec"]["dependsOn"],
    }
    resources = [e for e in backstage.entities(kind="resource") if e["spec"]["system"] == env]
    # shop's database (a Crossplane claim) and cache (a template's Deployment), once each.
    assert sorted(r["spec"]["type"] for r in resources) == ["postgres", "redis"]
    assert relations(shop, "dependsOn") == {
        f"resource:default/{r['metadata']['name']}" for r in resources
    }
    for resource in resources:
        full = backstage.entity("resource", resource["metadata"]["name"])
        assert full is not None
        assert relations(full, "dependencyOf") == {f"component:default/shop.{env}"}
        assert relations(full, "partOf") == {f"system:default/{env}"}

    # The Kubernetes tab of shop: its Deployment, its Pod, its Service and the Workload
    # itself, whose Ready condition says what kubectl says.
    def shop_tab() -> dict[str, list[dict[str, Any]]] | None:
        found = objects_by_type(backstage.kubernetes_objects(f"component:default/shop.{env}"))
        workloads = found.get("customresources", [])
        if not workloads or "status" not in workloads[0]:
            return None
        shown = condition(workloads[0], "Ready")
        actual = condition(berth.workload(env, "shop"), "Ready")
        return found if (shown["status"], shown["message"]) == ("True", actual["message"]) else None

    tab = wait_for(shop_tab, 60, "shop's Kubernetes tab showing its Ready Workload")
    assert [d["metadata"]["name"] for d in tab["deployments"]] == ["shop"]
    assert [s["metadata"]["name"] for s in tab["services"]] == ["shop"]
    assert tab["pods"]
    for pod in tab["pods"]:
        assert pod["metadata"]["namespace"] == env
        assert pod["metadata"]["labels"][KUBERNETES_ID] == "shop"
    assert [(w["kind"], w["metadata"]["name"]) for w in tab["customresources"]] == [
        ("Workload", "shop")
    ]
    # Nothing of the other components, and not the redis Berth provisioned for shop (its
    # objects belong to the Resource, found by the Resource's label selector).
    shown = {o["metadata"]["name"] for objects in tab.values() for o in objects}
    assert not shown & {"checkout", "refused"}

    refused_tab = objects_by_type(backstage.kubernetes_objects(f"component:default/refused.{env}"))
    (workload,) = refused_tab["customresources"]
    stalled = condition(workload, "Stalled")
    assert stalled["status"] == "True"
    assert stalled["message"] == condition(berth.workload(env, "refused"), "Stalled")["message"]
    assert stalled["reason"] == "UnknownResource"
    assert "${resources.db.host}" in stalled["message"]
    assert refused_tab["deployments"] == []  # nothing runs: Berth refused it


def follows_workloads_coming_and_going(backstage: LocalBackstage, berth: Berth, env: str) -> None:
    """A Workload applied shows up at Backstage's next refresh; one deleted leaves."""
    hello = f"hello.{env}"
    berth.create_workload(env, example("hello", env))
    wait_for(
        lambda: backstage.entity("component", hello) is not None,
        CATALOG_SECONDS,
        f"{hello} in the catalog",
    )
    entity = backstage.entity("component", hello)
    assert entity is not None
    assert entity["spec"]["type"] == "worker"  # no Service, no route
    assert entity["metadata"]["annotations"][KUBERNETES_ID] == "hello"
    assert entity["metadata"]["annotations"]["backstage.io/kubernetes-namespace"] == env
    berth.delete_workload(env, "hello")
    wait_for(
        lambda: backstage.entity("component", hello) is None,
        CATALOG_SECONDS,
        f"{hello} gone from the catalog",
    )
    # The rest stays.
    assert backstage.entity("component", f"shop.{env}") is not None
