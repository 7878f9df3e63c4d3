"""berth.registry against a real OCI registry: go-containerregistry's, on loopback.

Tags resolve to the digest crane itself reports; a tag that moves resolves to its new
digest; a Bearer challenge is answered with a token bought with the pull Secret's
credentials (and a Basic one with the credentials themselves); every refusal is a
sentence that names the registry and never a credential. No cluster needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.registry.resolver import Resolver
from tests.registryharness import (
    LocalRegistry,
    TestOnlyRegistryAuth,
    build_release_tools,
    free_port,
    local_registry,
    pull_secret,
)

USER, PASSWORD = "ci-bot", "s3cret-pull-password"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    build_release_tools()
    with local_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture
async def resolver() -> Resolver:
    return Resolver(timeout=10)


def gate(registry: LocalRegistry, **kwargs: object) -> Iterator[TestOnlyRegistryAuth]:
    auth = TestOnlyRegistryAuth(registry.host, USER, PASSWORD, **kwargs)  # type: ignore[arg-type]
    auth.start()
    try:
        yield auth
    finally:
        auth.stop()


@pytest.fixture
def bearer(registry: LocalRegistry) -> Iterator[TestOnlyRegistryAuth]:
    yield from gate(registry)


@pytest.fixture
def basic(registry: LocalRegistry) -> Iterator[TestOnlyRegistryAuth]:
    yield from gate(registry, scheme="Basic")


async def test_a_tag_resolves_to_the_digest_the_registry_reports(
    registry: LocalRegistry, resolver: Resolver
) -> None:
    pushed = registry.push("shop/checkout:1.0")
    found = await resolver.resolve(f"{registry.host}/shop/checkout:1.0")
    await resolver.close()
    assert found.digest == pushed
    assert found.message is None
    assert pushed.startswith("sha256:")
    assert len(pushed) == 71


async def test_a_tag_that_moves_resolves_to_its_new_digest(
    registry: LocalRegistry, resolver: Resolver
) -> None:
    first = registry.push("shop/moving:stable")
    second = registry.push("shop/moving:stable")
    found = await resolver.resolve(f"{registry.host}/shop/moving:stable")
    await resolver.close()
    assert first != second
    assert found.digest == second


async def test_an_image_pinned_already_is_not_asked_for(resolver: Resolver) -> None:
    digest = "sha256:" + "ab" * 32
    # Nothing listens on this port: a request would fail.
    found = await resolver.resolve(f"127.0.0.1:{free_port()}/app:1@{digest}")
    assert found.digest == digest


async def test_a_missing_tag_is_a_sentence(registry: LocalRegistry, resolver: Resolver) -> None:
    registry.push("shop/present:1")
    found = await resolver.resolve(f"{registry.host}/shop/present:nope")
    await resolver.close()
    assert found.digest is None
    assert found.message == (
        f"registry {registry.host} has no manifest shop/present:nope (404): the tag or "
        "repository does not exist"
    )


async def test_an_image_naming_no_registry_is_not_resolved(resolver: Resolver) -> None:
    found = await resolver.resolve("nginx:1.27")
    assert found.digest is None
    assert found.message is not None
    assert "names no registry host" in found.message


async def test_an_unreachable_registry_is_a_sentence(resolver: Resolver) -> None:
    host = f"127.0.0.1:{free_port()}"
    found = await resolver.resolve(f"{host}/shop/app:1")
    await resolver.close()
    assert found.digest is None
    assert found.message == f"registry {host} could not be reached: ClientConnectorError"


async def test_a_bearer_challenge_is_answered_with_the_pull_secrets_credentials(
    registry: LocalRegistry, resolver: Resolver, bearer: TestOnlyRegistryAuth
) -> None:
    pushed = registry.push("private/app:2.0")
    image = f"{bearer.host}/private/app:2.0"
    found = await resolver.resolve(image, [pull_secret(bearer.host, USER, PASSWORD)])
    await resolver.close()
    assert found.digest == pushed
    # The challenge was met, a token bought, and the manifest asked for with it.
    assert [r.split("?")[0] for r in bearer.requests] == [
        "HEAD /v2/private/app/manifests/2.0",
        "GET /token",
        "HEAD /v2/private/app/manifests/2.0",
    ]
    assert "scope=repository:private/app:pull" in bearer.requests[1]


async def test_without_a_pull_secret_for_the_host_the_refusal_says_so(
    registry: LocalRegistry, resolver: Resolver, bearer: TestOnlyRegistryAuth
) -> None:
    registry.push("private/app:3.0")
    other = pull_secret("elsewhere.example:5000", USER, PASSWORD)
    found = await resolver.resolve(f"{bearer.host}/private/app:3.0", [other])
    await resolver.close()
    assert found.digest is None
    assert found.message == (
        f"registry {bearer.host}'s token service refused a pull token for private/app (401); "
        "no image pull Secret has credentials for it"
    )


async def test_a_wrong_password_is_refused_and_never_repeated(
    registry: LocalRegistry, resolver: Resolver, bearer: TestOnlyRegistryAuth
) -> None:
    registry.push("private/app:4.0")
    wrong = pull_secret(bearer.host, USER, "not-the-password")
    found = await resolver.resolve(f"{bearer.host}/private/app:4.0", [wrong])
    await resolver.close()
    assert found.digest is None
    assert found.message is not None
    assert "refused a pull token" in found.message
    assert "not-the-password" not in found.message
    assert USER not in found.message


async def test_a_basic_challenge_is_answered_with_the_credentials(
    registry: LocalRegistry, resolver: Resolver, basic: TestOnlyRegistryAuth
) -> None:
    pushed = registry.push("basic/app:1")
    image = f"{basic.host}/basic/app:1"
    found = await resolver.resolve(image, [pull_secret(basic.host, USER, PASSWORD)])
    refused = await resolver.resolve(image)
    await resolver.close()
    assert found.digest == pushed
    assert refused.digest is None
    assert refused.message == (
        f"registry {basic.host} needs credentials and no image pull Secret has any for it"
    )


async def test_without_a_digest_header_the_manifest_is_hashed(
    registry: LocalRegistry, resolver: Resolver, tmp_path: Path
) -> None:
    pushed = registry.push("quiet/app:1")
    hiding = TestOnlyRegistryAuth(registry.host, USER, PASSWORD, hide_digest=True)
    hiding.start()
    try:
        secret = pull_secret(hiding.host, USER, PASSWORD)
        found = await resolver.resolve(f"{hiding.host}/quiet/app:1", [secret])
    finally:
        hiding.stop()
        await resolver.close()
    assert found.digest == pushed
    assert any(r.startswith("GET /v2/quiet/app/manifests/1") for r in hiding.requests)
