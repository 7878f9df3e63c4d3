"""The error of provisioning, in render's style (``berth.render.errors``).

Reasons are ``berth.reasons``. Messages name the resource, the provisioner and the claim,
quote what is wrong, and list what does exist.

One error style for the package: a function that makes something (a ``Match``, a
``ResourcePlan``, merged params) returns it, or raises ``ProvisionError`` carrying every
problem it found — never only the first, never half a result beside a list of problems.
A function whose very answer is the problems (``check_provisioners``,
``check_secret_keys``) returns them; ``outputs_from`` returns a ``ResourceState``, an
observation whose phase may be Failed, not an error. ``ProvisionError`` is a
``RenderError``: its ``reason`` is the most important problem's, its ``message`` joins
them all and ``transient`` says whether they may clear by themselves, which is exactly
what the reconciler writes on a resource's status entry, from one ``except``.
"""

from __future__ import annotations

from collections.abc import Iterable

from berth.problems import Problem
from berth.render.errors import RenderError


class ProvisionError(RenderError):
    """A resource cannot be provisioned as asked. Carries one or more problems, and the
    names of the Workloads a template looked up on the way (``workloads_read``): a
    template that waits for a Workload, or rejects what another offers, is looked at
    again when one of them changes."""

    workloads_read: frozenset[str] = frozenset()


class TemplateFailure(Exception):
    """A provisioner template could not be rendered into objects and outputs.

    Internal to the template kind (``berth.provision.template``, ``.sandbox``, ``.opaque``):
    it never leaves the package; ``plan_template`` and ``check_provisioners`` turn it into a
    TemplateError problem that names the provisioner."""


def provision_error(reason: str, message: str, resource: str | None = None) -> ProvisionError:
    return ProvisionError([Problem(reason, message, resource=resource)])


def names(items: Iterable[object]) -> str:
    """Sorted, comma-separated, or "none"."""
    listed = sorted(str(item) for item in items)
    return ", ".join(listed) if listed else "none"
