"""Two adjustments to kopf for thousands of objects: a linear startup, and no essence.

**Startup.**
At startup kopf holds every object's processing until all index handlers have run. Each
object, once indexed, drops its kind's toggle from the set the others wait on, and the
set wakes every waiting object — also when that toggle was dropped long ago and nothing
changed. With N objects that is N²/2 wake-ups, each taking the set's lock in turn: about
two minutes for 4,000 objects (1,000 Workloads and their children) on a small machine.

Dropping a toggle that is not in the set changes nothing anyone waits for, so it need
not wake anyone. ``install()`` makes it so, once, and only if kopf's ToggleSet still has
the shape this was written against (kopf 1.45: ``_toggles`` and ``_condition``).

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
_installed = False


def install() -> bool:
    """Patch kopf's ToggleSet.drop_toggle; returns whether the patch is in place."""
    global _installed
    if _installed:
        return True
    try:
        from kopf._cogs.aiokits.aiotoggles import ToggleSet
    except ImportError:  # kopf moved it: run as it is
        log.warning("kopf's ToggleSet not found: startup stays quadratic in objects")
        return False
    original = ToggleSet.drop_toggle

    async def drop_toggle(self: Any, toggle: Any) -> None:
        toggles = getattr(self, "_toggles", None)
        if isinstance(toggles, set) and toggle not in toggles:
            return  # nothing changes: nobody to wake
        await original(self, toggle)

    ToggleSet.drop_toggle = drop_toggle  # type: ignore[method-assign]
    _installed = True
    return True


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
