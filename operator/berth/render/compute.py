"""Container compute resources: the Workload's own, over the Environment's defaults."""

from __future__ import annotations

from berth.api.container import Container, ResourceRequirements
from berth.api.environment import Environment
from berth.api.workload import Workload
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.quantity import parse_quantity


def effective_replicas(workload: Workload, environment: Environment) -> int:
    """spec.replicas, else the Environment's defaults.replicas, else 1."""
    if workload.spec.replicas is not None:
        return workload.spec.replicas
    return environment.spec.default_replicas()


def _defaults(environment: Environment) -> ResourceRequirements | None:
    defaults = environment.spec.defaults
    return defaults.container_resources if defaults is not None else None


def merged_resources(
    container_name: str, container: Container, environment: Environment
) -> tuple[dict[str, dict[str, str]], list[Problem]]:
    """Requests and limits of a container, with the Environment's defaults filled in.

    Merged key by key: the container's own value wins, a default fills a key the container
    does not set. When that would put a request above its limit, the defaulted side gives
    way: a defaulted request is lowered to the container's limit, a defaulted limit is
    raised to the container's request. A container (or defaults) whose own request is
    above its own limit is an InvalidResources problem.
    """
    own = container.resources or ResourceRequirements()
    defaults = _defaults(environment) or ResourceRequirements()
    merged: dict[str, dict[str, tuple[str, bool]]] = {}
    for part in ("requests", "limits"):
        values: dict[str, tuple[str, bool]] = {
            key: (str(value), False) for key, value in (getattr(defaults, part) or {}).items()
        }
        own_values = getattr(own, part) or {}
        values.update({key: (str(value), True) for key, value in own_values.items()})
        merged[part] = values
    problems: list[Problem] = []
    requests, limits = merged["requests"], merged["limits"]
    for key in sorted(set(requests) & set(limits)):
        (request, request_own), (limit, limit_own) = requests[key], limits[key]
        if parse_quantity(request) <= parse_quantity(limit):
            continue
        if limit_own and not request_own:
            requests[key] = (limit, False)
        elif request_own and not limit_own:
            limits[key] = (request, False)
        else:
            origin = "" if request_own else " (both from the Environment's defaults)"
            problems.append(
                Problem(
                    Reason.INVALID_RESOURCES,
                    f"container {container_name!r}: requests.{key} {request} is more than "
                    f"limits.{key} {limit}{origin}",
                )
            )
    result = {
        part: {key: value for key, (value, _) in sorted(values.items())}
        for part, values in merged.items()
        if values
    }
    return result, problems
