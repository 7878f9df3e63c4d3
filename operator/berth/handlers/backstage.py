"""Backstage's catalog location, served read-only from the operator's cache (opt-in).

``GET /backstage/catalog-info.yaml`` on ``--backstage-port`` answers the entities of
``berth.backstage`` for every Environment and Workload the cache holds, as YAML
documents; Backstage reads it as a ``url`` location and, at each refresh, sees what runs
now. Nothing is written and nothing is read from the API server: a refresh costs one
pass over the cache, and an unchanged catalog a 304 (``ETag``/``If-None-Match``).

503 while the answer would be wrong: before the watches have filled the cache, and on a
peered standby (kopf pauses its watches, so its cache is stale). Backstage keeps the
entities it has when a read fails, and asks again at its next refresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import kopf
from aiohttp import web

from berth.backstage import catalog_entities, catalog_yaml
from berth.handlers.runtime import Runtime

log = logging.getLogger("berth")
CATALOG_PATH = "/backstage/catalog-info.yaml"
_MEMO_KEY = web.AppKey("memo", object)


def _catalog_text(environments: list[dict[str, Any]], workloads: list[dict[str, Any]]) -> str:
    return catalog_yaml(catalog_entities(environments, workloads))


async def catalog_answer(runtime: Runtime | None, if_none_match: str | None) -> web.Response:
    """The response to one read of the catalog, from what the runtime knows now.

    The objects are taken from the cache on the event loop; the entities are made in a
    thread (a third of a second for 5,000 Workloads), so the reconcilers and the watches
    go on meanwhile. Those objects are never changed in place: a watch event replaces
    them."""
    if runtime is None or not runtime.cache.attached:
        return _unavailable("the operator is still reading the cluster")
    if not runtime.active:
        return _unavailable("this replica is a standby; its watches are paused")
    cache = runtime.cache
    environments = [e for e in map(cache.environment, cache.environment_names()) if e]
    workloads = [w for w in map(cache.workload, cache.workload_keys()) if w]
    text = await asyncio.to_thread(_catalog_text, environments, workloads)
    etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'
    if if_none_match == etag:
        return web.Response(status=304, headers={"ETag": etag})
    return web.Response(
        text=text, content_type="application/yaml", charset="utf-8", headers={"ETag": etag}
    )


def _unavailable(why: str) -> web.Response:
    return web.Response(
        status=503,
        text=f"Berth's catalog is not available: {why}; try again\n",
        headers={"Retry-After": "5"},
    )


async def _get_catalog(request: web.Request) -> web.Response:
    runtime = getattr(request.app[_MEMO_KEY], "runtime", None)
    return await catalog_answer(runtime, request.headers.get("If-None-Match"))


def catalog_app(memo: Any) -> web.Application:
    """The read-only app: one GET (HEAD too), nothing else."""
    app = web.Application()
    app[_MEMO_KEY] = memo
    app.router.add_get(CATALOG_PATH, _get_catalog)
    return app


@kopf.on.startup()
async def serve_catalog(memo: Any, **_: Any) -> None:
    port = memo.config.backstage_port
    if not port:
        return
    runner = web.AppRunner(catalog_app(memo), access_log=None)
    await runner.setup()
    # Every interface: in a Pod, Backstage reaches it through a Service.
    await web.TCPSite(runner, host="0.0.0.0", port=port).start()
    memo.backstage_runner = runner
    log.info("serving Backstage's catalog location on :%d%s", port, CATALOG_PATH)


@kopf.on.cleanup()
async def stop_catalog(memo: Any, **_: Any) -> None:
    runner = getattr(memo, "backstage_runner", None)
    if runner is not None:
        await runner.cleanup()
