"""History and collection (pure): what a Workload's status remembers, and which of its
revisions may go.

A Workload keeps at most its Environment's ``spec.promotion.revisionHistoryLimit``
revisions (default 10). Beyond that the oldest go first, but never one still referred
to: the one the Workload runs, and one a Promotion under way is applying.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from berth.api import Environment
from berth.api.promotion_policy import DEFAULT_REVISION_HISTORY_LIMIT


def history_limit(environment: Environment | None) -> int:
    policy = environment.spec.promotion if environment is not None else None
    return policy.revision_history_limit if policy is not None else DEFAULT_REVISION_HISTORY_LIMIT


def number_of(revision: Mapping[str, Any]) -> int:
    return int((revision.get("spec") or {}).get("revision") or 0)


def collectable(
    revisions: Sequence[Mapping[str, Any]], limit: int, referenced: Collection[str]
) -> list[str]:
    """Names of the revisions to delete, oldest first: as many as are over ``limit``,
    passing over those in ``referenced``."""
    over = len(revisions) - limit
    if over <= 0:
        return []
    doomed: list[str] = []
    for revision in sorted(revisions, key=number_of):
        if len(doomed) == over:
            break
        name = str(revision["metadata"]["name"])
        if name not in referenced:
            doomed.append(name)
    return doomed


def with_entry(
    history: Sequence[Mapping[str, Any]] | None, entry: Mapping[str, Any], limit: int
) -> list[dict[str, Any]]:
    """The history with ``entry`` first, at most ``limit`` long."""
    return [dict(entry), *(dict(e) for e in history or [])][:limit]
