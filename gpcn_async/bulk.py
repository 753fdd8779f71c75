"""Bulk work: any number of ids, sent in chunks of at most 50, reported per id in input order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from typing import Any, TypeVar

import attrs

from gpcn_async._wire import MAX_IDS_PER_REQUEST, chunked
from gpcn_async.errors import BulkError, GPCNError
from gpcn_async.jobs import Job
from gpcn_async.models import JobStatus

__all__ = [
    "BulkItem",
    "BulkResult",
    "JobGroup",
    "for_id",
    "match_jobs_to_ids",
    "send_in_chunks",
]

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
    cls = type(error)
    own = cls.__new__(cls, *error.args)  # not copy.copy: our errors take keyword-only fields
    own.__dict__.update(error.__dict__)
    own.__cause__ = error.__cause__
    own.__notes__ = [*getattr(error, "__notes__", ()), f"id: {item_id}"]
    return own


async def send_in_chunks(
    ids: list[str], send: Callable[[list[str]], Awaitable[R]]
) -> list[tuple[list[str], R | GPCNError]]:
    """Send every chunk of ids concurrently; give each chunk's answer, or its error, in order.

    A chunk whose request fails (after the transport's retries) gives its error and leaves the
    other chunks alone. Concurrency is bounded by the client's connection limit and limiter.
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


def match_jobs_to_ids(ids: list[str], statuses: list[JobStatus]) -> dict[str, JobStatus]:
    """Pair the jobs of a bulk answer with the ids of its request.

    By ``resourceId`` when a job names one of the ids, otherwise by position: the n-th job left
    over goes to the n-th id left over (the guide's answer is an array in request order).
    """
    wanted = set(ids)
    matched: dict[str, JobStatus] = {}
    leftover: list[JobStatus] = []
    for status in statuses:
        if status.resource_id in wanted and status.resource_id not in matched:
            matched[status.resource_id] = status
        else:
            leftover.append(status)
    unmatched = [item_id for item_id in ids if item_id not in matched]
    matched.update(zip(unmatched, leftover, strict=False))
    return matched


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
                error = tasks[item_id].result()
            items[item_id] = BulkItem(item_id, ok=error is None, error=error)
        return BulkResult(items)

    async def as_completed(self, timeout: float | None = None) -> AsyncGenerator[Job[None], None]:
        """Yield each job as it finishes (successfully or not): ``await job`` tells which.

        Leaving the loop early stops waiting for the rest; their jobs go on on the server.
        """
        waits = {asyncio.ensure_future(_outcome(job, timeout)): job for job in self.jobs.values()}
        order = {job: index for index, job in enumerate(self.jobs.values())}
        pending = set(waits)
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: order[waits[t]]):
                    yield waits[task]
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    def __repr__(self) -> str:
        return f"JobGroup(jobs={len(self.jobs)}, failed={list(self.failed)!r})"


async def _outcome(job: Job[None], timeout: float | None) -> GPCNError | None:
    """Wait for one job; its error instead of raising it (CancelledError still propagates)."""
    try:
        await job.wait(timeout)
    except GPCNError as error:
        return error
    return None
