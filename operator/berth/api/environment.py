"""The Environment custom resource: a platform-owned place where Workloads run.

An Environment owns one namespace, the defaults applied where a Workload says nothing,
the policy Workloads must satisfy, and the provisioners that serve resource types.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from berth.api.common import (
    API_VERSION,
    CONDITIONS_LIST_EXTRA,
    DNS_LABEL_MAX,
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    BerthModel,
    Condition,
    ObjectMeta,
    StatusModel,
    no_server_defaults,
    status_as_read,
)
from berth.api.container import ResourceRequirements
from berth.api.policy import (
    EnvironmentPolicy,
    PodSecurityLevel,
    PolicyRuleStatus,
)
from berth.api.preview import PreviewOf, PreviewPolicy, PreviewState, TeardownState
from berth.api.promotion_policy import PromotionPolicy
from berth.api.workload import MAX_REPLICAS

EnvironmentType = Literal["development", "staging", "production", "preview"]
DeletionPolicy = Literal["Delete", "Retain", "Orphan"]

PROVISIONER_KINDS = ("crossplane", "template", "secret")
MAX_PROVISIONERS = 256


class EnvironmentDefaults(BerthModel):
    """Values applied where a Workload says nothing."""

    model_config = ConfigDict(json_schema_extra=no_server_defaults)

    replicas: int = Field(
        1, ge=0, le=MAX_REPLICAS, description="Replicas of a Workload that sets none."
    )
    container_resources: ResourceRequirements | None = Field(
        None,
        description=(
            "Requests and limits merged under each container's own, key by key "
            "(the container's values win)."
        ),
    )
    progress_deadline_seconds: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description=(
            "How long, in seconds, a rollout may make no progress before the Workload is "
            "reported Stalled with reason ProgressDeadlineExceeded (the Deployment's "
            "progressDeadlineSeconds; default 600)."
        ),
    )


class Routes(BerthModel):
    """How Workloads are exposed outside the cluster."""

    domain: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Parent domain for Workload hostnames, for example dev.apps.acme.dev.",
    )


# -- provisioners ---------------------------------------------------------------------------
#
# ``Provisioner`` is what the CRD admits. Its crossplane/template/secret blocks are free-form
# in the schema (so an Environment written for a later version still parses); the typed
# models below say what each block holds today. ``berth.provision`` validates a block with
# them when the provisioner is used (reason InvalidProvisioner), and
# ``berth.provision.check_provisioners`` validates all of an Environment's at once.

# An output name as Score placeholders use it: ${resources.<name>.<output>}.
OUTPUT_NAME_PATTERN = r"^[A-Za-z0-9_][-A-Za-z0-9_.]*$"
# A Kubernetes Secret data key.
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
# A group/version, e.g. platform.acme.dev/v1alpha1 (claims always have a group).
_GROUP_VERSION_PATTERN = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+/v[0-9]+[a-z0-9]*$"
)
_KIND_PATTERN = r"^[A-Z][A-Za-z0-9]*$"
# A field path in a claim: dot-separated keys, each optionally indexed, e.g. status.host
# or status.endpoints[0].address.
FIELD_PATH_PATTERN = (
    r"^[A-Za-z_][-A-Za-z0-9_]*(\[[0-9]+\])*(\.[A-Za-z_][-A-Za-z0-9_]*(\[[0-9]+\])*)*$"
)

OutputName = Annotated[
    str,
    StringConstraints(pattern=OUTPUT_NAME_PATTERN, max_length=253),
    Field(description="output names are letters, digits, '-', '_' and '.'"),
]
SecretKey = Annotated[
    str,
    StringConstraints(pattern=SECRET_KEY_PATTERN, max_length=253),
    Field(description="Secret keys are letters, digits, '-', '_' and '.'"),
]
ParamName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
FieldPath = Annotated[
    str,
    StringConstraints(pattern=FIELD_PATH_PATTERN, max_length=1024),
    Field(description="a field path such as status.host or status.endpoints[0].address"),
]


class CompositionSelector(BerthModel):
    """Selects the Crossplane Composition by its labels."""

    match_labels: dict[str, str] = Field(
        min_length=1, description="Labels the Composition must carry."
    )


class CompositionRef(BerthModel):
    """Names the Crossplane Composition to use."""

    name: str = Field(min_length=1, description="Name of the Composition.")


class CrossplaneProvisioner(BerthModel):
    """Provision with a Crossplane claim (namespaced, in the Environment's namespace).

    The claim is ``apiVersion``/``kind``, named after the resource's identity, with
    ``spec.parameters`` = ``parameters`` deep-merged with the Workload's params,
    ``spec.compositionSelector`` or ``spec.compositionRef``, and
    ``spec.writeConnectionSecretToRef.name`` = ``<identity>-conn``.

    Outputs: every output the provisioner promises is read from the claim's connection
    Secret (key = the output's name, or ``connectionSecretKeys[output]``) and is therefore
    secret, unless ``fieldPaths`` reads it from the claim itself (e.g. ``status.host``) or
    ``values`` gives it as a constant; those two are plain values."""

    api_version: str = Field(
        pattern=_GROUP_VERSION_PATTERN,
        max_length=316,
        description="API version of the claim, e.g. platform.acme.dev/v1alpha1.",
    )
    kind: str = Field(
        pattern=_KIND_PATTERN,
        max_length=63,
        description="Kind of the claim, e.g. PostgreSQLInstance.",
    )
    composition_selector: CompositionSelector | None = Field(
        None, description="Written to the claim's spec.compositionSelector."
    )
    composition_ref: CompositionRef | None = Field(
        None, description="Written to the claim's spec.compositionRef."
    )
    parameters: dict[str, Any] | None = Field(
        None, description="Defaults of spec.parameters; the Workload's params are merged over them."
    )
    allowed_params: list[ParamName] | None = Field(
        None,
        description=(
            "Params a Workload may set (top-level names). Absent: the names in parameters, "
            "so a Workload may override a default but not add parameters."
        ),
    )
    connection_secret_keys: dict[OutputName, SecretKey] | None = Field(
        None,
        description="Output -> key of the connection Secret, where they differ. Secret outputs.",
    )
    field_paths: dict[OutputName, FieldPath] | None = Field(
        None,
        description="Output -> field of the claim it is read from, e.g. status.host. Plain.",
    )
    values: dict[OutputName, str] | None = Field(
        None, description="Output -> constant value. Plain outputs."
    )
    annotations: dict[str, str] | None = Field(
        None, description="Annotations put on every claim (the Workload's never are)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> CrossplaneProvisioner:
        if self.composition_selector is not None and self.composition_ref is not None:
            raise ValueError("set compositionSelector or compositionRef, not both")
        sources = {
            "connectionSecretKeys": set(self.connection_secret_keys or {}),
            "fieldPaths": set(self.field_paths or {}),
            "values": set(self.values or {}),
        }
        names = list(sources)
        for index, first in enumerate(names):
            for second in names[index + 1 :]:
                both = sorted(sources[first] & sources[second])
                if both:
                    raise ValueError(
                        f"outputs {', '.join(both)} are in both {first} and {second}; "
                        "an output has one source"
                    )
        return self


class TemplateProvisioner(BerthModel):
    """Provision from platform-owned Jinja2 templates, rendered in a sandbox.

    ``manifests`` renders to YAML: Kubernetes objects, as a list or as documents separated
    by ``---``; they are created in the Environment's namespace. ``outputs`` renders to a
    YAML map from output name to a string, or to ``{secretKeyRef: {name, key}}`` for a
    secret output. The templates see ``workload`` (name, namespace and the Score annotations
    of the Workload), ``resource`` (name, type, class, id, params, annotations; a shared
    resource, one with an id, has neither workload nor resource.name),
    ``environment`` (name, type, namespace, domain), ``identity`` and ``shared``, and may
    call ``reject(message)`` to refuse the resource's params.

    Every string in that context is opaque (see ``berth.provision.opaque``): a template
    inserts it, compares it and tests it, and it only ever becomes (part of) a string in
    the YAML, never structure. Numbers and booleans are real values."""

    manifests: str | None = Field(None, description="Jinja2 template of the objects to create.")
    outputs: str | None = Field(None, description="Jinja2 template of the outputs (a YAML map).")
    defaults: dict[str, Any] | None = Field(
        None, description="Defaults of the params; the Workload's params are merged over them."
    )
    allowed_params: list[ParamName] | None = Field(
        None,
        description=("Params a Workload may set (top-level names). Absent: the names in defaults."),
    )


class SecretProvisioner(BerthModel):
    """Take outputs from an existing Secret in the Environment's namespace (managed
    outside Berth). Every output is secret."""

    name: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN, max_length=253, description="Name of the Secret."
    )
    keys: dict[OutputName, SecretKey] | None = Field(
        None, description="Output -> key of the Secret, where they differ."
    )


class ProvisionerFields(BerthModel):
    """What serves Score resources of one type (optionally one class or id): shared by an
    Environment's own provisioners and by ClusterProvisioners.

    Exactly one of crossplane, template and secret says how."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.crossplane), has(self.template), has(self.secret)]"
                    ".filter(x, x).size() == 1",
                    "message": "a provisioner needs exactly one of crossplane, template, secret",
                }
            ]
        }
    )

    type: str = Field(min_length=1, description="The resource type served, e.g. postgres.")
    class_: str | None = Field(
        None, alias="class", min_length=1, description="Only resources of this class."
    )
    id: str | None = Field(None, min_length=1, description="Only the resource with this id.")
    outputs: list[OutputName] | None = Field(
        None,
        description=(
            "Names of the outputs this provisioner promises. A Workload using a resource "
            "waits until all of them are available."
        ),
    )
    crossplane: dict[str, Any] | None = Field(
        None,
        description=(
            "Provision with a Crossplane claim: apiVersion, kind, compositionSelector or "
            "compositionRef, parameters, allowedParams, connectionSecretKeys, fieldPaths, "
            "values, annotations."
        ),
    )
    template: dict[str, Any] | None = Field(
        None,
        description=(
            "Provision from sandboxed Jinja2 templates: manifests, outputs, defaults, "
            "allowedParams."
        ),
    )
    secret: dict[str, Any] | None = Field(
        None,
        description="Take outputs from an existing Secret: name, keys.",
    )

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> ProvisionerFields:
        given = [kind for kind in PROVISIONER_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"a provisioner needs exactly one of crossplane, template, secret (found: {found})"
            )
        return self

    @property
    def kind(self) -> str:
        """Which of crossplane, template, secret this provisioner uses."""
        return next(kind for kind in PROVISIONER_KINDS if getattr(self, kind) is not None)


class Provisioner(ProvisionerFields):
    """Serves Score resources of one type (optionally one class or id) in this Environment.

    Exactly one of crossplane, template and secret says how."""

    name: str | None = Field(
        None,
        pattern=DNS_LABEL_PATTERN,
        max_length=DNS_LABEL_MAX,
        description="A name for status and messages. Default: provisioners[<index>].",
    )


class EnvironmentSpec(BerthModel):
    """Desired state of an Environment."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(self.type == 'preview') == has(self.preview)",
                    "message": "spec.preview (the base) is set exactly when type is preview",
                },
                {
                    "rule": "!(self.type == 'preview' && has(self.previews))",
                    "message": "a preview cannot be a base: remove spec.previews",
                },
            ]
        }
    )

    type: EnvironmentType = Field(
        description="Kind of environment: development, staging, production or preview."
    )
    namespace: str = Field(
        pattern=DNS_LABEL_PATTERN,
        max_length=DNS_LABEL_MAX,
        description="Namespace the Environment's Workloads live in. Immutable.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "namespace is immutable; create a new Environment instead",
                }
            ]
        },
    )
    defaults: EnvironmentDefaults | None = Field(
        None, description="Values applied where a Workload says nothing."
    )
    policy: EnvironmentPolicy | None = Field(
        None,
        description=(
            "Rules Workloads must satisfy: checked at kubectl apply and while they run "
            "(Deny: refused, or Stalled if already running; Warn, Audit: reported)."
        ),
    )
    deletion_policy: DeletionPolicy | None = Field(
        None,
        description=(
            "What happens to provisioned resources when a Workload goes: Delete, Retain or "
            "Orphan; and when the Environment goes: under Delete, its Workloads, then their "
            "resources, then the namespace (if Berth created it) are deleted, in that order; "
            "under Retain and Orphan all stay. Absent: Retain for production, Delete "
            "otherwise (a preview's is never its base's)."
        ),
    )
    routes: Routes | None = Field(None, description="External exposure of Workloads.")
    provisioners: list[Provisioner] | None = Field(
        None,
        max_length=MAX_PROVISIONERS,
        description="Provisioners by resource type; the most specific match wins.",
    )

    preview: PreviewOf | None = Field(
        None,
        description=(
            "Set on a preview (type preview): its base, ttl and which of the base's "
            "Workloads it runs."
        ),
    )
    previews: PreviewPolicy | None = Field(
        None,
        description=(
            "Set on a base: it accepts previews, this many, this long, made by these. "
            "Absent: no previews of this Environment."
        ),
    )
    promotion: PromotionPolicy | None = Field(
        None,
        description=(
            "Which Environments may promote into this one, whether a promotion needs an "
            "approval, and how many revisions Workloads keep. Absent: promotions from any "
            "Environment, no approval, 10 revisions."
        ),
    )

    def pod_security_level(self) -> PodSecurityLevel:
        """policy.podSecurity, or its default: restricted."""
        return self.policy.pod_security if self.policy is not None else "restricted"

    def effective_deletion_policy(self) -> DeletionPolicy:
        """deletionPolicy, or its default: Retain in production, Delete elsewhere (a
        preview's is never its base's)."""
        if self.deletion_policy is not None:
            return self.deletion_policy
        return "Retain" if self.type == "production" else "Delete"

    def default_replicas(self) -> int:
        """Replicas for a Workload that sets none."""
        return self.defaults.replicas if self.defaults is not None else 1


class EnvironmentStatus(StatusModel):
    """Observed state of an Environment."""

    observed_generation: int | None = Field(
        None, ge=0, description="The metadata.generation this status describes."
    )
    conditions: list[Condition] | None = Field(
        None,
        description="Ready, Reconciling and Stalled (kstatus), plus finer conditions.",
        json_schema_extra=CONDITIONS_LIST_EXTRA,
    )
    namespace: str | None = Field(None, description="The namespace the operator manages.")
    workloads: int | None = Field(None, ge=0, description="Workloads in the Environment.")
    ready_workloads: int | None = Field(None, ge=0, description="Of those, how many are Ready.")
    policy: list[PolicyRuleStatus] | None = Field(
        None,
        description=(
            "Each rule of spec.policy with how many Workloads break it now (those running "
            "from before the rule and, for Warn and Audit, those admitted with it)."
        ),
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["rule"]},
    )
    preview: PreviewState | None = Field(None, description="A preview's base, copies and expiry.")
    previews: int | None = Field(None, ge=0, description="On a base: how many previews it has.")
    teardown: TeardownState | None = Field(
        None,
        description=(
            "While the Environment is deleted under deletionPolicy Delete: what is being "
            "removed, and what it waits for."
        ),
    )
    kopf: dict[str, Any] | None = Field(
        None, description="Bookkeeping of the operator framework; not for users."
    )


class Environment(BerthModel):
    """A platform-owned environment that Workloads run in."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["berth.dev/v1alpha1"] = Field(
        API_VERSION, description="berth.dev/v1alpha1"
    )
    kind: Literal["Environment"] = Field("Environment", description="Environment")
    metadata: ObjectMeta = Field(description="Kubernetes object metadata.")
    spec: EnvironmentSpec = Field(description="The environment.")
    status: EnvironmentStatus | None = Field(None, description="Observed state.")

    _status_as_read = field_validator("status", mode="wrap")(status_as_read)

    @property
    def name(self) -> str:
        return self.metadata.name

    def effective_deletion_policy(self) -> DeletionPolicy:
        """spec.deletionPolicy, or its default: Retain in production, Delete elsewhere."""
        return self.spec.effective_deletion_policy()
