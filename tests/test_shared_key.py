"""One key, several clients: the limiter keeps to its share of what the headers say is left."""

from __future__ import annotations

import asyncio

import pytest

from gpcn_async import Client
from gpcn_async._limiter import RateLimiter
from gpcn_async._wire import RateLimitHeaders
from gpcn_async.testing import FakeGPCN

T0 = 1_000_000.0
WINDOW_END = T0 + 2.0


class Clock:
    """A clock the test moves by hand (Unix seconds)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def answer(limiter: RateLimiter, ticket: int, remaining: int, reset: float = WINDOW_END) -> None:
    """The answer to ``ticket``: Remaining ``remaining`` of 40 until ``reset``."""
    limiter.observe(RateLimitHeaders(limit=40, remaining=remaining, reset=reset), ticket=ticket)
    limiter.release()


def take(limiter: RateLimiter) -> int:
    """Let one request through at once; fail the test if the limiter would make it wait."""
    ticket = limiter.try_acquire()
    assert ticket is not None
    return ticket


@pytest.fixture
def clock() -> Clock:
    """A hand-moved clock."""
    return Clock()


def sharing_limiter(clock: Clock, *, share_key: bool = True, max_wait: float = 5.0) -> RateLimiter:
    """A limiter whose two answers showed others spending 8 of the key's requests meanwhile."""
    limiter = RateLimiter(max_wait=max_wait, clock=clock)
    limiter.share_key = share_key
    answer(limiter, take(limiter), 39)
    clock.now += 0.1
    answer(limiter, take(limiter), 30)
    return limiter


def test_while_others_spend_the_key_requests_are_spaced(clock: Clock) -> None:
    """Once others are seen spending, a request right after ours waits its turn; later it goes."""
    limiter = sharing_limiter(clock)
    assert limiter.try_acquire() is None  # our last request went just now
    clock.now += 0.5  # 1.9 s left, about 7 of the 30 ours: a turn every ~0.3 s
    take(limiter)
    assert limiter.try_acquire() is None


def test_the_old_pacing_sends_at_once_whatever_others_spend(clock: Clock) -> None:
    """With share_key off (today's pacing, for benchmarks), the budget left goes at once."""
    limiter = sharing_limiter(clock, share_key=False)
    tickets = [limiter.try_acquire() for _ in range(30)]
    assert None not in tickets
    assert limiter.try_acquire() is None  # the budget itself is spent


def test_a_client_alone_sends_its_budget_at_once(clock: Clock) -> None:
    """Answers falling by our own requests only: the whole budget left may go at once."""
    limiter = RateLimiter(max_wait=5.0, clock=clock)
    answer(limiter, take(limiter), 39)
    answer(limiter, take(limiter), 38)
    tickets = [limiter.try_acquire() for _ in range(38)]
    assert None not in tickets


def test_the_first_request_of_a_shared_window_goes_alone(clock: Clock) -> None:
    """After a reset while sharing, one request goes; the next waits for its answer."""
    limiter = sharing_limiter(clock)
    clock.now = WINDOW_END + 0.01
    probe = take(limiter)
    assert limiter.try_acquire() is None  # what the others left is unknown yet
    answer(limiter, probe, 35, reset=WINDOW_END + 2.0)
    clock.now += 0.5
    assert limiter.try_acquire() is not None


def test_the_first_window_is_probed_before_a_burst(clock: Clock) -> None:
    """After the very first answer, one more request goes alone: others may be starting too."""
    limiter = RateLimiter(max_wait=5.0, clock=clock)
    answer(limiter, take(limiter), 39)
    probe = take(limiter)
    assert limiter.try_acquire() is None
    answer(limiter, probe, 38)
    assert limiter.try_acquire() is not None


def test_keeping_to_a_share_never_fails_a_call(clock: Clock) -> None:
    """A share-wait longer than max_wait lets the request go while budget is left, not fail."""
    limiter = sharing_limiter(clock, max_wait=0.05)
    # Keeping to the share would mean ~0.3 s, beyond max_wait: the budget left decides.
    assert limiter.try_acquire() is not None


# -- three clients on one fake -------------------------------------------------------------------

LIMIT, WINDOW = 10, 0.1
READS = 25


async def three_clients_reading(fake: FakeGPCN, *, share_key: bool) -> list[BaseException]:
    """Three clients of one key each read a VM READS times at once; return the calls' errors."""
    vm_id = fake.add_vm(name="shared")
    clients: list[Client] = [fake.client() for _ in range(3)]
    for client in clients:
        client._transport._limiter.share_key = share_key

    async def reads(client: Client) -> list[object]:
        async with client:
            await client.gpu.get(vm_id)  # each starts with one call, as scripts do
            return await asyncio.gather(
                *(client.gpu.get(vm_id) for _ in range(READS)), return_exceptions=True
            )

    async with asyncio.timeout(20):
        outcomes = await asyncio.gather(*(reads(client) for client in clients))
    return [outcome for each in outcomes for outcome in each if isinstance(outcome, BaseException)]


def limited_fake() -> FakeGPCN:
    """A fake enforcing 10 requests per 0.1 s; its 429s name no wait but the millisecond reset."""
    return FakeGPCN(
        dialect="guide",
        rate_limit=LIMIT,
        rate_window=WINDOW,
        rate_alignment="clock",
        retry_after_header=False,
    )


async def test_three_clients_of_one_key_meet_fewer_429s_than_with_the_old_pacing() -> None:
    """Three clients sharing a key finish every call and meet fewer 429s than the old pacing."""
    async with limited_fake() as naive:
        await three_clients_reading(naive, share_key=False)
    async with limited_fake() as shared:
        errors = await three_clients_reading(shared, share_key=True)
    assert errors == []
    assert shared.rate_limited_count < naive.rate_limited_count
