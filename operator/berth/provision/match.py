"""Choosing the provisioner of a resource: the most specific match wins.

A provisioner is a candidate for a resource when its type equals the resource's, and its
class and id, where set, equal the resource's. Among candidates, one that names the id
beats one that names only the class, which beats one that names only the type (a
provisioner naming both id and class beats one naming only the id). Ties go to the one
listed first in ``Environment.spec.provisioners``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from berth.api.environment import Provisioner
from berth.api.workload import ResourceRequest
from berth.provision.errors import ProvisionReason, names, provision_error


@dataclass(frozen=True)
class Match:
    """The provisioner chosen for a resource, and why (a sentence for status)."""

    index: int
    provisioner: Provisioner
    name: str
    reason: str


def provisioner_name(provisioner: Provisioner, index: int) -> str:
    """How status and messages name a provisioner: its name, or provisioners[<index>]."""
    return provisioner.name or f"provisioners[{index}]"


def _specificity(provisioner: Provisioner) -> int:
    return (2 if provisioner.id is not None else 0) + (1 if provisioner.class_ is not None else 0)


def _serves(provisioner: Provisioner, request: ResourceRequest) -> bool:
    return (
        provisioner.type == request.type
        and (provisioner.class_ is None or provisioner.class_ == request.class_)
        and (provisioner.id is None or provisioner.id == request.id)
    )


def _what(provisioner: Provisioner) -> str:
    parts = []
    if provisioner.class_ is not None:
        parts.append(f"class {provisioner.class_}")
    if provisioner.id is not None:
        parts.append(f"id {provisioner.id}")
    return " and ".join(parts) if parts else "any class and id"


def _request(request: ResourceRequest) -> str:
    parts = [f"type {request.type}"]
    if request.class_ is not None:
        parts.append(f"class {request.class_}")
    if request.id is not None:
        parts.append(f"id {request.id}")
    return ", ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def match(
    resource_name: str, request: ResourceRequest, provisioners: Sequence[Provisioner] | None
) -> Match:
    """The provisioner for resource ``resource_name``; raises ProvisionError (NoProvisioner)."""
    listed = list(provisioners or [])
    same_type = [(i, p) for i, p in enumerate(listed) if p.type == request.type]
    candidates = [(i, p) for i, p in same_type if _serves(p, request)]
    if not candidates:
        if same_type:
            offered = "; ".join(f"{provisioner_name(p, i)} serves {_what(p)}" for i, p in same_type)
            message = (
                f"no provisioner serves resource {resource_name!r} ({_request(request)}): "
                f"the Environment's provisioners of type {request.type} do not match "
                f"({offered}); change the resource's class or id, or ask the platform team"
            )
        else:
            message = (
                f"no provisioner serves resource {resource_name!r} of type "
                f"{request.type!r}; the Environment provides types: "
                f"{names({p.type for p in listed})}"
            )
        raise provision_error(ProvisionReason.NO_PROVISIONER, message, resource_name)
    best = max(_specificity(p) for _, p in candidates)
    index, chosen = next((i, p) for i, p in candidates if _specificity(p) == best)
    matched = [f"type {chosen.type}"]
    if chosen.class_ is not None:
        matched.append(f"class {chosen.class_}")
    if chosen.id is not None:
        matched.append(f"id {chosen.id}")
    how = (
        " and ".join(matched)
        if len(matched) < 3
        else f"{matched[0]}, {matched[1]} and {matched[2]}"
    )
    name = provisioner_name(chosen, index)
    reason = f"{name} matched {how}; {_plural(len(listed), 'provisioner')} considered"
    others = len(candidates) - 1
    if others:
        reason += f", {others} less specific or listed later"
    return Match(index=index, provisioner=chosen, name=name, reason=reason)
