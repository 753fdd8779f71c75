"""Poll rounds: waits started at different times converge on one round of ceil(n / 50) requests."""

from __future__ import annotations

import asyncio
import math

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
