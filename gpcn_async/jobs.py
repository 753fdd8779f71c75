"""Jobs: the awaitable ``Job`` and the one poller per client that serves every pending job.

The API allows as few as 100 requests a minute, so jobs are never polled one by one. Each client
has one ``Poller``; a job being waited on registers its id with it, and the poller asks for all
due ids together through ``POST /resource/jobs`` (at most 50 ids per request), then wakes the
waiters whose job changed. The free room of a round's last request is filled with the jobs due
soonest after: riding along costs no request, and it brings the schedules of waits started at
different times together, so that they end up polled in one round. ``PollPolicy`` thus bounds
the gaps of each job's own schedule: a job is never polled later than it says (the rate limiter
aside), but may be polled sooner, in a request that is sent anyway. Waiters wait on their own
futures, so cancelling one waiter touches nothing else; a job nobody waits for any more is
simply no longer polled.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterable
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

import backoff

from gpcn_async import _convert, _validate, _wire
from gpcn_async._transport import Transport
from gpcn_async.errors import (
    GPCNError,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    JobTimeoutError,
    ResponseDecodeError,
    TransportError,
)
from gpcn_async.models import JobState, JobStatus
from gpcn_async.policies import PollPolicy

__all__ = ["Job", "Poller", "fetch_statuses", "next_poll_delay", "plan_round", "poll_schedule"]

logger = logging.getLogger("gpcn_async")

T = TypeVar("T")

POLL_PATH: Final = "/resource/jobs"


async def fetch_statuses(
    transport: Transport, ids: list[str], *, background: bool
) -> tuple[list[JobStatus], float]:
    """One ``POST /resource/jobs`` for at most 50 ids.

    Returns:
        The statuses the server returned, and when the request was sent (``time.monotonic()``).
    """
    response = await transport.request(
        "POST", POLL_PATH, json={"jobIds": ids}, background=background
    )
    return _convert.structure_jobs_response(response.data), response.sent


def next_poll_delay(
    scheduled: float, estimated_completion: datetime | None, *, now: float, policy: PollPolicy
) -> float:
    """The wait before a job's next poll: its backoff schedule, moved by the server's estimate.

    ``estimatedCompletion`` (reference dialect) may shorten or lengthen the wait, but only
    within ``[interval, max_interval]``; an estimate already past leaves the schedule alone.
    """
    if estimated_completion is None:
        return scheduled
    expected_in = estimated_completion.timestamp() - now
    if expected_in <= 0:
        return scheduled
    return min(max(expected_in, policy.interval), policy.max_interval)


def plan_round(due_times: Iterable[tuple[str, float]], *, now: float, size: int) -> list[str]:
    """The ids one poll round asks for: every id due by ``now``, then riders.

    The riders fill the free room of the round's last request (``size`` ids a request), soonest
    due first: they are polled before their schedule says, at no cost in requests, and the
    round never needs one request more than the due ids alone. Jobs whose waits started at
    different times thus converge on one round instead of each keeping its own.

    Args:
        due_times: ``(job_id, due)`` of every pending job, ``due`` a monotonic time.
        now: the monotonic time of the round.
        size: the most ids one request may carry.
    """
    due: list[str] = []
    later: list[tuple[float, str]] = []
    for job_id, when in due_times:
        if when <= now:
            due.append(job_id)
        else:
            later.append((when, job_id))
    room = -len(due) % size
    if room and later:
        due.extend(job_id for _, job_id in heapq.nsmallest(room, later))
    return due


class _Entry:
    """One job id the poller polls, shared by every waiter of that id."""

    __slots__ = (
        "due",
        "error",
        "failures",
        "job_id",
        "last_error",
        "status",
        "step",
        "subscribers",
        "waiters",
    )

    def __init__(self, job_id: str, status: JobStatus | None) -> None:
        self.job_id = job_id
        self.status = status
        self.step = 0  # where this job is in the poller's backoff schedule
        self.due = 0.0
        self.error: GPCNError | None = None  # set when the wait must end with this error
        self.last_error: GPCNError | None = None  # the newest unreadable poll answer
        self.failures = 0  # unreadable poll answers in a row
        self.subscribers = 0
        # A tuple: usually one waiter, and a 1-tuple is half the size of a 1-item list.
        self.waiters: tuple[asyncio.Future[bool], ...] = ()

    def publish(self) -> None:
        """Wake every waiter of this entry (its future's result True: "changed")."""
        waiters, self.waiters = self.waiters, ()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)

    def next_gap(self, schedule: tuple[float, ...]) -> float:
        """The next gap of the poll schedule; the last one repeats once it is reached.

        A job keeps only its place in the schedule, one int: a generator per job would cost
        memory, and 10,000 pending jobs may wait on one poller.
        """
        gap = schedule[min(self.step, len(schedule) - 1)]
        self.step += 1
        return gap


def poll_schedule(policy: PollPolicy) -> tuple[float, ...]:
    """The gaps between polls of one job, from backoff's wait generator, up to the cap.

    ``interval``, growing by ``multiplier`` up to ``max_interval``, which then repeats. Built
    once per poller: every job follows the same schedule.
    """
    delays = backoff.expo(
        base=policy.multiplier, factor=policy.interval, max_value=policy.max_interval
    )
    next(delays)  # expo yields once before its first delay (backoff primes it the same way)
    gaps: list[float] = []
    for gap in delays:  # bounded: expo reaches max_value unless it never grows
        gaps.append(min(gap, policy.max_interval))
        if gap >= policy.max_interval or policy.multiplier == 1 or len(gaps) >= 100:
            break
    return tuple(gaps)


def _expire(waiter: asyncio.Future[bool]) -> None:
    """A waiter's deadline passed: resolve it with False ("not changed")."""
    if not waiter.done():
        waiter.set_result(False)


class Poller:
    """Polls every pending job of one client together; see the module docstring.

    Started lazily by the first waiter, it stops by itself when nothing is pending and is
    stopped for good by ``aclose()``.

    A persistent failure of a poll is tried ``failure_limit`` (``max_retries + 1``) times in
    all, then ends the waits of the jobs it asked for with its error. The transport retries
    what it can (connection errors, timeouts, 429, 5xx), so a poll request that fails even
    after its retries ends those waits at once: a later round would only multiply the tries.
    An answer that cannot be read (``ResponseDecodeError``, a 2xx the transport does not
    retry) is the one failure tried again by the next rounds, up to ``failure_limit`` in a row.
    """

    def __init__(self, transport: Transport, policy: PollPolicy, *, failure_limit: int) -> None:
        self._transport = transport
        self._policy = policy
        self._schedule = poll_schedule(policy)
        self._failure_limit = max(1, failure_limit)
        self._entries: dict[str, _Entry] = {}
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._sleep_until = math.inf
        self._closed = False

    @property
    def pending(self) -> int:
        """How many job ids are being polled."""
        return len(self._entries)

    def subscribe(self, job_id: str, status: JobStatus | None) -> _Entry:
        """Start (or join) the polling of ``job_id``; pair with ``unsubscribe``."""
        if self._closed:
            raise TransportError(f"the client is closed; cannot wait for job {job_id}")
        entry = self._entries.get(job_id)
        if entry is None:
            entry = _Entry(job_id, status)
            entry.due = self._now() + entry.next_gap(self._schedule)
            self._entries[job_id] = entry
            self._wake_if_earlier(entry.due)
        elif entry.status is None:
            entry.status = status
        entry.subscribers += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="gpcn_async job poller")
        return entry

    def unsubscribe(self, entry: _Entry) -> None:
        """Leave the polling of an entry; the last one out stops its polling."""
        entry.subscribers -= 1
        if entry.subscribers <= 0 and self._entries.get(entry.job_id) is entry:
            del self._entries[entry.job_id]

    @staticmethod
    def arm(entry: _Entry, deadline: float) -> tuple[asyncio.Future[bool], asyncio.TimerHandle]:
        """A future resolved when the entry changes (True) or at ``deadline`` (False).

        Await the future itself, then ``disarm``: no coroutine of ours stays suspended in
        between, which keeps each of thousands of pending waits small.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        entry.waiters = (*entry.waiters, waiter)
        timer = loop.call_later(max(0.0, deadline - time.monotonic()), _expire, waiter)
        return waiter, timer

    @staticmethod
    def disarm(entry: _Entry, waiter: asyncio.Future[bool], timer: asyncio.TimerHandle) -> None:
        """Forget an armed waiter (woken, expired or cancelled): only that waiter."""
        timer.cancel()
        if not waiter.done():
            waiter.cancel()
        if waiter in entry.waiters:
            entry.waiters = tuple(other for other in entry.waiters if other is not waiter)

    async def aclose(self) -> None:
        """Stop polling for good; waits still pending end with ``TransportError``."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            entry.error = TransportError(
                f"the client was closed while waiting for job {entry.job_id}; the job goes on "
                "on the server (attach to it by id from another client)"
            )
            entry.publish()

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _wake_if_earlier(self, due: float) -> None:
        if due < self._sleep_until and self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _run(self) -> None:
        try:
            while self._entries:
                now = self._now()
                earliest = min(entry.due for entry in self._entries.values())
                if earliest > now:
                    await self._sleep(earliest - now)
                    continue
                # Ids due within one interval count as due: waits begun a moment apart (in
                # one gather) then share this round, whose chunks run concurrently, instead of
                # queueing behind it as the next round.
                ids = plan_round(
                    ((entry.job_id, entry.due) for entry in self._entries.values()),
                    now=now + self._policy.interval,
                    size=_wire.MAX_IDS_PER_REQUEST,
                )
                await self._round(ids)
        except Exception as exc:  # a bug must not leave waiters hanging until their deadline
            logger.exception("the job poller stopped unexpectedly")
            for entry in list(self._entries.values()):
                failure = TransportError(f"the job poller stopped unexpectedly: {exc!r}")
                failure.__cause__ = exc
                self._finish(entry, failure)

    async def _sleep(self, seconds: float) -> None:
        self._wakeup = asyncio.get_running_loop().create_future()
        self._sleep_until = self._now() + seconds
        try:
            await asyncio.wait([self._wakeup], timeout=seconds)
        finally:
            self._wakeup = None
            self._sleep_until = math.inf

    async def _round(self, ids: list[str]) -> None:
        """Poll ``ids`` (due ones first, riders last), at most 50 a request, concurrently."""
        async with asyncio.TaskGroup() as group:
            for chunk in _wire.chunked(ids, _wire.MAX_IDS_PER_REQUEST):
                group.create_task(self._poll_chunk(chunk))

    async def _poll_chunk(self, ids: list[str]) -> None:
        """Poll one chunk and apply its answer at once, without waiting for the round's others.

        The chunk's next polls are timed from when its request was sent: the time a round
        takes (the other chunks, the answer, the limiter's wait) does not stretch the interval.
        """
        try:
            statuses, sent = await fetch_statuses(self._transport, ids, background=True)
        except GPCNError as error:  # recorded per job by _apply; CancelledError passes
            self._apply(ids, error, self._now())
            return
        self._apply(ids, statuses, sent)

    def _apply(self, ids: list[str], answer: list[JobStatus] | GPCNError, since: float) -> None:
        """Record a chunk's answer (or error); next polls are timed from ``since``.

        Every id of the chunk counts as polled, riders included: a rider's next poll follows
        its own schedule (and estimate) from this answer.
        """
        if isinstance(answer, GPCNError):
            for job_id in ids:
                entry = self._entries.get(job_id)
                if entry is not None:
                    self._record_failure(entry, answer, since)
            return
        statuses = {status.id: status for status in answer}
        for job_id in ids:
            entry = self._entries.get(job_id)
            if entry is None:
                continue  # nobody waits for it any more
            status = statuses.get(job_id)
            if status is None:
                self._finish(
                    entry,
                    JobNotFoundError(
                        "the server does not show this job (it does not exist, or is not the "
                        "caller's)",
                        job_id=job_id,
                        status=entry.status,
                    ),
                )
            else:
                self._record_status(entry, status, since)

    def _record_status(self, entry: _Entry, status: JobStatus, since: float) -> None:
        previous = entry.status
        entry.status = status
        entry.failures = 0
        entry.last_error = None
        if status.done:
            self._finish(entry)
            return
        entry.due = since + self._next_delay(entry, status, since)
        if previous is None or _changed(previous, status):
            entry.publish()

    def _next_delay(self, entry: _Entry, status: JobStatus, since: float) -> float:
        """The gap from ``since`` (a monotonic time, now or earlier) to the entry's next poll."""
        # estimatedCompletion is on the server's clock, which may differ from ours by minutes.
        wall_since = self._transport.server_now() - (self._now() - since)
        return next_poll_delay(
            entry.next_gap(self._schedule),
            status.estimated_completion,
            now=wall_since,
            policy=self._policy,
        )

    def _record_failure(self, entry: _Entry, error: GPCNError, now: float) -> None:
        """A failed poll: only an unreadable answer is tried again, by the next rounds."""
        entry.failures += 1
        entry.last_error = error
        if not isinstance(error, ResponseDecodeError) or entry.failures >= self._failure_limit:
            self._finish(entry, error)  # the transport's retries were the other tries
        else:
            logger.info("job %s: poll answer unreadable (%s); polling again", entry.job_id, error)
            entry.due = now + entry.next_gap(self._schedule)

    def _finish(self, entry: _Entry, error: GPCNError | None = None) -> None:
        entry.error = error
        if self._entries.get(entry.job_id) is entry:
            del self._entries[entry.job_id]
        entry.publish()


class Job(Generic[T]):
    """A server-side operation that finishes later: await it for its result.

    ``await job`` is ``await job.wait()``. What it returns depends on the operation: the
    ``GpuVm`` for a create, None for delete/start/stop/reset, the final ``JobStatus`` for a job
    attached by id. Jobs are polled by their client's one poller, together with every other
    pending job, only while something waits on them.

    Cancelling a task that waits on a job stops that wait only: the job goes on on the server,
    and other waiters of it are unaffected.
    """

    __slots__ = (
        "_fetch",
        "_has_result",
        "_id",
        "_lock",
        "_poller",
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
    ) -> None:
        """Internal: jobs come from the resource methods, not from user code."""
        self._id = job_id
        self._poller = poller
        self._fetch = fetch
        self._status = status
        self._timeout = timeout
        self._has_result = False
        self._result: T | None = None
        self._lock: asyncio.Lock | None = None

    @classmethod
    def finished(cls, result: T) -> Job[T]:
        """A job the server completed at once (a 200 or 204 answer instead of a 202)."""
        job = cls(None, poller=None, fetch=_no_fetch, status=None, timeout=1.0)
        job._result = result
        job._has_result = True
        return job

    @property
    def id(self) -> str | None:
        """The job's id; None for an operation the server completed at once, without a job."""
        return self._id

    @property
    def status(self) -> JobStatus | None:
        """The newest status seen (no request is made), or None if none was ever seen."""
        return self._status

    def done(self) -> bool:
        """Whether the job is known to be over (succeeded, failed or cancelled)."""
        return self._has_result or (self._status is not None and self._status.done)

    def __await__(self) -> Generator[Any, None, T]:
        return self.wait().__await__()

    async def wait(self, timeout: float | None = None) -> T:
        """Wait until the job ends and return its result.

        Args:
            timeout: the deadline of the whole wait, in seconds (default: the client's
                ``PollPolicy.timeout``). Distinct from the per-request timeout.

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
        if not self._has_result:
            deadline = self._deadline(timeout)
            status = self._status
            if status is None or not status.done:
                # The loop is written out here rather than in helper coroutines, and awaits
                # the poller's future itself: a pending wait holds this one frame, a future
                # and a timer, which matters when thousands of jobs wait at once.
                poller, entry = self._subscribe()
                try:
                    while True:
                        if entry.status is not None:
                            self._status = entry.status
                        if entry.error is not None:
                            raise entry.error
                        status = self._status
                        if status is not None and status.done:
                            break
                        waiter, timer = poller.arm(entry, deadline)
                        try:
                            changed = await waiter
                        finally:
                            poller.disarm(entry, waiter, timer)
                        if not changed:
                            raise self._timed_out(entry) from entry.last_error
                finally:
                    poller.unsubscribe(entry)
            _raise_for_outcome(status)
            await self._read_result(status, deadline)
        return self._result  # type: ignore[return-value]  # T, set together with _has_result

    async def _read_result(self, status: JobStatus, deadline: float) -> None:
        """Fetch the result of a succeeded job (a create's GET of its VM) before ``deadline``.

        Concurrent waiters share one fetch. When the deadline passes first, the wait ends with
        ``JobTimeoutError`` (its ``.status`` the succeeded one); a later ``wait()`` fetches again.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        scope = asyncio.timeout(max(0.0, deadline - time.monotonic()))
        try:
            async with scope, self._lock:
                if not self._has_result:
                    self._result = await self._fetch(status)
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
        entry = poller.subscribe(self._id, shown)
        try:
            while True:
                status = entry.status
                if status is not None and (shown is None or _changed(shown, status)):
                    self._status = shown = status
                    yield status
                    # The caller's loop body may have taken a while, during which the poller
                    # saw newer snapshots (the terminal one included) that woke nobody: look
                    # at the latest one again before waiting for another change.
                    continue
                if entry.error is not None:
                    raise entry.error
                if shown is not None and shown.done:
                    return
                await self._next_change(poller, entry, deadline)
        finally:
            poller.unsubscribe(entry)

    def _deadline(self, timeout: float | None) -> float:
        if timeout is None:
            return time.monotonic() + self._timeout
        return time.monotonic() + _validate.positive_seconds(timeout, "timeout")

    def _subscribe(self) -> tuple[Poller, _Entry]:
        if self._poller is None or self._id is None:
            raise JobNotFoundError("this job has no id to poll", job_id=str(self._id))
        return self._poller, self._poller.subscribe(self._id, self._status)

    async def _next_change(self, poller: Poller, entry: _Entry, deadline: float) -> None:
        waiter, timer = poller.arm(entry, deadline)
        try:
            changed = await waiter
        finally:
            poller.disarm(entry, waiter, timer)
        if not changed:
            raise self._timed_out(entry) from entry.last_error

    def _timed_out(self, entry: _Entry) -> JobTimeoutError:
        state = self._status.state if self._status is not None else JobState.PENDING
        message = (
            f"still {state} when the wait's deadline passed; the job goes on on the server "
            "(wait again, or attach to it by id)"
        )
        if entry.last_error is not None:
            message += f"; the last poll failed: {entry.last_error}"
        return JobTimeoutError(message, job_id=entry.job_id, status=self._status)

    def __repr__(self) -> str:
        state = self._status.state if self._status is not None else None
        return f"Job(id={self._id!r}, state={state!r}, done={self.done()!r})"


def _changed(before: JobStatus, after: JobStatus) -> bool:
    """Whether a snapshot is news to a watcher: its state or progress moved."""
    return (before.state, before.progress) != (after.state, after.progress)


async def _no_fetch(status: JobStatus) -> Any:
    raise RuntimeError("a finished job has its result already")  # pragma: no cover


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
