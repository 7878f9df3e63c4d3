"""A preview's time to live, as arithmetic on times it is given (pure; no clock).

The TTL counts from the last change to the preview or to one of its own Workloads (a
new generation, a Workload added or removed — never a copy following the base, or a busy
base would keep every preview alive). The last change is kept on the preview's status
as an absolute time, with a digest of the generations it was counted from: a restart, or
the preview moving to another shard, reads it back instead of starting again, and the
expiry (``expiresAt`` = last change + ttl) is the same whoever computes it.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from berth.clock import rfc3339, try_parse_time


def change_digest(generation: int, own_workloads: Iterable[Mapping[str, Any]]) -> str:
    """A digest of what counts as a change: the preview's generation and, for each of its
    own Workloads, its name, uid and generation."""
    parts = [f"environment={generation}"]
    for body in sorted(own_workloads, key=lambda b: str(b["metadata"]["name"])):
        meta = body["metadata"]
        parts.append(f"{meta['name']}:{meta.get('uid', '')}={meta.get('generation', 0)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def last_change(
    previous: Mapping[str, Any] | None,
    digest: str,
    created: datetime.datetime,
    now: datetime.datetime,
) -> datetime.datetime:
    """When the preview last changed: what its status says while the digest is the
    same; its creation when it has no status yet (a preview that waited to be looked at
    still counts from its birth); now, when the digest moved."""
    previous = previous or {}
    recorded = try_parse_time(previous.get("lastChange"))
    if recorded is None or not previous.get("changeDigest"):
        return created
    if previous.get("changeDigest") == digest:
        return recorded
    return now


class Step(StrEnum):
    """What the TTL asks for now."""

    KEEP = "Keep"  # kept: no expiry
    WAIT = "Wait"  # look again at ``next_check``
    WARN = "Warn"  # post the ExpiringSoon Event (once per expiresAt), then wait
    EXPIRE = "Expire"  # expired: tear it down


@dataclass(frozen=True)
class Expiry:
    step: Step
    last_change: datetime.datetime
    expires_at: datetime.datetime | None
    # Seconds until the TTL needs a look again (the warning, or the expiry); None: never.
    next_check: float | None

    def status(self, ttl: str, digest: str, warned_for: str | None) -> dict[str, Any]:
        """The TTL's part of ``status.preview``."""
        result: dict[str, Any] = {
            "ttl": ttl,
            "lastChange": rfc3339(self.last_change),
            "changeDigest": digest,
        }
        if self.expires_at is None:
            result["kept"] = True
        else:
            result["expiresAt"] = rfc3339(self.expires_at)
        if warned_for:
            result["warnedFor"] = warned_for
        return result


def warning_lead(ttl: datetime.timedelta, warning: datetime.timedelta) -> datetime.timedelta:
    """How long before expiry the Event goes out: the base's warning, at most half the ttl."""
    return min(warning, ttl / 2)


def decide(
    *,
    changed: datetime.datetime,
    ttl: datetime.timedelta,
    warning: datetime.timedelta,
    kept: bool,
    warned_for: str | None,
    now: datetime.datetime,
) -> Expiry:
    """Keep, wait, warn or expire — and when to look again."""
    if kept:
        return Expiry(Step.KEEP, changed, None, None)
    # Whole seconds, as status writes them: the decision made from a status read back
    # is the decision made before it was written.
    changed = changed.replace(microsecond=0)
    expires_at = changed + ttl
    if now >= expires_at:
        return Expiry(Step.EXPIRE, changed, expires_at, None)
    warn_at = expires_at - warning_lead(ttl, warning)
    until_expiry = (expires_at - now).total_seconds()
    if warned_for == rfc3339(expires_at):
        return Expiry(Step.WAIT, changed, expires_at, until_expiry)
    if now >= warn_at:
        return Expiry(Step.WARN, changed, expires_at, until_expiry)
    return Expiry(Step.WAIT, changed, expires_at, (warn_at - now).total_seconds())
