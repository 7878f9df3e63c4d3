"""Reasons and errors of provisioning, in render's style (``berth.render.errors``).

A reason is part of Berth's API: it ends up on the Workload's status and conditions.
Messages name the resource, the provisioner and the claim, quote what is wrong, and list
what does exist.

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

from berth.render.errors import Problem, RenderError


class ProvisionReason:
    """The reasons provisioning can report."""

    # choosing and configuring a provisioner (the Workload or the Environment must change)
    NO_PROVISIONER = "NoProvisioner"
    INVALID_PROVISIONER = "InvalidProvisioner"
    PARAM_NOT_ALLOWED = "ParamNotAllowed"
    PARAM_INVALID = "ParamInvalid"
    TEMPLATE_ERROR = "TemplateError"
    # a template's wait(): something the resource points to is not there yet (transient)
    WAITING = "Waiting"
    # a promised output is not there (once the claim is Ready, or in a Secret that exists)
    MISSING_OUTPUT = "MissingOutput"
    # states of a provisioned resource (see berth.provision.observe)
    PROVISIONED = "Provisioned"
    CLAIM_PENDING = "ClaimPending"
    CLAIM_NOT_READY = "ClaimNotReady"
    CLAIM_DELETING = "ClaimDeleting"
    CLAIM_NOT_SYNCED = "ClaimNotSynced"
    CONNECTION_SECRET_PENDING = "ConnectionSecretPending"
    SECRET_NOT_FOUND = "SecretNotFound"


class ProvisionError(RenderError):
    """A resource cannot be provisioned as asked. Carries one or more problems."""


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
