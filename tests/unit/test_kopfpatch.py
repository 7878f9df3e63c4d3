"""kopf adjusted for thousands of objects (berth.handlers.kopfpatch): its startup wakes its
waiters only when a toggle really goes, and no essence is copied for every event.

The startup is measured on kopf's own code (hack/kopf-upstream/reproduce.py drives its
watcher, workers and event processing with a listing of N objects), and a hash of the
installed kopf's ToggleSet source says when kopf changed under the patch."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import kopf
import pytest
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.aiokits.aiotoggles import ToggleSet

from berth.handlers import kopfpatch

REPRODUCTION = Path(__file__).resolve().parents[2] / "hack" / "kopf-upstream" / "reproduce.py"


def reproduction() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kopf_startup_reproduction", REPRODUCTION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclass looks itself up there)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def patched() -> Iterator[None]:
    """The patch in place for the test, and kopf as it was after."""
    was_patched = hasattr(ToggleSet.make_toggle, kopfpatch.ORIGINAL)
    assert kopfpatch.install()
    yield
    if not was_patched:
        kopfpatch.uninstall()


def count_wakeups(toggles: ToggleSet) -> list[int]:
    """Count the set's wake-ups of its waiters (in a one-item list the test reads)."""
    wakeups = [0]
    notify_all = toggles._condition.notify_all

    def counting() -> None:
        wakeups[0] += 1
        notify_all()

    toggles._condition.notify_all = counting  # type: ignore[method-assign]
    return wakeups


def test_the_installed_kopf_is_the_one_the_patch_was_written_against() -> None:
    source = inspect.getsource(aiotoggles.Toggle) + inspect.getsource(aiotoggles.ToggleSet)
    found = hashlib.sha256(source.encode()).hexdigest()
    assert found == kopfpatch.KOPF_SOURCE_SHA256, (
        f"kopf {kopf.__version__}'s Toggle/ToggleSet (kopf/_cogs/aiokits/aiotoggles.py) are "
        "not the code berth/handlers/kopfpatch.py patches. Read kopf's new code: if it "
        "already wakes waiters only on a change of state, remove kopfpatch.install() and "
        "hack/kopf-upstream/; otherwise check that the patched methods still do all "
        "kopf's do, then set KOPF_SOURCE_SHA256 to "
        f"{found} and the kopf pin in pyproject.toml to this version."
    )


async def test_kopfs_own_startup_wakes_every_waiter_per_object_and_once_when_patched() -> None:
    """kopf's real startup code (reproduce.startup): as released, each object listed
    wakes the waiters twice (its toggle made, and dropped once indexed); patched, they
    are woken once, when the listing ends — for 2,000 objects as for a few."""
    startup = reproduction().startup
    kopfpatch.uninstall()
    try:
        as_released = await startup(200)
        assert as_released.wakeups == 2 * 200 + 1
        assert kopfpatch.install()
        fixed = await startup(2000)
        assert fixed.wakeups == 1
    finally:
        kopfpatch.uninstall()


@pytest.mark.usefixtures("patched")
async def test_dropping_an_absent_toggle_wakes_nobody_and_a_present_one_still_does() -> None:
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
    assert hasattr(ToggleSet.make_toggle, kopfpatch.ORIGINAL)


@pytest.mark.usefixtures("patched")
async def test_a_toggle_that_changes_the_state_is_told() -> None:
    toggles = ToggleSet(all)
    listing = await toggles.make_toggle(False, name="the kind's listing")
    wakeups = count_wakeups(toggles)
    await toggles.drop_toggles([listing])  # every object and kind indexed: told
    assert wakeups[0] == 1
    # A toggle added to a set that is on turns it off: that is news, and is told.
    late = await toggles.make_toggle(False, name="a late object")
    assert wakeups[0] == 2
    assert toggles.is_off()
    await toggles.drop_toggle(late)
    assert wakeups[0] == 3
    assert toggles.is_on()


def test_uninstall_puts_kopfs_own_methods_back() -> None:
    kopfpatch.uninstall()
    own = ToggleSet.make_toggle
    assert kopfpatch.install()
    assert ToggleSet.make_toggle is not own
    kopfpatch.uninstall()
    assert ToggleSet.make_toggle is own
    kopfpatch.uninstall()  # nothing to put back: nothing changes
    assert ToggleSet.make_toggle is own


def test_no_essence_copies_and_writes_nothing() -> None:
    body = kopf.Body({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"big": [1] * 100}})
    storage = kopfpatch.NoEssence()
    assert storage.build(body=body, extra_fields=["spec.big"]) == {}
    assert storage.fetch(body=body) is None
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=kopf.BodyEssence(spec={"x": 1}))
    assert not patch  # nothing would be written to the object
