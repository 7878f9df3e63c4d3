"""The API request limiter's arithmetic (berth.kube.limiter), with the clock given."""

from __future__ import annotations

import asyncio

import pytest

from berth.kube.limiter import (
    LATENCY,
    THROTTLED,
    AimdLimit,
    ConcurrencyLimiter,
    TokenBucket,
    retry_delay,
)


def test_slow_start_grows_by_one_per_saturated_success() -> None:
    limit = AimdLimit(initial=4)
    for i in range(10):
        limit.on_success(0.01, float(i), saturated=True)
    assert limit.limit == 14
    assert limit.slow_start


def test_an_unused_limit_does_not_grow() -> None:
    limit = AimdLimit(initial=4)
    for i in range(100):
        limit.on_success(0.01, float(i), saturated=False)
    assert limit.limit == 4


def test_no_ceiling_by_default_and_a_set_one_is_kept() -> None:
    free = AimdLimit(initial=4)
    capped = AimdLimit(initial=4, ceiling=6)
    for i in range(1000):
        free.on_success(0.01, float(i), saturated=True)
        capped.on_success(0.01, float(i), saturated=True)
    assert free.limit == 1004
    assert capped.limit == 6
    assert capped.allowed == 6
    assert AimdLimit(initial=50, ceiling=6).limit == 6


def test_congestion_halves_once_per_cooldown_then_growth_is_additive() -> None:
    limit = AimdLimit(initial=64, cooldown=1.0)
    # Fifty 429s of one burst are one signal.
    cuts = [limit.on_congestion(10.0 + i * 0.01) for i in range(50)]
    assert cuts.count(True) == 1
    assert limit.limit == 32
    assert not limit.slow_start
    assert limit.on_congestion(11.5)
    assert limit.limit == 16
    # Additive increase: about one per round of `limit` successes.
    for i in range(16):
        limit.on_success(0.01, 20.0 + i, saturated=True)
    assert 16.9 < limit.limit < 17.1


def test_the_limit_never_falls_below_one() -> None:
    limit = AimdLimit(initial=4)
    for i in range(20):
        limit.on_congestion(float(i * 2))
    assert limit.limit == 1.0
    assert limit.allowed == 1


def test_latency_grown_far_above_its_average_is_a_gentle_signal() -> None:
    limit = AimdLimit(initial=100, latency_tolerance=2.0, latency_floor=1.0, cooldown=1.0)
    for i in range(50):
        assert limit.on_success(0.3, float(i), saturated=False) is None
    # Slower, but under the absolute floor: not a signal.
    for i in range(5):
        assert limit.on_success(0.9, 50.0 + i, saturated=False) is None
    assert limit.limit == 100
    causes = [limit.on_success(5.0, 60.0 + i * 0.1, saturated=True) for i in range(5)]
    assert causes.count(LATENCY) == 1  # once per cooldown
    assert limit.limit == pytest.approx(90)  # cut by 10 %, not halved


def test_a_server_slow_all_along_is_its_own_normal() -> None:
    limit = AimdLimit(initial=32, cooldown=1.0)
    # Every answer takes 2 s, from the first: no growth, so no cut.
    causes = [limit.on_success(2.0, float(i), saturated=False) for i in range(200)]
    assert LATENCY not in causes
    assert limit.limit == 32


def test_mixed_fast_and_slow_requests_are_no_signal() -> None:
    limit = AimdLimit(initial=32, cooldown=1.0)
    causes = [
        limit.on_success(0.01 if i % 2 else 1.5, i * 0.5, saturated=False) for i in range(400)
    ]
    assert LATENCY not in causes


def test_latency_alone_never_cuts_below_a_few() -> None:
    limit = AimdLimit(initial=8, latency_min_limit=4.0, cooldown=1.0)
    for i in range(20):
        limit.on_success(0.1, float(i), saturated=False)
    for i in range(100):
        limit.on_success(30.0, 20.0 + i * 2, saturated=False)
    assert limit.limit == 4.0
    limit.on_congestion(1000.0)  # a 429 may go lower
    assert limit.limit == 2.0


def test_retry_delay_honours_retry_after_else_backs_off() -> None:
    assert retry_delay("1", 1) == 1.0
    assert retry_delay("2.5", 7) == 2.5
    assert retry_delay(None, 1) == pytest.approx(0.2)
    assert retry_delay(None, 3) == pytest.approx(0.8)
    assert retry_delay("Wed, 21 Oct 2015 07:28:00 GMT", 2) == pytest.approx(0.4)
    assert retry_delay(None, 30) == 5.0


def test_token_bucket_is_a_ceiling_only_when_set() -> None:
    now = [0.0]
    unlimited = TokenBucket(0, 1, clock=lambda: now[0])
    assert all(unlimited.take() == 0 for _ in range(1000))
    bucket = TokenBucket(10, 2, clock=lambda: now[0])
    assert bucket.take() == 0
    assert bucket.take() == 0
    assert bucket.take() == pytest.approx(0.1)
    now[0] = 1.0  # ten tokens later, but only two may be saved up
    assert bucket.take() == 0
    assert bucket.take() == 0
    assert bucket.take() > 0


async def test_the_gate_keeps_inflight_under_the_limit_and_serves_in_order() -> None:
    limiter = ConcurrencyLimiter(AimdLimit(initial=3, ceiling=3))
    seen_max = 0
    order: list[int] = []

    async def request(i: int) -> None:
        nonlocal seen_max
        await limiter.acquire()
        order.append(i)
        seen_max = max(seen_max, limiter.inflight)
        await asyncio.sleep(0.01)
        limiter.release()
        limiter.succeeded(0.01, True)

    await asyncio.gather(*(request(i) for i in range(20)))
    assert seen_max == 3
    assert order == list(range(20))
    assert limiter.inflight == 0


async def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    limiter = ConcurrencyLimiter(AimdLimit(initial=1, ceiling=1))
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()
    assert limiter.inflight == 0
    await asyncio.wait_for(limiter.acquire(), 1)
    assert limiter.inflight == 1


async def test_congestion_is_reported_every_time_and_lets_fewer_through() -> None:
    causes: list[str] = []
    limits: list[float] = []
    limiter = ConcurrencyLimiter(
        AimdLimit(initial=8),
        on_throttle=causes.append,
        on_limit=lambda limit, inflight: limits.append(limit),
    )
    limiter.congested(THROTTLED)
    limiter.congested(THROTTLED)
    assert causes == [THROTTLED, THROTTLED]
    assert limiter.limit.allowed == 4
    assert limits[-1] == 4
    for _ in range(4):
        await limiter.acquire()
    blocked = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    assert not blocked.done()
    limiter.release()
    await asyncio.wait_for(blocked, 1)


async def test_a_waiter_handed_a_slot_as_it_is_cancelled_passes_it_on() -> None:
    limiter = ConcurrencyLimiter(AimdLimit(initial=1, ceiling=1))
    await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)  # both wait
    limiter.release()  # the slot goes to the first waiter...
    first.cancel()  # ...which is cancelled before it could run
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # the slot was passed on, not lost
    assert limiter.inflight == 1


async def test_a_waiter_cancelled_before_its_turn_is_skipped() -> None:
    limiter = ConcurrencyLimiter(AimdLimit(initial=1, ceiling=1))
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    limiter.release()  # before the cancelled waiter ran: its slot is not handed to it
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.inflight == 0


async def test_a_request_cancelled_while_the_rate_ceiling_holds_it_gives_its_slot_back() -> None:
    limiter = ConcurrencyLimiter(AimdLimit(initial=4), qps=1.0, burst=1, clock=lambda: 0.0)
    await limiter.acquire()  # the one token
    held = asyncio.create_task(limiter.acquire())  # waits a second for the next
    await asyncio.sleep(0)
    assert limiter.inflight == 2
    held.cancel()
    with pytest.raises(asyncio.CancelledError):
        await held
    assert limiter.inflight == 1


def test_a_latency_signal_is_reported_as_such() -> None:
    causes: list[str] = []
    limiter = ConcurrencyLimiter(
        AimdLimit(initial=16, latency_floor=0.0), on_throttle=causes.append
    )
    limiter.succeeded(0.1, saturated=False)
    assert causes == []
    limiter.succeeded(10.0, saturated=False)
    assert causes == [LATENCY]
    assert limiter.limit.limit == pytest.approx(16 * 0.9)
