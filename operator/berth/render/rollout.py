"""Reading a Deployment's rollout the way ``kubectl rollout status`` does — pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from berth.reasons import PodReason, Reason
from berth.render.conditions import find_condition

# Ready reasons that only say "on its way": the rollout of this generation has not finished,
# and nothing is wrong with it.
PROGRESS_REASONS = frozenset(
    {
        Reason.DEPLOYMENT_MISSING,
        Reason.ROLLOUT_PENDING,
        Reason.ROLLING_OUT,
        Reason.REPLICAS_UNAVAILABLE,
    }
)


@dataclass(frozen=True, kw_only=True)
class Rollout:
    """Where a Deployment's rollout stands: its reason and message, and its Pods' counts.

    Whether it is done, stuck or still going follows from the reason alone, so it is
    read from it rather than passed alongside."""

    reason: str
    message: str
    ready: int
    available_replicas: int
    desired: int

    @property
    def available(self) -> bool:
        return self.reason == Reason.AVAILABLE

    @property
    def stalled(self) -> bool:
        """Past the Deployment's progress deadline: kstatus's Stalled for a Deployment."""
        return self.reason == Reason.PROGRESS_DEADLINE_EXCEEDED

    @property
    def in_progress(self) -> bool:
        return not (self.available or self.stalled)


def rollout(deployment: Mapping[str, Any] | None, desired: int) -> Rollout:
    """Read a Deployment's rollout the way `kubectl rollout status` does."""
    if deployment is None:
        return Rollout(
            reason=Reason.DEPLOYMENT_MISSING,
            message="the Deployment does not exist yet",
            ready=0,
            available_replicas=0,
            desired=desired,
        )
    status = deployment.get("status", {})
    # The Deployment's own replicas are the fact, whatever the caller expected.
    want = int(deployment.get("spec", {}).get("replicas", desired))
    available = int(status.get("availableReplicas") or 0)
    reason, message = _step(deployment, want=want, available=available)
    return Rollout(
        reason=reason,
        message=message,
        ready=int(status.get("readyReplicas") or 0),
        available_replicas=available,
        desired=want,
    )


def _step(deployment: Mapping[str, Any], *, want: int, available: int) -> tuple[str, str]:
    """The reason and message of the step the rollout is at."""
    status = deployment.get("status", {})
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    generation = int(deployment.get("metadata", {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    name = deployment.get("metadata", {}).get("name", "")
    conditions = status.get("conditions")

    # A new generation first: its rollout has not been judged yet, whatever the
    # conditions of the previous one say.
    if observed < generation:
        return Reason.ROLLOUT_PENDING, f"the rollout of Deployment {name} has not started yet"
    progressing = find_condition(conditions, "Progressing")
    if progressing and progressing.get("reason") == Reason.PROGRESS_DEADLINE_EXCEEDED:
        return (
            Reason.PROGRESS_DEADLINE_EXCEEDED,
            f"Deployment {name} exceeded its progress deadline: {progressing.get('message', '')}",
        )
    failure = find_condition(conditions, "ReplicaFailure")
    if failure and failure.get("status") == "True" and (updated < want or available < want):
        # Its ReplicaSet cannot create Pods (a quota, an admission webhook, Pod Security):
        # the API server's words, as the ReplicaSet controller got them.
        return (
            PodReason.REPLICA_FAILURE,
            f"Deployment {name} cannot create Pods: "
            f"{failure.get('message') or failure.get('reason') or 'no reason given'}",
        )
    if updated < want:
        return Reason.ROLLING_OUT, f"{updated} of {want} replicas updated"
    if total > updated:
        return Reason.ROLLING_OUT, f"{total - updated} old replicas are pending termination"
    if available < want:
        return Reason.REPLICAS_UNAVAILABLE, f"{available} of {want} replicas available"
    return Reason.AVAILABLE, f"{available} of {want} replicas available"
