"""Berth's API (berth.dev/v1alpha1): pydantic models of Workload, Environment and
ClusterProvisioner.

The CRDs in crds/ are generated from these models by ``berth.api.crdgen``.
"""

from berth.api.clusterprovisioner import (
    ClusterProvisioner,
    ClusterProvisionerSpec,
    ClusterProvisionerStatus,
)
from berth.api.common import API_VERSION, GROUP, VERSION, Condition, ObjectMeta
from berth.api.container import (
    RESERVED_VARIABLE_PREFIX,
    Container,
    ContainerFile,
    ContainerVolume,
    ExecProbe,
    HttpHeader,
    HttpProbe,
    Probe,
    ResourceRequirements,
)
from berth.api.environment import (
    DeletionPolicy,
    Environment,
    EnvironmentDefaults,
    EnvironmentSpec,
    EnvironmentStatus,
    EnvironmentType,
    Provisioner,
    ProvisionerFields,
    Routes,
)
from berth.api.policy import EnvironmentPolicy
from berth.api.workload import (
    ObjectReference,
    ReplicaStatus,
    ResourceMetadata,
    ResourceRequest,
    ResourceStatus,
    Service,
    ServicePort,
    Workload,
    WorkloadMetadata,
    WorkloadSpec,
    WorkloadStatus,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "RESERVED_VARIABLE_PREFIX",
    "VERSION",
    "ClusterProvisioner",
    "ClusterProvisionerSpec",
    "ClusterProvisionerStatus",
    "Condition",
    "Container",
    "ContainerFile",
    "ContainerVolume",
    "DeletionPolicy",
    "Environment",
    "EnvironmentDefaults",
    "EnvironmentPolicy",
    "EnvironmentSpec",
    "EnvironmentStatus",
    "EnvironmentType",
    "ExecProbe",
    "HttpHeader",
    "HttpProbe",
    "ObjectMeta",
    "ObjectReference",
    "Probe",
    "Provisioner",
    "ProvisionerFields",
    "ReplicaStatus",
    "ResourceMetadata",
    "ResourceRequest",
    "ResourceRequirements",
    "ResourceStatus",
    "Routes",
    "Service",
    "ServicePort",
    "Workload",
    "WorkloadMetadata",
    "WorkloadSpec",
    "WorkloadStatus",
]
