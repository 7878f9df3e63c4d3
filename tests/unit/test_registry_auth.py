"""berth.registry.auth: credentials out of image pull Secrets, matched by host, and
berth.registry.resolver's pure parts (challenges, which hosts speak plain HTTP)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from berth.registry.auth import RegistryCredentials, credentials_for
from berth.registry.resolver import Challenge, Resolver, is_loopback, parse_challenge


def secret(config: Any, kind: str = "kubernetes.io/dockerconfigjson") -> dict[str, Any]:
    key = ".dockerconfigjson" if kind.endswith("configjson") else ".dockercfg"
    data = base64.b64encode(json.dumps(config).encode()).decode()
    return {"type": kind, "data": {key: data}}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_the_entry_for_the_host_wins_whatever_its_key_looks_like() -> None:
    secrets = [
        secret({"auths": {"other.example": {"auth": b64("o:p")}}}),
        secret({"auths": {"https://r.example:5000/v1/": {"auth": b64("u:p:with:colons")}}}),
    ]
    assert credentials_for("r.example:5000", secrets) == RegistryCredentials("u", "p:with:colons")
    assert credentials_for("R.EXAMPLE:5000", secrets) is not None
    assert credentials_for("r.example", secrets) is None


def test_username_and_password_fields_and_tokens() -> None:
    found = credentials_for(
        "r.example",
        [
            secret(
                {"auths": {"r.example": {"username": "u", "password": "p", "identitytoken": "t"}}}
            )
        ],
    )
    assert found == RegistryCredentials("u", "p", identity_token="t")
    token = credentials_for("r.example", [secret({"auths": {"r.example": {"registrytoken": "x"}}})])
    assert token == RegistryCredentials(registry_token="x")


def test_the_older_dockercfg_form() -> None:
    old = secret({"r.example": {"auth": b64("u:p")}}, kind="kubernetes.io/dockercfg")
    assert credentials_for("r.example", [old]) == RegistryCredentials("u", "p")


@pytest.mark.parametrize(
    "broken",
    [
        {"type": "Opaque", "data": {".dockerconfigjson": b64("{}")}},
        {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "%%%"}},
        {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64("[1]")}},
        {"type": "kubernetes.io/dockerconfigjson"},
        secret({"auths": {"r.example": {"auth": "%%%"}}}),
        secret({"auths": {"r.example": {}}}),
        secret({"auths": []}),
    ],
)
def test_what_is_not_a_usable_entry_is_passed_over(broken: dict[str, Any]) -> None:
    assert credentials_for("r.example", [broken]) is None


def test_credentials_never_show_in_their_repr() -> None:
    assert "p4ss" not in repr(RegistryCredentials("u", "p4ss", "t0ken", "r3g"))


def test_challenges_are_taken_apart() -> None:
    header = 'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"'
    assert parse_challenge(header) == Challenge(
        "bearer",
        {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull"},
    )
    assert parse_challenge('Basic realm="x"') == Challenge("basic", {"realm": "x"})
    assert parse_challenge(None) is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("localhost", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("r.example:5000", False),
        ("10.0.0.1", False),
    ],
)
def test_loopback_registries_speak_plain_http(host: str, loopback: bool) -> None:
    assert is_loopback(host) == loopback
    assert Resolver().base_url(host).startswith("http://" if loopback else "https://")


def test_a_host_named_insecure_speaks_plain_http() -> None:
    assert (
        Resolver(insecure=["r.example:5000"]).base_url("r.example:5000") == "http://r.example:5000"
    )
