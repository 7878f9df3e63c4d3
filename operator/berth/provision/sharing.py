"""One definition per shared resource: who may write it, and what the others are told.

A resource with an ``id`` is shared by every Workload of the Environment that asks for
the same type, class and id. Its objects have one definition, and the Workload it comes
from is recorded on them:

- ``berth.dev/defined-by``: the Workload whose definition the objects hold — the first
  one to write them (it created them, or took them over when their previous definer
  stopped asking for the resource);
- ``berth.dev/definition``: the fingerprint (``ResourcePlan.fingerprint``) of that
  definition.

Only the definer writes the objects. Another user whose plan has the same fingerprint
uses them as they are; one whose plan differs gets ``SharedResourceConflict`` naming the
definer, and never writes: no tug of war on the claim.

Pure: the caller reads the live object and says which Workloads ask for the resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from berth.names import DEFINED_BY_ANNOTATION, DEFINITION_ANNOTATION
from berth.problems import Problem
from berth.provision.model import ResourcePlan
from berth.reasons import Reason


@dataclass(frozen=True, kw_only=True)
class SharedDecision:
    """What a Workload does with a resource's objects.

    ``write``: apply the plan's manifests (with ``definition_annotations`` of ``definer``).
    ``takeover``: the write replaces another definer's (or an unrecorded) definition, so
    it must be conditional on the object not having changed since it was read.
    ``definer``: who defines the resource once this is done.
    ``conflict``: set when this Workload's definition loses; it must not write."""

    write: bool
    definer: str
    takeover: bool = False
    conflict: Problem | None = None


def definition_annotations(plan: ResourcePlan, workload: str) -> dict[str, str]:
    """The annotations a definer puts on every object of a shared resource."""
    return {DEFINED_BY_ANNOTATION: workload, DEFINITION_ANNOTATION: plan.fingerprint}


def recorded_definition(live: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """(definer, fingerprint) as recorded on a live object; (None, None) when absent."""
    if live is None:
        return None, None
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    definer = annotations.get(DEFINED_BY_ANNOTATION)
    fingerprint = annotations.get(DEFINITION_ANNOTATION)
    return (
        definer if isinstance(definer, str) and definer else None,
        fingerprint if isinstance(fingerprint, str) and fingerprint else None,
    )


def choose_definer(
    plan: ResourcePlan,
    workload: str,
    live: Mapping[str, Any] | None,
    users: frozenset[str] | set[str],
    definer_fingerprint: str | None = None,
    differing: tuple[str, ...] = (),
) -> SharedDecision:
    """Whether ``workload`` writes the objects of shared ``plan``, and as whose definition.

    ``live`` is the resource's first object as the server has it (None: not created
    yet); ``users`` the Workloads of the namespace that ask for the same identity now
    (live, not being deleted; ``workload`` among them or not). ``definer_fingerprint``
    is the fingerprint of the recorded definer's current plan when the caller could
    compute it (otherwise the fingerprint recorded on the object is used), and
    ``differing`` names the params in which the two definitions differ, for the message.

    A user whose plan equals the definer's may write (what it writes is the definer's
    definition, annotations included: it only recreates what is missing). A plan that
    is not shared is always written by its one Workload."""
    if not plan.shared or live is None:
        return SharedDecision(write=True, definer=workload)
    definer, recorded = recorded_definition(live)
    if definer == workload:
        return SharedDecision(write=True, definer=workload)
    if definer is None or definer not in users:
        # Never recorded (made by an older Berth), or its definer no longer asks for it:
        # this user's definition takes over — if nobody else's did in the meantime.
        return SharedDecision(write=True, definer=workload, takeover=True)
    theirs = definer_fingerprint or recorded
    if theirs == plan.fingerprint:
        return SharedDecision(write=True, definer=definer)
    return SharedDecision(
        write=False, definer=definer, conflict=conflict_problem(plan, definer, differing)
    )


def conflict_problem(plan: ResourcePlan, definer: str, differing: tuple[str, ...]) -> Problem:
    klass = f", class {plan.class_}" if plan.class_ else ""
    what = f"params {', '.join(differing)}" if differing else "its params or metadata"
    return Problem(
        Reason.SHARED_RESOURCE_CONFLICT,
        f"resource {plan.resource!r} (type {plan.type}{klass}, id {plan.id}) is shared, and "
        f"Workload {definer!r} defined it first, differently ({what}); its definition "
        "stays. Ask for the same params, or use another id for a resource of its own",
        resource=plan.resource,
    )


def differing_params(
    mine: Mapping[str, Any] | None, theirs: Mapping[str, Any] | None
) -> tuple[str, ...]:
    """The names of the params two definitions set differently (values never shown)."""
    a, b = dict(mine or {}), dict(theirs or {})
    return tuple(sorted(k for k in set(a) | set(b) if a.get(k, _MISSING) != b.get(k, _MISSING)))


_MISSING = object()
