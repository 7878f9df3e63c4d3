"""The status of a Workload and of an Environment — pure, no clock (``now`` is given).

Conditions follow kstatus (``berth.render.conditions``): ``Ready``, ``Reconciling`` and
``Stalled``, with finer ones beside them on a Workload: ``InputsValid``,
``ResourcesReady``, ``Available`` (the Deployment's rollout, ``berth.render.rollout``)
and ``PolicyCompliant`` (the Environment's policy, ``berth.render.policy``).
An unchanged situation yields a byte-identical status, so nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from berth.problems import Problem
from berth.reasons import Reason
from berth.render.conditions import (
    CONDITION_ORDER,
    Verdict,
    progressing_summary,
    ready_summary,
    stalled_summary,
    stamped,
)
from berth.render.pods import PodSummary, pod_finding
from berth.render.policy import Finding, compliance
from berth.render.rollout import Rollout, rollout


@dataclass(frozen=True, kw_only=True)
class Observed:
    """Everything a Workload's status is computed from."""

    generation: int
    environment: str | None
    problem: Problem | None = None
    # The Deployment as the server has it (None when there is none yet).
    deployment: Mapping[str, Any] | None = None
    desired_replicas: int | None = None
    endpoint: str | None = None
    url: str | None = None
    managed_objects: Sequence[Mapping[str, str]] = ()
    resources: Sequence[Mapping[str, Any]] = ()
    resources_problem: Problem | None = None
    # The API server refused a child for now (403, 409): retried, not the user's to fix.
    retrying: Problem | None = None
    # What the Workload's Pods say (berth.render.pods): why they are not Ready.
    pods: Sequence[PodSummary] = ()
    # What its children were rendered from (api.workload.RenderedFrom), when that
    # reconcile ended well.
    rendered_from: Mapping[str, Any] | None = None
    # The rules of its Environment's policy it breaks, at every level (berth.render.policy);
    # None when they could not be checked (no Environment, a spec that does not parse).
    policy: Sequence[Finding] | None = None


def workload_status(
    observed: Observed, previous: Mapping[str, Any] | None, now: str
) -> dict[str, Any]:
    """The whole status subresource for one Workload."""
    desired = observed.desired_replicas
    if desired is None and observed.deployment is not None:
        desired = int(observed.deployment.get("spec", {}).get("replicas", 1))
    roll = rollout(observed.deployment, desired or 0)

    problem = observed.problem
    if problem is not None:
        keeps = (
            "; the running Deployment is left as it was" if observed.deployment is not None else ""
        )
        verdicts = stalled_summary(
            problem.reason,
            problem.message,
            reconciling_message="waiting for the Workload or its Environment to change",
            stalled_message=problem.message + keeps,
        )
        verdicts["InputsValid"] = Verdict(
            status=False, reason=problem.reason, message=problem.message
        )
    else:
        verdicts = {
            "InputsValid": Verdict(
                status=True,
                reason=Reason.VALID,
                message="the Workload and its Environment are valid",
            ),
            "ResourcesReady": _resources_ready(observed),
            **_summary(observed, roll),
        }
    if observed.deployment is not None:
        verdicts["Available"] = Verdict(
            status=roll.available, reason=roll.reason, message=roll.message
        )
    if observed.policy is not None:
        compliant, reason, message = compliance(observed.policy, observed.environment)
        verdicts["PolicyCompliant"] = Verdict(status=compliant, reason=reason, message=message)
    previous_conditions = list((previous or {}).get("conditions") or [])
    conditions = stamped(previous_conditions, verdicts, now, observed.generation)
    conditions.sort(key=lambda c: CONDITION_ORDER.index(c["type"]))
    return _workload_fields(observed, roll, conditions)


def _resources_ready(observed: Observed) -> Verdict:
    waiting = observed.resources_problem
    if waiting is not None:
        return Verdict(status=False, reason=waiting.reason, message=waiting.message)
    count = len(observed.resources)
    return Verdict(
        status=True,
        reason=Reason.READY,
        message=f"{count} resource(s) ready" if count else "no resources requested",
    )


def _summary(observed: Observed, roll: Rollout) -> dict[str, Verdict]:
    """Ready, Reconciling and Stalled of a Workload whose inputs are valid."""
    # The Pods' own words, when the rollout is stuck on them. They stay Reconciling:
    # the kubelet and the scheduler keep trying (an image pushed, a quota raised, a
    # node added all heal them); the Deployment's progress deadline says when that
    # has gone on too long, and Stalled follows it, as kstatus does for Deployments.
    finding = None
    if not roll.available and roll.reason in (
        Reason.ROLLING_OUT,
        Reason.REPLICAS_UNAVAILABLE,
        Reason.PROGRESS_DEADLINE_EXCEEDED,
    ):
        finding = pod_finding(observed.pods)
    if observed.retrying is not None:
        return progressing_summary(
            observed.retrying.reason,
            observed.retrying.message,
            stalled_reason=Reason.RETRYING,
            stalled_message="the operator tries again shortly",
        )
    if roll.stalled:
        # Past the deadline the reason is the Deployment's; the Pods' words stay.
        message = roll.message if finding is None else f"{roll.message}; {finding.message}"
        return stalled_summary(roll.reason, message, reconciling_message=roll.message)
    if observed.resources_problem is not None:
        waiting = observed.resources_problem
        return progressing_summary(
            waiting.reason, waiting.message, stalled_message="waiting for resources"
        )
    if finding is not None:
        return progressing_summary(finding.reason, finding.message)
    if not roll.available:
        return progressing_summary(roll.reason, roll.message)
    return ready_summary(roll.message)


def _workload_fields(
    observed: Observed, roll: Rollout, conditions: list[dict[str, Any]]
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": observed.generation,
        "conditions": conditions,
        "replicas": {
            "desired": roll.desired,
            "ready": roll.ready,
            "available": roll.available_replicas,
            "summary": f"{roll.ready}/{roll.desired}",
        },
    }
    if observed.environment:
        status["environment"] = observed.environment
    if observed.endpoint:
        status["endpoint"] = observed.endpoint
    if observed.url:
        status["url"] = observed.url
    if observed.resources:
        status["resources"] = [dict(r) for r in observed.resources]
    if observed.managed_objects:
        status["managedObjects"] = [dict(o) for o in observed.managed_objects]
    if observed.rendered_from is not None:
        status["renderedFrom"] = dict(observed.rendered_from)
    return status


def environment_status(
    *,
    generation: int,
    namespace: str,
    namespace_ready: bool,
    problem: Problem | None,
    workloads: int,
    ready_workloads: int,
    previous: Mapping[str, Any] | None,
    now: str,
    policy: Sequence[Mapping[str, Any]] | None = None,
    waiting: Problem | None = None,
    preview: Mapping[str, Any] | None = None,
    previews: int | None = None,
) -> dict[str, Any]:
    """The status of an Environment: is its namespace there, how its Workloads fare, and
    (``policy``, from ``berth.render.policy.policy_status``) how many break each rule;
    for a preview, ``preview`` (status.preview). ``waiting``: what it waits for that is
    no one's to fix (a base not there yet, a turn in the quota)."""
    if problem is not None:
        verdicts = stalled_summary(
            problem.reason,
            problem.message,
            reconciling_message="waiting for the Environment to change",
        )
    elif waiting is not None:
        verdicts = progressing_summary(waiting.reason, waiting.message)
    elif not namespace_ready:
        verdicts = progressing_summary(
            Reason.NAMESPACE_NOT_READY, f"namespace {namespace} is not active"
        )
    else:
        verdicts = ready_summary(
            f"namespace {namespace} is ready; {ready_workloads} of {workloads} Workloads ready"
        )
    previous_conditions = list((previous or {}).get("conditions") or [])
    return {
        "observedGeneration": generation,
        "conditions": stamped(previous_conditions, verdicts, now, generation),
        "namespace": namespace,
        "workloads": workloads,
        "readyWorkloads": ready_workloads,
        **({"policy": [dict(entry) for entry in policy]} if policy else {}),
        **({"preview": dict(preview)} if preview else {}),
        **({"previews": previews} if previews is not None else {}),
    }
