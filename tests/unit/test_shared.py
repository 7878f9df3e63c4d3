"""One definition per shared resource, applied under a lock (berth.handlers.shared): who
asks for a shared resource, the definer's plan when it cannot be made now, and the
locks, which live only while they are used."""

from __future__ import annotations

import asyncio

from berth.handlers.context import DefinitionLocks
from berth.handlers.shared import definer_plan, users_of
from berth.provision.identity import identities_of_spec
from tests.unit.builders import NAMESPACE, environment
from tests.unit.world import POSTGRES, World


async def test_the_users_of_a_shared_resource_are_its_live_askers() -> None:
    world = World()
    shared = {"db": {"type": "postgres", "id": "main"}}
    world.add_workload("a", resources=shared)
    world.add_workload("b", resources=shared)
    world.add_workload("c", resources={"db": {"type": "postgres"}})
    going = world.add_workload("d", resources=shared)
    world.api.put({**going, "metadata": {**going["metadata"], "finalizers": ["x/y"]}})
    await world.api.delete("berth.dev/v1alpha1", "Workload", "d", NAMESPACE)
    await world.sync()
    identity = identities_of_spec("a", {"resources": shared})["db"]
    assert sorted(users_of(world.context.cache, NAMESPACE, identity)) == ["a", "b"]


def test_a_definer_whose_plan_cannot_be_made_now_is_no_definition() -> None:
    env = environment(provisioners=[POSTGRES])
    invalid = {"metadata": {"name": "x", "namespace": NAMESPACE}, "spec": {"containers": 1}}
    assert definer_plan(invalid, env, "any") is None
    waiting = {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": "x", "namespace": NAMESPACE},
        "spec": {
            "containers": {"main": {"image": "i"}},
            "resources": {
                "db": {
                    "type": "postgres",
                    "id": "main",
                    "params": {"storageGB": "${resources.o.port}"},
                },
                "o": {"type": "postgres"},
            },
        },
    }
    identity = identities_of_spec("x", waiting["spec"])["db"]
    assert definer_plan(waiting, env, identity) is None
    assert definer_plan(waiting, env, "not-asked-for") is None


async def test_a_definition_lock_is_held_by_one_at_a_time_and_pruned_after_use() -> None:
    locks = DefinitionLocks()
    order: list[str] = []
    first_in = asyncio.Event()
    go_on = asyncio.Event()

    async def first() -> None:
        async with locks.holding(NAMESPACE, "db"):
            first_in.set()
            await go_on.wait()
            order.append("first")

    async def second() -> None:
        await first_in.wait()
        async with locks.holding(NAMESPACE, "db"):
            order.append("second")

    async def elsewhere() -> None:  # another resource's lock: not held up
        await first_in.wait()
        async with locks.holding(NAMESPACE, "cache"):
            order.append("elsewhere")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_in.wait()
    await elsewhere()
    await asyncio.sleep(0)  # the second is waiting for db's lock now
    assert len(locks) == 1  # db's, held and waited for; cache's gone with its user
    go_on.set()
    await asyncio.gather(*tasks)
    assert order == ["elsewhere", "first", "second"]
    assert len(locks) == 0
