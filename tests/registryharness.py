"""A real OCI registry on loopback for tests, and a test-only auth front for it.

``LocalRegistry`` runs go-containerregistry's registry (``crane registry serve``, built by
``make release-tools``) on a free loopback port and pushes small images into it with
``crane append``: each push is a new image, so a tag pushed twice moves.

``TestOnlyRegistryAuth`` plays the part a registry's token service plays in front of
it: the registry answers 401 with a Bearer (or Basic) challenge, the token endpoint
hands out a token for the right user and password, and requests with it pass through to
the real registry. It is not a registry and decides nothing about manifests; it is there
because crane's registry has no authentication of its own.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import subprocess
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.clusterharness import BIN_DIR, REPO_ROOT
from tests.kubeutil import wait_for
from tests.operatorharness import free_port

CRANE = BIN_DIR / "crane"
SERVICE = "test-registry"


def build_release_tools() -> None:
    """crane from its Go module (seconds when cached)."""
    subprocess.run(
        [str(REPO_ROOT / "hack" / "release-tools.sh")], check=True, capture_output=True, timeout=900
    )


@dataclass
class LocalRegistry:
    host: str  # 127.0.0.1:<port>
    workdir: Path
    process: subprocess.Popen[bytes]
    pushes: int = 0

    def push(self, repository_tag: str) -> str:
        """Push a new one-layer image as ``<host>/<repository_tag>``; its digest."""
        self.pushes += 1
        layer = self.workdir / f"layer-{self.pushes}.tar"
        content = f"{repository_tag} push {self.pushes} {secrets.token_hex(8)}\n".encode()
        with tarfile.open(layer, "w") as tar:
            info = tarfile.TarInfo("hello.txt")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        ref = f"{self.host}/{repository_tag}"
        crane("append", "--oci-empty-base", "-f", str(layer), "-t", ref)
        return self.digest(repository_tag)

    def digest(self, repository_tag: str) -> str:
        return crane("digest", f"{self.host}/{repository_tag}").strip()

    def log_tail(self, lines: int) -> str:
        text = (self.workdir / "registry.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def crane(*args: str) -> str:
    done = subprocess.run(
        [str(CRANE), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"crane {' '.join(args)} failed: {done.stderr}")
    return done.stdout


@contextmanager
def local_registry(workdir: Path) -> Iterator[LocalRegistry]:
    """crane's registry on a free loopback port, blobs on disk; stopped by its pid."""
    port = free_port()
    (workdir / "blobs").mkdir(parents=True, exist_ok=True)
    log = (workdir / "registry.log").open("wb")
    process = subprocess.Popen(
        [
            str(CRANE),
            "registry",
            "serve",
            "--address",
            f"127.0.0.1:{port}",
            "--disk",
            str(workdir / "blobs"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError((workdir / "registry.log").read_text())
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_for(answers, 30, "the loopback registry to answer")
        yield LocalRegistry(f"127.0.0.1:{port}", workdir, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class TestOnlyRegistryAuth:
    """A token service and gate in front of a LocalRegistry (see the module's docstring)."""

    __test__ = False  # not a test class, whatever its name says

    upstream: str  # host:port of the real registry
    username: str
    password: str
    scheme: str = "Bearer"  # or "Basic"
    # Drop Docker-Content-Digest from answers, as some registries do.
    hide_digest: bool = False
    host: str = ""
    tokens: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                gate.serve(self, "GET")

            def do_HEAD(self) -> None:
                gate.serve(self, "HEAD")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def basic_ok(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return header == f"Basic {expected}"

    def serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        self.requests.append(f"{method} {handler.path}")
        header = handler.headers.get("Authorization")
        if handler.path.startswith("/token"):
            self._token(handler, header)
            return
        allowed = (
            self.basic_ok(header)
            if self.scheme == "Basic"
            else header is not None and header.removeprefix("Bearer ") in self.tokens
        )
        if not allowed:
            handler.send_response(401)
            if self.scheme == "Basic":
                challenge = f'Basic realm="{SERVICE}"'
            else:
                repository = handler.path.split("/manifests/")[0].removeprefix("/v2/")
                challenge = (
                    f'Bearer realm="http://{self.host}/token",service="{SERVICE}",'
                    f'scope="repository:{repository}:pull"'
                )
            handler.send_header("WWW-Authenticate", challenge)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        self._pass_through(handler, method)

    def _token(self, handler: BaseHTTPRequestHandler, header: str | None) -> None:
        if not self.basic_ok(header):
            handler.send_response(401)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        token = secrets.token_hex(16)
        self.tokens.add(token)
        body = json.dumps({"token": token}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _pass_through(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        request = urllib.request.Request(f"http://{self.upstream}{handler.path}", method=method)
        accept = handler.headers.get("Accept")
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as err:
            status, headers, body = err.code, err.headers, err.read()
        handler.send_response(status)
        for name in ("Content-Type", "Docker-Content-Digest"):
            if headers.get(name) and not (self.hide_digest and name == "Docker-Content-Digest"):
                handler.send_header(name, headers[name])
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(body)


def pull_secret(host: str, username: str, password: str, name: str = "pull") -> dict[str, object]:
    """A kubernetes.io/dockerconfigjson Secret for ``host``."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config = {"auths": {host: {"username": username, "password": password, "auth": auth}}}
    encoded = base64.b64encode(json.dumps(config).encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": encoded},
    }
