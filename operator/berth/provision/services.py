"""The Services of an Environment's Workloads, as provisioner templates see them.

``workload_services(bodies)`` turns Workload objects (as the API server has them) into
``{workload name: {"service": <Service name>, "ports": {<port name>: {"port", "targetPort",
"protocol"}}}}``. Pure; a Workload being deleted is left out; a spec that does not parse
gives what can be read from it (a Workload without ports has ``ports: {}``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from berth.names import SCORE_SERVICE_NAME_ANNOTATION


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def workload_services(bodies: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for body in bodies:
        metadata = _map(body.get("metadata"))
        name = metadata.get("name")
        if not isinstance(name, str) or metadata.get("deletionTimestamp"):
            continue
        spec = _map(body.get("spec"))
        annotations = _map(spec.get("metadata")).get("annotations")
        service = name
        if isinstance(annotations, Mapping) and isinstance(
            annotations.get(SCORE_SERVICE_NAME_ANNOTATION), str
        ):
            service = annotations[SCORE_SERVICE_NAME_ANNOTATION]
        ports: dict[str, dict[str, Any]] = {}
        declared = _map(_map(spec.get("service")).get("ports"))
        for port_name, port in sorted(declared.items()):
            if not isinstance(port, Mapping) or not isinstance(port.get("port"), int):
                continue
            target = port.get("targetPort")
            ports[str(port_name)] = {
                "port": port["port"],
                "targetPort": target if isinstance(target, int) else port["port"],
                "protocol": port.get("protocol")
                if isinstance(port.get("protocol"), str)
                else "TCP",
            }
        result[name] = {"service": service, "ports": ports}
    return dict(sorted(result.items()))
