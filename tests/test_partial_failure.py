"""Partial failure over real HTTP: a slow request stalls only its own jobs, outcomes are kept.

Each test pins one behaviour a fleet script needs when the network or the server is partly
failing: no head-of-line blocking in polling, a job's outcome answered again without a request,
resume tokens across clients, bulk answers that cannot be matched, and the fake's 409s for a VM
being deleted.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from gpcn_async import (
    Client,
    ConflictError,
    GpuVm,
    InvalidRequestError,
    JobFailedError,
    JobNotFoundError,
    JobState,
    JobStatus,
    JobTimeoutError,
    NotFoundError,
    PollPolicy,
    ResponseDecodeError,
)
from gpcn_async.testing import FakeGPCN
from tests.support import eventually, order_vm

POLL = ("POST", "/resource/jobs")
FAST = PollPolicy(interval=0.01, max_interval=0.05, timeout=10.0)


def ids_polled(fake: FakeGPCN) -> list[list[str]]:
    """The ids of each poll request the fake received, in order."""
    return [list(request.json["jobIds"]) for request in fake.requests_to(*POLL)]


# -- no head-of-line blocking -------------------------------------------------------------------


async def test_a_slow_poll_delays_only_the_jobs_it_carries(fake: FakeGPCN) -> None:
    """While one poll request hangs for 2 s, another job finishing on its first poll is seen."""
    async with fake.client(poll=FAST) as gpcn:
        slow = fake.add_job(polls=1000)
        fake.inject(*POLL, delay=2.0, times=1)
        slow_wait = asyncio.create_task(gpcn.jobs.attach(slow).wait())
        await eventually(lambda: bool(fake.requests_to(*POLL)))
        quick = fake.add_job(polls=1)
        status = await gpcn.jobs.attach(quick).wait(timeout=1.0)
        assert status.state is JobState.SUCCEEDED
        polled = ids_polled(fake)
        slow_wait.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow_wait
    assert polled[0] == [slow]
    assert all(slow not in ids for ids in polled[1:])  # never in two requests at once


async def test_jobs_of_a_slow_request_are_polled_again_once_it_answers(fake: FakeGPCN) -> None:
    """A job whose poll was slow is polled on its schedule after the answer, and ends."""
    async with fake.client(poll=FAST) as gpcn:
        job_id = fake.add_job(polls=3)
        fake.inject(*POLL, delay=0.2, times=1)
        status = await gpcn.jobs.attach(job_id).wait(timeout=5)
    assert status.state is JobState.SUCCEEDED
    assert fake.poll_count(job_id) == 3


# -- kept outcomes -------------------------------------------------------------------------------


async def test_a_finished_job_answers_again_without_a_request(fake: FakeGPCN) -> None:
    """Awaiting a created VM's job twice returns the same GpuVm; the second makes no request."""
    fake.script_next_jobs(polls=1)
    async with fake.client(poll=FAST) as gpcn:
        job = await order_vm(fake, gpcn)
        first = await job
        count = len(fake.requests)
        second = await job
    assert isinstance(first, GpuVm)
    assert second is first
    assert len(fake.requests) == count


async def test_a_failed_job_raises_the_same_error_again_without_a_request(fake: FakeGPCN) -> None:
    """A failed job's JobFailedError is kept: the second await raises it with no request."""
    job_id = fake.add_job(polls=1, outcome="failed", error="no capacity left")
    async with fake.client(poll=FAST) as gpcn:
        job = gpcn.jobs.attach(job_id)
        with pytest.raises(JobFailedError) as first:
            await job
        count = len(fake.requests)
        with pytest.raises(JobFailedError) as second:
            await job.wait(timeout=0.001)
    assert second.value is first.value
    assert job.done()
    assert len(fake.requests) == count


async def test_a_job_gone_from_the_server_stays_not_found(fake: FakeGPCN) -> None:
    """JobNotFoundError is kept: a later wait raises it again without polling."""
    async with fake.client(poll=FAST) as gpcn:
        job = gpcn.jobs.attach("no-such-job")
        with pytest.raises(JobNotFoundError):
            await job
        count = len(fake.requests)
        with pytest.raises(JobNotFoundError):
            await job
    assert len(fake.requests) == count


async def test_a_timed_out_wait_is_not_an_outcome(fake: FakeGPCN) -> None:
    """After JobTimeoutError the job is not done, and the next wait polls on to its end."""
    job_id = fake.add_job(polls=4)
    async with fake.client(poll=FAST) as gpcn:
        job = gpcn.jobs.attach(job_id)
        with pytest.raises(JobTimeoutError):
            await job.wait(timeout=0.001)
        assert not job.done()
        status = await job.wait(timeout=5)
    assert status.state is JobState.SUCCEEDED


async def test_wait_with_an_infinite_timeout_has_no_deadline(fake: FakeGPCN) -> None:
    """wait(timeout=math.inf) waits past the policy's timeout until the job ends."""
    job_id = fake.add_job(polls=6)
    poll = PollPolicy(interval=0.01, max_interval=0.02, timeout=0.03)
    async with fake.client(poll=poll) as gpcn:
        status = await gpcn.jobs.attach(job_id).wait(timeout=math.inf)
    assert status.state is JobState.SUCCEEDED


@pytest.mark.parametrize("timeout", [0, -1, math.nan, "1", True])
async def test_wait_rejects_a_bad_timeout(gpcn: Client, timeout: object) -> None:
    """A timeout that is not a number > 0 (inf allowed) is refused, naming it."""
    with pytest.raises(InvalidRequestError, match="timeout"):
        await gpcn.jobs.attach("job-1").wait(timeout=timeout)  # type: ignore[arg-type]


async def test_as_completed_yields_jobs_whose_outcome_is_kept(fake: FakeGPCN) -> None:
    """Jobs from as_completed() answer at once: a vanished job and a timed-out one alike."""
    ids = [fake.add_vm(name=f"vm-{n}") for n in range(3)]
    fake.script_next_jobs(polls=1)
    fake.script_next_jobs(polls=10_000)
    fake.script_next_jobs(polls=10_000)
    async with fake.client(poll=FAST) as gpcn:
        group = await gpcn.gpu.bulk_delete(ids)
        vanished = group.jobs[ids[1]].id
        assert vanished is not None
        del fake.jobs[vanished]  # the server forgets it: polls no longer show it
        outcomes: dict[str, type[BaseException] | None] = {}
        async for job in group.as_completed(timeout=0.3):
            count = len(fake.requests)
            async with asyncio.timeout(0.05):  # far below the policy's 10 s: no second wait
                try:
                    await job
                    outcomes[str(job.resource_id)] = None
                except (JobNotFoundError, JobTimeoutError) as error:
                    outcomes[str(job.resource_id)] = type(error)
            assert len(fake.requests) == count
    assert outcomes == {ids[0]: None, ids[1]: JobNotFoundError, ids[2]: JobTimeoutError}
    assert not group.jobs[ids[2]].done()  # the job itself can still be waited on again


# -- resume tokens ------------------------------------------------------------------------------


async def test_a_create_resumed_by_another_client_yields_its_vm(fake: FakeGPCN) -> None:
    """A create's resume_token, resumed by a second client, gives the created GpuVm."""
    fake.script_next_jobs(polls=2)
    async with fake.client(poll=FAST) as first:
        job = await order_vm(fake, first, name="resumed-vm")
        token = job.resume_token
    assert isinstance(token, str)
    assert token.startswith("gpu.create:")
    async with fake.client(poll=FAST) as second:
        resumed = second.jobs.resume(token)
        vm = await resumed
    assert isinstance(vm, GpuVm)
    assert vm.name == "resumed-vm"
    assert resumed.resource_id == vm.id


async def test_a_delete_resumed_elsewhere_knows_its_vm(fake: FakeGPCN) -> None:
    """A delete's token carries its VM: the resumed job's resource_id is it, its result None."""
    vm_id = fake.add_vm(name="doomed")
    async with fake.client(poll=FAST) as gpcn:
        job = await gpcn.gpu.delete(vm_id)
        assert job.resource_id == vm_id
        token = job.resume_token
        assert token is not None
        resumed = gpcn.jobs.resume(token)
        assert resumed.resource_id == vm_id
        assert await resumed is None
    assert vm_id not in fake.vms


@pytest.mark.parametrize("token", ["", "gpu.create", "nope:job-1", "gpu.create::", 7])
async def test_resume_rejects_what_is_not_a_token(gpcn: Client, token: object) -> None:
    """resume() refuses a string this SDK never made, before any request."""
    with pytest.raises(InvalidRequestError, match="resume token"):
        _ = gpcn.jobs.resume(token)  # type: ignore[arg-type]


# -- bulk answers that cannot be matched --------------------------------------------------------


async def test_bulk_delete_with_fewer_jobs_never_gives_an_id_another_ids_job(
    fake: FakeGPCN,
) -> None:
    """An answer with fewer jobs than ids matches by resourceId only; the rest fail, named."""
    ids = [fake.add_vm(name=f"vm-{n}") for n in range(3)]
    fake.bulk_delete_omits = 1
    async with fake.client(poll=FAST) as gpcn:
        group = await gpcn.gpu.bulk_delete(ids)
        result = await group
    for vm_id, job in group.jobs.items():
        assert fake.jobs[str(job.id)].resource_id == vm_id  # each id has its own job
    # The reference dialect names each job's VM; the guide's tickets do not, so with a job
    # missing no position can be trusted.
    unmatched = [ids[2]] if fake.dialect == "reference" else ids
    assert list(group.failed) == unmatched
    assert result.failed == unmatched
    for vm_id in unmatched:
        error = group.failed[vm_id]
        assert isinstance(error, ResponseDecodeError)
        assert error.status == 202
        assert vm_id in str(error)


# -- the fake's rules for a VM being deleted ---------------------------------------------------


async def test_a_vm_being_deleted_refuses_a_second_delete_and_actions(fake: FakeGPCN) -> None:
    """While its delete job runs, a VM answers 409 to delete, start, stop and reset."""
    vm_id = fake.add_vm(name="going")
    async with fake.client(poll=FAST) as gpcn:
        _ = await gpcn.gpu.delete(vm_id)
        assert fake.is_being_deleted(vm_id)
        for call in (gpcn.gpu.delete, gpcn.gpu.start, gpcn.gpu.stop, gpcn.gpu.reset):
            with pytest.raises(ConflictError, match="being deleted"):
                _ = await call(vm_id)
        stop = await gpcn.gpu.bulk_stop([vm_id])
        again = await (await gpcn.gpu.bulk_delete([vm_id]))
    assert isinstance(stop.items[vm_id].error, ConflictError)
    assert isinstance(again.items[vm_id].error, ConflictError)  # the same class in both


async def test_a_vm_whose_delete_ended_is_not_found(fake: FakeGPCN) -> None:
    """Once the delete job ended, the VM is gone: a second delete is a NotFoundError."""
    vm_id = fake.add_vm(name="gone")
    async with fake.client(poll=FAST) as gpcn:
        await (await gpcn.gpu.delete(vm_id))
        assert not fake.is_being_deleted(vm_id)
        with pytest.raises(NotFoundError):
            _ = await gpcn.gpu.delete(vm_id)


# -- decode errors --------------------------------------------------------------------------------


async def test_an_unreadable_2xx_keeps_its_status_and_masks_secrets(fake: FakeGPCN) -> None:
    """A 200 of the wrong shape gives ResponseDecodeError with status 200 and no secret shown."""
    vm_id = fake.add_vm(name="leaky")
    raw_key = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ"
    body = {"success": True, "data": {"id": 5, "privateKey": raw_key, "note": fake.api_key}}
    fake.inject("GET", f"/resource/gpu/{vm_id}", status=200, body=body)
    async with fake.client(poll=FAST) as gpcn:
        with pytest.raises(ResponseDecodeError) as caught:
            await gpcn.gpu.get(vm_id)
    error = caught.value
    assert error.status == 200
    assert error.snippet  # the shape is shown...
    shown = f"{error} {error!r} {error.snippet}"
    assert raw_key[:12] not in shown  # ...but not the secret-named field
    assert fake.api_key.removeprefix("gpcn_") not in shown


async def test_an_unreadable_poll_answer_keeps_its_status(fake: FakeGPCN) -> None:
    """Polls whose 200 answer has the wrong shape end the wait with a ResponseDecodeError(200)."""
    job_id = fake.add_job(polls=100)
    fake.inject(*POLL, status=200, body={"success": True, "data": {"jobs": 7}}, times=None)
    async with fake.client(poll=FAST) as gpcn:
        with pytest.raises(ResponseDecodeError) as caught:
            await gpcn.jobs.attach(job_id).wait(timeout=5)
    assert caught.value.status == 200


async def test_jobs_poll_reads_statuses(fake: FakeGPCN, gpcn: Client) -> None:
    """jobs.poll() returns JobStatus objects for the ids the server shows."""
    job_id = fake.add_job(polls=5)
    statuses = await gpcn.jobs.poll([job_id, "missing"])
    assert [status.id for status in statuses] == [job_id]
    assert isinstance(statuses[0], JobStatus)
