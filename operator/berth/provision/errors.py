"""The error of provisioning, in render's style (``berth.render.errors``).

Reasons are ``berth.reasons``. Messages name the resource, the provisioner and the claim,
quote what is wrong, and list what does exist.
"""

from __future__ import annotations

from collections.abc import Iterable

from berth.problems import Problem
from berth.render.errors import RenderError


class ProvisionError(RenderError):
    """A resource cannot be provisioned as asked. Carries one or more problems."""


def provision_error(reason: str, message: str, resource: str | None = None) -> ProvisionError:
    return ProvisionError([Problem(reason, message, resource=resource)])


def names(items: Iterable[object]) -> str:
    """Sorted, comma-separated, or "none"."""
    listed = sorted(str(item) for item in items)
    return ", ".join(listed) if listed else "none"
