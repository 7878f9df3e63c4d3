"""Compute a Workload's status from what happened — pure, no clock (``now`` is given).

Conditions follow kstatus: ``Ready`` (written False early, so waiters can trust it),
``Reconciling`` (work in flight) and ``Stalled`` (no progress without a change from
someone), with finer ones beside them: ``InputsValid``, ``ResourcesReady`` and
``Available``. Reasons are stable CamelCase words; messages carry no timestamps so
that an unchanged situation yields a byte-identical status and no write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from berth.clock import seconds_between
from berth.problems import Problem
from berth.reasons import PodReason, Reason
from berth.render.pods import POD_FAILURE_REASONS, PodSummary, pod_finding
from berth.render.policy import Finding, compliance

CONDITION_ORDER = (
    "Ready",
    "Reconciling",
    "Stalled",
    "InputsValid",
    "ResourcesReady",
    "Available",
    "PolicyCompliant",
)


@dataclass(frozen=True)
class Observed:
    """Everything the status is computed from."""

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
    # The rules of its Environment's policy it breaks, at every level (berth.render.policy);
    # None when they could not be checked (no Environment, a spec that does not parse).
    policy: Sequence[Finding] | None = None


def condition(
    previous: Sequence[Mapping[str, Any]],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    now: str,
    generation: int,
) -> dict[str, Any]:
    """A condition, keeping the previous transition time when its status did not change."""
    value = "True" if status else "False"
    transition = now
    for old in previous:
        if (
            old.get("type") == type_
            and old.get("status") == value
            and old.get("lastTransitionTime")
        ):
            transition = old["lastTransitionTime"]
            break
    return {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }


def _deployment_condition(deployment: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in deployment.get("status", {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True)
class Rollout:
    available: bool
    reason: str
    message: str
    stalled: bool
    in_progress: bool
    ready: int
    available_replicas: int
    desired: int


def rollout(deployment: Mapping[str, Any] | None, desired: int) -> Rollout:
    """Read a Deployment's rollout the way `kubectl rollout status` does."""
    if deployment is None:
        return Rollout(
            False,
            Reason.DEPLOYMENT_MISSING,
            "the Deployment does not exist yet",
            False,
            True,
            0,
            0,
            desired,
        )
    spec = deployment.get("spec", {})
    status = deployment.get("status", {})
    want = int(spec.get("replicas", desired))
    ready = int(status.get("readyReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    generation = int(deployment.get("metadata", {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    name = deployment.get("metadata", {}).get("name", "")

    # A new generation first: its rollout has not been judged yet, whatever the
    # conditions of the previous one say.
    if observed < generation:
        return Rollout(
            False,
            Reason.ROLLOUT_PENDING,
            f"the rollout of Deployment {name} has not started yet",
            False,
            True,
            ready,
            available,
            want,
        )
    progressing = _deployment_condition(deployment, "Progressing")
    if progressing and progressing.get("reason") == Reason.PROGRESS_DEADLINE_EXCEEDED:
        return Rollout(
            False,
            Reason.PROGRESS_DEADLINE_EXCEEDED,
            f"Deployment {name} exceeded its progress deadline: {progressing.get('message', '')}",
            True,
            False,
            ready,
            available,
            want,
        )
    failure = _deployment_condition(deployment, "ReplicaFailure")
    if failure and failure.get("status") == "True" and (updated < want or available < want):
        # Its ReplicaSet cannot create Pods (a quota, an admission webhook, Pod Security):
        # the API server's words, as the ReplicaSet controller got them.
        return Rollout(
            False,
            PodReason.REPLICA_FAILURE,
            f"Deployment {name} cannot create Pods: "
            f"{failure.get('message') or failure.get('reason') or 'no reason given'}",
            False,
            True,
            ready,
            available,
            want,
        )
    if updated < want:
        return Rollout(
            False,
            Reason.ROLLING_OUT,
            f"{updated} of {want} replicas updated",
            False,
            True,
            ready,
            available,
            want,
        )
    if total > updated:
        return Rollout(
            False,
            Reason.ROLLING_OUT,
            f"{total - updated} old replicas are pending termination",
            False,
            True,
            ready,
            available,
            want,
        )
    if available < want:
        return Rollout(
            False,
            Reason.REPLICAS_UNAVAILABLE,
            f"{available} of {want} replicas available",
            False,
            True,
            ready,
            available,
            want,
        )
    return Rollout(
        True,
        Reason.AVAILABLE,
        f"{available} of {want} replicas available",
        False,
        False,
        ready,
        available,
        want,
    )


def workload_status(
    observed: Observed, previous: Mapping[str, Any] | None, now: str
) -> dict[str, Any]:
    """The whole status subresource for one Workload."""
    prev_conditions = list((previous or {}).get("conditions") or [])
    gen = observed.generation

    def cond(type_: str, status: bool, reason: str, message: str) -> dict[str, Any]:
        return condition(prev_conditions, type_, status, reason, message, now, gen)

    desired = observed.desired_replicas
    if desired is None and observed.deployment is not None:
        desired = int(observed.deployment.get("spec", {}).get("replicas", 1))
    roll = rollout(observed.deployment, desired or 0)

    conditions: list[dict[str, Any]] = []
    problem = observed.problem
    if problem is not None:
        keeps = (
            "; the running Deployment is left as it was" if observed.deployment is not None else ""
        )
        conditions += [
            cond("Ready", False, problem.reason, problem.message),
            cond(
                "Reconciling",
                False,
                problem.reason,
                "waiting for the Workload or its Environment to change",
            ),
            cond("Stalled", True, problem.reason, problem.message + keeps),
            cond("InputsValid", False, problem.reason, problem.message),
        ]
    else:
        conditions.append(
            cond("InputsValid", True, Reason.VALID, "the Workload and its Environment are valid")
        )
        resources_problem = observed.resources_problem
        if resources_problem is not None:
            conditions.append(
                cond("ResourcesReady", False, resources_problem.reason, resources_problem.message)
            )
        else:
            count = len(observed.resources)
            conditions.append(
                cond(
                    "ResourcesReady",
                    True,
                    Reason.READY,
                    f"{count} resource(s) ready" if count else "no resources requested",
                )
            )
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
            retrying = observed.retrying
            conditions += [
                cond("Ready", False, retrying.reason, retrying.message),
                cond("Reconciling", True, retrying.reason, retrying.message),
                cond("Stalled", False, Reason.RETRYING, "the operator tries again shortly"),
            ]
        elif roll.stalled:
            # Past the deadline the reason is the Deployment's; the Pods' words stay.
            message = roll.message if finding is None else f"{roll.message}; {finding.message}"
            conditions += [
                cond("Ready", False, roll.reason, message),
                cond("Reconciling", False, roll.reason, roll.message),
                cond("Stalled", True, roll.reason, message),
            ]
        elif resources_problem is not None:
            conditions += [
                cond("Ready", False, resources_problem.reason, resources_problem.message),
                cond("Reconciling", True, resources_problem.reason, resources_problem.message),
                cond("Stalled", False, Reason.PROGRESSING, "waiting for resources"),
            ]
        elif finding is not None:
            conditions += [
                cond("Ready", False, finding.reason, finding.message),
                cond("Reconciling", True, finding.reason, finding.message),
                cond("Stalled", False, Reason.PROGRESSING, finding.message),
            ]
        elif not roll.available:
            conditions += [
                cond("Ready", False, roll.reason, roll.message),
                cond("Reconciling", True, roll.reason, roll.message),
                cond("Stalled", False, Reason.PROGRESSING, roll.message),
            ]
        else:
            conditions += [
                cond("Ready", True, Reason.READY, roll.message),
                cond("Reconciling", False, Reason.READY, "nothing to do"),
                cond("Stalled", False, Reason.READY, "nothing to do"),
            ]
    if observed.deployment is not None:
        conditions.append(cond("Available", roll.available, roll.reason, roll.message))
    if observed.policy is not None:
        conditions.append(
            cond("PolicyCompliant", *compliance(observed.policy, observed.environment))
        )
    conditions.sort(key=lambda c: CONDITION_ORDER.index(c["type"]))

    status: dict[str, Any] = {
        "observedGeneration": gen,
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
    return status


def ready_condition(status: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    for cond in (status or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True)
class Transition:
    """A change worth a Kubernetes Event."""

    reason: str
    message: str
    warning: bool


def transitions(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Transition]:
    """Events for real transitions only: Ready flipping, Stalled turning True, a Pod
    failure (ImagePullBackOff, CrashLoopBackOff...) appearing, a rule of the policy at
    Warn or Audit broken (or broken otherwise).

    The first steps of a new Workload (not ready yet, then rolling out) are not news;
    becoming Ready is, and so is losing Ready, getting stuck, or Pods that fail.
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
        events.append(Transition(stalled["reason"], stalled["message"], True))
    compliant, was_compliant = after.get("PolicyCompliant"), before.get("PolicyCompliant")
    if (
        compliant
        and compliant["status"] == "False"
        and not stalled_now
        and (not was_compliant or was_compliant.get("message") != compliant["message"])
    ):
        # Rules at Warn or Audit: the Workload runs, and this Event says what it breaks.
        events.append(Transition(compliant["reason"], compliant["message"], True))
    ready, was_ready = after.get("Ready"), before.get("Ready")
    if ready and ready["status"] == "True":
        if not was_ready or was_ready.get("status") != "True":
            events.append(Transition(Reason.READY, ready["message"], False))
    elif (
        ready
        and was_ready
        and was_ready.get("status") == "True"
        and not stalled_now
        and not _new_rollout(old, new)
    ):
        events.append(Transition(ready["reason"], ready["message"], True))
    elif (
        ready
        and not stalled_now
        and ready.get("reason") in WARNING_REASONS | POD_FAILURE_REASONS
        and (not was_ready or was_ready.get("reason") != ready["reason"])
    ):
        # A failure that is retried (not Stalled) is still news the first time it shows:
        # a child refused for now, or the Pods' own (ImagePullBackOff, CrashLoopBackOff...).
        events.append(Transition(ready["reason"], ready["message"], True))
    return events


def _new_rollout(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Ready lost because a new spec is rolling out: routine, not a Warning (becoming
    Ready again is the news; a rollout that fails says so by its own reason)."""
    ready = next((c for c in new.get("conditions") or [] if c.get("type") == "Ready"), None)
    return bool(
        ready
        and ready.get("reason") in PROGRESS_REASONS
        and int(new.get("observedGeneration") or 0)
        > int((old or {}).get("observedGeneration") or 0)
    )


# Ready reasons that are failures although the Workload is not Stalled: each gets one
# Warning Event when it first appears.
WARNING_REASONS = frozenset({Reason.CHILD_FORBIDDEN, Reason.CHILD_CONFLICT, Reason.RECONCILE_ERROR})


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
) -> dict[str, Any]:
    """The status of an Environment: is its namespace there, how its Workloads fare, and
    (``policy``, from ``berth.render.policy.policy_status``) how many break each rule."""
    prev = list((previous or {}).get("conditions") or [])

    def cond(type_: str, status: bool, reason: str, message: str) -> dict[str, Any]:
        return condition(prev, type_, status, reason, message, now, generation)

    if problem is not None:
        conditions = [
            cond("Ready", False, problem.reason, problem.message),
            cond("Reconciling", False, problem.reason, "waiting for the Environment to change"),
            cond("Stalled", True, problem.reason, problem.message),
        ]
    elif not namespace_ready:
        message = f"namespace {namespace} is not active"
        conditions = [
            cond("Ready", False, Reason.NAMESPACE_NOT_READY, message),
            cond("Reconciling", True, Reason.NAMESPACE_NOT_READY, message),
            cond("Stalled", False, Reason.PROGRESSING, message),
        ]
    else:
        message = (
            f"namespace {namespace} is ready; {ready_workloads} of {workloads} Workloads ready"
        )
        conditions = [
            cond("Ready", True, Reason.READY, message),
            cond("Reconciling", False, Reason.READY, "nothing to do"),
            cond("Stalled", False, Reason.READY, "nothing to do"),
        ]
    return {
        "observedGeneration": generation,
        "conditions": conditions,
        "namespace": namespace,
        "workloads": workloads,
        "readyWorkloads": ready_workloads,
        **({"policy": [dict(entry) for entry in policy]} if policy else {}),
    }


# -- fewer writes: a rollout on its way is said once ------------------------------------------

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
# The conditions whose reason and message follow the rollout's steps.
_ROLLOUT_CONDITIONS = frozenset({"Ready", "Reconciling", "Stalled", "Available"})


def _on_its_way(status: Mapping[str, Any]) -> bool:
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    ready, reconciling, stalled = conds.get("Ready"), conds.get("Reconciling"), conds.get("Stalled")
    return bool(
        ready
        and ready.get("status") == "False"
        and ready.get("reason") in PROGRESS_REASONS
        and reconciling
        and reconciling.get("status") == "True"
        and (stalled is None or stalled.get("status") == "False")
    )


def _without_rollout_steps(status: Mapping[str, Any], counts: bool) -> dict[str, Any]:
    rest = {k: v for k, v in status.items() if k != "conditions" and (counts or k != "replicas")}
    rest["conditions"] = [
        c for c in status.get("conditions") or [] if c.get("type") not in _ROLLOUT_CONDITIONS
    ]
    return rest


# While a rollout is young, its replica counts going up and down (a surge Pod, an old one
# leaving) are folded too; after this long they are written as they change, so that a
# slow rollout shows how far it got.
COUNTS_FOLDED_SECONDS = 10.0


def only_rollout_progress(
    previous: Mapping[str, Any] | None, new: Mapping[str, Any], now: str | None = None
) -> bool:
    """True when writing ``new`` over ``previous`` would only say "still rolling out" again.

    A rollout goes through several steps (pending, replicas updated, replicas becoming
    available) that each used to be a status write. The status already written for this
    generation says Ready=False and Reconciling=True — all that kstatus, ``kubectl wait``
    and Argo CD need to know it is on its way — so the steps between are folded: the next
    write is the one that says where the rollout ended (Ready, a failure, Stalled), or
    one that changes anything else (the resources, the endpoint...). The replica counts
    are folded for the first COUNTS_FOLDED_SECONDS of the rollout (since Ready turned
    False; ``now`` given), then written as they change. A new generation is always
    written at once, so ``observedGeneration`` never lags.
    """
    if not previous or previous.get("observedGeneration") != new.get("observedGeneration"):
        return False
    if not (_on_its_way(previous) and _on_its_way(new)):
        return False
    young = False
    if now is not None:
        ready = next(c for c in previous.get("conditions") or [] if c.get("type") == "Ready")
        young = seconds_between(str(ready.get("lastTransitionTime")), now) < (COUNTS_FOLDED_SECONDS)
    counts = not young
    return _without_rollout_steps(previous, counts) == _without_rollout_steps(new, counts)


# A new Workload's first status waits this long for its rollout to end, so that a quick
# rollout costs one status write (Ready), not two (rolling out, then Ready).
FIRST_STATUS_WAIT_SECONDS = 5.0


def first_status_wait(
    previous: Mapping[str, Any] | None, new: Mapping[str, Any], created: str, now: str
) -> float | None:
    """Seconds to hold back a new Workload's very first status, or None to write it now.

    Nothing has been written for a Workload that was just created: kstatus, ``kubectl
    wait`` and Argo CD already read "no status yet" as in progress, and there is no old
    ``Ready=True`` to mislead them. So while its first rollout is merely on its way, and
    for at most FIRST_STATUS_WAIT_SECONDS after its creation, the write waits for the
    rollout's end. Any other status (a problem, a resource waiting, Ready) is written at
    once, and so is every status of a Workload that has one already. Pure.
    """
    if previous or not _on_its_way(new):
        return None
    left = FIRST_STATUS_WAIT_SECONDS - seconds_between(created, now)
    return left if left > 0 else None


def only_workload_counts(previous: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """True when an Environment's new status differs from the previous one only in how
    many of its Workloads there are, are ready and break each rule of the policy (and the
    Ready message that says so).

    Those counts change with every Workload that comes or becomes Ready; written each
    time, they would cost a write per Workload event. The reconciler writes them at most
    every few seconds; any other change is written at once.
    """
    if not previous:
        return False

    def without_counts(status: Mapping[str, Any]) -> dict[str, Any]:
        counts = ("workloads", "readyWorkloads", "policy")
        rest = {k: v for k, v in status.items() if k not in counts}
        rest["conditions"] = [
            {k: v for k, v in c.items() if not (c.get("type") == "Ready" and k == "message")}
            for c in status.get("conditions") or []
        ]
        return rest

    return without_counts(previous) == without_counts(new)
