"""Small helpers shared by the reconcilers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from berth.api.environment import EnvironmentSpec
from berth.kube import status as kube_status
from berth.kube.client import KubeClient, NotFound
from berth.kube.events import EventRecorder
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.events import transitions

log = logging.getLogger("berth")


def deletion_policy(environment: Mapping[str, Any] | None) -> str:
    """What the Environment's deletionPolicy says, by the model's own default.

    With no Environment, or one that no longer validates, the policy cannot be known:
    keep everything (Retain).
    """
    if environment is None:
        return "Retain"
    try:
        return EnvironmentSpec.model_validate(
            environment.get("spec") or {}
        ).effective_deletion_policy()
    except ValidationError:
        return "Retain"


async def post_event(
    events: EventRecorder,
    obj: Mapping[str, Any],
    reason: str,
    message: str,
    *,
    warning: bool = False,
    now: str,
) -> None:
    try:
        await events.post(obj, reason=reason, message=message, warning=warning, now=now)
    except Exception as err:  # an Event is never worth failing a reconcile
        log.debug("could not post an event: %s", err)


def invalid_spec(kind: str, err: ValidationError) -> Problem:
    """Turn pydantic's errors into one message naming each field at fault."""
    parts = []
    for item in err.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in item["loc"]) or kind
        parts.append(f"{where}: {item['msg']}")
    more = f" (and {err.error_count() - 5} more)" if err.error_count() > 5 else ""
    return Problem(Reason.INVALID_SPEC, f"the {kind} spec is invalid: " + "; ".join(parts) + more)


async def write_status_and_events(
    client: KubeClient,
    events: EventRecorder,
    obj: Mapping[str, Any],
    status: dict[str, Any],
    now: str,
) -> dict[str, Any] | None:
    """Write the status when it changed, and post an Event for each real transition."""
    previous = obj.get("status")
    try:
        written = await kube_status.write_status(client, obj, status)
    except NotFound:  # deleted while we looked at it: nothing to report on
        return None
    if written is None:
        return None
    for event in transitions(previous, status):
        await post_event(events, obj, event.reason, event.message, warning=event.warning, now=now)
    return written
