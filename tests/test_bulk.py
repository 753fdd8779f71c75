"""Bulk calls over real HTTP: chunks of 50, one outcome per id in input order, JobGroup."""

from __future__ import annotations

import pytest

from gpcn_async import (
    BulkError,
    BulkItemError,
    BulkResult,
    Client,
    InvalidRequestError,
    JobFailedError,
    JobGroup,
    NotFoundError,
    OutcomeUnknownError,
    RetryPolicy,
    ServerError,
)
from gpcn_async.testing import FakeGPCN

BULK_STOP = ("POST", "/resource/gpu/bulk/stop")
BULK_DELETE = ("POST", "/resource/gpu/bulk/delete")
POLL = ("POST", "/resource/jobs")
MISSING = "00000000-0000-4000-8000-00000000dead"


def add_vms(fake: FakeGPCN, count: int, prefix: str = "train") -> list[str]:
    """Seed running VMs and return their ids."""
    return [fake.add_vm(name=f"{prefix}-{n:03}") for n in range(count)]


async def test_120_ids_are_stopped_in_exactly_3_requests(fake: FakeGPCN, gpcn: Client) -> None:
    """bulk_stop of 120 ids sends 3 requests of at most 50 ids and stops every VM."""
    ids = add_vms(fake, 120)
    result = await gpcn.gpu.bulk_stop(ids)
    requests = fake.requests_to(*BULK_STOP)
    assert sorted(len(r.json["ids"]) for r in requests) == [20, 50, 50]
    assert sorted(i for r in requests for i in r.json["ids"]) == sorted(ids)
    assert result.ok
    assert result.succeeded == ids
    assert all(fake.vms[vm_id].status == "Stopped" for vm_id in ids)


@pytest.mark.parametrize("action", ["start", "stop", "reset"])
async def test_per_id_failures_are_reported_in_input_order(
    fake: FakeGPCN, gpcn: Client, action: str
) -> None:
    """Unknown ids fail with NotFoundError, refused ones with BulkItemError, in input order."""
    first, busy, last = add_vms(fake, 3)
    fake.fail_bulk(busy, "VM is busy with another operation")
    ids = [first, MISSING, busy, last]
    result = await getattr(gpcn.gpu, f"bulk_{action}")(ids)
    assert isinstance(result, BulkResult)
    assert list(result.items) == ids
    assert result.succeeded == [first, last]
    assert result.failed == [MISSING, busy]
    assert not result.ok
    missing_error = result.items[MISSING].error
    assert isinstance(missing_error, NotFoundError)
    assert missing_error.message == "GPU VM not found"
    assert missing_error.__notes__ == [f"id: {MISSING}"]
    busy_error = result.items[busy].error
    assert isinstance(busy_error, BulkItemError)
    assert busy_error.id == busy
    assert str(busy_error) == f"{busy}: VM is busy with another operation"


async def test_duplicates_are_sent_once(fake: FakeGPCN, gpcn: Client) -> None:
    """Repeated ids are sent once and reported once, at their first position."""
    a, b, c = add_vms(fake, 3)
    result = await gpcn.gpu.bulk_reset([a, b, a, c, b])
    (request,) = fake.requests_to("POST", "/resource/gpu/bulk/reset")
    assert request.json == {"ids": [a, b, c]}
    assert list(result.items) == [a, b, c]


async def test_a_chunk_that_fails_outright_fails_only_its_ids(fake: FakeGPCN) -> None:
    """A chunk whose request ends in a 500 gives its ids that ServerError; others succeed."""
    ids = add_vms(fake, 120)
    fake.inject(*BULK_STOP, status=500)  # whichever chunk arrives first; no retry
    async with fake.client(retry=RetryPolicy(max_retries=0)) as gpcn:
        result = await gpcn.gpu.bulk_stop(ids)
    chunks = [ids[0:50], ids[50:100], ids[100:120]]
    assert result.failed in chunks
    errors = [result.items[vm_id].error for vm_id in result.failed]
    assert all(isinstance(error, ServerError) and error.status == 500 for error in errors)
    assert len({id(error) for error in errors}) == len(errors)  # one instance per id
    for vm_id, error in zip(result.failed, errors, strict=True):
        assert error is not None
        assert f"id: {vm_id}" in error.__notes__
    assert len(result.succeeded) == 120 - len(result.failed)


async def test_raise_for_failures_raises_an_exception_group(fake: FakeGPCN, gpcn: Client) -> None:
    """raise_for_failures() raises BulkError, an ExceptionGroup whose sub-errors name their id."""
    vm_id, busy = add_vms(fake, 2)
    fake.fail_bulk(busy, "VM is busy with another operation")
    result = await gpcn.gpu.bulk_stop([vm_id, MISSING, busy])
    with pytest.raises(BulkError) as caught:
        result.raise_for_failures()
    assert isinstance(caught.value, ExceptionGroup)
    assert list(caught.value.errors_by_id) == [MISSING, busy]
    refused: list[BulkItemError] = []
    missing: list[NotFoundError] = []
    try:
        result.raise_for_failures()
    except* BulkItemError as group:
        refused.extend(e for e in group.exceptions if isinstance(e, BulkItemError))
    except* NotFoundError as group:
        missing.extend(e for e in group.exceptions if isinstance(e, NotFoundError))
    assert [error.id for error in refused] == [busy]
    assert busy in str(refused[0])
    assert [error.__notes__ for error in missing] == [[f"id: {MISSING}"]]


async def test_raise_for_failures_is_quiet_when_all_succeeded(fake: FakeGPCN, gpcn: Client) -> None:
    """A bulk call without failures raises nothing."""
    result = await gpcn.gpu.bulk_start(add_vms(fake, 2))
    result.raise_for_failures()
    assert result.ok


@pytest.mark.parametrize(
    "ids",
    [[], (), "one-id", [""], [None], 42],
    ids=["list", "tuple", "str", "blank", "none", "int"],
)
async def test_bad_bulk_input_sends_nothing(fake: FakeGPCN, gpcn: Client, ids: object) -> None:
    """Empty or malformed ids raise InvalidRequestError before any request."""
    with pytest.raises(InvalidRequestError):
        await gpcn.gpu.bulk_stop(ids)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        _ = await gpcn.gpu.bulk_delete(ids)  # type: ignore[arg-type]
    assert fake.requests == []


async def test_200_deletions_are_awaited_through_one_poller(fake: FakeGPCN, gpcn: Client) -> None:
    """bulk_delete of 200 ids: 4 bulk requests, then 4 poll requests a round, until all gone."""
    ids = add_vms(fake, 200)
    group = await gpcn.gpu.bulk_delete(ids)
    assert isinstance(group, JobGroup)
    assert list(group.jobs) == ids
    assert len(fake.requests_to(*BULK_DELETE)) == 4
    result = await group
    assert result.ok
    assert list(result.items) == ids
    assert fake.vms == {}
    polls = fake.requests_to(*POLL)
    assert all(len(r.json["jobIds"]) <= 50 for r in polls)
    rounds = max(fake.poll_count(job.id) for job in group.jobs.values() if job.id)
    assert len(polls) == 4 * rounds


async def test_bulk_delete_maps_jobs_to_ids(fake: FakeGPCN, gpcn: Client) -> None:
    """Each id gets its own job (by resourceId, or by position in the guide): the unknown fails."""
    first, last = add_vms(fake, 2)
    group = await gpcn.gpu.bulk_delete([first, MISSING, last])
    assert [job.resource_id for job in group.jobs.values()] == [first, MISSING, last]
    result = await group
    assert result.succeeded == [first, last]
    assert result.failed == [MISSING]
    error = result.items[MISSING].error
    assert isinstance(error, NotFoundError)  # as bulk_stop says of a missing VM
    assert error.message == "GPU VM not found"
    assert isinstance(error.__cause__, JobFailedError)
    assert error.__cause__.job_id == group.jobs[MISSING].id


async def test_bulk_delete_chunk_failure_is_in_failed(fake: FakeGPCN) -> None:
    """Ids of a bulk delete chunk that met a 5xx are in group.failed, their outcome unknown."""
    ids = add_vms(fake, 60)
    fake.inject(*BULK_DELETE, status=503)
    async with fake.client(retry=RetryPolicy(max_retries=0)) as gpcn:
        group = await gpcn.gpu.bulk_delete(ids)
        assert list(group.failed) in (ids[:50], ids[50:])
        for error in group.failed.values():
            assert isinstance(error, OutcomeUnknownError)
            assert isinstance(error.__cause__, ServerError)
            assert error.ids == tuple(group.failed)
        assert set(group.jobs) == set(ids) - set(group.failed)
        result = await group
    assert result.failed == list(group.failed)
    assert list(result.items) == ids


async def test_as_completed_yields_every_job_once(fake: FakeGPCN, gpcn: Client) -> None:
    """as_completed() yields each job of the group once, each already finished."""
    ids = add_vms(fake, 5)
    group = await gpcn.gpu.bulk_delete([*ids, MISSING])
    finished = [job async for job in group.as_completed()]
    assert sorted(job.id or "" for job in finished) == sorted(
        job.id or "" for job in group.jobs.values()
    )
    assert all(job.done() for job in finished)


async def test_leaving_as_completed_early_leaves_nothing_running(
    fake: FakeGPCN, gpcn: Client
) -> None:
    """Breaking out of as_completed() after the first job stops waiting for the rest."""
    fake.script_next_jobs(1, polls=1)
    fake.script_jobs(polls=1000)
    group = await gpcn.gpu.bulk_delete(add_vms(fake, 3))
    iterator = group.as_completed()
    first = await anext(iterator)
    await iterator.aclose()
    assert first.done()
    assert sum(job.done() for job in group.jobs.values()) == 1
