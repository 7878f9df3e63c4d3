"""How each object of a trace fares: Ready, on its way, failed — pure.

Where the operator already judges something, the same code judges it here: a
Deployment's rollout (``render.rollout.rollout``), a Pod's failure
(``render.pods.pod_failure``), a Workload's and an Environment's conditions as the
operator wrote them. The trace adds no opinion of its own on those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from berth.cli.trace.model import Health, State, Unreadable
from berth.reasons import PodReason, Reason
from berth.render.pods import pod_failure
from berth.render.rollout import rollout

# Ready=False reasons of a Workload that only say "on its way": nothing is wrong yet.
WAITING_REASONS = frozenset(
    {
        Reason.DEPLOYMENT_MISSING,
        Reason.ROLLOUT_PENDING,
        Reason.ROLLING_OUT,
        Reason.REPLICAS_UNAVAILABLE,
        Reason.OUTPUTS_UNAVAILABLE,
        Reason.WAITING,
        Reason.CLAIM_PENDING,
        Reason.CLAIM_NOT_READY,
        Reason.CLAIM_DELETING,
        Reason.CONNECTION_SECRET_PENDING,
        Reason.PROGRESSING,
    }
)
PRESENT = Health(State.PRESENT, "Present")


def condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return cond
    return None


def _words(cond: Mapping[str, Any], fallback: str) -> tuple[str, str]:
    return str(cond.get("reason") or fallback), " ".join(str(cond.get("message") or "").split())


def unreadable(why: Unreadable) -> Health:
    return Health(State.UNKNOWN, why.reason, why.message)


def berth_object(body: Mapping[str, Any]) -> Health:
    """A Workload or an Environment, by the conditions the operator wrote (kstatus)."""
    metadata = body.get("metadata") or {}
    status = body.get("status") or {}
    generation = int(metadata.get("generation") or 0)
    observed = status.get("observedGeneration")
    ready = condition(body, "Ready")
    if ready is None:
        return Health(
            State.PROGRESSING,
            "NoStatus",
            "the operator has not written its status yet (is it running?)",
        )
    if observed is not None and int(observed) < generation:
        return Health(
            State.PROGRESSING,
            "Reconciling",
            f"the status is of generation {observed}; the operator has not caught up with "
            f"generation {generation} yet",
        )
    reason, message = _words(ready, "Ready")
    if ready.get("status") == "True":
        return Health(State.READY, reason, message)
    stalled = condition(body, "Stalled")
    if stalled is not None and stalled.get("status") == "True":
        return Health(State.FAILED, *_words(stalled, reason))
    if reason in WAITING_REASONS or ready.get("status") != "False":
        return Health(State.PROGRESSING, reason, message)
    return Health(State.FAILED, reason, message)


def resource_entry(entry: Mapping[str, Any]) -> Health:
    """One of a Workload's ``status.resources``: its state as the operator wrote it."""
    state = str(entry.get("state") or "Pending")
    reason = str(entry.get("reason") or state)
    message = str(entry.get("message") or "")
    if state == "Ready":
        return Health(State.READY, reason, message)
    if state == "Failed":
        return Health(State.FAILED, reason, message)
    return Health(State.PROGRESSING, reason, message)


def kubernetes_object(obj: Mapping[str, Any]) -> Health:
    """Any object, by what its kind says about readiness."""
    kind = obj.get("kind")
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Health(State.PROGRESSING, "Terminating", "being deleted")
    judge = _BY_KIND.get(str(kind))
    if judge is not None:
        return judge(obj)
    if condition(obj, "Ready") is not None or condition(obj, "Synced") is not None:
        return _claim_like(obj)
    return PRESENT


def _deployment(obj: Mapping[str, Any]) -> Health:
    roll = rollout(obj, int((obj.get("spec") or {}).get("replicas", 1)))
    if roll.available:
        return Health(State.READY, roll.reason, roll.message)
    if roll.stalled or roll.reason == PodReason.REPLICA_FAILURE:
        return Health(State.FAILED, roll.reason, roll.message)
    return Health(State.PROGRESSING, roll.reason, roll.message)


def _replica_set(obj: Mapping[str, Any]) -> Health:
    want = int((obj.get("spec") or {}).get("replicas") or 0)
    ready = int((obj.get("status") or {}).get("readyReplicas") or 0)
    failure = condition(obj, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        return Health(State.FAILED, *_words(failure, PodReason.REPLICA_FAILURE))
    message = f"{ready} of {want} Pods ready"
    if ready >= want:
        return Health(State.READY, "Ready", message)
    return Health(State.PROGRESSING, "PodsNotReady", message)


def _pod(obj: Mapping[str, Any]) -> Health:
    problem = pod_failure(obj)
    if problem is not None:
        return Health(State.FAILED, problem.reason, problem.message)
    status = obj.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    if phase == "Failed":
        return Health(State.FAILED, str(status.get("reason") or "Failed"), _one_line(status))
    if phase == "Succeeded":
        return Health(State.PRESENT, "Completed")
    ready = condition(obj, "Ready")
    if ready is not None and ready.get("status") == "True":
        return Health(State.READY, "Running")
    waiting = _waiting_reason(status)
    if waiting:
        return Health(State.PROGRESSING, waiting)
    reason, message = _words(ready or {}, phase)
    return Health(State.PROGRESSING, reason, message)


def _waiting_reason(status: Mapping[str, Any]) -> str | None:
    for key in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(key) or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                return str(waiting["reason"])
    return None


def _one_line(status: Mapping[str, Any]) -> str:
    return " ".join(str(status.get("message") or "").split())


def claim(obj: Mapping[str, Any]) -> Health:
    """A resource's claim: by its Synced and Ready conditions; none yet is on its way."""
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Health(State.PROGRESSING, "Terminating", "being deleted")
    return _claim_like(obj)


def _claim_like(obj: Mapping[str, Any]) -> Health:
    """A Crossplane claim, or any object with kstatus-style Ready/Synced conditions."""
    synced = condition(obj, "Synced")
    if synced is not None and synced.get("status") == "False":
        return Health(State.FAILED, *_words(synced, "NotSynced"))
    ready = condition(obj, "Ready")
    if ready is None:
        return Health(State.PROGRESSING, "NoReadyCondition", "no Ready condition yet")
    reason, message = _words(ready, "Ready")
    if ready.get("status") == "True":
        return Health(State.READY, reason, message)
    return Health(State.PROGRESSING, reason, message)


Judge = Callable[[Mapping[str, Any]], Health]


def _phase(ready: str, failed: str | None = None) -> Judge:
    def judge(obj: Mapping[str, Any]) -> Health:
        phase = str((obj.get("status") or {}).get("phase") or "Pending")
        if phase == ready:
            return Health(State.READY, phase)
        if phase == failed:
            return Health(State.FAILED, phase)
        return Health(State.PROGRESSING, phase)

    return judge


_BY_KIND: dict[str, Judge] = {
    "Deployment": _deployment,
    "ReplicaSet": _replica_set,
    "Pod": _pod,
    "Namespace": _phase("Active"),
    "PersistentVolumeClaim": _phase("Bound", failed="Lost"),
}
