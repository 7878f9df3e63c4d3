"""What the operator knows of the cluster, fed by the informers (berth.kube.informer).

The caches hold the Workloads, the Environments and the children carrying the
inventory label. They can lag behind our own writes by a watch round-trip; the
``recent`` memory bridges that: after a write we remember the object as the server
returned it, and while the cache still shows the version from before the write, the
remembered one is used instead. So a reconcile right after a write sees its result,
and does not write again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from berth.handlers.keys import PreviewKey, PromotionKey, WorkloadKey
from berth.kube.children import ObjectKey
from berth.kube.informer import Store
from berth.names import (
    LAST_APPLIED_ANNOTATION,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    RESOURCE_LABEL,
    WORKLOAD_LABEL,
)
from berth.preview.inherit import preview_homes
from berth.render.labels import shard_bucket
from berth.render.pods import PodSummary


def slim_owner(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Workload or Environment as the cache keeps it: whole, but for what no reconcile
    reads and that can be as big as the rest — who wrote which field below the top level
    (managedFields, kept one level deep) and kubectl's copy of its last client-side
    apply."""
    result = dict(body)
    meta = dict(result.get("metadata") or {})
    # Who writes which top-level part stays (a preview tells its copies from Workloads
    # someone else wrote by it: berth.preview.copies), not the field paths below.
    fields = meta.pop("managedFields", None)
    if fields:
        meta["managedFields"] = [shallow_entry(e) for e in fields if isinstance(e, Mapping)]
    annotations = meta.get("annotations")
    if annotations and LAST_APPLIED_ANNOTATION in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED_ANNOTATION}
    result["metadata"] = meta
    return result


def shallow_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A managedFields entry with the top-level fields it owns, not the paths below."""
    result = {k: entry[k] for k in ("manager", "operation", "subresource") if k in entry}
    result["fieldsV1"] = {key: {} for key in entry.get("fieldsV1") or {}}
    return result


def resource_version(obj: Mapping[str, Any] | None) -> str | None:
    if obj is None:
        return None
    return str(obj.get("metadata", {}).get("resourceVersion") or "") or None


def _owner_of(key: ObjectKey, obj: Mapping[str, Any]) -> WorkloadKey | None:
    """The Workload a child belongs to, by its inventory label; None for the rest."""
    if key.kind in ("Workload", "Environment"):
        return None
    owner = (obj.get("metadata", {}).get("labels") or {}).get(WORKLOAD_LABEL)
    return WorkloadKey(key.namespace, str(owner)) if owner else None


@dataclass
class _Written:
    # The versions our writes replaced: the one the cache showed before the first, and
    # each one a later write of ours replaced before the watch caught up. While the cache
    # shows any of them, it is behind.
    stale_rvs: frozenset[str | None]
    fresh: dict[str, Any]  # what the server returned


# The stores the informers fill (berth.handlers.watch.WATCHED names them).
WORKLOADS = "workloads"
ENVIRONMENTS = "environments"
CLUSTER_PROVISIONERS = "clusterprovisioners"
CHILDREN = ("deployments", "services", "configmaps")
# The Pods of Workloads' Deployments, each as an OwnedPod (never the body).
PODS = "pods"
# Previews (requests), Promotions by (namespace, name), and PromotionApprovals, indexed by
# the Promotion they name (berth.handlers.watch.approval_of).
PREVIEWS = "previews"
PROMOTIONS = "promotions"
APPROVALS = "promotionapprovals"


class OwnedPod(NamedTuple):
    """What the cache keeps of a Pod: the Workload it is of (None: no Workload's), and
    a summary (a Pod's body is kilobytes, and there can be tens of thousands)."""

    owner: WorkloadKey | None
    summary: PodSummary


def child_owner(obj: Mapping[str, Any]) -> WorkloadKey | None:
    """The Workload a child belongs to, by its inventory label: the children's index."""
    return _owner_of(ObjectKey.of(obj), obj) if not _provisioned(obj) else None


def _provisioned(obj: Mapping[str, Any]) -> bool:
    # Objects provisioned for a resource are not the Workload's children: their fate is
    # the deletion policy's, not the prune's.
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or RESOURCE_LABEL in labels


def pod_owner_of(entry: OwnedPod) -> WorkloadKey | None:
    return entry.owner


def _store(stores: Mapping[str, Store], name: str) -> Store:
    found = stores.get(name)
    return found if found is not None else Store()


@dataclass
class Cache:
    """A view over the informers' stores plus the memory of our own recent writes.

    The informers list everything before the operator starts its workers (``attached``
    is set then), so the first reconcile already sees every Workload, Environment and
    child that exists.
    """

    stores: dict[str, Store] = field(default_factory=dict)
    attached: bool = False
    # Whether a store holds what the cluster has of its kind (Watches.available): an
    # optional kind may not be listable (its CRD not installed, RBAC), its store empty.
    _available: Callable[[str], bool] = field(default=lambda name: True, repr=False)
    _recent: dict[ObjectKey, _Written] = field(default_factory=dict)
    # The version each of our writes made, until its watch event comes back (an echo).
    _echoes: dict[ObjectKey, str] = field(default_factory=dict)
    # The keys in _recent of each Workload's children: a reconcile looks at its own only.
    _recent_children: dict[WorkloadKey, set[ObjectKey]] = field(default_factory=dict)
    # Each preview's namespace -> its base's, as of a count of the Environments' changes.
    _homes: tuple[int, dict[str, str]] = (-1, {})

    def attach(
        self, stores: Mapping[str, Store], available: Callable[[str], bool] | None = None
    ) -> None:
        """Read from these stores (the informers have listed them, but maybe the optional
        kinds': ``available`` says which hold what the cluster has)."""
        self.stores.update(stores)
        if available is not None:
            self._available = available
        self.attached = True

    def available(self, name: str) -> bool:
        """Whether the store ``name`` (PROMOTIONS...) holds what the cluster has: an
        empty one that is not says nothing of the cluster. Ask before acting on "there
        are none" in a way that cannot be undone."""
        return self._available(name)

    # -- our own writes ---------------------------------------------------------------

    def remember_write(self, before: Mapping[str, Any] | None, after: dict[str, Any]) -> None:
        key = ObjectKey.of(after)
        stale = frozenset({resource_version(before)})
        earlier = self._recent.get(key)
        if earlier is not None and resource_version(earlier.fresh) in stale:
            # A second write before the watch caught up with the first: the cache may
            # show what it showed before the first one, or the first one's result.
            stale |= earlier.stale_rvs
        self._recent[key] = _Written(stale, after)
        owner = _owner_of(key, after)
        if owner is not None:
            self._recent_children.setdefault(owner, set()).add(key)
        version = resource_version(after)
        if version is not None:
            self._echoes[key] = version

    def own_echo(self, obj: Mapping[str, Any]) -> bool:
        """True when a watch event only brings back what our own write made (the version
        the server returned us): it tells a reconcile nothing it did not know."""
        key = ObjectKey.of(obj)
        version = resource_version(obj)
        if self._echoes.get(key) != version:
            return False
        del self._echoes[key]  # each write comes back once
        written = self._recent.get(key)
        if written is not None and resource_version(written.fresh) == version:
            # The cache holds that very version now: the memory of the write (a whole
            # object) has done its work.
            self._forget_recent(key)
        return True

    def _forget_recent(self, key: ObjectKey) -> None:
        written = self._recent.pop(key, None)
        if written is not None:
            owner = _owner_of(key, written.fresh)
            if owner is not None:
                keys = self._recent_children.get(owner)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._recent_children[owner]

    def forget(self, obj: Mapping[str, Any]) -> None:
        """Drop the memory of a write; called when the object is seen deleted."""
        self._forget_recent(ObjectKey.of(obj))
        self._echoes.pop(ObjectKey.of(obj), None)

    def _fresh(self, cached: dict[str, Any] | None, key: ObjectKey) -> dict[str, Any] | None:
        written = self._recent.get(key)
        if written is None:
            return cached
        if resource_version(cached) in written.stale_rvs:
            return written.fresh
        # The watch has caught up (or someone else wrote since): trust the cache.
        self._forget_recent(key)
        return cached

    # -- reading ----------------------------------------------------------------------

    def workload(self, key: WorkloadKey) -> dict[str, Any] | None:
        found = _store(self.stores, WORKLOADS).get((key[0], key[1]))
        if found is None:
            return None
        return self._fresh(found, ObjectKey.of(found))

    def workload_keys(self) -> list[WorkloadKey]:
        return [WorkloadKey(ns, name) for ns, name in sorted(_store(self.stores, WORKLOADS))]

    def environment(self, name: str) -> dict[str, Any] | None:
        found = _store(self.stores, ENVIRONMENTS).get(("", name))
        if found is None:
            return None
        return self._fresh(found, ObjectKey.of(found))

    def environment_names(self) -> list[str]:
        return sorted(name for _, name in _store(self.stores, ENVIRONMENTS))

    def preview(self, key: PreviewKey) -> dict[str, Any] | None:
        found = _store(self.stores, PREVIEWS).get((key.namespace, key.name))
        if found is None:
            return None
        return self._fresh(found, ObjectKey.of(found))

    def preview_keys(self) -> list[PreviewKey]:
        return [PreviewKey(ns, name) for ns, name in sorted(_store(self.stores, PREVIEWS))]

    def previews_in(self, namespace: str) -> list[dict[str, Any]]:
        """The Previews (requests) of a namespace, by name."""
        found = []
        for ns, name in sorted(k for k in _store(self.stores, PREVIEWS) if k[0] == namespace):
            body = self.preview(PreviewKey(ns, name))
            if body is not None:
                found.append(body)
        return found

    def previews_of(self, base: str) -> list[dict[str, Any]]:
        """The preview Environments whose base is ``base``, by name."""
        found = []
        for name in self.environment_names():
            env = self.environment(name)
            spec = (env or {}).get("spec") or {}
            of = (spec.get("preview") or {}).get("base") if spec.get("type") == "preview" else None
            if env is not None and of == base:
                found.append(env)
        return found

    def cluster_provisioners(self) -> list[dict[str, Any]]:
        """Every ClusterProvisioner, by name."""
        store = _store(self.stores, CLUSTER_PROVISIONERS)
        return [dict(store.get(key)) for key in sorted(store)]

    def environments_for_namespace(self, namespace: str) -> list[dict[str, Any]]:
        """Environments claiming a namespace, oldest first (the oldest one owns it)."""
        found = []
        for name in self.environment_names():
            env = self.environment(name)
            if env is not None and env.get("spec", {}).get("namespace") == namespace:
                found.append(env)
        return sorted(
            found, key=lambda e: (e["metadata"].get("creationTimestamp", ""), e["metadata"]["name"])
        )

    def shard_bucket_of(self, namespace: str) -> int:
        """The shard bucket of a namespace's objects: its own (``shard_bucket``), but a
        preview's namespace is in its base's (``preview_homes``). Derived again only
        when an Environment changed: every key's shard is asked for at each resync."""
        store = _store(self.stores, ENVIRONMENTS)
        if self._homes[0] != store.changes:
            bodies = [store.get(key) for key in store]
            self._homes = (store.changes, preview_homes([b for b in bodies if b is not None]))
        return shard_bucket(self._homes[1].get(namespace, namespace))

    def workloads_in(self, namespace: str) -> list[dict[str, Any]]:
        store = _store(self.stores, WORKLOADS)
        result = []
        for key in sorted(k for k in store if k[0] == namespace):
            wl = self.workload(WorkloadKey(*key))
            if wl is not None:
                result.append(wl)
        return result

    def children_of(self, owner: WorkloadKey) -> list[dict[str, Any]]:
        cached: dict[ObjectKey, dict[str, Any]] = {}
        for name in CHILDREN:
            for obj in _store(self.stores, name).indexed(owner):
                cached[ObjectKey.of(obj)] = obj
        keys = set(cached) | self._recent_children.get(owner, set())
        result = []
        for key in sorted(keys):
            fresh = self._fresh(cached.get(key), key)
            if fresh is not None:
                result.append(fresh)
        return result

    def pods_of(self, owner: WorkloadKey) -> list[PodSummary]:
        """The summaries of a Workload's Pods, by name (what the watch last said)."""
        entries: list[OwnedPod] = _store(self.stores, PODS).indexed(owner)
        return sorted((e.summary for e in entries), key=lambda p: p.name)

    def promotion(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = _store(self.stores, PROMOTIONS).get((namespace, name))
        if found is None:
            return None
        return self._fresh(found, ObjectKey.of(found))

    def promotion_keys(self) -> list[PromotionKey]:
        return [PromotionKey(ns, name) for ns, name in sorted(_store(self.stores, PROMOTIONS))]

    def promotions(self) -> list[dict[str, Any]]:
        """Every Promotion, by namespace and name."""
        found = (self.promotion(ns, name) for ns, name in sorted(_store(self.stores, PROMOTIONS)))
        return [p for p in found if p is not None]

    def approvals_of(self, namespace: str, promotion: str) -> list[dict[str, Any]]:
        """The PromotionApprovals naming a Promotion."""
        return _store(self.stores, APPROVALS).indexed((namespace, promotion))
