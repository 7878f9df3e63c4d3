"""Which kinds the operator watches, declared one line each, and the informers that do it.

A ``Watched`` says everything about one kind: its name (the store it fills), the label
selector the server filters it by, whether it is watched per shard, what is kept of an
object, the key it is found by, and the rule that says whom a change of it wakes. The
list of them is ``berth.handlers.watch.WATCHED``; ``Watches`` turns it into informers
(``berth.kube.informer``):

- a kind watched cluster-wide (Environments, ClusterProvisioners: few, and every replica
  needs them all) gets one informer, or one per namespace with ``--namespace``;
- a kind watched per shard (Workloads, their children and Pods) gets, without
  ``--shards``, one informer for everything; with ``--shards``, one per shard this
  replica holds, selecting the shard's buckets by the shard-bucket label
  (``berth.names.SHARD_BUCKET_LABEL``), started when the shard is gained and stopped,
  its objects dropped, when it goes. So a replica lists, holds and is woken by only its
  shards' objects, and a shard that moves costs its new holder one listing of it.
- a kind whose objects may come without the label (``orphans``: Workloads, which their
  authors write; Berth adds the label) is watched once more, cluster-wide, for the
  objects without it: nothing to receive while every one is labelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from berth.coordination.shards import buckets_of
from berth.kube.client import KubeClient
from berth.kube.informer import DELETED, Event, Informer, Source, Store, keep_whole
from berth.names import SHARD_BUCKET_LABEL

if TYPE_CHECKING:
    from berth.handlers.runtime import Runtime

log = logging.getLogger("berth")


@dataclass(frozen=True)
class Watched:
    """One kind the operator lists and watches."""

    name: str
    """The store it fills (``Cache.stores``): "workloads", "deployments"..."""
    api_version: str
    kind: str
    selector: str | None = None
    """The label selector the API server filters by."""
    sharded: bool = False
    """Watched per shard held (by the shard-bucket label), or cluster-wide."""
    orphans: bool = False
    """Sharded, and its objects may lack the shard-bucket label: also watched for those."""
    keep: Callable[[dict[str, Any]], Any] = keep_whole
    """What the store keeps of an object (a slim copy, a summary)."""
    index: Callable[[Any], Hashable | None] | None = None
    """The key a kept object is found by besides its name (its owner), or None."""
    wake: Callable[[Runtime, Event], None] | None = None
    """Whom a change wakes (``berth.handlers.wakeups``)."""


def shard_selector(selector: str | None, shard: int, shards: int) -> str:
    buckets = ",".join(str(b) for b in buckets_of(shard, shards))
    return ",".join(filter(None, [selector, f"{SHARD_BUCKET_LABEL} in ({buckets})"]))


def orphan_selector(selector: str | None) -> str:
    return ",".join(filter(None, [selector, f"!{SHARD_BUCKET_LABEL}"]))


# Marks what the store keeps of an object without the shard-bucket label (a stub).
ORPHAN = "_orphan"


def orphan_stub(obj: dict[str, Any]) -> dict[str, Any]:
    """Of an unlabelled object, what labelling it takes: its identity and labels."""
    meta = obj.get("metadata") or {}
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "generation", "labels")
            if k in meta
        },
        ORPHAN: True,
    }


@dataclass
class Watches:
    """The informers of one replica: the cluster-wide ones, and those of each shard."""

    client: KubeClient
    watched: Sequence[Watched]
    on_event: Callable[[Watched, Event], None]
    namespaces: Sequence[str] = ()
    shards: int = 0  # > 1: the sharded kinds are watched per shard held
    stores: dict[str, Store] = field(default_factory=dict)
    _cluster: list[Informer] = field(default_factory=list)
    _by_shard: dict[int, list[Informer]] = field(default_factory=dict)
    _synced_shards: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        for watched in self.watched:
            self.stores.setdefault(watched.name, Store(index_of=watched.index))

    @property
    def sharded(self) -> bool:
        return self.shards > 1

    async def _informers(
        self, watched: Watched, selector: str | None, *, orphans: bool = False
    ) -> list[Informer]:
        # One per namespace watched (--namespace), or one for the whole cluster.
        namespaces: list[str | None] = [None]
        if self.namespaces:
            info = await self.client.resource_info(watched.api_version, watched.kind)
            if info.namespaced:
                namespaces = list(self.namespaces)

        def on_event(event: Event) -> None:
            # An object leaves the watch of unlabelled ones when its shard's holder labels
            # it: a DELETED there is no deletion (a real one leaves nothing to do either:
            # one with our finalizer was told of its deletionTimestamp before).
            if not (orphans and event.type == DELETED):
                self.on_event(watched, event)

        return [
            Informer(
                self.client,
                Source(watched.api_version, watched.kind, namespace, selector),
                self.stores[watched.name],
                # Every replica sees every unlabelled object: of those, a stub (enough to
                # label it), not the whole of thousands of them at once.
                keep=orphan_stub if orphans else watched.keep,
                on_event=on_event,
            )
            for namespace in namespaces
        ]

    async def start(self) -> None:
        """Start the cluster-wide informers (and, unsharded, every informer); return once
        each has listed."""
        for watched in self.watched:
            if not watched.sharded or not self.sharded:
                self._cluster += await self._informers(watched, watched.selector)
            elif watched.orphans:
                self._cluster += await self._informers(
                    watched, orphan_selector(watched.selector), orphans=True
                )
        await _started(self._cluster)

    async def start_shard(self, shard: int) -> bool:
        """Start the informers of a shard just gained; True once each has listed (False
        when the shard went away meanwhile)."""
        if shard in self._by_shard:
            return shard in self._synced_shards
        informers: list[Informer] = []
        self._by_shard[shard] = informers
        for watched in self.watched:
            if watched.sharded:
                selector = shard_selector(watched.selector, shard, self.shards)
                informers += await self._informers(watched, selector)
        if self._by_shard.get(shard) is informers:
            await _started(informers)
        if self._by_shard.get(shard) is not informers:
            return False  # stopped (stop_shard) before it had listed
        self._synced_shards.add(shard)
        log.info("shard %d: its objects listed (%s)", shard, _counts(informers))
        return True

    async def stop_shard(self, shard: int) -> None:
        """Stop the informers of a shard that went, and drop their objects."""
        self._synced_shards.discard(shard)
        informers = self._by_shard.pop(shard, [])
        for informer in informers:
            await informer.stop()

    def shard_synced(self, shard: int) -> bool:
        return shard in self._synced_shards

    async def stop(self) -> None:
        for shard in list(self._by_shard):
            await self.stop_shard(shard)
        for informer in self._cluster:
            await informer.stop()
        self._cluster.clear()

    def listings(self) -> int:
        """How many listings the informers made (the first ones, and after a 410)."""
        everyone = [*self._cluster, *(i for group in self._by_shard.values() for i in group)]
        return sum(i.listings for i in everyone)


async def _started(informers: Sequence[Informer]) -> None:
    for informer in informers:
        informer.start()
    await asyncio.gather(*(informer.settled.wait() for informer in informers))


def _counts(informers: Sequence[Informer]) -> str:
    return ", ".join(f"{len(i.store.held_by(i))} {i.source.kind}" for i in informers)
