"""Resolving an image tag to its digest through the OCI distribution API.

``HEAD /v2/<repository>/manifests/<tag>`` with the manifest and index media types in
Accept; the registry's ``Docker-Content-Digest`` header is the digest (where a registry
sends none, the manifest is fetched and hashed). A 401 carries a challenge
(``WWW-Authenticate``): Bearer — a token is asked of the realm for the scope, with the
pull Secret's user and password where there is one — or Basic. Registries on a loopback
address (and the hosts named insecure) are spoken to over plain HTTP, as container
runtimes do; every other one over HTTPS.

Every failure is an answer, not an exception: ``Resolution.message`` says in a sentence
what the registry said, never a credential.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from berth.promotion.pinning import SHA256_DIGEST, ImageReference, parse_reference
from berth.registry.auth import RegistryCredentials, credentials_for

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
DIGEST_HEADER = "Docker-Content-Digest"
_PARAM = re.compile(r'([A-Za-z_]+)="([^"]*)"')


@dataclass(frozen=True)
class Resolution:
    digest: str | None
    message: str | None = None


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic"
    params: dict[str, str]


def parse_challenge(header: str | None) -> Challenge | None:
    """``Bearer realm="...",service="...",scope="..."`` (or Basic) taken apart."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    return Challenge(scheme.lower(), dict(_PARAM.findall(rest)))


def is_loopback(host: str) -> bool:
    if host.startswith("["):  # [IPv6]:port
        name = host[1 : host.find("]")]
    else:
        name = host.split(":")[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Resolver:
    """Resolves tags to digests; one HTTP session for all of them."""

    def __init__(self, *, timeout: float = 10.0, insecure: Collection[str] = ()) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._insecure = {host.lower() for host in insecure}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": "berth"}
            )
        return self._session

    def base_url(self, host: str) -> str:
        plain = is_loopback(host) or host.lower() in self._insecure
        return f"{'http' if plain else 'https'}://{host}"

    async def resolve(
        self, image: str, pull_secrets: Iterable[Mapping[str, Any]] = ()
    ) -> Resolution:
        """The digest of ``image``'s tag, or why there is none."""
        ref = parse_reference(image)
        if ref.pinned:
            return Resolution(ref.digest)
        if ref.registry is None:
            return Resolution(
                None,
                f"image {image!r} names no registry host; write the registry into the image "
                "(e.g. registry.example/team/app:1.0) so that its digest can be resolved",
            )
        creds = credentials_for(ref.registry, pull_secrets)
        try:
            digest = await self._manifest_digest(ref, creds)
        except _Refused as refused:
            return Resolution(None, refused.message)
        except (aiohttp.ClientError, TimeoutError) as err:
            return Resolution(
                None, f"registry {ref.registry} could not be reached: {type(err).__name__}"
            )
        return Resolution(digest)

    async def _manifest_digest(self, ref: ImageReference, creds: RegistryCredentials | None) -> str:
        url = f"{self.base_url(ref.registry or '')}/v2/{ref.repository}/manifests/{ref.reference}"
        headers = {"Accept": MANIFEST_TYPES}
        if creds is not None and creds.registry_token:
            headers["Authorization"] = f"Bearer {creds.registry_token}"
        async with self._http().head(url, headers=headers) as response:
            status, answer = response.status, response.headers
        if status == 401:
            headers["Authorization"] = await self._authorization(
                ref, creds, parse_challenge(answer.get("WWW-Authenticate"))
            )
            async with self._http().head(url, headers=headers) as response:
                status, answer = response.status, response.headers
        self._check(ref, status)
        digest = answer.get(DIGEST_HEADER)
        if digest and SHA256_DIGEST.match(digest):
            return digest
        # No digest header: hash the manifest itself, as the registry stores it.
        async with self._http().get(url, headers=headers) as response:
            self._check(ref, response.status)
            body = await response.read()
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def _check(self, ref: ImageReference, status: int) -> None:
        where = f"registry {ref.registry}"
        if status == 404:
            raise _Refused(
                f"{where} has no manifest {ref.repository}:{ref.reference} (404): the tag or "
                "repository does not exist"
            )
        if status in (401, 403):
            raise _Refused(
                f"{where} refused to show {ref.repository}:{ref.reference} ({status}): give "
                "the Workload's ServiceAccount an image pull Secret for it"
            )
        if status >= 400:
            raise _Refused(f"{where} answered {status} for {ref.repository}:{ref.reference}")

    async def _authorization(
        self,
        ref: ImageReference,
        creds: RegistryCredentials | None,
        challenge: Challenge | None,
    ) -> str:
        if challenge is None:
            raise _Refused(f"registry {ref.registry} asked for credentials without a challenge")
        if challenge.scheme == "basic":
            if creds is None or not creds.basic:
                raise _Refused(
                    f"registry {ref.registry} needs credentials and no image pull Secret has "
                    "any for it"
                )
            return aiohttp.encode_basic_auth(creds.username or "", creds.password or "")
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            raise _Refused(
                f"registry {ref.registry} asked for an authentication Berth does not speak "
                f"({challenge.scheme})"
            )
        return f"Bearer {await self._token(ref, creds, challenge.params)}"

    async def _token(
        self, ref: ImageReference, creds: RegistryCredentials | None, params: Mapping[str, str]
    ) -> str:
        query = {"scope": params.get("scope") or f"repository:{ref.repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {}
        if creds is not None and creds.basic:
            headers["Authorization"] = aiohttp.encode_basic_auth(
                creds.username or "", creds.password or ""
            )
        if creds is not None and creds.identity_token:
            form = {**query, "grant_type": "refresh_token", "client_id": "berth"}
            form["refresh_token"] = creds.identity_token
            request = self._http().post(params["realm"], data=form)
        else:
            request = self._http().get(params["realm"], params=query, headers=headers)
        async with request as response:
            if response.status >= 400:
                raise _Refused(
                    f"registry {ref.registry}'s token service refused a pull token for "
                    f"{ref.repository} ({response.status})"
                    + ("" if creds else "; no image pull Secret has credentials for it")
                )
            body = await response.json(content_type=None)
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise _Refused(f"registry {ref.registry}'s token service answered without a token")
        return token
