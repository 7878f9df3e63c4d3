"""An Environment's policy: the rules its Workloads must satisfy, how each is enforced,
and how many Workloads break each (the Environment's status.policy).

The rules themselves (their checks, in Python and CEL) are ``berth.render.policy_rules``;
this module is what the CRD admits.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from berth.api.common import BerthModel, StatusModel, no_server_defaults
from berth.api.workload import _TYPE_PATTERN as RESOURCE_TYPE_PATTERN
from berth.api.workload import MAX_REPLICAS

PodSecurityLevel = Literal["restricted", "baseline"]


# An allowedRegistries entry: a registry host (with a '.' or a port, or localhost), then
# optional path components, ending with '/' so that a prefix never matches a longer host
# (registry.acme.dev must not let registry.acme.dev.evil.com through).
REGISTRY_PREFIX_PATTERN = (
    r"^(localhost(:[0-9]+)?|[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?"
    r"((\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)+(:[0-9]+)?|:[0-9]+))"
    r"/([a-z0-9]+([._-][a-z0-9]+)*/)*$"
)
REGISTRY_PREFIX_MAX = 255
REGISTRY_PREFIX_MESSAGE = (
    "a registry prefix is a registry host (with a '.' or a port, or localhost) and optional "
    "path components, and ends with '/', for example registry.acme.dev/ or "
    "registry.acme.dev/team-a/"
)
MAX_REGISTRIES = 64
MAX_ALLOWED_RESOURCES = 128
MAX_CLASSES = 64

RegistryPrefix = Annotated[
    str,
    StringConstraints(max_length=REGISTRY_PREFIX_MAX),
    Field(
        description=REGISTRY_PREFIX_MESSAGE,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"self.matches(r'{REGISTRY_PREFIX_PATTERN}')",
                    "message": REGISTRY_PREFIX_MESSAGE,
                }
            ]
        },
    ),
]
ResourceTypeName = Annotated[str, StringConstraints(pattern=RESOURCE_TYPE_PATTERN, max_length=63)]

# How a rule of the policy is enforced. Deny: kubectl apply is refused, and a Workload that
# already runs is Stalled (what it runs keeps running). Warn: kubectl apply shows a
# warning, and the Workload runs. Audit: the API server's audit log records it, and the
# Workload runs. Warn and Audit findings are on the Workload's PolicyCompliant condition.
EnforcementLevel = Literal["Deny", "Warn", "Audit"]
ENFORCEMENT_LEVELS: tuple[EnforcementLevel, ...] = ("Deny", "Warn", "Audit")


class AllowedResource(BerthModel):
    """A resource type Workloads may ask for, optionally only some of its classes."""

    type: ResourceTypeName = Field(description="The resource type, e.g. postgres.")
    classes: list[ResourceTypeName] | None = Field(
        None,
        min_length=1,
        max_length=MAX_CLASSES,
        description=(
            "The classes of this type Workloads may ask for. Absent: any class. A resource "
            "that names no class is always allowed (it gets the type's default)."
        ),
    )


def _level(rule: str) -> Any:
    return Field(None, description=f"How {rule} is enforced: Deny (absent), Warn or Audit.")


class PolicyEnforcement(BerthModel):
    """Per rule, how it is enforced. A rule not named here is enforced with Deny."""

    allowed_registries: EnforcementLevel | None = _level("allowedRegistries")
    max_replicas: EnforcementLevel | None = _level("maxReplicas")
    require_limits: EnforcementLevel | None = _level("requireLimits")
    require_digest: EnforcementLevel | None = _level("requireDigest")
    disallow_latest_tag: EnforcementLevel | None = _level("disallowLatestTag")
    allowed_resources: EnforcementLevel | None = _level("allowedResources")


class EnvironmentPolicy(BerthModel):
    """Rules every Workload in the Environment must satisfy, checked when a Workload is
    applied (admission) and while it runs (the operator), in the same words."""

    # A preview inherits its base's rule wherever it says nothing: nothing is defaulted
    # on the server (the admission policies read an absent rule as off, as this does).
    model_config = ConfigDict(json_schema_extra=no_server_defaults)

    allowed_registries: list[RegistryPrefix] | None = Field(
        None,
        min_length=1,
        max_length=MAX_REGISTRIES,
        description=(
            "Registry prefixes images must start with, each ending with '/', for example "
            "registry.acme.dev/. An image that names no registry is read as the image "
            "reference grammar's default (Docker Hub's). Absent: any image is allowed."
        ),
    )
    max_replicas: int | None = Field(
        None,
        ge=0,
        le=MAX_REPLICAS,
        description="Most replicas a Workload may ask for. Absent: no limit.",
    )
    require_limits: bool = Field(
        False,
        description="If true, every container needs cpu and memory limits (after defaults).",
    )
    require_digest: bool = Field(
        False,
        description=(
            "If true, every image is pinned by digest (image@sha256:...), as production "
            "usually wants."
        ),
    )
    disallow_latest_tag: bool = Field(
        False,
        description=(
            "If true, every image names a tag other than latest, or a digest (an image "
            "without either means latest)."
        ),
    )
    allowed_resources: list[AllowedResource] | None = Field(
        None,
        max_length=MAX_ALLOWED_RESOURCES,
        description=(
            "The resource types (and classes) Workloads may ask for. Absent: any. Empty: none."
        ),
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    enforcement: PolicyEnforcement | None = Field(
        None,
        description=(
            "Per rule, Deny (default), Warn or Audit: set a new rule to Warn or Audit first, "
            "read status.policy for the Workloads it would stop, then to Deny."
        ),
    )
    pod_security: PodSecurityLevel = Field(
        "restricted",
        description=(
            "The Pod Security Standard the namespace enforces and Workloads are rendered "
            "for: restricted (default: non-root, no capabilities, no privilege escalation) "
            "or baseline (lets images that run as root start, as most public images do)."
        ),
    )

    @field_validator("allowed_registries")
    @classmethod
    def _registry_prefixes(cls, prefixes: list[str] | None) -> list[str] | None:
        for prefix in prefixes or []:
            if not re.match(REGISTRY_PREFIX_PATTERN, prefix):
                raise ValueError(f"{prefix!r}: {REGISTRY_PREFIX_MESSAGE}")
        return prefixes

    @field_validator("allowed_resources")
    @classmethod
    def _unique_types(cls, allowed: list[AllowedResource] | None) -> list[AllowedResource] | None:
        types = [entry.type for entry in allowed or []]
        repeated = sorted({name for name in types if types.count(name) > 1})
        if repeated:
            raise ValueError(f"resource types listed more than once: {', '.join(repeated)}")
        return allowed

    def level(self, rule: str) -> EnforcementLevel:
        """How ``rule`` (a field name in camelCase, e.g. allowedRegistries) is enforced."""
        enforcement = self.enforcement.model_dump(by_alias=True) if self.enforcement else {}
        level: EnforcementLevel = enforcement.get(rule) or "Deny"
        return level


MAX_NAMED_VIOLATORS = 10


class PolicyRuleStatus(StatusModel):
    """One rule of the policy and the Workloads of the Environment that break it now."""

    rule: str = Field(description="The rule: its field in spec.policy, e.g. allowedRegistries.")
    level: EnforcementLevel = Field(description="How it is enforced: Deny, Warn or Audit.")
    reason: str = Field(description="The reason Workloads that break it are reported with.")
    violating: int = Field(ge=0, description="How many Workloads break it.")
    workloads: list[str] | None = Field(
        None,
        max_length=MAX_NAMED_VIOLATORS,
        description=f"The first {MAX_NAMED_VIOLATORS} of them, by name.",
    )
