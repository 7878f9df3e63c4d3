"""The catalog location the operator serves (berth.handlers.backstage), over real HTTP.

The app runs in aiohttp's test server; the runtime's cache is filled the way kopf fills
its indices. The e2e test (tests/e2e/test_backstage.py) has a real Backstage read it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from berth.handlers import watch
from berth.handlers.backstage import CATALOG_PATH, catalog_app
from berth.handlers.cache import ENVIRONMENTS_INDEX, WORKLOADS_INDEX
from berth.handlers.config import OperatorConfig
from berth.handlers.runtime import Runtime
from tests.unit.builders import NAMESPACE, environment_dict, workload_dict


def runtime(*, standby: bool = False) -> Runtime:
    """A standalone runtime, or (``standby``) a peered one whose peering has not made it
    active. The client is never used: the location reads the cache only."""
    config = OperatorConfig(standalone=not standby)
    _, peering = watch.gates(config)
    return Runtime(config=config, client=None, peering=peering)  # type: ignore[arg-type]


def fill(target: Runtime, *workloads: dict[str, Any]) -> None:
    """The cache as kopf's indices hold it: key -> the objects under that key."""
    target.cache.attach(
        {
            ENVIRONMENTS_INDEX: {"team-a-dev": [environment_dict()]},
            WORKLOADS_INDEX: {(NAMESPACE, w["metadata"]["name"]): [w] for w in workloads},
        }
    )


def reconciled(name: str) -> dict[str, Any]:
    body = workload_dict(name)
    body["status"] = {"environment": "team-a-dev"}
    return body


@pytest.fixture
async def served() -> AsyncIterator[tuple[TestClient[Any, Any], SimpleNamespace]]:
    memo = SimpleNamespace()
    client = TestClient(TestServer(catalog_app(memo)))
    await client.start_server()
    try:
        yield client, memo
    finally:
        await client.close()


async def test_the_location_answers_the_catalog_and_a_304_while_it_is_unchanged(
    served: tuple[TestClient[Any, Any], SimpleNamespace],
) -> None:
    client, memo = served
    memo.runtime = runtime()
    fill(memo.runtime, reconciled("checkout"))
    first = await client.get(CATALOG_PATH)
    assert first.status == 200
    assert first.content_type == "application/yaml"
    entities = list(yaml.safe_load_all(await first.text()))
    assert [(e["kind"], e["metadata"]["name"]) for e in entities] == [
        ("System", "team-a-dev"),
        ("Component", "checkout.team-a-dev"),
    ]
    etag = first.headers["ETag"]
    again = await client.get(CATALOG_PATH, headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""

    # A new Workload: a new catalog, under a new ETag.
    fill(memo.runtime, reconciled("checkout"), reconciled("hello"))
    changed = await client.get(CATALOG_PATH, headers={"If-None-Match": etag})
    assert changed.status == 200
    assert changed.headers["ETag"] != etag
    assert "hello.team-a-dev" in await changed.text()


async def test_no_catalog_before_the_cache_is_filled_nor_from_a_standby(
    served: tuple[TestClient[Any, Any], SimpleNamespace],
) -> None:
    client, memo = served
    starting = await client.get(CATALOG_PATH)  # the startup handler has not run yet
    assert starting.status == 503
    assert "still reading the cluster" in await starting.text()
    memo.runtime = runtime(standby=True)
    fill(memo.runtime, reconciled("checkout"))
    standby = await client.get(CATALOG_PATH)  # peered, not (yet) active
    assert standby.status == 503
    assert "standby" in await standby.text()
    assert standby.headers["Retry-After"] == "5"


async def test_the_location_is_read_only(
    served: tuple[TestClient[Any, Any], SimpleNamespace],
) -> None:
    client, memo = served
    memo.runtime = runtime()
    fill(memo.runtime)
    assert (await client.post(CATALOG_PATH, data="x")).status == 405
    assert (await client.get("/backstage/")).status == 404


async def test_the_operator_serves_it_on_its_port_only_when_asked() -> None:
    import socket

    import aiohttp

    from berth.handlers.backstage import serve_catalog, stop_catalog

    off = SimpleNamespace(config=OperatorConfig())
    await serve_catalog(memo=off)
    assert not hasattr(off, "backstage_runner")  # 0: no port opened
    await stop_catalog(memo=off)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    memo = SimpleNamespace(config=OperatorConfig(backstage_port=port))
    await serve_catalog(memo=memo)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}{CATALOG_PATH}") as answer,
        ):
            assert answer.status == 503  # no runtime yet: served, and honest about it
    finally:
        await stop_catalog(memo=memo)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # closed again
