"""Promotion into an Environment synced from git, with the real Argo CD.

prod's Workload comes from a git repository that Argo CD syncs (the manual's
Application: automated, prune, selfHeal), so Argo CD marks it with its tracking
annotation. A Promotion into prod refuses to write it (ManagedByGitOps) and leaves it as
it is; `berth promote --write` writes the pinned Workload into the checkout instead, the
commit is the promotion, Argo CD syncs it, and prod records the revision as promoted
from staging's.
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
from tests.argocdharness import GitRepo, LocalArgoCD, application_for
from tests.clusterharness import ClusterAccess
from tests.e2e.test_argocd import GitOps, argocd  # noqa: F401 (the module's Argo CD)
from tests.kubeutil import GROUP, VERSION, Berth, stays, wait_for

TIMEOUT = 120
IMAGE = "registry.acme.dev/shop/checkout"


@dataclass
class Scene:
    gitops: GitOps
    api: ApiClient
    kubeconfig: Path
    staging: str

    @property
    def prod(self) -> str:
        return self.gitops.namespace

    def workload(self, namespace: str) -> dict[str, Any]:
        return Berth(self.api).workload(namespace, "checkout")


def environment(name: str, kind: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": {"type": kind, "namespace": name, "deletionPolicy": "Delete", **spec},
    }


def checkout(image: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "checkout"}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workload",
        "metadata": meta,
        "spec": {"containers": {"main": {"image": image}}},
    }


@pytest.fixture(scope="module")
def scene(
    argocd: LocalArgoCD,  # noqa: F811
    cluster: ClusterAccess,
    api: ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scene]:
    suffix = uuid.uuid4().hex[:5]
    staging, prod = f"gitops-{suffix}-staging", f"gitops-{suffix}-prod"
    berth = Berth(api)
    berth.create_environment(environment(staging, "staging"))
    berth.create_environment(environment(prod, "production", promotion={"from": [staging]}))
    for env in (staging, prod):
        wait_for(
            lambda e=env: (berth.environment(e).get("status") or {}).get("namespace"),
            60,
            f"Environment {env}'s namespace",
        )
    repo = GitRepo(Path(tmp_path_factory.mktemp("gitops")) / "repo")
    state = GitOps(argocd, repo, f"promo-{suffix}", prod, prod, {})
    state.files["deploy/checkout.yaml"] = checkout(f"{IMAGE}:1.3", prod)
    state.push("prod runs checkout 1.3")
    argocd.create_application(application_for(state.app, repo.url, prod))
    try:
        state.wait_synced_healthy(state.revision)
        yield Scene(state, api, cluster.kubeconfig, staging)
    finally:
        argocd.delete_application(state.app)
        for env in (staging, prod):
            berth.delete_environment(env)
            cluster.kubectl("delete", "namespace", env, "--wait=false", check=False)


def test_a_promotion_refuses_to_write_what_git_owns_and_write_puts_it_in_git(
    scene: Scene,
) -> None:
    berth = Berth(scene.api)
    berth.create_workload(scene.staging, checkout(f"{IMAGE}:1.4"))
    wait_for(
        lambda: (scene.workload(scene.staging).get("status") or {}).get("revision"),
        TIMEOUT,
        "staging's revision",
    )
    target = scene.workload(scene.prod)
    assert "argocd.argoproj.io/tracking-id" in target["metadata"]["annotations"]

    # A Promotion into prod: refused, prod untouched.
    custom = k8s.CustomObjectsApi(scene.api)
    created = custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        scene.prod,
        "promotions",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Promotion",
            "metadata": {"generateName": "checkout-"},
            "spec": {"workload": "checkout", "from": scene.staging},
        },
    )
    name = created["metadata"]["name"]

    def ended() -> dict[str, Any] | None:
        body = custom.get_namespaced_custom_object(GROUP, VERSION, scene.prod, "promotions", name)
        status = body.get("status") or {}
        return status if status.get("phase") == "Failed" else None

    status = wait_for(ended, TIMEOUT, "the promotion to fail")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ManagedByGitOps"
    assert f"berth promote checkout --from {scene.staging} --to {scene.prod}" in ready["message"]
    stays(
        lambda: (
            scene.workload(scene.prod)["metadata"]["resourceVersion"]
            == target["metadata"]["resourceVersion"]
        ),
        3,
        "prod untouched",
    )

    # The same promotion, as a commit.
    deploy = scene.gitops.repo.path / "deploy"
    argv = ["promote", "checkout", "--from", scene.staging, "--to", scene.prod]
    assert main([*argv, "--write", str(deploy), "--kubeconfig", str(scene.kubeconfig)]) == 0
    written = yaml.safe_load((deploy / "checkout.yaml").read_text())
    pinned = written["spec"]["containers"]["main"]["image"]
    assert pinned.startswith(f"{IMAGE}:1.4@sha256:")
    scene.gitops.files["deploy/checkout.yaml"] = written
    revision = scene.gitops.push("Promote checkout from staging")
    scene.gitops.wait_synced_healthy(revision)

    def recorded() -> dict[str, Any] | None:
        body = scene.workload(scene.prod)
        current = (body.get("status") or {}).get("revision") or {}
        gen = body["metadata"]["generation"]
        spec_pinned = body["spec"]["containers"]["main"]["image"] == pinned
        return body if spec_pinned and current.get("workloadGeneration") == gen else None

    body = wait_for(recorded, TIMEOUT, "prod at the promoted revision, recorded")
    assert body["status"]["revision"]["name"] == "checkout-r2"
    revisions = custom.list_namespaced_custom_object(
        GROUP, VERSION, scene.prod, "workloadrevisions"
    )["items"]
    newest = max(revisions, key=lambda r: r["spec"]["revision"])
    assert newest["spec"]["origin"] == {"revision": f"{scene.staging}/checkout-r1"}
    assert newest["spec"]["images"][0]["pinned"] == pinned
