"""Whose an object is: Berth's only when Berth wrote it.

Labels are anyone's to write — a copy of our manifests, a chart that borrowed our labels,
``kubectl label`` — so they say where to look, never whose an object is. An existing
object is Berth's to write, for a Workload or a resource, only on evidence that Berth
wrote it:

- **a child of this Workload**: its controller owner reference carries this Workload's
  UID (whatever its labels say now); or
- **Berth's own apply**: a ``managedFields`` entry of Berth's field manager, operation
  ``Apply``, on the main resource (not a subresource), that owns the label naming the
  object's owner — the inventory label ``berth.dev/workload`` for a Workload's child,
  ``berth.dev/resource`` for a provisioned object — and that label names this Workload
  (this resource). Owning that label means its value is Berth's doing: had anyone else
  set it since (``kubectl label --overwrite``, another manager's forced apply), the
  ownership would have moved to them.

The second rule is what adoption covers: a Workload deleted with ``--cascade=orphan``
and created again (the garbage collector took the owner references, Berth's apply entry
stayed); objects kept by ``deletionPolicy: Orphan`` or ``Retain`` and asked for again;
and objects restored from a backup that keeps ``managedFields`` (as Velero does). An
object that merely carries our labels — created by ``kubectl create`` and labelled, or
applied by another tool — is not adopted: the Workload says ``NameTaken`` and the object
is neither changed nor, when the Workload goes, deleted.

What it cannot tell: someone who writes ``managedFields`` by hand with Berth's manager
name is indistinguishable from a restore. Writing ``managedFields`` takes the same rights
as writing the object itself.

Pure functions of the object as the API server returns it (or as the cache keeps it:
``kube.children.slim_child`` keeps the label names of each entry).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.names import FIELD_MANAGER


def _berth_applies(meta: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        entry
        for entry in meta.get("managedFields") or []
        if isinstance(entry, Mapping)
        and entry.get("manager") == FIELD_MANAGER
        and entry.get("operation") == "Apply"
        and not entry.get("subresource")
    ]


def berth_applied_label(obj: Mapping[str, Any], label: str) -> bool:
    """Berth's field manager, by a server-side apply, owns the label ``label`` of ``obj``:
    its value is what Berth wrote."""
    meta = obj.get("metadata") or {}
    for entry in _berth_applies(meta):
        fields = entry.get("fieldsV1") or {}
        labels = (fields.get("f:metadata") or {}).get("f:labels") or {}
        if f"f:{label}" in labels:
            return True
    return False


def writers(obj: Mapping[str, Any]) -> list[str]:
    """The field managers that wrote ``obj``, sorted: for messages naming who did."""
    meta = obj.get("metadata") or {}
    return sorted(
        {
            str(entry.get("manager"))
            for entry in meta.get("managedFields") or []
            if isinstance(entry, Mapping) and entry.get("manager")
        }
    )


def written_by(obj: Mapping[str, Any]) -> str:
    """ " (written by a, b)" for a message, or "" when nobody is recorded."""
    found = writers(obj)
    return f" (written by {', '.join(found)})" if found else ""


def foreign_resource_owner(live: Mapping[str, Any], identity: str, label: str) -> str | None:
    """Who a provisioned object's name belongs to when it is not the resource ``identity``'s
    (by Berth's apply of ``label``, the resource label); None when it is ours."""
    labels = (live.get("metadata") or {}).get("labels") or {}
    if labels.get(label) == identity and berth_applied_label(live, label):
        return None
    if labels.get(label) and berth_applied_label(live, label):
        return f"the resource {labels[label]!r}"
    if labels.get(label):
        return "nobody Berth knows: it carries Berth's labels, but Berth did not write them" + (
            written_by(live)
        )
    return "nobody Berth knows" + written_by(live)
