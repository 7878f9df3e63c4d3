"""Reproduce kopf's quadratic startup: every object indexed wakes every object waiting.

Runs kopf's own startup machinery — ``orchestration.spawn_missing_watchers``, the
watcher and workers of ``queueing`` and ``processing.process_resource_event`` with a
real index handler — for N objects of one resource, with only the watch stream replaced
(it yields the N objects as a listing, then "listed", then nothing). It counts how often
the operator's "indexed" ToggleSet wakes its waiters while the objects are listed, and
how long until every object's handler ran. Then it applies the fix (the same change as
``toggleset-wake-on-change.diff``, as a monkeypatch) and runs again.

    python hack/kopf-upstream/reproduce.py [--objects 2000]

It needs only kopf (1.45) installed; no cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any
from unittest import mock

import kopf
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.clients import watching
from kopf._cogs.structs import references
from kopf._core.engines import indexing
from kopf._core.intents import registries
from kopf._core.reactor import inventory, orchestration, processing

RESOURCE = references.Resource(
    group="example.dev", version="v1", plural="things", kind="Thing", namespaced=True
)


@dataclass
class Startup:
    objects: int
    wakeups: int  # notify_all() of the "indexed" ToggleSet while the objects come in
    seconds: float  # until every object's event handler ran


def _raw_event(index: int) -> dict[str, Any]:
    body = {
        "apiVersion": "example.dev/v1",
        "kind": "Thing",
        "metadata": {"name": f"thing-{index}", "namespace": "ns", "uid": f"uid-{index}"},
    }
    return {"type": None, "object": body}  # as a listing yields them


async def startup(objects: int, give_up_after: float = 600.0) -> Startup:
    """kopf's startup into ``objects`` objects of one indexed resource."""
    registry = registries.OperatorRegistry()
    handled: list[str] = []
    all_handled = asyncio.Event()

    @kopf.index("example.dev", "v1", "things", registry=registry)
    async def things(name: str, **_: Any) -> dict[str, str]:
        return {name: name}

    @kopf.on.event("example.dev", "v1", "things", registry=registry)
    async def seen(name: str, **_: Any) -> None:
        handled.append(name)  # runs only once every object of every kind is indexed
        if len(handled) == objects:
            all_handled.set()

    settings = kopf.OperatorSettings()
    settings.queueing.worker_limit = None
    settings.posting.enabled = False
    indexers = indexing.OperatorIndexers()
    indexers.ensure(registry._indexing.get_all_handlers())
    ensemble = orchestration.Ensemble(
        operator_indexed=aiotoggles.ToggleSet(all),
        operator_paused=aiotoggles.ToggleSet(any),
        peering_missing=aiotoggles.Toggle(),
    )
    go = asyncio.Event()

    async def listing(**_: Any) -> AsyncIterator[Any]:
        await go.wait()
        for index in range(objects):
            yield _raw_event(index)
        yield watching.Bookmark.LISTED
        await asyncio.Event().wait()  # then nothing happens, until cancelled

    processor = functools.partial(
        processing.process_resource_event,
        lifecycle=kopf.lifecycles.all_at_once,
        registry=registry,
        settings=settings,
        indexers=indexers,
        memories=inventory.ResourceMemories(),
        memobase=kopf.Memo(),
        event_queue=asyncio.Queue(),
    )
    with mock.patch.object(watching, "infinite_watch", listing):
        await orchestration.spawn_missing_watchers(
            processor=processor,
            settings=settings,
            indexed_resources=[RESOURCE],
            watched_resources=[RESOURCE],
            watched_namespaces=[None],
            ensemble=ensemble,
        )
        condition = ensemble.operator_indexed._condition
        wakeups = 0
        notify_all = condition.notify_all

        def counted() -> None:
            nonlocal wakeups
            wakeups += 1
            notify_all()

        condition.notify_all = counted  # type: ignore[method-assign]
        started = time.perf_counter()
        go.set()
        try:
            await asyncio.wait_for(all_handled.wait(), give_up_after)
        finally:
            seconds = time.perf_counter() - started
            tasks = list(ensemble.watcher_tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return Startup(objects, wakeups, seconds)


def apply_fix() -> None:
    """The fix, in place: ToggleSet wakes its waiters only when its state changes (the
    same change as toggleset-wake-on-change.diff)."""
    toggle_set = aiotoggles.ToggleSet

    async def make_toggle(
        self: Any, __val: bool = False, *, name: str | None = None
    ) -> aiotoggles.Toggle:
        toggle = aiotoggles.Toggle(__val, name=name, condition=self._condition)
        async with self._condition:
            was_on = self.is_on()
            self._toggles.add(toggle)
            if self.is_on() != was_on:
                self._condition.notify_all()
        return toggle

    async def drop_toggle(self: Any, toggle: aiotoggles.Toggle) -> None:
        await drop_toggles(self, [toggle])

    async def drop_toggles(self: Any, toggles: Iterable[aiotoggles.Toggle]) -> None:
        async with self._condition:
            was_on = self.is_on()
            self._toggles.difference_update(toggles)
            if self.is_on() != was_on:
                self._condition.notify_all()

    toggle_set.make_toggle = make_toggle  # type: ignore[method-assign]
    toggle_set.drop_toggle = drop_toggle  # type: ignore[method-assign]
    toggle_set.drop_toggles = drop_toggles  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=2000)
    args = parser.parse_args()
    before = asyncio.run(startup(args.objects))
    apply_fix()
    after = asyncio.run(startup(args.objects))
    print(f"kopf {kopf.__version__ if hasattr(kopf, '__version__') else ''}".strip())
    print(f"{'':<13}{'objects':>8}{'wake-ups':>10}{'seconds':>10}")
    for label, run in (("as installed", before), ("fixed", after)):
        print(f"{label:<13}{run.objects:>8}{run.wakeups:>10}{run.seconds:>10.2f}")
    return 0 if after.wakeups < before.wakeups else 1


if __name__ == "__main__":
    sys.exit(main())
