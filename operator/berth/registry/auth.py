"""Registry credentials from image pull Secrets (``kubernetes.io/dockerconfigjson`` and
the older ``kubernetes.io/dockercfg``), matched to a registry host the way the kubelet
matches them: the entry whose key names the host (with or without a scheme and a path).

Credentials are held only in memory for the request they serve; nothing here logs or
returns them in an error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKER_CFG = "kubernetes.io/dockercfg"


@dataclass(frozen=True)
class RegistryCredentials:
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # An OAuth2 refresh token (docker login --identity-token): exchanged at the realm.
    identity_token: str | None = field(default=None, repr=False)
    # A bearer token for the registry itself: sent as it is.
    registry_token: str | None = field(default=None, repr=False)

    @property
    def basic(self) -> bool:
        return self.username is not None and self.password is not None


def _host_of(key: str) -> str:
    """The host (with port) of a docker config key: ``https://host:5000/v1/`` -> ``host:5000``."""
    rest = key.split("://", 1)[-1]
    return rest.split("/", 1)[0].lower()


def _entry(value: Mapping[str, Any]) -> RegistryCredentials | None:
    username, password = value.get("username"), value.get("password")
    auth = value.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, colon, secret = decoded.partition(":")
        if colon:
            username, password = user, secret
    creds = RegistryCredentials(
        username=username if isinstance(username, str) else None,
        password=password if isinstance(password, str) else None,
        identity_token=value.get("identitytoken") or None,
        registry_token=value.get("registrytoken") or None,
    )
    if creds.basic or creds.identity_token or creds.registry_token:
        return creds
    return None


def _config_of(secret: Mapping[str, Any]) -> Mapping[str, Any]:
    data = secret.get("data") or {}
    kind = secret.get("type")
    key = ".dockerconfigjson" if kind == DOCKER_CONFIG_JSON else ".dockercfg"
    if kind not in (DOCKER_CONFIG_JSON, DOCKER_CFG) or key not in data:
        return {}
    try:
        parsed = json.loads(base64.b64decode(data[key]))
    except (binascii.Error, ValueError):
        return {}
    if not isinstance(parsed, dict):
        return {}
    auths = parsed.get("auths") if kind == DOCKER_CONFIG_JSON else parsed
    return auths if isinstance(auths, dict) else {}


def credentials_for(host: str, secrets: Iterable[Mapping[str, Any]]) -> RegistryCredentials | None:
    """The credentials for ``host`` in the first Secret that has an entry for it."""
    wanted = host.lower()
    for secret in secrets:
        for key, value in _config_of(secret).items():
            if isinstance(value, Mapping) and _host_of(str(key)) == wanted:
                found = _entry(value)
                if found is not None:
                    return found
    return None
