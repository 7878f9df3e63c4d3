"""Two adjustments to kopf for thousands of objects: a linear startup, and no essence.

**Startup.**
At startup kopf holds every object's processing until all index handlers have run,
through one set of toggles: each object adds an "off" toggle as it is first seen, drops
it once indexed, then waits for the whole set to be "on". Every add and every drop wakes
every waiting object, and each of them re-evaluates the set: with N objects, N wake-ups
of up to N waiters, each taking the set's lock in turn. A restart into 5,000 Workloads
(some 20,000 objects with their children) spent more than 15 minutes there, 77 % of its
CPU in those wake-ups (py-spy).

Adding or dropping a toggle that leaves the set's state as it was changes nothing anyone
waits for, so it need not wake anyone: the waiters are woken once, when the set turns
"on". ``install()`` makes it so, once, and only if kopf's ToggleSet still has the shape
this was written against (kopf 1.45: ``_toggles``, ``_condition`` and ``is_on``). The same
change is prepared for kopf itself, with a reproduction: hack/kopf-upstream/. The kopf
version is pinned to the minor one this was written against, and a unit test fails when
the installed kopf's ``Toggle``/``ToggleSet`` source differs from ``KOPF_SOURCE_SHA256``.

**No essence.** For every watch event, kopf deep-copies the object into an "essence" and
diffs it against the last one it stored, to find the changes its on.create/on.update
handlers are called with. Berth registers none of those (only on.event and indexes, and
its own workers compare against their cache), so that copy is pure cost: a tenth of
the CPU of a restart into 300 Workloads, measured with py-spy. ``NoEssence`` is a
diff-base storage that keeps and builds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import kopf

log = logging.getLogger("berth")
# On each method we put in place: kopf's own method it replaces (so kopf's class carries
# the mark that it is patched, not this module).
ORIGINAL = "__berth_replaces__"
# sha256 of kopf 1.45.2's kopf/_cogs/aiokits/aiotoggles.py classes Toggle and ToggleSet
# (their source, as inspect.getsource gives it), read when this patch was written.
KOPF_SOURCE_SHA256 = "d6e5cbecbac307168c53aefc568911e37a1b59f6de406a026d1ddb0421daf5d0"
PATCHED_METHODS = ("make_toggle", "drop_toggle", "drop_toggles")


def install() -> bool:
    """Patch kopf's ToggleSet to wake waiters only when its state changes; returns
    whether the patch is in place. Called once at start (``berth.cli.run``); calling it
    again changes nothing."""
    try:
        from kopf._cogs.aiokits.aiotoggles import Toggle, ToggleSet
    except ImportError:  # kopf moved it: run as it is
        log.warning("kopf's ToggleSet not found: startup stays quadratic in objects")
        return False
    if hasattr(ToggleSet.make_toggle, ORIGINAL):
        return True
    probe = ToggleSet(all)
    if not (
        isinstance(getattr(probe, "_toggles", None), set)
        and hasattr(probe, "_condition")
        and callable(getattr(probe, "is_on", None))
    ):
        log.warning("kopf's ToggleSet changed shape: startup stays quadratic in objects")
        return False

    async def make_toggle(self: Any, __val: bool = False, *, name: str | None = None) -> Any:
        toggle = Toggle(__val, name=name, condition=self._condition)
        async with self._condition:
            before = self.is_on()
            self._toggles.add(toggle)
            if self.is_on() != before:
                self._condition.notify_all()
        return toggle

    async def drop_toggle(self: Any, toggle: Any) -> None:
        await drop_toggles(self, (toggle,))

    async def drop_toggles(self: Any, toggles: Iterable[Any]) -> None:
        async with self._condition:
            before = self.is_on()
            self._toggles.difference_update(toggles)
            if self.is_on() != before:
                self._condition.notify_all()

    for method in (make_toggle, drop_toggle, drop_toggles):
        setattr(method, ORIGINAL, getattr(ToggleSet, method.__name__))
        setattr(ToggleSet, method.__name__, method)
    return True


def uninstall() -> None:
    """Put kopf's own ToggleSet methods back (a test measures kopf as it is with it)."""
    from kopf._cogs.aiokits.aiotoggles import ToggleSet

    for name in PATCHED_METHODS:
        original = getattr(getattr(ToggleSet, name), ORIGINAL, None)
        if original is not None:
            setattr(ToggleSet, name, original)


class NoEssence(kopf.DiffBaseStorage):
    """A diff base that is always empty: for an operator without change handlers.

    kopf asks it for the last handled essence (none) and the current one (empty), so
    the diff is empty and nothing is copied. It never writes to the object.
    """

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None
