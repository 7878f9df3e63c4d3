"""Tearing an Environment down in order, as decisions on what is left (pure).

When an Environment whose deletionPolicy is Delete goes (a preview expires or its Preview
is deleted; any Environment deleted under Delete), its finalizer holds it while, in
order:

1. **Workloads**: every Workload of its namespace is deleted, and waited for. Each one's
   own finalizer lets go of its resources under the same policy (a claim is deleted).
2. **Resources**: whatever was provisioned in the namespace and is still there (found by
   the inventory labels: claims, a template's objects) is deleted, and waited for until
   it is gone. One that does not go is named on status with what holds it (its
   finalizers, its own condition's message), and everything after waits.
3. **Namespace**: deleted only when Berth created it for this Environment (annotation
   ``berth.dev/created-by``), and only when nothing is left in it that a policy keeps
   (an object marked retained); then waited for.

Then the finalizer goes. Under Retain or Orphan, nothing is torn down: the Environment
goes at once, its Workloads keep running and keep their resources, and its namespace
stays (it holds them). Deleting the namespace first, as ``kubectl delete namespace``
does, is what this avoids: its claims' connection Secrets and service accounts would go
with everything else, and a claim whose provider can no longer act never finalizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from berth.names import CREATED_BY_ANNOTATION, RETAINED_ANNOTATION

Phase = Literal["Workloads", "Resources", "Namespace", "Done"]
# How often a teardown looks again while it waits (deletions are also watched; this is
# for what is not: claims and namespaces).
POLL_SECONDS = 0.5


@dataclass
class Teardown:
    """What to do now, and what is being waited for."""

    phase: Phase
    delete_workloads: list[str] = field(default_factory=list)
    delete_objects: list[Mapping[str, Any]] = field(default_factory=list)
    delete_namespace: bool = False
    # What does not go (yet), each with the reason; on status as teardown.waitingFor.
    waiting_for: list[str] = field(default_factory=list)
    # Why the namespace stays, when it does (for the Event).
    namespace_kept: str | None = None

    @property
    def done(self) -> bool:
        return self.phase == "Done"

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = {"phase": self.phase}
        if self.waiting_for:
            result["waitingFor"] = list(self.waiting_for)
        return result


def _name(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind', 'object')}/{obj['metadata']['name']}"


def holding(obj: Mapping[str, Any]) -> str:
    """Why an object being deleted is still there: its finalizers, and what its own
    Ready or Synced condition says (a claim's provider speaks through them)."""
    meta = obj["metadata"]
    words = [_name(obj)]
    finalizers = meta.get("finalizers") or []
    if finalizers:
        words.append(f"waits on finalizers {', '.join(finalizers)}")
    conditions = {
        c.get("type"): c
        for c in (obj.get("status") or {}).get("conditions") or []
        if isinstance(c, Mapping)
    }
    for kind in ("Ready", "Synced"):
        cond = conditions.get(kind)
        if cond and cond.get("status") != "True" and (cond.get("message") or cond.get("reason")):
            said = f"{kind}={cond.get('status')} ({cond.get('reason', '')})"
            if cond.get("message"):
                said += f": {cond['message']}"
            words.append(said)
            break
    if len(words) == 1:
        words.append("is being deleted")
    return "; ".join(words)


def _retained(obj: Mapping[str, Any]) -> bool:
    return RETAINED_ANNOTATION in (obj["metadata"].get("annotations") or {})


def plan_teardown(
    *,
    environment: str,
    workloads: Sequence[Mapping[str, Any]],
    provisioned: Sequence[Mapping[str, Any]],
    namespace: Mapping[str, Any] | None,
) -> Teardown:
    """The next step of the teardown of ``environment`` (deletionPolicy Delete), given
    the Workloads and provisioned objects left in its namespace and the namespace."""
    if workloads:
        plan = Teardown("Workloads")
        for body in workloads:
            if body["metadata"].get("deletionTimestamp"):
                plan.waiting_for.append(holding(body))
            else:
                plan.delete_workloads.append(str(body["metadata"]["name"]))
        return plan
    kept = [obj for obj in provisioned if _retained(obj)]
    going = [obj for obj in provisioned if not _retained(obj)]
    if going:
        plan = Teardown("Resources")
        for obj in going:
            if obj["metadata"].get("deletionTimestamp"):
                plan.waiting_for.append(holding(obj))
            else:
                plan.delete_objects.append(obj)
        return plan
    if namespace is None:
        return Teardown("Done")
    meta = namespace["metadata"]
    name = meta["name"]
    if (meta.get("annotations") or {}).get(CREATED_BY_ANNOTATION) != environment:
        return Teardown(
            "Done",
            namespace_kept=f"namespace {name} stays: Berth did not create it for {environment}",
        )
    if kept:
        listed = ", ".join(_name(obj) for obj in kept)
        return Teardown(
            "Done", namespace_kept=f"namespace {name} stays: it holds retained {listed}"
        )
    if meta.get("deletionTimestamp"):
        return Teardown("Namespace", waiting_for=[f"Namespace/{name} is being deleted"])
    return Teardown("Namespace", delete_namespace=True)


# A wait on the same things this long is reported (an Event, and Ready's reason).
BLOCKED_AFTER_SECONDS = 60.0


def refs_of_statuses(workloads: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The provisioned objects the Workloads' statuses list (claims and objects)."""
    found: dict[tuple[str, str, str], dict[str, str]] = {}
    for body in workloads:
        for entry in (body.get("status") or {}).get("resources") or []:
            if not isinstance(entry, Mapping):
                continue
            refs = [
                *(entry.get("objects") or []),
                *([entry["claim"]] if entry.get("claim") else []),
            ]
            for ref in refs:
                if (
                    isinstance(ref, Mapping)
                    and ref.get("apiVersion")
                    and ref.get("kind")
                    and ref.get("name")
                ):
                    key = (str(ref["apiVersion"]), str(ref["kind"]), str(ref["name"]))
                    found[key] = {"apiVersion": key[0], "kind": key[1], "name": key[2]}
    return [found[k] for k in sorted(found)]


def teardown_state(
    plan: Teardown,
    previous: Mapping[str, Any] | None,
    objects: Sequence[Mapping[str, str]],
    now: str,
    waited: float,
) -> dict[str, Any]:
    """status.teardown: the plan's phase and waits, since when it waits for exactly
    these (``waited``: seconds since then, by the caller's clock), whether that is long
    enough to be reported, and the objects it looks for by name."""
    previous = previous or {}
    state = plan.status()
    if plan.waiting_for:
        same = previous.get("waitingFor") == plan.waiting_for and previous.get("since")
        state["since"] = previous["since"] if same else now
        if same and (previous.get("blocked") or waited >= BLOCKED_AFTER_SECONDS):
            state["blocked"] = True
    if objects:
        state["objects"] = [dict(o) for o in objects]
    return state
