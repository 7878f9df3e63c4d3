"""Previews from git with the real Argo CD's ApplicationSet controller (issue 19): one
Application per directory of a local repository (git generator), each making a preview
and its changed Workloads; a directory removed removes its preview through the teardown.
The ApplicationSet is examples/previews/applicationset.yaml, pointed at that repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.argocdharness import NAMESPACE as ARGOCD_NAMESPACE
from tests.argocdharness import WAVE_ANNOTATION, GitRepo, LocalArgoCD
from tests.clusterharness import REPO_ROOT, ClusterAccess
from tests.composer import TestOnlyComposer
from tests.e2e.test_argocd import argocd  # noqa: F401 (fixture)
from tests.kubeutil import Berth, wait_for
from tests.previewkit import Previews, app_workload, base_environment, preview_body

APPLICATIONSET = REPO_ROOT / "examples" / "previews" / "applicationset.yaml"
APPSETS = ("argoproj.io", "v1alpha1", "applicationsets")


def applicationset_for(base: str, repo_url: str) -> dict[str, Any]:
    """examples/previews/applicationset.yaml for this base and repository, looking at the
    repository every few seconds (the example says a minute)."""
    text = APPLICATIONSET.read_text().replace("team-a-dev", base)
    body: dict[str, Any] = yaml.safe_load(text)
    generator = body["spec"]["generators"][0]["git"]
    generator["repoURL"] = body["spec"]["template"]["spec"]["source"]["repoURL"] = repo_url
    generator["requeueAfterSeconds"] = 5
    return body


def preview_directory(repo: GitRepo, base: str, name: str, image: str) -> None:
    """previews/<name>/: the Preview (first, by its sync wave) and the changed checkout."""
    preview = preview_body(name, base, ttl="1h")
    preview["metadata"]["annotations"] = {WAVE_ANNOTATION: "-1"}
    repo.write(f"previews/{name}/preview.yaml", preview)
    checkout = app_workload("checkout", image=image, db=True)
    checkout["metadata"]["namespace"] = f"{base}-{name}"
    repo.write(f"previews/{name}/checkout.yaml", checkout)


@pytest.fixture
def base(
    berth: Berth,
    api: ApiClient,
    namespace: str,
    composer: TestOnlyComposer,
    argocd: LocalArgoCD,  # noqa: F811
) -> Iterator[str]:
    berth.create_environment(base_environment(namespace, namespace, maxCount=3))
    for name in ("cart", "checkout", "web"):
        berth.create_workload(namespace, app_workload(name, db=name == "checkout"))
    yield namespace
    Previews(api, berth).remove_all(namespace)
    berth.delete_environment(namespace)
    wait_for(lambda: Previews(api, berth).environment(namespace) is None, 120, "the base gone")


def test_one_preview_per_directory_and_a_removed_directory_tears_its_preview_down(
    cluster: ClusterAccess,
    api: ApiClient,
    berth: Berth,
    argocd: LocalArgoCD,  # noqa: F811
    base: str,
    tmp_path: Path,
) -> None:
    previews = Previews(api, berth)
    repo = GitRepo(tmp_path / "repo")
    repo.write("README.yaml", {"about": "previews of the shop"})
    preview_directory(repo, base, "pr-1", "registry.acme.dev/app:2.0-pr-1")
    preview_directory(repo, base, "pr-2", "registry.acme.dev/app:2.0-pr-2")
    repo.commit("two pull requests")
    appset = applicationset_for(base, repo.url)
    argocd.custom.create_namespaced_custom_object(
        *APPSETS[:2], ARGOCD_NAMESPACE, APPSETS[2], appset
    )
    try:
        for name in ("pr-1", "pr-2"):
            target = f"{base}-{name}"
            previews.wait_ready(base, name, timeout=240)
            # The whole app: two copies of the base's, and the checkout from git.
            wait_for(
                lambda t=target, n=name: berth.rolled_out(
                    t, "checkout", f"registry.acme.dev/app:2.0-{n}"
                ),  # type: ignore[misc]
                240,
                f"the checkout of {name} from git",
            )
            for copied in ("cart", "web"):
                labels = berth.workload(target, copied)["metadata"]["labels"]
                assert labels["berth.dev/copy-of"] == base
            assert "berth.dev/copy-of" not in (
                berth.workload(target, "checkout")["metadata"].get("labels") or {}
            )
            assert len(previews.claims(target)) == 1  # its own database

            def healthy(n: str = name) -> bool:
                status = argocd.application(f"{base}-{n}").get("status") or {}
                return (status.get("sync") or {}).get("status") == "Synced" and (
                    status.get("health") or {}
                ).get("status") == "Healthy"

            wait_for(healthy, 180, f"Application {base}-{name} Synced and Healthy")

        # The directory goes: the Application goes, and with it what it applied; the
        # Preview's finalizer holds it while the preview is torn down in order.
        for manifest in ("preview.yaml", "checkout.yaml"):
            repo.remove(f"previews/pr-1/{manifest}")
        repo.commit("pr-1 merged")

        def application_gone() -> bool:
            try:
                argocd.application(f"{base}-pr-1")
            except ApiException as err:
                return err.status == 404
            return False

        wait_for(application_gone, 240, "the Application of pr-1 gone")
        previews.wait_gone(base, "pr-1", timeout=240)
        assert previews.environment(f"{base}-pr-1") is None
        wait_for(
            lambda: not previews.namespace_exists(f"{base}-pr-1"), 120, "pr-1's namespace gone"
        )
        # The other preview runs on, untouched.
        assert previews.condition(previews.get(base, "pr-2")) == ("True", "Ready")
        assert berth.rolled_out(f"{base}-pr-2", "checkout", "registry.acme.dev/app:2.0-pr-2")
    finally:
        argocd.custom.delete_namespaced_custom_object(
            *APPSETS[:2], ARGOCD_NAMESPACE, APPSETS[2], appset["metadata"]["name"]
        )
        wait_for(
            lambda: previews.get(base, "pr-2") is None,
            240,
            "the ApplicationSet's previews gone with it",
        )
