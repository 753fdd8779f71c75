"""``gpcn.jobs``: jobs started elsewhere, and raw batch reads of job status."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from gpcn_async import _validate, _wire
from gpcn_async._transport import Transport
from gpcn_async.jobs import Job, Poller, fetch_statuses
from gpcn_async.models import JobStatus
from gpcn_async.policies import PollPolicy

__all__ = ["JobsClient"]


class JobsClient:
    """Jobs by id, reached as ``gpcn.jobs``."""

    def __init__(self, transport: Transport, poller: Poller, policy: PollPolicy) -> None:
        """Internal: made by ``Client``."""
        self._transport = transport
        self._poller = poller
        self._policy = policy

    def attach(self, job_id: str) -> Job[JobStatus]:
        """A ``Job`` for a job started elsewhere (another process, an earlier run).

        Awaiting it returns the final ``JobStatus``; it is polled by this client's poller with
        every other pending job. No request is made until it is awaited or watched.

        Raises:
            InvalidRequestError: ``job_id`` is not a non-empty string.
        """
        _validate.text(job_id, "job_id")
        return Job(
            job_id,
            poller=self._poller,
            fetch=_final_status,
            status=None,
            timeout=self._policy.timeout,
        )

    async def poll(self, job_ids: Iterable[str]) -> list[JobStatus]:
        """Read the status of any number of jobs now, 50 ids per request, sent concurrently.

        Returns:
            The statuses the server returned, in the order of ``job_ids`` (repeats once). Jobs
            the server does not show (unknown, or not the caller's) are simply absent.

        Raises:
            InvalidRequestError: no ids, or an id that is not a non-empty string.
        """
        ids = _validate.unique_ids(job_ids, "job_ids")
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(fetch_statuses(self._transport, chunk, background=False))
                    for chunk in _wire.chunked(ids, _wire.MAX_IDS_PER_REQUEST)
                ]
        except ExceptionGroup as failed:
            # One typed error, as for any other call (the other chunks were cancelled).
            first = failed.exceptions[0]
            raise first from first.__cause__
        found = {status.id: status for task in tasks for status in task.result()[0]}
        return [found[job_id] for job_id in ids if job_id in found]


async def _final_status(status: JobStatus) -> JobStatus:
    return status
