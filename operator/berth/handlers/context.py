"""What a reconciler is given: a narrow view of the running operator.

A reconciler gets a ``Context`` — the client, the cache, the clock, the Event recorder,
the provisioning state and the few settings it reads — never the Runtime with its queue,
workers and gates. Everything it remembers between reconciles lives in these objects,
which the Runtime owns: a new Runtime (a test's) starts from nothing, and nothing is
shared by accident between two of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from berth.clock import Clock
from berth.handlers.cache import Cache
from berth.handlers.catalogue import Catalogue
from berth.handlers.dependents import ClaimWatch, Dependents
from berth.handlers.keys import WorkloadKey
from berth.handlers.refusals import RefusalMemory
from berth.handlers.rendered import Rendered
from berth.kube.client import KubeClient
from berth.kube.events import EventRecorder
from berth.provision import ClaimRef
from berth.registry.resolver import Resolver

# Called right after a claim is created, before any status lists it. Tests use it to
# stop the operator in that window (tests/statuscheck.py); in production it is None.
AfterClaimCreated = Callable[[ClaimRef], None]


class DefinitionLocks:
    """One lock per shared resource (namespace, identity): two Workloads of this process
    never read-then-write one resource's definition at once. A lock lives while someone
    holds or waits for it, no longer."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def holding(self, namespace: str, identity: str) -> AsyncIterator[None]:
        key = (namespace, identity)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Janitor:
    """Which namespaces were swept since the operator started: what a crash (or a change
    made while the operator was down) left behind is looked for once per namespace."""

    def __init__(self) -> None:
        self._swept: set[str] = set()

    def due(self, namespace: str) -> bool:
        return namespace not in self._swept

    def swept(self, namespace: str) -> None:
        self._swept.add(namespace)


@dataclass
class ProvisioningState:
    """What provisioning keeps between reconciles."""

    catalogue: Catalogue = field(default_factory=Catalogue)
    locks: DefinitionLocks = field(default_factory=DefinitionLocks)
    janitor: Janitor = field(default_factory=Janitor)
    after_claim_created: AfterClaimCreated | None = None


@dataclass
class Context:
    client: KubeClient
    cache: Cache
    # Where the reconcilers read the time (a settable one in unit tests).
    clock: Clock
    events: EventRecorder
    provisioning: ProvisioningState = field(default_factory=ProvisioningState)
    # The namespaces watched (--namespace); empty: the whole cluster.
    namespaces: tuple[str, ...] = ()
    # Bind the admission policies to each Environment (off: they are not installed).
    admission_bindings: bool = True
    # Environment name -> when (clock.monotonic) its status was last written.
    environment_status_written: dict[str, float] = field(default_factory=dict)
    # With --shards: each replica watches only Workloads labelled with its shards'
    # buckets, so a Workload without the label gets it from its shard's holder.
    sharded: bool = False
    # Whether this replica holds (and has listed) the Workloads of a namespace: always
    # without --shards; with them, only those of the shards it holds.
    holds_namespace: Callable[[str], bool] = field(default=lambda namespace: True)
    # What each Workload's children were last rendered from (berth.handlers.rendered).
    rendered: dict[WorkloadKey, Rendered] = field(default_factory=dict)
    # What the API server refused each Workload for good, not to be sent again.
    refusals: RefusalMemory = field(default_factory=RefusalMemory)
    # Which Workloads read which others (templates' ``workloads``): who is woken by whom.
    dependents: Dependents = field(default_factory=Dependents)
    # The claim kinds in use, and their watches (none in a unit test's Runtime).
    claims: ClaimWatch = field(default_factory=ClaimWatch)
    # Resolves image tags to digests at registries, for revisions whose Pods did not
    # report one (one HTTP session for the process; closed at shutdown).
    registry: Resolver = field(default_factory=Resolver)
