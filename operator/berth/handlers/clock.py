"""The controllers' one source of time, injected on the Runtime.

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
    """A Kubernetes timestamp (RFC 3339, seconds, UTC), as ``rfc3339`` writes it."""
    return datetime.datetime.strptime(stamp, TIME_FORMAT).replace(tzinfo=datetime.UTC)
