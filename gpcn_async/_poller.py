"""The one poller per client: every pending job of a client is polled through it, together.

The API allows as few as 100 requests a minute, so jobs are never polled one by one. A job being
waited on registers its id here, and the poller asks for the due ids together through
``POST /resource/jobs`` (at most 50 ids per request), then wakes the waiters whose job changed.
The free room of a round's last request is filled with the jobs due soonest after: riding along
costs no request, and it brings the schedules of waits started at different times together.
``PollPolicy`` thus bounds the gaps of each job's own schedule: a job is never polled later than
it says (the rate limiter aside), but may be polled sooner, in a request that is sent anyway.

No head-of-line blocking: each poll request runs as its own task, and the scheduler keeps
sending for the other jobs while requests are in flight. A job is in at most one request at a
time, so a slow or hanging request delays only the jobs it carries.

Waiters wait on their own futures, so cancelling one waiter touches nothing else; a job nobody
waits for any more is simply no longer polled. Time is the event loop's (``loop.time()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Final

import backoff

from gpcn_async import _convert, _wire
from gpcn_async._transport import Transport
from gpcn_async.errors import (
    GPCNError,
    JobNotFoundError,
    ResponseDecodeError,
    TransportError,
)
from gpcn_async.models import JobStatus
from gpcn_async.policies import PollPolicy

logger = logging.getLogger("gpcn_async")

POLL_PATH: Final = "/resource/jobs"


async def fetch_statuses(
    transport: Transport, ids: list[str], *, background: bool
) -> tuple[list[JobStatus], float]:
    """One ``POST /resource/jobs`` for at most 50 ids.

    Returns:
        The statuses the server returned, and when the request was sent (loop time).
    """
    response = await transport.request(
        "POST", POLL_PATH, json={"jobIds": ids}, background=background
    )
    return response.decode(_convert.structure_jobs_response), response.sent


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
    round never needs one request more than the due ids alone.

    Args:
        due_times: ``(job_id, due)`` of every job that may be polled now, ``due`` a loop time.
        now: the loop time of the round.
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


class Entry:
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
        self.step = 0  # where this job is in the poller's schedule (an int: thousands may wait)
        self.due = 0.0
        self.error: Exception | None = None  # set when the wait must end with this error
        self.last_error: GPCNError | None = None  # the newest unreadable poll answer
        self.failures = 0  # unreadable poll answers in a row
        self.subscribers = 0
        self.waiters: list[asyncio.Future[bool]] = []

    def publish(self) -> None:
        """Wake every waiter of this entry (its future's result True: "changed")."""
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)

    def next_gap(self, schedule: tuple[float, ...]) -> float:
        """The next gap of the poll schedule; the last one repeats once it is reached."""
        gap = schedule[min(self.step, len(schedule) - 1)]
        self.step += 1
        return gap


def _expire(waiter: asyncio.Future[bool]) -> None:
    """A waiter's deadline passed: resolve it with False ("not changed")."""
    if not waiter.done():
        waiter.set_result(False)


class Poller:
    """Polls every pending job of one client together; see the module docstring.

    Started lazily by the first waiter, its scheduler stops by itself when nothing is pending;
    ``aclose()`` stops it and every poll request for good.

    A persistent failure of a poll is tried ``failure_limit`` (``max_retries + 1``) times in
    all, then ends the waits of the jobs it asked for with its error. The transport retries
    what it can (connection errors, timeouts, 429, 5xx), so a poll request that fails even
    after its retries ends those waits at once: a later round would only multiply the tries.
    An answer that cannot be read (``ResponseDecodeError``) is the one failure tried again by
    the next rounds, up to ``failure_limit`` in a row.
    """

    def __init__(self, transport: Transport, policy: PollPolicy, *, failure_limit: int) -> None:
        self._transport = transport
        self._policy = policy
        self._schedule = poll_schedule(policy)
        self._failure_limit = max(1, failure_limit)
        self._entries: dict[str, Entry] = {}
        self._scheduler: asyncio.Task[None] | None = None
        self._requests: set[asyncio.Task[None]] = set()
        self._in_flight: set[str] = set()  # ids in a poll request now: never in two at once
        self._changed = asyncio.Event()  # wakes the scheduler: a new job, or a request ended
        self._sleep_until = math.inf
        self._closed = False

    @property
    def pending(self) -> int:
        """How many job ids are being polled."""
        return len(self._entries)

    def subscribe(self, job_id: str, status: JobStatus | None) -> Entry:
        """Start (or join) the polling of ``job_id``; pair with ``unsubscribe``.

        Raises:
            ClientStateError: the client is closed, or this is another event loop.
        """
        self._transport.check_usable()
        if self._closed:  # pragma: no cover -- the transport closes first, and says so above
            raise TransportError(f"the client is closed; cannot wait for job {job_id}")
        entry = self._entries.get(job_id)
        if entry is None:
            entry = Entry(job_id, status)
            entry.due = self._now() + entry.next_gap(self._schedule)
            self._entries[job_id] = entry
            if entry.due < self._sleep_until:
                self._changed.set()
        elif entry.status is None:
            entry.status = status
        entry.subscribers += 1
        if self._scheduler is None or self._scheduler.done():
            self._scheduler = asyncio.create_task(self._run(), name="gpcn_async job poller")
        return entry

    def unsubscribe(self, entry: Entry) -> None:
        """Leave the polling of an entry; the last one out stops its polling."""
        entry.subscribers -= 1
        if entry.subscribers <= 0 and self._entries.get(entry.job_id) is entry:
            del self._entries[entry.job_id]

    def arm(
        self, entry: Entry, deadline: float
    ) -> tuple[asyncio.Future[bool], asyncio.TimerHandle | None]:
        """A future resolved when the entry changes (True) or at ``deadline`` (False).

        ``deadline`` is a loop time; ``math.inf`` means none. Await the future itself, then
        ``disarm``: no coroutine of ours stays suspended in between, which keeps each of
        thousands of pending waits small.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        entry.waiters.append(waiter)
        timer = None if math.isinf(deadline) else loop.call_at(deadline, _expire, waiter)
        return waiter, timer

    @staticmethod
    def disarm(
        entry: Entry, waiter: asyncio.Future[bool], timer: asyncio.TimerHandle | None
    ) -> None:
        """Forget an armed waiter (woken, expired or cancelled): only that waiter."""
        if timer is not None:
            timer.cancel()
        if not waiter.done():
            waiter.cancel()
        if waiter in entry.waiters:
            entry.waiters.remove(waiter)

    def close_now(self) -> list[asyncio.Task[None]]:
        """Stop polling for good; end pending waits with ``TransportError``.

        Synchronous, so that a cancelled ``aclose()`` still leaves nothing polling. Returns the
        tasks it cancelled, to be awaited.
        """
        self._closed = True
        tasks = [*self._requests, *([self._scheduler] if self._scheduler else [])]
        self._scheduler = None
        for task in tasks:
            task.cancel()
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            entry.error = TransportError(
                f"the client was closed while waiting for job {entry.job_id}; the job goes on "
                "on the server (resume it from another client)"
            )
            entry.publish()
        return tasks

    async def aclose(self) -> None:
        """Stop polling for good and wait until no task of the poller runs."""
        tasks = self.close_now()
        if tasks:
            await asyncio.wait(tasks)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def _run(self) -> None:
        """Send the due polls, each request as its own task, and sleep until the next is due."""
        while self._entries:
            self._changed.clear()
            delay = self._send_due()
            if delay <= 0:
                continue
            self._sleep_until = self._now() + delay
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(None if math.isinf(delay) else delay):
                        await self._changed.wait()
            finally:
                self._sleep_until = math.inf

    def _send_due(self) -> float:
        """Start a poll request for each chunk of due jobs; the wait until the next is due.

        Jobs due within one interval count as due: waits begun a moment apart (in one gather)
        then share these requests instead of each starting its own a moment later.
        """
        now = self._now()
        idle = [entry for entry in self._entries.values() if entry.job_id not in self._in_flight]
        if not idle:
            return math.inf  # every job is in a request: its end wakes the scheduler
        earliest = min(entry.due for entry in idle)
        if earliest > now:
            return earliest - now
        ids = plan_round(
            ((entry.job_id, entry.due) for entry in idle),
            now=now + self._policy.interval,
            size=_wire.MAX_IDS_PER_REQUEST,
        )
        for chunk in _wire.chunked(ids, _wire.MAX_IDS_PER_REQUEST):
            self._in_flight.update(chunk)
            task = asyncio.create_task(self._poll_chunk(chunk), name="gpcn_async job poll")
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)
        return 0.0

    async def _poll_chunk(self, ids: list[str]) -> None:
        """Poll one chunk and apply its answer at once, whatever the other requests do.

        The chunk's next polls are timed from when its request was sent: the time the answer
        took (or the limiter's wait) does not stretch the interval.
        """
        answer: list[JobStatus] | Exception
        try:
            answer, sent = await fetch_statuses(self._transport, ids, background=True)
        except GPCNError as error:  # recorded per job by _apply; CancelledError passes
            answer, sent = error, self._now()
        except Exception as bug:
            logger.exception("polling jobs %s failed unexpectedly", ", ".join(ids))
            answer, sent = bug, self._now()
        finally:
            self._in_flight.difference_update(ids)
            self._changed.set()
        self._apply(ids, answer, sent)

    def _apply(self, ids: list[str], answer: list[JobStatus] | Exception, since: float) -> None:
        """Record a chunk's answer (or error); next polls are timed from ``since``.

        Every id of the chunk counts as polled, riders included: a rider's next poll follows
        its own schedule (and estimate) from this answer.
        """
        entries = [entry for job_id in ids if (entry := self._entries.get(job_id)) is not None]
        if isinstance(answer, Exception):
            for entry in entries:
                self._record_failure(entry, answer, since)
            return
        statuses = {status.id: status for status in answer}
        for entry in entries:
            status = statuses.get(entry.job_id)
            if status is None:
                self._finish(
                    entry,
                    JobNotFoundError(
                        "the server does not show this job (it does not exist, or is not the "
                        "caller's)",
                        job_id=entry.job_id,
                        status=entry.status,
                    ),
                )
            else:
                self._record_status(entry, status, since)

    def _record_status(self, entry: Entry, status: JobStatus, since: float) -> None:
        previous = entry.status
        entry.status = status
        entry.failures = 0
        entry.last_error = None
        if status.done:
            self._finish(entry)
            return
        entry.due = since + self._next_delay(entry, status, since)
        if previous is None or changed(previous, status):
            entry.publish()

    def _next_delay(self, entry: Entry, status: JobStatus, since: float) -> float:
        """The gap from ``since`` (a loop time, now or earlier) to the entry's next poll."""
        # estimatedCompletion is on the server's clock, which may differ from ours by minutes.
        wall_since = self._transport.server_now() - (self._now() - since)
        return next_poll_delay(
            entry.next_gap(self._schedule),
            status.estimated_completion,
            now=wall_since,
            policy=self._policy,
        )

    def _record_failure(self, entry: Entry, error: Exception, now: float) -> None:
        """A failed poll: only an unreadable answer is tried again, by the next rounds."""
        entry.failures += 1
        entry.last_error = error if isinstance(error, GPCNError) else None
        if not isinstance(error, ResponseDecodeError) or entry.failures >= self._failure_limit:
            self._finish(entry, error)  # the transport's retries were the other tries
            return
        logger.info("job %s: poll answer unreadable (%s); polling again", entry.job_id, error)
        entry.due = now + entry.next_gap(self._schedule)

    def _finish(self, entry: Entry, error: Exception | None = None) -> None:
        entry.error = error
        if self._entries.get(entry.job_id) is entry:
            del self._entries[entry.job_id]
        entry.publish()


def changed(before: JobStatus, after: JobStatus) -> bool:
    """Whether a snapshot is news to a watcher: its state or progress moved."""
    return (before.state, before.progress) != (after.state, after.progress)
