"""From a Preview to its Environment; the base's quota; what can be wrong."""

from __future__ import annotations

from typing import Any

import pytest

from berth.api import Environment
from berth.api.preview import PreviewPolicy
from berth.names import KEEP_ANNOTATION, PREVIEW_OF_LABEL, PREVIEW_REQUEST_ANNOTATION
from berth.preview.checks import base_problem, policy_of, ttl_in_force
from berth.preview.requests import (
    Candidate,
    kept,
    preview_environment,
    preview_name,
    previews_of_base,
    quota_message,
    request_of,
    within_quota,
)
from berth.problems import Problem
from berth.reasons import Reason


def request(
    name: str = "pr-42", created: str = "2030-01-01T00:00:00Z", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Preview",
        "metadata": {"name": name, "namespace": "team-a-dev", "creationTimestamp": created},
        "spec": spec,
    }


def env(name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, **meta}, "spec": spec}


def test_names_are_derived_bounded_and_do_not_meet_by_truncation() -> None:
    assert preview_name("team-a-dev", "pr-42") == "team-a-dev-pr-42"
    long_a = preview_name("a" * 40, "b" * 40)
    long_b = preview_name("a" * 40, "b" * 39 + "c")
    assert len(long_a) == 63
    assert len(long_b) == 63
    assert long_a != long_b
    assert long_a == preview_name("a" * 40, "b" * 40)  # deterministic
    # a cut never leaves a '-' before the digest's own
    assert "--" not in preview_name("a" * 53 + "-x", "y")


def test_the_environment_of_a_preview_says_only_what_a_preview_may() -> None:
    req = request(ttl="8h", copyWorkloads=["cart"])
    req["metadata"]["annotations"] = {KEEP_ANNOTATION: "true"}
    manifest = preview_environment(req, "team-a-dev")
    assert manifest["metadata"]["name"] == "team-a-dev-pr-42"
    assert manifest["metadata"]["labels"][PREVIEW_OF_LABEL] == "team-a-dev"
    assert manifest["metadata"]["annotations"] == {
        PREVIEW_REQUEST_ANNOTATION: "team-a-dev/pr-42",
        KEEP_ANNOTATION: "true",
    }
    assert manifest["spec"] == {
        "type": "preview",
        "namespace": "team-a-dev-pr-42",
        "preview": {"base": "team-a-dev", "ttl": "8h", "copyWorkloads": ["cart"]},
    }
    Environment.model_validate(manifest)  # a valid Environment
    assert request_of(manifest) == "team-a-dev/pr-42"
    assert kept(manifest)
    assert not kept(request())
    plain = preview_environment(request(), "team-a-dev")
    assert plain["spec"]["preview"] == {"base": "team-a-dev"}
    assert KEEP_ANNOTATION not in plain["metadata"]["annotations"]


def test_the_quota_ranks_waiting_previews_and_never_removes_one_that_runs() -> None:
    previews = previews_of_base(
        "team-a-dev",
        [
            env(
                "p1",
                {"type": "preview", "preview": {"base": "team-a-dev"}},
                creationTimestamp="2030-01-01T00:00:01Z",
                annotations={PREVIEW_REQUEST_ANNOTATION: "team-a-dev/a"},
            ),
            env(
                "direct",
                {"type": "preview", "preview": {"base": "team-a-dev"}},
                creationTimestamp="2030-01-01T00:00:02Z",
            ),
            env("other", {"type": "preview", "preview": {"base": "prod"}}),
            env("team-a-dev", {"type": "development"}),
        ],
        [
            request("a", "2030-01-01T00:00:00Z"),
            request("c", "2030-01-01T00:00:05Z"),
            request("b", "2030-01-01T00:00:05Z"),
            request("gone", "2030-01-01T00:00:00Z")
            | {"metadata": {"name": "gone", "namespace": "team-a-dev", "deletionTimestamp": "x"}},
        ],
    )
    assert [(c.key, c.made) for c in previews] == [
        ("team-a-dev/a", True),
        ("Environment/direct", True),
        ("team-a-dev/b", False),
        ("team-a-dev/c", False),
    ]
    assert within_quota("team-a-dev/a", previews, 1)  # made: kept, even over the cap
    assert within_quota("team-a-dev/b", previews, 3)
    assert not within_quota("team-a-dev/c", previews, 3)  # b is ahead
    assert within_quota("team-a-dev/c", previews, 4)
    assert within_quota("team-a-dev/c", previews, None)
    assert not within_quota("team-a-dev/new", previews, 3)
    message = quota_message("team-a-dev", previews, 2)
    assert message.startswith(
        "base Environment 'team-a-dev' allows 2 preview(s) at a time and has 2 "
    )
    assert "team-a-dev/a, Environment/direct" in message


def test_two_reconciles_at_once_agree() -> None:
    both = [Candidate("ns/x", "t", False), Candidate("ns/y", "t", False)]
    assert [within_quota(k, both, 1) for k in ("ns/x", "ns/y")] == [True, False]


def lookup(envs: dict[str, dict[str, Any]]) -> Any:
    return envs.get


def test_the_base_problems() -> None:
    base = env("dev", {"type": "development", "previews": {}})
    closed = env("prod", {"type": "production"})
    pv = env("pv", {"type": "preview", "preview": {"base": "dev"}})
    a = env("a", {"type": "preview", "preview": {"base": "b"}})
    b = env("b", {"type": "preview", "preview": {"base": "a"}})
    going = env("old", {"type": "development", "previews": {}}, deletionTimestamp="x")
    envs = {"dev": base, "prod": closed, "pv": pv, "a": a, "b": b, "old": going}
    assert base_problem("p", "dev", lookup(envs)) is None
    missing = base_problem("p", "nope", lookup(envs))
    assert missing is not None
    assert missing.reason == Reason.BASE_NOT_FOUND
    assert "'nope' does not exist" in missing.message
    deleting = base_problem("p", "old", lookup(envs))
    assert deleting is not None
    assert deleting.reason == Reason.BASE_NOT_FOUND
    nested = base_problem("p", "pv", lookup(envs))
    assert nested == Problem(
        Reason.BASE_IS_PREVIEW,
        "base Environment 'pv' is itself a preview (of 'dev'); a preview's base must be an "
        "Environment of another type",
    )
    cycle = base_problem("a", "b", lookup(envs))
    assert cycle is not None
    assert cycle.reason == Reason.PREVIEW_CYCLE
    assert "a -> b -> a" in cycle.message
    closed_problem = base_problem("p", "prod", lookup(envs))
    assert closed_problem is not None
    assert closed_problem.reason == Reason.PREVIEWS_NOT_ALLOWED


def test_the_ttl_in_force() -> None:
    capped = PreviewPolicy(max_ttl="24h")
    result = ttl_in_force(None, capped)
    assert not isinstance(result, Problem)
    assert result.text == "24h"
    too_long = ttl_in_force("48h", capped)
    assert too_long == Problem(
        Reason.TTL_TOO_LONG,
        "ttl 48h is longer than the base allows (previews.maxTTL 24h): ask for 24h or less",
    )
    bad = ttl_in_force("soon", PreviewPolicy())
    assert isinstance(bad, Problem)
    assert bad.reason == Reason.INVALID_TTL
    assert "not a duration" in bad.message


@pytest.mark.parametrize("previews", [None, {"maxTTL": "nonsense"}, {"maxCount": 2}])
def test_policy_of_a_base(previews: Any) -> None:
    policy = policy_of({"spec": {"previews": previews}})
    assert isinstance(policy, PreviewPolicy)
