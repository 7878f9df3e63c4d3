"""Who may make previews, as RoleBindings (pure).

A base's ``spec.previews.creators`` are bound, by Berth, to two ClusterRoles the chart
defines and nothing else: the requester role in the base's namespace (Previews: create,
read, delete) and the editor role in each preview's namespace (Workloads): see
``berth.names.PREVIEW_*``. So CI needs no
right on Environments at all, and no right anywhere but there. Berth may bind exactly
these two ClusterRoles (RBAC ``bind`` with their names): it cannot grant anything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from berth.names import ENVIRONMENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE

RBAC_GROUP = "rbac.authorization.k8s.io"


def rbac_subject(subject: Mapping[str, Any]) -> dict[str, Any]:
    """A base's creator as an RBAC subject."""
    if subject.get("kind") == "ServiceAccount":
        return {
            "kind": "ServiceAccount",
            "name": subject["name"],
            "namespace": subject["namespace"],
        }
    return {"kind": subject["kind"], "name": subject["name"], "apiGroup": RBAC_GROUP}


def role_binding(
    *,
    name: str,
    namespace: str,
    role: str,
    subjects: Sequence[Mapping[str, Any]],
    environment: str,
) -> dict[str, Any]:
    """The RoleBinding of ``subjects`` to ClusterRole ``role`` in ``namespace``."""
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENVIRONMENT_LABEL: environment},
        },
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [rbac_subject(s) for s in subjects],
    }
