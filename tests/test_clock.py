"""The server's clock, followed from Date headers: the arithmetic, the limiter, a skewed fake."""

from __future__ import annotations

import asyncio
import math
import time
from email.utils import formatdate

import pytest

from gpcn_async._clock import HISTORY, ServerClock, parse_http_date
from gpcn_async._limiter import RateLimiter
from gpcn_async._wire import RateLimitHeaders
from gpcn_async.testing import FakeGPCN

BASE = 1_790_000_000.0  # a local Unix time for the pure tests


def http_date(unix: float) -> str:
    """``unix`` as an HTTP date, truncated to the second as servers stamp it."""
    return formatdate(math.floor(unix), usegmt=True)


def feed(
    clock: ServerClock, skew: float, start: float, seconds: int, *, per_second: int = 7
) -> None:
    """Answers from a server ``skew`` s ahead, ``per_second`` a second, each 5 ms in transit."""
    for step in range(seconds * per_second):
        local = start + step / per_second + 0.013
        clock.observe(http_date(local + skew - 0.005), local)


def test_parse_http_date_reads_an_imf_fixdate() -> None:
    """An IMF-fixdate gives its Unix time."""
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777.0


@pytest.mark.parametrize("text", ["", "yesterday", "Sun, 06 Nov 1994 08:49:37 -0000", "1e9"])
def test_parse_http_date_refuses_what_is_not_a_server_instant(text: str) -> None:
    """Text that is not a date, or a date of unknown zone, gives None."""
    assert parse_http_date(text) is None


def test_clocks_are_taken_in_sync_until_a_date_arrives() -> None:
    """Before any Date header the offset is 0; a header that is not a date changes nothing."""
    clock = ServerClock()
    clock.observe(None, BASE)
    clock.observe("not a date", BASE)
    assert clock.offset == 0.0
    assert clock.to_local(BASE + 60) == BASE + 60


@pytest.mark.parametrize("skew", [-300.0, -1.5, 0.4, 300.0])
def test_the_offset_never_exceeds_the_true_skew_and_closes_in_on_it(skew: float) -> None:
    """After a few seconds of answers the estimate lies within 0.2 s below the true offset."""
    clock = ServerClock()
    feed(clock, skew, BASE, seconds=1)
    assert skew - 1.1 < clock.offset <= skew
    feed(clock, skew, BASE + 1, seconds=5)
    assert skew - 0.2 < clock.offset <= skew


@pytest.mark.parametrize("skew", [0.0, -0.003])
def test_clocks_in_sync_keep_an_offset_of_exactly_zero(skew: float) -> None:
    """Date headers of a server in sync (the second's fraction lost) leave the offset at 0."""
    clock = ServerClock()
    for seconds in (1, 5):
        feed(clock, skew, BASE + 0.5, seconds=seconds)
        assert clock.offset == 0.0


def test_a_server_less_than_a_second_behind_goes_unnoticed() -> None:
    """A server clock 0.4 s behind ours looks in sync: whole-second Dates cannot show it."""
    clock = ServerClock()
    feed(clock, -0.4, BASE, seconds=6)
    assert clock.offset == 0.0


def test_a_clock_stepped_back_is_followed_at_once() -> None:
    """When the server's clock steps back by minutes, its next answer resets the estimate."""
    clock = ServerClock()
    feed(clock, 300.0, BASE, seconds=5)
    feed(clock, -30.0, BASE + 5, seconds=1)
    assert -31.1 < clock.offset <= -30.0


def test_a_clock_stepped_forward_is_followed_at_once() -> None:
    """When the server's clock steps forward, its next answer raises the estimate."""
    clock = ServerClock()
    feed(clock, 0.0, BASE, seconds=5)
    feed(clock, 120.0, BASE + 5, seconds=1)
    assert 118.9 < clock.offset <= 120.0


def test_a_small_step_back_is_followed_once_its_old_samples_are_gone() -> None:
    """A step back smaller than a jump leaves the estimate too high only for HISTORY seconds."""
    clock = ServerClock()
    feed(clock, 3.5, BASE, seconds=5)
    feed(clock, 2.0, BASE + 5, seconds=3)
    assert clock.offset > 3.0  # the older, larger samples still count
    feed(clock, 2.0, BASE + 8, seconds=HISTORY)
    assert 1.8 < clock.offset <= 2.0


async def test_a_client_clock_minutes_behind_waits_for_the_true_reset() -> None:
    """With our clock 300 s behind the server's, a window ending in 0.05 s is waited 0.05 s."""
    limiter = RateLimiter(max_wait=1.0, clock=lambda: time.time() - 300)
    server_now = time.time()
    limiter.observe_date(http_date(server_now))
    reset = math.floor(server_now) + 0.05  # on the server's clock, 0.05 s after its Date
    limiter.observe(RateLimitHeaders(limit=5, remaining=0, reset=reset))
    started = time.monotonic()
    await limiter.acquire()  # without the server's clock: a 300 s wait, over max_wait
    assert time.monotonic() - started < 0.5


async def test_a_client_clock_minutes_ahead_does_not_refill_the_budget_early() -> None:
    """With our clock 300 s ahead, the spent budget refills when the server's window ends."""
    limiter = RateLimiter(max_wait=1.0, clock=lambda: time.time() + 300)
    server_now = time.time()
    limiter.observe_date(http_date(server_now))
    reset = math.floor(server_now) + 0.2
    limiter.observe(RateLimitHeaders(limit=5, remaining=0, reset=reset))
    started = time.monotonic()
    await limiter.acquire()  # without the server's clock: at once, into a 429
    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize("skew", [-300.0, 300.0])
async def test_a_client_paces_a_server_whose_clock_is_minutes_off(skew: float) -> None:
    """Against a server clock 5 min off, a burst waits out each 1 s window: no 429, no error."""
    async with (
        FakeGPCN(rate_limit=5, rate_window=1, rate_alignment="clock", clock_skew=skew) as fake,
        fake.client() as gpcn,
    ):
        vm_id = fake.add_vm(name="train-01")
        await gpcn.gpu.get(vm_id)  # the first answer tells the budget and the server's clock
        started = time.monotonic()
        # Ahead: without the server's clock the wait looks 300 s long (RateLimitError); behind,
        # the budget looks refilled at once (429s).
        vms = await asyncio.gather(*(gpcn.gpu.get(vm_id) for _ in range(8)))
        assert len(vms) == 8
        assert fake.rate_limited_count == 0
        assert time.monotonic() - started < 4.0
