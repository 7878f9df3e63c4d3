"""An Environment's spec.promotion: where promotions into it may come from, whether they
need an approval, and how many revisions its Workloads keep."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from berth.api.common import DNS_LABEL_PATTERN, BerthModel

DEFAULT_REVISION_HISTORY_LIMIT = 10
MAX_REVISION_HISTORY_LIMIT = 100
MAX_PROMOTION_SOURCES = 64


class PromotionPolicy(BerthModel):
    """What this Environment accepts as promotions, and how many revisions its Workloads
    keep."""

    from_: (
        list[Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=63)]] | None
    ) = Field(
        None,
        alias="from",
        max_length=MAX_PROMOTION_SOURCES,
        description=(
            "The Environments promotions into this one may come from (the pipeline, e.g. "
            "staging accepts from dev). Absent: any Environment. A rollback (a promotion "
            "from this Environment itself) is always accepted."
        ),
    )
    require_approval: bool = Field(
        False,
        description=(
            "If true, a Promotion into this Environment (a rollback too) waits for a "
            "PromotionApproval by a subject RBAC lets create one in its namespace."
        ),
    )
    revision_history_limit: int = Field(
        DEFAULT_REVISION_HISTORY_LIMIT,
        ge=1,
        le=MAX_REVISION_HISTORY_LIMIT,
        description=(
            "How many WorkloadRevisions each Workload here keeps; the oldest that nothing "
            "refers to go first. Also the length of its status.history."
        ),
    )
