"""Can the target take the revision? Checked before a Promotion writes anything (pure).

The answers are the operator's own: the target's policy through ``render.policy``'s
``check_policy`` and its provisioners through ``provision``'s ``match`` and ``plan`` —
the functions the Workload reconciler runs — so a promotion that passes here is not
then refused by the Workload in the target, and one that fails names the same reason
and words the Workload would have shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from berth.api import ClusterProvisioner, Environment, Workload
from berth.names import ARGOCD_INSTANCE_LABEL, ARGOCD_TRACKING_ANNOTATION
from berth.problems import Problem
from berth.provision import ProvisionError, match, plan
from berth.reasons import Reason
from berth.render.errors import RenderError
from berth.render.placeholders import resolve_params
from berth.render.policy import check_policy

# Problems of plan() that say the provisioner cannot take the params as they are; the
# rest (a template waiting for an output, say) only the real reconcile can tell.
_PLAN_REFUSALS = frozenset({Reason.PARAM_NOT_ALLOWED, Reason.PARAM_INVALID})


def target_spec(template: Mapping[str, Any], target: str, name_environment: bool) -> dict[str, Any]:
    """The revision's template as the target's spec: the environment is the target's
    where the template names one (or the Promotion named the target), else left to the
    namespace."""
    spec = {key: value for key, value in template.items() if key != "environment"}
    if name_environment or "environment" in template:
        spec["environment"] = target
    return spec


def path_problem(source: str, target: Environment) -> Problem | None:
    """The target's spec.promotion.from, which a rollback (source == target) passes."""
    policy = target.spec.promotion
    allowed = policy.from_ if policy is not None else None
    if source == target.name or allowed is None or source in allowed:
        return None
    listed = ", ".join(allowed) if allowed else "none"
    return Problem(
        Reason.PROMOTION_PATH_NOT_ALLOWED,
        f"Environment {target.name!r} does not accept promotions from {source!r} "
        f"(spec.promotion.from: {listed}); promote along the pipeline, or ask the platform "
        "team to add it",
    )


def gitops_problem(target: Mapping[str, Any] | None, command: str) -> Problem | None:
    """A target Workload synced from git is not written: git would put it back."""
    if target is None:
        return None
    meta = target.get("metadata") or {}
    found = None
    if ARGOCD_TRACKING_ANNOTATION in (meta.get("annotations") or {}):
        found = f"annotation {ARGOCD_TRACKING_ANNOTATION}"
    elif ARGOCD_INSTANCE_LABEL in (meta.get("labels") or {}):
        found = f"label {ARGOCD_INSTANCE_LABEL}"
    if found is None:
        return None
    return Problem(
        Reason.MANAGED_BY_GIT_OPS,
        f"Workload {meta.get('namespace')}/{meta.get('name')} is synced from git ({found}); "
        "a promotion written here would be undone by the next sync: write the pinned "
        f"Workload into the git checkout instead with `{command}` and commit it",
    )


def _resource_problems(
    workload: Workload, target: Environment, cluster: Sequence[ClusterProvisioner]
) -> list[Problem]:
    problems: list[Problem] = []
    for name, request in sorted((workload.spec.resources or {}).items()):
        try:
            chosen = match(name, request, target.spec.provisioners, cluster, target)
        except ProvisionError as err:
            problems.extend(err.problems)
            continue
        try:
            params = resolve_params(workload, name, {})
            plan(workload, target, name, params, chosen)
        except RenderError as err:  # ProvisionError is one
            problems.extend(p for p in err.problems if p.reason in _PLAN_REFUSALS)
    return problems


def preflight(
    spec: Mapping[str, Any],
    name: str,
    target: Environment,
    cluster: Sequence[ClusterProvisioner] = (),
) -> list[Problem]:
    """Every reason the target Environment cannot run Workload ``name`` with ``spec``: its
    policy, and a provisioner for every resource. Empty: it can."""
    body = {"metadata": {"name": name, "namespace": target.spec.namespace}, "spec": dict(spec)}
    try:
        workload = Workload.model_validate(body)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return [
            Problem(
                Reason.INVALID_SPEC,
                f"the revision's spec is not a valid Workload here: {where}: {first['msg']}",
            )
        ]
    problems = list(check_policy(workload, target))
    problems.extend(_resource_problems(workload, target, cluster))
    return problems


def problems_message(problems: Sequence[Problem], target: str) -> str:
    """One message for the Promotion: what the target refuses, each problem in its words."""
    said = "; ".join(p.message for p in problems)
    return f"Environment {target!r} cannot take the revision: {said}; the target is unchanged"
