"""The order Score's ``containers.*.before`` entries ask for — an algorithm, not schema.

Both the Workload's validation (a cycle is refused at admission and by ``berth import``)
and render (the init containers' order, ``berth.render.order``) ask it, so it lives at
the API's level, below render. It knows container names only, not the models.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


def start_order(before: Mapping[str, Collection[str]]) -> list[str] | None:
    """The containers with before entries (``before``: each container's names of the
    containers it must start before), in an order that honours them (init containers run
    in list order), or None on a cycle. Ties are broken by name."""
    starters = sorted(name for name in before if before[name])
    # A container must come after every starter that names it in its before.
    after: dict[str, set[str]] = {name: set() for name in starters}
    for name in starters:
        for other in before[name]:
            if other in after:
                after[other].add(name)
    order: list[str] = []
    remaining = set(starters)
    while remaining:
        ready = sorted(name for name in remaining if not (after[name] & remaining))
        if not ready:
            return None
        order.append(ready[0])
        remaining.discard(ready[0])
    return order
