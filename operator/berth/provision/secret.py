"""The secret kind: outputs are keys of an existing Secret, managed outside Berth.

Nothing is applied. Every output is secret (a secretKeyRef to that Secret); the caller
reads only the Secret's keys to tell whether the outputs exist (``check_secret_keys``).
"""

from __future__ import annotations

from berth.api.environment import Provisioner, SecretProvisioner
from berth.problems import Problem
from berth.provision.errors import ProvisionError
from berth.provision.model import (
    FromSecret,
    OutputSpec,
    PlanContext,
    ResourcePlan,
    promised_outputs,
)
from berth.provision.params import merge_params
from berth.reasons import Reason


def plan_secret(
    context: PlanContext, provisioner: Provisioner, spec: SecretProvisioner
) -> ResourcePlan:
    """Where the resource's outputs come from; raises ProvisionError with every problem
    found (params, which a secret provisioner never accepts, and no outputs promised)."""
    problems: list[Problem] = []
    try:
        merge_params(
            None, context.params, [], resource=context.resource, provisioner=context.provisioner
        )
    except ProvisionError as error:
        problems.extend(error.problems)
    names = promised_outputs(provisioner.outputs, spec.keys)
    if not names:
        problems.append(
            Problem(
                Reason.INVALID_PROVISIONER,
                f"provisioner {context.provisioner} (secret {spec.name}) promises no outputs; "
                "list them in outputs or secret.keys",
                resource=context.resource,
            )
        )
    if problems:
        raise ProvisionError(problems)
    keys = spec.keys or {}
    outputs = [OutputSpec(name, FromSecret(spec.name, keys.get(name, name))) for name in names]
    return context.finish("secret", [], outputs, secret_name=spec.name)
