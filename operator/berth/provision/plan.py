"""Planning one resource: match a provisioner, then let its kind say what to apply.

    params = resolve_params(workload, name, outputs)        # berth.render
    resource_plan = plan(workload, environment, name, params)
    # apply resource_plan.manifests; read resource_plan.claim and the keys of
    # resource_plan.secret_name; then
    values, state = outputs_from(resource_plan, claim, secret_keys)

Everything here is pure: no client, no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from berth.api.environment import (
    CrossplaneProvisioner,
    Environment,
    Provisioner,
    SecretProvisioner,
    TemplateProvisioner,
)
from berth.api.workload import Workload
from berth.problems import Problem
from berth.provision.crossplane import plan_crossplane
from berth.provision.errors import ProvisionError, TemplateFailure
from berth.provision.identity import is_shared, resource_identity
from berth.provision.match import CLUSTER_PREFIX, Match, match, provisioner_name
from berth.provision.model import PlanContext, ResourcePlan
from berth.provision.sandbox import check_template
from berth.provision.secret import plan_secret
from berth.provision.template import plan_template
from berth.reasons import Reason

KindSpec = CrossplaneProvisioner | TemplateProvisioner | SecretProvisioner


def _validation_text(error: ValidationError, prefix: str) -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(part) for part in (prefix, *item["loc"]))
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def kind_spec(provisioner: Provisioner, name: str) -> KindSpec:
    """The provisioner's crossplane, template or secret block, validated.

    Raises ProvisionError (InvalidProvisioner) naming the provisioner and the fields."""
    kind = provisioner.kind
    try:
        if kind == "crossplane":
            return CrossplaneProvisioner.model_validate(provisioner.crossplane)
        if kind == "template":
            return TemplateProvisioner.model_validate(provisioner.template)
        return SecretProvisioner.model_validate(provisioner.secret)
    except ValidationError as error:
        raise ProvisionError(
            [
                Problem(
                    Reason.INVALID_PROVISIONER,
                    f"provisioner {name} (type {provisioner.type}) is invalid: "
                    f"{_validation_text(error, kind)}; the platform team must fix "
                    f"{name if name.startswith(CLUSTER_PREFIX) else 'the Environment'}",
                )
            ]
        ) from None


def plan(
    workload: Workload,
    environment: Environment,
    resource_name: str,
    params: Mapping[str, Any] | None,
    matched: Match | None = None,
    services: Mapping[str, Any] | None = None,
) -> ResourcePlan:
    """The plan of resource ``resource_name`` of ``workload`` in ``environment``.

    ``params`` are the resource's params with placeholders resolved
    (``berth.render.resolve_params``); ``matched`` is ``match(...)``'s result if the caller
    has it; ``services`` are the Environment's Workloads' Services
    (``berth.provision.workload_services``), for templates that point at another Workload.
    Raises ProvisionError: NoProvisioner, InvalidProvisioner, ParamNotAllowed,
    ParamInvalid, TemplateError, MissingOutput (each problem names the resource)."""
    request = (workload.spec.resources or {})[resource_name]
    if matched is None:
        matched = match(resource_name, request, environment.spec.provisioners)
    provisioner = matched.provisioner
    try:
        spec = kind_spec(provisioner, matched.name)
    except ProvisionError as error:
        raise ProvisionError(
            [Problem(p.reason, p.message, resource=resource_name) for p in error.problems]
        ) from None
    context = PlanContext(
        workload=workload,
        environment=environment,
        resource=resource_name,
        request=request,
        params=dict(params or {}),
        provisioner=matched.name,
        reason=matched.reason,
        identity=resource_identity(workload.metadata.name, resource_name, request),
        shared=is_shared(request),
        services=dict(services or {}),
    )
    if isinstance(spec, CrossplaneProvisioner):
        return plan_crossplane(context, provisioner, spec)
    if isinstance(spec, TemplateProvisioner):
        return plan_template(context, provisioner, spec)
    return plan_secret(context, provisioner, spec)


def check_provisioners(provisioners: Sequence[Provisioner] | None) -> list[Problem]:
    """Problems of an Environment's provisioners, found without any Workload: blocks that
    do not validate, templates that do not compile, and provisioners that can never be
    chosen because an earlier one serves the same type, class and id."""
    problems: list[Problem] = []
    seen: dict[tuple[str, str | None, str | None], str] = {}
    for index, provisioner in enumerate(provisioners or []):
        name = provisioner_name(provisioner, index)
        key = (provisioner.type, provisioner.class_, provisioner.id)
        if key in seen:
            problems.append(
                Problem(
                    Reason.INVALID_PROVISIONER,
                    f"provisioner {name} serves the same type, class and id as {seen[key]}, "
                    "which is listed first, so it is never used",
                )
            )
        else:
            seen[key] = name
        try:
            spec = kind_spec(provisioner, name)
        except ProvisionError as error:
            problems.extend(error.problems)
            continue
        if isinstance(spec, TemplateProvisioner):
            for what, source in (("manifests", spec.manifests), ("outputs", spec.outputs)):
                if source is None:
                    continue
                try:
                    check_template(source, what)
                except TemplateFailure as failure:
                    problems.append(
                        Problem(
                            Reason.TEMPLATE_ERROR,
                            f"provisioner {name} (type {provisioner.type}): {failure}",
                        )
                    )
    return problems
