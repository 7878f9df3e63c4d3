"""check_policy and policy_findings: every rule, its words and its level; render refusing
what is denied; the Environment's counts."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from berth.names import DEFAULT_IMAGE_DOMAIN
from berth.reasons import Reason
from berth.render import RenderError, Violation, check_policy, render_workload
from berth.render.policy import compliance, policy_findings, policy_status
from tests.unit.builders import container, environment, workload, workload_dict


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
            "that Environment 'team-a-dev' allows (policy.allowedRegistries: registry.acme.dev/, "
            "ghcr.io/acme/); use an image that starts with one of them",
        ),
        Violation(
            Reason.IMAGE_NOT_ALLOWED,
            "container 'sidecar' image 'docker.io/envoy:1' is not from a registry that "
            "Environment 'team-a-dev' allows (policy.allowedRegistries: registry.acme.dev/, "
            "ghcr.io/acme/); use an image that starts with one of them",
        ),
    ]


@pytest.mark.parametrize(
    ("image", "read_as"),
    [
        ("nginx:1.27", f"{DEFAULT_IMAGE_DOMAIN}/library/nginx:1.27"),
        ("acme/app:1", f"{DEFAULT_IMAGE_DOMAIN}/acme/app:1"),
        ("app", f"{DEFAULT_IMAGE_DOMAIN}/library/app"),
    ],
)
def test_an_image_that_names_no_registry_is_read_as_the_default_one(
    image: str, read_as: str
) -> None:
    env = {"policy": {"allowedRegistries": ["registry.acme.dev/"]}}
    found = violations(env, containers={"main": container(image=image)})
    assert [v.message for v in found] == [
        f"container 'main' image '{image}' (read as '{read_as}') is not from a registry that "
        "Environment 'team-a-dev' allows (policy.allowedRegistries: registry.acme.dev/); use "
        "an image that starts with one of them"
    ]
    # Allowing the default registry's path lets it through, written either way.
    allowed = {"policy": {"allowedRegistries": [read_as.rsplit("/", 1)[0] + "/"]}}
    assert violations(allowed, containers={"main": container(image=image)}) == []
    assert violations(allowed, containers={"main": container(image=read_as)}) == []


@pytest.mark.parametrize(
    ("replicas", "defaults", "maximum", "message"),
    [
        (
            4,
            None,
            3,
            "replicas 4 is above the maximum of 3 that Environment 'team-a-dev' allows "
            "(policy.maxReplicas); set spec.replicas to 3 or fewer",
        ),
        (
            None,
            {"replicas": 2},
            1,
            "replicas 2 (the Environment's default) is above the maximum of 1 that Environment "
            "'team-a-dev' allows (policy.maxReplicas); set spec.replicas to 1 or fewer",
        ),
        (
            1,
            None,
            0,
            "replicas 1 is above the maximum of 0 that Environment 'team-a-dev' allows "
            "(policy.maxReplicas); set spec.replicas to 0 or fewer",
        ),
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


DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        (f"registry.acme.dev/app@{DIGEST}", True),
        (f"registry.acme.dev/app:1.2@{DIGEST}", True),
        ("registry.acme.dev/app:1.2", False),
        ("registry.acme.dev/app@sha256:short", False),
        ("registry.acme.dev/app@", False),
    ],
)
def test_require_digest(image: str, pinned: bool) -> None:
    found = violations(
        {"policy": {"requireDigest": True}}, containers={"main": container(image=image)}
    )
    expected = [
        Violation(
            Reason.DIGEST_REQUIRED,
            f"container 'main' image '{image}' is not pinned by digest, which Environment "
            "'team-a-dev' requires (policy.requireDigest); name the image by its digest, as "
            "<image>@sha256:<digest>",
        )
    ]
    assert found == ([] if pinned else expected)


@pytest.mark.parametrize(
    ("image", "what"),
    [
        ("registry.acme.dev/app", "names no tag (which means latest)"),
        ("registry.acme.dev:5000/app", "names no tag (which means latest)"),
        ("registry.acme.dev/app:latest", "is tagged latest"),
        ("registry.acme.dev/app:1.2", None),
        (f"registry.acme.dev/app@{DIGEST}", None),
        (f"registry.acme.dev/app:latest@{DIGEST}", None),
    ],
)
def test_disallow_latest_tag(image: str, what: str | None) -> None:
    found = violations(
        {"policy": {"disallowLatestTag": True}}, containers={"main": container(image=image)}
    )
    if what is None:
        assert found == []
        return
    assert found == [
        Violation(
            Reason.LATEST_TAG_NOT_ALLOWED,
            f"container 'main' image '{image}' {what}, which Environment 'team-a-dev' does not "
            "allow (policy.disallowLatestTag); name a version tag or a digest",
        )
    ]


def test_allowed_resource_types_and_classes() -> None:
    env = {
        "policy": {
            "allowedResources": [
                {"type": "postgres", "classes": ["small", "large"]},
                {"type": "route"},
            ]
        }
    }
    found = violations(
        env,
        resources={
            "db": {"type": "postgres", "class": "huge"},
            "cache": {"type": "redis"},
            "other": {"type": "postgres"},
            "big": {"type": "postgres", "class": "large"},
            "web": {"type": "route", "class": "anything"},
        },
    )
    assert found == [
        Violation(
            Reason.RESOURCE_NOT_ALLOWED,
            "resource 'cache' asks for type 'redis', which Environment 'team-a-dev' does not "
            "offer (policy.allowedResources: postgres, route); use one of those types",
        ),
        Violation(
            Reason.RESOURCE_NOT_ALLOWED,
            "resource 'db' asks for class 'huge' of type 'postgres', which Environment "
            "'team-a-dev' does not offer (policy.allowedResources classes of postgres: small, "
            "large); use one of those classes, or none",
        ),
    ]
    nothing = violations(
        {"policy": {"allowedResources": []}}, resources={"db": {"type": "postgres"}}
    )
    assert [v.message for v in nothing] == [
        "resource 'db' asks for type 'postgres', which Environment 'team-a-dev' does not offer "
        "(policy.allowedResources: none); use one of those types"
    ]


def test_levels_decide_what_is_denied() -> None:
    env = environment(
        policy={
            "maxReplicas": 1,
            "disallowLatestTag": True,
            "requireDigest": True,
            "enforcement": {"disallowLatestTag": "Warn", "requireDigest": "Audit"},
        }
    )
    wl = workload(containers={"main": container(image="registry.acme.dev/app")}, replicas=2)
    findings = policy_findings(wl, env)
    assert [(f.rule, f.level, f.reason) for f in findings] == [
        ("maxReplicas", "Deny", Reason.REPLICAS_ABOVE_LIMIT),
        ("requireDigest", "Audit", Reason.DIGEST_REQUIRED),
        ("disallowLatestTag", "Warn", Reason.LATEST_TAG_NOT_ALLOWED),
    ]
    assert check_policy(wl, env) == [findings[0].problem]
    compliant, reason, message = compliance(findings[1:], "team-a-dev")
    assert (compliant, reason) == (False, Reason.DIGEST_REQUIRED)
    assert message == f"Audit: {findings[1].message}; Warn: {findings[2].message}"
    assert compliance([], "team-a-dev") == (
        True,
        Reason.COMPLIANT,
        "the Workload breaks no rule of Environment 'team-a-dev''s policy",
    )
    # Only the Warn and Audit rules broken: render goes ahead.
    render_workload(
        workload(containers={"main": container(image="registry.acme.dev/app")}), env, {}
    )


def test_the_environment_counts_who_breaks_each_rule() -> None:
    env = environment(
        policy={"maxReplicas": 2, "requireDigest": True, "enforcement": {"requireDigest": "Warn"}}
    )
    bodies = [workload_dict(f"w{i}", replicas=i) for i in range(1, 5)]
    bodies.append(workload_dict("elsewhere", replicas=9, environment="another"))
    bodies.append({"metadata": {"name": "broken"}, "spec": {"containers": "nope"}})
    assert policy_status(env, bodies) == [
        {
            "rule": "maxReplicas",
            "level": "Deny",
            "reason": "ReplicasAboveLimit",
            "violating": 2,
            "workloads": ["w3", "w4"],
        },
        {
            "rule": "requireDigest",
            "level": "Warn",
            "reason": "DigestRequired",
            "violating": 4,
            "workloads": ["w1", "w2", "w3", "w4"],
        },
    ]
    many = [workload_dict(f"w{i:02}", replicas=3) for i in range(12)]
    counted = policy_status(env, many)
    assert counted is not None
    assert counted[0]["violating"] == 12
    assert counted[0]["workloads"] == [f"w{i:02}" for i in range(10)]
    assert policy_status(environment(), bodies) is None
    assert policy_status(environment(policy={"podSecurity": "baseline"}), bodies) is None


@pytest.mark.parametrize(
    "prefix",
    [
        "registry.acme.dev/",
        "registry.acme.dev/team-a/",
        "registry.acme.dev:5000/a/b/",
        "localhost/",
        "localhost:5000/",
        "registry:5000/",
        "10.0.0.1:5000/",
    ],
)
def test_registry_prefixes_that_are_accepted(prefix: str) -> None:
    assert environment(policy={"allowedRegistries": [prefix]}).spec.policy is not None


@pytest.mark.parametrize(
    "prefix",
    ["registry.acme.dev", "team-a/", "registry.acme.dev/Team/", "registry.acme.dev//", "/", ""],
)
def test_registry_prefixes_that_are_refused(prefix: str) -> None:
    with pytest.raises(ValidationError, match="ends with '/'"):
        environment(policy={"allowedRegistries": [prefix]})


def test_an_allowed_resource_type_is_listed_once() -> None:
    with pytest.raises(ValidationError, match="listed more than once: postgres"):
        environment(policy={"allowedResources": [{"type": "postgres"}, {"type": "postgres"}]})
