"""The printer columns of Berth's CRDs: what ``kubectl get`` shows of each kind.

They answer an SRE's first questions — is it up, where, since when — from the status the
operator writes (the Ready condition, the replica summary, the URL). ``berth.api.crdgen``
puts them into the CRDs.
"""

from __future__ import annotations

from typing import Any

from berth.names import COPY_OF_LABEL

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
        "name": "Source",
        "type": "string",
        "jsonPath": ".metadata.labels." + COPY_OF_LABEL.replace(".", "\\."),
        "description": (
            "In a preview: the namespace of the base Workload this one is a copy of "
            "(empty: the preview's own)."
        ),
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
    # Last: empty on every Environment that is not a preview (kubectl get previews shows
    # the expiry too).
    {
        "name": "Base",
        "type": "string",
        "jsonPath": ".spec.preview.base",
        "priority": 1,
        "description": "The base a preview inherits from.",
    },
    {
        "name": "Expires",
        "type": "string",
        "jsonPath": ".status.preview.expiresAt",
        "priority": 1,
        "description": "When a preview expires (empty: not a preview, or kept).",
    },
]

PREVIEW_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Preview-Namespace",
        "type": "string",
        "jsonPath": ".status.namespace",
        "description": "The preview's namespace: apply its Workloads there.",
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
        "name": "Expires",
        "type": "string",
        "jsonPath": ".status.expiresAt",
        "description": "When the preview expires (empty while kept).",
    },
    _AGE,
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
