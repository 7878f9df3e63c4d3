"""A Promotion's way (pure): which revision it applies, which approvals count, how its
target is doing, and the status that says so.

The phases: Pending (being checked), WaitingForApproval, Progressing (the target is
written, its rollout under way), Succeeded (the target is Ready at the revision, and
has recorded it) and Failed. Failed before the write is final: the target was not
touched, and a new Promotion is the way to try again. After the write, a target that is
Stalled makes the Promotion Failed for as long as it is, with the target's words.

Conditions are kstatus': Ready (True once Succeeded), Reconciling (True while Berth
works on it) and Stalled (True when it cannot go on without someone's help).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from berth.clock import seconds_between
from berth.problems import Problem
from berth.promotion.revision import condition, is_ready_at, revision_name
from berth.reasons import Reason


@dataclass(frozen=True)
class Step:
    """Where the Promotion is: its phase, and the reason and message of its Ready."""

    phase: str
    reason: str
    message: str

    @classmethod
    def failed(cls, problem: Problem) -> Step:
        return cls("Failed", problem.reason, problem.message)


def finished(status: Mapping[str, Any]) -> bool:
    """Succeeded; or Failed before the target was written (a new Promotion is the way to
    try again). A Promotion that wrote its target and Failed with it follows it still."""
    phase = status.get("phase")
    written = (status.get("target") or {}).get("generation") is not None
    return phase == "Succeeded" or (phase == "Failed" and not written)


def source_revision(
    spec: Mapping[str, Any], workload: Mapping[str, Any], revisions: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | Problem:
    """The revision a Promotion applies: the one it names, else the source Workload's
    current one. ``revisions`` are the source Workload's."""
    meta = workload["metadata"]
    where = f"Workload {meta['namespace']}/{meta['name']}"
    by_name = {r["metadata"]["name"]: r for r in revisions}
    numbers = sorted(int(r["spec"]["revision"]) for r in revisions)
    listed = ", ".join(str(n) for n in numbers) or "none"
    wanted = spec.get("revision")
    if wanted is not None:
        found = by_name.get(revision_name(meta["name"], int(wanted)))
        if found is None:
            return Problem(
                Reason.REVISION_NOT_FOUND,
                f"{where} has no revision {wanted} (its revisions: {listed}); "
                "name one it has, or leave spec.revision out for its current one",
            )
        return found
    current = ((workload.get("status") or {}).get("revision") or {}).get("name")
    if not current:
        return Problem(
            Reason.NO_READY_REVISION,
            f"{where} has no revision yet: none of its generations has become Ready; "
            "promote it once it is Ready",
        )
    found = by_name.get(current)
    if found is None:
        return Problem(
            Reason.REVISION_NOT_FOUND,
            f"{where}'s current revision {current} is gone (its revisions: {listed})",
        )
    return found


def eligible_approvals(
    promotion: Mapping[str, Any], approvals: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """Approvals of this Promotion made after it was (an approval left behind by an
    earlier Promotion of the same name does not count), oldest first."""
    created = (promotion.get("metadata") or {}).get("creationTimestamp")
    name = promotion["metadata"]["name"]
    found = [
        a
        for a in approvals
        if (a.get("spec") or {}).get("promotion") == name
        and seconds_between(created, (a.get("metadata") or {}).get("creationTimestamp")) >= 0
    ]
    return sorted(found, key=lambda a: str(a["metadata"].get("creationTimestamp")))


def waiting_for_approval(namespace: str, *, approvals_known: bool = True) -> Step:
    """Who may approve is whom RBAC lets create a PromotionApproval there: the API server
    refuses anyone else's at creation, so every approval there is one that counts.
    ``approvals_known`` False: the operator cannot list PromotionApprovals now, so one
    that exists may not be seen; it says so rather than let people wait in silence."""
    message = (
        f"waiting for a PromotionApproval in namespace {namespace!r} naming this Promotion, by "
        "a subject allowed to create one there (RBAC on promotionapprovals.berth.dev)"
    )
    if not approvals_known:
        message += (
            "; the operator cannot list PromotionApprovals now (the CRD "
            "promotionapprovals.berth.dev not installed, or its RBAC): its log says which, "
            "and it takes them up once it can"
        )
    return Step("WaitingForApproval", Reason.AWAITING_APPROVAL, message)


def follow(target: Mapping[str, Any] | None, generation: int, revision: str) -> Step:
    """How the target is doing after the write that made ``generation``."""
    if target is None:
        return Step("Failed", Reason.SUPERSEDED, "the target Workload was deleted")
    meta, status = target["metadata"], target.get("status") or {}
    where = f"Workload {meta['namespace']}/{meta['name']}"
    if int(meta.get("generation") or 0) > generation:
        return Step(
            "Failed",
            Reason.SUPERSEDED,
            f"{where} was changed (generation {meta.get('generation')}) before it became "
            f"Ready at generation {generation}; it no longer runs revision {revision} as "
            "promoted",
        )
    recorded = (status.get("revision") or {}).get("workloadGeneration")
    if is_ready_at(target, generation) and recorded == generation:
        current = (status.get("revision") or {}).get("name")
        return Step(
            "Succeeded",
            Reason.PROMOTED,
            f"{where} is Ready at revision {revision} (recorded there as {current})",
        )
    ready = condition(status, "Ready") or {}
    stalled = condition(status, "Stalled") or {}
    if status.get("observedGeneration") == generation and stalled.get("status") == "True":
        return Step(
            "Failed",
            str(ready.get("reason") or stalled.get("reason") or Reason.PROGRESSING),
            f"{where} is Stalled: {ready.get('message') or stalled.get('message')}",
        )
    return Step(
        "Progressing",
        Reason.PROGRESSING,
        f"{where} is rolling out revision {revision} (generation {generation})",
    )


def _condition(
    kind: str, status: bool, reason: str, message: str, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    old = condition(previous, kind) or {}
    value = "True" if status else "False"
    since = old.get("lastTransitionTime") if old.get("status") == value else None
    return {
        "type": kind,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since or now,
    }


def conditions(step: Step, previous: Mapping[str, Any] | None, now: str) -> list[dict[str, Any]]:
    """Ready, Reconciling and Stalled for ``step``."""
    previous = previous or {}
    working = step.phase in ("Pending", "Progressing")
    stuck = step.phase == "Failed"
    idle = Reason.READY if step.phase == "Succeeded" else step.reason
    return [
        _condition("Ready", step.phase == "Succeeded", step.reason, step.message, previous, now),
        _condition(
            "Reconciling",
            working,
            step.reason if working else idle,
            step.message if working else "nothing to do",
            previous,
            now,
        ),
        _condition(
            "Stalled",
            stuck,
            step.reason if stuck else Reason.PROGRESSING,
            step.message if stuck else "not stalled",
            previous,
            now,
        ),
    ]
