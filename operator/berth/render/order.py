"""Score's container start order (``containers.*.before``) as Kubernetes init containers.

A container with ``before`` entries must be started, healthy or complete before the
containers it names start. Kubernetes starts init containers one by one, in list order,
before the Pod's other containers, so:

- a container whose entries all say ``complete`` becomes an init container that runs to
  completion;
- one whose entries say ``started`` or ``healthy`` becomes a sidecar (an init container
  with ``restartPolicy: Always``) that keeps running; for ``healthy`` its readiness (or
  liveness) probe is also its startup probe, so that the next container starts only once
  it succeeds.

Init containers start before all of the Pod's regular containers, which is at least as
early as asked.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from berth.api.container import Container
from berth.api.start_order import start_order
from berth.problems import Problem
from berth.reasons import Reason


def split_containers(
    containers: Mapping[str, Container], rendered: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Problem]]:
    """(init containers in start order, regular containers, problems)."""
    order = start_order({name: set(c.before or {}) for name, c in containers.items()}) or []
    by_name = {spec["name"]: spec for spec in rendered}
    problems: list[Problem] = []
    init: list[dict[str, Any]] = []
    for name in order:
        container = containers[name]
        spec = by_name[name]
        readies = {entry.ready for entry in (container.before or {}).values()}
        where = f"container {name!r}"
        if readies == {"complete"}:
            probes = [f for f in ("livenessProbe", "readinessProbe") if f in spec]
            if probes:
                problems.append(
                    Problem(
                        Reason.INVALID_BEFORE,
                        f"{where} runs to completion before the others start (before: ready: "
                        f"complete), so it cannot have a {' or '.join(probes)}; remove it",
                    )
                )
                continue
        elif "complete" in readies:
            problems.append(
                Problem(
                    Reason.INVALID_BEFORE,
                    f"{where}: its before entries mix ready: complete with "
                    f"{', '.join(sorted(readies - {'complete'}))}; a container either runs to "
                    "completion or keeps running, so use one kind for all its entries",
                )
            )
            continue
        else:
            spec = dict(spec, restartPolicy="Always")
            if "healthy" in readies:
                probe = spec.get("readinessProbe") or spec.get("livenessProbe")
                if probe is None:
                    problems.append(
                        Problem(
                            Reason.INVALID_BEFORE,
                            f"{where}: before: ready: healthy needs a readinessProbe or "
                            "livenessProbe to tell when the container is healthy; add one",
                        )
                    )
                    continue
                spec["startupProbe"] = copy.deepcopy(probe)
        init.append(spec)
    regular = [spec for spec in rendered if spec["name"] not in set(order)]
    return init, regular, problems
