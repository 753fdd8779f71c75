"""``Job``: a server-side operation that finishes later, awaited for its result.

Every job of a client is polled by that client's one poller (``gpcn_async._poller``), together
with every other pending job. A job keeps its outcome once known: awaiting it again returns the
same result, or raises the same error, at once and with no request.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any, Final, Generic, TypeVar
from urllib.parse import quote, unquote

from gpcn_async import _validate
from gpcn_async._poller import Entry, Poller, changed
from gpcn_async.errors import (
    GPCNError,
    InvalidRequestError,
    JobCancelledError,
    JobError,
    JobFailedError,
    JobNotFoundError,
    JobTimeoutError,
    RateLimitError,
    ServerError,
    TransportError,
)
from gpcn_async.models import JobState, JobStatus

__all__ = ["Job"]

T = TypeVar("T")

ATTACHED: Final = "job"
"""The kind of a job attached by id: its result is its final ``JobStatus``."""


def resume_token(kind: str, job_id: str, resource_id: str | None) -> str:
    """A plain string naming a job and what its result is: ``kind:job_id[:resource_id]``.

    Each part is percent-encoded, so ids holding a colon cannot be mistaken for a separator.
    """
    parts = [kind, job_id] if resource_id is None else [kind, job_id, resource_id]
    return ":".join(quote(part, safe="") for part in parts)


def parse_resume_token(token: object) -> tuple[str, str, str | None]:
    """``(kind, job_id, resource_id)`` of a token made by ``resume_token``.

    Raises:
        InvalidRequestError: not a token this SDK makes.
    """
    if not isinstance(token, str) or not 2 <= len(parts := token.split(":")) <= 3:
        raise InvalidRequestError(
            f"resume token must be a string such as 'gpu.create:<job id>', got {token!r}"
        )
    kind, job_id, *rest = (unquote(part) for part in parts)
    if not kind or not job_id or (rest and not rest[0]):
        raise InvalidRequestError(f"resume token {token!r} has an empty part")
    return kind, job_id, rest[0] if rest else None


def _kept_from_read(error: Exception) -> bool:
    """Whether a failed read of a succeeded job's result is its outcome, to be kept.

    The server's answer (the VM is gone, or the job named no VM) stays so; a timeout, a lost
    connection, a 429 or a 5xx may go away, so the next wait reads again.
    """
    if isinstance(error, RateLimitError | ServerError):
        return False
    return isinstance(error, GPCNError) and not isinstance(error, TransportError | JobError)


class Job(Generic[T]):
    """A server-side operation that finishes later: await it for its result.

    ``await job`` is ``await job.wait()``. What it returns depends on the operation: the
    ``GpuVm`` for a create, None for delete/start/stop/reset, the final ``JobStatus`` for a job
    attached by id. Jobs are polled by their client's one poller, together with every other
    pending job, only while something waits on them.

    The outcome is kept once known: awaiting a finished job again returns the same result, or
    raises the same ``JobFailedError`` / ``JobCancelledError`` / ``JobNotFoundError``, at once
    and with no request. A wait that ended for a passing reason (its deadline, a poll that
    failed) is not an outcome: the next ``wait()`` polls again.

    Cancelling a task that waits on a job stops that wait only: the job goes on on the server,
    and other waiters of it are unaffected.

    To follow the job from another process, pass ``job.resume_token`` (a plain string) to
    ``gpcn.jobs.resume()`` there.
    """

    __slots__ = (
        "_error",
        "_fetch",
        "_has_result",
        "_id",
        "_kind",
        "_lock",
        "_poller",
        "_resource_id",
        "_result",
        "_status",
        "_timeout",
    )

    def __init__(
        self,
        job_id: str | None,
        *,
        poller: Poller | None,
        fetch: Callable[[JobStatus], Awaitable[T]],
        status: JobStatus | None,
        timeout: float,
        kind: str = ATTACHED,
        resource_id: str | None = None,
    ) -> None:
        """Internal: jobs come from the resource methods, not from user code."""
        self._id = job_id
        self._poller = poller
        self._fetch = fetch
        self._status = status
        self._timeout = timeout
        self._kind = kind
        self._resource_id = resource_id
        self._has_result = False
        self._result: T | None = None
        self._error: Exception | None = None
        self._lock: asyncio.Lock | None = None

    @classmethod
    def finished(cls, result: T, *, kind: str = ATTACHED, resource_id: str | None = None) -> Job[T]:
        """A job the server completed at once (a 200 or 204 answer instead of a 202)."""
        job = cls(
            None,
            poller=None,
            fetch=_no_fetch,
            status=None,
            timeout=1.0,
            kind=kind,
            resource_id=resource_id,
        )
        job._result = result
        job._has_result = True
        return job

    def ended_with(self, error: Exception) -> Job[T]:
        """A copy of this job whose wait ends with ``error`` at once, with no request.

        What ``JobGroup.as_completed()`` yields for a job whose wait ended for a passing
        reason (the group's deadline, a failed poll): awaiting the copy raises that error,
        while this job itself can still be waited on again.
        """
        if self._has_result or self._error is not None:
            return self  # the outcome is kept already: the job itself answers at once
        copy: Job[T] = Job(
            self._id,
            poller=self._poller,
            fetch=self._fetch,
            status=self._status,
            timeout=self._timeout,
            kind=self._kind,
            resource_id=self._resource_id,
        )
        copy._error = error
        return copy

    @property
    def id(self) -> str | None:
        """The job's id; None for an operation the server completed at once, without a job."""
        return self._id

    @property
    def status(self) -> JobStatus | None:
        """The newest status seen (no request is made), or None if none was ever seen."""
        return self._status

    @property
    def resource_id(self) -> str | None:
        """The VM the job acts on, or None while unknown.

        Known from the call for delete/start/stop/reset and bulk jobs; from the job's status for
        a create (once it succeeded).
        """
        if self._resource_id is not None:
            return self._resource_id
        return self._status.resource_id if self._status is not None else None

    @property
    def resume_token(self) -> str | None:
        """A plain string for ``gpcn.jobs.resume()`` in another process.

        None for a job the server completed at once: there is nothing to resume.
        """
        if self._id is None:
            return None
        return resume_token(self._kind, self._id, self._resource_id)

    def done(self) -> bool:
        """Whether the job is known to be over (succeeded, failed or cancelled)."""
        return (
            self._has_result
            or self._error is not None
            or (self._status is not None and self._status.done)
        )

    def __await__(self) -> Generator[Any, None, T]:
        return self.wait().__await__()

    async def wait(self, timeout: float | None = None) -> T:
        """Wait until the job ends and return its result.

        Args:
            timeout: the deadline of the whole wait, in seconds (default: the client's
                ``PollPolicy.timeout``; ``math.inf`` for none). Distinct from the per-request
                timeout.

        Raises:
            JobFailedError: the job failed (``.status.error`` says why).
            JobCancelledError: the job was cancelled on the server.
            JobNotFoundError: the server does not show the job.
            JobTimeoutError: the deadline passed: the job still runs on the server, or it
                succeeded but reading its result (a create's VM) did not finish in time; ``wait()``
                again either way.
            GPCNError: polling failed ``max_retries + 1`` times (a request failing even after
                the transport's retries, or unreadable answers in a row), or at once for an
                error never retried, such as a 401.
        """
        if self._has_result:
            return self._result  # type: ignore[return-value]  # T, set with _has_result
        if self._error is not None:
            raise self._error
        deadline = self._deadline(timeout)
        status = self._status
        if status is None or not status.done:
            poller, entry = self._subscribe()
            try:
                while True:
                    if entry.status is not None:
                        self._status = entry.status
                    if entry.error is not None:
                        if isinstance(entry.error, JobNotFoundError):
                            self._error = entry.error
                        raise entry.error
                    status = self._status
                    if status is not None and status.done:
                        break
                    await self._next_change(poller, entry, deadline)
            finally:
                poller.unsubscribe(entry)
        try:
            _raise_for_outcome(status)
        except JobError as error:
            self._error = error
            raise
        return await self._read_result(status, deadline)

    async def _read_result(self, status: JobStatus, deadline: float) -> T:
        """Fetch the result of a succeeded job (a create's GET of its VM) before ``deadline``.

        Concurrent waiters share one fetch. When the deadline passes first, the wait ends with
        ``JobTimeoutError`` (its ``.status`` the succeeded one); a later ``wait()`` fetches again.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        scope = asyncio.timeout_at(None if math.isinf(deadline) else deadline)
        try:
            async with scope, self._lock:
                if self._error is not None:
                    raise self._error  # another waiter's read ended the job meanwhile
                if not self._has_result:
                    try:
                        self._result = await self._fetch(status)
                    except Exception as error:
                        if _kept_from_read(error):
                            self._error = error
                        raise
                    self._has_result = True
        except TimeoutError as exc:
            if not scope.expired():
                raise  # not our deadline: a timeout from below, passed on as it is
            raise JobTimeoutError(
                f"succeeded, but reading its result (resource {status.resource_id}) did not finish "
                "before the wait's deadline; wait again to read it",
                job_id=status.id,
                status=status,
            ) from exc
        return self._result  # type: ignore[return-value]  # T, set with _has_result

    async def watch(self, timeout: float | None = None) -> AsyncGenerator[JobStatus, None]:
        """Yield every new snapshot (state or progress changed) until the job ends.

        A loop body slower than the polls gets the latest snapshot at each step (snapshots
        superseded meanwhile are skipped, the terminal one never is).

        The last snapshot yielded is the terminal one, whatever the outcome; ``watch()`` raises
        only when it cannot follow the job (``JobNotFoundError``, ``JobTimeoutError`` after
        ``timeout`` seconds, default ``PollPolicy.timeout``). To stop watching early, wrap it in
        ``contextlib.aclosing()``: leaving that block ends the watch at once, rather than when
        the abandoned generator is collected.
        """
        deadline = self._deadline(timeout)
        shown = self._status
        if shown is not None:
            yield shown
        poller = self._poller
        if (shown is not None and shown.done) or poller is None or self._id is None:
            return
        if isinstance(self._error, JobNotFoundError):
            raise self._error
        entry = poller.subscribe(self._id, shown)
        try:
            while True:
                status = entry.status
                if status is not None and (shown is None or changed(shown, status)):
                    self._status = shown = status
                    yield status
                    # The caller's loop body may have taken a while, during which the poller
                    # saw newer snapshots (the terminal one included) that woke nobody: look
                    # at the latest one again before waiting for another change.
                    continue
                if entry.error is not None:
                    if isinstance(entry.error, JobNotFoundError):
                        self._error = entry.error
                    raise entry.error
                if shown is not None and shown.done:
                    return
                await self._next_change(poller, entry, deadline)
        finally:
            poller.unsubscribe(entry)

    def _deadline(self, timeout: float | None) -> float:
        """The wait's deadline on the loop's clock; ``math.inf`` for ``timeout=math.inf``."""
        seconds = self._timeout if timeout is None else _validate.wait_seconds(timeout)
        return asyncio.get_running_loop().time() + seconds

    def _subscribe(self) -> tuple[Poller, Entry]:
        if self._poller is None or self._id is None:
            raise JobNotFoundError("this job has no id to poll", job_id=str(self._id))
        return self._poller, self._poller.subscribe(self._id, self._status)

    async def _next_change(self, poller: Poller, entry: Entry, deadline: float) -> None:
        waiter, timer = poller.arm(entry, deadline)
        try:
            woken = await waiter
        finally:
            poller.disarm(entry, waiter, timer)
        if not woken:
            raise self._timed_out(entry) from entry.last_error

    def _timed_out(self, entry: Entry) -> JobTimeoutError:
        state = self._status.state if self._status is not None else JobState.PENDING
        message = (
            f"still {state} when the wait's deadline passed; the job goes on on the server "
            "(wait again, or resume it by its resume_token)"
        )
        if entry.last_error is not None:
            message += f"; the last poll failed: {entry.last_error}"
        return JobTimeoutError(message, job_id=entry.job_id, status=self._status)

    def __repr__(self) -> str:
        state = self._status.state if self._status is not None else None
        return f"Job(id={self._id!r}, state={state!r}, done={self.done()!r})"


async def _no_fetch(status: JobStatus) -> Any:
    raise RuntimeError("a finished job has its result already")  # pragma: no cover


async def no_result(_status: JobStatus) -> None:
    """The result reader of jobs that have none (delete, start, stop, reset)."""


def _raise_for_outcome(status: JobStatus) -> None:
    """Raise the typed error of a job that ended without success."""
    if status.state is JobState.FAILED:
        raise JobFailedError(
            f"failed: {status.error or 'the server gave no reason'}",
            job_id=status.id,
            status=status,
        )
    if status.state is JobState.CANCELLED:
        raise JobCancelledError(
            f"cancelled: {status.error or 'the server gave no reason'}",
            job_id=status.id,
            status=status,
        )
