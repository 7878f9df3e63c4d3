"""The Workload's external URL, from its route resource (``status.url``).

A route resource (type ``route``) says where the Workload is reachable from outside:
``params.host`` (often ``${resources.<dns>.host}``) and ``params.path`` (default ``/``).
The URL is ``http://<host><path>`` of the first route by resource name. It never stops a
render: while the host's placeholder cannot be resolved yet, there is no URL.
"""

from __future__ import annotations

from berth.api.workload import Workload
from berth.render.errors import RenderError
from berth.render.outputs import Outputs
from berth.render.placeholders import resolve_params

ROUTE_TYPE = "route"


def route_url(workload: Workload, outputs: Outputs) -> str | None:
    """``http://<host><path>`` of the first route resource, or None."""
    resources = workload.spec.resources or {}
    for name in sorted(resources):
        if resources[name].type != ROUTE_TYPE:
            continue
        try:
            params = resolve_params(workload, name, outputs)
        except RenderError:
            return None
        host = params.get("host")
        path = params.get("path", "/")
        if not isinstance(host, str) or not host or not isinstance(path, str):
            return None
        if not path.startswith("/"):
            path = "/" + path
        return f"http://{host}{path}"
    return None
