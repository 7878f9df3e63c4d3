"""The plan of one resource, from the Workload's request to what to apply: every path
that plans a resource (the reconcile's, and the one that asks what a shared resource's
definer would plan) goes through ``plan_resource``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from berth.api import ClusterProvisioner, Environment, Workload
from berth.provision.match import match
from berth.provision.model import ResourcePlan
from berth.provision.plan import plan
from berth.render import resolve_params
from berth.render.outputs import Outputs


def plan_resource(
    workload: Workload,
    environment: Environment,
    name: str,
    outputs: Outputs,
    catalogue: Sequence[ClusterProvisioner] = (),
    services: Mapping[str, Any] | None = None,
) -> ResourcePlan:
    """Resolve → match → plan for resource ``name`` of ``workload``:

    1. its params, with the placeholders resolved from ``outputs`` (the outputs of the
       resources provisioned so far);
    2. its provisioner: the Environment's most specific, else the most specific of the
       cluster's ``catalogue`` that serves the Environment;
    3. the plan (``services``: the namespace's Workloads' Services, for templates).

    Raises ``RenderError`` — a ``PlaceholderError`` for params that wait for or misuse
    another resource's outputs, a ``ProvisionError`` for the rest; each carries the
    reason, the message and whether it may clear by itself (``transient``)."""
    params = resolve_params(workload, name, outputs)
    request = (workload.spec.resources or {})[name]
    chosen = match(name, request, environment.spec.provisioners, catalogue, environment)
    return plan(workload, environment, name, params, chosen, services)
