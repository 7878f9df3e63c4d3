"""Pure policy checks: does a Workload satisfy its Environment's policy?

``check_policy(workload, environment)`` returns a list of ``Violation(reason, message)``
(empty when all is well); it never raises for a violation. ``render_workload`` runs it
and raises a ``RenderError`` carrying the violations, so a violating Workload is never
rendered.

Reasons: ImageNotAllowed, ReplicasAboveLimit, LimitsRequired.
"""

from __future__ import annotations

from berth.api.environment import Environment
from berth.api.workload import Workload
from berth.problems import Problem
from berth.reasons import Reason
from berth.render.compute import effective_replicas, merged_resources

Violation = Problem

REQUIRED_LIMITS = ("cpu", "memory")


def check_policy(workload: Workload, environment: Environment) -> list[Violation]:
    """Every way ``workload`` breaks ``environment``'s policy, in a stable order."""
    policy = environment.spec.policy
    if policy is None:
        return []
    env = environment.metadata.name
    violations: list[Violation] = []
    containers = workload.spec.containers
    if policy.allowed_registries:
        allowed = ", ".join(policy.allowed_registries)
        for name in sorted(containers):
            image = containers[name].image
            if not any(image.startswith(prefix) for prefix in policy.allowed_registries):
                violations.append(
                    Violation(
                        Reason.IMAGE_NOT_ALLOWED,
                        f"container {name!r} image {image!r} is not from a registry that "
                        f"Environment {env!r} allows (allowed prefixes: {allowed})",
                    )
                )
    replicas = effective_replicas(workload, environment)
    if policy.max_replicas is not None and replicas > policy.max_replicas:
        origin = "" if workload.spec.replicas is not None else " (the Environment's default)"
        violations.append(
            Violation(
                Reason.REPLICAS_ABOVE_LIMIT,
                f"replicas {replicas}{origin} is above the maximum of {policy.max_replicas} "
                f"that Environment {env!r} allows",
            )
        )
    if policy.require_limits:
        for name in sorted(containers):
            resources, _ = merged_resources(name, containers[name], environment)
            limits = resources.get("limits", {})
            missing = [key for key in REQUIRED_LIMITS if key not in limits]
            if missing:
                violations.append(
                    Violation(
                        Reason.LIMITS_REQUIRED,
                        f"container {name!r} has no {' and '.join(missing)} limit, which "
                        f"Environment {env!r} requires (policy.requireLimits); set "
                        + " and ".join(f"resources.limits.{key}" for key in missing),
                    )
                )
    return violations
