"""The one source of time, and the one reader and writer of Kubernetes timestamps.

The reconcilers decide things by the time (an Environment not found moments after the
Workload was created is waited for; an Environment's counts are written at most every
few seconds; conditions carry a transition time) and never read it themselves: they ask
``runtime.clock``. The operator runs with ``SystemClock``; unit tests give a clock they
set and move (``tests/fakeapi.py``'s ``FakeClock``).
"""

from __future__ import annotations

import datetime
import time
from typing import Protocol

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Clock(Protocol):
    def now(self) -> datetime.datetime:
        """The wall-clock time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for intervals."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC)

    def monotonic(self) -> float:
        return time.monotonic()


def rfc3339(moment: datetime.datetime) -> str:
    """A Kubernetes timestamp (RFC 3339, seconds, UTC)."""
    return moment.astimezone(datetime.UTC).strftime(TIME_FORMAT)


def parse_time(stamp: str) -> datetime.datetime:
    """A Kubernetes timestamp: RFC 3339 in UTC, as ``rfc3339`` writes it, or with a
    fraction of a second as MicroTime fields (Leases, kopf's peering) carry it. A stamp
    without a zone is read as UTC. Raises ValueError for anything else."""
    parsed = datetime.datetime.fromisoformat(stamp)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def try_parse_time(value: object) -> datetime.datetime | None:
    """``parse_time`` for a value read off an object that may hold anything: None when it
    is not a timestamp."""
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def seconds_between(earlier: object, later: object) -> float:
    """Seconds from one timestamp to another; infinite when either is not one."""
    start, end = try_parse_time(earlier), try_parse_time(later)
    if start is None or end is None:
        return float("inf")
    return (end - start).total_seconds()
