"""How many requests the operator keeps in flight: as many as the API server takes.

A fixed client-side rate (client-go's token bucket, ``--qps``) caps a healthy cluster
as surely as a sick one. Here the cap follows the server instead — additive increase,
multiplicative decrease (AIMD) on the number of requests in flight, the way TCP finds
a link's capacity:

- while requests succeed and the limit is actually in use, it grows: by one per
  success until the first sign of congestion (slow start), then by about one per
  round of requests;
- a sign of congestion halves it, once per cooling period (a burst of rejections is
  one signal, not fifty): a 429 (API Priority and Fairness rejected us; its
  ``Retry-After`` is honoured by the request that got it), or a 5xx; latency that has
  grown well beyond its long-run average cuts it gently (10 %), and never below a few;
- a user may set a ceiling (``--max-inflight``, and ``--qps`` for a rate); 0 is none.

``AimdLimit`` is the pure arithmetic, with the clock given by the caller so that it
can be tested without waiting; ``ConcurrencyLimiter`` is the asyncio gate around it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

# Causes of a decrease, as the berth_api_throttled_total metric labels them.
THROTTLED = "throttled"  # 429: the server's flow control turned the request away
SERVER_ERROR = "server_error"  # 5xx
LATENCY = "latency"  # answers far slower than the baseline


@dataclass
class AimdLimit:
    """The concurrency limit and how it moves; all times are given by the caller."""

    ceiling: int = 0  # 0: none
    initial: float = 16.0
    floor: float = 1.0
    decrease: float = 0.5  # factor on a 429 or 5xx
    latency_decrease: float = 0.9  # gentler: latency is a hint, a 429 is an order
    cooldown: float = 1.0  # seconds: one decrease per cooling period at most
    # Latency counts as congestion only above both of these: it has grown to this many
    # times its long-run average, and is above this many seconds.
    latency_tolerance: float = 2.0
    latency_floor: float = 1.0
    # Latency alone never cuts below this: on a server that is slow for reasons of its
    # own (a busy machine), a handful of requests in flight are not what hurts it.
    latency_min_limit: float = 4.0
    limit: float = field(init=False)
    slow_start: bool = field(init=False, default=True)
    baseline: float | None = field(init=False, default=None)
    smoothed: float | None = field(init=False, default=None)
    _last_decrease: float = field(init=False, default=float("-inf"))

    def __post_init__(self) -> None:
        self.limit = self._bounded(self.initial)

    def _bounded(self, value: float) -> float:
        value = max(self.floor, value)
        if self.ceiling > 0:
            value = min(float(self.ceiling), value)
        return value

    @property
    def allowed(self) -> int:
        """Requests that may be in flight now."""
        return max(1, int(self.limit))

    def on_success(self, latency: float, now: float, *, saturated: bool) -> str | None:
        """A request answered; returns LATENCY when that answer was a congestion signal.

        ``saturated``: the limit was in use when the request was sent (it waited, or it
        filled the last slot). Only then does the limit grow: a limit nobody uses says
        nothing about the server, and would only let a later burst through unchecked.
        """
        # Two moving averages: a quick one (the last few answers) and a slow one (the
        # last hundred or so). Growth is the quick one well above the slow one: a server
        # that has simply been slow all along (or answers some kinds of requests slowly)
        # is its own normal, and no reason to step back.
        if self.smoothed is None or self.baseline is None:
            self.smoothed = self.baseline = latency
        else:
            self.smoothed = 0.8 * self.smoothed + 0.2 * latency
            self.baseline = 0.98 * self.baseline + 0.02 * latency
        threshold = max(self.latency_floor, self.latency_tolerance * self.baseline)
        if self.smoothed > threshold and self.limit > self.latency_min_limit:
            if self._decrease(now, self.latency_decrease, self.latency_min_limit):
                return LATENCY
            return None
        if saturated:
            self.limit = self._bounded(self.limit + (1.0 if self.slow_start else 1.0 / self.limit))
        return None

    def on_congestion(self, now: float) -> bool:
        """A 429 or 5xx; returns True when the limit was cut (not within a cooldown)."""
        return self._decrease(now, self.decrease)

    def _decrease(self, now: float, factor: float, lowest: float = 0.0) -> bool:
        self.slow_start = False
        if now - self._last_decrease < self.cooldown:
            return False
        self._last_decrease = now
        self.limit = self._bounded(max(lowest, self.limit * factor))
        return True


def retry_delay(retry_after: str | None, attempt: int) -> float:
    """Seconds before retrying: the server's Retry-After when it gave one (seconds),
    else an exponential backoff from 0.2 s."""
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass  # an HTTP date: the API server does not send those
    return float(min(0.2 * 2 ** max(0, attempt - 1), 5.0))


class TokenBucket:
    """An optional rate ceiling: ``qps`` requests a second, at most ``burst`` saved up."""

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.qps = qps
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._stamp = clock()

    def take(self) -> float:
        """Take a token; returns how long to wait before the request may go (0: now)."""
        if self.qps <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.qps)
        self._stamp = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps


class ConcurrencyLimiter:
    """The asyncio gate: at most ``limit.allowed`` requests in flight, first come first
    served, and an optional rate ceiling on top."""

    def __init__(
        self,
        limit: AimdLimit,
        *,
        qps: float = 0.0,
        burst: int = 40,
        clock: Callable[[], float] = time.monotonic,
        on_throttle: Callable[[str], None] | None = None,
        on_limit: Callable[[float, int], None] | None = None,
    ) -> None:
        self.limit = limit
        self.inflight = 0
        self._bucket = TokenBucket(qps, burst, clock)
        self._clock = clock
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._on_throttle = on_throttle
        self._on_limit = on_limit

    async def acquire(self) -> bool:
        """Wait for a slot; returns whether the limit was saturated (see on_success)."""
        saturated = False
        if self.inflight >= self.limit.allowed or self._waiters:
            saturated = True
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                await future
            except asyncio.CancelledError:
                if future in self._waiters:
                    self._waiters.remove(future)
                elif future.done() and not future.cancelled():
                    # Handed a slot just as we were cancelled: pass it on.
                    self.inflight -= 1
                    self._wake()
                raise
        else:
            self.inflight += 1
        delay = self._bucket.take()
        if delay > 0:
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                self.release()
                raise
        self._report()
        return saturated or self.inflight >= self.limit.allowed

    def release(self) -> None:
        self.inflight -= 1
        self._wake()
        self._report()

    def _wake(self) -> None:
        while self._waiters and self.inflight < self.limit.allowed:
            future = self._waiters.popleft()
            if not future.done():
                self.inflight += 1  # the slot passes to the waiter
                future.set_result(None)

    def succeeded(self, latency: float, saturated: bool) -> None:
        cause = self.limit.on_success(latency, self._clock(), saturated=saturated)
        if cause is not None and self._on_throttle is not None:
            self._on_throttle(cause)
        self._wake()  # a grown limit lets waiters in
        self._report()

    def congested(self, cause: str) -> None:
        """A 429 or 5xx answer: counted every time, the limit cut once per cooldown."""
        if self._on_throttle is not None:
            self._on_throttle(cause)
        self.limit.on_congestion(self._clock())
        self._report()

    def _report(self) -> None:
        if self._on_limit is not None:
            self._on_limit(self.limit.limit, self.inflight)
