"""One fix to kopf's startup that makes a restart into thousands of objects linear.

At startup kopf holds every object's processing until all index handlers have run. Each
object, once indexed, drops its kind's toggle from the set the others wait on, and the
set wakes every waiting object — also when that toggle was dropped long ago and nothing
changed. With N objects that is N²/2 wake-ups, each taking the set's lock in turn: about
two minutes for 4,000 objects (1,000 Workloads and their children) on a small machine.

Dropping a toggle that is not in the set changes nothing anyone waits for, so it need
not wake anyone. ``install()`` makes it so, once, and only if kopf's ToggleSet still has
the shape this was written against (kopf 1.45: ``_toggles`` and ``_condition``).
"""

from __future__ import annotations

import logging
from typing import Any

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
