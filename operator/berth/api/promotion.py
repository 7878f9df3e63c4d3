"""The Promotion and PromotionApproval custom resources.

A **Promotion** lives in the target Environment's namespace and says: make the Workload
of this name here equal to a revision of the same Workload in Environment ``from``
(its current one, or ``revision``). A promotion from an Environment to itself naming an
older revision is a rollback. The operator checks the target can take the revision
before it writes anything (policy, provisioners, the path, GitOps), waits for an
approval where the target requires one, writes the target Workload, and follows it
until it is Ready at that revision. A Promotion is one move: its spec is immutable.

A **PromotionApproval**, in the same namespace, approves one Promotion. Who may approve
is who RBAC lets create PromotionApprovals there: the API server refuses anyone else at
creation, so an approval that exists is one that counts. ``approver`` must be the
creator's own user name (the chart's ValidatingAdmissionPolicy refuses anything else),
so the record says truly who approved.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from berth.api.common import (
    API_VERSION,
    CONDITIONS_LIST_EXTRA,
    DNS_1035_LABEL_PATTERN,
    DNS_LABEL_MAX,
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    BerthModel,
    Condition,
    ObjectMeta,
    StatusModel,
    status_as_read,
)

PromotionPhase = Literal["Pending", "WaitingForApproval", "Progressing", "Succeeded", "Failed"]
PHASES: tuple[PromotionPhase, ...] = (
    "Pending",
    "WaitingForApproval",
    "Progressing",
    "Succeeded",
    "Failed",
)
# Phases after which a Promotion does nothing more.
FINAL_PHASES = frozenset({"Succeeded", "Failed"})


class PromotionSpec(BerthModel):
    """Which revision of which Workload goes where: immutable."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "a Promotion is one move and cannot be changed; create another",
                }
            ]
        }
    )

    workload: str = Field(
        pattern=DNS_1035_LABEL_PATTERN,
        max_length=DNS_LABEL_MAX,
        description="The Workload's name, the same in both Environments.",
    )
    from_: str = Field(
        alias="from",
        pattern=DNS_LABEL_PATTERN,
        max_length=DNS_LABEL_MAX,
        description=(
            "The Environment to promote from. The target's own name with an older revision "
            "is a rollback."
        ),
    )
    to: str | None = Field(
        None,
        pattern=DNS_LABEL_PATTERN,
        max_length=DNS_LABEL_MAX,
        description=(
            "The target Environment; it must serve this Promotion's namespace. Absent: the "
            "Environment that serves the namespace."
        ),
    )
    revision: int | None = Field(
        None,
        ge=1,
        description="The revision's number. Absent: the source Workload's current revision.",
    )


class PromotionTarget(StatusModel):
    """The target Workload, as the Promotion found and wrote it."""

    namespace: str = Field(description="Its namespace.")
    name: str = Field(description="Its name.")
    resource_version_before: str | None = Field(
        None, description="Its resourceVersion before the Promotion wrote it (absent: it was new)."
    )
    generation: int | None = Field(
        None, ge=0, description="The generation the Promotion's write made."
    )


class PromotionStatus(StatusModel):
    """Where the Promotion is."""

    observed_generation: int | None = Field(
        None, ge=0, description="The metadata.generation this status describes."
    )
    phase: PromotionPhase | None = Field(
        None,
        description=(
            "Pending, WaitingForApproval, Progressing, then Succeeded or Failed (final, "
            "but for a target that is Stalled: Failed until it recovers)."
        ),
    )
    conditions: list[Condition] | None = Field(
        None,
        description="Ready, Reconciling and Stalled (kstatus), with reasons.",
        json_schema_extra=CONDITIONS_LIST_EXTRA,
    )
    source_environment: str | None = Field(None, description="The Environment promoted from.")
    target_environment: str | None = Field(None, description="The Environment promoted to.")
    source_revision: str | None = Field(
        None, description="The WorkloadRevision applied (<namespace>/<name>)."
    )
    revision_number: int | None = Field(None, ge=1, description="Its number.")
    target: PromotionTarget | None = Field(None, description="The target Workload.")
    approved_by: str | None = Field(
        None, description="Who approved, where the target requires an approval."
    )
    completion_time: str | None = Field(
        None,
        description="When it Succeeded or Failed (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )


class Promotion(BerthModel):
    """Make a Workload in this namespace's Environment equal to a revision of another's."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["berth.dev/v1alpha1"] = Field(
        API_VERSION, description="berth.dev/v1alpha1"
    )
    kind: Literal["Promotion"] = Field("Promotion", description="Promotion")
    metadata: ObjectMeta = Field(description="Kubernetes object metadata.")
    spec: PromotionSpec = Field(description="What to promote, from where.")
    status: PromotionStatus | None = Field(None, description="Where the Promotion is.")

    _status_as_read = field_validator("status", mode="wrap")(status_as_read)

    @property
    def name(self) -> str:
        return self.metadata.name


class PromotionApprovalSpec(BerthModel):
    """Who approves which Promotion: immutable."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "an approval cannot be changed"}
            ]
        }
    )

    promotion: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="The Promotion approved (in the same namespace).",
    )
    approver: str = Field(
        min_length=1,
        max_length=512,
        description=(
            "The approver's user name, as the API server knows them "
            "(system:serviceaccount:<ns>:<name> for a ServiceAccount). Admission refuses "
            "an approver other than the creator."
        ),
    )
    comment: str | None = Field(None, max_length=1024, description="Why, for the record.")


class PromotionApprovalStatus(StatusModel):
    """The operator writes no status on approvals."""


class PromotionApproval(BerthModel):
    """An approval of one Promotion, by whoever RBAC lets create it."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["berth.dev/v1alpha1"] = Field(
        API_VERSION, description="berth.dev/v1alpha1"
    )
    kind: Literal["PromotionApproval"] = Field("PromotionApproval", description="PromotionApproval")
    metadata: ObjectMeta = Field(description="Kubernetes object metadata.")
    spec: PromotionApprovalSpec = Field(description="Who approves which Promotion.")
    status: PromotionApprovalStatus | None = Field(None, description="Unused.")

    _status_as_read = field_validator("status", mode="wrap")(status_as_read)
