"""A Score container, as the Workload's ``spec.containers`` holds it: image, command,
variables, files, volumes, resources, probes and its start order (``before``).

Normalisation: Score accepts ``files`` and ``volumes`` either as a map keyed by the
target path or as the older list of objects with a ``target`` key. The models always
hold the map form; dumping a model therefore writes the map form.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from berth.api.common import BerthModel, ContainerName, Quantity

RESERVED_VARIABLE_PREFIX = "BERTH_SECRET_"

# A file mode in octal, as Score writes it: "644", "0644", "0600".
_MODE_PATTERN = r"^0?[0-7]{3}$"

MAX_CONTAINERS = 32
MAX_VARIABLES = 1024

# Score's "the image built from this directory": a build tool fills it in, not a cluster.
BUILD_HERE_IMAGE = "."
BUILD_HERE_MESSAGE = (
    "image '.' is Score's placeholder for an image built from the workload's directory; a "
    "cluster can only pull a built image: build and push it, then set the image, or convert "
    "the Score file with `berth import --image IMAGE` (or --image CONTAINER=IMAGE)"
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
