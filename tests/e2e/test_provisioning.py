"""Resources a Workload asks for, provided as its Environment says — on a real API server,
with a test-only composer playing Crossplane's part."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.clusterharness import REPO_ROOT
from tests.composer import FAIL, OMIT_KEYS
from tests.e2e.conftest import OperatorProcess
from tests.kubeutil import Berth, stays, wait_for, workload_body

CLAIMS = ("platform.acme.dev", "v1alpha1", "postgresqlinstances")
EXAMPLE_PROVISIONERS = {
    p["name"]: p
    for p in yaml.safe_load(Path(REPO_ROOT / "examples/provisioners/environment.yaml").read_text())[
        "spec"
    ]["provisioners"]
}


def provisioner(name: str, **changes: Any) -> dict[str, Any]:
    found = copy.deepcopy(EXAMPLE_PROVISIONERS[name])
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(found.get(key), dict):
            found[key].update(value)
        else:
            found[key] = value
    return found


def claims(api: ApiClient, namespace: str) -> list[dict[str, Any]]:
    return k8s.CustomObjectsApi(api).list_namespaced_custom_object(
        *CLAIMS[:2], namespace, CLAIMS[2]
    )["items"]  # type: ignore[no-any-return]


def resource_entry(berth: Berth, namespace: str, workload: str, name: str) -> dict[str, Any]:
    for entry in berth.workload(namespace, workload).get("status", {}).get("resources") or []:
        if entry["name"] == name:
            return entry  # type: ignore[no-any-return]
    raise AssertionError(f"no status entry for resource {name!r}")


def db_workload(name: str, **resource: Any) -> dict[str, Any]:
    return workload_body(
        name,
        containers={
            "main": {
                "image": "registry.acme.dev/app:1.0",
                "variables": {
                    "DB_HOST": "${resources.db.host}",
                    "DB_PASSWORD": "${resources.db.password}",
                    "DB_URL": "postgres://${resources.db.username}:${resources.db.password}@${resources.db.host}",
                },
            }
        },
        resources={"db": {"type": "postgres", **resource}},
    )


def env_of(berth: Berth, namespace: str, name: str) -> dict[str, Any]:
    container = berth.apps.read_namespaced_deployment(
        name, namespace
    ).spec.template.spec.containers[0]
    return {e.name: e for e in container.env}


def test_a_crossplane_claim_becomes_outputs_and_secrets_stay_secret(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any, operator: OperatorProcess
) -> None:
    make_environment(provisioner("postgres"))
    berth.create_workload(namespace, db_workload("app", params={"storageGB": 20}))
    berth.wait_condition(namespace, "app", "Ready", "True")

    [claim] = claims(api, namespace)
    assert claim["spec"]["parameters"]["storageGB"] == 20  # the Workload's params over the defaults
    assert claim["spec"]["parameters"]["version"] == "16"
    assert claim["spec"]["compositionSelector"] == {
        "matchLabels": {"provider": "aws", "tier": "small"}
    }
    secret_name = claim["spec"]["writeConnectionSecretToRef"]["name"]

    env = env_of(berth, namespace, "app")
    assert env["DB_HOST"].value == f"{claim['metadata']['name']}.postgres.internal"
    ref = env["DB_PASSWORD"].value_from.secret_key_ref
    assert (ref.name, ref.key) == (secret_name, "password")
    assert "$(BERTH_SECRET_DB_PASSWORD)" in env["DB_URL"].value

    assert operator.metric("berth_provisioning_duration_seconds_count", type="postgres") >= 1
    entry = resource_entry(berth, namespace, "app", "db")
    assert entry["state"] == "Ready"
    assert entry["provisioner"] == "postgres"
    assert "matched type postgres" in entry["selection"]
    assert entry["claim"]["name"] == claim["metadata"]["name"]
    assert "password" in entry["outputs"]

    # The secret value is nowhere Berth writes: not in the Deployment, the status, events.
    password = f"pw-{claim['metadata']['name']}"
    deployment = berth.apps.read_namespaced_deployment("app", namespace)
    assert password not in json.dumps(api.sanitize_for_serialization(deployment))
    assert password not in json.dumps(berth.workload(namespace, "app"))
    events = berth.core.list_namespaced_event(namespace).items
    assert password not in json.dumps(api.sanitize_for_serialization(events))


def test_the_most_specific_provisioner_wins_and_status_says_why(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any
) -> None:
    make_environment(provisioner("postgres"), provisioner("postgres-large"))
    berth.create_workload(namespace, db_workload("big", **{"class": "large"}))
    berth.wait_condition(namespace, "big", "Ready", "True")
    entry = resource_entry(berth, namespace, "big", "db")
    assert entry["provisioner"] == "postgres-large"
    assert "class large" in entry["selection"]
    [claim] = claims(api, namespace)
    assert claim["spec"]["compositionSelector"]["matchLabels"]["tier"] == "large"


def test_a_template_provisions_an_in_cluster_service(
    berth: Berth, namespace: str, make_environment: Any
) -> None:
    make_environment(provisioner("redis-dev", **{"class": None}))
    berth.create_workload(
        namespace,
        workload_body(
            "cached",
            containers={
                "main": {
                    "image": "registry.acme.dev/app:1.0",
                    "variables": {"REDIS": "${resources.cache.host}:${resources.cache.port}"},
                }
            },
            resources={"cache": {"type": "redis"}},
        ),
    )
    berth.wait_condition(namespace, "cached", "Ready", "True")
    entry = resource_entry(berth, namespace, "cached", "cache")
    kinds = sorted(o["kind"] for o in entry["objects"])
    assert kinds == ["Deployment", "Service"]
    service = next(o for o in entry["objects"] if o["kind"] == "Service")
    assert env_of(berth, namespace, "cached")["REDIS"].value == f"{service['name']}:6379"
    # Provisioned objects are not the Workload's children: no owner reference.
    redis = berth.apps.read_namespaced_deployment(service["name"], namespace)
    assert not redis.metadata.owner_references


def test_an_existing_secret_provides_outputs(
    berth: Berth, namespace: str, make_environment: Any
) -> None:
    berth.core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "legacy-smtp"},
            "stringData": {"host": "smtp.internal", "password": "x"},
        },
    )
    make_environment(
        {
            "name": "smtp",
            "type": "smtp",
            "outputs": ["host", "password"],
            "secret": {"name": "legacy-smtp"},
        }
    )
    berth.create_workload(
        namespace,
        workload_body(
            "mailer",
            containers={
                "main": {
                    "image": "registry.acme.dev/app:1.0",
                    "variables": {"SMTP": "${resources.mail.host}"},
                }
            },
            resources={"mail": {"type": "smtp"}},
        ),
    )
    berth.wait_condition(namespace, "mailer", "Ready", "True")
    ref = env_of(berth, namespace, "mailer")["SMTP"].value_from.secret_key_ref
    assert (ref.name, ref.key) == ("legacy-smtp", "host")


def test_a_failing_claim_stalls_the_workload_with_crossplanes_own_words(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any
) -> None:
    message = "cannot create RDS instance: quota exceeded for db.t3.micro in eu-west-1"
    make_environment(provisioner("postgres", crossplane={"annotations": {FAIL: message}}))
    berth.create_workload(namespace, db_workload("doomed"))
    stalled = berth.wait_condition(
        namespace, "doomed", "Stalled", "True", timeout=20, reason="ClaimNotSynced"
    )
    [claim] = claims(api, namespace)
    assert stalled["reason"] == "ClaimNotSynced"
    assert message in stalled["message"]
    assert claim["metadata"]["name"] in stalled["message"]
    entry = resource_entry(berth, namespace, "doomed", "db")
    assert entry["state"] == "Failed"
    # No half-configured container: the Deployment is not created without its outputs.
    assert not berth.apps.list_namespaced_deployment(
        namespace, label_selector="berth.dev/workload=doomed"
    ).items


def test_a_missing_output_is_named(berth: Berth, namespace: str, make_environment: Any) -> None:
    make_environment(provisioner("postgres", crossplane={"annotations": {OMIT_KEYS: "password"}}))
    berth.create_workload(namespace, db_workload("partial"))
    stalled = berth.wait_condition(
        namespace, "partial", "Stalled", "True", timeout=20, reason="MissingOutput"
    )
    assert stalled["reason"] == "MissingOutput"
    assert "password" in stalled["message"]


def test_a_param_the_provisioner_does_not_allow_is_refused(
    berth: Berth, namespace: str, make_environment: Any
) -> None:
    make_environment(provisioner("postgres"))
    berth.create_workload(namespace, db_workload("greedy", params={"instanceType": "huge"}))
    stalled = berth.wait_condition(
        namespace, "greedy", "Stalled", "True", timeout=20, reason="ParamNotAllowed"
    )
    assert stalled["reason"] == "ParamNotAllowed"
    assert "instanceType" in stalled["message"]


def test_a_shared_resource_lives_until_its_last_user_goes(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any
) -> None:
    make_environment(provisioner("postgres"), deletionPolicy="Delete")
    berth.create_workload(namespace, db_workload("one", id="main"))
    berth.create_workload(namespace, db_workload("two", id="main"))
    berth.wait_condition(namespace, "one", "Ready", "True")
    berth.wait_condition(namespace, "two", "Ready", "True")
    [claim] = claims(api, namespace)
    assert (
        resource_entry(berth, namespace, "one", "db")["claim"]["name"] == claim["metadata"]["name"]
    )
    assert (
        resource_entry(berth, namespace, "two", "db")["claim"]["name"] == claim["metadata"]["name"]
    )

    berth.delete_workload(namespace, "one")
    wait_for(
        lambda: not any(w["metadata"]["name"] == "one" for w in workloads(api, namespace)),
        15,
        "one to go",
    )
    stays(lambda: len(claims(api, namespace)) == 1, 2, "the shared claim staying")

    berth.delete_workload(namespace, "two")
    wait_for(lambda: not claims(api, namespace), 15, "the shared claim to go with its last user")


def workloads(api: ApiClient, namespace: str) -> list[dict[str, Any]]:
    return k8s.CustomObjectsApi(api).list_namespaced_custom_object(
        "berth.dev", "v1alpha1", namespace, "workloads"
    )["items"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("policy", ["Delete", "Retain", "Orphan"])
def test_a_removed_resource_goes_as_the_deletion_policy_says(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any, policy: str
) -> None:
    make_environment(provisioner("postgres"), deletionPolicy=policy)
    body = db_workload("fickle")
    berth.create_workload(namespace, body)
    berth.wait_condition(namespace, "fickle", "Ready", "True")
    [claim] = claims(api, namespace)

    # Drop the resource (and the variables that used it) from the spec.
    custom = k8s.CustomObjectsApi(api)
    current = berth.workload(namespace, "fickle")
    current["spec"]["resources"] = {}
    current["spec"]["containers"]["main"]["variables"] = {"X": "y"}
    custom.replace_namespaced_custom_object(
        "berth.dev", "v1alpha1", namespace, "workloads", "fickle", current
    )
    berth.wait_condition(namespace, "fickle", "Ready", "True")

    if policy == "Delete":
        wait_for(lambda: not claims(api, namespace), 15, "the claim to be deleted")
    else:
        stays(lambda: len(claims(api, namespace)) == 1, 3, "the claim being kept")
        [kept] = claims(api, namespace)
        assert kept["metadata"]["uid"] == claim["metadata"]["uid"]
        labels = kept["metadata"].get("labels") or {}
        if policy == "Orphan":
            assert "app.kubernetes.io/managed-by" not in labels
        else:
            assert labels.get("app.kubernetes.io/managed-by") == "berth"
    # Without resources the Workload no longer holds a finalizer.
    wait_for(
        lambda: not berth.workload(namespace, "fickle")["metadata"].get("finalizers"),
        10,
        "the finalizer to go",
    )


def test_deleting_a_workload_never_deletes_a_retained_claim(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any
) -> None:
    make_environment(provisioner("postgres"), type="production")  # production: Retain by default
    berth.create_workload(namespace, db_workload("prod"))
    berth.wait_condition(namespace, "prod", "Ready", "True")
    assert berth.workload(namespace, "prod")["metadata"]["finalizers"] == ["berth.dev/cleanup"]
    berth.delete_workload(namespace, "prod")

    def gone() -> bool:
        try:
            berth.workload(namespace, "prod")
        except ApiException as err:
            return err.status == 404
        return False

    wait_for(gone, 15, "the Workload to be deleted")
    assert len(claims(api, namespace)) == 1


def environment_gone(berth: Berth, name: str) -> bool:
    try:
        berth.environment(name)
    except ApiException as err:
        return err.status == 404
    return False


def test_deleting_an_environment_with_policy_delete_takes_its_workloads_and_claims(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any
) -> None:
    env = make_environment(provisioner("postgres"), deletionPolicy="Delete")
    berth.create_workload(namespace, db_workload("doomed-app"))
    berth.wait_condition(namespace, "doomed-app", "Ready", "True")
    assert len(claims(api, namespace)) == 1

    berth.delete_environment(env)
    wait_for(lambda: environment_gone(berth, env), 30, "the Environment to go")
    assert not workloads(api, namespace)
    wait_for(lambda: not claims(api, namespace), 15, "the claim to be deleted")


def test_deleting_an_environment_with_policy_retain_loses_nothing(
    api: ApiClient, berth: Berth, namespace: str, make_environment: Any
) -> None:
    env = make_environment(provisioner("postgres"), deletionPolicy="Retain")
    berth.create_workload(namespace, db_workload("survivor"))
    berth.wait_condition(namespace, "survivor", "Ready", "True")
    deployment = berth.apps.read_namespaced_deployment("survivor", namespace)

    berth.delete_environment(env)
    wait_for(lambda: environment_gone(berth, env), 15, "the Environment to go")
    berth.wait_condition(namespace, "survivor", "Stalled", "True", reason="EnvironmentNotFound")
    assert len(claims(api, namespace)) == 1
    now = berth.apps.read_namespaced_deployment("survivor", namespace)
    assert now.metadata.resource_version == deployment.metadata.resource_version
    assert now.status.available_replicas == 1

    # Its Workload deleted later, without an Environment to say otherwise: retained.
    berth.delete_workload(namespace, "survivor")
    wait_for(lambda: not workloads(api, namespace), 15, "the Workload to go")
    assert len(claims(api, namespace)) == 1
