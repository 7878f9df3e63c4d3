"""A small informer: list, then watch, one kind, and tell a callback what changed.

An ``Informer`` keeps a local copy of the objects of one kind — optionally in one
namespace and under a label selector — and calls ``on_event(type, object)`` with
``ADDED``, ``MODIFIED`` or ``DELETED`` whenever that copy changes:

1. **List**, page by page (``limit``/``continue``), and compare with the copy: what is
   new is ADDED, what changed (another resourceVersion) MODIFIED, what is gone DELETED.
   The first list fills the copy (``synced`` is set after it); a later one (after a
   watch could not go on, or the slow safety relist) reports only the differences, so a
   relist of an unchanged world tells nobody anything.
2. **Watch** from the list's resourceVersion, with bookmarks (``allowWatchBookmarks``:
   the server tells us how far we are even when nothing of ours changes, so a watch
   started again resumes there). A watch that ends (the server's ``timeoutSeconds``, a
   dropped connection) is started again from the last resourceVersion seen.
3. **410 Gone** — the resourceVersion is older than the server keeps, as an HTTP answer
   or an ERROR event in the stream — means events were lost: list again (step 1).
4. Any other failure (403: the operator may not list the kind; 404: the kind is not
   served; the server unreachable) is told once to ``on_error`` and retried with a
   capped exponential backoff, listing again.

Every ``relist_seconds`` it lists again anyway: a safety net for a watch that stays open
but silent. ``start()`` runs it as a task, ``stop()`` ends it. ``Informers`` keeps a set of
them, started and stopped as the wanted set of ``WatchSpec``s changes.

Nothing here knows what the objects are; the callback decides what they mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from berth.kube.client import KubeClient
from berth.kube.errors import ApiError, error_class

log = logging.getLogger(__name__)

EventCallback = Callable[[str, dict[str, Any]], None]
ErrorCallback = Callable[["WatchSpec", Exception], None]
ObjectId = tuple[str, str]  # (namespace, name)

PAGE_SIZE = 500
WATCH_SECONDS = 300
RELIST_SECONDS = 900.0
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0


@dataclass(frozen=True, order=True)
class WatchSpec:
    """What one informer watches: a kind, optionally one namespace (None: all) and a
    label selector."""

    api_version: str
    kind: str
    namespace: str | None = None
    label_selector: str | None = None

    def describe(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        selected = f" ({self.label_selector})" if self.label_selector else ""
        return f"{self.kind} {self.api_version}{where}{selected}"


class ResourceExpired(Exception):
    """The server no longer keeps the resourceVersion a watch asked for (410 Gone, as an
    answer or an ERROR event): events were lost, list again. ``run`` does."""


def _identity(obj: Mapping[str, Any]) -> ObjectId:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name"))


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class Informer:
    """One kind's list+watch; see the module's docstring."""

    def __init__(
        self,
        client: KubeClient,
        spec: WatchSpec,
        on_event: EventCallback,
        *,
        on_error: ErrorCallback | None = None,
        page_size: int = PAGE_SIZE,
        watch_seconds: int = WATCH_SECONDS,
        relist_seconds: float = RELIST_SECONDS,
    ) -> None:
        self.client = client
        self.spec = spec
        self.on_event = on_event
        self.on_error = on_error
        self.page_size = page_size
        self.watch_seconds = watch_seconds
        self.relist_seconds = relist_seconds
        self.store: dict[ObjectId, dict[str, Any]] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()
        # How often it listed (the first list included): a test's window into relists.
        self.lists = 0
        # The last list or watch failed, and it is backing off: its copy may be behind.
        self.failing = False
        self._task: asyncio.Task[None] | None = None

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.get((namespace, name))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"informer {self.spec.describe()}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """List and watch until cancelled."""
        backoff = BACKOFF_FIRST
        while True:
            try:
                await self.relist()
                self.failing = False
                loop = asyncio.get_running_loop()
                relist_at = loop.time() + self.relist_seconds
                while loop.time() < relist_at:
                    await self.watch_once(min(self.watch_seconds, relist_at - loop.time()))
                    backoff = BACKOFF_FIRST
            except ResourceExpired:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as err:  # told once per run of failures, then retried
                if not self.failing and self.on_error is not None:
                    self.on_error(self.spec, err)
                self.failing = True
                log.debug("informer %s: %s; again in %.0fs", self.spec.describe(), err, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    async def relist(self) -> None:
        """List every page, then tell what differs from the local copy."""
        path = await self.client.path_for(
            self.spec.api_version, self.spec.kind, self.spec.namespace
        )
        found: dict[ObjectId, dict[str, Any]] = {}
        token = ""
        while True:
            params = {"limit": str(self.page_size)}
            if self.spec.label_selector:
                params["labelSelector"] = self.spec.label_selector
            if token:
                params["continue"] = token
            page = await self.client.request("GET", path, params=params)
            for item in page.get("items") or []:
                item.setdefault("apiVersion", self.spec.api_version)
                item.setdefault("kind", self.spec.kind)
                found[_identity(item)] = item
            meta = page.get("metadata") or {}
            token = str(meta.get("continue") or "")
            if not token:
                self.resource_version = str(meta.get("resourceVersion") or "")
                break
        self.lists += 1
        first = not self.synced.is_set()
        old, self.store = self.store, found
        self.synced.set()
        if first:
            for obj in found.values():
                self.on_event("ADDED", obj)
            return
        for ident, obj in found.items():
            before = old.get(ident)
            if before is None:
                self.on_event("ADDED", obj)
            elif _version(before) != _version(obj):
                self.on_event("MODIFIED", obj)
        for ident in old.keys() - found.keys():
            self.on_event("DELETED", old[ident])

    async def watch_once(self, seconds: float) -> None:
        """One watch request, from the last resourceVersion, until the server ends it."""
        path = await self.client.path_for(
            self.spec.api_version, self.spec.kind, self.spec.namespace
        )
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resource_version,
            "timeoutSeconds": str(max(1, int(seconds))),
        }
        if self.spec.label_selector:
            params["labelSelector"] = self.spec.label_selector
        # No total timeout: the server ends the watch after timeoutSeconds; a read that
        # hears nothing for longer than that (bookmarks come every minute) is a dead one.
        wait = aiohttp.ClientTimeout(total=None, sock_read=max(1, int(seconds)) + 30)
        async with self.client.session().get(
            path.lstrip("/"), params=params, timeout=wait
        ) as response:
            if response.status >= 400:
                text = await response.text()
                raise _error(response.status, text, f"watch {path}")
            # Events are JSON lines, each as long as its object: split them ourselves
            # rather than be bound by a reader's line limit.
            pending = b""
            async for chunk in response.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._handle(json.loads(line))

    def _handle(self, event: Mapping[str, Any]) -> None:
        kind, obj = event.get("type"), dict(event.get("object") or {})
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise ResourceExpired()
            raise _error(int(obj.get("code") or 500), json.dumps(obj), "watch")
        version = _version(obj)
        if version:
            self.resource_version = version
        if kind == "BOOKMARK":
            return
        obj.setdefault("apiVersion", self.spec.api_version)
        obj.setdefault("kind", self.spec.kind)
        ident = _identity(obj)
        if kind == "DELETED":
            self.store.pop(ident, None)
        elif kind in ("ADDED", "MODIFIED"):
            self.store[ident] = obj
        else:
            return
        self.on_event(str(kind), obj)


def _error(status: int, text: str, what: str) -> Exception:
    if status == 410:
        return ResourceExpired()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        return error_class(status)(status, doc.get("reason") or "", doc.get("message") or what)
    return ApiError(status, "Unknown", f"{what}: {text[:300]}")


class Informers:
    """A set of informers, one per ``WatchSpec``, started and stopped to match ``want``."""

    def __init__(
        self,
        client: KubeClient,
        on_event: Callable[[WatchSpec, str, dict[str, Any]], None],
        *,
        on_error: ErrorCallback | None = None,
        relist_seconds: float = RELIST_SECONDS,
    ) -> None:
        self.client = client
        self.on_event = on_event
        self.on_error = on_error
        self.relist_seconds = relist_seconds
        self.running: dict[WatchSpec, Informer] = {}

    async def want(self, specs: Iterable[WatchSpec]) -> None:
        """Start an informer for each spec not watched yet; stop those not wanted."""
        wanted = set(specs)
        for spec in sorted(wanted - self.running.keys()):
            informer = Informer(
                self.client,
                spec,
                self._teller(spec),
                on_error=self.on_error,
                relist_seconds=self.relist_seconds,
            )
            self.running[spec] = informer
            informer.start()
            log.info("watching %s", spec.describe())
        for spec in sorted(self.running.keys() - wanted):
            await self.running.pop(spec).stop()
            log.info("no longer watching %s", spec.describe())

    def _teller(self, spec: WatchSpec) -> EventCallback:
        def tell(type_: str, obj: dict[str, Any]) -> None:
            self.on_event(spec, type_, obj)

        return tell

    async def stop(self) -> None:
        informers, self.running = list(self.running.values()), {}
        await asyncio.gather(*(i.stop() for i in informers))
