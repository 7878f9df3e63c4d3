"""Write a Workload's children and prune the ones no longer desired.

Children are written by server-side apply under one field manager, each carrying an
owner reference and the inventory label of its owner. A child is written only when
it would change: a hash of the last applied manifest rides on the child, and when it
matches and nobody else has touched the object since, no request is sent at all;
otherwise a dry-run apply says whether a real one would change anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.kube.client import BadRequest, Conflict, Forbidden, Invalid, KubeClient
from berth.kube.ownership import berth_applied_label, written_by
from berth.names import (
    APPLIED_HASH_ANNOTATION,
    FIELD_MANAGER,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    RESOURCE_LABEL,
    WORKLOAD_LABEL,
)


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Identity of an object regardless of the API version it was read at."""

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectKey:
        api_version = obj["apiVersion"]
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        meta = obj["metadata"]
        return cls(group, obj["kind"], meta.get("namespace") or "", meta["name"])


# Answers that refuse one child: the sync stops there and reports it on the Workload.
REFUSALS = (BadRequest, Forbidden, Conflict, Invalid)
# Of those, the ones that mean the API server will refuse this object as long as it stays
# as it is: 400 (a body it cannot decode), 422 (invalid), and admission webhooks' denials
# (which come as 400, 403 or 422 with "admission webhook" in the message).
PERMANENT_REFUSALS = frozenset({400, 422})


@dataclass(frozen=True)
class Refusal:
    """The API server said no to one child: its status code and its own words; and what
    was sent, over what, so that the same request is not sent again (``repeats``)."""

    key: ObjectKey
    status: int
    reason: str
    message: str
    # The applied-hash of the manifest refused, and the version of the object it was
    # sent over (None: there was none).
    sent: str | None = None
    over: str | None = None

    @property
    def permanent(self) -> bool:
        """Refused until the Workload (or a webhook's policy) changes; retrying is pointless."""
        return self.status in PERMANENT_REFUSALS or "admission webhook" in self.message

    def repeats(self, manifest: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
        """Sending ``manifest`` over ``live`` would be the very request refused."""
        return (
            ObjectKey.of(manifest) == self.key
            and applied_hash(manifest) == self.sent
            and version_of(live) == self.over
        )


def version_of(obj: Mapping[str, Any] | None) -> str | None:
    """What an object is, for telling a request over it from the same one again: its uid
    and generation (a spec change), or resourceVersion where it has no generation. A
    Deployment's status moving does not make a refused request worth sending again."""
    if obj is None:
        return None
    meta = obj.get("metadata") or {}
    version = meta.get("generation") or meta.get("resourceVersion")
    return f"{meta.get('uid')}/{version}"


@dataclass(frozen=True)
class NameConflict:
    """An object of a child's name exists and is not this Workload's to write."""

    key: ObjectKey
    owner: str


@dataclass
class SyncResult:
    # The first child the API server refused; nothing after it was applied, nothing pruned.
    refused: Refusal | None = None
    # The refusal is the known one, and the request was not sent again.
    repeated: bool = False
    # A child's name is taken by an object that is not ours; nothing applied, nothing pruned.
    conflict: NameConflict | None = None
    applied: list[ObjectKey] = field(default_factory=list)
    # Applied although our manifest had not changed: someone else had changed the object.
    corrected: list[ObjectKey] = field(default_factory=list)
    unchanged: list[ObjectKey] = field(default_factory=list)
    pruned: list[ObjectKey] = field(default_factory=list)
    # The children as the server now has them (after our writes), by key.
    current: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)


def manifest_hash(manifest: Mapping[str, Any]) -> str:
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def prepared_manifest(
    manifest: Mapping[str, Any], owner: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The manifest as it is applied: with its owner reference and applied-hash annotation."""
    # Only metadata changes here: the rest is shared with ``manifest``, which render
    # made fresh for this reconcile (a deep copy of every manifest, every reconcile, was
    # a good part of a reconcile's CPU).
    result: dict[str, Any] = dict(manifest)
    meta = result["metadata"] = dict(manifest.get("metadata") or {})
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    annotations = meta["annotations"] = dict(meta.get("annotations") or {})
    annotations.pop(APPLIED_HASH_ANNOTATION, None)
    annotations[APPLIED_HASH_ANNOTATION] = manifest_hash(result)
    return result


def untouched_since_our_apply(live: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """True when no other manager changed anything we might own after our last apply.

    Writes to the status subresource and annotations that are not ours (the
    deployment controller's revision, for one) do not count; a write through any
    other subresource (``kubectl scale`` goes through ``scale``) does.
    """
    entries = live.get("metadata", {}).get("managedFields") or []
    ours = [
        e
        for e in entries
        if e.get("manager") == FIELD_MANAGER
        and e.get("operation") == "Apply"
        and not e.get("subresource")
    ]
    if not ours:
        return False
    our_time = max(str(e.get("time", "")) for e in ours)
    our_annotations = {f"f:{k}" for k in desired.get("metadata", {}).get("annotations", {})}
    for entry in entries:
        if entry in ours or entry.get("subresource") == "status":
            continue
        # Writes through a subresource may carry no time at all: count those.
        if entry.get("time") and str(entry["time"]) < our_time:
            continue
        fields = entry.get("fieldsV1") or {}
        only_metadata = set(fields) <= {"f:metadata"}
        meta_fields = fields.get("f:metadata", {})
        only_foreign_annotations = set(meta_fields) <= {"f:annotations"} and not (
            set(meta_fields.get("f:annotations", {})) & our_annotations
        )
        if only_metadata and only_foreign_annotations:
            continue
        return False
    return True


def same_as_live(
    would_be: Mapping[str, Any], live: Mapping[str, Any], desired: Mapping[str, Any]
) -> bool:
    """Compare what an apply would produce with what is there, on the parts we write."""
    for key in desired:
        if key in ("apiVersion", "kind", "metadata", "status"):
            continue
        if would_be.get(key) != live.get(key):
            return False
    wm, lm = would_be.get("metadata", {}), live.get("metadata", {})
    dm = desired.get("metadata", {})
    for part in ("labels", "annotations"):
        # Only our keys: another writer's labels are theirs, and may change between
        # the dry run and the read (a label bumped ten times a second is no drift).
        ours = dm.get(part) or {}
        would, now = wm.get(part) or {}, lm.get(part) or {}
        if any(would.get(k) != now.get(k) for k in ours):
            return False
    return bool(wm.get("ownerReferences") == lm.get("ownerReferences"))


def _resource_version(obj: Mapping[str, Any]) -> str | None:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    return str(value) if value is not None else None


def applied_hash(obj: Mapping[str, Any]) -> str | None:
    annotations = obj.get("metadata", {}).get("annotations") or {}
    value = annotations.get(APPLIED_HASH_ANNOTATION)
    return str(value) if value is not None else None


async def apply_if_changed(
    client: KubeClient, manifest: Mapping[str, Any], live: Mapping[str, Any] | None
) -> tuple[bool, dict[str, Any]]:
    """Apply when the object would change; return (written, object as it now is).

    ``live`` may be a slim copy (see ``slim_child``): enough to tell whether anyone
    touched the object since our apply; when someone did, the object is read whole.
    """
    if live is not None and applied_hash(live) == applied_hash(manifest):
        if untouched_since_our_apply(live, manifest):
            return False, dict(live)
        # Someone else wrote since our apply: did they change anything of ours?
        would_be = await client.apply(manifest, field_manager=FIELD_MANAGER, dry_run=True)
        if not live.get(SLIM) and same_as_live(would_be, live, manifest):
            return False, dict(live)
        if live.get(SLIM) or _resource_version(would_be) != _resource_version(live):
            # Our copy is slim, or behind the server (someone else keeps writing the
            # object, say a label of theirs): judge the drift on the object as it is
            # now, or we would "correct" what is not ours, again and again.
            meta = manifest["metadata"]
            fresh = await client.get(
                manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace")
            )
            if fresh is not None and same_as_live(would_be, fresh, manifest):
                return False, fresh
    # Otherwise our manifest changed, and with it its hash annotation: the apply is a
    # change by itself, no dry run needs to say so.
    return True, await client.apply(manifest, field_manager=FIELD_MANAGER)


# A cached child that carries only what the reconciles read (see slim_child).
SLIM = "_slim"


def _slim_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Of a managedFields entry's fieldsV1, what untouched_since_our_apply and the
    ownership checks (berth.kube.ownership) read: its top-level fields, and under
    metadata, the names of the fields, annotations and labels."""
    slim: dict[str, Any] = {}
    named = ("f:annotations", "f:labels")
    for key, value in fields.items():
        if key == "f:metadata" and isinstance(value, Mapping):
            slim[key] = {
                k: ({a: {} for a in v} if k in named and isinstance(v, Mapping) else {})
                for k, v in value.items()
            }
        else:
            slim[key] = {}
    return slim


def slim_child(body: Mapping[str, Any]) -> dict[str, Any]:
    """A child as the cache keeps it: identity, labels, annotations, owners, who wrote it
    when (managedFields without the field-by-field detail), and for a Deployment its
    replicas and status. Not its spec or data: they are read whole when needed."""
    meta = body.get("metadata") or {}
    slim_meta = {
        k: meta[k]
        for k in (
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "labels",
            "annotations",
            "ownerReferences",
            "deletionTimestamp",
        )
        if k in meta
    }
    slim_meta["managedFields"] = [
        {
            **{k: v for k, v in entry.items() if k != "fieldsV1"},
            "fieldsV1": _slim_fields(entry.get("fieldsV1") or {}),
        }
        for entry in meta.get("managedFields") or []
    ]
    slim: dict[str, Any] = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": slim_meta,
        SLIM: True,
    }
    if body.get("kind") == "Deployment":
        spec = body.get("spec") or {}
        slim["spec"] = {"replicas": spec["replicas"]} if "replicas" in spec else {}
        slim["status"] = body.get("status") or {}
    return slim


def foreign_owner(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> str | None:
    """Who an existing object belongs to, when it is not a child of ``owner``; else None.

    An object is ``owner``'s when its controller is ``owner`` itself (by UID), whatever
    its labels say now; or when Berth wrote it for a Workload of that name: Berth's apply
    owns its inventory label, which names ``owner`` (``berth.kube.ownership``), it is no
    provisioned resource's object, and its controller (if any) is a Workload of that name
    — a former one, whose children the garbage collector has not taken yet. That is
    adoption: after ``--cascade=orphan``, or a restore that keeps ``managedFields``.
    Labels alone make nothing ours: anyone can write them.
    """
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    name = owner["metadata"]["name"]
    controller = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    if controller is not None:
        if controller.get("uid") == owner["metadata"].get("uid"):
            return None  # ours, whatever someone did to its labels since
        if not (controller.get("kind") == owner["kind"] and controller.get("name") == name):
            return f"{controller.get('kind')} {controller.get('name')}"
    if RESOURCE_LABEL in labels:
        return f"the resource {labels[RESOURCE_LABEL]!r} of Workload {labels.get(WORKLOAD_LABEL)}"
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or labels.get(WORKLOAD_LABEL) != name:
        if labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and labels.get(WORKLOAD_LABEL):
            return f"Workload {labels[WORKLOAD_LABEL]}"
        return "nobody Berth knows" + written_by(obj)
    if not berth_applied_label(obj, WORKLOAD_LABEL):
        return "nobody Berth knows: it carries Berth's labels, but Berth did not write them" + (
            written_by(obj)
        )
    return None


def owned_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner_uid for ref in refs)


async def sync_children(
    client: KubeClient,
    owner: Mapping[str, Any],
    desired: Iterable[Mapping[str, Any]],
    live: Iterable[Mapping[str, Any]],
    *,
    known_refusal: Refusal | None = None,
) -> SyncResult:
    """Bring the owner's children to the desired set.

    ``live`` is what the caller knows exists with the owner's inventory label. Only
    objects that carry the owner's UID in their owner references are ever pruned,
    so a stale or partial ``live`` can cost a missed prune, never a wrong delete; and
    none is written unless it is the owner's (``foreign_owner``). ``known_refusal``: a
    child refused before; the same request is not sent again (``Refusal.repeats``).
    """
    result = SyncResult()
    live_by_key = {ObjectKey.of(obj): obj for obj in live}
    wanted: dict[ObjectKey, dict[str, Any]] = {}
    for manifest in desired:
        full = prepared_manifest(manifest, owner)
        wanted[ObjectKey.of(full)] = full

    # ConfigMap and Service before the Deployment that uses them (the API group sorts
    # "" before "apps"): at the first refusal nothing more is written, so a Deployment
    # that runs is never moved to a spec whose other children do not exist.
    for key in sorted(wanted):
        live_obj = live_by_key.get(key)
        if live_obj is None:
            # Not in our inventory: an object of that name may still exist (someone
            # else's, or ours and the watch is behind).
            live_obj = await client.get(
                wanted[key]["apiVersion"], key.kind, key.name, key.namespace or None
            )
        # Never apply over another's: labels (the inventory) are anyone's to write.
        taken_by = foreign_owner(live_obj, owner) if live_obj is not None else None
        if taken_by is not None:
            result.conflict = NameConflict(key, taken_by)
            return result
        if known_refusal is not None and known_refusal.repeats(wanted[key], live_obj):
            # Refused before, and nothing it depends on changed: not sent again.
            result.refused, result.repeated = known_refusal, True
            return result
        try:
            written, now = await apply_if_changed(client, wanted[key], live_obj)
        except REFUSALS as err:
            result.refused = Refusal(
                key,
                err.status,
                err.reason,
                err.message,
                sent=applied_hash(wanted[key]),
                over=version_of(live_obj),
            )
            return result
        (result.applied if written else result.unchanged).append(key)
        if written and live_obj is not None and applied_hash(live_obj) == applied_hash(wanted[key]):
            result.corrected.append(key)
        result.current[key] = now

    owner_uid = owner["metadata"]["uid"]
    for key in sorted(live_by_key.keys() - wanted.keys()):
        obj = live_by_key[key]
        if not owned_by(obj, owner_uid):
            continue
        if await client.delete(
            obj["apiVersion"],
            obj["kind"],
            key.name,
            key.namespace or None,
            uid=obj["metadata"]["uid"],
        ):
            result.pruned.append(key)
    return result
