"""Fewer status writes: which new statuses are not worth writing yet — pure, ``now`` given.

A rollout on its way is said once, a new Workload's quick first rollout waits to be said
as its end, and an Environment's Workload counts are written now and then. The
reconcilers ask these rules before they write; every other change is written at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.clock import seconds_between
from berth.render.conditions import ready_condition
from berth.render.rollout import PROGRESS_REASONS

# The conditions whose reason and message follow the rollout's steps.
_ROLLOUT_CONDITIONS = frozenset({"Ready", "Reconciling", "Stalled", "Available"})

# While a rollout is young, its replica counts going up and down (a surge Pod, an old one
# leaving) are folded too; after this long they are written as they change, so that a
# slow rollout shows how far it got.
COUNTS_FOLDED_SECONDS = 10.0

# A new Workload's first status waits this long for its rollout to end, so that a
# rollout of less than that costs one status write (Ready), not two (rolling out, then
# Ready). Meanwhile its status is the CRD's default (api.workload.INITIAL_STATUS), which
# already says Ready=False and Reconciling=True.
FIRST_STATUS_WAIT_SECONDS = 30.0


def reported(status: Mapping[str, Any] | None) -> bool:
    """Berth has written this status: it says which generation it observed (the CRD's
    default, what a new Workload has until then, does not)."""
    return bool(status) and (status or {}).get("observedGeneration") is not None


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


def _without_rollout_steps(status: Mapping[str, Any], *, counts: bool) -> dict[str, Any]:
    """The status without what follows the rollout's steps (and its replica counts too,
    unless ``counts``)."""
    rest = {k: v for k, v in status.items() if k != "conditions" and (counts or k != "replicas")}
    rest["conditions"] = [
        c for c in status.get("conditions") or [] if c.get("type") not in _ROLLOUT_CONDITIONS
    ]
    return rest


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
        ready = ready_condition(previous) or {}
        young = seconds_between(str(ready.get("lastTransitionTime")), now) < COUNTS_FOLDED_SECONDS
    counts = not young
    return _without_rollout_steps(previous, counts=counts) == _without_rollout_steps(
        new, counts=counts
    )


def first_status_wait(
    previous: Mapping[str, Any] | None, new: Mapping[str, Any], created: str, now: str
) -> float | None:
    """Seconds to hold back a new Workload's very first status, or None to write it now.

    Nothing has been written for a Workload that was just created: its status is the
    CRD's default, Ready=False and Reconciling=True, which kstatus, ``kubectl wait`` and
    Argo CD read as in progress, and there is no old ``Ready=True`` to mislead them. So
    while its first rollout is merely on its way, and for at most
    FIRST_STATUS_WAIT_SECONDS after its creation, the write waits for the rollout's end.
    Any other status (a problem, a resource waiting, Ready) is written at once, and so
    is every status of a Workload that Berth has reported on already. Pure.
    """
    if reported(previous) or not _on_its_way(new):
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


def only_record_changed(previous: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """True when ``new`` differs from ``previous`` in what its children were rendered
    from (``renderedFrom``) alone: not worth a write of its own — the record rides along
    with the next write that says something (until then, a restart renders once more)."""
    if not previous:
        return False

    def without_record(status: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in status.items() if k not in ("renderedFrom", "kopf")}

    return without_record(previous) == without_record(new)
