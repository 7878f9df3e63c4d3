"""ClusterProvisioners and the default catalogue, on a real API server: a definition written
once serves every Environment its criteria match; an Environment's own provisioners and
more specific definitions win; the Workload's status names the one that served; a change
to a definition reaches the Workloads it serves; every default type ends Ready."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.clusterharness import REPO_ROOT, ClusterAccess
from tests.e2e.conftest import OperatorProcess
from tests.kubeutil import (
    GROUP,
    VERSION,
    Berth,
    environment_body,
    stays,
    wait_for,
    workload_body,
)

CATALOGUE = REPO_ROOT / "charts" / "berth" / "catalogue"
PLURAL = "clusterprovisioners"


class Definitions:
    """ClusterProvisioners this module creates; every one is deleted at the end (they are
    cluster-wide: another module's Environments must not see them)."""

    def __init__(self, api: ApiClient) -> None:
        self.custom = k8s.CustomObjectsApi(api)
        self.names: set[str] = set()

    def create(self, name: str, **spec: Any) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ClusterProvisioner",
            "metadata": {"name": name},
            "spec": spec,
        }
        self.names.add(name)
        return self.custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, body)  # type: ignore[no-any-return]

    def patch(self, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, name, patch)

    def delete(self, name: str) -> None:
        try:
            self.custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
        except ApiException as err:
            if err.status != 404:
                raise

    def delete_all(self) -> None:
        for name in sorted(self.names):
            self.delete(name)


@pytest.fixture(scope="module")
def definitions(api: ApiClient, crds: None) -> Iterator[Definitions]:
    made = Definitions(api)
    yield made
    made.delete_all()


@pytest.fixture
def make_environment(
    berth: Berth, namespace: str, operator: OperatorProcess
) -> Iterator[Callable[..., str]]:
    def make(*provisioners: dict[str, Any], **spec: Any) -> str:
        body = environment_body(namespace, namespace, provisioners=list(provisioners), **spec)
        body["spec"]["policy"]["maxReplicas"] = 5
        berth.create_environment(body)
        berth.wait_served(namespace, namespace)
        return namespace

    yield make
    berth.delete_environment(namespace)


def value_template(value: str) -> dict[str, Any]:
    """A template provisioner whose one output, ``who``, says which definition served."""
    return {"outputs": ["who"], "template": {"outputs": f"who: {value}"}}


def uses(name: str, resources: dict[str, Any]) -> dict[str, Any]:
    variables = {f"WHO_{r.upper()}": f"${{resources.{r}.who}}" for r in resources}
    return workload_body(
        name,
        containers={"main": {"image": "registry.acme.dev/app:1.0", "variables": variables}},
        resources=resources,
    )


def entry(berth: Berth, namespace: str, workload: str, resource: str) -> dict[str, Any]:
    for item in berth.workload(namespace, workload).get("status", {}).get("resources") or []:
        if item["name"] == resource:
            return item  # type: ignore[no-any-return]
    raise AssertionError(f"no status entry for resource {resource!r}")


def env_values(berth: Berth, namespace: str, name: str) -> dict[str, str]:
    deployment = berth.apps.read_namespaced_deployment(name, namespace)
    return {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}


def wait_env(berth: Berth, namespace: str, name: str, key: str, value: str) -> None:
    def check() -> bool:
        try:
            return env_values(berth, namespace, name).get(key) == value
        except ApiException:
            return False

    wait_for(check, 60, f"{key}={value} in Deployment {namespace}/{name}")


def unique_type() -> str:
    """A resource type of this test's own: no other test's Environment asks for it."""
    return f"t{uuid.uuid4().hex[:8]}"


# -- the layers -------------------------------------------------------------------------------


def test_a_cluster_provisioner_serves_an_environment_without_provisioners(
    cluster: ClusterAccess,
    berth: Berth,
    namespace: str,
    definitions: Definitions,
    make_environment: Callable[..., str],
) -> None:
    kind = unique_type()
    name = f"{kind}-any"
    definitions.create(name, type=kind, description="for the e2e", **value_template("cluster"))
    make_environment()
    berth.create_workload(namespace, uses("app", {"thing": {"type": kind}}))
    berth.wait_condition(namespace, "app", "Ready", "True")
    served = entry(berth, namespace, "app", "thing")
    assert served["state"] == "Ready"
    assert served["provisioner"] == f"ClusterProvisioner/{name}"
    assert served["selection"] == (
        f"ClusterProvisioner/{name} matched type {kind}; the Environment has no provisioner "
        f"of type {kind}; 1 ClusterProvisioner of type {kind} considered"
    )
    assert env_values(berth, namespace, "app")["WHO_THING"] == "cluster"

    # kubectl get shows what each definition serves; `berth` lists it with the rest.
    table = cluster.kubectl("get", "clusterprovisioners", name)
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "TYPE", "CLASS", "ENV-TYPES", "ENV-NAMES", "AGE"]
    assert row.split()[:2] == [name, kind]
    assert name in cluster.kubectl("get", "berth", "-o", "name")
    assert name in cluster.kubectl("get", "cprov", "-o", "name")
    # The Workload's status names it (kubectl's own path into the status).
    path = "jsonpath={.status.resources[0].provisioner}"
    shown = cluster.kubectl("get", "workload", "app", "-n", namespace, "-o", path)
    assert shown.strip() == f"ClusterProvisioner/{name}"


def test_an_environments_own_provisioner_beats_every_cluster_provisioner(
    berth: Berth,
    namespace: str,
    definitions: Definitions,
    make_environment: Callable[..., str],
) -> None:
    kind = unique_type()
    definitions.create(
        f"{kind}-by-name",
        type=kind,
        environmentNames=[namespace],
        **value_template("cluster"),
    )
    make_environment({"name": "own", "type": kind, **value_template("own")})
    berth.create_workload(namespace, uses("app", {"thing": {"type": kind}}))
    berth.wait_condition(namespace, "app", "Ready", "True")
    served = entry(berth, namespace, "app", "thing")
    assert served["provisioner"] == "own"
    assert served["selection"] == f"own matched type {kind}; 1 provisioner considered"
    assert env_values(berth, namespace, "app")["WHO_THING"] == "own"


def test_the_most_specific_definition_serves_and_the_status_says_which(
    berth: Berth,
    namespace: str,
    definitions: Definitions,
    make_environment: Callable[..., str],
) -> None:
    kind = unique_type()
    definitions.create(f"{kind}-any", type=kind, **value_template("any"))
    definitions.create(
        f"{kind}-env-type", type=kind, environmentTypes=["development"], **value_template("type")
    )
    definitions.create(
        f"{kind}-env-staging", type=kind, environmentTypes=["staging"], **value_template("staging")
    )
    definitions.create(
        f"{kind}-env-name", type=kind, environmentNames=[namespace], **value_template("name")
    )
    definitions.create(f"{kind}-class", type=kind, **{"class": "big"}, **value_template("class"))
    definitions.create(f"{kind}-id", type=kind, id=f"{kind}-shared", **value_template("id"))
    make_environment()
    resources = {
        "plain": {"type": kind},
        "big": {"type": kind, "class": "big"},
        "shared": {"type": kind, "id": f"{kind}-shared"},
    }
    berth.create_workload(namespace, uses("app", resources))
    berth.wait_condition(namespace, "app", "Ready", "True")
    assert env_values(berth, namespace, "app") == {
        "WHO_PLAIN": "name",
        "WHO_BIG": "class",
        "WHO_SHARED": "id",
    }
    plain = entry(berth, namespace, "app", "plain")
    assert plain["provisioner"] == f"ClusterProvisioner/{kind}-env-name"
    assert plain["selection"] == (
        f"ClusterProvisioner/{kind}-env-name matched type {kind} and environment name "
        f"{namespace}; the Environment has no provisioner of type {kind}; 6 ClusterProvisioners "
        f"of type {kind} considered, 2 less specific"
    )
    assert (
        entry(berth, namespace, "app", "big")["provisioner"] == f"ClusterProvisioner/{kind}-class"
    )
    shared = entry(berth, namespace, "app", "shared")
    assert shared["provisioner"] == f"ClusterProvisioner/{kind}-id"
    assert f"matched type {kind} and id {kind}-shared" in shared["selection"]


def test_a_change_to_a_definition_reaches_the_workloads_it_concerns(
    berth: Berth,
    namespace: str,
    definitions: Definitions,
    make_environment: Callable[..., str],
) -> None:
    kind = unique_type()
    definitions.create(f"{kind}-any", type=kind, **value_template("v1"))
    make_environment()
    berth.create_workload(namespace, uses("app", {"thing": {"type": kind}}))
    berth.wait_condition(namespace, "app", "Ready", "True")
    assert env_values(berth, namespace, "app")["WHO_THING"] == "v1"

    # Edited: the Workload is provisioned again, its Deployment follows.
    definitions.patch(f"{kind}-any", {"spec": {"template": {"outputs": "who: v2"}}})
    wait_env(berth, namespace, "app", "WHO_THING", "v2")

    # A more specific one appears: it takes over.
    definitions.create(
        f"{kind}-mine", type=kind, environmentNames=[namespace], **value_template("mine")
    )
    wait_env(berth, namespace, "app", "WHO_THING", "mine")
    # The status is written after the children: wait for it rather than race it.
    wait_for(
        lambda: (
            entry(berth, namespace, "app", "thing")["provisioner"]
            == f"ClusterProvisioner/{kind}-mine"
        ),
        60,
        "the status to name the new definition",
    )

    # It goes again: the less specific one serves once more.
    definitions.delete(f"{kind}-mine")
    wait_env(berth, namespace, "app", "WHO_THING", "v2")

    # The last one goes: the Workload says so (and keeps running what it runs).
    definitions.delete(f"{kind}-any")
    berth.wait_condition(namespace, "app", "Ready", "False", reason="NoProvisioner")
    assert env_values(berth, namespace, "app")["WHO_THING"] == "v2"


# -- the default catalogue ----------------------------------------------------------------------


def catalogue_documents() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(CATALOGUE.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


@pytest.fixture(scope="module")
def catalogue(cluster: ClusterAccess, definitions: Definitions) -> list[dict[str, Any]]:
    """The default catalogue, applied as `make dev` applies it (deleted with the module)."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CATALOGUE))
    docs = catalogue_documents()
    definitions.names.update(doc["metadata"]["name"] for doc in docs)
    return docs


# What a Workload of each type needs besides the resource: params, and where it uses the
# outputs (every output of the type, in variables, or the resource as a volume source).
PARAMS: dict[str, dict[str, Any]] = {
    "route": {"host": "shop.localhost", "path": "/", "port": 80},
    # the Workload itself: the port of its own Service, by name
    "service-port": {"workload": "shop", "port": "web"},
    "workload-port": {"workload": "shop", "port": "web"},
    "llm-model": {"model": "smollm2:135m"},
}
VOLUME_TYPES = {"volume", "tmp-volume"}
WORKLOAD_PODS = "berth.dev/workload=shop"
CASES = sorted(
    {(d["spec"]["type"], d["spec"].get("class")) for d in catalogue_documents()},
    key=lambda case: (case[0], case[1] or ""),
)


def catalogue_workload(type_: str, class_: str | None, outputs: list[str]) -> dict[str, Any]:
    resource: dict[str, Any] = {"type": type_}
    if class_:
        resource["class"] = class_
    if type_ in PARAMS:
        resource["params"] = PARAMS[type_]
    main: dict[str, Any] = {"image": "registry.acme.dev/app:1.0"}
    if type_ in VOLUME_TYPES:
        main["volumes"] = {"/data": {"source": "${resources.res}"}}
    else:
        main["variables"] = {
            f"OUT_{i}": f"${{resources.res.{output}}}" for i, output in enumerate(outputs)
        }
    return workload_body(
        "shop",
        containers={"main": main},
        service={"ports": {"web": {"port": 80, "targetPort": 8080}}},
        resources={"res": resource},
    )


@pytest.mark.parametrize(
    ("type_", "class_"), CASES, ids=[f"{t}.{c or 'default'}" for t, c in CASES]
)
def test_every_default_catalogue_type_ends_ready(
    berth: Berth,
    namespace: str,
    catalogue: list[dict[str, Any]],
    make_environment: Callable[..., str],
    type_: str,
    class_: str | None,
) -> None:
    (definition,) = [
        d for d in catalogue if d["spec"]["type"] == type_ and d["spec"].get("class") == class_
    ]
    outputs = definition["spec"].get("outputs") or []
    make_environment()
    berth.create_workload(namespace, catalogue_workload(type_, class_, outputs))
    if class_ == "persistent":
        # A PersistentVolumeClaim needs a volume, and kwok's cluster has no volume
        # provisioner: the resource is Ready (the claim exists), the Pod cannot be
        # scheduled, and the Workload stays Ready=False while it waits.
        berth.wait_condition(namespace, "shop", "ResourcesReady", "True", timeout=90)
        served = entry(berth, namespace, "shop", "res")
        assert served["provisioner"] == "ClusterProvisioner/default-volume-persistent"
        assert "class persistent" in served["selection"]
        claim = next(o for o in served["objects"] if o["kind"] == "PersistentVolumeClaim")
        assert berth.core.read_namespaced_persistent_volume_claim(claim["name"], namespace)

        def unschedulable() -> bool:
            pods = berth.core.list_namespaced_pod(namespace, label_selector=WORKLOAD_PODS).items
            return any(
                c.type == "PodScheduled" and c.status == "False"
                for p in pods
                for c in (p.status.conditions or [])
            )

        wait_for(unschedulable, 60, "the Workload's Pod unschedulable for want of a volume")
        stays(
            lambda: (berth.condition(namespace, "shop", "Ready") or {}).get("status") == "False",
            3,
            "Ready=False",
        )
        return
    berth.wait_condition(namespace, "shop", "Ready", "True", timeout=90)
    served = entry(berth, namespace, "shop", "res")
    assert served["provisioner"] == f"ClusterProvisioner/{definition['metadata']['name']}"
    assert served["state"] == "Ready"
    assert set(outputs) <= set(served["outputs"])
    # The instances a template runs are admitted by the namespace's Pod Security
    # (restricted) and become available.
    for obj in served.get("objects") or []:
        if obj["kind"] == "Deployment":

            def available(name: str = obj["name"]) -> bool:
                status = berth.apps.read_namespaced_deployment(name, namespace).status
                return (status.available_replicas or 0) >= 1

            wait_for(available, 90, f"Deployment {obj['name']} of {type_} available")
