"""The namespace an Environment owns (pure)."""

from __future__ import annotations

from typing import Any

from berth.names import (
    CREATED_BY_ANNOTATION,
    ENVIRONMENT_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    POD_SECURITY_ENFORCE_LABEL,
    POD_SECURITY_ENFORCE_VERSION_LABEL,
    POD_SECURITY_WARN_LABEL,
    PREVIEW_OF_LABEL,
    SHARD_BUCKET_LABEL,
)
from berth.render.labels import shard_bucket


def namespace_manifest(
    environment: str,
    namespace: str,
    pod_security: str = "restricted",
    *,
    preview_of: str | None = None,
    created: bool = False,
    bucket: int | None = None,
) -> dict[str, Any]:
    """Labelled as the Environment's, enforcing its Pod Security level, with its shard
    bucket (what shard its Workloads are in, for whoever lists namespaces by it); a
    preview's also labelled with its base (``preview_of``); annotated as Berth's creation
    when Berth creates it (``created``: the apply creates it, or it carries the
    annotation already), which is what lets a teardown delete it. ``bucket``: where it
    is not the namespace's own (a preview's is its base's).

    ``warn`` stays at ``restricted``: under ``baseline``, kubectl users still hear what
    would not pass the stricter profile."""
    manifest: dict[str, Any] = {
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
                SHARD_BUCKET_LABEL: str(shard_bucket(namespace) if bucket is None else bucket),
            },
        },
    }
    if preview_of:
        manifest["metadata"]["labels"][PREVIEW_OF_LABEL] = preview_of
    if created:
        manifest["metadata"]["annotations"] = {CREATED_BY_ANNOTATION: environment}
    return manifest
