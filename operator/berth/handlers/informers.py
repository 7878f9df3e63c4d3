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

A kind is required (Berth cannot do its job without it: the operator starts reconciling
once each required kind has listed) or ``optional`` (a feature a cluster may not have
installed: Previews, Promotions). An optional kind the API server refuses to list (404:
its CRD is not installed; 403: RBAC does not grant it) holds nothing up: the operator
starts without it, says so once at error, with the fix, and its informer keeps trying;
once the kind can be listed its objects come in as any listing's do. ``available`` says
whether a kind's store holds what the cluster has (readers that would act on an empty
store as "there are none" ask first), and ``berth_watch_available`` shows it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from berth import metrics
from berth.coordination.shards import buckets_of
from berth.kube.client import ApiError, KubeClient
from berth.kube.informer import (
    DELETED,
    REFUSED,
    RETRY_SECONDS,
    Event,
    Informer,
    Source,
    Store,
    keep_whole,
)
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
    optional: bool = False
    """A feature's kind a cluster may not serve: the start does not wait for it."""

    @property
    def resource(self) -> str:
        """Its resource as RBAC and CRDs name it: ``promotions.berth.dev``, ``pods``."""
        group = self.api_version.rpartition("/")[0]
        plural = f"{self.kind.lower()}s"  # every kind watched makes its plural so
        return f"{plural}.{group}" if group else plural


def unavailable_message(watched: Watched, error: Exception) -> str:
    """What the operator says, once, when it cannot list a kind: which, why, the fix,
    and what it means for the operator."""
    kind, resource = watched.kind, watched.resource
    status = error.status if isinstance(error, ApiError) else None
    if status == 404 and "." in resource:
        why = (
            f"the API server does not serve it (404 NotFound): the CRD {resource} is not "
            "installed. Fix: install this release's CRDs (helm upgrade berth-crds, or "
            "kubectl apply --server-side -f crds/ from the chart)"
        )
    elif status == 404:
        why = f"the API server does not serve {kind} in {watched.api_version} (404 NotFound)"
    elif status == 403:
        why = (
            f"the API server forbids it (403 Forbidden: {getattr(error, 'message', error)}). "
            f"Fix: grant list and watch on {resource} to the operator's ServiceAccount (the "
            "chart's ClusterRole, or its Roles with operator.namespaces, do)"
        )
    else:
        why = f"{error}; the API server may be unreachable or overloaded"
    if watched.optional:
        then = (
            f"The operator runs without it: {kind} objects are not acted on until it can "
            "list them; it keeps trying, and takes them up as soon as it can"
        )
    else:
        then = (
            f"The operator cannot work without {kind} objects: it starts reconciling once "
            "it can list them, and keeps trying"
        )
    return f"cannot list {kind} ({resource}): {why}. {then}."


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
    # The kinds (by name) said to be unavailable, until they are available again: one
    # error per run of failures, not one per retry.
    _reported: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for watched in self.watched:
            self.stores.setdefault(watched.name, Store(index_of=watched.index))
            metrics.record_watch_available(watched.kind, False)  # nothing listed yet

    def available(self, name: str) -> bool:
        """Whether the store ``name`` holds what the cluster has of its kind: each of its
        informers has listed, and the API server refuses none now. False for a kind not
        watched (yet)."""
        store = self.stores.get(name)
        informers = [i for i in self._everyone() if i.store is store]
        return bool(informers) and all(i.available for i in informers)

    def _everyone(self) -> list[Informer]:
        return [*self._cluster, *(i for group in self._by_shard.values() for i in group)]

    def _on_state(self, watched: Watched, error: Exception | None, *, listed: bool) -> None:
        """An informer of ``watched`` listed (``error`` None) or failed (``listed``: after
        a first listing): the gauge follows, and a kind that cannot be listed is said so
        once, at error."""
        available = self.available(watched.name)
        metrics.record_watch_available(watched.kind, available)
        if error is None:
            if available and watched.name in self._reported:
                self._reported.discard(watched.name)
                log.info(
                    "%s (%s): listed, %d objects; watching it now",
                    watched.kind,
                    watched.resource,
                    len(self.stores[watched.name]),
                )
            return
        refused = isinstance(error, ApiError) and error.status in REFUSED
        # A required kind not listed yet holds the start up, whatever the reason.
        holding = not watched.optional and not listed
        if (refused or holding) and watched.name not in self._reported:
            self._reported.add(watched.name)
            log.error("%s", unavailable_message(watched, error))

    @property
    def sharded(self) -> bool:
        return self.shards > 1

    async def _informers(
        self, watched: Watched, selector: str | None, *, orphans: bool = False
    ) -> list[Informer]:
        # One per namespace watched (--namespace), or one for the whole cluster.
        namespaces: list[str | None] = [None]
        if self.namespaces and await self._namespaced(watched):
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
                on_state=lambda informer, error: self._on_state(
                    watched, error, listed=informer.synced.is_set()
                ),
            )
            for namespace in namespaces
        ]

    async def _namespaced(self, watched: Watched) -> bool:
        """Whether the kind is namespaced, as discovery says. An optional kind discovery
        does not know (its CRD not installed yet) is taken as namespaced: every optional
        kind of Berth's is (a unit test checks it against crds/), so it is watched in
        each namespace served, as it will be once installed. A required kind is waited
        for, said so once."""
        failures = 0
        while True:
            try:
                info = await self.client.resource_info(watched.api_version, watched.kind)
                return info.namespaced
            except ApiError as err:
                self._on_state(watched, err, listed=False)
                if watched.optional:
                    return True
                failures += 1
                await asyncio.sleep(min(RETRY_SECONDS[0] * 2 ** (failures - 1), RETRY_SECONDS[1]))

    async def start(self) -> None:
        """Start the cluster-wide informers (and, unsharded, every informer); return once
        each of a required kind has listed (the optional ones list when they can)."""
        required: list[Informer] = []
        for watched in self.watched:
            made: list[Informer] = []
            if not watched.sharded or not self.sharded:
                made = await self._informers(watched, watched.selector)
            elif watched.orphans:
                made = await self._informers(
                    watched, orphan_selector(watched.selector), orphans=True
                )
            self._cluster += made
            required += [] if watched.optional else made
        await _started(self._cluster, required)

    async def start_shard(self, shard: int) -> bool:
        """Start the informers of a shard just gained; True once each has listed (False
        when the shard went away meanwhile)."""
        if shard in self._by_shard:
            return shard in self._synced_shards
        informers: list[Informer] = []
        required: list[Informer] = []
        self._by_shard[shard] = informers
        for watched in self.watched:
            if watched.sharded:
                selector = shard_selector(watched.selector, shard, self.shards)
                made = await self._informers(watched, selector)
                informers += made
                required += [] if watched.optional else made
        if self._by_shard.get(shard) is informers:
            await _started(informers, required)
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
        return sum(i.listings for i in self._everyone())


async def _started(informers: Sequence[Informer], required: Sequence[Informer]) -> None:
    """Start ``informers``; return once each of ``required`` has listed (or stopped)."""
    for informer in informers:
        informer.start()
    await asyncio.gather(*(informer.settled.wait() for informer in required))


def _counts(informers: Sequence[Informer]) -> str:
    return ", ".join(f"{len(i.store.held_by(i))} {i.source.kind}" for i in informers)
