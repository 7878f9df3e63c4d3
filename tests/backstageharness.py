"""A real Backstage backend for e2e tests: the catalog and Kubernetes plugins from npm
(installed by hack/backstage.sh into its cache), run by Node on a free port with its state
in a temporary directory, read through Backstage's own REST API, stopped by its pid.

Its app-config is examples/backstage/app-config.yaml — what the docs tell a platform team
to paste — with the addresses, token and CA replaced by the test's, plus what only a test
wants: an in-memory database, a static API token, and a short catalog refresh.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.clusterharness import REPO_ROOT
from tests.kubeutil import poll_until

INSTALL_SCRIPT = REPO_ROOT / "hack" / "backstage.sh"
BACKEND = REPO_ROOT / "hack" / "backstage" / "backend.js"
APP_CONFIG_EXAMPLE = REPO_ROOT / "examples" / "backstage" / "app-config.yaml"
RBAC_EXAMPLE = REPO_ROOT / "examples" / "backstage" / "rbac.yaml"
READINESS = "/.backstage/health/v1/readiness"


class BackstageUnavailable(RuntimeError):
    """hack/backstage.sh could not install the backend; the message carries its output."""


def install() -> Path:
    """The backend's install directory: hack/backstage.sh installs it unless cached."""
    proc = subprocess.run(
        [str(INSTALL_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=1800,  # a cold install builds better-sqlite3 from source
    )
    if proc.returncode != 0:
        raise BackstageUnavailable(f"hack/backstage.sh failed:\n{proc.stdout}{proc.stderr}")
    return Path(proc.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ClusterLink:
    """How Backstage reaches the test cluster: its API server and a ServiceAccount token."""

    url: str
    token: str
    ca_data: str | None  # base64 PEM; None: the kubeconfig skips TLS verification


def cluster_link(kubeconfig: Path, token: str) -> ClusterLink:
    """The server and CA of the kubeconfig's current context, with another token."""
    config = yaml.safe_load(kubeconfig.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    server = cluster["cluster"]
    ca_data = server.get("certificate-authority-data")
    ca_file = server.get("certificate-authority")
    if ca_data is None and ca_file:
        path = Path(ca_file)
        path = path if path.is_absolute() else kubeconfig.parent / path
        ca_data = base64.b64encode(path.read_bytes()).decode()
    return ClusterLink(server["server"], token, ca_data)


def app_config(port: int, catalog_url: str, cluster: ClusterLink, api_token: str) -> dict[str, Any]:
    """examples/backstage/app-config.yaml, pointed at this test's operator and cluster."""
    config: dict[str, Any] = yaml.safe_load(APP_CONFIG_EXAMPLE.read_text())
    (location,) = config["catalog"]["locations"]
    location["target"] = catalog_url
    (allowed,) = config["backend"]["reading"]["allow"]
    allowed["host"] = urllib.parse.urlsplit(catalog_url).netloc
    (locator,) = config["kubernetes"]["clusterLocatorMethods"]
    (entry,) = locator["clusters"]
    entry.update(name="berth-e2e", url=cluster.url, serviceAccountToken=cluster.token)
    if cluster.ca_data is None:
        del entry["caData"]
        entry["skipTLSVerify"] = True
    else:
        entry["caData"] = cluster.ca_data
    entry["skipMetricsLookup"] = True  # the test cluster has no metrics-server
    # What only a test wants: its own port and in-memory state, a static token for its
    # REST calls, and a refresh every few seconds instead of Backstage's minutes.
    config["backend"].update(
        baseUrl=f"http://127.0.0.1:{port}",
        listen={"host": "127.0.0.1", "port": port},
        database={"client": "better-sqlite3", "connection": ":memory:"},
        auth={
            "externalAccess": [
                {"type": "static", "options": {"token": api_token, "subject": "berth-e2e"}}
            ]
        },
    )
    config["catalog"]["processingInterval"] = {"seconds": 2}
    return config


@dataclass
class LocalBackstage:
    process: subprocess.Popen[bytes]
    base_url: str
    api_token: str
    log_path: Path

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One call of Backstage's REST API, authenticated; the JSON it answers."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.api_token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read().decode()
        return json.loads(text) if text else None

    def entities(self, **filters: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode(
            {"filter": ",".join(f"{k}={v}" for k, v in filters.items())} if filters else {}
        )
        found: list[dict[str, Any]] = self.request("GET", f"/api/catalog/entities?{query}")
        return found

    def entity(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.request(
                "GET", f"/api/catalog/entities/by-name/{kind}/default/{name}"
            )
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise
        return found

    def kubernetes_objects(self, entity_ref: str) -> dict[str, Any]:
        """What the Kubernetes tab shows for an entity (the frontend's own call)."""
        found: dict[str, Any] = self.request(
            "POST", "/api/kubernetes/resources/workloads/query", {"entityRef": entity_ref}
        )
        return found

    def stop(self) -> None:
        """Stop the process this harness started, by its pid."""
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_backstage(install_dir: Path, state_dir: Path, config: dict[str, Any]) -> LocalBackstage:
    """`node backend.js --config <state_dir>/app-config.yaml`, waited for until ready.

    It runs in the install directory: Backstage finds its package.json there (and from it
    the plugins' config schemas); NODE_PATH finds the packages for backend.js, which
    stays in the checkout."""
    state_dir.mkdir(parents=True, exist_ok=True)
    config_path = state_dir / "app-config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    config_path.chmod(0o600)  # it holds tokens
    log_path = state_dir / "backstage.log"
    port = config["backend"]["listen"]["port"]
    token = config["backend"]["auth"]["externalAccess"][0]["options"]["token"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["node", str(BACKEND), "--config", str(config_path)],
            cwd=install_dir,
            env={
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOME": str(state_dir),
                "NODE_PATH": str(install_dir / "node_modules"),
                "NODE_ENV": "development",
                "NO_COLOR": "1",
                "FORCE_COLOR": "0",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = LocalBackstage(process, f"http://127.0.0.1:{port}", token, log_path)

    def ready() -> bool:
        if process.poll() is not None:
            raise BackstageUnavailable(
                f"Backstage exited with {process.returncode}:\n{running.log_tail()}"
            )
        try:
            with urllib.request.urlopen(running.base_url + READINESS, timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    try:
        if not poll_until(ready, 120, interval=0.5):
            raise BackstageUnavailable(f"Backstage was not ready in 120s:\n{running.log_tail()}")
    except BackstageUnavailable:
        running.stop()
        raise
    return running


def new_api_token() -> str:
    return secrets.token_urlsafe(24)
