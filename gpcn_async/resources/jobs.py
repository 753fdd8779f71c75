"""``gpcn.jobs``: jobs started elsewhere, resumed jobs, and raw batch reads of job status."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from gpcn_async import _validate, _wire
from gpcn_async._poller import Poller, fetch_statuses
from gpcn_async._transport import Transport
from gpcn_async.errors import InvalidRequestError
from gpcn_async.jobs import ATTACHED, Job, parse_resume_token
from gpcn_async.models import JobStatus
from gpcn_async.policies import PollPolicy

__all__ = ["JobsClient"]

ResultReader = Callable[[JobStatus], Awaitable[Any]]
"""Reads the result of a succeeded job from its final status (a create's GET of its VM)."""


class JobsClient:
    """Jobs by id, reached as ``gpcn.jobs``."""

    def __init__(
        self,
        transport: Transport,
        poller: Poller,
        policy: PollPolicy,
        *,
        results: Mapping[str, ResultReader],
    ) -> None:
        """Internal: made by ``Client``, with the result reader of each kind of job."""
        self._transport = transport
        self._poller = poller
        self._policy = policy
        self._results = {ATTACHED: _final_status, **results}

    def attach(self, job_id: str) -> Job[JobStatus]:
        """A ``Job`` for a job started elsewhere (another process, an earlier run).

        Awaiting it returns the final ``JobStatus``; it is polled by this client's poller with
        every other pending job. No request is made until it is awaited or watched.

        Raises:
            InvalidRequestError: ``job_id`` is not a non-empty string.
        """
        _validate.text(job_id, "job_id")
        return self._job(ATTACHED, job_id, None)

    def resume(self, token: str) -> Job[Any]:
        """The job whose ``job.resume_token`` gave ``token``, with the same kind of result.

        A create's token resumes to a ``Job`` whose result is the created ``GpuVm``; a delete's,
        start's, stop's or reset's to one whose result is None and whose ``resource_id`` is the
        VM. Use it to follow a job from another process, or after a restart. No request is made
        until it is awaited or watched.

        Raises:
            InvalidRequestError: ``token`` is not a resume token of this SDK.
        """
        kind, job_id, resource_id = parse_resume_token(token)
        if kind not in self._results:
            known = ", ".join(sorted(self._results))
            raise InvalidRequestError(
                f"resume token {token!r} is of an unknown kind {kind!r} (known: {known})"
            )
        return self._job(kind, job_id, resource_id)

    def _job(self, kind: str, job_id: str, resource_id: str | None) -> Job[Any]:
        return Job(
            job_id,
            poller=self._poller,
            fetch=self._results[kind],
            status=None,
            timeout=self._policy.timeout,
            kind=kind,
            resource_id=resource_id,
        )

    async def poll(self, job_ids: Iterable[str]) -> list[JobStatus]:
        """Read the status of any number of jobs now, 50 ids per request, sent concurrently.

        Returns:
            The statuses the server returned, in the order of ``job_ids`` (repeats once). Jobs
            the server does not show (unknown, or not the caller's) are simply absent. No ids:
            ``[]``, with no request.

        Raises:
            InvalidRequestError: an id that is not a non-empty string.
        """
        ids = _validate.unique_ids(job_ids, "job_ids", allow_empty=True)
        if not ids:
            return []
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
