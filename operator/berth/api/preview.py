"""Previews: an Environment per change, inheriting a base Environment, with a time to live.

Two ways to make one. The platform team writes a preview Environment itself
(``spec.type: preview`` with ``spec.preview.base``); or whoever the base lets (its
``spec.previews.creators``, CI for instance) writes a ``Preview`` in the base's
namespace, and Berth makes the preview Environment from it. A Preview can say only what
is safe to let CI say — how long the preview lives and which of the base's Workloads it
runs — so the right to make Previews is never the right to make an Environment.

The durations (``ttl``, ``maxTTL``...) are written as Go writes them, with days too:
``90m``, ``36h``, ``1h30m``, ``7d``.
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from berth.api.common import (
    API_VERSION,
    CONDITIONS_LIST_EXTRA,
    DNS_1035_LABEL_PATTERN,
    DNS_LABEL_MAX,
    DNS_LABEL_PATTERN,
    BerthModel,
    Condition,
    ObjectMeta,
    StatusModel,
    status_as_read,
)

DURATION_PATTERN = r"^([0-9]{1,5}(s|m|h|d))+$"
_DURATION_PART = re.compile(r"([0-9]+)(s|m|h|d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# The longest TTL, cap or warning Berth accepts: a year. (A preview meant to live longer
# is an Environment of another type, or a kept one.)
MAX_DURATION = datetime.timedelta(days=366)
DEFAULT_TTL = "72h"
DEFAULT_EXPIRY_WARNING = "1h"
MAX_COPIES = 256
MAX_CREATORS = 64


def parse_duration(text: str) -> datetime.timedelta:
    """``90m``, ``36h``, ``1h30m``, ``7d`` as a timedelta. Raises ValueError with a message
    that says what a duration looks like."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(
            f"{text!r} is not a duration: write a number and a unit (s, m, h or d), "
            "for example 90m, 36h, 1h30m or 7d"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    duration = datetime.timedelta(seconds=seconds)
    if duration <= datetime.timedelta(0):
        raise ValueError(f"{text!r} is no time at all: a duration must be longer than 0s")
    if duration > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than a year, the longest duration Berth accepts")
    return duration


def _valid_duration(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[
    str,
    StringConstraints(pattern=DURATION_PATTERN, max_length=32),
    AfterValidator(_valid_duration),
    Field(
        description="a duration: numbers with a unit each (s, m, h, d), e.g. 90m, 36h, 1h30m, 7d"
    ),
]
WorkloadName = Annotated[
    str,
    StringConstraints(pattern=DNS_1035_LABEL_PATTERN, max_length=DNS_LABEL_MAX),
    Field(description="a Workload name"),
]
_COPIES_DESCRIPTION = (
    "Names of the base's Workloads that run in the preview too, as copies that follow "
    "the base. Absent: all of them; empty: none. A Workload of the preview's own with "
    "the same name replaces the copy."
)


class PreviewOf(BerthModel):
    """What makes an Environment a preview: its base, how long it lives, what it runs."""

    base: str = Field(
        pattern=DNS_LABEL_PATTERN,
        max_length=DNS_LABEL_MAX,
        description=(
            "The Environment this preview inherits from, live: its defaults, policy, routes "
            "and provisioners, where the preview does not set them. Immutable."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "a preview's base is immutable"}
            ]
        },
    )
    ttl: Duration | None = Field(
        None,
        description=(
            "How long the preview lives after its last change (to itself or to one of its "
            "own Workloads), e.g. 36h. Absent: the base's previews.defaultTTL. A preview "
            'annotated berth.dev/keep: "true" never expires.'
        ),
    )
    copy_workloads: list[WorkloadName] | None = Field(
        None, max_length=MAX_COPIES, description=_COPIES_DESCRIPTION
    )


class Subject(BerthModel):
    """Who may make previews: a ServiceAccount, a user or a group (as RBAC names them)."""

    kind: Literal["ServiceAccount", "User", "Group"] = Field(description="Kind of subject.")
    name: str = Field(min_length=1, max_length=253, description="Its name.")
    namespace: str | None = Field(
        None,
        pattern=DNS_LABEL_PATTERN,
        max_length=DNS_LABEL_MAX,
        description="The ServiceAccount's namespace (ServiceAccounts only).",
    )

    @model_validator(mode="after")
    def _namespace_for_service_accounts(self) -> Subject:
        if (self.kind == "ServiceAccount") != (self.namespace is not None):
            raise ValueError(
                "a ServiceAccount needs a namespace, and only a ServiceAccount has one"
            )
        return self


class PreviewPolicy(BerthModel):
    """What a base allows its previews, and who may make them with a Preview."""

    max_count: int | None = Field(
        None,
        ge=0,
        le=10000,
        description=(
            "Most previews of this base at a time. A Preview beyond it waits, with reason "
            "PreviewQuotaExceeded; previews that run are never removed for it. Absent: no limit."
        ),
    )
    max_ttl: Duration | None = Field(
        None, alias="maxTTL", description="The longest ttl a preview may ask for. Absent: no cap."
    )
    default_ttl: Duration | None = Field(
        None,
        alias="defaultTTL",
        description=(
            f"The ttl of a preview that sets none. Absent: {DEFAULT_TTL}, or maxTTL if shorter."
        ),
    )
    expiry_warning: Duration | None = Field(
        None,
        description=(
            "How long before a preview expires Berth posts an ExpiringSoon Event on it "
            f"(at most half its ttl). Absent: {DEFAULT_EXPIRY_WARNING}."
        ),
    )
    creators: list[Subject] | None = Field(
        None,
        max_length=MAX_CREATORS,
        description=(
            "Who may make previews of this base: Berth binds them to the ClusterRole "
            "berth-preview-requester in this Environment's namespace (create and delete "
            "Previews there) and to berth-preview-editor in each preview's namespace (its "
            "Workloads). Nothing else."
        ),
    )

    def ttl_cap(self) -> datetime.timedelta | None:
        return parse_duration(self.max_ttl) if self.max_ttl else None

    def default_ttl_value(self) -> str:
        """defaultTTL, or its default: 72h, or maxTTL where that is shorter."""
        if self.default_ttl:
            return self.default_ttl
        cap = self.ttl_cap()
        if cap is not None and self.max_ttl and cap < parse_duration(DEFAULT_TTL):
            return self.max_ttl
        return DEFAULT_TTL

    def warning(self) -> datetime.timedelta:
        return parse_duration(self.expiry_warning or DEFAULT_EXPIRY_WARNING)


# -- what a preview Environment's status says of it -----------------------------------------


class TeardownRef(StatusModel):
    """An object a teardown waits for: a claim or a template's object."""

    api_version: str = Field(description="Its apiVersion.")
    kind: str = Field(description="Its kind.")
    name: str = Field(description="Its name (in the Environment's namespace).")


class TeardownState(StatusModel):
    """Where a teardown is: Workloads, then their resources, then the namespace."""

    phase: Literal["Workloads", "Resources", "Namespace", "Done"] = Field(
        description="What is being removed now."
    )
    waiting_for: list[str] | None = Field(
        None,
        description=(
            "What has not gone yet, each with what holds it (a claim's finalizers and its "
            "own condition's message): everything after waits for it."
        ),
    )
    since: str | None = Field(
        None,
        description="Since when it waits for exactly these (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    blocked: bool | None = Field(
        None, description="True once the wait has lasted long enough to be reported."
    )
    objects: list[TeardownRef] | None = Field(
        None,
        description=(
            "The provisioned objects its Workloads' statuses listed: looked for by name "
            "until they are gone."
        ),
    )


class PreviewState(StatusModel):
    """The state of a preview: what it follows, what it runs, when it expires."""

    base: str | None = Field(None, description="The base Environment it follows.")
    base_generation: int | None = Field(
        None, ge=0, description="The generation of the base it follows now."
    )
    ttl: str | None = Field(None, description="The ttl in force (its own, or the base's default).")
    last_change: str | None = Field(
        None,
        description=(
            "When the preview or one of its own Workloads last changed (RFC 3339): its TTL "
            "counts from here."
        ),
        json_schema_extra={"format": "date-time"},
    )
    change_digest: str | None = Field(
        None,
        description="A digest of the generations lastChange was counted from (bookkeeping).",
    )
    expires_at: str | None = Field(
        None,
        description="lastChange + ttl (RFC 3339); absent while the preview is kept.",
        json_schema_extra={"format": "date-time"},
    )
    kept: bool | None = Field(None, description='True while annotated berth.dev/keep: "true".')
    warned_for: str | None = Field(
        None, description="The expiresAt the ExpiringSoon Event was posted for (bookkeeping)."
    )
    copies: list[str] | None = Field(
        None, description="The base's Workloads that run here as copies."
    )
    own: list[str] | None = Field(
        None, description="The preview's own Workloads (changed ones, or new)."
    )


# -- the Preview kind: a request for a preview, in the base's namespace ----------------------


class PreviewSpec(BerthModel):
    """What a Preview may ask of its preview Environment."""

    ttl: Duration | None = Field(
        None,
        description=(
            "How long the preview lives after its last change, e.g. 36h. Absent: the "
            "base's previews.defaultTTL. At most the base's previews.maxTTL."
        ),
    )
    copy_workloads: list[WorkloadName] | None = Field(
        None, max_length=MAX_COPIES, description=_COPIES_DESCRIPTION
    )


class PreviewStatus(StatusModel):
    """Observed state of a Preview: where its preview runs, and until when."""

    observed_generation: int | None = Field(
        None, ge=0, description="The metadata.generation this status describes."
    )
    conditions: list[Condition] | None = Field(
        None,
        description="Ready, Reconciling and Stalled (kstatus), as the preview Environment says.",
        json_schema_extra=CONDITIONS_LIST_EXTRA,
    )
    environment: str | None = Field(None, description="The preview Environment made for it.")
    namespace: str | None = Field(
        None, description="The preview's namespace: apply Workloads there."
    )
    expires_at: str | None = Field(
        None,
        description="When the preview expires (RFC 3339); absent while it is kept.",
        json_schema_extra={"format": "date-time"},
    )


class Preview(BerthModel):
    """A request for a preview of the Environment that serves this namespace."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["berth.dev/v1alpha1"] = Field(
        API_VERSION, description="berth.dev/v1alpha1"
    )
    kind: Literal["Preview"] = Field("Preview", description="Preview")
    metadata: ObjectMeta = Field(description="Kubernetes object metadata.")
    spec: PreviewSpec = Field(description="The preview asked for.")
    status: PreviewStatus | None = Field(None, description="Observed state.")

    _status_as_read = field_validator("status", mode="wrap")(status_as_read)
