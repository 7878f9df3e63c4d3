"""The Environment custom resource: a platform-owned place where Workloads run.

An Environment owns one namespace, the defaults applied where a Workload says nothing,
the policy Workloads must satisfy, and the provisioners that serve resource types.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from berth.api.common import (
    API_VERSION,
    CONDITIONS_LIST_EXTRA,
    DNS_LABEL_MAX,
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    BerthModel,
    Condition,
    ObjectMeta,
    StatusModel,
)
from berth.api.workload import ResourceRequirements

EnvironmentType = Literal["development", "staging", "production", "preview"]
DeletionPolicy = Literal["Delete", "Retain", "Orphan"]

PROVISIONER_KINDS = ("crossplane", "template", "secret")
MAX_PROVISIONERS = 256


class EnvironmentDefaults(BerthModel):
    """Values applied where a Workload says nothing."""

    replicas: int = Field(1, ge=0, description="Replicas of a Workload that sets none.")
    container_resources: ResourceRequirements | None = Field(
        None,
        description=(
            "Requests and limits merged under each container's own, key by key "
            "(the container's values win)."
        ),
    )
    progress_deadline_seconds: int | None = Field(
        None,
        ge=1,
        description=(
            "How long, in seconds, a rollout may make no progress before the Workload is "
            "reported Stalled with reason ProgressDeadlineExceeded (the Deployment's "
            "progressDeadlineSeconds; default 600)."
        ),
    )


class EnvironmentPolicy(BerthModel):
    """Rules every Workload in the Environment must satisfy."""

    allowed_registries: list[str] | None = Field(
        None,
        min_length=1,
        description=(
            "Image prefixes Workloads may use, for example registry.acme.dev/. "
            "Absent: any image is allowed."
        ),
    )
    max_replicas: int | None = Field(
        None, ge=0, description="Most replicas a Workload may ask for. Absent: no limit."
    )
    require_limits: bool = Field(
        False,
        description="If true, every container needs cpu and memory limits (after defaults).",
    )


class Routes(BerthModel):
    """How Workloads are exposed outside the cluster."""

    domain: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Parent domain for Workload hostnames, for example dev.apps.acme.dev.",
    )


class Provisioner(BerthModel):
    """Serves Score resources of one type (optionally one class or id) in this Environment.

    Exactly one of crossplane, template and secret says how."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.crossplane), has(self.template), has(self.secret)]"
                    ".filter(x, x).size() == 1",
                    "message": "a provisioner needs exactly one of crossplane, template, secret",
                }
            ]
        }
    )

    type: str = Field(min_length=1, description="The resource type served, e.g. postgres.")
    class_: str | None = Field(
        None, alias="class", min_length=1, description="Only resources of this class."
    )
    id: str | None = Field(None, min_length=1, description="Only the resource with this id.")
    outputs: list[str] | None = Field(
        None, description="Names of the outputs this provisioner promises."
    )
    crossplane: dict[str, Any] | None = Field(
        None, description="Provision with a Crossplane claim (shape defined by a later version)."
    )
    template: dict[str, Any] | None = Field(
        None, description="Provision from a platform template (shape defined by a later version)."
    )
    secret: dict[str, Any] | None = Field(
        None,
        description="Take outputs from an existing Secret (shape defined by a later version).",
    )

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Provisioner:
        given = [kind for kind in PROVISIONER_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"a provisioner needs exactly one of crossplane, template, secret (found: {found})"
            )
        return self

    @property
    def kind(self) -> str:
        """Which of crossplane, template, secret this provisioner uses."""
        return next(kind for kind in PROVISIONER_KINDS if getattr(self, kind) is not None)


class EnvironmentSpec(BerthModel):
    """Desired state of an Environment."""

    type: EnvironmentType = Field(
        description="Kind of environment: development, staging, production or preview."
    )
    namespace: str = Field(
        pattern=DNS_LABEL_PATTERN,
        max_length=DNS_LABEL_MAX,
        description="Namespace the Environment's Workloads live in. Immutable.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "namespace is immutable; create a new Environment instead",
                }
            ]
        },
    )
    defaults: EnvironmentDefaults | None = Field(
        None, description="Values applied where a Workload says nothing."
    )
    policy: EnvironmentPolicy | None = Field(
        None, description="Rules Workloads must satisfy; violations stall the Workload."
    )
    deletion_policy: DeletionPolicy | None = Field(
        None,
        description=(
            "What happens to provisioned resources when a Workload goes: Delete, Retain or "
            "Orphan. Absent: Retain for production, Delete otherwise."
        ),
    )
    routes: Routes | None = Field(None, description="External exposure of Workloads.")
    provisioners: list[Provisioner] | None = Field(
        None,
        max_length=MAX_PROVISIONERS,
        description="Provisioners by resource type; the most specific match wins.",
    )

    def effective_deletion_policy(self) -> DeletionPolicy:
        """deletionPolicy, or its default: Retain in production, Delete elsewhere."""
        if self.deletion_policy is not None:
            return self.deletion_policy
        return "Retain" if self.type == "production" else "Delete"

    def default_replicas(self) -> int:
        """Replicas for a Workload that sets none."""
        return self.defaults.replicas if self.defaults is not None else 1


class EnvironmentStatus(StatusModel):
    """Observed state of an Environment."""

    observed_generation: int | None = Field(
        None, ge=0, description="The metadata.generation this status describes."
    )
    conditions: list[Condition] | None = Field(
        None,
        description="Ready, Reconciling and Stalled (kstatus), plus finer conditions.",
        json_schema_extra=CONDITIONS_LIST_EXTRA,
    )
    namespace: str | None = Field(None, description="The namespace the operator manages.")
    workloads: int | None = Field(None, ge=0, description="Workloads in the Environment.")
    ready_workloads: int | None = Field(None, ge=0, description="Of those, how many are Ready.")
    kopf: dict[str, Any] | None = Field(
        None, description="Bookkeeping of the operator framework; not for users."
    )


class Environment(BerthModel):
    """A platform-owned environment that Workloads run in."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["berth.dev/v1alpha1"] = Field(
        API_VERSION, description="berth.dev/v1alpha1"
    )
    kind: Literal["Environment"] = Field("Environment", description="Environment")
    metadata: ObjectMeta = Field(description="Kubernetes object metadata.")
    spec: EnvironmentSpec = Field(description="The environment.")
    status: EnvironmentStatus | None = Field(None, description="Observed state.")

    @property
    def name(self) -> str:
        return self.metadata.name

    def effective_deletion_policy(self) -> DeletionPolicy:
        """spec.deletionPolicy, or its default: Retain in production, Delete elsewhere."""
        return self.spec.effective_deletion_policy()
