"""A real Argo CD for e2e tests: started and stopped by hack/argocd.sh against the test
cluster, reading git repositories that tests write and commit locally (file:// URLs),
and Applications read back through the API server as kubectl would show them."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.clusterharness import BIN_DIR, REPO_ROOT

ARGOCD_SCRIPT = REPO_ROOT / "hack" / "argocd.sh"
NAMESPACE = "argocd"
GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "applications"
APPLICATION_EXAMPLE = REPO_ROOT / "examples" / "argocd" / "application.yaml"
LOG_FILES = ("application-controller", "applicationset-controller", "repo-server", "redis")
# The annotation that orders an Environment before its Workloads (docs/how-to/platform/argocd.md).
WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"


class ArgoCDUnavailable(RuntimeError):
    """hack/argocd.sh could not start Argo CD; the message carries its output."""


@dataclass
class LocalArgoCD:
    """The Argo CD that hack/argocd.sh runs; `settings` is the env file it writes."""

    state_dir: Path
    settings: dict[str, str]
    api: ApiClient

    @property
    def custom(self) -> k8s.CustomObjectsApi:
        return k8s.CustomObjectsApi(self.api)

    def create_application(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, NAMESPACE, PLURAL, body
        )

    def application(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, NAMESPACE, PLURAL, name
        )

    def delete_application(self, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
        except ApiException as err:
            if err.status != 404:
                raise

    def terminate_operation(self, name: str) -> None:
        """Stop an Application's running sync (and its retries), as `argocd app
        terminate-op` does: the operation's phase set to Terminating."""
        self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            NAMESPACE,
            PLURAL,
            name,
            {"status": {"operationState": {"phase": "Terminating"}}},
        )

    def config_map(self, name: str) -> dict[str, str]:
        found = k8s.CoreV1Api(self.api).read_namespaced_config_map(name, NAMESPACE)
        return dict(found.data or {})

    def operations_started(self, app: str) -> int:
        """Sync operations Argo CD started for an Application, by its own Events
        (OperationStarted; a repeated identical Event counts as often as it happened)."""
        events = k8s.CoreV1Api(self.api).list_namespaced_event(
            NAMESPACE, field_selector=f"involvedObject.name={app},reason=OperationStarted"
        )
        return sum(event.count or 1 for event in events.items)

    def keep_logs(self, destination: Path) -> None:
        """Copy the components' logs out of the state directory `down` removes."""
        destination.mkdir(parents=True, exist_ok=True)
        for name in LOG_FILES:
            path = self.state_dir / f"{name}.log"
            if path.exists():
                shutil.copy(path, destination / path.name)

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for name in LOG_FILES:
            path = self.state_dir / f"{name}.log"
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name} ---\n" + "\n".join(tail))
        return "\n".join(parts)


def _script_env(kubeconfig: Path, state_dir: Path, resync: int) -> dict[str, str]:
    return {
        **os.environ,
        "BERTH_ARGOCD_KUBECONFIG": str(kubeconfig),
        "BERTH_ARGOCD_DIR": str(state_dir),
        "BERTH_ARGOCD_RESYNC": str(resync),
        "BERTH_BIN_DIR": str(BIN_DIR),
    }


def start_argocd(api: ApiClient, kubeconfig: Path, state_dir: Path, resync: int) -> LocalArgoCD:
    """`hack/argocd.sh up` against this kubeconfig, with its state in state_dir."""
    proc = subprocess.run(
        [str(ARGOCD_SCRIPT), "up"],
        env=_script_env(kubeconfig, state_dir, resync),
        capture_output=True,
        text=True,
        timeout=900,  # a fresh machine installs redis-server first
    )
    if proc.returncode != 0:
        raise ArgoCDUnavailable(f"hack/argocd.sh up failed:\n{proc.stdout}{proc.stderr}")
    settings = {}
    for line in (state_dir / "env").read_text().splitlines():
        key, _, value = line.partition("=")
        settings[key] = value
    return LocalArgoCD(state_dir, settings, api)


def stop_argocd(kubeconfig: Path, state_dir: Path) -> str:
    """`hack/argocd.sh down`: every process it started, stopped by pid."""
    proc = subprocess.run(
        [str(ARGOCD_SCRIPT), "down"],
        env=_script_env(kubeconfig, state_dir, 0),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise AssertionError(f"hack/argocd.sh down failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout + proc.stderr


class GitRepo:
    """A local git repository that Argo CD reads through a file:// URL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self._git("init", "--quiet", "--initial-branch=main")

    @property
    def url(self) -> str:
        return self.path.resolve().as_uri()

    def _git(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Berth e2e",
            "GIT_AUTHOR_EMAIL": "e2e@berth.invalid",
            "GIT_COMMITTER_NAME": "Berth e2e",
            "GIT_COMMITTER_EMAIL": "e2e@berth.invalid",
            "GIT_CONFIG_GLOBAL": "/dev/null",
        }
        proc = subprocess.run(
            ["git", "-C", str(self.path), *args], env=env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
        return proc.stdout.strip()

    def write(self, relpath: str, manifest: dict[str, Any]) -> None:
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(manifest, sort_keys=False))

    def remove(self, relpath: str) -> None:
        self._git("rm", "--quiet", relpath)

    def commit(self, message: str) -> str:
        """Commit everything; return the new revision."""
        self._git("add", "--all")
        self._git("commit", "--quiet", "--message", message)
        return self._git("rev-parse", "HEAD")


def application_for(name: str, repo_url: str, destination_namespace: str) -> dict[str, Any]:
    """The manual's example Application (docs/how-to/platform/argocd.md), pointed at a
    repository and namespace of ours."""
    body: dict[str, Any] = yaml.safe_load(APPLICATION_EXAMPLE.read_text())
    body["metadata"]["name"] = name
    body["spec"]["source"]["repoURL"] = repo_url
    body["spec"]["destination"]["namespace"] = destination_namespace
    return body
