"""The namespace an Environment owns (pure)."""

from __future__ import annotations

from typing import Any

ENVIRONMENT_LABEL = "berth.dev/environment"


def namespace_manifest(
    environment: str, namespace: str, pod_security: str = "restricted"
) -> dict[str, Any]:
    """Labelled as the Environment's, enforcing its Pod Security level.

    ``warn`` stays at ``restricted``: under ``baseline``, kubectl users still hear what
    would not pass the stricter profile."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "berth",
                ENVIRONMENT_LABEL: environment,
                "pod-security.kubernetes.io/enforce": pod_security,
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
            },
        },
    }
