"""Reasons are Berth's API: their words never change, and the manual's Troubleshooting page
has a section for exactly them.

They are StrEnum members; these tests also prove that a member travels as its plain word
(in JSON, in messages), so moving a string literal to the enum changes nothing on the wire.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from berth.problems import Problem
from berth.reasons import POLICY_REASONS, TRANSIENT_REASONS, PodReason, Reason
from berth.render.errors import RenderError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "berth"

WIRE = {
    "INVALID_PLACEHOLDER": "InvalidPlaceholder",
    "UNKNOWN_RESOURCE": "UnknownResource",
    "UNKNOWN_OUTPUT": "UnknownOutput",
    "UNKNOWN_METADATA": "UnknownMetadata",
    "PLACEHOLDER_CYCLE": "PlaceholderCycle",
    "OUTPUTS_UNAVAILABLE": "OutputsUnavailable",
    "INVALID_OUTPUT": "InvalidOutput",
    "SECRET_IN_FILE": "SecretInFile",
    "SECRET_IN_PARAMS": "SecretInParams",
    "SECRET_IN_PROBE": "SecretInProbe",
    "INVALID_SPEC": "InvalidSpec",
    "FILE_SOURCE_NOT_INLINED": "FileSourceNotInlined",
    "INVALID_PROBE": "InvalidProbe",
    "INVALID_BEFORE": "InvalidBefore",
    "INVALID_RESOURCES": "InvalidResources",
    "INVALID_NAME": "InvalidName",
    "NAMESPACE_MISMATCH": "NamespaceMismatch",
    "ENVIRONMENT_MISMATCH": "EnvironmentMismatch",
    "FILES_TOO_LARGE": "FilesTooLarge",
    "ANNOTATIONS_TOO_LARGE": "AnnotationsTooLarge",
    "DUPLICATE_PORT": "DuplicatePort",
    "INVALID_VOLUME_PATH": "InvalidVolumePath",
    "INVALID_VARIABLE_NAME": "InvalidVariableName",
    "IMAGE_NOT_ALLOWED": "ImageNotAllowed",
    "REPLICAS_ABOVE_LIMIT": "ReplicasAboveLimit",
    "LIMITS_REQUIRED": "LimitsRequired",
    "DIGEST_REQUIRED": "DigestRequired",
    "LATEST_TAG_NOT_ALLOWED": "LatestTagNotAllowed",
    "RESOURCE_NOT_ALLOWED": "ResourceNotAllowed",
    "COMPLIANT": "Compliant",
    "ENVIRONMENT_NOT_FOUND": "EnvironmentNotFound",
    "ENVIRONMENT_INVALID": "EnvironmentInvalid",
    "NAMESPACE_TAKEN": "NamespaceTaken",
    "NAMESPACE_NOT_READY": "NamespaceNotReady",
    "NO_PROVISIONER": "NoProvisioner",
    "INVALID_PROVISIONER": "InvalidProvisioner",
    "PARAM_NOT_ALLOWED": "ParamNotAllowed",
    "PARAM_INVALID": "ParamInvalid",
    "TEMPLATE_ERROR": "TemplateError",
    "WAITING": "Waiting",
    "MISSING_OUTPUT": "MissingOutput",
    "PROVISIONED": "Provisioned",
    "CLAIM_PENDING": "ClaimPending",
    "CLAIM_NOT_READY": "ClaimNotReady",
    "CLAIM_DELETING": "ClaimDeleting",
    "CLAIM_NOT_SYNCED": "ClaimNotSynced",
    "CONNECTION_SECRET_PENDING": "ConnectionSecretPending",
    "SECRET_NOT_FOUND": "SecretNotFound",
    "SHARED_RESOURCE_CONFLICT": "SharedResourceConflict",
    "FORBIDDEN": "Forbidden",
    "RESOURCE_REJECTED": "ResourceRejected",
    "NAME_TAKEN": "NameTaken",
    "CHILD_REJECTED": "ChildRejected",
    "CHILD_FORBIDDEN": "ChildForbidden",
    "CHILD_CONFLICT": "ChildConflict",
    "RECONCILE_ERROR": "ReconcileError",
    "DEPLOYMENT_MISSING": "DeploymentMissing",
    "NOT_REPORTED": "NotReportedYet",
    "ROLLOUT_PENDING": "RolloutPending",
    "ROLLING_OUT": "RollingOut",
    "REPLICAS_UNAVAILABLE": "ReplicasUnavailable",
    "PROGRESS_DEADLINE_EXCEEDED": "ProgressDeadlineExceeded",
    "AVAILABLE": "Available",
    "VALID": "Valid",
    "READY": "Ready",
    "PROGRESSING": "Progressing",
    "RETRYING": "Retrying",
    "DRIFT_CORRECTED": "DriftCorrected",
    "RESOURCE_RELEASED": "ResourceReleased",
    "DELETING_WORKLOADS": "DeletingWorkloads",
    "BASE_NOT_FOUND": "BaseNotFound",
    "BASE_IS_PREVIEW": "BaseIsPreview",
    "PREVIEW_CYCLE": "PreviewCycle",
    "PREVIEWS_NOT_ALLOWED": "PreviewsNotAllowed",
    "INVALID_TTL": "InvalidTTL",
    "TTL_TOO_LONG": "TTLTooLong",
    "PREVIEW_QUOTA_EXCEEDED": "PreviewQuotaExceeded",
    "PREVIEW_NAME_TAKEN": "PreviewNameTaken",
    "TEARING_DOWN": "TearingDown",
    "EXPIRING_SOON": "ExpiringSoon",
    "EXPIRED": "Expired",
    "TEARDOWN_BLOCKED": "TeardownBlocked",
    "NAMESPACE_KEPT": "NamespaceKept",
    "COPY_REPLACED": "CopyReplaced",
    "COPY_RESTORED": "CopyRestored",
    "REVISION_RECORDED": "RevisionRecorded",
    "PROMOTED": "Promoted",
    "NO_READY_REVISION": "NoReadyRevision",
    "REVISION_NOT_FOUND": "RevisionNotFound",
    "WORKLOAD_NOT_FOUND": "WorkloadNotFound",
    "PROMOTION_PATH_NOT_ALLOWED": "PromotionPathNotAllowed",
    "AWAITING_APPROVAL": "AwaitingApproval",
    "MANAGED_BY_GIT_OPS": "ManagedByGitOps",
    "SUPERSEDED": "Superseded",
    "INVALID_PROMOTION": "InvalidPromotion",
}
POD_WIRE = {
    "IMAGE_PULL_BACK_OFF": "ImagePullBackOff",
    "ERR_IMAGE_PULL": "ErrImagePull",
    "INVALID_IMAGE_NAME": "InvalidImageName",
    "ERR_IMAGE_NEVER_PULL": "ErrImageNeverPull",
    "CREATE_CONTAINER_CONFIG_ERROR": "CreateContainerConfigError",
    "CREATE_CONTAINER_ERROR": "CreateContainerError",
    "RUN_CONTAINER_ERROR": "RunContainerError",
    "CRASH_LOOP_BACK_OFF": "CrashLoopBackOff",
    "OOM_KILLED": "OOMKilled",
    "UNSCHEDULABLE": "Unschedulable",
    "REPLICA_FAILURE": "ReplicaFailure",
}


def test_every_reason_keeps_its_word() -> None:
    assert {m.name: m.value for m in Reason} == WIRE
    assert {m.name: m.value for m in PodReason} == POD_WIRE


def test_a_reason_travels_as_its_plain_word() -> None:
    condition = {"type": "Ready", "status": "False", "reason": Reason.NAME_TAKEN}
    assert json.dumps(condition) == json.dumps({**condition, "reason": "NameTaken"})
    assert f"{Reason.NAME_TAKEN}: {PodReason.OOM_KILLED}" == "NameTaken: OOMKilled"
    assert type(str(Reason.NAME_TAKEN)) is str
    assert str(Reason.NAME_TAKEN) == "NameTaken"
    # A condition read back from the server (plain strings) compares equal to the enum.
    assert Problem(Reason.WAITING, "m") == Problem("Waiting", "m")
    assert hash(Reason.WAITING) == hash("Waiting")
    assert "Waiting" in TRANSIENT_REASONS


def test_transient_and_policy_reasons() -> None:
    assert set(TRANSIENT_REASONS) == {"OutputsUnavailable", "Waiting"}
    assert set(POLICY_REASONS) == {
        "ImageNotAllowed",
        "ReplicasAboveLimit",
        "LimitsRequired",
        "DigestRequired",
        "LatestTagNotAllowed",
        "ResourceNotAllowed",
    }
    error = RenderError(
        [
            Problem(Reason.OUTPUTS_UNAVAILABLE, "later"),
            Problem(Reason.INVALID_NAME, "fix it"),
            Problem(Reason.IMAGE_NOT_ALLOWED, "policy"),
        ]
    )
    assert [p.reason for p in error.problems] == [
        "ImageNotAllowed",
        "InvalidName",
        "OutputsUnavailable",
    ]
    assert not error.transient
    assert RenderError([Problem(Reason.WAITING, "soon")]).transient


# A reason's section on the troubleshooting page: an h3 heading that is the reason, as
# code, with the reason as its anchor (so messages and other pages can link to it).
REASON_HEADING = re.compile(r"^### `(?P<word>[A-Za-z]+)` \{ #(?P<anchor>[A-Za-z]+) \}$")


def reason_sections() -> dict[str, str]:
    """docs/troubleshooting.md's reason sections: reason -> the text under its heading.
    A reason with two sections is reported as the key "<reason> (twice)"."""
    sections: dict[str, str] = {}
    current: str | None = None
    for line in (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            found = REASON_HEADING.match(line)
            current = None
            if found:
                assert found["word"] == found["anchor"], f"{line}: the anchor is not the reason"
                current = found["word"]
                if current in sections:
                    current = f"{current} (twice)"
                sections[current] = ""
            continue
        if current is not None:
            sections[current] += line + "\n"
    return sections


def test_the_troubleshooting_page_has_a_section_for_exactly_the_reasons() -> None:
    sections = reason_sections()
    assert not [word for word in sections if word.endswith("(twice)")], "a reason has two sections"
    assert set(sections) == {m.value for m in Reason} | {m.value for m in PodReason}


def test_every_reason_section_says_something() -> None:
    empty = [word for word, text in reason_sections().items() if len(text.split()) < 3]
    assert empty == [], f"reason sections with no text: {empty}"


# Words that are reasons and also Kubernetes condition types or resource states: as
# literals they name a condition type ("Ready", a Deployment's "Progressing") or a state.
ALSO_CONDITION_TYPES = {"Ready", "Available", "Progressing", "ReplicaFailure"}
# Words that are reasons and also the API server's own status reasons: as a literal,
# "Forbidden" is the reason an admission policy's refusal carries (render.admission).
ALSO_STATUS_REASONS = {"Forbidden"}


def test_no_reason_is_written_as_a_string_literal() -> None:
    words = ({m.value for m in Reason} | {m.value for m in PodReason}) - (
        ALSO_CONDITION_TYPES | ALSO_STATUS_REASONS
    )
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "reasons.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        found += [
            f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in words and id(node) not in docstrings
        ]
    assert found == []
