"""The ClusterProvisioner custom resource: a provisioner written once, for every Environment.

An Environment's own ``spec.provisioners`` say how resources are provided there. A
ClusterProvisioner says the same for the whole cluster, with matching criteria: the
resource's type (always), class and id (optional), and the Environment's type and name
(optional lists). For each resource, an Environment's own provisioners are looked at
first; only when none of them serves it does the most specific ClusterProvisioner serve
it (``berth.provision.match`` has the order).

The kind reuses the Environment's provisioner model (crossplane, template, secret), so a
provisioner moves between an Environment and the cluster by copying it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from berth.api.common import (
    API_VERSION,
    DNS_LABEL_MAX,
    DNS_LABEL_PATTERN,
    BerthModel,
    ObjectMeta,
    StatusModel,
    status_as_read,
)
from berth.api.environment import EnvironmentType, Provisioner, ProvisionerFields

EnvironmentName = Annotated[
    str,
    StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=DNS_LABEL_MAX),
    Field(description="the name of an Environment"),
]


class ClusterProvisionerSpec(ProvisionerFields):
    """A provisioner for every Environment that its criteria match.

    ``type`` (and ``class``, ``id`` where set) say which resources it serves, as in an
    Environment's provisioners; ``environmentTypes`` and ``environmentNames``, where set,
    say in which Environments. Exactly one of crossplane, template and secret says how."""

    environment_types: list[EnvironmentType] | None = Field(
        None,
        min_length=1,
        description=(
            "Only in Environments of these types (development, staging, production, "
            "preview). Absent: any type."
        ),
    )
    environment_names: list[EnvironmentName] | None = Field(
        None,
        min_length=1,
        description="Only in the Environments of these names. Absent: any Environment.",
    )
    description: str | None = Field(
        None, description="What this provisioner provides, for people reading the catalogue."
    )

    def as_provisioner(self, name: str) -> Provisioner:
        """The same provisioner in the Environment's model (what planning works with)."""
        data = self.model_dump(
            by_alias=True,
            exclude_none=True,
            exclude={"environment_types", "environment_names", "description"},
        )
        return Provisioner.model_validate({**data, "name": name})


class ClusterProvisionerStatus(StatusModel):
    """Observed state of a ClusterProvisioner (the operator writes none today)."""


class ClusterProvisioner(BerthModel):
    """A provisioner shared by every Environment that its criteria match."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["berth.dev/v1alpha1"] = Field(
        API_VERSION, description="berth.dev/v1alpha1"
    )
    kind: Literal["ClusterProvisioner"] = Field(
        "ClusterProvisioner", description="ClusterProvisioner"
    )
    metadata: ObjectMeta = Field(description="Kubernetes object metadata.")
    spec: ClusterProvisionerSpec = Field(description="The provisioner and where it applies.")
    status: ClusterProvisionerStatus | None = Field(None, description="Observed state.")

    _status_as_read = field_validator("status", mode="wrap")(status_as_read)

    @property
    def name(self) -> str:
        return self.metadata.name

    def provisioner(self) -> Provisioner:
        """This definition as an Environment provisioner named after it."""
        return self.spec.as_provisioner(self.metadata.name)
