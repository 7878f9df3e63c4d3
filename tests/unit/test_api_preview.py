"""The preview parts of the API: Preview, spec.preview, spec.previews."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from berth.api import Environment
from berth.api.preview import Preview, PreviewPolicy, Subject


def test_a_preview_request_reads_and_keeps_its_wire_form() -> None:
    body = {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Preview",
        "metadata": {"name": "pr-1", "namespace": "team-a-dev"},
        "spec": {"ttl": "8h", "copyWorkloads": ["cart", "web"]},
        "status": {"unknownField": 1},
    }
    preview = Preview.model_validate(body)
    assert preview.spec.copy_workloads == ["cart", "web"]
    assert preview.status is None  # a status of another version never invalidates
    assert preview.spec.model_dump(by_alias=True, exclude_none=True) == body["spec"]


@pytest.mark.parametrize("spec", [{"ttl": "8 hours"}, {"copyWorkloads": ["Cart"]}, {"other": 1}])
def test_a_bad_preview_request_is_refused(spec: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Preview.model_validate({"metadata": {"name": "p"}, "spec": spec})


def test_the_base_policy_on_the_wire() -> None:
    policy = PreviewPolicy.model_validate(
        {
            "maxCount": 3,
            "maxTTL": "7d",
            "defaultTTL": "1d",
            "expiryWarning": "2h",
            "creators": [
                {"kind": "ServiceAccount", "name": "ci", "namespace": "ci"},
                {"kind": "Group", "name": "team-a"},
            ],
        }
    )
    assert policy.max_ttl == "7d"
    assert policy.default_ttl == "1d"
    assert policy.model_dump(by_alias=True, exclude_none=True)["maxTTL"] == "7d"


@pytest.mark.parametrize(
    "subject",
    [{"kind": "ServiceAccount", "name": "ci"}, {"kind": "User", "name": "a", "namespace": "x"}],
)
def test_a_subject_has_a_namespace_exactly_when_it_is_a_service_account(
    subject: dict[str, str],
) -> None:
    with pytest.raises(ValidationError, match="ServiceAccount needs a namespace"):
        Subject.model_validate(subject)


def test_a_preview_environment() -> None:
    env = Environment.model_validate(
        {
            "metadata": {"name": "pr"},
            "spec": {
                "type": "preview",
                "namespace": "pr",
                "preview": {"base": "dev", "ttl": "1h30m", "copyWorkloads": []},
            },
        }
    )
    assert env.spec.preview is not None
    assert env.spec.preview.copy_workloads == []
    assert env.effective_deletion_policy() == "Delete"
