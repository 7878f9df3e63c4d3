"""The plan of one resource: the objects to apply and where its outputs come from.

``plan()`` is pure: (Workload, Environment, resource name, resolved params) -> a
``ResourcePlan``, or a ``ProvisionError``. The caller applies ``plan.manifests`` (server-side
apply, in ``plan.namespace``), reads ``plan.claim`` and the keys (never the values) of
``plan.secret_name``, and hands them to ``berth.provision.observe.outputs_from``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from berth.api.environment import Environment
from berth.api.workload import ResourceRequest, Workload
from berth.names import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    RESOURCE_LABEL,
    RESOURCE_TYPE_LABEL,
    SHARED_LABEL,
    SHARED_VALUE,
    WORKLOAD_LABEL,
)

ProvisionerKind = Literal["crossplane", "template", "secret"]


# -- where an output comes from ------------------------------------------------------------


@dataclass(frozen=True)
class FromSecret:
    """Key ``key`` of Secret ``secret_name`` (in the Environment's namespace): a secret output."""

    secret_name: str
    key: str


@dataclass(frozen=True)
class FromField:
    """A field of the claim, e.g. ``status.host``: a plain output."""

    path: str


@dataclass(frozen=True)
class FromValue:
    """A value known when planning (a constant, or rendered by a template): a plain output."""

    value: str


OutputSource = FromSecret | FromField | FromValue


@dataclass(frozen=True)
class OutputSpec:
    """An output the provisioner promises, and where it comes from.

    Every output that lives in a Secret is secret: render only ever references it with a
    secretKeyRef. Plain outputs come from the claim itself, a constant or a template."""

    name: str
    source: OutputSource

    @property
    def secret(self) -> bool:
        return isinstance(self.source, FromSecret)


@dataclass(frozen=True)
class ClaimRef:
    """The Crossplane claim of a plan, to be read back from the cluster."""

    api_version: str
    kind: str
    name: str
    namespace: str

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, kw_only=True)
class ResourcePlan:
    """How one Score resource of a Workload is provisioned.

    ``manifests`` are complete objects (apiVersion, kind, metadata.name/namespace/labels),
    in apply order. ``shared`` plans (resources with an id) carry no workload label: they
    are not any one Workload's to prune; the caller decides when the last user is gone.
    ``fingerprint`` digests the manifests and outputs: Workloads sharing a resource must
    plan the same fingerprint, or they would overwrite each other's claim."""

    resource: str
    type: str
    class_: str | None
    id: str | None
    identity: str
    shared: bool
    kind: ProvisionerKind
    provisioner: str
    reason: str
    namespace: str
    manifests: tuple[dict[str, Any], ...]
    outputs: tuple[OutputSpec, ...]
    claim: ClaimRef | None = None
    secret_name: str | None = None
    # The Workloads of the namespace a template looked up (its ``workloads``; "*": all).
    workloads_read: frozenset[str] = frozenset()
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        outputs = [
            [o.name, type(o.source).__name__, *vars(o.source).values()] for o in self.outputs
        ]
        text = json.dumps([list(self.manifests), outputs], sort_keys=True, separators=(",", ":"))
        object.__setattr__(self, "fingerprint", hashlib.sha256(text.encode()).hexdigest()[:16])

    def output(self, name: str) -> OutputSpec | None:
        return next((output for output in self.outputs if output.name == name), None)


# -- shared pieces ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PlanContext:
    """Everything a provisioner kind needs to plan one resource."""

    workload: Workload
    environment: Environment
    resource: str
    request: ResourceRequest
    params: Mapping[str, Any]
    provisioner: str
    reason: str
    identity: str
    shared: bool
    services: Mapping[str, Any] = field(default_factory=dict)
    """The Environment's Workloads' Services (see ``berth.provision.services``)."""

    @property
    def namespace(self) -> str:
        return self.environment.spec.namespace

    def labels(self) -> dict[str, str]:
        """Labels of every object provisioned for the resource (a fresh dict each call)."""
        labels = {
            MANAGED_BY_LABEL: MANAGED_BY_VALUE,
            RESOURCE_LABEL: self.identity,
            RESOURCE_TYPE_LABEL: self.request.type,
        }
        if self.shared:
            labels[SHARED_LABEL] = SHARED_VALUE
        else:
            labels[WORKLOAD_LABEL] = self.workload.metadata.name
        return labels

    def finish(
        self,
        kind: ProvisionerKind,
        manifests: list[dict[str, Any]],
        outputs: list[OutputSpec],
        *,
        claim: ClaimRef | None = None,
        secret_name: str | None = None,
        workloads_read: frozenset[str] = frozenset(),
    ) -> ResourcePlan:
        return ResourcePlan(
            resource=self.resource,
            type=self.request.type,
            class_=self.request.class_,
            id=self.request.id,
            identity=self.identity,
            shared=self.shared,
            kind=kind,
            provisioner=self.provisioner,
            reason=self.reason,
            namespace=self.namespace,
            manifests=tuple(manifests),
            outputs=tuple(outputs),
            claim=claim,
            secret_name=secret_name,
            workloads_read=workloads_read,
        )


def promised_outputs(declared: list[str] | None, *more: Mapping[str, Any] | None) -> list[str]:
    """The outputs a provisioner promises: its ``outputs`` list in order, then any other
    output its kind-specific block names, sorted. No duplicates."""
    result: list[str] = []
    for name in declared or []:
        if name not in result:
            result.append(name)
    extra: set[str] = set()
    for mapping in more:
        extra |= set(mapping or {})
    result.extend(sorted(extra - set(result)))
    return result
