"""Every reason Berth writes on a condition, a resource's status entry or an Event.

A reason is part of Berth's API: developers, SREs, dashboards, Argo CD's health check and
tests match on it. They are ``StrEnum`` members, so each one *is* its string (it compares,
hashes, formats and serialises as the word below); ``tests/unit/test_reasons.py`` pins
the words and checks that the manual's troubleshooting page (docs/troubleshooting.md)
has a section for exactly these.

``Reason`` holds Berth's own words; ``PodReason`` the words of Kubernetes (kubelet,
scheduler, ReplicaSet controller) that Berth passes up from a Workload's Pods as they are.

Pure constants: every layer may import this module, and it imports nothing of Berth.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class Reason(StrEnum):
    """Berth's own reasons, on Workloads unless the comment names Environments."""

    # -- the inputs: placeholders (render.placeholders) --
    # A ${...} is malformed or used where it cannot be.
    INVALID_PLACEHOLDER = "InvalidPlaceholder"
    # A ${resources.x...} names a resource the Workload does not declare.
    UNKNOWN_RESOURCE = "UnknownResource"
    # A ${resources.x.y} names an output the resource does not have.
    UNKNOWN_OUTPUT = "UnknownOutput"
    # A ${metadata.x} names metadata the Workload does not have.
    UNKNOWN_METADATA = "UnknownMetadata"
    # Resources' params refer to each other in a loop.
    PLACEHOLDER_CYCLE = "PlaceholderCycle"
    # A resource's outputs are not there yet (not provisioned or not ready): transient.
    OUTPUTS_UNAVAILABLE = "OutputsUnavailable"
    # An output's value cannot go where it is used (a secret one where a plain one must be).
    INVALID_OUTPUT = "InvalidOutput"
    # -- the inputs: secrets where they would be written as text (render) --
    # A secret output in a file's content.
    SECRET_IN_FILE = "SecretInFile"
    # A secret output in a resource's params.
    SECRET_IN_PARAMS = "SecretInParams"
    # A secret output in a probe.
    SECRET_IN_PROBE = "SecretInProbe"
    # -- the inputs: other fields (render, handlers) --
    # On a Workload or an Environment: the spec does not match the schema in a way
    # admission could not catch (handlers).
    INVALID_SPEC = "InvalidSpec"
    # A file has a ``source`` (only ``berth import`` can inline it).
    FILE_SOURCE_NOT_INLINED = "FileSourceNotInlined"
    # A probe Kubernetes cannot run (render.workload, render.limits).
    INVALID_PROBE = "InvalidProbe"
    # A ``before`` entry Kubernetes cannot honour (render.order).
    INVALID_BEFORE = "InvalidBefore"
    # Container resources Kubernetes would refuse, e.g. requests above limits (render.compute).
    INVALID_RESOURCES = "InvalidResources"
    # The Workload's name is not a DNS-1035 label (render.workload).
    INVALID_NAME = "InvalidName"
    # The Workload's namespace is not the one its Environment serves (render.workload).
    NAMESPACE_MISMATCH = "NamespaceMismatch"
    # ``spec.environment`` names an Environment that serves another namespace.
    ENVIRONMENT_MISMATCH = "EnvironmentMismatch"
    # -- the inputs: Kubernetes' own limits, checked before sending (render.limits) --
    # The files' ConfigMap would exceed 1 MiB.
    FILES_TOO_LARGE = "FilesTooLarge"
    # The Pod template's annotations would exceed 256 KiB.
    ANNOTATIONS_TOO_LARGE = "AnnotationsTooLarge"
    # Two Service ports with one number (per protocol).
    DUPLICATE_PORT = "DuplicatePort"
    # A volume ``path`` that is absolute or climbs out with "..".
    INVALID_VOLUME_PATH = "InvalidVolumePath"
    # A variable name Kubernetes refuses.
    INVALID_VARIABLE_NAME = "InvalidVariableName"
    # -- the Environment's policy (render.policy) --
    # An image outside ``policy.allowedRegistries``.
    IMAGE_NOT_ALLOWED = "ImageNotAllowed"
    # More replicas than ``policy.maxReplicas``.
    REPLICAS_ABOVE_LIMIT = "ReplicasAboveLimit"
    # A container without the limits ``policy`` requires.
    LIMITS_REQUIRED = "LimitsRequired"
    # An image not pinned by digest where ``policy.requireDigest`` asks for it.
    DIGEST_REQUIRED = "DigestRequired"
    # An image tagged latest, or with no tag, where ``policy.disallowLatestTag`` is set.
    LATEST_TAG_NOT_ALLOWED = "LatestTagNotAllowed"
    # A resource type or class outside ``policy.allowedResources``.
    RESOURCE_NOT_ALLOWED = "ResourceNotAllowed"
    # On PolicyCompliant=True: the Workload breaks no rule of its Environment's policy.
    COMPLIANT = "Compliant"
    # -- the Environment (handlers) --
    # No Environment serves the namespace, or ``spec.environment`` names none.
    ENVIRONMENT_NOT_FOUND = "EnvironmentNotFound"
    # The Workload's Environment does not match its schema.
    ENVIRONMENT_INVALID = "EnvironmentInvalid"
    # On an Environment: another Environment already serves its namespace.
    NAMESPACE_TAKEN = "NamespaceTaken"
    # On an Environment: its Namespace is not Active yet.
    NAMESPACE_NOT_READY = "NamespaceNotReady"
    # -- previews (berth.preview), on preview Environments and Previews --
    # The base Environment does not exist, or is being deleted: the preview waits.
    BASE_NOT_FOUND = "BaseNotFound"
    # The base is itself a preview.
    BASE_IS_PREVIEW = "BaseIsPreview"
    # Following the bases leads back to this preview.
    PREVIEW_CYCLE = "PreviewCycle"
    # The base has no spec.previews: it accepts none.
    PREVIEWS_NOT_ALLOWED = "PreviewsNotAllowed"
    # The ttl does not parse (admission refuses most such).
    INVALID_TTL = "InvalidTTL"
    # The ttl is longer than the base's previews.maxTTL.
    TTL_TOO_LONG = "TTLTooLong"
    # On a Preview: the base has previews.maxCount previews already; it waits its turn.
    PREVIEW_QUOTA_EXCEEDED = "PreviewQuotaExceeded"
    # On a Preview: the Environment of its derived name exists and is not its own.
    PREVIEW_NAME_TAKEN = "PreviewNameTaken"
    # The preview is being torn down (Workloads, then resources, then the namespace).
    TEARING_DOWN = "TearingDown"
    # -- resources: choosing and configuring a provisioner (provision) --
    # No provisioner serves the resource's type, class and id.
    NO_PROVISIONER = "NoProvisioner"
    # The chosen provisioner is misconfigured (the platform team must fix it).
    INVALID_PROVISIONER = "InvalidProvisioner"
    # A param the provisioner does not accept.
    PARAM_NOT_ALLOWED = "ParamNotAllowed"
    # A param of the wrong type or value.
    PARAM_INVALID = "ParamInvalid"
    # A provisioner's template failed to render.
    TEMPLATE_ERROR = "TemplateError"
    # A template's wait(): what the resource points to is not there yet (transient).
    WAITING = "Waiting"
    # A promised output is not there (once the claim is Ready, or in a Secret that exists).
    MISSING_OUTPUT = "MissingOutput"
    # -- resources: their objects (provision.observe, provision.sharing, handlers) --
    # The resource's outputs are all there.
    PROVISIONED = "Provisioned"
    # The claim does not exist yet.
    CLAIM_PENDING = "ClaimPending"
    # The claim is not Ready (or has no Ready condition yet); its own words follow.
    CLAIM_NOT_READY = "ClaimNotReady"
    # The claim is being deleted.
    CLAIM_DELETING = "ClaimDeleting"
    # The claim reports Synced=False: Crossplane cannot compose it.
    CLAIM_NOT_SYNCED = "ClaimNotSynced"
    # The claim is Ready but its connection Secret is not there yet.
    CONNECTION_SECRET_PENDING = "ConnectionSecretPending"
    # The Secret a resource reads its outputs from does not exist.
    SECRET_NOT_FOUND = "SecretNotFound"
    # A shared resource is defined differently by another Workload (provision.sharing).
    SHARED_RESOURCE_CONFLICT = "SharedResourceConflict"
    # The operator may not manage a resource's objects (403 without a webhook).
    FORBIDDEN = "Forbidden"
    # The API server refused an object a provisioner rendered.
    RESOURCE_REJECTED = "ResourceRejected"
    # -- children: writing them (handlers.workload) --
    # An object of a child's name exists that Berth did not make for this Workload.
    NAME_TAKEN = "NameTaken"
    # The API server refused a child (invalid, or an admission policy denied it).
    CHILD_REJECTED = "ChildRejected"
    # The API server refused a child with 403 (quota, RBAC): retried.
    CHILD_FORBIDDEN = "ChildForbidden"
    # The API server refused a child with 409: retried.
    CHILD_CONFLICT = "ChildConflict"
    # Something unforeseen failed: retried with backoff.
    RECONCILE_ERROR = "ReconcileError"
    # -- the rollout (render.rollout) --
    # Nothing reported yet: the status a new Workload has from its CRD's default until
    # Berth writes one (api.workload.INITIAL_STATUS).
    NOT_REPORTED = "NotReportedYet"
    # The Deployment does not exist yet.
    DEPLOYMENT_MISSING = "DeploymentMissing"
    # The Deployment controller has not looked at the new generation yet.
    ROLLOUT_PENDING = "RolloutPending"
    # Replicas are being updated, or old ones are terminating.
    ROLLING_OUT = "RollingOut"
    # Fewer replicas available than wanted.
    REPLICAS_UNAVAILABLE = "ReplicasUnavailable"
    # The Deployment's progress deadline passed (the Deployment's own reason, passed up).
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    # On the Available condition: every wanted replica is available.
    AVAILABLE = "Available"
    # -- the summary conditions (render.conditions, render.status) --
    # On InputsValid=True.
    VALID = "Valid"
    # On Workloads and Environments: Ready=True (and Reconciling/Stalled=False once Ready,
    # ResourcesReady=True); the Event of becoming Ready.
    READY = "Ready"
    # On Workloads and Environments: Stalled=False while work is in flight.
    PROGRESSING = "Progressing"
    # On Stalled=False while a refused write is retried (ChildForbidden, ChildConflict...).
    RETRYING = "Retrying"
    # -- revisions (berth.promotion, handlers.revisions) --
    # On a Workload's Event: a new generation became Ready and was recorded as a revision.
    REVISION_RECORDED = "RevisionRecorded"
    # -- promotions (berth.promotion, handlers.promotion), on Promotions --
    # Ready=True: the target Workload is Ready at the promoted revision.
    PROMOTED = "Promoted"
    # The source Workload has no revision yet: none of its generations became Ready.
    NO_READY_REVISION = "NoReadyRevision"
    # spec.revision names a revision the source Workload does not have (or no longer has).
    REVISION_NOT_FOUND = "RevisionNotFound"
    # The Workload to promote does not exist in the source Environment.
    WORKLOAD_NOT_FOUND = "WorkloadNotFound"
    # The target Environment does not accept promotions from the source (spec.promotion.from).
    PROMOTION_PATH_NOT_ALLOWED = "PromotionPathNotAllowed"
    # The target Environment requires an approval and none is there yet.
    AWAITING_APPROVAL = "AwaitingApproval"
    # The target Workload is synced from git (Argo CD): the promotion does not write it.
    MANAGED_BY_GIT_OPS = "ManagedByGitOps"
    # The target Workload was changed by someone else before it became Ready.
    SUPERSEDED = "Superseded"
    # The Promotion's own spec cannot be acted on (e.g. the target is not its namespace's).
    INVALID_PROMOTION = "InvalidPromotion"
    # -- Events only (handlers) --
    # Berth set right a child someone else changed.
    DRIFT_CORRECTED = "DriftCorrected"
    # A resource no longer asked for went, by the Environment's deletion policy.
    RESOURCE_RELEASED = "ResourceReleased"
    # On an Environment with deletionPolicy Delete: its Workloads are being deleted first.
    DELETING_WORKLOADS = "DeletingWorkloads"
    # On a preview: it expires within previews.expiryWarning.
    EXPIRING_SOON = "ExpiringSoon"
    # On a preview: its ttl ran out; it is torn down.
    EXPIRED = "Expired"
    # On an Environment being torn down: something does not go (named in the message).
    TEARDOWN_BLOCKED = "TeardownBlocked"
    # On an Environment torn down: its namespace stays (Berth did not create it, or it
    # holds retained resources).
    NAMESPACE_KEPT = "NamespaceKept"
    # On a preview: one of its Workloads replaced the copy of the base's (or the copy
    # came back when it went).
    COPY_REPLACED = "CopyReplaced"
    COPY_RESTORED = "CopyRestored"


@unique
class PodReason(StrEnum):
    """Kubernetes' reasons that Berth passes up from a Workload's Pods (render.pods), on
    Ready and Reconciling, as the kubelet, the scheduler or the ReplicaSet controller
    wrote them."""

    # The image cannot be pulled (kubelet).
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    ERR_IMAGE_PULL = "ErrImagePull"
    INVALID_IMAGE_NAME = "InvalidImageName"
    ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
    # The container cannot be created or started (kubelet).
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"
    CREATE_CONTAINER_ERROR = "CreateContainerError"
    RUN_CONTAINER_ERROR = "RunContainerError"
    # The container keeps exiting (kubelet).
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    # The container was killed for using more memory than its limit (kubelet).
    OOM_KILLED = "OOMKilled"
    # No node can take the Pod (scheduler).
    UNSCHEDULABLE = "Unschedulable"
    # The Deployment cannot create Pods at all: quota, admission (ReplicaSet controller).
    REPLICA_FAILURE = "ReplicaFailure"


# Reasons that may go away by themselves: a render with only these is waiting, not stuck.
TRANSIENT_REASONS = frozenset({Reason.OUTPUTS_UNAVAILABLE, Reason.WAITING})
# Reasons of the Environment's policy: they come first when there are several problems.
POLICY_REASONS = frozenset(
    {
        Reason.IMAGE_NOT_ALLOWED,
        Reason.REPLICAS_ABOVE_LIMIT,
        Reason.LIMITS_REQUIRED,
        Reason.DIGEST_REQUIRED,
        Reason.LATEST_TAG_NOT_ALLOWED,
        Reason.RESOURCE_NOT_ALLOWED,
    }
)
