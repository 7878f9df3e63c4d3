"""Conditions, and the three that summarise an object the way kstatus reads them.

``Ready`` (written False early, so waiters can trust it), ``Reconciling`` (work in
flight) and ``Stalled`` (no progress without a change from someone): exactly one of the
three is True, and the summary builders below are the only ways they are put together.
Reasons are stable CamelCase words; messages carry no timestamps, so that an unchanged
situation yields a byte-identical condition and no write. Pure: ``now`` is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from berth.reasons import Reason

CONDITION_ORDER = (
    "Ready",
    "Reconciling",
    "Stalled",
    "InputsValid",
    "ResourcesReady",
    "Available",
    "PolicyCompliant",
)

NOTHING_TO_DO = "nothing to do"


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What one condition says, before it is stamped with its times and generation."""

    status: bool
    reason: str
    message: str


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


def stamped(
    previous: Sequence[Mapping[str, Any]],
    verdicts: Mapping[str, Verdict],
    now: str,
    generation: int,
) -> list[dict[str, Any]]:
    """The conditions of ``verdicts`` (by type), in their order, as ``condition`` makes them."""
    return [
        condition(previous, type_, said.status, said.reason, said.message, now, generation)
        for type_, said in verdicts.items()
    ]


def ready_summary(message: str) -> dict[str, Verdict]:
    """Ready: the object is what was asked for, and nothing is left to do."""
    return {
        "Ready": Verdict(status=True, reason=Reason.READY, message=message),
        "Reconciling": Verdict(status=False, reason=Reason.READY, message=NOTHING_TO_DO),
        "Stalled": Verdict(status=False, reason=Reason.READY, message=NOTHING_TO_DO),
    }


def progressing_summary(
    reason: str,
    message: str,
    *,
    stalled_reason: str = Reason.PROGRESSING,
    stalled_message: str | None = None,
) -> dict[str, Verdict]:
    """On its way, or tried again shortly: Reconciling, not Stalled; Ready says why not yet."""
    return {
        "Ready": Verdict(status=False, reason=reason, message=message),
        "Reconciling": Verdict(status=True, reason=reason, message=message),
        "Stalled": Verdict(
            status=False,
            reason=stalled_reason,
            message=message if stalled_message is None else stalled_message,
        ),
    }


def stalled_summary(
    reason: str,
    message: str,
    *,
    reconciling_message: str,
    stalled_message: str | None = None,
) -> dict[str, Verdict]:
    """Stuck until someone changes something: Stalled, and no longer Reconciling."""
    return {
        "Ready": Verdict(status=False, reason=reason, message=message),
        "Reconciling": Verdict(status=False, reason=reason, message=reconciling_message),
        "Stalled": Verdict(
            status=True,
            reason=reason,
            message=message if stalled_message is None else stalled_message,
        ),
    }


def find_condition(
    conditions: Sequence[Mapping[str, Any]] | None, type_: str
) -> Mapping[str, Any] | None:
    """The first condition of this type, or None."""
    for cond in conditions or []:
        if cond.get("type") == type_:
            return cond
    return None


def ready_condition(status: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The Ready condition of a status (a Workload's, an Environment's), or None."""
    return find_condition((status or {}).get("conditions"), "Ready")
