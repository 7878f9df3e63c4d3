"""kopf adjusted for thousands of objects (berth.handlers.kopfpatch): its startup wakes its
waiters only when a toggle really goes, and no essence is copied for every event."""

from __future__ import annotations

import asyncio

import kopf
from kopf._cogs.aiokits.aiotoggles import ToggleSet

from berth.handlers import kopfpatch


def count_wakeups(toggles: ToggleSet) -> list[int]:
    """Count the set's wake-ups of its waiters (in a one-item list the test reads)."""
    wakeups = [0]
    notify_all = toggles._condition.notify_all

    def counting() -> None:
        wakeups[0] += 1
        notify_all()

    toggles._condition.notify_all = counting  # type: ignore[method-assign]
    return wakeups


async def test_dropping_an_absent_toggle_wakes_nobody_and_a_present_one_still_does() -> None:
    assert kopfpatch.install()
    toggles = ToggleSet(all)
    kind = await toggles.make_toggle(False, name="a kind")
    wakeups = count_wakeups(toggles)
    waiter = asyncio.create_task(toggles.wait_for(True))
    await asyncio.sleep(0)
    await toggles.drop_toggle(kind)  # the kind is indexed: the waiter goes on
    await asyncio.wait_for(waiter, 1)
    assert wakeups[0] == 1
    for _ in range(1000):  # every further object of that kind
        await toggles.drop_toggle(kind)
    assert wakeups[0] == 1
    assert kopfpatch.install()  # once only


async def test_a_startup_of_many_objects_wakes_its_waiters_once() -> None:
    """kopf's startup, played: a kind's listing toggle, then each object adds a toggle,
    drops it once indexed and waits for the whole set; the listing ends last."""
    assert kopfpatch.install()
    toggles = ToggleSet(all)
    listing = await toggles.make_toggle(False, name="the kind's listing")
    wakeups = count_wakeups(toggles)
    waiters = []
    for i in range(2000):
        toggle = await toggles.make_toggle(False, name=f"object {i}")
        await toggles.drop_toggle(toggle)
        waiters.append(asyncio.create_task(toggles.wait_for(True)))
    await asyncio.sleep(0)
    assert wakeups[0] == 0
    assert not any(w.done() for w in waiters)
    await toggles.drop_toggles([listing])  # every object and kind indexed: all go on
    await asyncio.wait_for(asyncio.gather(*waiters), 5)
    assert wakeups[0] == 1
    # A toggle added to a set that is on turns it off: that is news, and is told.
    late = await toggles.make_toggle(False, name="a late object")
    assert wakeups[0] == 2
    assert toggles.is_off()
    await toggles.drop_toggle(late)
    assert wakeups[0] == 3
    assert toggles.is_on()


def test_no_essence_copies_and_writes_nothing() -> None:
    body = kopf.Body({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"big": [1] * 100}})
    storage = kopfpatch.NoEssence()
    assert storage.build(body=body, extra_fields=["spec.big"]) == {}
    assert storage.fetch(body=body) is None
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=kopf.BodyEssence(spec={"x": 1}))
    assert not patch  # nothing would be written to the object
