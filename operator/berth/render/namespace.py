"""The namespace an Environment owns (pure)."""

from __future__ import annotations

from typing import Any

ENVIRONMENT_LABEL = "berth.dev/environment"


def namespace_manifest(environment: str, namespace: str) -> dict[str, Any]:
    """Labelled as the Environment's, enforcing the Pod Security ``restricted`` profile."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "berth",
                ENVIRONMENT_LABEL: environment,
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
            },
        },
    }
