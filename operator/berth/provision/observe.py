"""A planned resource's state and outputs, from what the cluster shows.

``outputs_from(plan, claim, secret_keys)`` is pure. The caller passes the claim as read
(or None when it does not exist) and only the *keys* of ``plan.secret_name`` (or None when
that Secret does not exist); values of Secrets are never read. Secret outputs come back as
``SecretRef``s, plain ones as strings; the outputs are returned only when the resource is
Ready, so a container is never configured with half of them.

States:

- ``Pending``: nothing to read yet (ClaimPending: the claim does not exist;
  SecretNotFound: the Secret a secret provisioner reads does not exist).
- ``Provisioning``: the claim exists but is not Ready (ClaimNotReady, with the claim's
  Ready condition reason and message, word for word), is being deleted (ClaimDeleting),
  or is Ready but its connection Secret does not exist yet (ConnectionSecretPending).
- ``Ready``: every promised output is there (Provisioned).
- ``Failed``: the claim is Synced=False (ClaimNotSynced, with Crossplane's message word
  for word and the claim's kind and name), or a promised output is missing from a Ready
  claim or an existing Secret (MissingOutput, naming the output, the claim or Secret, and
  the keys present).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any, Literal

from berth.problems import Problem
from berth.provision.errors import names
from berth.provision.model import FromField, FromSecret, FromValue, ResourcePlan
from berth.reasons import Reason
from berth.render.outputs import OutputValue, SecretRef

Phase = Literal["Pending", "Provisioning", "Ready", "Failed"]
PHASES: tuple[Phase, ...] = ("Pending", "Provisioning", "Ready", "Failed")


@dataclass(frozen=True)
class ResourceState:
    """Where a resource stands: a phase, a stable CamelCase reason and a message."""

    phase: Phase
    reason: str
    message: str

    @property
    def ready(self) -> bool:
        return self.phase == "Ready"

    @property
    def failed(self) -> bool:
        return self.phase == "Failed"


def condition(claim: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    """The claim's status condition of type ``type_``, if any."""
    status = claim.get("status")
    if not isinstance(status, Mapping):
        return None
    for item in status.get("conditions") or []:
        if isinstance(item, Mapping) and item.get("type") == type_:
            return item
    return None


_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


def field_value(obj: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (``status.host``, ``status.endpoints[0].address``), or None."""
    value: Any = obj
    for segment in path.split("."):
        found = _SEGMENT.fullmatch(segment)
        if found is None:
            return None
        if not isinstance(value, Mapping) or found.group(1) not in value:
            return None
        value = value[found.group(1)]
        for index in re.findall(r"\[(\d+)\]", found.group(2)):
            if not isinstance(value, list) or int(index) >= len(value):
                return None
            value = value[int(index)]
    return value


def _as_output(value: Any) -> str | None:
    """A claim field as an output string; None when absent or not a scalar."""
    if value is None or isinstance(value, Mapping | list):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _explain(cond: Mapping[str, Any]) -> str:
    reason = cond.get("reason") or "no reason given"
    message = cond.get("message") or ""
    return f"({reason}): {message}" if message else f"({reason})"


def check_secret_keys(plan: ResourcePlan, present_keys: Set[str] | None) -> Problem | None:
    """Whether ``plan.secret_name`` holds every key the plan's outputs read from it.

    None when it does (or the plan reads no Secret); otherwise SecretNotFound (the Secret
    is absent) or MissingOutput naming the outputs, the keys missing and those present."""
    if plan.secret_name is None:
        return None
    reading = [
        output
        for output in plan.outputs
        if isinstance(output.source, FromSecret) and output.source.secret_name == plan.secret_name
    ]
    if present_keys is None:
        return Problem(
            Reason.SECRET_NOT_FOUND,
            f"resource {plan.resource!r} reads its outputs from Secret {plan.secret_name} in "
            f"namespace {plan.namespace}, which does not exist (provisioner {plan.provisioner})",
            resource=plan.resource,
        )
    missing = [
        output
        for output in reading
        if isinstance(output.source, FromSecret) and output.source.key not in present_keys
    ]
    if not missing:
        return None
    listed = ", ".join(
        f"{output.name!r} (key {output.source.key})"
        for output in missing
        if isinstance(output.source, FromSecret)
    )
    return Problem(
        Reason.MISSING_OUTPUT,
        f"resource {plan.resource!r}: Secret {plan.secret_name} lacks outputs {listed} "
        f"(keys present: {names(present_keys)})",
        resource=plan.resource,
    )


def outputs_from(
    plan: ResourcePlan,
    claim: Mapping[str, Any] | None,
    secret_keys: Set[str] | None,
) -> tuple[dict[str, OutputValue] | None, ResourceState]:
    """The outputs of a planned resource (only when Ready) and its state."""
    waiting = _not_ready(plan, claim, secret_keys)
    if waiting is not None:
        return None, waiting
    present = secret_keys or set()
    values, missing = _read_outputs(plan, claim, present)
    described = plan.claim.describe() if plan.claim is not None else ""
    if missing:
        if plan.claim is not None:
            subject = f"{described} is ready, but resource {plan.resource!r} misses outputs"
        else:
            subject = f"resource {plan.resource!r} (provisioner {plan.provisioner}) misses outputs"
        keys = (
            f"; keys present in Secret {plan.secret_name}: {names(present)}"
            if plan.secret_name is not None
            else ""
        )
        return None, ResourceState(
            "Failed",
            Reason.MISSING_OUTPUT,
            f"{subject} {', '.join(missing)}{keys}",
        )
    ready_message = f"resource {plan.resource!r} is provisioned by {plan.provisioner}"
    if plan.claim is not None:
        ready_message += f" ({described})"
    return values, ResourceState("Ready", Reason.PROVISIONED, ready_message)


def _not_ready(
    plan: ResourcePlan, claim: Mapping[str, Any] | None, secret_keys: Set[str] | None
) -> ResourceState | None:
    """Why the resource's outputs cannot be read yet (its claim, its Secret), or None."""
    if plan.claim is None:
        if plan.secret_name is not None and secret_keys is None:
            problem = check_secret_keys(plan, None)
            assert problem is not None
            return ResourceState("Pending", problem.reason, problem.message)
        return None
    described = plan.claim.describe()
    if claim is None:
        return ResourceState(
            "Pending",
            Reason.CLAIM_PENDING,
            f"{described} (for resource {plan.resource!r}) does not exist yet",
        )
    metadata = claim.get("metadata")
    if isinstance(metadata, Mapping) and metadata.get("deletionTimestamp"):
        return ResourceState(
            "Provisioning",
            Reason.CLAIM_DELETING,
            f"{described} is being deleted; it will be created again when it is gone",
        )
    synced = condition(claim, "Synced")
    if synced is not None and synced.get("status") == "False":
        return ResourceState(
            "Failed", Reason.CLAIM_NOT_SYNCED, f"{described} is not synced {_explain(synced)}"
        )
    ready = condition(claim, "Ready")
    if ready is None or ready.get("status") != "True":
        if ready is None:
            why = "it has no Ready condition yet"
        else:
            why = f"Ready={ready.get('status', 'Unknown')} {_explain(ready)}"
        return ResourceState(
            "Provisioning", Reason.CLAIM_NOT_READY, f"{described} is not ready: {why}"
        )
    if plan.secret_name is not None and secret_keys is None and _reads_secret(plan):
        return ResourceState(
            "Provisioning",
            Reason.CONNECTION_SECRET_PENDING,
            f"{described} is ready, but its connection Secret {plan.secret_name} does not "
            "exist yet",
        )
    return None


def _read_outputs(
    plan: ResourcePlan, claim: Mapping[str, Any] | None, present: Set[str]
) -> tuple[dict[str, OutputValue], list[str]]:
    """The outputs' values (literal, from the claim's fields, Secret references), and a
    description of each one that is missing."""
    values: dict[str, OutputValue] = {}
    missing: list[str] = []
    for output in plan.outputs:
        source = output.source
        if isinstance(source, FromValue):
            values[output.name] = source.value
        elif isinstance(source, FromField):
            value = _as_output(field_value(claim or {}, source.path))
            if value is None:
                missing.append(f"{output.name!r} (the claim has no value at {source.path})")
            else:
                values[output.name] = value
        elif source.secret_name == plan.secret_name and source.key not in present:
            missing.append(f"{output.name!r} (Secret {source.secret_name} has no key {source.key})")
        else:
            values[output.name] = SecretRef(source.secret_name, source.key)
    return values, missing


def _reads_secret(plan: ResourcePlan) -> bool:
    return any(
        isinstance(output.source, FromSecret) and output.source.secret_name == plan.secret_name
        for output in plan.outputs
    )
