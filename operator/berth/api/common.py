"""Building blocks shared by the Workload and Environment models.

The wire form of every model is camelCase (the Kubernetes convention); Python code uses
snake_case attribute names. ``model_validate(obj)`` accepts either spelling and
``model_dump(mode="json", exclude_none=True)`` produces the wire form.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
)
from pydantic.alias_generators import to_camel

GROUP = "berth.dev"
VERSION = "v1alpha1"
API_VERSION: Final = "berth.dev/v1alpha1"

# A DNS-1123 label: what Kubernetes accepts as a namespace, a container or a volume name.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_MAX = 63
# A DNS-1035 label: what Kubernetes accepts as a Service name (starts with a letter).
DNS_1035_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# A DNS-1123 subdomain: dot-separated labels.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# Kubernetes' IANA_SVC_NAME rule for port names: lowercase letters, digits and single
# hyphens, at least one letter, at most 15 characters.
PORT_NAME_PATTERN = r"^([a-z0-9]+-)*[a-z0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$"
PORT_NAME_MAX = 15
# A Kubernetes qualified name (label or annotation key): an optional DNS subdomain prefix
# and a slash, then a name of letters, digits, '-', '_' and '.'.
QUALIFIED_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
QUALIFIED_NAME_MAX = 317  # 253 (prefix) + 1 (slash) + 63 (name)
# A Kubernetes label value: at most 63 characters, alphanumerics at both ends and '-', '_'
# and '.' between them (the empty value is a label value too, but never a useful name).
LABEL_VALUE_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
# A Kubernetes resource quantity (the string form; integers are accepted as well).
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

DNS_LABEL_TEXT = (
    "a DNS-1123 label: at most 63 lowercase letters, digits and '-', "
    "starting and ending with a letter or digit"
)

ContainerName = Annotated[
    str,
    StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=DNS_LABEL_MAX),
    Field(description=f"container names must be {DNS_LABEL_TEXT}"),
]
ResourceName = Annotated[
    str,
    StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=DNS_LABEL_MAX),
    Field(description=f"resource names must be {DNS_LABEL_TEXT}"),
]
PortName = Annotated[
    str,
    StringConstraints(pattern=PORT_NAME_PATTERN, max_length=PORT_NAME_MAX),
    Field(
        description=(
            "port names must be at most 15 lowercase letters, digits and single '-', "
            "contain a letter, and start and end with a letter or digit"
        )
    ),
]
AnnotationKey = Annotated[
    str,
    StringConstraints(pattern=QUALIFIED_NAME_PATTERN, max_length=QUALIFIED_NAME_MAX),
    Field(
        description=(
            "annotation keys must be Kubernetes qualified names: an optional DNS subdomain "
            "and '/', then letters, digits, '-', '_' and '.'"
        )
    ),
]
Quantity = Annotated[
    int | Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN)],
    Field(description="A Kubernetes quantity, for example 250m, 0.5, 64Mi or 1Gi."),
]


class BerthModel(BaseModel):
    """Base of every spec model: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
    )


class StatusModel(BaseModel):
    """Base of status models: camelCase on the wire, unknown fields rejected.

    The API server drops a status field its schema does not declare without a word, so
    these models are the check that what the operator writes is what the CRD declares
    (the tests validate every status the controllers write against them). Reading an
    object is lenient instead: see ``status_as_read``.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
    )


def no_server_defaults(schema: dict[str, Any]) -> None:
    """Keep the API server from writing defaults into these sections: a stored preview
    must say only what its author wrote, so that it inherits its base's value wherever
    it says nothing (berth.preview.inherit). The models' defaults apply when read."""
    for prop in (schema.get("properties") or {}).values():
        prop.pop("default", None)


def status_as_read(cls: Any, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """The status of an object read from the API server, or None when it does not fit
    this version's model (written by another version of Berth, whose CRD declares more).

    Nothing in the operator reads status through the models; a status this version does
    not know must never make a Workload or an Environment invalid."""
    try:
        return handler(value)
    except ValidationError:
        return None


class ObjectMeta(BaseModel):
    """The parts of Kubernetes object metadata Berth reads; all other keys are kept as is."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
    )

    name: str = Field(description="Name of the object.")
    namespace: str | None = Field(None, description="Namespace of the object, if namespaced.")
    uid: str | None = Field(None, description="Unique id assigned by the API server.")
    generation: int | None = Field(None, description="Generation of the desired state.")
    resource_version: str | None = Field(None, description="Opaque version for concurrency.")
    labels: dict[str, str] | None = Field(None, description="Labels of the object.")
    annotations: dict[str, str] | None = Field(None, description="Annotations of the object.")


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(StatusModel):
    """One aspect of the object's state, in the Kubernetes (metav1.Condition) shape."""

    type: str = Field(
        description="Type of the condition in CamelCase, e.g. Ready, Reconciling, Stalled.",
        min_length=1,
        max_length=316,
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    reason: str | None = Field(
        None,
        description="A programmatic identifier for the last transition, in CamelCase.",
        max_length=1024,
    )
    message: str | None = Field(
        None, description="A human readable message with details about the transition."
    )
    last_transition_time: str | None = Field(
        None,
        description="When the condition last changed status (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = Field(
        None,
        ge=0,
        description="The metadata.generation the condition was computed from.",
    )


CONDITIONS_LIST_EXTRA: dict[str, Any] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}
