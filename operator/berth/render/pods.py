"""What a Workload's Pods say about why they are not Ready — pure, no I/O.

Two halves. ``summarise_pod`` keeps of a Pod only what the status needs (its name,
phase, whether the scheduler gave up on it, and per container: ready, why it waits,
why it last ended), so that the operator can hold thousands of them in memory.
``pod_finding`` turns the summaries of one Workload's Pods into a Problem: the
reason the Pods themselves give (``ImagePullBackOff``, ``CrashLoopBackOff``,
``Unschedulable``...), the container, the words of the kubelet or scheduler, and how
many Pods are affected.

The message must stay the same while the situation does, or every reconcile would
write the status again: nothing that changes on its own goes into it (restart counts,
back-off durations, Pod names, timestamps).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from berth.problems import Problem
from berth.reasons import PodReason

# Waiting reasons that mean a container will not start without help. Anything else a
# container waits for (ContainerCreating, PodInitializing) is the normal way up.
WAITING_FAILURES = (
    PodReason.IMAGE_PULL_BACK_OFF,
    PodReason.ERR_IMAGE_PULL,
    PodReason.INVALID_IMAGE_NAME,
    PodReason.ERR_IMAGE_NEVER_PULL,
    PodReason.CREATE_CONTAINER_CONFIG_ERROR,
    PodReason.CREATE_CONTAINER_ERROR,
    PodReason.RUN_CONTAINER_ERROR,
    PodReason.CRASH_LOOP_BACK_OFF,
)
# Every reason a Workload's Ready condition can carry from its Pods or its ReplicaSet.
POD_FAILURE_REASONS = frozenset(PodReason)

# Messages from the kubelet can carry a whole termination log; the status wants a line.
MAX_MESSAGE = 300
# The kubelet names the Pod (with its UID) in some messages; Pods come and go, so that
# part would make the message change with every new Pod.
_POD_CLAUSE = re.compile(r'\s*\(pod: "[^"]*", container: [^)]*\)')

NON_ROOT_ADVICE = (
    "; the Environment's Pod Security level forbids containers that run as root: use an "
    "image that runs as a non-root user with a numeric USER (e.g. USER 10001), or ask "
    "the platform team for policy.podSecurity: baseline on the Environment"
)
OOM_ADVICE = "; raise its memory limit (resources.limits.memory) or make it use less"


@dataclass(frozen=True, slots=True)
class ContainerSummary:
    name: str
    _: KW_ONLY
    init: bool = False
    ready: bool = False
    waiting_reason: str | None = None
    waiting_message: str | None = None
    # Why it last ended (the current termination, else the previous one), and how.
    terminated_reason: str | None = None
    terminated_exit_code: int | None = None
    # The image the Pod's spec names for it, and the imageID its kubelet reported (the
    # digest that ran: revisions pin images to it, berth.promotion.revision).
    image: str | None = None
    image_id: str | None = None


@dataclass(frozen=True, slots=True)
class PodSummary:
    name: str
    _: KW_ONLY
    phase: str = "Pending"
    deleting: bool = False
    # The scheduler's message while the Pod is PodScheduled=False/Unschedulable.
    unschedulable: str | None = None
    containers: tuple[ContainerSummary, ...] = ()


def _short(text: str | None) -> str | None:
    if not text:
        return None
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _container(
    status: Mapping[str, Any], *, init: bool, images: Mapping[str, str]
) -> ContainerSummary:
    state = status.get("state") or {}
    last = status.get("lastState") or {}
    waiting = state.get("waiting") or {}
    ended = state.get("terminated") or last.get("terminated") or {}
    code = ended.get("exitCode")
    return ContainerSummary(
        name=str(status.get("name", "")),
        init=init,
        ready=bool(status.get("ready")),
        waiting_reason=waiting.get("reason") or None,
        waiting_message=_short(waiting.get("message")),
        terminated_reason=ended.get("reason") or None,
        terminated_exit_code=int(code) if code is not None else None,
        image=images.get(str(status.get("name", ""))),
        image_id=status.get("imageID") or None,
    )


def summarise_pod(pod: Mapping[str, Any]) -> PodSummary:
    """The few facts of a Pod the Workload's status is made of."""
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    unschedulable = None
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == PodReason.UNSCHEDULABLE
        ):
            unschedulable = _short(cond.get("message")) or "no node can run it"
    spec = pod.get("spec") or {}
    images = {
        str(c.get("name", "")): str(c.get("image", ""))
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    }
    containers = tuple(
        _container(s, init=True, images=images) for s in status.get("initContainerStatuses") or []
    ) + tuple(
        _container(s, init=False, images=images) for s in status.get("containerStatuses") or []
    )
    return PodSummary(
        name=str(metadata.get("name", "")),
        phase=str(status.get("phase") or "Pending"),
        deleting=bool(metadata.get("deletionTimestamp")),
        unschedulable=unschedulable,
        containers=containers,
    )


@dataclass(frozen=True, slots=True)
class _PodFailure:
    reason: str
    container: str | None  # None: the Pod as a whole (not scheduled)
    message: str


def _container_failure(c: ContainerSummary) -> _PodFailure | None:
    if c.ready:
        return None
    label = f"init container {c.name}" if c.init else f"container {c.name}"
    if c.terminated_reason == PodReason.OOM_KILLED:
        return _PodFailure(
            PodReason.OOM_KILLED,
            label,
            f"killed for using more memory than its limit (OOMKilled){OOM_ADVICE}",
        )
    reason = c.waiting_reason
    if reason not in WAITING_FAILURES:
        return None
    if reason == PodReason.CRASH_LOOP_BACK_OFF:
        # The kubelet's own message names the Pod and a back-off that doubles: useless
        # here and never the same twice. How it last ended says more.
        how = "keeps exiting"
        if c.terminated_exit_code is not None:
            how += f" with exit code {c.terminated_exit_code}"
        if c.terminated_reason:
            how += f" ({c.terminated_reason})"
        return _PodFailure(reason, label, how + "; its log says why (kubectl logs --previous)")
    message = _POD_CLAUSE.sub("", c.waiting_message or "") or reason
    if reason == PodReason.CREATE_CONTAINER_CONFIG_ERROR and "runAsNonRoot" in message:
        message += NON_ROOT_ADVICE
    return _PodFailure(reason, label, message)


def _pod_failure(pod: PodSummary) -> _PodFailure | None:
    if pod.unschedulable is not None:
        return _PodFailure(PodReason.UNSCHEDULABLE, None, pod.unschedulable)
    # Init containers come first: the others cannot start before them.
    for container in pod.containers:
        failure = _container_failure(container)
        if failure is not None:
            return failure
    return None


def pod_failure(pod: Mapping[str, Any]) -> Problem | None:
    """Why this one Pod is not Ready, in the words ``pod_finding`` gives the Workload
    (``container main: Back-off pulling image ...``); None when it says nothing wrong.
    ``berth trace`` marks each Pod with it."""
    summary = summarise_pod(pod)
    if summary.deleting or summary.phase in ("Succeeded", "Failed"):
        return None
    failure = _pod_failure(summary)
    if failure is None:
        return None
    where = f"{failure.container}: " if failure.container else ""
    return Problem(failure.reason, f"{where}{failure.message}")


def _pods(count: int) -> str:
    return f"{count} Pod" if count == 1 else f"{count} Pods"


def pod_finding(pods: Sequence[PodSummary]) -> Problem | None:
    """Why a Workload's Pods are not Ready, in their own words; None when none says.

    The most common failure leads (ties: by reason, then container); the others are
    named after it. Deterministic: the same Pods in any order give the same Problem.
    """
    live = [p for p in pods if not p.deleting and p.phase not in ("Succeeded", "Failed")]
    groups: dict[tuple[str, str | None], list[str]] = {}
    for pod in live:
        failure = _pod_failure(pod)
        if failure is not None:
            groups.setdefault((failure.reason, failure.container), []).append(failure.message)
    if not groups:
        return None
    order = sorted(groups, key=lambda k: (-len(groups[k]), k[0], k[1] or ""))
    reason, container = order[0]
    count = len(groups[reason, container])
    where = f"{container}: " if container else ""
    # Pods of one group can differ in words (two scheduler verdicts): take the first.
    message = f"{count} of {len(live)} Pods: {where}{min(groups[reason, container])}"
    others = [f"{_pods(len(groups[k]))} {k[0]}" + (f" ({k[1]})" if k[1] else "") for k in order[1:]]
    if others:
        message += "; also " + ", ".join(others)
    return Problem(reason, message)
