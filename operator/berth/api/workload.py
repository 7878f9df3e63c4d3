"""The Workload custom resource: a Score v1b1 workload plus two Berth extensions.

``spec`` follows the Score specification (containers, service, resources, metadata), so a
Score file converts into a Workload without loss. Berth adds ``spec.environment`` (which
Environment the Workload runs in) and ``spec.replicas``. A container's own fields are
``berth.api.container``'s.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from berth.api.common import (
    API_VERSION,
    CONDITIONS_LIST_EXTRA,
    LABEL_VALUE_PATTERN,
    AnnotationKey,
    BerthModel,
    Condition,
    ContainerName,
    ObjectMeta,
    PortName,
    ResourceName,
    StatusModel,
    status_as_read,
)
from berth.api.container import MAX_CONTAINERS, Container
from berth.api.revision import CurrentRevision, HistoryEntry
from berth.api.start_order import start_order
from berth.names import (
    BACKSTAGE_KUBERNETES_ID,
    SCORE_KIND_ANNOTATION,
    SCORE_SERVICE_NAME_ANNOTATION,
)
from berth.reasons import Reason

# Score's resource type and class: letters, digits and '-', at most 63 characters.
_TYPE_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
# Score's resource id: dot-separated DNS-like labels.
_ID_PATTERN = r"^[a-z0-9]+(-+[a-z0-9]+)*(\.[a-z0-9]+(-+[a-z0-9]+)*)*$"

# A Deployment's replicas is an int32; larger numbers would wrap around on the way.
MAX_REPLICAS = 2**31 - 1
MAX_RESOURCES = 128
MAX_PORTS = 64
MAX_ANNOTATIONS = 64

# What score-k8s's workload annotations (berth.names.SCORE_*) may say, as Berth reads them.
SUPPORTED_KINDS = ("Deployment",)
_SERVICE_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

KIND_MESSAGE = (
    f"annotation {SCORE_KIND_ANNOTATION}: Berth runs every Workload as a Deployment; "
    "StatefulSet and other kinds are not supported (remove the annotation, or set it to "
    "Deployment; keep state in resources such as a volume of class persistent)"
)
SERVICE_NAME_MESSAGE = (
    f"annotation {SCORE_SERVICE_NAME_ANNOTATION} must be a DNS-1035 label (at most 63 lowercase "
    "letters, digits and '-', starting with a letter): it names the Workload's Service"
)
COMPONENT_MESSAGE = (
    f"annotation {BACKSTAGE_KUBERNETES_ID} names the Backstage component the workload is part "
    "of and becomes a label on its objects: at most 63 letters, digits, '-', '_' and '.', "
    "starting and ending with a letter or digit"
)


def is_label_value(text: str) -> bool:
    """Whether Kubernetes accepts ``text`` as a (non-empty) label value."""
    return re.match(LABEL_VALUE_PATTERN, text) is not None


class WorkloadMetadata(BerthModel):
    """Score workload metadata. Any extra keys are kept and can be referenced with
    ${metadata.<key>} placeholders."""

    model_config = ConfigDict(extra="allow")

    annotations: dict[AnnotationKey, str] | None = Field(
        None,
        max_length=MAX_ANNOTATIONS,
        description=(
            "Annotations for the workload; Berth puts them on the Pod template. "
            "Reference them with ${metadata.annotations.<key>}. score-k8s's "
            f"{SCORE_KIND_ANNOTATION} (Deployment only) and {SCORE_SERVICE_NAME_ANNOTATION} (the "
            f"Service's name) are honoured; {BACKSTAGE_KUBERNETES_ID} names the Backstage "
            "component (default: the Workload's name)."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"!('{SCORE_KIND_ANNOTATION}' in self) || "
                    f"self['{SCORE_KIND_ANNOTATION}'] in {list(SUPPORTED_KINDS)!r}",
                    "message": KIND_MESSAGE,
                },
            ]
        },
    )

    @field_validator("annotations")
    @classmethod
    def _annotations_berth_reads(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        value = value or {}
        kind = value.get(SCORE_KIND_ANNOTATION)
        if kind is not None and kind not in SUPPORTED_KINDS:
            raise ValueError(f"{KIND_MESSAGE}; found {kind!r}")
        service = value.get(SCORE_SERVICE_NAME_ANNOTATION)
        if service is not None and (
            len(service) > 63 or not re.match(_SERVICE_NAME_PATTERN, service)
        ):
            raise ValueError(f"{SERVICE_NAME_MESSAGE}; found {service!r}")
        component = value.get(BACKSTAGE_KUBERNETES_ID)
        if component is not None and not is_label_value(component):
            raise ValueError(f"{COMPONENT_MESSAGE}; found {component!r}")
        return value or None


class ServicePort(BerthModel):
    """A port the workload's Service publishes."""

    port: int = Field(ge=1, le=65535, description="Port the Service listens on.")
    target_port: int | None = Field(
        None, ge=1, le=65535, description="Port of the container. Default: port."
    )
    protocol: Literal["TCP", "UDP", "SCTP"] = Field("TCP", description="Transport protocol.")


class Service(BerthModel):
    """The network service the workload provides."""

    ports: dict[PortName, ServicePort] | None = Field(
        None,
        max_length=MAX_PORTS,
        description="Named ports of the Service. A Service is created only when set.",
    )


class ResourceMetadata(BerthModel):
    """Metadata of a resource request; extra keys are allowed."""

    model_config = ConfigDict(extra="allow")

    annotations: dict[AnnotationKey, str] | None = Field(
        None, max_length=MAX_ANNOTATIONS, description="Annotations for the resource."
    )


class ResourceRequest(BerthModel):
    """A dependency of the workload, such as a database, provided by the Environment."""

    type: str = Field(
        pattern=_TYPE_PATTERN,
        max_length=63,
        description="Resource type, for example postgres, redis, route or volume.",
    )
    class_: str | None = Field(
        None,
        alias="class",
        pattern=_TYPE_PATTERN,
        max_length=63,
        description="Optional specialisation of the type, for example large.",
    )
    id: str | None = Field(
        None,
        pattern=_ID_PATTERN,
        max_length=63,
        description="Optional id; resources with the same type, class and id are shared.",
    )
    params: dict[str, Any] | None = Field(
        None,
        description=(
            "Parameters for the provisioner; values of any type. String values may "
            "contain ${resources.<name>.<output>} placeholders."
        ),
    )
    metadata: ResourceMetadata | None = Field(None, description="Resource metadata.")


class WorkloadSpec(BerthModel):
    """Desired state: a Score v1b1 workload plus environment and replicas."""

    metadata: WorkloadMetadata | None = Field(
        None, description="Score workload metadata (annotations and free-form keys)."
    )
    containers: dict[ContainerName, Container] = Field(
        min_length=1,
        max_length=MAX_CONTAINERS,
        description="The containers of the workload, by name. At least one.",
    )
    service: Service | None = Field(None, description="The network service, if any.")
    resources: dict[ResourceName, ResourceRequest] | None = Field(
        None,
        max_length=MAX_RESOURCES,
        description="Dependencies, by name; reference their outputs as "
        "${resources.<name>.<output>}.",
    )
    environment: str | None = Field(
        None,
        min_length=1,
        description=(
            "Name of the Environment to run in. Default: the Environment whose "
            "spec.namespace is this Workload's namespace."
        ),
    )
    replicas: int | None = Field(
        None,
        ge=0,
        le=MAX_REPLICAS,
        description="Number of Pods. Default: the Environment's defaults.replicas.",
    )

    @model_validator(mode="after")
    def _valid_before(self) -> WorkloadSpec:
        containers = self.containers
        problems: list[str] = []
        for name in sorted(containers):
            for other in sorted(containers[name].before or {}):
                if other == name:
                    problems.append(f"containers.{name}.before names the container itself")
                elif other not in containers:
                    problems.append(
                        f"containers.{name}.before names {other!r}, which is not a container "
                        f"of the workload (containers: {', '.join(sorted(containers))})"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        if all(containers[name].before for name in containers):
            raise ValueError(
                "every container has a before: at least one container must start last "
                "(before entries must not form a cycle)"
            )
        order = start_order({name: set(c.before or {}) for name, c in containers.items()})
        if order is None:
            raise ValueError("the containers' before entries form a cycle")
        return self

    def service_name(self, workload_name: str) -> str:
        """The name of the Workload's Service: score-k8s's service-name annotation, else
        the Workload's name."""
        annotations = (self.metadata.annotations if self.metadata else None) or {}
        return annotations.get(SCORE_SERVICE_NAME_ANNOTATION) or workload_name


class ReplicaStatus(StatusModel):
    """Pod counts of the workload."""

    desired: int | None = Field(None, ge=0, description="Pods wanted.")
    ready: int | None = Field(None, ge=0, description="Pods ready.")
    available: int | None = Field(None, ge=0, description="Pods available.")
    summary: str | None = Field(
        None, description="ready/desired, for example 2/3 (shown by kubectl get)."
    )

    @classmethod
    def of(cls, desired: int, ready: int, available: int) -> ReplicaStatus:
        """Build a ReplicaStatus with its summary filled in."""
        return cls(desired=desired, ready=ready, available=available, summary=f"{ready}/{desired}")


class ResourceStatus(StatusModel):
    """What Berth did for one Score resource."""

    name: str = Field(description="Name of the resource in spec.resources.")
    type: str | None = Field(None, description="Type of the resource.")
    provisioner: str | None = Field(None, description="The provisioner chosen for it.")
    reason: str | None = Field(
        None, description="Why the resource is in its state, as a stable CamelCase word."
    )
    message: str | None = Field(None, description="Details for a human.")
    state: str | None = Field(
        None, description="Provisioning state, for example Pending, Ready or Failed."
    )
    outputs: list[str] | None = Field(
        None, description="Names of the outputs available (never their values)."
    )
    class_: str | None = Field(None, alias="class", description="Class of the resource.")
    id: str | None = Field(None, description="Id of a resource shared in the Environment.")
    selection: str | None = Field(
        None, description="Why this provisioner was chosen among the Environment's."
    )
    claim: ObjectReference | None = Field(
        None, description="The Crossplane claim that provides the resource, if any."
    )
    objects: list[ObjectReference] | None = Field(
        None, description="Every object Berth applied for the resource (its inventory)."
    )


class ObjectReference(StatusModel):
    """A Kubernetes object managed for the workload."""

    api_version: str = Field(description="API version of the object.")
    kind: str = Field(description="Kind of the object.")
    name: str = Field(description="Name of the object.")
    namespace: str | None = Field(None, description="Namespace of the object.")


class RenderedFrom(StatusModel):
    """What the Workload's children were last rendered from, when that reconcile ended
    well: a reconcile (after a restart, say) that finds the same inputs, and the
    children untouched since, need not render them again."""

    generation: int = Field(ge=0, description="The Workload's metadata.generation.")
    environment_uid: str = Field(description="The uid of its Environment.")
    environment_generation: int = Field(ge=0, description="Its Environment's metadata.generation.")
    operator_version: str = Field(
        description="The version of Berth that rendered them (and of its rendering code)."
    )


class WorkloadStatus(StatusModel):
    """Observed state of a Workload."""

    observed_generation: int | None = Field(
        None, ge=0, description="The metadata.generation this status describes."
    )
    conditions: list[Condition] | None = Field(
        None,
        description="Ready, Reconciling and Stalled (kstatus), plus finer conditions.",
        json_schema_extra=CONDITIONS_LIST_EXTRA,
    )
    replicas: ReplicaStatus | None = Field(None, description="Pod counts.")
    environment: str | None = Field(None, description="The Environment the workload runs in.")
    endpoint: str | None = Field(
        None, description="In-cluster address of the first service port (host:port)."
    )
    url: str | None = Field(None, description="External URL, when a route exposes the workload.")
    resources: list[ResourceStatus] | None = Field(
        None,
        description="One entry per Score resource.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    managed_objects: list[ObjectReference] | None = Field(
        None, description="The Kubernetes objects Berth manages for the workload."
    )
    rendered_from: RenderedFrom | None = Field(
        None, description="What the managed objects were last rendered from."
    )
    revision: CurrentRevision | None = Field(
        None, description="The WorkloadRevision the Workload runs (written once it is Ready)."
    )
    history: list[HistoryEntry] | None = Field(
        None,
        description="The revisions it went to, newest first (at most the revision history limit).",
    )
    kopf: dict[str, Any] | None = Field(
        None, description="Bookkeeping of the operator framework; not for users."
    )


# A new Workload's status until Berth writes one: the CRD's default, so that it says
# Ready=False and Reconciling=True from its creation on — what kstatus, `kubectl wait` and
# Argo CD need to know it is not done — at no write. Without observedGeneration: nobody
# has observed it.
INITIAL_STATUS: dict[str, Any] = {
    "conditions": [
        {
            "type": "Ready",
            "status": "False",
            "reason": str(Reason.NOT_REPORTED),
            "message": "Berth has not reported on this Workload yet",
        },
        {
            "type": "Reconciling",
            "status": "True",
            "reason": str(Reason.NOT_REPORTED),
            "message": "Berth has not reported on this Workload yet",
        },
    ]
}


class Workload(BerthModel):
    """A Score workload running in a Berth Environment."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["berth.dev/v1alpha1"] = Field(
        API_VERSION, description="berth.dev/v1alpha1"
    )
    kind: Literal["Workload"] = Field("Workload", description="Workload")
    metadata: ObjectMeta = Field(description="Kubernetes object metadata.")
    spec: WorkloadSpec = Field(description="The workload.")
    status: WorkloadStatus | None = Field(None, description="Observed state.")

    _status_as_read = field_validator("status", mode="wrap")(status_as_read)

    @property
    def name(self) -> str:
        return self.metadata.name
