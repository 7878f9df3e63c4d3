"""The Workload custom resource: a Score v1b1 workload plus two Berth extensions.

``spec`` follows the Score specification (containers, service, resources, metadata), so a
Score file converts into a Workload without loss. Berth adds ``spec.environment`` (which
Environment the Workload runs in) and ``spec.replicas``.

Normalisation: Score accepts ``files`` and ``volumes`` either as a map keyed by the
target path or as the older list of objects with a ``target`` key. The models always
hold the map form; dumping a model therefore writes the map form.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from berth.api.common import (
    API_VERSION,
    CONDITIONS_LIST_EXTRA,
    AnnotationKey,
    BerthModel,
    Condition,
    ContainerName,
    ObjectMeta,
    PortName,
    Quantity,
    ResourceName,
    StatusModel,
    status_as_read,
)
from berth.api.revision import CurrentRevision, HistoryEntry
from berth.names import SCORE_KIND_ANNOTATION, SCORE_SERVICE_NAME_ANNOTATION

RESERVED_VARIABLE_PREFIX = "BERTH_SECRET_"

# Score's resource type and class: letters, digits and '-', at most 63 characters.
_TYPE_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
# Score's resource id: dot-separated DNS-like labels.
_ID_PATTERN = r"^[a-z0-9]+(-+[a-z0-9]+)*(\.[a-z0-9]+(-+[a-z0-9]+)*)*$"
# A file mode in octal, as Score writes it: "644", "0644", "0600".
_MODE_PATTERN = r"^0?[0-7]{3}$"

MAX_CONTAINERS = 32
MAX_VARIABLES = 1024
# A Deployment's replicas is an int32; larger numbers would wrap around on the way.
MAX_REPLICAS = 2**31 - 1
MAX_RESOURCES = 128
MAX_PORTS = 64
MAX_ANNOTATIONS = 64

# What score-k8s's workload annotations (berth.names.SCORE_*) may say, as Berth reads them.
SUPPORTED_KINDS = ("Deployment",)
_SERVICE_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

# Score's "the image built from this directory": a build tool fills it in, not a cluster.
BUILD_HERE_IMAGE = "."
BUILD_HERE_MESSAGE = (
    "image '.' is Score's placeholder for an image built from the workload's directory; a "
    "cluster can only pull a built image: build and push it, then set the image, or convert "
    "the Score file with `berth import --image IMAGE` (or --image CONTAINER=IMAGE)"
)
KIND_MESSAGE = (
    f"annotation {SCORE_KIND_ANNOTATION}: Berth runs every Workload as a Deployment; "
    "StatefulSet and other kinds are not supported (remove the annotation, or set it to "
    "Deployment; keep state in resources such as a volume of class persistent)"
)
SERVICE_NAME_MESSAGE = (
    f"annotation {SCORE_SERVICE_NAME_ANNOTATION} must be a DNS-1035 label (at most 63 lowercase "
    "letters, digits and '-', starting with a letter): it names the Workload's Service"
)

VariableName = Annotated[
    str,
    # What the API server accepts since Kubernetes 1.34: printable ASCII other than '='.
    StringConstraints(pattern=r"^[ -<>-~]+$", min_length=1),
    Field(
        description="variable names must be non-empty printable ASCII (no tabs or newlines) "
        "and must not contain '='"
    ),
]


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
            "Service's name) are honoured."
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
    def _score_k8s_annotations(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        value = value or {}
        kind = value.get(SCORE_KIND_ANNOTATION)
        if kind is not None and kind not in SUPPORTED_KINDS:
            raise ValueError(f"{KIND_MESSAGE}; found {kind!r}")
        service = value.get(SCORE_SERVICE_NAME_ANNOTATION)
        if service is not None and (
            len(service) > 63 or not re.match(_SERVICE_NAME_PATTERN, service)
        ):
            raise ValueError(f"{SERVICE_NAME_MESSAGE}; found {service!r}")
        return value or None


class ContainerFile(BerthModel):
    """A file mounted into a container. Exactly one of content, binaryContent and source."""

    content: str | None = Field(
        None,
        description="Inline UTF-8 content. Placeholders are expanded unless noExpand is true.",
    )
    binary_content: str | None = Field(
        None,
        description="Inline standard-base64 content. Placeholders are not expanded.",
    )
    source: str | None = Field(
        None,
        min_length=1,
        description=(
            "Path of a local file with the content. Only `berth import` reads it and inlines "
            "it as content; a Workload in the cluster must not use it."
        ),
    )
    mode: str | None = Field(
        None,
        pattern=_MODE_PATTERN,
        description="File mode in octal, for example 0644 or 0600. Default 0644.",
    )
    no_expand: bool | None = Field(
        None, description="If true, placeholders in content are not expanded."
    )

    @model_validator(mode="after")
    def _exactly_one_content(self) -> ContainerFile:
        given = [
            name
            for name, value in (
                ("content", self.content),
                ("binaryContent", self.binary_content),
                ("source", self.source),
            )
            if value is not None
        ]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"a file needs exactly one of content, binaryContent, source (found: {found})"
            )
        return self

    @field_validator("binary_content")
    @classmethod
    def _valid_base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"binaryContent is not valid standard base64: {exc}") from exc
        return value


class ContainerVolume(BerthModel):
    """A volume mounted into a container."""

    source: str = Field(
        min_length=1,
        description="The volume: a ${resources.<name>} placeholder naming a volume resource.",
    )
    path: str | None = Field(None, description="Optional sub path inside the volume.")
    read_only: bool | None = Field(None, description="Mount the volume read-only.")


def _target_map(value: Any, what: str) -> Any:
    """Turn Score's list form ``[{target: ..., ...}]`` into the map form ``{target: {...}}``."""
    if not isinstance(value, list):
        return value
    result: dict[str, Any] = {}
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"{what}[{index}] must be an object")
        target = item.get("target")
        if not isinstance(target, str) or not target:
            raise ValueError(f"{what}[{index}] needs a non-empty string target")
        if target in result:
            raise ValueError(f"{what}: duplicate target {target!r}")
        result[target] = {key: val for key, val in item.items() if key != "target"}
    return result


def _check_targets(value: dict[str, Any] | None, what: str) -> dict[str, Any] | None:
    for target in value or {}:
        if not target.startswith("/"):
            raise ValueError(f"{what} target {target!r} must be an absolute path")
        if ".." in target.split("/"):
            raise ValueError(f"{what} target {target!r} must not contain '..'")
        if ":" in target:
            raise ValueError(f"{what} target {target!r} must not contain ':'")
    return value


_FILES_SCHEMA = WithJsonSchema(
    {
        "description": (
            "Files to mount into the container. Either a map from target path to "
            "{content | binaryContent | source, mode, noExpand}, or a list of those objects "
            "each with a target key. Validated by the operator."
        ),
        "x-kubernetes-preserve-unknown-fields": True,
    }
)
_VOLUMES_SCHEMA = WithJsonSchema(
    {
        "description": (
            "Volumes to mount into the container. Either a map from target path to "
            "{source, path, readOnly}, or a list of those objects each with a target key. "
            "Validated by the operator."
        ),
        "x-kubernetes-preserve-unknown-fields": True,
    }
)


class ResourceRequirements(BerthModel):
    """Compute resources of a container (Kubernetes quantities)."""

    requests: dict[str, Quantity] | None = Field(
        None, description="Minimum resources, for example {cpu: 100m, memory: 128Mi}."
    )
    limits: dict[str, Quantity] | None = Field(
        None, description="Maximum resources, for example {memory: 256Mi}."
    )


class HttpHeader(BerthModel):
    """An HTTP header sent by a probe."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="Header name.")
    value: str = Field(min_length=1, description="Header value.")


class HttpProbe(BerthModel):
    """An HTTP GET probe."""

    scheme: Literal["HTTP", "HTTPS"] | None = Field(
        None, description="HTTP or HTTPS. Default HTTP."
    )
    host: str | None = Field(
        None, min_length=1, description="Host to connect to. Default: the Pod IP."
    )
    path: str = Field(description="Path to request.")
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port to connect to. Default: the targetPort of the first service port.",
    )
    http_headers: list[HttpHeader] | None = Field(
        None, description="Extra headers to send with the request."
    )


class ExecProbe(BerthModel):
    """A probe that runs a command in the container; exit status 0 means healthy."""

    command: list[str] = Field(min_length=1, description="Command and arguments to run.")


class Probe(BerthModel):
    """A container probe: httpGet or exec (if both are given, exec is used, as Score says)."""

    http_get: HttpProbe | None = Field(None, description="Probe with an HTTP GET request.")
    exec: ExecProbe | None = Field(None, description="Probe by running a command.")

    @model_validator(mode="after")
    def _one_handler(self) -> Probe:
        if self.http_get is None and self.exec is None:
            raise ValueError("a probe needs httpGet or exec")
        return self


BeforeReady = Literal["started", "healthy", "complete"]


class Before(BerthModel):
    """What this container must reach before another container starts."""

    ready: BeforeReady = Field(
        description=(
            "started: this container has started; healthy: its readiness (or liveness) "
            "probe succeeds; complete: it ran to completion."
        )
    )


class Container(BerthModel):
    """A container of the workload."""

    image: str = Field(
        min_length=1,
        pattern=r"^\S+$",
        description=(
            "Container image reference, with tag or digest. No whitespace. Score's '.' (the "
            "image built here) is refused: `berth import --image` fills it in."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": f"self != '{BUILD_HERE_IMAGE}'", "message": BUILD_HERE_MESSAGE}
            ]
        },
    )
    command: list[str] | None = Field(
        None, description="Overrides the image's entrypoint. Placeholders are expanded."
    )
    args: list[str] | None = Field(
        None, description="Overrides the image's arguments. Placeholders are expanded."
    )
    variables: dict[VariableName, str] | None = Field(
        None,
        max_length=MAX_VARIABLES,
        description=(
            "Environment variables. Values may contain placeholders such as "
            "${resources.db.host}; secret outputs become secretKeyRefs, never literals."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"self.all(k, !k.startsWith('{RESERVED_VARIABLE_PREFIX}'))",
                    "message": f"variable names starting with {RESERVED_VARIABLE_PREFIX} "
                    "are reserved for Berth",
                }
            ]
        },
    )
    files: Annotated[dict[str, ContainerFile] | None, _FILES_SCHEMA] = Field(None)
    volumes: Annotated[dict[str, ContainerVolume] | None, _VOLUMES_SCHEMA] = Field(None)
    resources: ResourceRequirements | None = Field(
        None,
        description="Compute resources; the Environment's defaults fill what is not set.",
    )
    liveness_probe: Probe | None = Field(None, description="Liveness probe.")
    readiness_probe: Probe | None = Field(None, description="Readiness probe.")
    before: dict[ContainerName, Before] | None = Field(
        None,
        max_length=MAX_CONTAINERS,
        description=(
            "Containers that start only after this one is started, healthy or complete. "
            "Berth runs such a container as an init container (complete) or a sidecar "
            "(started, healthy), before the Pod's other containers."
        ),
    )

    @field_validator("image")
    @classmethod
    def _built_image(cls, value: str) -> str:
        if value == BUILD_HERE_IMAGE:
            raise ValueError(BUILD_HERE_MESSAGE)
        return value

    @model_validator(mode="after")
    def _distinct_targets(self) -> Container:
        both = sorted(set(self.files or {}) & set(self.volumes or {}))
        if both:
            raise ValueError(f"targets used by both a file and a volume: {', '.join(both)}")
        return self

    @field_validator("variables")
    @classmethod
    def _no_reserved_variables(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        reserved = sorted(k for k in value or {} if k.startswith(RESERVED_VARIABLE_PREFIX))
        if reserved:
            raise ValueError(
                f"variable names starting with {RESERVED_VARIABLE_PREFIX} are reserved for "
                f"Berth: {', '.join(reserved)}"
            )
        return value

    @field_validator("files", mode="before")
    @classmethod
    def _files_to_map(cls, value: Any) -> Any:
        return _target_map(value, "files")

    @field_validator("volumes", mode="before")
    @classmethod
    def _volumes_to_map(cls, value: Any) -> Any:
        return _target_map(value, "volumes")

    @field_validator("files")
    @classmethod
    def _file_targets(
        cls, value: dict[str, ContainerFile] | None
    ) -> dict[str, ContainerFile] | None:
        _check_targets(value, "file")
        return value

    @field_validator("volumes")
    @classmethod
    def _volume_targets(
        cls, value: dict[str, ContainerVolume] | None
    ) -> dict[str, ContainerVolume] | None:
        _check_targets(value, "volume")
        return value


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
        order = start_order(containers)
        if order is None:
            raise ValueError("the containers' before entries form a cycle")
        return self

    def service_name(self, workload_name: str) -> str:
        """The name of the Workload's Service: score-k8s's service-name annotation, else
        the Workload's name."""
        annotations = (self.metadata.annotations if self.metadata else None) or {}
        return annotations.get(SCORE_SERVICE_NAME_ANNOTATION) or workload_name


def start_order(containers: dict[str, Container]) -> list[str] | None:
    """Containers with before entries, in an order that honours them (init containers run
    in list order), or None on a cycle. Ties are broken by name."""
    starters = sorted(name for name in containers if containers[name].before)
    # A container must come after every starter that names it in its before.
    after: dict[str, set[str]] = {name: set() for name in starters}
    for name in starters:
        for other in containers[name].before or {}:
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


def _model_in(annotation: Any) -> tuple[str, Any]:
    """("model" | "map" | "list" | "value", inner type) of a field's annotation."""
    import types
    import typing

    from pydantic import BaseModel

    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return "value", None
            annotation = options[0]
        elif origin is dict:
            return "map", typing.get_args(annotation)[1]
        elif origin is list:
            return "list", typing.get_args(annotation)[0]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return "model", annotation
        else:
            return "value", None


def score_fields_at(loc: tuple[str | int, ...]) -> list[str] | None:
    """For an unknown field at ``loc`` (relative to a Score workload, e.g.
    ``("containers", "main", "foo")``): the fields Score allows there, so that a typo is
    answered in Score's terms. None when ``loc`` cannot be followed."""
    import typing

    from pydantic import BaseModel

    model: type[BaseModel] = WorkloadSpec
    index = 0
    parts = list(loc[:-1])
    while index < len(parts):
        part = parts[index]
        found = next(
            (
                (name, info)
                for name, info in model.model_fields.items()
                if (info.alias or name) == part or name == part
            ),
            None,
        )
        if found is None:
            return None
        hints = typing.get_type_hints(model, include_extras=True)
        kind, inner = _model_in(hints[found[0]])
        index += 1
        if kind in ("map", "list"):
            index += 1  # the key or the index
            kind, inner = _model_in(inner)
        if kind != "model":
            return None
        model = inner
    fields = [info.alias or name for name, info in model.model_fields.items()]
    if model is WorkloadSpec:
        fields = [f for f in fields if f not in ("environment", "replicas")]
    return sorted(fields)
