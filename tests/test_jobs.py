"""Jobs over real HTTP: the awaitable Job and the one coalescing poller per client."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from datetime import UTC, datetime, timedelta

import pytest

from gpcn_async import (
    AuthenticationError,
    Client,
    GpuVm,
    InvalidRequestError,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    JobState,
    JobStatus,
    JobTimeoutError,
    PollPolicy,
    ResponseDecodeError,
    ServerError,
    TransportError,
)
from gpcn_async._poller import next_poll_delay, poll_schedule
from gpcn_async.testing import FakeGPCN
from tests.support import eventually, one_dialect, order_vm

POLL = ("POST", "/resource/jobs")


async def create_vm_job(fake: FakeGPCN, gpcn: Client, name: str = "train-01") -> str:
    """Order a VM through the client and return the job id (no waiting)."""
    job = await order_vm(fake, gpcn, name)
    assert job.id is not None
    return job.id


@one_dialect
async def test_500_jobs_are_polled_50_per_request_at_most_10_requests_a_round(
    dialect: str,
) -> None:
    """500 concurrent waits cost ceil(500/50) = 10 poll requests a round, each of <= 50 ids."""
    poll = PollPolicy(interval=0.2, max_interval=0.2, timeout=30.0)
    async with FakeGPCN(dialect=dialect, job_polls=3) as fake, fake.client(poll=poll) as gpcn:
        ids = [fake.add_job() for _ in range(500)]
        statuses = await asyncio.gather(*(gpcn.jobs.attach(job_id) for job_id in ids))
    assert all(status.state is JobState.SUCCEEDED for status in statuses)
    requests = fake.requests_to(*POLL)
    assert all(1 <= len(r.json["jobIds"]) <= 50 for r in requests)
    # A job is in one request at a time: never more than ceil(500 / 50) requests in flight.
    in_flight = [
        sum(1 for other in requests if other.time <= r.time < (other.answered_at or math.inf))
        for r in requests
    ]
    assert max(in_flight) <= 10
    assert all(fake.poll_count(job_id) == 3 for job_id in ids)  # finished on its third poll
    # 1,500 job polls in requests of 50: 30, or a few more when, on a loaded machine, a slow
    # answer keeps its chunk out of a round and it is polled on its own a moment later.
    assert 30 <= len(requests) <= 33
    per_job_polls = sum(fake.poll_count(job_id) for job_id in ids)
    assert per_job_polls == 1500  # what polling each job on its own would have cost


async def test_create_job_resolves_to_the_vm(fake: FakeGPCN, gpcn: Client) -> None:
    """Awaiting a create job returns the GpuVm read once by its resourceId."""
    job_id = await create_vm_job(fake, gpcn)
    job = gpcn.jobs.attach(job_id)
    status = await job
    assert status.state is JobState.SUCCEEDED
    assert status.resource_id in fake.vms
    assert job.done()


async def test_failed_job_raises_job_failed_error_with_reason(fake: FakeGPCN, gpcn: Client) -> None:
    """A failed job raises JobFailedError carrying the job id, last status and reason."""
    fake.script_next_jobs(outcome="failed", error="capacity exhausted")
    offer = next((await gpcn.gpu.inventory()).offers())
    job = await gpcn.gpu.create(
        name="x",
        datacenter_id=offer.datacenter.id,
        series_id=offer.series.id,
        gpu_count=offer.gpu_count,
    )
    with pytest.raises(JobFailedError) as caught:
        await job
    error = caught.value
    assert error.job_id == job.id
    assert error.status is not None
    assert error.status.state is JobState.FAILED
    assert error.status.error == "capacity exhausted"
    assert "capacity exhausted" in str(error)
    reads = [r for r in fake.requests_to("GET", "/resource/gpu/*") if r.path.endswith(job.id or "")]
    assert fake.count("GET", "/resource/gpu/inventory") == 1
    assert len(fake.requests_to("GET")) == 1  # only the inventory: no result fetch after failure
    assert reads == []


async def test_cancelled_job_raises_job_cancelled_error() -> None:
    """A job cancelled on the server (reference dialect) raises JobCancelledError."""
    async with FakeGPCN(dialect="reference") as fake, fake.client() as gpcn:
        job_id = fake.add_job(outcome="cancelled", error="cancelled by the platform")
        with pytest.raises(JobCancelledError) as caught:
            await gpcn.jobs.attach(job_id)
    assert caught.value.job_id == job_id
    assert caught.value.status is not None
    assert caught.value.status.state is JobState.CANCELLED


async def test_job_missing_from_the_poll_answer_is_not_found(fake: FakeGPCN, gpcn: Client) -> None:
    """An id the server leaves out of the poll answer raises JobNotFoundError."""
    with pytest.raises(JobNotFoundError) as caught:
        await gpcn.jobs.attach("4b0c5e0a-0000-4000-8000-000000000000")
    assert caught.value.job_id == "4b0c5e0a-0000-4000-8000-000000000000"
    assert fake.count(*POLL) == 1


async def test_deadline_raises_job_timeout_and_the_job_stays_pollable(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """Past the wait's deadline, JobTimeoutError; the job goes on and can be awaited again."""
    job_id = fake.add_job(polls=1000)
    job = gpcn.jobs.attach(job_id)
    with pytest.raises(JobTimeoutError) as caught:
        await job.wait(timeout=0.05)
    assert caught.value.job_id == job_id
    assert caught.value.status is not None
    assert not caught.value.status.done
    assert not fake.jobs[job_id].terminal
    fake.script_job(job_id, polls=fake.poll_count(job_id) + 1)
    final = await job.wait(timeout=5)
    assert final.state is JobState.SUCCEEDED


async def test_wait_deadline_bounds_the_result_get_of_a_create(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """A create's wait(timeout=) also bounds the GET of its VM; waiting again then reads it."""
    fake.script_next_jobs(polls=1)
    job = await order_vm(fake, gpcn)
    fake.inject("GET", "/resource/gpu/*", delay=0.5)  # a slow (not failing) read of the VM
    started = time.monotonic()
    with pytest.raises(JobTimeoutError, match="succeeded") as caught:
        await job.wait(timeout=0.2)
    assert time.monotonic() - started < 0.4
    assert caught.value.job_id == job.id
    assert caught.value.status is not None
    assert caught.value.status.state is JobState.SUCCEEDED
    vm = await job.wait(timeout=5)
    assert isinstance(vm, GpuVm)
    assert vm.id == caught.value.status.resource_id
    assert fake.count(*POLL) == 1  # the second wait only read the VM


async def test_a_waiter_whose_deadline_passes_during_the_result_get_leaves_the_others(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """Of two waiters sharing a create's slow VM read, the short deadline times out alone."""
    fake.script_next_jobs(polls=1)
    job = await order_vm(fake, gpcn)
    fake.inject("GET", "/resource/gpu/*", delay=0.3)
    hasty = asyncio.create_task(job.wait(timeout=0.1))
    patient = asyncio.create_task(job.wait(timeout=5))
    with pytest.raises(JobTimeoutError):
        await hasty
    vm = await patient
    assert isinstance(vm, GpuVm)


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), "5"])
async def test_bad_wait_timeout_is_rejected(gpcn: Client, seconds: object) -> None:
    """wait(timeout=...) must be a positive number of seconds."""
    job = gpcn.jobs.attach("some-job")
    with pytest.raises(InvalidRequestError, match="timeout"):
        await job.wait(timeout=seconds)  # type: ignore[arg-type]


async def test_watch_yields_rising_progress_until_the_terminal_state(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """watch() yields each new snapshot, progress rising, ending with the terminal one."""
    job_id = fake.add_job(polls=5)
    snapshots = [status async for status in gpcn.jobs.attach(job_id).watch()]
    progress = [s.progress for s in snapshots if s.progress is not None]
    assert progress == sorted(progress)
    assert len(set(progress)) >= 3
    assert snapshots[-1].state is JobState.SUCCEEDED
    assert all(not s.done for s in snapshots[:-1])


async def test_watch_yields_the_terminal_snapshot_that_came_during_the_loop_body(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """A job that ends while the watch() loop body is busy still ends the watch, with its end."""
    job_id = fake.add_job(polls=3, progress=[10, 20])
    snapshots: list[JobStatus] = []
    async for status in gpcn.jobs.attach(job_id).watch(timeout=1.0):
        snapshots.append(status)
        if len(snapshots) == 1:  # busy until the server has answered the job's end
            await eventually(lambda: fake.jobs[job_id].terminal)
            await asyncio.sleep(0.02)  # and the poller has read that answer
    assert snapshots[-1].state is JobState.SUCCEEDED
    assert fake.poll_count(job_id) == 3


async def test_watch_yields_a_change_seen_during_the_loop_body_at_once(fake: FakeGPCN) -> None:
    """A snapshot that came while the watch() loop body was busy is the next one, not held back."""
    job_id = fake.add_job(polls=3, progress=[10, 20])
    poll = PollPolicy(interval=0.1, max_interval=0.1, timeout=5.0)
    seen: list[tuple[int | None, int]] = []  # (progress, polls answered when yielded)
    async with fake.client(poll=poll) as gpcn:
        async for status in gpcn.jobs.attach(job_id).watch():
            seen.append((status.progress, fake.poll_count(job_id)))
            if len(seen) == 1:  # busy until the second poll (progress 20) has been answered
                await eventually(lambda: fake.poll_count(job_id) >= 2)
                await asyncio.sleep(0.02)  # read by the poller, 80 ms before the third poll
    assert seen[:2] == [(10, 1), (20, 2)]
    assert seen[-1][1] == 3


async def test_watch_ends_at_a_failed_state_without_raising(fake: FakeGPCN, gpcn: Client) -> None:
    """watch() reports a failure as its last snapshot; it is wait() that raises."""
    job_id = fake.add_job(polls=2, outcome="failed", error="boom")
    snapshots = [status async for status in gpcn.jobs.attach(job_id).watch()]
    assert snapshots[-1].state is JobState.FAILED
    assert snapshots[-1].error == "boom"


async def test_leaving_an_aclosing_watch_early_stops_polling_that_job(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """A watch() closed by contextlib.aclosing after one snapshot stops its job's polls at once."""
    job_id = fake.add_job(polls=10_000)
    async with contextlib.aclosing(gpcn.jobs.attach(job_id).watch()) as statuses:
        async for status in statuses:
            assert not status.done
            break
    await asyncio.sleep(0.02)  # a poll already sent may still be answered
    polls = fake.count(*POLL)
    await asyncio.sleep(0.2)  # many poll intervals of the test client
    assert polls >= 1
    assert fake.count(*POLL) == polls


async def test_attach_from_a_second_client(fake: FakeGPCN) -> None:
    """A job started by one client is awaited by another, attached by id alone."""
    async with fake.client() as first:
        job_id = await create_vm_job(fake, first)
    async with fake.client() as second:
        status = await second.jobs.attach(job_id)
        assert status.resource_id is not None
        vm = await second.gpu.get(status.resource_id)
    assert isinstance(vm, GpuVm)
    assert vm.status == "Running"


async def test_cancelling_one_waiter_leaves_the_others_and_the_poller(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """Cancelling one task waiting on a job does not disturb another waiter of the same job."""
    job_id = fake.add_job(polls=4)
    job = gpcn.jobs.attach(job_id)
    doomed = asyncio.create_task(job.wait())
    survivor = asyncio.create_task(job.wait())
    await eventually(lambda: fake.poll_count(job_id) >= 1)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    status = await survivor
    assert status.state is JobState.SUCCEEDED
    assert fake.jobs[job_id].state != "cancelled"


async def test_two_jobs_with_the_same_id_share_one_poll_slot(fake: FakeGPCN, gpcn: Client) -> None:
    """Two Job objects of one id are polled once per round, in one request."""
    job_id = fake.add_job(polls=3)
    first, second = gpcn.jobs.attach(job_id), gpcn.jobs.attach(job_id)
    await asyncio.gather(first, second)
    requests = fake.requests_to(*POLL)
    assert all(r.json["jobIds"] == [job_id] for r in requests)
    assert fake.poll_count(job_id) == len(requests) == 3


async def test_a_poll_that_fails_within_the_retries_does_not_end_the_wait(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """A poll answered 503 max_retries times, then 200, is retried by the transport: no error."""
    job_id = fake.add_job(polls=2)
    fake.inject(*POLL, status=503, times=gpcn.retry.max_retries)
    status = await gpcn.jobs.attach(job_id)
    assert status.state is JobState.SUCCEEDED
    assert fake.count(*POLL) == gpcn.retry.max_retries + 2


async def test_persistent_poll_failure_is_tried_max_retries_plus_one_times(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """A poll failing every time (503, or an unreadable 200) ends the wait after max_retries + 1."""
    job_id = fake.add_job(polls=2)
    fake.inject(*POLL, status=503, times=None)  # retried by the transport
    job = gpcn.jobs.attach(job_id)
    with pytest.raises(ServerError):
        await job.wait(timeout=10)
    assert fake.count(*POLL) == gpcn.retry.max_retries + 1
    fake.clear_faults()
    status = await job.wait(timeout=10)  # the job went on: waiting again polls it again
    assert status.state is JobState.SUCCEEDED

    fake.clear_requests()
    fake.inject(*POLL, status=200, body="{not json", times=None)  # tried again by the poller
    with pytest.raises(ResponseDecodeError):
        await gpcn.jobs.attach(fake.add_job(polls=2)).wait(timeout=10)
    assert fake.count(*POLL) == gpcn.retry.max_retries + 1


async def test_poll_failure_near_the_deadline_is_named_by_the_timeout(
    fake: FakeGPCN,
) -> None:
    """A wait whose deadline passes while polls fail ends with JobTimeoutError."""
    job_id = fake.add_job(polls=2)
    fake.inject(*POLL, status=503, times=None)
    poll = PollPolicy(interval=0.01, max_interval=0.01)
    async with fake.client(poll=poll) as gpcn:
        with pytest.raises(JobTimeoutError) as caught:
            await gpcn.jobs.attach(job_id).wait(timeout=0.005)
    assert caught.value.job_id == job_id


async def test_a_rejected_key_ends_the_wait_at_once(fake: FakeGPCN) -> None:
    """A poll answered 401 is not a blip: the waiter gets AuthenticationError at once."""
    job_id = fake.add_job(polls=2)
    async with fake.client(api_key="gpcn_not_the_right_one") as gpcn:
        with pytest.raises(AuthenticationError):
            await gpcn.jobs.attach(job_id)
    assert fake.count(*POLL) == 1


async def test_closing_the_client_ends_pending_waits_and_leaves_no_task(
    fake: FakeGPCN,
) -> None:
    """aclose() ends pending waits with TransportError and stops the poller task."""
    job_id = fake.add_job(polls=1000)
    gpcn = fake.client()
    waiter = asyncio.create_task(gpcn.jobs.attach(job_id).wait())
    await eventually(lambda: fake.poll_count(job_id) >= 1)
    await gpcn.aclose()
    with pytest.raises(TransportError, match="closed"):
        await waiter
    pollers = [t for t in asyncio.all_tasks() if t.get_name() == "gpcn_async job poller"]
    assert pollers == []


async def test_poller_stops_when_nothing_is_pending(fake: FakeGPCN, gpcn: Client) -> None:
    """Once every job is done, no poll request is sent and no poller task is left."""
    await gpcn.jobs.attach(fake.add_job(polls=1))
    await asyncio.sleep(0.05)
    sent = fake.count(*POLL)
    await asyncio.sleep(0.05)
    assert fake.count(*POLL) == sent == 1
    pollers = [t for t in asyncio.all_tasks() if t.get_name() == "gpcn_async job poller"]
    assert all(t.done() for t in pollers)


async def test_raw_poll_chunks_by_50_and_keeps_input_order(fake: FakeGPCN, gpcn: Client) -> None:
    """jobs.poll() over 120 ids sends 3 requests and returns found jobs in input order."""
    ids = [fake.add_job() for _ in range(119)]
    ids.insert(60, "missing-job-id")
    statuses = await gpcn.jobs.poll([*ids, ids[0]])
    requests = fake.requests_to(*POLL)
    assert sorted(len(r.json["jobIds"]) for r in requests) == [20, 50, 50]
    assert [s.id for s in statuses] == [job_id for job_id in ids if job_id != "missing-job-id"]
    assert all(isinstance(s, JobStatus) for s in statuses)


async def test_raw_poll_of_no_ids_is_empty_without_a_request(fake: FakeGPCN, gpcn: Client) -> None:
    """jobs.poll([]) (any number of ids, none included) returns [] and sends nothing."""
    assert await gpcn.jobs.poll([]) == []
    assert await gpcn.jobs.poll(iter(())) == []
    assert fake.requests == []


@pytest.mark.parametrize("ids", [[""], "job-id", [None]])
async def test_raw_poll_rejects_bad_ids_before_sending(
    fake: FakeGPCN, gpcn: Client, ids: object
) -> None:
    """jobs.poll() takes only non-empty string ids, and sends nothing otherwise."""
    with pytest.raises(InvalidRequestError):
        await gpcn.jobs.poll(ids)  # type: ignore[arg-type]
    assert fake.requests == []


POLICY = PollPolicy(interval=1.0, max_interval=10.0)
NOW = datetime(2026, 5, 19, 14, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("scheduled", "estimate_in", "expected"),
    [
        (4.0, None, 4.0),  # no hint: the backoff schedule
        (4.0, 2.5, 2.5),  # the hint shortens the wait
        (1.0, 6.0, 6.0),  # or lengthens it
        (4.0, 120.0, 10.0),  # but never past max_interval
        (4.0, 0.2, 1.0),  # nor below interval
        (4.0, -30.0, 4.0),  # an estimate already past is ignored
    ],
)
def test_estimated_completion_moves_the_poll_within_the_policy_bounds(
    scheduled: float, estimate_in: float | None, expected: float
) -> None:
    """The server's estimate may move a job's next poll only within [interval, max_interval]."""
    estimate = None if estimate_in is None else NOW + timedelta(seconds=estimate_in)
    delay = next_poll_delay(scheduled, estimate, now=NOW.timestamp(), policy=POLICY)
    assert math.isclose(delay, expected)


@pytest.mark.parametrize(
    ("policy", "gaps"),
    [
        (PollPolicy(), (1.0, 2.0, 4.0, 8.0, 10.0)),
        (PollPolicy(interval=0.1, max_interval=0.4), (0.1, 0.2, 0.4)),
        (PollPolicy(interval=2.0, max_interval=5.0, multiplier=3.0), (2.0, 5.0)),
        (PollPolicy(interval=1.0, max_interval=1.0), (1.0,)),
        (PollPolicy(multiplier=1.0), (1.0,)),
    ],
)
def test_poll_schedule_grows_by_the_multiplier_up_to_the_cap(
    policy: PollPolicy, gaps: tuple[float, ...]
) -> None:
    """A job's polls come after interval, then each gap times multiplier, capped at max_interval."""
    assert poll_schedule(policy) == pytest.approx(gaps)
