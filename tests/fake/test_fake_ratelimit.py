from __future__ import annotations

import asyncio
import math
import re
import time

import pytest

from gpcn_async.testing import FakeGPCN
from gpcn_async.testing._ratelimit import FixedWindowLimiter
from tests.fake.fake_support import DIALECTS, key_mismatches, running, sample


def test_limiter_allows_limit_per_window_then_starts_a_new_window() -> None:
    """The limiter allows ``limit`` requests per window; the window restarts at the next request."""
    limiter = FixedWindowLimiter(2, 10.0)
    first, second, third = limiter.hit(100.0), limiter.hit(101.0), limiter.hit(105.0)
    assert (first.allowed, first.remaining) == (True, 1)
    assert (second.allowed, second.remaining) == (True, 0)
    assert (third.allowed, third.remaining) == (False, 0)
    assert third.resets_in == pytest.approx(5.0)
    assert third.retry_after == 5
    later = limiter.hit(110.0)  # the window that began at 100.0 is over
    assert (later.allowed, later.remaining, later.resets_in) == (True, 1, 10.0)


def test_limiter_retry_after_is_at_least_one_second() -> None:
    """A window ending in under a second still asks the client to wait one whole second."""
    limiter = FixedWindowLimiter(1, 0.25)
    limiter.hit(0.0)
    assert limiter.hit(0.1).retry_after == 1


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_over_the_limit_answers_429_with_dialect_body_and_headers(dialect: str) -> None:
    """The request after the limit gets 429, the dialect's body, ``Retry-After`` and headers."""
    async with running(dialect=dialect, rate_limit=2, rate_window=30.0) as (fake, wire):
        ok = [await wire.get("/resource/gpu") for _ in range(2)]
        limited = await wire.get("/resource/gpu")
        assert fake.rate_limited_count == 1
        assert fake.requests[-1].status == 429
    assert [answer.status for answer in ok] == [200, 200]
    assert limited.status == 429
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["X-RateLimit-Limit"] == "2"
    retry_after = int(limited.headers["Retry-After"])
    assert 29 <= retry_after <= 30
    assert key_mismatches(limited.body, sample(dialect, "error-429")) == []
    if dialect == "guide":
        assert limited.body["error"] == "RATE_LIMIT_EXCEEDED"
    else:
        assert limited.body["error"]["code"] == "Rate Limited"
        assert limited.body["error"]["retryAfter"] == retry_after


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_unauthenticated_requests_count_against_the_limit(dialect: str) -> None:
    """The limiter runs before auth, so requests without a key use up the budget too."""
    async with running(dialect=dialect, rate_limit=1) as (_fake, wire):
        unauthorized = await wire.call("GET", "/resource/gpu", key=None)
        limited = await wire.get("/resource/gpu")
    assert (unauthorized.status, limited.status) == (401, 429)


async def test_retry_after_header_can_be_turned_off() -> None:
    """With ``retry_after_header=False`` a 429 has no ``Retry-After`` header."""
    async with running(rate_limit=1, retry_after_header=False) as (_fake, wire):
        await wire.get("/resource/gpu")
        limited = await wire.get("/resource/gpu")
    assert limited.status == 429
    assert "Retry-After" not in limited.headers


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_sub_second_window_recovers_and_reports_a_decimal_reset(dialect: str) -> None:
    """A 0.15 s window has a millisecond ``X-RateLimit-Reset`` and lets requests pass after it."""
    window = 0.15
    async with running(dialect=dialect) as (fake, wire):
        fake.set_rate_limit(2, window)
        started = time.time()
        answers = [await wire.get("/resource/gpu") for _ in range(3)]
        await asyncio.sleep(window + 0.02)
        recovered = await wire.get("/resource/gpu")
        assert fake.rate_limited_count == 1
    assert [answer.status for answer in answers] == [200, 200, 429]
    reset = answers[2].headers["X-RateLimit-Reset"]
    assert re.fullmatch(r"\d+\.\d{3}", reset)
    assert started < float(reset) <= started + window + 0.05
    assert answers[2].headers["Retry-After"] == "1"
    assert recovered.status == 200
    assert recovered.headers["X-RateLimit-Remaining"] == "1"


async def test_whole_second_windows_report_an_integer_reset() -> None:
    """With a window of 1 s or more ``X-RateLimit-Reset`` is whole Unix seconds (rounded up)."""
    async with running(rate_window=5.0) as (_fake, wire):
        before = time.time()
        answer = await wire.get("/resource/gpu")
    reset = answer.headers["X-RateLimit-Reset"]
    assert reset.isdigit()
    assert math.floor(before + 5) <= int(reset) <= math.ceil(time.time() + 5)


def test_set_rate_limit_validates() -> None:
    """``set_rate_limit`` rejects a limit below 1 and a non-positive window, naming them."""
    fake = FakeGPCN()
    with pytest.raises(ValueError, match="rate_limit"):
        fake.set_rate_limit(0, 1.0)
    with pytest.raises(ValueError, match="rate_window"):
        fake.set_rate_limit(1, -1.0)
