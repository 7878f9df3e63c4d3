"""Who waits for whom: what woken Workloads depend on, beyond their own inputs.

Two things a Workload's resources can wait on are not its own spec, its Environment or
its provisioners, and neither is polled:

- **another Workload** — a provisioner template that looks Workloads up (``workloads``:
  ``service-port`` waits until its Workload exists, and rejects a port it does not
  have). ``Dependents`` records, per Workload, the names its templates looked up and
  what it saw of each: the generation, or None while absent (or being deleted). When
  one of them is seen otherwise — it appears, its spec changes, it goes — the wake-up
  rule ``berth.handlers.wakeups.readers_of`` wakes the Workloads that read it. A
  template that walked every Workload (``*``) is woken by any of them appearing,
  changing or going.
- **a claim** — Crossplane's work: ``ClaimWatch`` keeps a watch of each claim kind in
  use (``berth.kube.informer``, label-selected on Berth's managed-by label), started
  when a Workload first uses the kind and stopped when none does; a claim's change
  wakes its Workloads (``berth.handlers.wakeups.users_of_claim``). Where a kind cannot be
  watched (the operator may not list it), its claims are polled as before.

Both belong to the Runtime (on the reconcilers' ``Context``), and forget a Workload when
it is deleted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from berth.handlers.keys import WorkloadKey
from berth.kube.informer import Informers, WatchSpec
from berth.names import MANAGED_SELECTOR

# What a reader saw of a Workload: its generation, or None (absent, or being deleted).
Seen = int | None
EVERY = "*"


def seen_of(body: Mapping[str, Any] | None) -> Seen:
    """What a template sees of a Workload: nothing while it is absent or being deleted
    (``berth.provision.services`` leaves those out), otherwise its spec's generation."""
    if body is None:
        return None
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None
    return int(meta.get("generation") or 0)


class Dependents:
    """Which Workloads read which other Workloads of their namespace, and what they saw."""

    def __init__(self) -> None:
        self._reads: dict[WorkloadKey, dict[str, Seen]] = {}
        self._every: set[WorkloadKey] = set()
        self._readers: dict[tuple[str, str], set[WorkloadKey]] = {}

    def __len__(self) -> int:
        return len(self._reads)

    def record(
        self,
        reader: WorkloadKey,
        seen: Mapping[str, Seen],
        *,
        every: bool = False,
        now: Mapping[str, Seen] | None = None,
    ) -> bool:
        """Remember what ``reader`` read (``every``: all of its namespace, ``seen`` then
        holding each one there was). Returns True when what it read has changed already
        (``now``: the same names as the cache has them at this moment): it read a moment
        too early, and must look again."""
        self.forget(reader)
        if not seen and not every:
            return False
        self._reads[reader] = dict(seen)
        names = [EVERY] if every else list(seen)
        if every:
            self._every.add(reader)
        for name in names:
            self._readers.setdefault((reader.namespace, name), set()).add(reader)
        if now is None:
            return False
        return any(now.get(name) != value for name, value in seen.items()) or (
            every and bool(set(now) - set(seen))
        )

    def forget(self, reader: WorkloadKey) -> None:
        seen = self._reads.pop(reader, None)
        if seen is None:
            return
        names = [EVERY] if reader in self._every else list(seen)
        self._every.discard(reader)
        for name in names:
            self._drop((reader.namespace, name), reader)

    def _drop(self, key: tuple[str, str], reader: WorkloadKey) -> None:
        readers = self._readers.get(key)
        if readers is not None:
            readers.discard(reader)
            if not readers:
                del self._readers[key]

    def woken_by(self, namespace: str, name: str, now: Seen) -> list[WorkloadKey]:
        """The readers of Workload ``name`` that saw it otherwise than ``now``."""
        found = set()
        for key in ((namespace, name), (namespace, EVERY)):
            for reader in self._readers.get(key, ()):
                if reader.name != name and self._reads[reader].get(name) != now:
                    found.add(reader)
        return sorted(found)


ClaimKind = tuple[str, str]  # (apiVersion, kind)


class ClaimWatch:
    """The claim kinds each Workload uses, and a watch of each kind in use. With no
    ``informers`` (a unit test's Runtime), it only keeps the record."""

    def __init__(
        self, informers: Informers | None = None, namespaces: tuple[str, ...] = ()
    ) -> None:
        self.informers = informers
        # The namespaces watched (--namespace); empty: the whole cluster.
        self.namespaces = namespaces
        self._kinds: dict[WorkloadKey, frozenset[ClaimKind]] = {}
        # How many Workloads use each kind: a reconcile's update is as cheap as its own
        # kinds, however many Workloads there are.
        self._users: Counter[ClaimKind] = Counter()

    def kinds(self) -> set[ClaimKind]:
        return set(self._users)

    def specs(self) -> set[WatchSpec]:
        where: Iterable[str | None] = self.namespaces or (None,)
        return {
            WatchSpec(api_version, kind, namespace, MANAGED_SELECTOR)
            for api_version, kind in self._users
            for namespace in where
        }

    async def use(self, key: WorkloadKey, kinds: Iterable[ClaimKind]) -> None:
        """Record the claim kinds ``key`` uses now; start or stop watches to match."""
        used = frozenset(kinds)
        before = self._kinds.get(key, frozenset())
        if used == before:
            return
        if used:
            self._kinds[key] = used
        else:
            self._kinds.pop(key, None)
        self._users.update(used - before)
        self._users.subtract(before - used)
        gone = [kind for kind in before - used if self._users[kind] <= 0]
        for kind in gone:
            del self._users[kind]
        came = any(self._users[kind] == 1 for kind in used - before)
        if self.informers is not None and (gone or came):
            await self.informers.want(self.specs())

    async def forget(self, key: WorkloadKey) -> None:
        await self.use(key, ())

    def watching(self, api_version: str, kind: str) -> bool:
        """Every watch of this kind has listed, and none is failing: its claims' changes
        wake their Workloads, and they need not be polled."""
        if self.informers is None:
            return False
        running = [
            informer
            for spec, informer in self.informers.running.items()
            if (spec.api_version, spec.kind) == (api_version, kind)
        ]
        return bool(running) and all(i.synced.is_set() and not i.failing for i in running)
