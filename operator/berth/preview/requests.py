"""From a Preview (a request in a base's namespace) to its preview Environment (pure).

The Environment's name, which is also its namespace's, is derived from the Preview's:
``<base namespace>-<preview name>``, so CI and Argo CD know where to apply Workloads
before the preview exists. Where that is longer than 63 characters it is cut, and
ends in a digest of the whole, so two long names never meet by truncation. An
Environment of that name made for another Preview, or not made by Berth at all, is never
taken over (the Preview says PreviewNameTaken).

The base's quota (``previews.maxCount``) is decided by rank: the previews that exist
count, and Previews still waiting for their Environment queue by creation time (then
name). Two reconciles that run at once agree on who is in, and a preview that runs is
never removed for the quota.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from berth.api.common import API_VERSION, DNS_LABEL_MAX
from berth.names import (
    KEEP_ANNOTATION,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    PREVIEW_OF_LABEL,
    PREVIEW_REQUEST_ANNOTATION,
)

_DIGEST = 8


def preview_name(namespace: str, name: str) -> str:
    """The preview Environment's (and namespace's) name for Preview ``namespace/name``."""
    full = f"{namespace}-{name}"
    if len(full) <= DNS_LABEL_MAX:
        return full
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:_DIGEST]
    return f"{full[: DNS_LABEL_MAX - _DIGEST - 1].rstrip('-')}-{digest}"


def request_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def request_of(environment: Mapping[str, Any]) -> str | None:
    """The Preview an Environment was made for ("namespace/name"), or None."""
    annotations = (environment.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(PREVIEW_REQUEST_ANNOTATION)
    return str(value) if value else None


def kept(body: Mapping[str, Any]) -> bool:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return annotations.get(KEEP_ANNOTATION) == "true"


def preview_environment(request: Mapping[str, Any], base: str) -> dict[str, Any]:
    """The preview Environment a Preview asks for: type preview, its derived name and
    namespace, its base, and only what a Preview may say (ttl, copyWorkloads, keep)."""
    meta = request["metadata"]
    name = preview_name(meta["namespace"], meta["name"])
    asked = request.get("spec") or {}
    preview: dict[str, Any] = {"base": base}
    for field in ("ttl", "copyWorkloads"):
        if asked.get(field) is not None:
            preview[field] = asked[field]
    annotations = {PREVIEW_REQUEST_ANNOTATION: request_key(meta["namespace"], meta["name"])}
    if kept(request):
        annotations[KEEP_ANNOTATION] = "true"
    return {
        "apiVersion": API_VERSION,
        "kind": "Environment",
        "metadata": {
            "name": name,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, PREVIEW_OF_LABEL: base},
            "annotations": annotations,
        },
        "spec": {"type": "preview", "namespace": name, "preview": preview},
    }


@dataclass(frozen=True)
class Candidate:
    """A preview of a base, for the quota: made (it has its Environment) or waiting."""

    key: str
    created: str
    made: bool


def previews_of_base(
    base: str,
    environments: Sequence[Mapping[str, Any]],
    requests: Sequence[Mapping[str, Any]],
) -> list[Candidate]:
    """Every preview of ``base``: its preview Environments (a request's counts as that
    request), and the Previews that have none yet (and are not being deleted)."""
    found: dict[str, Candidate] = {}
    for env in environments:
        spec = env.get("spec") or {}
        if spec.get("type") != "preview" or (spec.get("preview") or {}).get("base") != base:
            continue
        meta = env["metadata"]
        key = request_of(env) or f"Environment/{meta['name']}"
        found[key] = Candidate(key, str(meta.get("creationTimestamp") or ""), True)
    for req in requests:
        meta = req["metadata"]
        key = request_key(meta["namespace"], meta["name"])
        if key in found or meta.get("deletionTimestamp"):
            continue
        found[key] = Candidate(key, str(meta.get("creationTimestamp") or ""), False)
    return sorted(found.values(), key=lambda c: (c.created, c.key))


def within_quota(key: str, previews: Sequence[Candidate], max_count: int | None) -> bool:
    """May preview ``key`` have its Environment: it has one already, or the previews
    made and those waiting ahead of it are fewer than ``max_count``."""
    if max_count is None:
        return True
    ranked = list(previews)
    mine = next((c for c in ranked if c.key == key), None)
    if mine is not None and mine.made:
        return True
    made = sum(1 for c in ranked if c.made and c.key != key)
    # One not in the list yet queues behind every waiting one.
    before = ranked[: ranked.index(mine)] if mine is not None else ranked
    ahead = sum(1 for c in before if not c.made)
    return made + ahead < max_count


def quota_message(base: str, previews: Sequence[Candidate], max_count: int) -> str:
    made = [c.key for c in previews if c.made]
    listed = ", ".join(made[:5]) + (", ..." if len(made) > 5 else "")
    return (
        f"base Environment {base!r} allows {max_count} preview(s) at a time and has "
        f"{len(made)} ({listed or 'others waiting ahead'}): this one waits until one goes "
        "(delete one, or ask the platform team to raise previews.maxCount)"
    )
