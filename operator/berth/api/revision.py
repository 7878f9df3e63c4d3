"""The WorkloadRevision custom resource: what one Workload ran, pinned, and never changed.

When a Workload's new generation first becomes Ready, the operator records a revision
beside it (same namespace, named ``<workload>-r<number>``): the Workload's spec as it
was applied, with every image pinned to the digest that ran (``template``), the
Environment and its generation, and where each digest came from (``images``). The API
server keeps the spec immutable (CEL ``self == oldSelf``); a Promotion applies a
revision's template to another Environment, or to the same one (a rollback).

The Workload's status names its current revision and a short history; those models are
here too, so that everything about revisions reads in one place.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from berth.api.common import (
    API_VERSION,
    DNS_1035_LABEL_PATTERN,
    DNS_LABEL_MAX,
    DNS_LABEL_PATTERN,
    BerthModel,
    ObjectMeta,
    StatusModel,
    status_as_read,
)

IMMUTABLE_RULE: dict[str, Any] = {
    "rule": "self == oldSelf",
    "message": "a WorkloadRevision is immutable: it records what ran",
}
# Where the digest of an image came from: written in the Workload already (Spec), the
# Pods' imageID as the kubelet reported it (Pod), the registry (Registry), or nowhere.
DigestSource = Literal["Spec", "Pod", "Registry", "Unresolved"]
DIGEST_SOURCES: tuple[DigestSource, ...] = ("Spec", "Pod", "Registry", "Unresolved")


class PinnedImage(BerthModel):
    """One container's image, as written and as pinned."""

    container: str = Field(min_length=1, description="The container (or init container).")
    image: str = Field(min_length=1, description="The image as the Workload wrote it.")
    pinned: str = Field(
        min_length=1,
        description=(
            "The image as the revision runs it: with @sha256:... where the digest is "
            "known, else as written."
        ),
    )
    digest: str | None = Field(None, description="The digest (sha256:...), where known.")
    source: DigestSource = Field(
        description=(
            "Where the digest came from: Spec (the Workload pinned it), Pod (the imageID "
            "the kubelet reported), Registry (resolved through the distribution API) or "
            "Unresolved (message says why)."
        )
    )
    message: str | None = Field(None, description="Why no digest could be had, or details.")


class RevisionOrigin(BerthModel):
    """How the recorded generation came to be, where a Promotion wrote it."""

    promotion: str | None = Field(
        None, description="The Promotion (<namespace>/<name>) that wrote this generation."
    )
    revision: str | None = Field(
        None, description="The revision (<namespace>/<name>) the Promotion applied."
    )


class WorkloadRevisionSpec(BerthModel):
    """What ran: immutable once recorded."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [dict(IMMUTABLE_RULE)]}
    )

    workload: str = Field(
        pattern=DNS_1035_LABEL_PATTERN,
        max_length=DNS_LABEL_MAX,
        description="The Workload this revision is of (in the same namespace).",
    )
    revision: int = Field(ge=1, description="Its number, counting up per Workload.")
    environment: str = Field(
        pattern=DNS_LABEL_PATTERN,
        max_length=DNS_LABEL_MAX,
        description="The Environment the Workload ran in.",
    )
    environment_generation: int = Field(
        ge=0, description="The Environment's metadata.generation when it became Ready."
    )
    workload_generation: int = Field(
        ge=0, description="The Workload's metadata.generation that became Ready."
    )
    template: dict[str, Any] = Field(
        description=(
            "The Workload's spec as applied, with every image pinned by digest where one "
            "could be had (a Workload spec: see Workload)."
        )
    )
    images: list[PinnedImage] = Field(
        description="Each container's image: as written, as pinned, and where the digest came from."
    )
    hash: str = Field(
        pattern=r"^sha256:[0-9a-f]{64}$",
        description=(
            "sha256 of the template without its environment: two generations that pin to "
            "the same spec share one revision."
        ),
    )
    origin: RevisionOrigin | None = Field(
        None, description="The Promotion that wrote the generation, if one did."
    )


class WorkloadRevisionStatus(StatusModel):
    """The operator writes no status on revisions."""


class WorkloadRevision(BerthModel):
    """An immutable record of a Workload generation that became Ready, images pinned."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["berth.dev/v1alpha1"] = Field(
        API_VERSION, description="berth.dev/v1alpha1"
    )
    kind: Literal["WorkloadRevision"] = Field("WorkloadRevision", description="WorkloadRevision")
    metadata: ObjectMeta = Field(description="Kubernetes object metadata.")
    spec: WorkloadRevisionSpec = Field(description="What ran.")
    status: WorkloadRevisionStatus | None = Field(None, description="Unused.")

    _status_as_read = field_validator("status", mode="wrap")(status_as_read)

    @property
    def name(self) -> str:
        return self.metadata.name


# -- on the Workload's status --------------------------------------------------------------


class CurrentRevision(StatusModel):
    """The revision the Workload runs."""

    name: str = Field(description="The WorkloadRevision's name.")
    number: int = Field(ge=1, description="Its number.")
    workload_generation: int = Field(
        ge=0, description="The Workload generation it was recorded (or matched) for."
    )


class HistoryEntry(StatusModel):
    """One revision the Workload went to, newest first."""

    revision: str = Field(description="The WorkloadRevision's name.")
    number: int = Field(ge=1, description="Its number.")
    promotion: str | None = Field(
        None, description="The Promotion (<namespace>/<name>) that brought it, if one did."
    )
    time: str = Field(
        description="When the Workload became Ready at it (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
