"""kopf's startup wakes its waiters only when a toggle really goes (berth.handlers.kopfpatch)."""

from __future__ import annotations

import asyncio

from kopf._cogs.aiokits.aiotoggles import ToggleSet

from berth.handlers import kopfpatch


async def test_dropping_an_absent_toggle_wakes_nobody_and_a_present_one_still_does() -> None:
    assert kopfpatch.install()
    toggles = ToggleSet(all)
    kind = await toggles.make_toggle(False, name="a kind")
    wakeups = 0
    notify_all = toggles._condition.notify_all

    def counting() -> None:
        nonlocal wakeups
        wakeups += 1
        notify_all()

    toggles._condition.notify_all = counting  # type: ignore[method-assign]
    waiter = asyncio.create_task(toggles.wait_for(True))
    await asyncio.sleep(0)
    await toggles.drop_toggle(kind)  # the kind is indexed: the waiter goes on
    await asyncio.wait_for(waiter, 1)
    assert wakeups == 1
    for _ in range(1000):  # every further object of that kind
        await toggles.drop_toggle(kind)
    assert wakeups == 1
    assert kopfpatch.install()  # once only
