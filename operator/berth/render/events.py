"""Which status changes are worth a Kubernetes Event — pure.

Events are for real transitions only (Crossplane's rule: events when something happens):
Ready flipping, Stalled turning True, a failure that is retried showing for the first
time, a rule of the Environment's policy at Warn or Audit newly broken. The handlers post
what ``transitions`` returns; an unchanged status returns nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from berth.reasons import Reason
from berth.render.conditions import ready_condition
from berth.render.folding import reported
from berth.render.pods import POD_FAILURE_REASONS
from berth.render.rollout import PROGRESS_REASONS

# Ready reasons that are failures although the Workload is not Stalled: each gets one
# Warning Event when it first appears.
WARNING_REASONS = frozenset({Reason.CHILD_FORBIDDEN, Reason.CHILD_CONFLICT, Reason.RECONCILE_ERROR})


@dataclass(frozen=True, kw_only=True)
class Transition:
    """A change worth a Kubernetes Event."""

    reason: str
    message: str
    warning: bool


def transitions(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Transition]:
    """Events for real transitions only: Ready flipping, Stalled turning True, a Pod
    failure (ImagePullBackOff, CrashLoopBackOff...) appearing, a rule of the policy at
    Warn or Audit broken (or broken otherwise).

    The first steps of a new Workload (not ready yet, then rolling out) are not news,
    and neither is its first report being Ready; becoming Ready again (after a rollout,
    a failure, a loss) is, and so is losing Ready, getting stuck, or Pods that fail.
    """
    before = {c["type"]: c for c in (old or {}).get("conditions") or []}
    after = {c["type"]: c for c in new.get("conditions") or []}
    events = []
    stalled, was_stalled = after.get("Stalled"), before.get("Stalled")
    stalled_now = bool(stalled and stalled["status"] == "True")
    if (
        stalled
        and stalled_now
        and (
            not was_stalled
            or was_stalled.get("status") != "True"
            or was_stalled.get("reason") != stalled["reason"]
        )
    ):
        events.append(
            Transition(reason=stalled["reason"], message=stalled["message"], warning=True)
        )
    compliant, was_compliant = after.get("PolicyCompliant"), before.get("PolicyCompliant")
    if (
        compliant
        and compliant["status"] == "False"
        and not stalled_now
        and (not was_compliant or was_compliant.get("message") != compliant["message"])
    ):
        # Rules at Warn or Audit: the Workload runs, and this Event says what it breaks.
        events.append(
            Transition(reason=compliant["reason"], message=compliant["message"], warning=True)
        )
    ready, was_ready = after.get("Ready"), before.get("Ready")
    if ready and ready["status"] == "True":
        # A Workload's first report is no change of a reported state: its status says it
        # (Ready, since when). A quick first rollout thus costs no Event.
        if reported(old) and (not was_ready or was_ready.get("status") != "True"):
            events.append(Transition(reason=Reason.READY, message=ready["message"], warning=False))
    elif (
        ready
        and was_ready
        and was_ready.get("status") == "True"
        and not stalled_now
        and not _new_rollout(old, new)
    ):
        events.append(Transition(reason=ready["reason"], message=ready["message"], warning=True))
    elif (
        ready
        and not stalled_now
        and ready.get("reason") in WARNING_REASONS | POD_FAILURE_REASONS
        and (not was_ready or was_ready.get("reason") != ready["reason"])
    ):
        # A failure that is retried (not Stalled) is still news the first time it shows:
        # a child refused for now, or the Pods' own (ImagePullBackOff, CrashLoopBackOff...).
        events.append(Transition(reason=ready["reason"], message=ready["message"], warning=True))
    return events


def _new_rollout(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Ready lost because a new spec is rolling out: routine, not a Warning (becoming
    Ready again is the news; a rollout that fails says so by its own reason)."""
    ready = ready_condition(new)
    return bool(
        ready
        and ready.get("reason") in PROGRESS_REASONS
        and int(new.get("observedGeneration") or 0)
        > int((old or {}).get("observedGeneration") or 0)
    )
