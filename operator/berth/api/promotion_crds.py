"""What the CRDs of the promotion kinds say beyond their models: names, scope, printer
columns and the rule on metadata.name. ``berth.api.crdgen`` builds them with the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from berth.api.common import DNS_SUBDOMAIN_PATTERN
from berth.api.promotion import Promotion, PromotionApproval
from berth.api.revision import WorkloadRevision

_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_READY = '.status.conditions[?(@.type=="Ready")]'
_NAME_RULE = {
    "rule": "size(self.metadata.name) <= 253 && "
    f"self.metadata.name.matches(r'{DNS_SUBDOMAIN_PATTERN}')",
    "message": "the name must be a DNS subdomain (lowercase letters, digits, '-' and '.')",
}


@dataclass(frozen=True)
class KindDefinition:
    kind: str
    plural: str
    short_names: list[str]
    model: type[BaseModel]
    description: str
    columns: list[dict[str, Any]]
    name_rule: dict[str, str]
    scope: str = "Namespaced"


def _column(name: str, path: str, description: str, **extra: Any) -> dict[str, Any]:
    kind = extra.pop("type", "string")
    return {"name": name, "type": kind, "jsonPath": path, "description": description, **extra}


REVISION = KindDefinition(
    kind="WorkloadRevision",
    plural="workloadrevisions",
    short_names=["wlrev"],
    model=WorkloadRevision,
    description=(
        "An immutable record of a Workload generation that became Ready: its spec with every "
        "image pinned by digest, the Environment, and where each digest came from."
    ),
    columns=[
        _column("Workload", ".spec.workload", "The Workload it is a revision of."),
        _column("Revision", ".spec.revision", "Its number.", type="integer"),
        _column("Environment", ".spec.environment", "The Environment it ran in."),
        _column("Image", ".spec.images[0].pinned", "The first container's pinned image."),
        _column("Digest-From", ".spec.images[0].source", "Where that digest came from."),
        _AGE,
        _column(
            "Promotion",
            ".spec.origin.promotion",
            "The Promotion that wrote the generation.",
            priority=1,
        ),
    ],
    name_rule=_NAME_RULE,
)

PROMOTION = KindDefinition(
    kind="Promotion",
    plural="promotions",
    short_names=["promo"],
    model=Promotion,
    description=(
        "Makes the Workload of this namespace's Environment equal to a revision of the same "
        "Workload in another Environment (or an older revision of its own: a rollback), "
        "after checking that the target can take it."
    ),
    columns=[
        _column("Workload", ".spec.workload", "The Workload promoted."),
        _column("From", ".spec.from", "The source Environment."),
        _column("Revision", ".status.revisionNumber", "The revision applied.", type="integer"),
        _column("Phase", ".status.phase", "Where the Promotion is."),
        _column("Reason", f"{_READY}.reason", "Reason of the Ready condition."),
        _AGE,
        _column("Approved-By", ".status.approvedBy", "Who approved.", priority=1),
        _column("Message", f"{_READY}.message", "The Ready condition's message.", priority=1),
    ],
    name_rule=_NAME_RULE,
)

APPROVAL = KindDefinition(
    kind="PromotionApproval",
    plural="promotionapprovals",
    short_names=["promoapproval"],
    model=PromotionApproval,
    description=(
        "Approves one Promotion. Who may approve is who RBAC lets create PromotionApprovals "
        "in the namespace; the approver must be the creator."
    ),
    columns=[
        _column("Promotion", ".spec.promotion", "The Promotion approved."),
        _column("Approver", ".spec.approver", "Who approved."),
        _AGE,
        _column("Comment", ".spec.comment", "Why.", priority=1),
    ],
    name_rule=_NAME_RULE,
)

PROMOTION_KINDS = (REVISION, PROMOTION, APPROVAL)
