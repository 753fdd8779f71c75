"""Poll rounds: waits started at different times converge on one round of ceil(n / 50) requests."""

from __future__ import annotations

import asyncio
import itertools
import math
import time

import pytest

from gpcn_async import JobState, PollPolicy
from gpcn_async._poller import plan_round
from gpcn_async.testing import FakeGPCN
from tests.support import one_dialect

POLL = ("POST", "/resource/jobs")


@pytest.mark.parametrize(
    ("due", "later", "expected"),
    [
        (1, 10, 11),  # one due, the rest ride along
        (1, 100, 50),  # the request is filled up to 50, no further
        (50, 10, 50),  # a full request takes no rider: riding never adds a request
        (60, 100, 100),  # riders fill the free room of the last request only
        (0, 10, 0),  # nothing due, no round
    ],
)
def test_riders_fill_only_the_free_room_of_the_last_request(
    due: int, later: int, expected: int
) -> None:
    """A round asks for every due id, then the soonest-due others up to the last request's room."""
    due_times = [(f"due-{n}", 10.0 - n) for n in range(due)]
    due_times += [(f"later-{n}", 20.0 + (n * 7) % later) for n in range(later)]
    ids = plan_round(due_times, now=10.0, size=50)
    assert len(ids) == expected
    assert ids[:due] == [f"due-{n}" for n in range(due)]
    assert math.ceil(len(ids) / 50) == math.ceil(due / 50)
    riders = ids[due:]
    waiting = sorted((when, job_id) for job_id, when in due_times[due:])
    assert riders == [job_id for _, job_id in waiting[: len(riders)]]  # soonest due first


@one_dialect
async def test_staggered_waits_are_polled_in_one_request_a_round(dialect: str) -> None:
    """50 waits started 5 ms apart end up polled together: one request of all 50 ids a round."""
    poll = PollPolicy(interval=0.02, max_interval=0.1, timeout=30.0)
    async with FakeGPCN(dialect=dialect) as fake, fake.client(poll=poll) as gpcn:
        ids = [fake.add_job(polls=10_000) for _ in range(50)]
        waits = []
        for job_id in ids:
            waits.append(asyncio.create_task(gpcn.jobs.attach(job_id).wait()))
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)  # the last wait's schedule reaches max_interval with the rest
        fake.clear_requests()
        await asyncio.sleep(0.3)  # three rounds at max_interval
        requests = fake.requests_to(*POLL)
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    assert 2 <= len(requests) <= 4
    assert all(sorted(r.json["jobIds"]) == sorted(ids) for r in requests)


@one_dialect
async def test_a_rider_counts_as_polled_and_its_schedule_joins_the_others(dialect: str) -> None:
    """A job polled early in another's round counts that poll; from then on both share rounds."""
    poll = PollPolicy(interval=0.02, max_interval=0.1, multiplier=5.0, timeout=5.0)
    async with FakeGPCN(dialect=dialect) as fake, fake.client(poll=poll) as gpcn:
        first, second = fake.add_job(polls=5), fake.add_job(polls=5)
        early = asyncio.create_task(gpcn.jobs.attach(first).wait())
        await asyncio.sleep(0.05)  # polls of the first: 20 ms, then every 100 ms
        statuses = await asyncio.gather(early, gpcn.jobs.attach(second).wait())
    assert [s.state for s in statuses] == [JobState.SUCCEEDED, JobState.SUCCEEDED]
    assert fake.poll_count(first) == fake.poll_count(second) == 5  # ended on their 5th poll
    requests = [r.json["jobIds"] for r in fake.requests_to(*POLL)]
    # [first], then four rounds of both (the first rides along in the second's first poll),
    # then [second]: 6 requests, where two schedules 50 ms apart would have cost 10.
    assert len(requests) == 6
    assert sum(len(ids) == 2 for ids in requests) == 4


async def test_a_slow_poll_answer_does_not_stretch_the_poll_interval() -> None:
    """A job's next poll is timed from when its previous poll was sent, not from its answer."""
    poll = PollPolicy(interval=0.2, max_interval=0.2, timeout=10.0)
    async with FakeGPCN(job_polls=3) as fake, fake.client(poll=poll) as gpcn:
        fake.inject(*POLL, delay=0.3, times=None)  # every answer takes 0.3 s
        job_id = fake.add_job()
        await gpcn.jobs.attach(job_id)
    sent = [request.time for request in fake.requests_to(*POLL)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert len(sent) == 3
    # From the send: max(answer time, interval) = 0.3 s; from the answer it was 0.3 + 0.2 s.
    assert all(0.19 <= gap < 0.42 for gap in gaps), gaps


async def test_each_chunk_wakes_its_waiters_without_waiting_for_the_others() -> None:
    """The jobs of a chunk whose answer is in wake at once, even while another chunk is slow."""
    poll = PollPolicy(interval=0.05, max_interval=0.05, timeout=10.0)
    async with FakeGPCN(job_polls=1) as fake, fake.client(poll=poll) as gpcn:
        fake.inject(*POLL, delay=0.6, times=1)  # one of the two chunks answers late
        ids = [fake.add_job() for _ in range(100)]
        started = time.monotonic()
        woke: list[float] = []

        async def wait(job_id: str) -> None:
            await gpcn.jobs.attach(job_id)
            woke.append(time.monotonic() - started)

        await asyncio.gather(*(wait(job_id) for job_id in ids))
    assert fake.count(*POLL) == 2
    early = [moment for moment in woke if moment < 0.4]
    assert len(early) == 50  # the prompt chunk's jobs did not wait for the slow one
    assert min(moment for moment in woke if moment >= 0.4) >= 0.6
