"""Pure rendering: (Workload, Environment, resource outputs) -> desired manifests.

No kopf, no Kubernetes client, no clock, no I/O: same inputs, same manifests.
"""

from berth.render.errors import RenderError
from berth.render.labels import selector_labels, workload_labels
from berth.render.outputs import Outputs, OutputValue, SecretRef
from berth.render.placeholders import (
    PlaceholderError,
    Resolver,
    resolve_params,
    resource_dependencies,
    resource_order,
)
from berth.render.policy import Violation, check_policy
from berth.render.workload import RenderedWorkload, render_workload

__all__ = [
    "OutputValue",
    "Outputs",
    "PlaceholderError",
    "RenderError",
    "RenderedWorkload",
    "Resolver",
    "SecretRef",
    "Violation",
    "check_policy",
    "render_workload",
    "resolve_params",
    "resource_dependencies",
    "resource_order",
    "selector_labels",
    "workload_labels",
]
