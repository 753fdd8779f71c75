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


# -- window alignment ---------------------------------------------------------------------------


async def sleep_until(moment: float) -> None:
    """Sleep until ``time.time()`` has passed ``moment`` (Unix seconds), by 2 ms at most."""
    # asyncio's timers may fire up to a clock tick early: the 2 ms keep us past ``moment``.
    await asyncio.sleep(max(0.0, moment - time.time()) + 0.002)


async def early_in_window(window: float, need: float = 0.1) -> None:
    """Wait, if needed, until the current clock-aligned window has ``need`` seconds left."""
    now = time.time()
    end = (math.floor(now / window) + 1) * window
    if end - now < need:
        await sleep_until(end + 0.001)


@pytest.mark.parametrize(
    ("alignment", "resets_at", "at_110"),
    [("clock", 110.0, True), ("first-request", 113.0, False)],
)
def test_alignment_decides_where_a_window_starts(
    alignment: str, resets_at: float, at_110: bool
) -> None:
    """A clock window holding 103.0 is [100, 110); a first-request one opened then, [103, 113)."""
    limiter = FixedWindowLimiter(2, 10.0, alignment)
    first, second, third = limiter.hit(103.0), limiter.hit(109.0), limiter.hit(109.99)
    assert (first.allowed, first.remaining, first.resets_at) == (True, 1, resets_at)
    assert first.resets_in == pytest.approx(resets_at - 103.0)
    assert (second.allowed, third.allowed, third.resets_at) == (True, False, resets_at)
    assert limiter.hit(110.0).allowed is at_110


def test_clock_windows_refill_exactly_at_each_multiple() -> None:
    """Clock-aligned: a full budget is denied just before k * window and refilled exactly at it."""
    limiter = FixedWindowLimiter(1, 1.0, "clock")
    assert limiter.hit(1_700_000_000.5).allowed
    just_before = limiter.hit(math.nextafter(1_700_000_001.0, 0.0))
    at_multiple = limiter.hit(1_700_000_001.0)
    assert (just_before.allowed, just_before.resets_at) == (False, 1_700_000_001.0)
    assert just_before.retry_after == 1
    assert (at_multiple.allowed, at_multiple.resets_at) == (True, 1_700_000_002.0)


def test_clock_windows_contain_now_despite_float_rounding() -> None:
    """Despite float rounding, a 0.1 s clock window holds ``now`` and ends where the next starts."""
    limiter = FixedWindowLimiter(5, 0.1, "clock")
    times = [0.3, 0.7, 1.0, 2.3, *(1_700_000_000 + step * 0.1 for step in range(200))]
    for now in times:
        start, end = limiter.window_bounds(now)
        assert start <= now < end, now
        assert end - start == pytest.approx(0.1, abs=1e-6), now
        assert abs(start / 0.1 - round(start / 0.1)) < 1e-6, now
        assert limiter.window_bounds(end)[0] == end, now
        decision = limiter.hit(now)
        assert decision.resets_at == end, now
        assert decision.resets_in > 0, now


def test_reset_keeps_or_replaces_the_alignment() -> None:
    """``reset`` keeps the alignment given None, switches it when named, and restarts the count."""
    limiter = FixedWindowLimiter(1, 10.0, "clock")
    limiter.hit(5.0)
    limiter.reset(1, 10.0)
    kept = (limiter.alignment, limiter.hit(6.0).allowed)
    limiter.reset(2, 4.0, "first-request")
    assert kept == ("clock", True)
    assert (limiter.alignment, limiter.limit, limiter.window) == ("first-request", 2, 4.0)
    assert limiter.hit(7.0).resets_at == 11.0


@pytest.mark.parametrize("bad", ["sliding", "Clock", "", None, 1])
def test_bad_alignment_is_rejected_and_named(bad: object) -> None:
    """An unknown alignment raises ValueError naming ``rate_alignment`` and the bad value."""
    message = rf"rate_alignment must be 'first-request' or 'clock', got {re.escape(repr(bad))}"
    with pytest.raises(ValueError, match=message):
        FakeGPCN(rate_alignment=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        FixedWindowLimiter(1, 1.0, bad)  # type: ignore[arg-type]


def test_set_rate_limit_alignment_is_kept_unless_named() -> None:
    """``rate_alignment`` is the constructor's, kept by ``set_rate_limit`` unless it names one."""
    fake = FakeGPCN()
    default = fake.rate_alignment
    fake.set_rate_limit(5, 1.0, alignment="clock")
    chosen = fake.rate_alignment
    fake.set_rate_limit(3, 2.0)
    assert (default, chosen, fake.rate_alignment) == ("first-request", "clock", "clock")
    assert FakeGPCN(rate_alignment="clock").rate_alignment == "clock"


def test_set_rate_limit_with_a_bad_alignment_changes_nothing() -> None:
    """A bad ``alignment`` raises ValueError and leaves limit, window and alignment unchanged."""
    fake = FakeGPCN(rate_limit=4, rate_window=2.0, rate_alignment="clock")
    with pytest.raises(ValueError, match="'sliding'"):
        fake.set_rate_limit(9, 9.0, alignment="sliding")
    assert (fake.rate_limit, fake.rate_window, fake.rate_alignment) == (4, 2.0, "clock")


async def test_clock_aligned_reset_is_the_next_multiple_of_the_window() -> None:
    """With ``"clock"`` and a 5 s window, ``X-RateLimit-Reset`` is the next multiple of 5 s."""
    async with running(rate_window=5.0, rate_alignment="clock") as (_fake, wire):
        before = time.time()
        answer = await wire.get("/resource/gpu")
        after = time.time()
    reset = int(answer.headers["X-RateLimit-Reset"])
    assert reset % 5 == 0
    assert before < reset <= after + 5
    assert reset in {(math.floor(before / 5) + 1) * 5, (math.floor(after / 5) + 1) * 5}


async def test_clock_aligned_whole_second_reset_is_when_the_budget_refills() -> None:
    """Clock-aligned 1 s windows: the budget refills exactly at the announced whole-second reset."""
    async with running(rate_limit=2, rate_window=1.0, rate_alignment="clock") as (fake, wire):
        await early_in_window(1.0)
        started = time.time()
        burst = [await wire.get("/resource/gpu") for _ in range(3)]
        received = time.time()
        reset = int(burst[0].headers["X-RateLimit-Reset"])
        probe = None
        if reset - time.time() > 0.1:  # still time to knock just before the announced reset
            await sleep_until(reset - 0.05)
            probe = await wire.get("/resource/gpu")
        await sleep_until(reset)
        refilled = [await wire.get("/resource/gpu") for _ in range(2)]
        assert fake.rate_limited_count == (1 if probe is None else 2)
    assert [answer.status for answer in burst] == [200, 200, 429]
    assert {answer.headers["X-RateLimit-Reset"] for answer in burst} == {str(reset)}
    assert reset == math.floor(started) + 1
    assert received + int(burst[2].headers["Retry-After"]) >= reset
    if probe is not None:
        assert (probe.status, probe.headers["X-RateLimit-Reset"]) == (429, str(reset))
    assert [answer.status for answer in refilled] == [200, 200]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in refilled] == ["1", "0"]
    assert {answer.headers["X-RateLimit-Reset"] for answer in refilled} == {str(reset + 1)}


async def test_clock_aligned_sub_second_windows_end_on_multiples_to_the_millisecond() -> None:
    """A clock-aligned 0.25 s window's reset is a multiple of 0.25 s; the budget refills then."""
    window = 0.25
    async with running(rate_limit=1, rate_window=window, rate_alignment="clock") as (_fake, wire):
        await early_in_window(window)
        answers = [await wire.get("/resource/gpu") for _ in range(2)]
        reset_text = answers[1].headers["X-RateLimit-Reset"]
        await sleep_until(float(reset_text))
        recovered = await wire.get("/resource/gpu")
    assert [answer.status for answer in answers] == [200, 429]
    assert re.fullmatch(r"\d+\.(000|250|500|750)", reset_text)
    assert answers[0].headers["X-RateLimit-Reset"] == reset_text
    assert recovered.status == 200
    assert float(recovered.headers["X-RateLimit-Reset"]) == pytest.approx(
        float(reset_text) + window
    )
