"""The namespace an Environment owns (pure)."""

from __future__ import annotations

from typing import Any

from berth.names import (
    ENVIRONMENT_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    POD_SECURITY_ENFORCE_LABEL,
    POD_SECURITY_ENFORCE_VERSION_LABEL,
    POD_SECURITY_WARN_LABEL,
    SHARD_BUCKET_LABEL,
)
from berth.render.labels import shard_bucket


def namespace_manifest(
    environment: str, namespace: str, pod_security: str = "restricted"
) -> dict[str, Any]:
    """Labelled as the Environment's, enforcing its Pod Security level, with its shard
    bucket (what shard its Workloads are in, for whoever lists namespaces by it).

    ``warn`` stays at ``restricted``: under ``baseline``, kubectl users still hear what
    would not pass the stricter profile."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace,
            "labels": {
                MANAGED_BY_LABEL: MANAGED_BY_VALUE,
                ENVIRONMENT_LABEL: environment,
                POD_SECURITY_ENFORCE_LABEL: pod_security,
                POD_SECURITY_ENFORCE_VERSION_LABEL: "latest",
                POD_SECURITY_WARN_LABEL: "restricted",
                SHARD_BUCKET_LABEL: str(shard_bucket(namespace)),
            },
        },
    }
