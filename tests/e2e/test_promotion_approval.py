"""Approval of a promotion, with two ServiceAccounts and the chart's own RBAC and
admission policy.

A production Environment requires approval. ``developer`` holds the chart's promoter
ClusterRole there (a RoleBinding), ``lead`` its approver ClusterRole; each acts with a
token of its own (TokenRequest), as kubectl would. The developer promotes (with
`berth promote`, under its own rights) and cannot approve: the API server refuses its
PromotionApproval (RBAC). The lead cannot approve in someone else's name: the chart's
ValidatingAdmissionPolicy refuses it. The lead's own approval lets the Promotion go on,
and the Promotion names the lead as the approver.
"""

from __future__ import annotations

import json
import subprocess
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
from tests.chartrbac import helm_template, run_kubectl, token_kubeconfig
from tests.clusterharness import ClusterAccess
from tests.kubeutil import GROUP, VERSION, Berth, stays, wait_for
from tests.operatorharness import OperatorProcess

TIMEOUT = 120


@dataclass
class Subject:
    name: str
    namespace: str
    kubeconfig: Path

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


@dataclass
class Scene:
    cluster: ClusterAccess
    api: ApiClient
    staging: str
    prod: str
    developer: Subject
    lead: Subject

    def promotion(self, name: str) -> dict[str, Any]:
        return k8s.CustomObjectsApi(self.api).get_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.prod, "promotions", name
        )

    def phase(self, name: str) -> str:
        return str((self.promotion(name).get("status") or {}).get("phase"))


def approval(name: str, promotion: str, approver: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PromotionApproval",
        "metadata": {"name": name},
        "spec": {"promotion": promotion, "approver": approver, "comment": "release 1.4"},
    }


def apply_as(
    subject: Subject, body: dict[str, Any], tmp: Path, *flags: str
) -> subprocess.CompletedProcess[str]:
    path = tmp / f"{body['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(body))
    return run_kubectl(
        subject.kubeconfig, "create", "-n", subject.namespace, "-f", str(path), *flags
    )


def service_account(
    cluster: ClusterAccess, namespace: str, name: str, role: str, tmp: Path
) -> Subject:
    cluster.kubectl("create", "serviceaccount", name, "-n", namespace)
    cluster.kubectl(
        "create",
        "rolebinding",
        name,
        "-n",
        namespace,
        f"--clusterrole={role}",
        f"--serviceaccount={namespace}:{name}",
    )
    # Environments are cluster-scoped: read through a ClusterRoleBinding to the viewer role.
    cluster.kubectl(
        "create",
        "clusterrolebinding",
        f"{namespace}-{name}",
        f"--clusterrole={role.rsplit('-berth-', 1)[0]}-berth-environment-viewer",
        f"--serviceaccount={namespace}:{name}",
    )
    token = cluster.kubectl("create", "token", name, "-n", namespace, "--duration=1h").strip()
    return Subject(name, namespace, token_kubeconfig(cluster, token, tmp / f"{name}.kubeconfig"))


@pytest.fixture(scope="module")
def scene(
    cluster: ClusterAccess,
    api: ApiClient,
    operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scene]:
    tmp = tmp_path_factory.mktemp("approval")
    suffix = uuid.uuid4().hex[:5]
    release = f"appr-{suffix}"
    staging, prod = f"appr-{suffix}-staging", f"appr-{suffix}-prod"
    docs = [
        d
        for d in helm_template(tmp, release, release, {})
        if d["metadata"]["name"].endswith(
            ("-promotion-approver", "-promoter", "-environment-viewer")
        )
    ]
    assert sorted(d["kind"] for d in docs) == [
        "ClusterRole",
        "ClusterRole",
        "ClusterRole",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    berth = Berth(api)
    base = {"deletionPolicy": "Delete"}
    berth.create_environment(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Environment",
            "metadata": {"name": staging},
            "spec": {"type": "staging", "namespace": staging, **base},
        }
    )
    berth.create_environment(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Environment",
            "metadata": {"name": prod},
            "spec": {
                "type": "production",
                "namespace": prod,
                **base,
                "promotion": {"from": [staging], "requireApproval": True},
            },
        }
    )
    try:
        path = tmp / "promotion.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        cluster.kubectl("apply", "-f", str(path))
        for env in (staging, prod):
            wait_for(
                lambda e=env: (berth.environment(e).get("status") or {}).get("namespace"),
                60,
                f"Environment {env}'s namespace",
            )
        developer = service_account(cluster, prod, "developer", f"{release}-berth-promoter", tmp)
        lead = service_account(cluster, prod, "lead", f"{release}-berth-promotion-approver", tmp)
        # The API server enforces a new ValidatingAdmissionPolicy a moment after it is
        # created: until a forged approval (a dry run) is refused, the test would race it.
        forged = approval("probe", "any", developer.user)
        wait_for(
            lambda: (
                "must be your own user name"
                in apply_as(lead, forged, tmp, "--dry-run=server").stderr
            ),
            60,
            "the approver policy in force",
            interval=0.5,
        )
        yield Scene(cluster, api, staging, prod, developer, lead)
    finally:
        for doc in docs:
            cluster.kubectl(
                "delete",
                doc["kind"].lower(),
                doc["metadata"]["name"],
                "--ignore-not-found",
                check=False,
            )
        berth.delete_environment(staging)
        berth.delete_environment(prod)
        for subject in ("developer", "lead"):
            cluster.kubectl(
                "delete",
                "clusterrolebinding",
                f"{prod}-{subject}",
                "--ignore-not-found",
                check=False,
            )
        for namespace in (staging, prod):
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_only_the_granted_subject_approves_and_the_record_names_them(
    scene: Scene, tmp_path: Path
) -> None:
    berth = Berth(scene.api)
    berth.create_workload(
        scene.staging,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Workload",
            "metadata": {"name": "checkout"},
            "spec": {"containers": {"main": {"image": "registry.acme.dev/shop/checkout:1.4"}}},
        },
    )
    wait_for(
        lambda: (berth.workload(scene.staging, "checkout").get("status") or {}).get("revision"),
        TIMEOUT,
        "staging's revision",
    )
    # The developer promotes, with its own rights.
    code = main(
        [
            "promote",
            "checkout",
            "--from",
            scene.staging,
            "--to",
            scene.prod,
            "--kubeconfig",
            str(scene.developer.kubeconfig),
        ]
    )
    assert code == 0
    listed = k8s.CustomObjectsApi(scene.api).list_namespaced_custom_object(
        GROUP, VERSION, scene.prod, "promotions"
    )["items"]
    (promotion,) = [p["metadata"]["name"] for p in listed]
    wait_for(
        lambda: scene.phase(promotion) == "WaitingForApproval", TIMEOUT, "waiting for approval"
    )

    # The developer may not approve: RBAC refuses the approval at the door.
    refused = apply_as(scene.developer, approval("mine", promotion, scene.developer.user), tmp_path)
    assert refused.returncode != 0
    assert "forbidden" in refused.stderr
    assert "promotionapprovals" in refused.stderr
    # Nor may the lead approve in the developer's name: the admission policy refuses it.
    forged = apply_as(scene.lead, approval("forged", promotion, scene.developer.user), tmp_path)
    assert forged.returncode != 0
    assert f"spec.approver must be your own user name: {scene.lead.user}" in forged.stderr
    stays(lambda: scene.phase(promotion) == "WaitingForApproval", 5, "still waiting")
    assert (
        berth.custom.list_namespaced_custom_object(GROUP, VERSION, scene.prod, "workloads")["items"]
        == []
    )

    # The lead approves, in its own name.
    approved = apply_as(scene.lead, approval("yes", promotion, scene.lead.user), tmp_path)
    assert approved.returncode == 0, approved.stderr
    wait_for(lambda: scene.phase(promotion) == "Succeeded", TIMEOUT, "the promotion to succeed")
    status = scene.promotion(promotion)["status"]
    assert status["approvedBy"] == scene.lead.user
    shown = run_kubectl(
        scene.developer.kubeconfig, "get", "promotionapprovals", "-n", scene.prod, "-o", "json"
    )
    assert shown.returncode != 0  # the promoter role does not read approvals either
    visible = json.loads(
        run_kubectl(
            scene.lead.kubeconfig, "get", "promotionapprovals", "-n", scene.prod, "-o", "json"
        ).stdout
    )
    assert [a["spec"]["approver"] for a in visible["items"]] == [scene.lead.user]
