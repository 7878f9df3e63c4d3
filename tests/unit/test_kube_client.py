"""The HTTP door (kube/client.py) against an in-process HTTP server that answers as
kube-apiserver does: discovery documents, Status bodies for failures, 429 with
Retry-After, 401 for a token that rotated.

What the API server *does* with a request (apply semantics, validation) is proven
against the real one in tests/integration and tests/e2e; here it is the client's
own part: paths, verbs, headers, retries, and which exception a status becomes.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import ssl
import subprocess
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from berth.kube.client import (
    APPLY_CONTENT_TYPE,
    MAX_ATTEMPTS_SERVER_ERROR,
    MAX_ATTEMPTS_THROTTLED,
    MERGE_PATCH_CONTENT_TYPE,
    METADATA_ONLY,
    ApiError,
    BadRequest,
    ClientError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    KubeClient,
    NotFound,
    ServerError,
    TooManyRequests,
    Unauthorized,
    Unreachable,
    error_class,
)
from berth.kube.credentials import Credentials
from berth.kube.errors import rbac_terms
from berth.kube.limiter import SERVER_ERROR, THROTTLED

# -- an API server in this process ------------------------------------------------

DISCOVERY: dict[str, dict[str, Any]] = {
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
            {"name": "namespaces", "kind": "Namespace", "namespaced": False},
            {"name": "events", "kind": "Event", "namespaced": True},
            {"name": "pods", "kind": "Pod", "namespaced": True},
            # Subresources are listed too, under "<plural>/<sub>" and their own kind.
            {"name": "pods/status", "kind": "Pod", "namespaced": True},
            {"name": "pods/eviction", "kind": "Eviction", "namespaced": True},
        ],
    },
    "/apis/apps/v1": {
        "kind": "APIResourceList",
        "groupVersion": "apps/v1",
        "resources": [
            {"name": "deployments", "kind": "Deployment", "namespaced": True},
            {"name": "deployments/scale", "kind": "Scale", "namespaced": True},
        ],
    },
}


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    """A metav1.Status body, as the API server writes every failure."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # a dict goes as JSON, a str as it is
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class ApiServer:
    """Discovery for core/v1 and apps/v1; for anything else, the answers a test queued
    for (method, path), in order, and then a 404 Status as for an object that is not there.
    Every request is recorded."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._queued: dict[tuple[str, str], deque[Answer]] = {}
        self.server: TestServer | None = None

    def answer(self, method: str, path: str, *answers: Answer) -> None:
        self._queued.setdefault((method, path), deque()).extend(answers)

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        return [
            s
            for s in self.seen
            if (method is None or s.method == method) and (path is None or s.path == path)
        ]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )
        queued = self._queued.get((request.method, request.path))
        if queued:
            answer = queued.popleft()
        elif request.method == "GET" and request.path in DISCOVERY:
            answer = Answer(body=DISCOVERY[request.path])
        elif request.path.startswith("/apis/") and request.path.count("/") == 3:
            answer = Answer(
                404, status(404, "NotFound", "the server could not find the requested resource")
            )
        else:
            name = request.path.rsplit("/", 1)[-1]
            answer = Answer(404, status(404, "NotFound", f'"{name}" not found', name=name))
        if isinstance(answer.body, dict):
            return web.json_response(answer.body, status=answer.status, headers=answer.headers)
        return web.Response(text=answer.body or "", status=answer.status, headers=answer.headers)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/"))


@pytest.fixture
async def apiserver() -> AsyncIterator[ApiServer]:
    api = ApiServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", api.handle)
    api.server = TestServer(app)
    await api.server.start_server()
    try:
        yield api
    finally:
        await api.server.close()


@pytest.fixture
async def client(apiserver: ApiServer) -> AsyncIterator[KubeClient]:
    async with KubeClient(lambda: Credentials(server=apiserver.url, token="t0")) as kube:
        yield kube


def configmap(name: str = "settings", namespace: str = "team") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"greeting": "hello"},
    }


CM_PATH = "/api/v1/namespaces/team/configmaps/settings"

# -- one exception class per status -----------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (0, Unreachable),
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (410, Gone),
        (422, Invalid),
        (429, TooManyRequests),
        (418, ClientError),
        (500, ServerError),
        (503, ServerError),
        (302, ApiError),
    ],
)
def test_the_status_chooses_the_class(code: int, cls: type[ApiError]) -> None:
    assert error_class(code) is cls
    err = ApiError(code, "Reason", "words")
    assert type(err) is cls  # built as ApiError, it is still the status's class
    assert isinstance(err, ApiError)
    assert (err.status, err.reason, err.message, str(err)) == (
        code,
        "Reason",
        "words",
        f"{code} Reason: words",
    )
    assert err.not_found == (code == 404)
    assert err.conflict == (code == 409)


def test_client_errors_and_server_errors_are_families() -> None:
    for code in (400, 401, 403, 404, 409, 410, 422, 429, 499):
        assert isinstance(ApiError(code, "", ""), ClientError)
    assert not isinstance(ApiError(500, "", ""), ClientError)
    assert isinstance(ApiError(504, "", ""), ServerError)


def test_a_subclass_built_directly_keeps_its_class_and_fields() -> None:
    err = Conflict(409, "AlreadyExists", "exists", {"code": 409})
    assert type(err) is Conflict
    assert err.conflict
    assert err.body == {"code": 409}


def test_an_error_survives_pickling_with_its_class_and_fields() -> None:
    err = ApiError(422, "Invalid", "spec.replicas: must be >= 0", {"kind": "Status"})
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is Invalid
    assert (copy.status, copy.reason, copy.message, copy.body) == (
        422,
        "Invalid",
        "spec.replicas: must be >= 0",
        {"kind": "Status"},
    )


# -- failures as the API server writes them ---------------------------------------


async def test_a_status_body_gives_the_servers_reason_and_words(
    apiserver: ApiServer, client: KubeClient
) -> None:
    refusal = status(
        422,
        "Invalid",
        'ConfigMap "settings" is invalid: data[bad key]: Invalid value',
        name="settings",
        kind="ConfigMap",
    )
    apiserver.answer("PATCH", CM_PATH, Answer(422, refusal))
    with pytest.raises(Invalid) as caught:
        await client.apply(configmap(), field_manager="berth")
    assert caught.value.reason == "Invalid"
    assert caught.value.message == refusal["message"]
    assert caught.value.body == refusal
    assert client.writes == {}  # a refused write is no write


async def test_an_answer_that_is_not_a_status_keeps_a_bounded_excerpt(
    apiserver: ApiServer, client: KubeClient
) -> None:
    # A proxy in front of the API server answers in its own words (and not JSON).
    apiserver.answer("GET", CM_PATH, Answer(403, "<html>" + "x" * 1000 + "</html>"))
    with pytest.raises(Forbidden) as caught:
        await client.get("v1", "ConfigMap", "settings", "team")
    assert caught.value.reason == "Unknown"
    assert caught.value.message.startswith(f"GET {CM_PATH}: <html>")
    assert len(caught.value.message) < 400


async def test_json_that_is_not_a_status_is_no_reason_either(
    apiserver: ApiServer, client: KubeClient
) -> None:
    apiserver.answer("GET", CM_PATH, Answer(400, {"error": "nope"}))
    with pytest.raises(BadRequest) as caught:
        await client.get("v1", "ConfigMap", "settings", "team")
    assert caught.value.reason == "Unknown"


async def test_a_status_without_reason_or_message_is_still_explained(
    apiserver: ApiServer, client: KubeClient
) -> None:
    apiserver.answer("GET", CM_PATH, Answer(409, {"kind": "Status", "code": 409}))
    with pytest.raises(Conflict) as caught:
        await client.get("v1", "ConfigMap", "settings", "team")
    assert (caught.value.reason, caught.value.message) == ("Unknown", f"GET {CM_PATH}")


# -- discovery and paths ------------------------------------------------------------


async def test_discovery_is_asked_once_per_group_version(
    apiserver: ApiServer, client: KubeClient
) -> None:
    info = await client.resource_info("v1", "ConfigMap")
    assert (info.plural, info.namespaced) == ("configmaps", True)
    assert (await client.resource_info("v1", "Namespace")).namespaced is False
    assert (await client.resource_info("apps/v1", "Deployment")).plural == "deployments"
    assert len(apiserver.requests("GET", "/api/v1")) == 1
    assert len(apiserver.requests("GET", "/apis/apps/v1")) == 1
    # A subresource's entry does not stand in for its parent's kind.
    assert (await client.resource_info("v1", "Pod")).plural == "pods"
    with pytest.raises(NotFound):
        await client.resource_info("v1", "Eviction")


async def test_a_group_version_not_served_is_not_found_in_plain_words(
    client: KubeClient,
) -> None:
    with pytest.raises(NotFound, match=r"does not serve db\.acme\.dev/v1"):
        await client.resource_info("db.acme.dev/v1", "PostgreSQLInstance")


async def test_a_kind_not_served_is_not_found_in_plain_words(client: KubeClient) -> None:
    with pytest.raises(NotFound, match="does not serve kind Widget in apps/v1"):
        await client.resource_info("apps/v1", "Widget")


async def test_a_discovery_failure_other_than_404_is_raised_as_it_is(
    apiserver: ApiServer, client: KubeClient
) -> None:
    apiserver.answer("GET", "/apis/apps/v1", Answer(403, status(403, "Forbidden", "no")))
    with pytest.raises(Forbidden):
        await client.resource_info("apps/v1", "Deployment")


async def test_a_kind_that_appeared_later_is_discovered_again(
    apiserver: ApiServer, client: KubeClient
) -> None:
    await client.resource_info("v1", "ConfigMap")
    later = {
        "kind": "APIResourceList",
        "resources": [{"name": "widgets", "kind": "Widget", "namespaced": False}],
    }
    apiserver.answer("GET", "/api/v1", Answer(body=later))
    assert (await client.resource_info("v1", "Widget")).plural == "widgets"
    assert len(apiserver.requests("GET", "/api/v1")) == 2


async def test_paths_of_namespaced_cluster_scoped_and_subresources(client: KubeClient) -> None:
    assert await client.path_for("v1", "ConfigMap", "team") == "/api/v1/namespaces/team/configmaps"
    assert await client.path_for("v1", "Namespace", None, "team") == "/api/v1/namespaces/team"
    assert (
        await client.path_for("apps/v1", "Deployment", "team", "web", "scale")
        == "/apis/apps/v1/namespaces/team/deployments/web/scale"
    )
    # Names are one path segment, whatever they contain.
    assert (await client.path_for("v1", "ConfigMap", "team", "a/b")).endswith("/configmaps/a%2Fb")
    with pytest.raises(ValueError, match="ConfigMap is namespaced"):
        await client.path_for("v1", "ConfigMap", None, "settings")


# -- verbs --------------------------------------------------------------------------


async def test_get_returns_the_object_or_none(apiserver: ApiServer, client: KubeClient) -> None:
    apiserver.answer("GET", CM_PATH, Answer(body=configmap()))
    assert await client.get("v1", "ConfigMap", "settings", "team") == configmap()
    assert await client.get("v1", "ConfigMap", "settings", "team") is None


async def test_get_metadata_asks_for_the_metadata_alone(
    apiserver: ApiServer, client: KubeClient
) -> None:
    """What berth trace reads of a connection Secret: its data never leaves the server."""
    partial = {"kind": "PartialObjectMetadata", "metadata": {"name": "settings"}}
    apiserver.answer("GET", CM_PATH, Answer(body=partial))
    assert await client.get_metadata("v1", "ConfigMap", "settings", "team") == partial
    assert await client.get_metadata("v1", "ConfigMap", "settings", "team") is None
    accepts = [seen.headers["Accept"] for seen in apiserver.requests("GET", CM_PATH)]
    assert accepts == [METADATA_ONLY, METADATA_ONLY]
    assert METADATA_ONLY.startswith("application/json;as=PartialObjectMetadata;")
    # Other requests keep the session's Accept.
    await client.get("v1", "ConfigMap", "settings", "team")
    assert apiserver.requests("GET", CM_PATH)[-1].headers["Accept"] == "application/json"


async def test_list_items_get_their_api_version_and_kind(
    apiserver: ApiServer, client: KubeClient
) -> None:
    # A list's items carry no apiVersion or kind of their own.
    item = {"metadata": {"name": "web", "namespace": "team"}}
    path = "/apis/apps/v1/namespaces/team/deployments"
    apiserver.answer("GET", path, Answer(body={"kind": "DeploymentList", "items": [item]}))
    apiserver.answer("GET", path, Answer(body={"kind": "DeploymentList", "items": []}))
    items = await client.list("apps/v1", "Deployment", "team", label_selector="berth.dev/x=y")
    assert items == [{**item, "apiVersion": "apps/v1", "kind": "Deployment"}]
    assert apiserver.requests("GET", path)[0].query == {"labelSelector": "berth.dev/x=y"}
    assert await client.list("apps/v1", "Deployment", "team") == []
    assert apiserver.requests("GET", path)[1].query == {}


async def test_apply_sends_a_server_side_apply_and_counts_the_write(
    apiserver: ApiServer, apiserver_client_with_hooks: tuple[KubeClient, list[Any]]
) -> None:
    client, written = apiserver_client_with_hooks
    apiserver.answer("PATCH", CM_PATH, Answer(body={**configmap(), "applied": True}))
    result = await client.apply(configmap(), field_manager="berth", force=False)
    assert result["applied"] is True
    (seen,) = apiserver.requests("PATCH", CM_PATH)
    assert seen.headers["Content-Type"] == APPLY_CONTENT_TYPE
    assert seen.query == {"fieldManager": "berth", "force": "false"}
    assert json.loads(seen.body) == configmap()
    assert seen.headers["Authorization"] == "Bearer t0"
    assert seen.headers["User-Agent"] == "berth"
    assert client.writes == {("PATCH", "ConfigMap"): 1}
    assert written == [("PATCH", "ConfigMap")]


async def test_a_dry_run_apply_writes_nothing_and_counts_nothing(
    apiserver: ApiServer, apiserver_client_with_hooks: tuple[KubeClient, list[Any]]
) -> None:
    client, written = apiserver_client_with_hooks
    apiserver.answer("PATCH", CM_PATH, Answer(body=configmap()))
    await client.apply(configmap(), field_manager="berth", dry_run=True)
    (seen,) = apiserver.requests("PATCH", CM_PATH)
    assert seen.query == {"fieldManager": "berth", "force": "true", "dryRun": "All"}
    assert client.writes == {}
    assert written == []


async def test_status_is_applied_through_its_subresource(
    apiserver: ApiServer, client: KubeClient
) -> None:
    path = "/apis/apps/v1/namespaces/team/deployments/web/status"
    apiserver.answer("PATCH", path, Answer(body={"status": {}}))
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "team"},
        "status": {"replicas": 1},
    }
    await client.apply(manifest, field_manager="berth", subresource="status")
    assert len(apiserver.requests("PATCH", path)) == 1


async def test_merge_patch_and_create(apiserver: ApiServer, client: KubeClient) -> None:
    apiserver.answer("PATCH", CM_PATH, Answer(body=configmap()))
    await client.merge_patch("v1", "ConfigMap", "settings", {"data": {"a": None}}, "team")
    (patch,) = apiserver.requests("PATCH", CM_PATH)
    assert patch.headers["Content-Type"] == MERGE_PATCH_CONTENT_TYPE
    assert json.loads(patch.body) == {"data": {"a": None}}
    collection = "/api/v1/namespaces/team/configmaps"
    apiserver.answer("POST", collection, Answer(201, configmap()))
    assert await client.create(configmap()) == configmap()
    (post,) = apiserver.requests("POST", collection)
    assert post.headers["Content-Type"] == "application/json"
    assert client.writes == {("PATCH", "ConfigMap"): 1, ("POST", "ConfigMap"): 1}


async def test_delete_sends_propagation_and_the_uid_precondition(
    apiserver: ApiServer, client: KubeClient
) -> None:
    apiserver.answer("DELETE", CM_PATH, Answer(body=status(200, "", "")))
    assert await client.delete("v1", "ConfigMap", "settings", "team", uid="u-1") is True
    (seen,) = apiserver.requests("DELETE", CM_PATH)
    assert json.loads(seen.body) == {
        "propagationPolicy": "Background",
        "preconditions": {"uid": "u-1"},
    }
    # Gone already: False, no error.
    assert await client.delete("v1", "ConfigMap", "settings", "team") is False
    assert json.loads(apiserver.requests("DELETE", CM_PATH)[1].body) == {
        "propagationPolicy": "Background"
    }


async def test_a_delete_whose_uid_precondition_fails_is_a_conflict(
    apiserver: ApiServer, client: KubeClient
) -> None:
    # A namesake made after our read: the precondition protects it.
    refusal = status(
        409,
        "Conflict",
        'Operation cannot be fulfilled on ConfigMap "settings": the UID in the precondition'
        " (u-1) does not match the UID in record (u-2). The object might have been deleted"
        " and then recreated",
    )
    apiserver.answer("DELETE", CM_PATH, Answer(409, refusal))
    with pytest.raises(Conflict, match="the UID in the precondition"):
        await client.delete("v1", "ConfigMap", "settings", "team", uid="u-1")


async def test_an_empty_success_body_is_none(apiserver: ApiServer, client: KubeClient) -> None:
    apiserver.answer("GET", "/healthz", Answer(200, ""))
    assert await client.request("GET", "/healthz") is None


# -- retries ------------------------------------------------------------------------


@pytest.fixture
async def apiserver_client_with_hooks(
    apiserver: ApiServer,
) -> AsyncIterator[tuple[KubeClient, list[Any]]]:
    """A client whose write, throttle and limit hooks record into one list."""
    events: list[Any] = []
    async with KubeClient(
        lambda: Credentials(server=apiserver.url, token="t0"),
        on_write=lambda verb, kind: events.append((verb, kind)),
        on_throttle=lambda cause: events.append(cause),
    ) as kube:
        yield kube, events


def throttled(retry_after: str = "0") -> Answer:
    return Answer(
        429,
        status(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
            retryAfterSeconds=int(retry_after),
        ),
        {"Retry-After": retry_after},
    )


async def test_a_429_is_retried_after_retry_after_and_slows_the_limiter(
    apiserver: ApiServer, apiserver_client_with_hooks: tuple[KubeClient, list[Any]]
) -> None:
    client, events = apiserver_client_with_hooks
    apiserver.answer("GET", CM_PATH, throttled(), throttled(), Answer(body=configmap()))
    before = client.limiter.limit.limit
    assert await client.get("v1", "ConfigMap", "settings", "team") == configmap()
    assert len(apiserver.requests("GET", CM_PATH)) == 3
    assert events == [THROTTLED, THROTTLED]  # counted every time
    assert client.limiter.limit.limit == before / 2  # cut once: the cooldown
    assert client.limiter.inflight == 0


async def test_a_429_that_does_not_clear_is_raised_after_client_gos_ten_attempts(
    apiserver: ApiServer, client: KubeClient
) -> None:
    apiserver.answer("GET", CM_PATH, *[throttled() for _ in range(MAX_ATTEMPTS_THROTTLED)])
    with pytest.raises(TooManyRequests) as caught:
        await client.get("v1", "ConfigMap", "settings", "team")
    assert caught.value.reason == "TooManyRequests"
    assert len(apiserver.requests("GET", CM_PATH)) == MAX_ATTEMPTS_THROTTLED


async def test_a_server_error_is_retried_with_backoff_then_raised(
    apiserver: ApiServer, apiserver_client_with_hooks: tuple[KubeClient, list[Any]]
) -> None:
    client, events = apiserver_client_with_hooks
    # The first 503 says nothing about when to come back: the client backs off.
    apiserver.answer("GET", CM_PATH, Answer(503, "upstream connect error"), Answer(body={}))
    assert await client.get("v1", "ConfigMap", "settings", "team") == {}
    assert events == [SERVER_ERROR]
    failing = Answer(500, status(500, "InternalError", "etcdserver: request timed out"))
    failing.headers["Retry-After"] = "0"
    apiserver.answer("GET", CM_PATH, *[failing] * MAX_ATTEMPTS_SERVER_ERROR)
    with pytest.raises(ServerError, match="etcdserver"):
        await client.get("v1", "ConfigMap", "settings", "team")
    assert len(apiserver.requests("GET", CM_PATH)) == 1 + 1 + MAX_ATTEMPTS_SERVER_ERROR


async def test_a_rotated_token_is_read_again_once(apiserver: ApiServer) -> None:
    tokens = iter(["old", "new", "newer"])
    loads: list[str] = []

    def load() -> Credentials:
        token = next(tokens)
        loads.append(token)
        return Credentials(server=apiserver.url, token=token)

    unauthorized = Answer(401, status(401, "Unauthorized", "Unauthorized"))
    apiserver.answer("GET", CM_PATH, unauthorized, Answer(body=configmap()))
    async with KubeClient(load) as client:
        assert await client.get("v1", "ConfigMap", "settings", "team") == configmap()
        assert client.credentials.token == "new"
        seen = apiserver.requests("GET", CM_PATH)
        assert [s.headers["Authorization"] for s in seen] == ["Bearer old", "Bearer new"]
        # Refused again after a re-read: that is an answer, not a rotation.
        apiserver.answer("GET", CM_PATH, unauthorized, unauthorized, Answer(body={}))
        with pytest.raises(Unauthorized):
            await client.get("v1", "ConfigMap", "settings", "team")
        assert len(apiserver.requests("GET", CM_PATH)) == 2 + 2  # one re-read per request
    assert loads == ["old", "new", "newer"]


async def test_an_unreachable_server_is_retried_then_reported(
    apiserver: ApiServer,
) -> None:
    url = apiserver.url
    assert apiserver.server is not None
    await apiserver.server.close()  # nothing listens there any more
    events: list[str] = []
    async with KubeClient(lambda: Credentials(server=url), on_throttle=events.append) as client:
        with pytest.raises(Unreachable) as caught:
            await client.request("GET", "/api/v1")
        assert caught.value.status == 0
        assert caught.value.reason == "ConnectionError"
        assert client.limiter.inflight == 0
    assert events == [SERVER_ERROR] * 4


async def test_a_cancelled_request_gives_its_slot_back(apiserver: ApiServer) -> None:
    started = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(30)
        return web.Response()

    app = web.Application()
    app.router.add_get("/slow", slow)
    server = TestServer(app)
    await server.start_server()
    try:
        async with KubeClient(lambda: Credentials(server=str(server.make_url("/")))) as client:
            task = asyncio.create_task(client.request("GET", "/slow"))
            await started.wait()
            assert client.limiter.inflight == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert client.limiter.inflight == 0
    finally:
        await server.close()


# -- TLS, as a cluster serves it ----------------------------------------------------


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a serving certificate for 127.0.0.1 and a client certificate, as a
    cluster's PKI has them (made with the openssl command, a few hundred ms)."""
    d = tmp_path_factory.mktemp("pki")
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-keyout", d / "ca.key", "-out", d / "ca.crt",
    )  # fmt: skip
    for who, ext in (
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}",
            "-keyout", d / f"{who}.key", "-out", d / f"{who}.csr",
        )  # fmt: skip
        (d / f"{who}.ext").write_text(ext + "\n")
        openssl(
            "x509", "-req", "-in", d / f"{who}.csr", "-CA", d / "ca.crt", "-CAkey", d / "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", d / f"{who}.ext", "-out", d / f"{who}.crt",
        )  # fmt: skip
    return Pki(d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key")


@dataclass
class TlsServer:
    url: str
    # The common name of each request's client certificate ("" for none).
    peers: list[str]


@pytest.fixture
async def tls_server(pki: Pki) -> AsyncIterator[TlsServer]:
    """An HTTPS server that asks for a client certificate, and records whose it got."""
    peers: list[str] = []

    async def discovery(request: web.Request) -> web.Response:
        assert request.transport is not None
        cert = request.transport.get_extra_info("peercert")
        subject = dict(x[0] for x in cert["subject"]) if cert else {}
        peers.append(str(subject.get("commonName", "")))
        return web.json_response(DISCOVERY["/api/v1"])

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki.ca)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.verify_mode = ssl.CERT_OPTIONAL
    app = web.Application()
    app.router.add_get("/api/v1", discovery)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=context)
    try:
        yield TlsServer(str(server.make_url("/")), peers)
    finally:
        await server.close()


async def test_tls_with_the_clusters_ca_and_a_client_certificate(
    pki: Pki, tls_server: TlsServer
) -> None:
    assert tls_server.url.startswith("https://")
    creds = Credentials(
        server=tls_server.url,
        ca_path=str(pki.ca),
        cert_path=str(pki.client_cert),
        key_path=str(pki.client_key),
    )
    async with KubeClient(lambda: creds) as client:
        assert (await client.resource_info("v1", "ConfigMap")).plural == "configmaps"
    assert tls_server.peers == ["client"]


async def test_tls_refuses_a_server_the_ca_did_not_sign_unless_told_not_to_verify(
    tls_server: TlsServer,
) -> None:
    async with KubeClient(lambda: Credentials(server=tls_server.url)) as client:
        with pytest.raises(Unreachable, match="certificate verify failed"):
            await client.request("GET", "/api/v1")
    async with KubeClient(lambda: Credentials(server=tls_server.url, verify_tls=False)) as client:
        assert (await client.request("GET", "/api/v1"))["groupVersion"] == "v1"
    assert tls_server.peers == [""]  # no client certificate offered


# -- refusals told to the hooks ----------------------------------------------------------


async def test_a_refused_write_is_counted_and_a_403_is_told_with_verb_and_resource(
    apiserver: ApiServer,
) -> None:
    failures: list[tuple[str, str, int]] = []
    forbidden: list[tuple[str, str, str]] = []
    message = 'events "x" is forbidden: User "sa" cannot patch resource "events"'
    apiserver.answer(
        "PATCH",
        "/api/v1/namespaces/team/events/x",
        Answer(403, status(403, "Forbidden", message)),
    )
    apiserver.answer("PATCH", CM_PATH, Answer(422, status(422, "Invalid", "data: Invalid")))
    async with KubeClient(
        lambda: Credentials(server=apiserver.url, token="t0"),
        on_write_failure=lambda verb, kind, code: failures.append((verb, kind, code)),
        on_forbidden=lambda verb, resource, msg: forbidden.append((verb, resource, msg)),
    ) as kube:
        with pytest.raises(Forbidden):
            await kube.merge_patch("v1", "Event", "x", {"count": 2}, namespace="team")
        with pytest.raises(Invalid):
            await kube.merge_patch("v1", "ConfigMap", "settings", {"data": {}}, namespace="team")
        apiserver.answer("PATCH", CM_PATH, Answer(422, status(422, "Invalid", "no")))
        with pytest.raises(Invalid):  # a dry run is no write: not counted
            await kube.apply(
                {**configmap(), "apiVersion": "v1", "kind": "ConfigMap"},
                field_manager="berth",
                dry_run=True,
            )
        assert await kube.get("v1", "ConfigMap", "gone", "team") is None  # 404: no refusal
    assert failures == [("PATCH", "Event", 403), ("PATCH", "ConfigMap", 422)]
    assert forbidden == [("patch", "events in namespace team", message)]


@pytest.mark.parametrize(
    ("method", "path", "params", "expected"),
    [
        ("PATCH", "/api/v1/namespaces/a/events/x", None, ("patch", "events in namespace a")),
        ("POST", "/api/v1/namespaces/a/events", None, ("create", "events in namespace a")),
        (
            "GET",
            "/apis/apps/v1/namespaces/a/deployments",
            None,
            ("list", "deployments.apps in namespace a"),
        ),
        (
            "GET",
            "/apis/platform.acme.dev/v1alpha1/namespaces/a/postgresqlinstances",
            {"watch": "1"},
            ("watch", "postgresqlinstances.platform.acme.dev in namespace a"),
        ),
        ("GET", "/api/v1/namespaces/a", None, ("get", "namespaces")),
        ("DELETE", "/api/v1/namespaces/a/pods", None, ("deletecollection", "pods in namespace a")),
        (
            "PATCH",
            "/apis/berth.dev/v1alpha1/namespaces/a/workloads/w/status",
            None,
            ("patch", "workloads/status.berth.dev in namespace a"),
        ),
        (
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/a/leases/l",
            None,
            ("update", "leases.coordination.k8s.io in namespace a"),
        ),
        ("GET", "/healthz", None, ("get", "/healthz")),
    ],
)
def test_a_request_is_named_in_rbac_terms(
    method: str, path: str, params: dict[str, str] | None, expected: tuple[str, str]
) -> None:
    assert rbac_terms(method, path, params) == expected
