"""The one door to the API server: a small asyncio REST client.

Why our own and not the official library: the operator needs only a handful of
verbs (get, list, server-side apply, delete) on arbitrary kinds, all of them async,
with one place to count and limit writes. The official client is synchronous and
carries thousands of generated models; here it is used only to read kubeconfigs
(see credentials.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from berth.kube.credentials import Credentials
from berth.kube.errors import (  # re-exported: callers catch them from the client
    ApiError as ApiError,
)
from berth.kube.errors import (
    BadRequest as BadRequest,
)
from berth.kube.errors import (
    ClientError as ClientError,
)
from berth.kube.errors import (
    Conflict as Conflict,
)
from berth.kube.errors import (
    Forbidden as Forbidden,
)
from berth.kube.errors import (
    Gone as Gone,
)
from berth.kube.errors import (
    Invalid as Invalid,
)
from berth.kube.errors import (
    NotFound as NotFound,
)
from berth.kube.errors import (
    ServerError as ServerError,
)
from berth.kube.errors import (
    TooManyRequests as TooManyRequests,
)
from berth.kube.errors import (
    Unauthorized as Unauthorized,
)
from berth.kube.errors import (
    Unreachable as Unreachable,
)
from berth.kube.errors import (
    error_class as error_class,
)
from berth.kube.errors import error_from_answer as _api_error
from berth.kube.errors import rbac_terms
from berth.kube.limiter import SERVER_ERROR, THROTTLED, AimdLimit, ConcurrencyLimiter, retry_delay

log = logging.getLogger(__name__)

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
MERGE_PATCH_CONTENT_TYPE = "application/merge-patch+json"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# A 429 is the server asking us to come back (client-go retries those 10 times); a
# 5xx may be a real fault, retried fewer times.
MAX_ATTEMPTS_THROTTLED = 10
MAX_ATTEMPTS_SERVER_ERROR = 5
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Asks the API server for an object's metadata alone (as `kubectl get -o name` does).
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


@dataclass(frozen=True)
class ResourceInfo:
    """What discovery says about one kind: its plural and whether it is namespaced."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool


class KubeClient:
    """Async access to one API server with one set of credentials."""

    def __init__(
        self,
        load_credentials: Callable[[], Credentials],
        *,
        max_inflight: int = 0,
        qps: float = 0.0,
        burst: int = 40,
        timeout: float = 30.0,
        on_write: Callable[[str, str], None] | None = None,
        on_write_failure: Callable[[str, str, int], None] | None = None,
        on_forbidden: Callable[[str, str, str], None] | None = None,
        on_throttle: Callable[[str], None] | None = None,
        on_limit: Callable[[float, int], None] | None = None,
        before_write: Callable[[], None] | None = None,
        after_write: Callable[[str, str, Any, float], None] | None = None,
    ) -> None:
        """``max_inflight`` and ``qps`` are ceilings a user may set (0: none); below them
        the number of requests in flight follows the API server (see limiter.py).

        ``before_write`` is called before each write is sent and may raise to stop it (a
        replica that no longer owns a shard writes nothing for it); ``after_write`` is
        told of each write the server accepted: verb, path, the server's answer and the
        seconds from sending it to the answer. ``on_write_failure`` is told of each write
        the server refused in the end (verb, kind, status; dry runs not counted);
        ``on_forbidden`` of each 403: the RBAC verb, the resource (with its namespace)
        and the server's message — the operator logs it at warning and counts it."""
        self._load_credentials = load_credentials
        self._credentials = load_credentials()
        self._session: aiohttp.ClientSession | None = None
        self._max_inflight = max_inflight
        self.limiter = ConcurrencyLimiter(
            AimdLimit(ceiling=max_inflight),
            qps=qps,
            burst=burst,
            on_throttle=on_throttle,
            on_limit=on_limit,
        )
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._discovery: dict[str, dict[str, ResourceInfo]] = {}
        self._on_write = on_write
        self._on_write_failure = on_write_failure
        self._on_forbidden = on_forbidden
        self._before_write = before_write
        self._after_write = after_write
        # Writes by verb and kind, for tests that prove a quiet reconcile writes nothing.
        self.writes: Counter[tuple[str, str]] = Counter()

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    def _new_session(self) -> aiohttp.ClientSession:
        creds = self._credentials
        context: ssl.SSLContext | bool
        if creds.server.startswith("https"):
            context = ssl.create_default_context(cafile=creds.ca_path)
            if not creds.verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if creds.cert_path:
                context.load_cert_chain(creds.cert_path, creds.key_path)
        else:
            context = False
        headers = {"Accept": "application/json", "User-Agent": "berth"}
        if creds.token:
            headers["Authorization"] = f"Bearer {creds.token}"
        return aiohttp.ClientSession(
            base_url=creds.server.rstrip("/") + "/",
            headers=headers,
            # The limiter decides how many requests are in flight, not the pool.
            connector=aiohttp.TCPConnector(ssl=context, limit=self._max_inflight),
            timeout=self._timeout,
        )

    def session(self) -> aiohttp.ClientSession:
        """The HTTP session, opened on first use. Streams (``berth.kube.informer``'s
        watches) use it directly: a watch lasts minutes, and the limiter is for requests
        that end."""
        if self._session is None:
            self._session = self._new_session()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- raw requests -------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        kind: str = "",
        accept: str | None = None,
    ) -> Any:
        """Send one request, retrying throttling and transient server errors.

        A 429 or 5xx waits as long as the server's Retry-After says (or backs off) and
        tells the limiter, which lets fewer requests through for a while.
        """
        attempt = 0
        relogged = False
        data = None if body is None else encode_body(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        if accept is not None:
            headers["Accept"] = accept
        writes = method in WRITE_VERBS and not (params or {}).get("dryRun")
        while True:
            attempt += 1
            saturated = await self.limiter.acquire()
            if writes and self._before_write is not None:
                try:  # as late as can be: the limiter may have held the request a while
                    self._before_write()
                except BaseException:
                    self.limiter.release()
                    raise
            started = time.monotonic()
            try:
                async with self.session().request(
                    method, path.lstrip("/"), params=params, data=data, headers=headers or None
                ) as response:
                    text = await response.text()
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
            except (TimeoutError, aiohttp.ClientConnectionError) as err:
                self.limiter.release()
                self.limiter.congested(SERVER_ERROR)
                if attempt >= 4:
                    raise Unreachable(0, "ConnectionError", f"{method} {path}: {err}") from err
                await asyncio.sleep(retry_delay(None, attempt))
                continue
            except BaseException:
                self.limiter.release()
                raise
            self.limiter.release()
            if status not in RETRYABLE_STATUSES:  # answered, if only with a "no"
                self.limiter.succeeded(time.monotonic() - started, saturated)
            if status < 400:
                result = json.loads(text) if text else None
                if writes:
                    self.writes[(method, kind)] += 1
                    if self._on_write is not None:
                        self._on_write(method, kind)
                    if self._after_write is not None:
                        self._after_write(method, path, result, time.monotonic() - started)
                return result
            if status == 401 and not relogged:
                # Bound ServiceAccount tokens rotate; read them again once.
                relogged = True
                self._credentials = self._load_credentials()
                await self.close()
                continue
            if status in RETRYABLE_STATUSES:
                self.limiter.congested(THROTTLED if status == 429 else SERVER_ERROR)
                limit = MAX_ATTEMPTS_THROTTLED if status == 429 else MAX_ATTEMPTS_SERVER_ERROR
                if attempt < limit:
                    await asyncio.sleep(min(retry_delay(retry_after, attempt), 30.0))
                    continue
            error = _api_error(status, text, f"{method} {path}")
            self._refused(method, path, params, kind if writes else None, error)
            raise error

    def _refused(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        written_kind: str | None,
        error: ApiError,
    ) -> None:
        """Tell the hooks of a request the API server refused: a write, and a 403 with
        the verb and the resource it needs."""
        if written_kind is not None and self._on_write_failure is not None:
            self._on_write_failure(method, written_kind, error.status)
        if error.status == 403 and self._on_forbidden is not None:
            verb, resource = rbac_terms(method, path, params)
            self._on_forbidden(verb, resource, error.message)

    async def watch_stream(
        self, path: str, params: Mapping[str, str], *, idle_seconds: float
    ) -> AsyncIterator[dict[str, Any]]:
        """A watch: the server's events one by one as they come (a JSON document a line).

        Not held by the limiter: a watch lasts minutes, and its slot would be taken
        from the reconciles for all that time (client-go does not count them either).
        ``idle_seconds``: a stream silent that long is taken for dead."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=idle_seconds)
        async with self.session().get(path.lstrip("/"), params=params, timeout=timeout) as response:
            if response.status >= 400:
                text = await response.text()
                if response.status == 401:  # a rotated token: the next attempt reads it again
                    self._credentials = self._load_credentials()
                    await self.close()
                raise _api_error(response.status, text, f"WATCH {path}")
            pending = bytearray()
            async for chunk in response.content.iter_any():
                pending += chunk
                start = 0
                while (end := pending.find(b"\n", start)) >= 0:
                    if end > start:
                        yield json.loads(pending[start:end])
                    start = end + 1
                del pending[:start]

    # -- discovery ----------------------------------------------------------------

    async def resource_info(self, api_version: str, kind: str) -> ResourceInfo:
        """Find the plural and scope of a kind, asking the server once per group-version."""
        kinds = self._discovery.get(api_version)
        if kinds is None or kind not in kinds:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                doc = await self.request("GET", path)
            except NotFound as err:
                raise NotFound(
                    404, "NotFound", f"the API server does not serve {api_version}"
                ) from err
            kinds = {
                r["kind"]: ResourceInfo(api_version, r["kind"], r["name"], r["namespaced"])
                for r in doc.get("resources", [])
                if "/" not in r["name"]
            }
            self._discovery[api_version] = kinds
        if kind not in kinds:
            raise NotFound(
                404, "NotFound", f"the API server does not serve kind {kind} in {api_version}"
            )
        return kinds[kind]

    async def path_for(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        """The path of an object, or of a collection: a namespaced kind's collection
        without a namespace is that of every namespace (for lists and watches)."""
        info = await self.resource_info(api_version, kind)
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        parts = [base]
        if info.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        elif info.namespaced and name:
            raise ValueError(f"{kind} is namespaced: a namespace is required")
        parts.append(info.plural)
        if name:
            parts.append(quote(name, safe=""))
        if subresource:
            parts.append(subresource)
        return "/".join(parts)

    # -- verbs --------------------------------------------------------------------

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        path = await self.path_for(api_version, kind, namespace, name)
        try:
            result: dict[str, Any] = await self.request("GET", path)
        except NotFound:
            return None
        return result

    async def get_metadata(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The object's metadata only (a PartialObjectMetadata), or None when it does not
        exist: what is in a Secret never leaves the API server."""
        path = await self.path_for(api_version, kind, namespace, name)
        try:
            result: dict[str, Any] = await self.request("GET", path, accept=METADATA_ONLY)
        except NotFound:
            return None
        return result

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        path = await self.path_for(api_version, kind, namespace)
        params = {"labelSelector": label_selector} if label_selector else None
        doc = await self.request("GET", path, params=params)
        items: list[dict[str, Any]] = doc.get("items", [])
        for item in items:  # list items carry no apiVersion/kind of their own
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    async def apply(
        self,
        manifest: Mapping[str, Any],
        *,
        field_manager: str,
        force: bool = True,
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Server-side apply; ``dry_run`` asks what the object would become, writing nothing."""
        meta = manifest["metadata"]
        path = await self.path_for(
            manifest["apiVersion"],
            manifest["kind"],
            meta.get("namespace"),
            meta["name"],
            subresource,
        )
        params = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            params["dryRun"] = "All"
        result: dict[str, Any] = await self.request(
            "PATCH",
            path,
            params=params,
            body=manifest,
            content_type=APPLY_CONTENT_TYPE,
            kind=manifest["kind"],
        )
        return result

    async def merge_patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        path = await self.path_for(api_version, kind, namespace, name, subresource)
        result: dict[str, Any] = await self.request(
            "PATCH", path, body=patch, content_type=MERGE_PATCH_CONTENT_TYPE, kind=kind
        )
        return result

    async def create(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        meta = manifest["metadata"]
        path = await self.path_for(manifest["apiVersion"], manifest["kind"], meta.get("namespace"))
        result: dict[str, Any] = await self.request(
            "POST", path, body=manifest, kind=manifest["kind"]
        )
        return result

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        uid: str | None = None,
        propagation: str = "Background",
    ) -> bool:
        """Delete; False when it was already gone. ``uid`` guards against a namesake."""
        path = await self.path_for(api_version, kind, namespace, name)
        body: dict[str, Any] = {"propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            await self.request("DELETE", path, body=body, kind=kind)
        except NotFound:
            return False
        return True


# Characters YAML may not carry raw, or would read as something else, which json.dumps
# leaves raw with ensure_ascii=False: DEL and the C1 controls (outside YAML's printable
# set), NEL and the Unicode line and paragraph separators (line breaks to YAML 1.1, so a
# value would be folded), the byte-order mark, and two non-characters.
_YAML_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def encode_body(body: Any) -> bytes:
    """JSON that the API server's apply decoder (YAML) takes as it is.

    Characters beyond U+FFFF travel as UTF-8 (``ensure_ascii=False``): as escaped
    surrogate pairs, the YAML decoder refuses them. The few characters YAML may not
    carry raw are escaped (json.dumps already escapes the C0 controls); outside
    structure, JSON text is only ever strings, so the escapes stay inside them.
    """
    text = json.dumps(body, ensure_ascii=False)
    text = _YAML_UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text.encode()
