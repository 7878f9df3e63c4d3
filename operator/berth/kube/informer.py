"""List and watch one kind, and keep what was seen: an informer (client-go's reflector
and store, small), with no framework under it.

An ``Informer`` lists its objects page by page (``limit``/``continue``, so that a listing
of ten thousand objects never sits in memory as one document), then watches from the
listing's resourceVersion with bookmarks (so that a quiet kind still moves its
resourceVersion on, and a watch that ends resumes where it was, not with a listing).
When the server says the version is too old (410 Gone: etcd compacted it), it lists
again and tells the difference to what it held as ordinary events: what was added,
changed, or deleted while it was not watching.

What it keeps goes into a ``Store``, which several informers may share (one kind
watched through several label selectors: one per shard a replica holds). Each object
in a store remembers which informer put it there; an informer stopped takes exactly its
own objects with it, and a delete from one informer never removes what another has put
there since (an object moving between two selectors, when a label of it changes, is
first added by one and then deleted by the other, in either order).

The informer keeps what ``keep`` makes of an object (a slim copy, a summary), never the
object itself unless ``keep`` says so, with its keys and short strings shared between
objects (``compact``); it calls ``on_event`` after each change to the store, in the
event loop, and never blocks on it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.kube.client import ApiError, Gone, KubeClient

log = logging.getLogger("berth")

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
# client-go's page size for its listings.
PAGE_SIZE = 500
# A watch asks the server to end it after a random 5-10 minutes (as client-go does), so
# that replicas do not all reconnect at once; it then resumes from its resourceVersion.
WATCH_SECONDS = (300, 600)
# With bookmarks on, the server says something at least every minute or so; a stream
# silent much longer than that is dead (a lost connection nobody closed).
IDLE_SECONDS = 150.0
RETRY_SECONDS = (0.5, 30.0)  # after a failed listing or watch: first, and at most
# The API server's answers that say the kind cannot be listed at all, not that it failed
# this once: 404 (not served: its CRD is not installed) and 403 (RBAC does not allow it).
REFUSED = frozenset({403, 404})

# (namespace or "", name)
ObjectKey = tuple[str, str]


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


@dataclass(frozen=True)
class Source:
    """What one informer lists and watches: a kind, where, and by which labels."""

    api_version: str
    kind: str
    namespace: str | None = None
    label_selector: str | None = None

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        labels = f" ({self.label_selector})" if self.label_selector else ""
        return f"{self.kind}{where}{labels}"


@dataclass(frozen=True)
class Event:
    """A change to a store: ``new`` is what is kept now (for DELETED: the last state
    seen), ``old`` what was kept before (None for ADDED). ``listed``: part of the
    informer's first listing — the state it starts from, not a change (what a listing
    after a 410 finds changed comes as changes)."""

    type: str
    key: ObjectKey
    new: Any
    old: Any
    listed: bool


@dataclass
class _Entry:
    source: object
    kept: Any


@dataclass
class Store:
    """What the informers of one kind keep, by (namespace, name), with one optional index
    (``index_of``: the key an object is found by, say its owner; None: not indexed)."""

    index_of: Callable[[Any], Hashable | None] | None = None
    _objects: dict[ObjectKey, _Entry] = field(default_factory=dict)
    _index: dict[Hashable, dict[ObjectKey, Any]] = field(default_factory=dict)
    # Counts every put and remove: a reader that derives something from the whole store
    # recomputes it only when this moved.
    changes: int = 0

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, key: ObjectKey) -> Any:
        entry = self._objects.get(key)
        return entry.kept if entry is not None else None

    def __iter__(self) -> Iterator[ObjectKey]:
        return iter(list(self._objects))

    def items(self) -> Iterator[tuple[ObjectKey, Any]]:
        for key, entry in self._objects.items():
            yield key, entry.kept

    def indexed(self, value: Hashable) -> list[Any]:
        """The objects whose index key is ``value``."""
        return list((self._index.get(value) or {}).values())

    def put(self, source: object, key: ObjectKey, kept: Any) -> Any:
        """Keep ``kept`` for ``key`` as told by ``source``; returns what was kept before."""
        old = self._objects.get(key)
        if old is not None:
            self._unindex(key, old.kept)
        self._objects[key] = _Entry(source, kept)
        self.changes += 1
        if self.index_of is not None:
            value = self.index_of(kept)
            if value is not None:
                self._index.setdefault(value, {})[key] = kept
        return old.kept if old is not None else None

    def remove(self, source: object, key: ObjectKey) -> Any:
        """Forget ``key`` if ``source`` put what is kept for it; returns what was kept
        (None when nothing was, or another source put it there since)."""
        entry = self._objects.get(key)
        if entry is None or entry.source is not source:
            return None
        del self._objects[key]
        self._unindex(key, entry.kept)
        self.changes += 1
        return entry.kept

    def held_by(self, source: object) -> list[ObjectKey]:
        return [k for k, e in self._objects.items() if e.source is source]

    def _unindex(self, key: ObjectKey, kept: Any) -> None:
        if self.index_of is None:
            return
        value = self.index_of(kept)
        if value is None:
            return
        bucket = self._index.get(value)
        if bucket is not None:
            bucket.pop(key, None)
            if not bucket:
                del self._index[value]


def keep_whole(obj: dict[str, Any]) -> Any:
    return obj


# Strings up to this long are shared between the kept objects (see ``compact``).
SHARED_STRING_LENGTH = 40


def compact(value: Any) -> Any:
    """``value`` with its mapping keys and its short strings shared (``sys.intern``).

    Each object decoded from a watch event has its own copy of every key and value: ten
    thousand children carry ten thousand copies of "app.kubernetes.io/managed-by",
    "berth", "True", "apps/v1"... Shared, they are one string each: what a store keeps
    takes about half the memory (measured on a Workload and its children), for some
    15 µs an object."""
    if isinstance(value, dict):
        return {sys.intern(k): compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, str) and len(value) <= SHARED_STRING_LENGTH:
        return sys.intern(value)
    return value


class Informer:
    """Lists and watches one ``Source`` into a ``Store``; ``run`` until cancelled."""

    def __init__(
        self,
        client: KubeClient,
        source: Source,
        store: Store,
        *,
        keep: Callable[[dict[str, Any]], Any] = keep_whole,
        on_event: Callable[[Event], None] | None = None,
        on_error: Callable[[Source, Exception], None] | None = None,
        on_state: Callable[[Informer, Exception | None], None] | None = None,
        page_size: int = PAGE_SIZE,
        relist_seconds: float | None = None,
    ) -> None:
        """``on_error`` is told the first failure of a run of them (a 403: the operator
        may not list the kind; a 404: it is not served); ``on_state`` is told each
        failure (the error) and each listing or end of a refusal (None): when
        ``available`` may have changed; ``relist_seconds`` lists again that often even
        when the watch goes on (a safety net for a stream that stays open but silent;
        off by default — a listing of thousands of objects is not)."""
        self.client = client
        self.source = source
        self.store = store
        self.keep = keep
        self.on_event = on_event
        self.on_error = on_error
        self.on_state = on_state
        self.page_size = page_size
        self.relist_seconds = relist_seconds
        self.failing = False  # the last listing or watch failed: the store may be behind
        # The API server's last 403 or 404 to a listing or watch of it, until a listing
        # or a watch event comes through: the kind cannot be known now.
        self.refusal: ApiError | None = None
        self.resource_version: str | None = None
        self.synced = asyncio.Event()  # the first listing is in the store
        self.settled = asyncio.Event()  # synced, or stopped before it was
        self.listings = 0  # how many times it listed (the first one, and after each 410)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"berth-informer {self.source}")

    async def stop(self) -> list[Any]:
        """Stop watching and take this informer's objects out of the store (no events);
        returns what they were."""
        self.settled.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        return [self.store.remove(self, key) for key in self.store.held_by(self)]

    def get(self, namespace: str, name: str) -> Any:
        return self.store.get((namespace, name))

    @property
    def available(self) -> bool:
        """What it watches is in its store: it has listed, and is not refused now."""
        return self.synced.is_set() and self.refusal is None

    def _tell_state(self, error: Exception | None) -> None:
        if self.on_state is not None:
            self.on_state(self, error)

    async def run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        relist_at = float("inf")
        while True:
            try:
                if self.resource_version is None or loop.time() >= relist_at:
                    await self.relist()
                    if self.relist_seconds is not None:
                        relist_at = loop.time() + self.relist_seconds
                await self.watch()
                failures, self.failing = 0, False
            except Gone:
                log.info("watch of %s: resourceVersion too old, listing again", self.source)
                self.resource_version = None
            except (ApiError, TimeoutError, OSError, ValueError) as err:
                # aiohttp's connection errors are OSErrors; a torn line is a ValueError.
                if not self.failing and self.on_error is not None:
                    self.on_error(self.source, err)
                self.failing = True
                if isinstance(err, ApiError) and err.status in REFUSED:
                    self.refusal = err
                    if err.status == 404:
                        # Not served (its CRD deleted, or not installed yet): once it is
                        # again, everything of it is new; list it rather than resume.
                        self.resource_version = None
                self._tell_state(err)
                failures += 1
                delay = min(RETRY_SECONDS[0] * 2 ** (failures - 1), RETRY_SECONDS[1])
                log.warning("watch of %s failed (%s); again in %.1fs", self.source, err, delay)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))

    async def _path(self) -> str:
        return await self.client.path_for(
            self.source.api_version, self.source.kind, self.source.namespace
        )

    def _params(self) -> dict[str, str]:
        selector = self.source.label_selector
        return {"labelSelector": selector} if selector else {}

    async def relist(self) -> None:
        """List everything, page by page; tell what changed since what was held."""
        path = await self._path()
        listed: dict[ObjectKey, Any] = {}
        version, token = "", None
        while True:
            params = {**self._params(), "limit": str(self.page_size)}
            if token:
                params["continue"] = token
            try:
                page = await self.client.request("GET", path, params=params)
            except Gone:  # the continue token expired mid-listing: start over
                listed.clear()
                token = None
                continue
            for item in page.get("items") or []:
                item.setdefault("apiVersion", self.source.api_version)
                item.setdefault("kind", self.source.kind)
                listed[object_key(item)] = compact(self.keep(item))
            meta = page.get("metadata") or {}
            version, token = str(meta.get("resourceVersion") or ""), meta.get("continue")
            del page
            if not token:
                break
        self.listings += 1
        self._replace(listed)
        self.resource_version = version or None
        self.refusal = None
        self.synced.set()
        self.settled.set()
        self._tell_state(None)

    def _replace(self, listed: dict[ObjectKey, Any]) -> None:
        first = not self.synced.is_set()
        gone = set(self.store.held_by(self)) - listed.keys()
        for key, kept in listed.items():
            old = self.store.put(self, key, kept)
            if first or old != kept:  # a listing of an unchanged world tells nothing
                self._emit(Event(MODIFIED if old is not None else ADDED, key, kept, old, first))
        for key in gone:
            old = self.store.remove(self, key)
            if old is not None:
                self._emit(Event(DELETED, key, old, old, first))

    async def watch(self) -> None:
        """Watch from the resourceVersion held until the server ends the watch."""
        seconds = random.randint(*WATCH_SECONDS)
        if self.relist_seconds is not None:
            seconds = max(1, min(seconds, int(self.relist_seconds)))
        params = {
            **self._params(),
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resource_version or "",
            "timeoutSeconds": str(seconds),
        }
        path = await self._path()
        async for event in self.client.watch_stream(path, params, idle_seconds=IDLE_SECONDS):
            self.handle(event)

    def handle(self, event: Mapping[str, Any]) -> None:
        """One event of the watch stream."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            raise ApiError(code or 500, obj.get("reason") or "Error", obj.get("message") or "")
        if self.refusal is not None:  # the watch goes through again
            self.refusal = None
            self._tell_state(None)
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            self.resource_version = str(version)
            return
        obj.setdefault("apiVersion", self.source.api_version)
        obj.setdefault("kind", self.source.kind)
        key = object_key(obj)
        if kind == DELETED:
            old = self.store.remove(self, key)
            if old is not None:
                self._emit(Event(DELETED, key, self.keep(obj), old, False))
        elif kind in (ADDED, MODIFIED):
            kept = compact(self.keep(obj))
            old = self.store.put(self, key, kept)
            self._emit(Event(MODIFIED if old is not None else ADDED, key, kept, old, False))
        if version:
            self.resource_version = str(version)

    def _emit(self, event: Event) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # one bad rule must not stop the watch of a whole kind
            log.exception("handling %s %s of %s failed", event.type, event.key, self.source)


# What an informer watches, by the name the claim watches (handlers.dependents) use.
WatchSpec = Source


class Informers:
    """A set of informers, one per ``Source``, started and stopped to match what is
    wanted (``want``); each keeps its objects whole, in a store of its own, and tells
    ``on_event(source, type, object)``. For kinds that come and go at run time (the
    claim kinds in use); the operator's own kinds are ``berth.handlers.informers``'."""

    def __init__(
        self,
        client: KubeClient,
        on_event: Callable[[Source, str, dict[str, Any]], None],
        *,
        on_error: Callable[[Source, Exception], None] | None = None,
        relist_seconds: float | None = None,
    ) -> None:
        self.client = client
        self.on_event = on_event
        self.on_error = on_error
        self.relist_seconds = relist_seconds
        self.running: dict[Source, Informer] = {}

    async def want(self, sources: Iterable[Source]) -> None:
        """Start an informer for each source not watched yet; stop those not wanted."""
        wanted = set(sources)
        for source in sorted(wanted - self.running.keys(), key=str):
            informer = Informer(
                self.client,
                source,
                Store(),
                on_event=self._teller(source),
                on_error=self.on_error,
                relist_seconds=self.relist_seconds,
            )
            self.running[source] = informer
            informer.start()
            log.info("watching %s", source)
        for source in sorted(self.running.keys() - wanted, key=str):
            await self.running.pop(source).stop()
            log.info("no longer watching %s", source)

    def _teller(self, source: Source) -> Callable[[Event], None]:
        def tell(event: Event) -> None:
            self.on_event(source, event.type, event.new)

        return tell

    async def stop(self) -> None:
        informers, self.running = list(self.running.values()), {}
        for informer in informers:
            await informer.stop()
