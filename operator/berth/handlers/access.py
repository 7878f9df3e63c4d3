"""Who may make previews: the RoleBindings of a base's ``previews.creators``.

In a base's namespace, its creators are bound to the requester ClusterRole (Previews);
in each of its previews' namespaces, to the editor ClusterRole (Workloads). Berth writes
these RoleBindings and no others, and never one of the same name that it did not write.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from berth.api.preview import PreviewPolicy
from berth.handlers.context import Context
from berth.kube.children import apply_if_changed, prepared_manifest
from berth.names import (
    FIELD_MANAGER,
    PREVIEW_EDITOR_ROLE,
    PREVIEW_EDITORS_BINDING,
    PREVIEW_REQUESTER_ROLE,
    PREVIEW_REQUESTERS_BINDING,
)
from berth.preview.access import role_binding

log = logging.getLogger("berth")
RBAC_VERSION = "rbac.authorization.k8s.io/v1"


def _ours(live: Mapping[str, Any]) -> bool:
    """Written by Berth (its field manager), whatever its labels say."""
    entries = (live.get("metadata") or {}).get("managedFields") or []
    return any(e.get("manager") == FIELD_MANAGER for e in entries)


def _subjects(policy: PreviewPolicy | None) -> list[dict[str, Any]]:
    if policy is None or not policy.creators:
        return []
    return [s.model_dump(by_alias=True, exclude_none=True) for s in policy.creators]


async def bind(
    context: Context,
    *,
    namespace: str,
    name: str,
    role: str,
    subjects: Sequence[Mapping[str, Any]],
    environment: str,
) -> None:
    """The RoleBinding of ``subjects`` to ``role`` in ``namespace``; none without subjects."""
    live = await context.client.get(RBAC_VERSION, "RoleBinding", name, namespace)
    if live is not None and not _ours(live):
        log.warning("RoleBinding %s/%s exists and is not Berth's: left alone", namespace, name)
        return
    if not subjects:
        if live is not None:
            await context.client.delete(RBAC_VERSION, "RoleBinding", name, namespace)
        return
    desired = role_binding(
        name=name, namespace=namespace, role=role, subjects=subjects, environment=environment
    )
    await apply_if_changed(context.client, prepared_manifest(desired), live)


async def grant(
    context: Context,
    body: Mapping[str, Any],
    base_policy: PreviewPolicy | None,
    own_policy: PreviewPolicy | None,
) -> None:
    """A preview's editors (its base's creators), and a base's requesters (its own)."""
    name = body["metadata"]["name"]
    namespace = str((body.get("spec") or {}).get("namespace") or "")
    if base_policy is not None:
        await bind(
            context,
            namespace=namespace,
            name=PREVIEW_EDITORS_BINDING,
            role=PREVIEW_EDITOR_ROLE,
            subjects=_subjects(base_policy),
            environment=name,
        )
    # (A base that stops being one still has status.previews: its binding goes.)
    if own_policy is not None or "previews" in (body.get("status") or {}):
        await bind(
            context,
            namespace=namespace,
            name=PREVIEW_REQUESTERS_BINDING,
            role=PREVIEW_REQUESTER_ROLE,
            subjects=_subjects(own_policy),
            environment=name,
        )
