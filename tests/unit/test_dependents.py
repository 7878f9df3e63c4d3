"""Waiting is woken, not polled (berth.handlers.dependents and the wake-up rules): a
Workload whose template waits for another Workload is woken when that one appears; a
claim's change wakes its Workloads; what no watch tells of is still looked at on a timer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from berth.handlers import wakeups
from berth.handlers.dependents import ClaimWatch, Dependents
from berth.handlers.keys import WorkloadKey
from berth.handlers.provisioning import CLAIM_SAFETY_SECONDS, RESOURCE_POLL_SECONDS
from berth.kube.informer import Informers, WatchSpec
from berth.names import MANAGED_SELECTOR
from tests.unit.builders import NAMESPACE
from tests.unit.world import CLAIM_API, CLAIM_KIND, POSTGRES, WEB_SERVICE, World

CATALOGUE = Path(__file__).parents[2] / "charts" / "berth" / "catalogue"
A, B, C = (WorkloadKey(NAMESPACE, n) for n in ("a", "b", "c"))


def service_port() -> dict[str, Any]:
    """The catalogue's service-port, as an Environment's own provisioner."""
    doc = yaml.safe_load((CATALOGUE / "service-port.yaml").read_text())
    spec = {k: v for k, v in doc["spec"].items() if k != "description"}
    return {"name": "service-port", **spec}


def test_readers_are_woken_when_what_they_saw_changes() -> None:
    index = Dependents()
    assert not index.record(A, {"b": None})
    assert not index.record(C, {"b": 3})
    assert index.woken_by(NAMESPACE, "b", None) == [C]  # gone: C saw it, A did not
    assert index.woken_by(NAMESPACE, "b", 1) == [A, C]  # appeared (for A), changed (for C)
    assert index.woken_by(NAMESPACE, "b", 3) == [A]
    assert index.woken_by("elsewhere", "b", 1) == []
    index.forget(A)
    assert index.woken_by(NAMESPACE, "b", 1) == [C]
    # What changed while it was read: the reader must look again at once.
    assert index.record(A, {"b": None}, now={"b": 1})
    assert not index.record(A, {"b": 1}, now={"b": 1})
    assert len(index) == 2


def test_a_reader_of_every_workload_is_woken_by_any() -> None:
    index = Dependents()
    assert not index.record(A, {"b": 1}, every=True, now={"b": 1})
    assert index.woken_by(NAMESPACE, "new", 1) == [A]
    assert index.woken_by(NAMESPACE, "b", 1) == []
    assert index.woken_by(NAMESPACE, "b", None) == [A]
    assert index.record(A, {"b": 1}, every=True, now={"b": 1, "new": 1})
    index.forget(A)
    assert index.woken_by(NAMESPACE, "new", 1) == []


async def test_a_workload_waiting_for_another_is_not_polled_but_woken_when_it_appears() -> None:
    world = World()
    world.add_environment(provisioners=[service_port()])
    resources = {"billing": {"type": "service-port", "params": {"workload": "b", "port": "web"}}}
    world.add_workload("a", resources=resources)

    assert await world.reconcile("a") is None  # no timer: the wake-up rule will say

    assert world.condition("Ready", "a") == ("False", "Waiting")
    b = world.add_workload("b", service=WEB_SERVICE)
    assert wakeups.readers_of(world.context.dependents, b, deleted=False) == [A]
    await world.reconcile("a")
    assert world.condition("Ready", "a")[1] != "Waiting"
    # b's status moving wakes nobody; its spec changing (or going) wakes a again.
    await world.reconcile("b")
    b = world.workload_body("b")
    assert wakeups.readers_of(world.context.dependents, b, deleted=False) == []
    b = world.edit_workload("b", service={"ports": {"api": {"port": 81}}})
    assert wakeups.readers_of(world.context.dependents, b, deleted=False) == [A]
    assert wakeups.readers_of(world.context.dependents, b, deleted=True) == [A]
    # Deleted: a is forgotten.
    world.runtime.forget_workload(A)
    assert len(world.context.dependents) == 0


async def test_an_impossible_name_is_refused_not_waited_for() -> None:
    world = World()
    world.add_environment(provisioners=[service_port()])
    params = {"workload": "../sb/victim", "port": "web"}
    world.add_workload("a", resources={"billing": {"type": "service-port", "params": params}})
    assert await world.reconcile("a") is None
    assert world.condition("Ready", "a") == ("False", "ParamInvalid")
    assert world.condition("Stalled", "a") == ("True", "ParamInvalid")


# -- claims ----------------------------------------------------------------------------------


class _Synced:
    """An informer that has listed and is not failing (what ClaimWatch.watching reads)."""

    def __init__(self) -> None:
        self.synced = asyncio.Event()
        self.synced.set()
        self.failing = False


async def test_claim_kinds_in_use_are_watched_and_a_watched_claim_is_not_polled() -> None:
    world = World()
    informers = Informers(world.api, lambda spec, type_, obj: None)
    started: list[set[WatchSpec]] = []

    async def want(specs: Any) -> None:
        started.append(set(specs))
        informers.running = {spec: _Synced() for spec in specs}  # type: ignore[misc]

    informers.want = want  # type: ignore[method-assign]
    world.context.claims = ClaimWatch(informers)
    world.add_environment(provisioners=[POSTGRES])
    world.add_workload(resources={"db": {"type": "postgres"}})

    # Its first reconcile registers the kind (and the watch starts, not listed yet: look
    # again soon); the next one finds it watched: no poll, only the slow safety net.
    assert await world.reconcile() == RESOURCE_POLL_SECONDS
    assert started == [{WatchSpec(CLAIM_API, CLAIM_KIND, None, MANAGED_SELECTOR)}]
    assert world.context.claims.watching(CLAIM_API, CLAIM_KIND)
    assert await world.reconcile() == CLAIM_SAFETY_SECONDS
    assert len(started) == 1  # the same kinds: nothing started or stopped

    # The claim changes: its Workload is the one woken.
    (claim,) = world.claims()
    assert wakeups.users_of_claim(world.context.cache, claim) == [
        WorkloadKey(NAMESPACE, "checkout")
    ]

    # The Workload no longer asks for it: its watch stops.
    world.edit_workload(resources=None)
    await world.reconcile()
    assert started[-1] == set()


async def test_an_unwatched_claim_kind_is_polled_as_before() -> None:
    world = World()
    world.add_environment(provisioners=[POSTGRES])
    world.add_workload(resources={"db": {"type": "postgres"}})
    assert await world.reconcile() == RESOURCE_POLL_SECONDS
    assert not world.context.claims.watching(CLAIM_API, CLAIM_KIND)
    assert world.context.claims.kinds() == {(CLAIM_API, CLAIM_KIND)}


def test_a_shared_claim_wakes_every_workload_that_asks_for_its_resource() -> None:
    world = World()
    world.add_workload("a", resources={"db": {"type": "postgres", "id": "main"}})
    world.add_workload("b", resources={"db": {"type": "postgres", "id": "main"}})
    world.add_workload("c", resources={"db": {"type": "postgres"}})
    asyncio.run(world.sync())
    from berth.provision.identity import identities_of_spec

    identity = identities_of_spec("a", {"resources": {"db": {"type": "postgres", "id": "main"}}})
    claim = {
        "metadata": {
            "namespace": NAMESPACE,
            "labels": {"berth.dev/resource": identity["db"], "berth.dev/shared": "true"},
        }
    }
    assert wakeups.users_of_claim(world.context.cache, claim) == [A, B]
    assert wakeups.users_of_claim(world.context.cache, {"metadata": {"labels": {}}}) == []


async def test_a_claim_kind_is_watched_while_any_workload_uses_it() -> None:
    wanted: list[set[WatchSpec]] = []

    class Recording(Informers):
        async def want(self, specs: Any) -> None:
            wanted.append(set(specs))

    watch = ClaimWatch(Recording(World().api, lambda spec, type_, obj: None), ("team-a",))
    kind = (CLAIM_API, CLAIM_KIND)
    await watch.use(A, [kind])
    await watch.use(B, [kind])  # already watched: nothing started
    await watch.use(A, [kind])  # the same again: nothing at all
    await watch.forget(A)  # B still uses it
    assert wanted == [{WatchSpec(CLAIM_API, CLAIM_KIND, "team-a", MANAGED_SELECTOR)}]
    await watch.forget(B)
    assert wanted[-1] == set()
    assert watch.kinds() == set()
