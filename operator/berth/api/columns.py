"""The printer columns of Berth's CRDs: what ``kubectl get`` shows of each kind.

They answer an SRE's first questions — is it up, where, since when — from the status the
operator writes (the Ready condition, the replica summary, the URL). ``berth.api.crdgen``
puts them into the CRDs.
"""

from __future__ import annotations

from typing import Any

_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_READY = '.status.conditions[?(@.type=="Ready")]'

WORKLOAD_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Environment",
        "type": "string",
        "jsonPath": ".status.environment",
        "description": "The Environment the workload runs in.",
    },
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": f"{_READY}.status",
        "description": "Status of the Ready condition.",
    },
    {
        "name": "Status",
        "type": "string",
        "jsonPath": f"{_READY}.reason",
        "description": "Reason of the Ready condition.",
    },
    {
        "name": "Replicas",
        "type": "string",
        "jsonPath": ".status.replicas.summary",
        "description": "Ready/desired Pods.",
    },
    {
        "name": "URL",
        "type": "string",
        "jsonPath": ".status.url",
        "description": "External URL, if routed.",
    },
    _AGE,
    {
        "name": "Endpoint",
        "type": "string",
        "jsonPath": ".status.endpoint",
        "priority": 1,
        "description": "In-cluster address.",
    },
    {
        "name": "Revision",
        "type": "string",
        "jsonPath": ".status.revision.name",
        "priority": 1,
        "description": "The WorkloadRevision it runs.",
    },
]

ENVIRONMENT_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Type",
        "type": "string",
        "jsonPath": ".spec.type",
        "description": "Kind of environment.",
    },
    {
        "name": "Namespace",
        "type": "string",
        "jsonPath": ".spec.namespace",
        "description": "Namespace of its Workloads.",
    },
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": f"{_READY}.status",
        "description": "Status of the Ready condition.",
    },
    {
        "name": "Workloads",
        "type": "integer",
        "jsonPath": ".status.workloads",
        "description": "Workloads in the Environment.",
    },
    _AGE,
    {
        "name": "Ready-Workloads",
        "type": "integer",
        "jsonPath": ".status.readyWorkloads",
        "priority": 1,
        "description": "Workloads that are Ready.",
    },
]

CLUSTER_PROVISIONER_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Type",
        "type": "string",
        "jsonPath": ".spec.type",
        "description": "The resource type served.",
    },
    {
        "name": "Class",
        "type": "string",
        "jsonPath": ".spec.class",
        "description": "Only resources of this class (empty: any).",
    },
    {
        "name": "Env-Types",
        "type": "string",
        "jsonPath": ".spec.environmentTypes",
        "description": "Only in Environments of these types (empty: any).",
    },
    {
        "name": "Env-Names",
        "type": "string",
        "jsonPath": ".spec.environmentNames",
        "description": "Only in these Environments (empty: any).",
    },
    _AGE,
    {
        "name": "ID",
        "type": "string",
        "jsonPath": ".spec.id",
        "priority": 1,
        "description": "Only the resource with this id (empty: any).",
    },
    {
        "name": "Description",
        "type": "string",
        "jsonPath": ".spec.description",
        "priority": 1,
        "description": "What it provides.",
    },
]
