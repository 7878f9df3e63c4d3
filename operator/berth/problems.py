"""A Problem: one thing wrong, as a stable reason and a message a developer can act on.

Render, provisioning and the handlers all report Problems; the handlers put them on a
Workload's or Environment's conditions. The reasons are ``berth.reasons``; messages name
the container, variable, file, resource or policy at fault, quote what is wrong, and list
what does exist.

Pure constants: every layer may import this module, and it imports nothing of Berth.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the inputs: a stable reason and an actionable message.

    ``reason`` is a ``berth.reasons.Reason`` (or ``PodReason``, or a reason another
    component wrote, passed up as it is). ``resource`` names the Score resource
    concerned, where there is one (it lets render fold many OutputsUnavailable problems
    into one per resource)."""

    reason: str
    message: str
    resource: str | None = None
