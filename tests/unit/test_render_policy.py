"""check_policy: registries, replicas, limits; and render refusing violations."""

from __future__ import annotations

from typing import Any

import pytest

from berth.reasons import Reason
from berth.render import RenderError, Violation, check_policy, render_workload
from tests.unit.builders import container, environment, workload


def violations(env: dict[str, Any], **spec: Any) -> list[Violation]:
    return check_policy(workload(**spec), environment(**env))


def test_no_policy_no_violations() -> None:
    assert violations({}, containers={"main": container(image="anything:latest")}) == []


def test_images_from_other_registries_are_not_allowed() -> None:
    env = {"policy": {"allowedRegistries": ["registry.acme.dev/", "ghcr.io/acme/"]}}
    found = violations(
        env,
        containers={
            "main": container(image="registry.acme.dev/checkout:1"),
            "sidecar": container(image="docker.io/envoy:1"),
            "tools": container(image="ghcr.io/acme/tools:2"),
            "evil": container(image="registry.acme.dev.evil.com/x:1"),
        },
    )
    assert found == [
        Violation(
            Reason.IMAGE_NOT_ALLOWED,
            "container 'evil' image 'registry.acme.dev.evil.com/x:1' is not from a registry "
            "that Environment 'team-a-dev' allows (allowed prefixes: registry.acme.dev/, "
            "ghcr.io/acme/)",
        ),
        Violation(
            Reason.IMAGE_NOT_ALLOWED,
            "container 'sidecar' image 'docker.io/envoy:1' is not from a registry that "
            "Environment 'team-a-dev' allows (allowed prefixes: registry.acme.dev/, "
            "ghcr.io/acme/)",
        ),
    ]


@pytest.mark.parametrize(
    ("replicas", "defaults", "maximum", "message"),
    [
        (4, None, 3, "replicas 4 is above the maximum of 3 that Environment 'team-a-dev' allows"),
        (
            None,
            {"replicas": 2},
            1,
            "replicas 2 (the Environment's default) is above the maximum of 1 that Environment "
            "'team-a-dev' allows",
        ),
        (1, None, 0, "replicas 1 is above the maximum of 0 that Environment 'team-a-dev' allows"),
    ],
)
def test_replicas_above_the_limit(
    replicas: int | None, defaults: dict[str, Any] | None, maximum: int, message: str
) -> None:
    env: dict[str, Any] = {"policy": {"maxReplicas": maximum}}
    if defaults:
        env["defaults"] = defaults
    spec: dict[str, Any] = {} if replicas is None else {"replicas": replicas}
    assert violations(env, **spec) == [Violation(Reason.REPLICAS_ABOVE_LIMIT, message)]


def test_replicas_at_the_limit_are_fine() -> None:
    assert violations({"policy": {"maxReplicas": 3}}, replicas=3) == []
    assert violations({"policy": {"maxReplicas": 0}}, replicas=0) == []


def test_limits_required_after_defaults() -> None:
    env = {
        "policy": {"requireLimits": True},
        "defaults": {"containerResources": {"limits": {"memory": "256Mi"}}},
    }
    found = violations(
        env,
        containers={
            "main": container(resources={"limits": {"cpu": "1"}}),
            "bare": container(),
        },
    )
    assert found == [
        Violation(
            Reason.LIMITS_REQUIRED,
            "container 'bare' has no cpu limit, which Environment 'team-a-dev' requires "
            "(policy.requireLimits); set resources.limits.cpu",
        )
    ]
    found = violations({"policy": {"requireLimits": True}})
    assert found == [
        Violation(
            Reason.LIMITS_REQUIRED,
            "container 'main' has no cpu and memory limit, which Environment 'team-a-dev' "
            "requires (policy.requireLimits); set resources.limits.cpu and "
            "resources.limits.memory",
        )
    ]


def test_render_refuses_a_violating_workload() -> None:
    env = environment(policy={"allowedRegistries": ["registry.acme.dev/"], "maxReplicas": 1})
    wl = workload(containers={"main": container(image="docker.io/x")}, replicas=2)
    with pytest.raises(RenderError) as exc:
        render_workload(wl, env, {})
    assert [p.reason for p in exc.value.problems] == [
        Reason.IMAGE_NOT_ALLOWED,
        Reason.REPLICAS_ABOVE_LIMIT,
    ]
    assert exc.value.reason == Reason.IMAGE_NOT_ALLOWED
    assert exc.value.transient is False
    assert exc.value.problems == tuple(check_policy(wl, env))
