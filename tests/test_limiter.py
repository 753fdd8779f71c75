"""The shared rate limiter on its own: budget, pauses, priority. Waits are milliseconds."""

from __future__ import annotations

import asyncio
import time

import pytest

from gpcn_async._limiter import RateLimiter
from gpcn_async._wire import RateLimitHeaders
from gpcn_async.errors import RateLimitError


async def acquire_and_release(limiter: RateLimiter, *, background: bool = False) -> None:
    """Take one slot and give it back at once."""
    await limiter.acquire(background=background)
    limiter.release()


async def test_assumes_100_per_minute_before_the_first_answer() -> None:
    """Before any answer, 100 requests go at once and the 101st would wait for the window."""
    limiter = RateLimiter(max_wait=1.0)
    started = time.monotonic()
    for _ in range(100):
        await acquire_and_release(limiter)
    assert time.monotonic() - started < 0.5
    with pytest.raises(RateLimitError) as caught:
        await limiter.acquire()
    assert caught.value.retry_after == pytest.approx(60, abs=1)


async def test_waits_for_the_reset_when_the_server_says_none_remain() -> None:
    """With Remaining 0, the next request waits until X-RateLimit-Reset, then goes."""
    limiter = RateLimiter(max_wait=1.0)
    await limiter.acquire()
    limiter.observe(RateLimitHeaders(limit=5, remaining=0, reset=time.time() + 0.05))
    limiter.release()
    started = time.monotonic()
    await acquire_and_release(limiter)
    assert time.monotonic() - started >= 0.04


async def test_budget_counts_requests_still_in_flight() -> None:
    """Requests sent but not yet answered are subtracted from the server's Remaining."""
    limiter = RateLimiter(max_wait=0.01)
    for _ in range(3):
        await limiter.acquire()
    # The first answer says 3 remain, but two more requests of ours are still in flight.
    limiter.observe(RateLimitHeaders(limit=5, remaining=3, reset=time.time() + 30))
    limiter.release()
    await limiter.acquire()
    with pytest.raises(RateLimitError):
        await limiter.acquire()


async def test_late_answer_from_an_old_window_is_ignored() -> None:
    """An answer whose reset is older than the newest window seen does not change the budget."""
    limiter = RateLimiter(max_wait=1.0)
    now = time.time()
    await limiter.acquire()
    limiter.observe(RateLimitHeaders(limit=10, remaining=9, reset=now + 30))
    limiter.release()
    await limiter.acquire()
    limiter.observe(RateLimitHeaders(limit=10, remaining=0, reset=now - 5))
    limiter.release()
    assert limiter.last == RateLimitHeaders(limit=10, remaining=9, reset=now + 30)
    await acquire_and_release(limiter)


async def test_pause_holds_every_request() -> None:
    """After a 429's pause, every request waits until the pause ends."""
    limiter = RateLimiter(max_wait=1.0)
    limiter.pause(0.05)
    started = time.monotonic()
    await asyncio.gather(*(acquire_and_release(limiter) for _ in range(5)))
    assert time.monotonic() - started >= 0.04


async def test_a_pause_longer_than_max_wait_fails_fast() -> None:
    """A wait beyond max_wait raises RateLimitError at once, carrying the wait."""
    limiter = RateLimiter(max_wait=1.0)
    limiter.pause(840)
    started = time.monotonic()
    with pytest.raises(RateLimitError) as caught:
        await limiter.acquire()
    assert time.monotonic() - started < 0.5
    assert caught.value.retry_after == pytest.approx(840, abs=1)


async def test_user_requests_go_before_background_polls() -> None:
    """While user requests wait, a background request waits behind them."""
    limiter = RateLimiter(max_wait=1.0)
    limiter.pause(0.03)
    order: list[str] = []

    async def take(name: str, *, background: bool) -> None:
        await acquire_and_release(limiter, background=background)
        order.append(name)

    async with asyncio.TaskGroup() as group:
        group.create_task(take("user-1", background=False))
        group.create_task(take("poll", background=True))
        group.create_task(take("user-2", background=False))
    assert order[-1] == "poll"


async def test_cancelled_waiter_releases_its_place() -> None:
    """Cancelling a request that waits at the limiter lets the others through."""
    limiter = RateLimiter(max_wait=1.0)
    limiter.pause(0.03)
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.wait_for(acquire_and_release(limiter, background=True), timeout=1.0)


async def test_try_acquire_takes_a_free_slot_and_refuses_a_spent_budget() -> None:
    """try_acquire counts a request when the budget allows it, and returns False once spent."""
    limiter = RateLimiter(max_wait=1.0)
    assert limiter.try_acquire()
    limiter.observe(RateLimitHeaders(limit=5, remaining=1, reset=time.time() + 30))
    limiter.release()
    assert limiter.try_acquire()
    assert not limiter.try_acquire()
    assert not limiter.try_acquire(background=True)


async def test_try_acquire_lets_no_background_poll_pass_a_waiting_user_request() -> None:
    """While a user request waits for the budget, a background poll is refused a slot."""
    limiter = RateLimiter(max_wait=1.0)
    await limiter.acquire()
    limiter.observe(RateLimitHeaders(limit=5, remaining=0, reset=time.time() + 0.05))
    limiter.release()
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)  # let it queue
    assert not limiter.try_acquire(background=True)
    await waiting
    limiter.release()


def spend_the_window(limiter: RateLimiter, *, reset_in: float) -> float:
    """Record an answer saying none remain until ``reset_in`` s from now; return that reset."""
    reset = time.time() + reset_in
    assert limiter.try_acquire()
    limiter.observe(RateLimitHeaders(limit=100, remaining=0, reset=reset))
    limiter.release()
    return reset


async def test_a_429_wait_shorter_than_the_reset_decides_when_requests_go() -> None:
    """After a 429 with Remaining 0, its Retry-After 0 lets the retry go before the far reset."""
    limiter = RateLimiter(max_wait=1.0)
    spend_the_window(limiter, reset_in=100)
    limiter.pause(0)
    await asyncio.wait_for(acquire_and_release(limiter), timeout=0.5)


async def test_a_429_wait_holds_requests_for_that_wait_only() -> None:
    """A 429's short wait holds requests for the wait, not until a reset beyond max_wait."""
    limiter = RateLimiter(max_wait=1.0)
    spend_the_window(limiter, reset_in=100)
    limiter.pause(0.05)
    started = time.monotonic()
    await acquire_and_release(limiter)
    assert 0.04 <= time.monotonic() - started < 0.5


async def test_a_later_answer_saying_none_remain_closes_the_reopened_window() -> None:
    """Once a 429's wait reopened the window, an answer with Remaining 0 holds requests again."""
    limiter = RateLimiter(max_wait=1.0)
    reset = spend_the_window(limiter, reset_in=100)
    limiter.pause(0)
    await limiter.acquire()
    limiter.observe(RateLimitHeaders(limit=100, remaining=0, reset=reset))
    limiter.release()
    with pytest.raises(RateLimitError) as caught:
        await limiter.acquire()
    assert caught.value.retry_after == pytest.approx(100, abs=1)


async def test_a_later_answer_with_budget_keeps_the_reopened_window_open() -> None:
    """Once a 429's wait reopened the window, later answers' Remaining pace requests as usual."""
    limiter = RateLimiter(max_wait=1.0)
    reset = spend_the_window(limiter, reset_in=100)
    limiter.pause(0)
    await limiter.acquire()
    limiter.observe(RateLimitHeaders(limit=100, remaining=2, reset=reset))
    limiter.release()
    await acquire_and_release(limiter)
    await acquire_and_release(limiter)
    with pytest.raises(RateLimitError):
        await limiter.acquire()


async def test_close_ends_a_wait_for_the_first_answer() -> None:
    """close() lets a request out that waited for the first answer when the budget was spent."""
    limiter = RateLimiter(max_wait=120.0, assumed_limit=1)
    await limiter.acquire()  # in flight, never answered: the assumed budget is spent
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    limiter.close()
    async with asyncio.timeout(5):  # far below the 60 s window it would otherwise wait
        await waiting


async def test_an_older_answer_does_not_overwrite_a_newer_one() -> None:
    """An answer to an earlier-sent request arriving last does not undo what a later one said."""
    limiter = RateLimiter(max_wait=0.5)
    older = await limiter.acquire()
    newer = await limiter.acquire()
    reset = time.time() + 30
    limiter.observe(RateLimitHeaders(limit=50, remaining=40, reset=reset), ticket=newer)
    limiter.release()
    # Sent first, answered last: its Remaining 0 is older news than the 40 already applied.
    limiter.observe(RateLimitHeaders(limit=50, remaining=0, reset=reset), ticket=older)
    limiter.release()
    async with asyncio.timeout(0.1):
        await acquire_and_release(limiter)  # the budget of the newer answer still holds


async def test_an_older_2xx_does_not_close_the_window_a_429_reopened() -> None:
    """A 2xx sent before a 429 but answered after it cannot close what the 429's wait opened."""
    limiter = RateLimiter(max_wait=0.5)
    first = await limiter.acquire()
    second = await limiter.acquire()
    far = time.time() + 300
    limiter.observe(RateLimitHeaders(limit=5, remaining=0, reset=far), ticket=second)
    limiter.pause(0.05, ticket=second)  # the 429's Retry-After reopens the window in 50 ms
    limiter.release()
    limiter.observe(RateLimitHeaders(limit=5, remaining=0, reset=far), ticket=first)
    limiter.release()
    started = time.monotonic()
    async with asyncio.timeout(1):
        await acquire_and_release(limiter)  # not a 300 s wait, over max_wait
    assert time.monotonic() - started >= 0.04


def test_tickets_follow_the_order_requests_are_let_through() -> None:
    """Each request let through gets the next ticket number."""
    limiter = RateLimiter(max_wait=1.0)
    tickets = [limiter.try_acquire() for _ in range(3)]
    assert tickets == [1, 2, 3]


async def test_a_request_arriving_as_the_budget_refills_queues_behind_those_waiting() -> None:
    """The limiter's no-wait path never lets a newcomer take a slot before requests queued."""
    limiter = RateLimiter(max_wait=1.0)
    await limiter.acquire()
    limiter.observe(RateLimitHeaders(limit=1, remaining=0, reset=time.time() + 0.03))
    limiter.release()
    order: list[str] = []

    async def take(name: str) -> None:
        try:
            await limiter.acquire()
        except RateLimitError:  # the next window is beyond max_wait
            order.append(f"{name}: refused")
        else:
            order.append(name)
            limiter.release()

    first = asyncio.create_task(take("queued"))
    await asyncio.sleep(0)  # it waits at the limiter for the reset
    time.sleep(0.05)  # noqa: ASYNC251 -- block the loop past the reset, so both are ready at once
    newcomer = asyncio.create_task(take("newcomer"))  # its first step runs before the wake-up
    await asyncio.gather(first, newcomer)
    assert order == ["queued", "newcomer: refused"]
