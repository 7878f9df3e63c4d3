"""`berth promote` and `berth rollback` against the real API server, without an operator:
what they create, what `--write` writes into a git checkout, and how they refuse.

The revisions are arranged by hand here (the operator records them in
tests/e2e/test_promotion.py); the CLI reads them with the user's own kubeconfig.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from berth.cli import main
from berth.promotion.revision import template_hash
from tests.clusterharness import ClusterAccess
from tests.kubeutil import GROUP, VERSION, Berth, environment_body

DIGEST = "sha256:" + "1" * 64
IMAGE = "registry.acme.dev/checkout:1.4"
PINNED = f"{IMAGE}@{DIGEST}"


@dataclass
class Pipeline:
    dev: str  # Environment name == namespace
    prod: str
    kubeconfig: str

    def run(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--kubeconfig", self.kubeconfig])
        out, err = capsys.readouterr()
        return code, out, err


def revision_body(namespace: str, number: int, uid: str, **template: Any) -> dict[str, Any]:
    spec = {"containers": {"main": {"image": PINNED}}, **template}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "WorkloadRevision",
        "metadata": {
            "name": f"checkout-r{number}",
            "namespace": namespace,
            "labels": {"berth.dev/workload": "checkout"},
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "Workload",
                    "name": "checkout",
                    "uid": uid,
                }
            ],
        },
        "spec": {
            "workload": "checkout",
            "revision": number,
            "environment": namespace,
            "environmentGeneration": 1,
            "workloadGeneration": number,
            "template": spec,
            "images": [
                {
                    "container": "main",
                    "image": IMAGE,
                    "pinned": PINNED,
                    "digest": DIGEST,
                    "source": "Pod",
                }
            ],
            "hash": template_hash(spec),
        },
    }


@pytest.fixture
def pipeline(
    cluster: ClusterAccess, api: ApiClient, crds: None, namespace: str
) -> Iterator[Pipeline]:
    """Environments dev (this test's namespace) and prod (a second one); in dev, Workload
    checkout at revision 2 of two, arranged as the operator would have recorded them."""
    core, berth = k8s.CoreV1Api(api), Berth(api)
    prod = f"{namespace}-prod"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=prod)))
    berth.create_environment(environment_body(namespace, namespace))
    berth.create_environment(
        environment_body(prod, prod, type="production", promotion={"from": [namespace]})
    )
    workload = berth.create_workload(
        namespace,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Workload",
            "metadata": {"name": "checkout"},
            "spec": {"containers": {"main": {"image": IMAGE}}},
        },
    )
    uid = workload["metadata"]["uid"]
    custom = k8s.CustomObjectsApi(api)
    for number in (1, 2):
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "workloadrevisions",
            revision_body(namespace, number, uid, replicas=number),
        )
    custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        "workloads",
        "checkout",
        {
            "status": {
                "environment": namespace,
                "revision": {"name": "checkout-r2", "number": 2, "workloadGeneration": 1},
            }
        },
    )
    try:
        yield Pipeline(namespace, prod, str(cluster.kubeconfig))
    finally:
        berth.delete_environment(namespace)
        berth.delete_environment(prod)
        core.delete_namespace(prod)


def promotions(api: ApiClient, namespace: str) -> list[dict[str, Any]]:
    listed = k8s.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, "promotions"
    )
    return list(listed["items"])


def test_promote_creates_a_promotion_in_the_targets_namespace(
    capsys: pytest.CaptureFixture[str], api: ApiClient, pipeline: Pipeline
) -> None:
    code, out, err = pipeline.run(
        capsys,
        "promote",
        "checkout",
        "--from",
        pipeline.dev,
        "--to",
        pipeline.prod,
        "--revision",
        "1",
    )
    assert (code, err) == (0, "")
    (created,) = promotions(api, pipeline.prod)
    assert created["spec"] == {
        "workload": "checkout",
        "from": pipeline.dev,
        "to": pipeline.prod,
        "revision": 1,
    }
    name = created["metadata"]["name"]
    assert out == f"promotion.berth.dev/{name} created in namespace {pipeline.prod}\n"


def test_promote_names_an_environment_that_does_not_exist(
    capsys: pytest.CaptureFixture[str], api: ApiClient, pipeline: Pipeline
) -> None:
    code, _, err = pipeline.run(
        capsys, "promote", "checkout", "--from", pipeline.dev, "--to", "nowhere"
    )
    assert code == 1
    assert err == "berth promote: Environment 'nowhere' does not exist (kubectl get environments)\n"
    assert promotions(api, pipeline.prod) == []


def test_wait_gives_up_after_its_timeout(
    capsys: pytest.CaptureFixture[str], api: ApiClient, pipeline: Pipeline
) -> None:
    # An approval nobody gives: waiting, whether an operator runs or not.
    Berth(api).patch_environment(pipeline.prod, {"spec": {"promotion": {"requireApproval": True}}})
    code, out, _ = pipeline.run(
        capsys,
        "promote",
        "checkout",
        "--from",
        pipeline.dev,
        "--to",
        pipeline.prod,
        "--wait",
        "--timeout",
        "2",
    )
    assert code == 1
    assert out.splitlines()[-1] == "gave up waiting after 2s; the Promotion goes on"


def test_write_puts_the_pinned_workload_into_the_checkout(
    capsys: pytest.CaptureFixture[str], api: ApiClient, pipeline: Pipeline, tmp_path: Path
) -> None:
    code, out, err = pipeline.run(
        capsys,
        "promote",
        "checkout",
        "--from",
        pipeline.dev,
        "--to",
        pipeline.prod,
        "--write",
        str(tmp_path),
    )
    assert (code, err) == (0, "")
    written = yaml.safe_load((tmp_path / "checkout.yaml").read_text())
    assert written == {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {
            "name": "checkout",
            "namespace": pipeline.prod,
            "annotations": {"berth.dev/promoted-revision": f"{pipeline.dev}/checkout-r2"},
        },
        "spec": {"containers": {"main": {"image": PINNED}}, "replicas": 2},
    }
    assert f"  {PINNED}\n" in out
    assert promotions(api, pipeline.prod) == []  # the commit is the promotion, not an object


def test_write_replaces_the_workloads_own_file_and_keeps_its_metadata(
    capsys: pytest.CaptureFixture[str], pipeline: Pipeline, tmp_path: Path
) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    mine = apps / "shop-checkout.yml"
    mine.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "berth.dev/v1alpha1",
                "kind": "Workload",
                "metadata": {"name": "checkout", "labels": {"team": "shop"}},
                "spec": {"containers": {"main": {"image": "registry.acme.dev/checkout:0.9"}}},
            }
        )
    )
    code, _, err = pipeline.run(
        capsys,
        "promote",
        "checkout",
        "--from",
        pipeline.dev,
        "--to",
        pipeline.prod,
        "--revision",
        "1",
        "--write",
        str(tmp_path),
    )
    assert (code, err) == (0, "")
    written = yaml.safe_load(mine.read_text())
    assert written["metadata"]["labels"] == {"team": "shop"}
    assert written["spec"] == {"containers": {"main": {"image": PINNED}}, "replicas": 1}
    assert not (tmp_path / "checkout.yaml").exists()


def test_write_refuses_a_file_shared_with_other_objects(
    capsys: pytest.CaptureFixture[str], pipeline: Pipeline, tmp_path: Path
) -> None:
    shared = tmp_path / "all.yaml"
    text = "kind: Workload\nmetadata: {name: checkout}\nspec: {}\n---\n"
    text += "kind: ConfigMap\nmetadata: {name: x}\n"
    shared.write_text(text)
    code, _, err = pipeline.run(
        capsys,
        "promote",
        "checkout",
        "--from",
        pipeline.dev,
        "--to",
        pipeline.prod,
        "--write",
        str(tmp_path),
    )
    assert code == 1
    assert "holds other objects beside Workload 'checkout'; move the Workload into a file" in err
    assert shared.read_text() == text


def test_write_refuses_what_the_target_would_refuse_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], api: ApiClient, pipeline: Pipeline, tmp_path: Path
) -> None:
    Berth(api).patch_environment(pipeline.prod, {"spec": {"policy": {"maxReplicas": 1}}})
    code, _, err = pipeline.run(
        capsys,
        "promote",
        "checkout",
        "--from",
        pipeline.dev,
        "--to",
        pipeline.prod,
        "--write",
        str(tmp_path),
    )
    assert code == 1
    assert err == (
        f"berth promote: Environment {pipeline.prod!r} cannot take the revision: replicas 2 is "
        f"above the maximum of 1 that Environment {pipeline.prod!r} allows (policy.maxReplicas); "
        "set spec.replicas to 1 or fewer; the target is unchanged\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_a_path_the_target_does_not_accept(
    capsys: pytest.CaptureFixture[str], api: ApiClient, pipeline: Pipeline, tmp_path: Path
) -> None:
    Berth(api).patch_environment(pipeline.prod, {"spec": {"promotion": {"from": ["staging"]}}})
    code, _, err = pipeline.run(
        capsys,
        "promote",
        "checkout",
        "--from",
        pipeline.dev,
        "--to",
        pipeline.prod,
        "--write",
        str(tmp_path),
    )
    assert code == 1
    assert f"does not accept promotions from {pipeline.dev!r} (spec.promotion.from: staging)" in err


def test_rollback_creates_a_promotion_from_the_workloads_own_environment(
    capsys: pytest.CaptureFixture[str], api: ApiClient, pipeline: Pipeline
) -> None:
    code, out, err = pipeline.run(
        capsys, "rollback", "checkout", "--to-revision", "1", "-n", pipeline.dev
    )
    assert (code, err) == (0, "")
    (created,) = promotions(api, pipeline.dev)
    assert created["spec"] == {
        "workload": "checkout",
        "from": pipeline.dev,
        "to": pipeline.dev,
        "revision": 1,
    }
    assert out.endswith("(rollback)\n")


def test_rollback_to_a_revision_that_does_not_exist_lists_those_there_are(
    capsys: pytest.CaptureFixture[str], api: ApiClient, pipeline: Pipeline
) -> None:
    code, _, err = pipeline.run(
        capsys, "rollback", "checkout", "--to-revision", "7", "-n", pipeline.dev
    )
    assert code == 1
    assert err == (
        f"berth rollback: Workload {pipeline.dev}/checkout has no revision 7 (its revisions: "
        "1, 2); name one it has, or leave spec.revision out for its current one\n"
    )
    assert promotions(api, pipeline.dev) == []


def test_bad_numbers_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rollback", "checkout", "--to-revision", "0"]) == 2
    assert main(["promote", "checkout", "--from", "a", "--to", "b", "--revision", "-1"]) == 2
    assert "1 or more" in capsys.readouterr().err


def test_revisions_are_immutable_on_the_api_server(api: ApiClient, pipeline: Pipeline) -> None:
    custom = k8s.CustomObjectsApi(api)
    with pytest.raises(k8s.exceptions.ApiException) as refused:
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            pipeline.dev,
            "workloadrevisions",
            "checkout-r1",
            {"spec": {"template": {"containers": {"main": {"image": "evil.example/x:1"}}}}},
        )
    assert refused.value.status == 422
    assert "a WorkloadRevision is immutable: it records what ran" in str(refused.value.body)
    # Labels and annotations are metadata, not the record: they may change.
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        pipeline.dev,
        "workloadrevisions",
        "checkout-r1",
        {"metadata": {"labels": {"kept": "yes"}}},
    )
    name = f"p-{uuid.uuid4().hex[:6]}"
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        pipeline.prod,
        "promotions",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Promotion",
            "metadata": {"name": name},
            "spec": {"workload": "checkout", "from": pipeline.dev},
        },
    )
    with pytest.raises(k8s.exceptions.ApiException) as changed:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, pipeline.prod, "promotions", name, {"spec": {"revision": 1}}
        )
    assert "a Promotion is one move and cannot be changed; create another" in str(
        changed.value.body
    )
