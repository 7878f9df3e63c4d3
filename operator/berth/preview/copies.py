"""Which of its base's Workloads a preview runs, as copies, and how (pure).

A copy is a real Workload in the preview's namespace, with the base Workload's name and
spec, labelled ``berth.dev/copy-of: <base namespace>`` (``kubectl get wl`` shows it under
SOURCE) and written by Berth under a field manager of its own (``berth-preview``). It
follows its base Workload: a change there is written here within seconds.

A Workload of the preview's own with the same name replaces the copy, however it is
written: the copy carries kubectl's ``last-applied-configuration`` annotation with the
copy's own manifest, so a client-side ``kubectl apply`` computes a clean replacement (it
removes what the copy had and the new manifest has not), and a server-side apply takes
every field it sets. Either way, another manager now writes the spec, and Berth lets go
(``classify``): after a server-side apply, by applying nothing under its manager, which
removes the fields only Berth still owned (the stale rest of the base's spec, the copy
label); after any other write (client-side apply, edit, patch, replace), by dropping its
managedFields entry, which leaves the object as that writer made it. From then on the
Workload is the preview's own, and Berth never writes it again; when it is deleted, the
copy comes back.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from berth.names import (
    APPLIED_HASH_ANNOTATION,
    ARGOCD_INSTANCE_LABEL,
    COPY_OF_LABEL,
    LAST_APPLIED_ANNOTATION,
    PREVIEW_FIELD_MANAGER,
    SCORE_KIND_ANNOTATION,
)

# Labels a copy does not take from its base Workload: Berth's own, and the ones by which
# Argo CD tracks what belongs to an Application (the copy belongs to none).
_UNCOPIED_LABELS = (ARGOCD_INSTANCE_LABEL,)
_UNCOPIED_LABEL_PREFIXES = (COPY_OF_LABEL.split("/", 1)[0] + "/", "argocd.argoproj.io/")
# The only annotations a copy takes: Score's, which say how to run the Workload.
_COPIED_ANNOTATION_PREFIX = SCORE_KIND_ANNOTATION.split("/", 1)[0] + "/"


class Ownership(StrEnum):
    """Who a Workload in a preview's namespace belongs to."""

    # Berth's copy: Berth's manager wrote it, and no one else writes its spec.
    COPY = "Copy"
    # A copy that someone took over with a server-side apply: Berth lets go by applying
    # nothing (its remaining fields go).
    TAKEN_BY_APPLY = "TakenByApply"
    # A copy taken over by any other write: Berth lets go by dropping its managedFields
    # entry (the object stays as written).
    TAKEN_BY_UPDATE = "TakenByUpdate"
    # The preview's own: Berth never writes it.
    OWN = "Own"


def _main_entries(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = (body.get("metadata") or {}).get("managedFields") or []
    return [e for e in entries if isinstance(e, Mapping) and not e.get("subresource")]


def _writes_spec(entry: Mapping[str, Any]) -> bool:
    return "f:spec" in (entry.get("fieldsV1") or {})


def classify(body: Mapping[str, Any]) -> Ownership:
    """Copy, taken over (and how), or the preview's own — from its managedFields (who
    writes what) and its copy label."""
    entries = _main_entries(body)
    if not any(e.get("manager") == PREVIEW_FIELD_MANAGER for e in entries):
        return Ownership.OWN
    others = [e for e in entries if e.get("manager") != PREVIEW_FIELD_MANAGER and _writes_spec(e)]
    labelled = COPY_OF_LABEL in ((body.get("metadata") or {}).get("labels") or {})
    if not others and labelled:
        return Ownership.COPY
    if any(e.get("operation") == "Apply" for e in others):
        return Ownership.TAKEN_BY_APPLY
    return Ownership.TAKEN_BY_UPDATE


def _copied_label(key: str) -> bool:
    return key not in _UNCOPIED_LABELS and not key.startswith(_UNCOPIED_LABEL_PREFIXES)


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def copy_manifest(base_workload: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The copy of ``base_workload`` in ``namespace``: its spec (but the Environment it
    names: a copy runs in the preview's), its labels (but Berth's and Argo CD's) and its
    Score annotations; labelled as a copy, with the digest of this manifest and kubectl's
    last-applied annotation holding it."""
    meta = base_workload["metadata"]
    spec = copy.deepcopy(dict(base_workload.get("spec") or {}))
    spec.pop("environment", None)
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if _copied_label(k)}
    labels[COPY_OF_LABEL] = meta["namespace"]
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k.startswith(_COPIED_ANNOTATION_PREFIX)
    }
    manifest: dict[str, Any] = {
        "apiVersion": base_workload["apiVersion"],
        "kind": base_workload["kind"],
        "metadata": {
            "name": meta["name"],
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    }
    annotations[APPLIED_HASH_ANNOTATION] = manifest_digest(manifest)
    # What kubectl would have written, had someone applied this copy: its next
    # client-side apply then removes whatever the copy has and its manifest has not.
    last_applied = json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n"
    manifest["metadata"]["annotations"] = {**annotations, LAST_APPLIED_ANNOTATION: last_applied}
    return manifest


def is_current(live: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """The live copy is what ``desired`` says (by the digest it carries)."""
    have = ((live.get("metadata") or {}).get("annotations") or {}).get(APPLIED_HASH_ANNOTATION)
    want = desired["metadata"]["annotations"][APPLIED_HASH_ANNOTATION]
    return bool(have == want)


def selected(base_names: Iterable[str], selection: Sequence[str] | None) -> list[str]:
    """The base Workloads a preview copies: all (no selection), or those listed that exist."""
    names = sorted(set(base_names))
    if selection is None:
        return names
    wanted = set(selection)
    return [name for name in names if name in wanted]


@dataclass
class CopyPlan:
    """What to do to a preview's namespace to make its copies what the base says."""

    write: list[dict[str, Any]] = field(default_factory=list)  # create or update
    delete: list[str] = field(default_factory=list)  # copies no longer wanted
    let_go: dict[str, Ownership] = field(default_factory=dict)  # taken over: how to let go
    copies: list[str] = field(default_factory=list)  # running as copies (for status)
    own: list[str] = field(default_factory=list)  # the preview's own (for status)
    unsettled: bool = False  # a write that raced another writer (set while carrying it out)


def plan_copies(
    base_workloads: Sequence[Mapping[str, Any]],
    preview_workloads: Sequence[Mapping[str, Any]],
    namespace: str,
    selection: Sequence[str] | None,
) -> CopyPlan:
    """Compare the base's Workloads (those not being deleted count) with the preview's,
    and say what to write, delete and let go of. A Workload being deleted in the preview
    is left to finish; its copy (if one is wanted) comes once it is gone."""
    live_base = {
        w["metadata"]["name"]: w
        for w in base_workloads
        if not w["metadata"].get("deletionTimestamp")
    }
    wanted = set(selected(live_base, selection))
    present = {w["metadata"]["name"]: w for w in preview_workloads}
    plan = CopyPlan()
    for name in sorted(present):
        body = present[name]
        owner = classify(body)
        if owner is Ownership.OWN:
            plan.own.append(name)
        elif owner is not Ownership.COPY:
            plan.let_go[name] = owner
            plan.own.append(name)
        elif body["metadata"].get("deletionTimestamp"):
            continue
        elif name not in wanted:
            plan.delete.append(name)
        else:
            plan.copies.append(name)
            desired = copy_manifest(live_base[name], namespace)
            if not is_current(body, desired):
                plan.write.append(desired)
    for name in sorted(wanted - set(present)):
        plan.write.append(copy_manifest(live_base[name], namespace))
        plan.copies.append(name)
    plan.copies.sort()
    return plan
