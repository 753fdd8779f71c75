"""Bulk work: any number of ids, sent in chunks of at most 50, reported per id in input order."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from typing import Any, TypeVar

import attrs

from gpcn_async._wire import MAX_IDS_PER_REQUEST, bulk_item_error, chunked
from gpcn_async.errors import (
    BulkError,
    BulkItemError,
    GPCNError,
    JobFailedError,
    ResponseDecodeError,
)
from gpcn_async.jobs import Job
from gpcn_async.models import JobStatus
from gpcn_async.models._bulk import BulkOutcome

__all__ = ["BulkItem", "BulkResult", "JobGroup"]

R = TypeVar("R")


@attrs.frozen
class BulkItem:
    """The outcome of a bulk call for one id.

    Attributes:
        id: the id.
        ok: whether the action was done for it.
        error: why not, when it was not (``BulkItemError`` for a refusal the server reported
            for this id, or the error of the whole request its chunk was sent in).
    """

    id: str
    ok: bool
    error: GPCNError | None = None


@attrs.frozen
class BulkResult:
    """One outcome per id of a bulk call, in the order the ids were given (repeats once).

    Attributes:
        items: the outcome of each id, by id, in input order.
    """

    items: Mapping[str, BulkItem]

    @property
    def succeeded(self) -> list[str]:
        """The ids the action was done for, in input order."""
        return [item.id for item in self.items.values() if item.ok]

    @property
    def failed(self) -> list[str]:
        """The ids it failed for, in input order."""
        return [item.id for item in self.items.values() if not item.ok]

    @property
    def ok(self) -> bool:
        """Whether every id succeeded."""
        return all(item.ok for item in self.items.values())

    def raise_for_failures(self) -> None:
        """Raise ``BulkError`` (an ``ExceptionGroup`` of one error per failed id), if any failed.

        Use ``except*`` to handle kinds of failure:

        ```python
        try:
            result.raise_for_failures()
        except* NotFoundError as group:
            ...
        ```
        """
        errors = {
            item.id: item.error
            for item in self.items.values()
            if not item.ok and item.error is not None
        }
        if errors:
            raise BulkError(f"{len(errors)} of {len(self.items)} ids failed", errors)

    def __repr__(self) -> str:
        return f"BulkResult(succeeded={len(self.succeeded)}, failed={self.failed!r})"


def for_id(error: GPCNError, item_id: str) -> GPCNError:
    """A copy of a chunk-wide error for one of its ids, noting the id (``except*`` shows it).

    Each id gets its own instance, so a traceback or note added for one never shows on another.
    """
    own = copy.copy(error)
    own.__cause__ = error.__cause__
    own.__notes__ = [*getattr(error, "__notes__", ()), f"id: {item_id}"]
    return own


async def fan_out(
    ids: list[str], send: Callable[[list[str]], Awaitable[R]]
) -> list[tuple[list[str], R | GPCNError]]:
    """Send every chunk of at most 50 ids concurrently; give each chunk's answer or error.

    A chunk whose request fails (after the transport's retries, where it may retry) gives its
    error and leaves the other chunks alone. Concurrency is bounded by the client's connection
    limit and rate limiter.
    """

    async def one(chunk: list[str]) -> R | GPCNError:
        try:
            return await send(chunk)
        except GPCNError as error:  # this chunk's ids fail with it; CancelledError passes
            return error

    chunks = list(chunked(ids, MAX_IDS_PER_REQUEST))
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(chunk)) for chunk in chunks]
    return [(chunk, task.result()) for chunk, task in zip(chunks, tasks, strict=True)]


def action_results(
    ids: list[str], answers: list[tuple[list[str], list[BulkOutcome] | GPCNError]], action: str
) -> BulkResult:
    """The ``BulkResult`` of a bulk start/stop/reset from each chunk's answer or error."""
    items: dict[str, BulkItem] = {}
    for chunk, answer in answers:
        if isinstance(answer, GPCNError):
            items.update((i, BulkItem(i, ok=False, error=for_id(answer, i))) for i in chunk)
            continue
        reported = {outcome.id: outcome for outcome in answer}
        for item_id in chunk:
            items[item_id] = _action_item(item_id, reported.get(item_id), action)
    return BulkResult({item_id: items[item_id] for item_id in ids})


def _action_item(item_id: str, outcome: BulkOutcome | None, action: str) -> BulkItem:
    if outcome is None:
        error: GPCNError = ResponseDecodeError(
            f"the bulk {action} answer said nothing about id {item_id}"
        )
        return BulkItem(item_id, ok=False, error=error)
    if outcome.success:
        return BulkItem(item_id, ok=True)
    reason = outcome.error or f"{action} failed (the server gave no reason)"
    return BulkItem(item_id, ok=False, error=bulk_item_error(item_id, reason))


def match_jobs_to_ids(
    ids: list[str], statuses: list[JobStatus]
) -> tuple[dict[str, JobStatus], list[str]]:
    """Pair the jobs of a bulk answer with the ids of its request: ``(matched, unmatched ids)``.

    A job that names one of the ids in ``resourceId`` goes to that id. A job naming none goes to
    the id at its own position, but only when the answer holds exactly one job per id (the
    guide's answer is an array in request order): with fewer or more jobs, position says
    nothing, and the ids left are unmatched rather than given another id's job.
    """
    wanted = set(ids)
    matched: dict[str, JobStatus] = {}
    by_position: list[tuple[int, JobStatus]] = []
    for index, status in enumerate(statuses):
        if status.resource_id in wanted and status.resource_id not in matched:
            matched[status.resource_id] = status
        elif status.resource_id is None:
            by_position.append((index, status))
    if len(statuses) == len(ids):
        for index, status in by_position:
            if ids[index] not in matched:
                matched[ids[index]] = status
    return matched, [item_id for item_id in ids if item_id not in matched]


def job_group(
    ids: list[str],
    answers: list[tuple[list[str], tuple[list[JobStatus], int] | GPCNError]],
    make_job: Callable[[JobStatus, str], Job[None]],
) -> JobGroup:
    """The ``JobGroup`` of a bulk call answered with jobs, from each chunk's answer or error.

    ``make_job(status, id)`` makes the job of one id. Ids no job can be matched to fail with a
    ``ResponseDecodeError`` naming them.
    """
    jobs: dict[str, Job[None]] = {}
    failed: dict[str, GPCNError] = {}
    for chunk, answer in answers:
        if isinstance(answer, GPCNError):
            failed.update((item_id, for_id(answer, item_id)) for item_id in chunk)
            continue
        statuses, status_code = answer
        matched, unmatched = match_jobs_to_ids(chunk, statuses)
        for item_id, status in matched.items():
            jobs[item_id] = make_job(status, item_id)
        if unmatched:
            error = ResponseDecodeError(
                f"the answer holds {len(statuses)} jobs for {len(chunk)} ids, and none can be "
                f"matched to ids {', '.join(unmatched)} (by resourceId or by position)",
                status=status_code,
            )
            failed.update((item_id, for_id(error, item_id)) for item_id in unmatched)
    ordered = {item_id: jobs[item_id] for item_id in ids if item_id in jobs}
    return JobGroup(ids, ordered, failed)


class JobGroup:
    """The jobs of one bulk call (``bulk_delete``), one per id, polled by the client's poller.

    ``await group`` waits for every job and returns a ``BulkResult`` in input order; ids whose
    request failed outright are in ``failed`` from the start.

    Attributes:
        jobs: the job of each id whose request was accepted, in input order.
        failed: the error of each id whose request failed before any job was made.
    """

    def __init__(
        self, ids: list[str], jobs: dict[str, Job[None]], failed: dict[str, GPCNError]
    ) -> None:
        """Internal: groups come from bulk calls."""
        self._ids = ids
        self.jobs = jobs
        self.failed = failed

    def __await__(self) -> Generator[Any, None, BulkResult]:
        return self.wait().__await__()

    async def wait(self, timeout: float | None = None) -> BulkResult:
        """Wait for every job; return one outcome per id, in input order.

        Args:
            timeout: the deadline of the whole wait in seconds (default: the client's
                ``PollPolicy.timeout``); a job still running then fails with ``JobTimeoutError``.
        """
        async with asyncio.TaskGroup() as group:
            tasks = {
                item_id: group.create_task(_outcome(job, timeout))
                for item_id, job in self.jobs.items()
            }
        items: dict[str, BulkItem] = {}
        for item_id in self._ids:
            error = self.failed.get(item_id)
            if error is None and item_id in tasks:
                error = _item_error(item_id, tasks[item_id].result())
            items[item_id] = BulkItem(item_id, ok=error is None, error=error)
        return BulkResult(items)

    async def as_completed(self, timeout: float | None = None) -> AsyncGenerator[Job[None], None]:
        """Yield each job as its wait ends (successfully or not): ``await job`` tells which.

        Each job yielded has its outcome kept, so awaiting it returns or raises at once, with no
        request. A job whose wait ended for a passing reason (the deadline of ``timeout``
        seconds, a poll that failed) is yielded as a copy that raises that error; the job in
        ``jobs`` can still be waited on again. Leaving the loop early stops waiting for the
        rest; their jobs go on on the server.
        """
        waits = {asyncio.ensure_future(_outcome(job, timeout)): job for job in self.jobs.values()}
        order = {job: index for index, job in enumerate(self.jobs.values())}
        pending = set(waits)
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: order[waits[t]]):
                    error = task.result()
                    yield waits[task] if error is None else waits[task].ended_with(error)
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    def __repr__(self) -> str:
        return f"JobGroup(jobs={len(self.jobs)}, failed={list(self.failed)!r})"


def _item_error(item_id: str, error: GPCNError | None) -> GPCNError | None:
    """A job's error as the id's outcome: a failure the bulk calls share gets their class."""
    if not isinstance(error, JobFailedError) or error.status is None or not error.status.error:
        return error
    shared = bulk_item_error(item_id, error.status.error)
    if isinstance(shared, BulkItemError):
        return error  # no shared class: the job's own failure says most
    shared.__cause__ = error
    return shared


async def _outcome(job: Job[None], timeout: float | None) -> GPCNError | None:
    """Wait for one job; its error instead of raising it (CancelledError still propagates)."""
    try:
        await job.wait(timeout)
    except GPCNError as error:
        return error
    return None
