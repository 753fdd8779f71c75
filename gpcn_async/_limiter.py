"""The client's one rate limiter: every request of a client passes through it.

It keeps a budget from the ``X-RateLimit-*`` headers so a normal workload never meets a 429
(assuming 100 requests per 60 s until the first answer), pauses every request when a 429 names
a wait, and lets user calls go ahead of background job polls. It never sleeps longer than
``max_wait``: a longer wait raises ``RateLimitError`` at once, so a script fails fast instead of
hanging for the 14 minutes some windows ask for.

Answers overtake each other, so each request gets a ticket in the order it was let through, and
an answer is applied only if no answer to a later ticket has been applied already: what a newer
request learnt is never overwritten by an older one's answer. Within a window an applied answer
can only lower the budget: the lowest ``Remaining`` is the newest place in the window.

The budget belongs to the API key, and other processes may spend it too. ``_share`` reads every
counted answer (whatever order they arrive in) and notices spending that is not ours; while it
sees some, requests keep to this client's share of what is left, spread over the time left to
the reset, and the first request of each window goes alone until its answer shows what the
others left. A client alone paces as before, except that after its very first answer one more
request goes alone (others may be starting at the same moment). A share never fails a call:
when keeping to it would mean waiting longer than ``max_wait``, the request goes as if alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Final

from gpcn_async._clock import ServerClock
from gpcn_async._share import SAME_WINDOW, ShareEstimator
from gpcn_async._wire import RateLimitHeaders
from gpcn_async.errors import RateLimitError

logger = logging.getLogger("gpcn_async")

ASSUMED_LIMIT: Final = 100
ASSUMED_WINDOW: Final = 60.0


class RateLimiter:
    """Paces one client's requests; see the module docstring."""

    def __init__(
        self,
        *,
        max_wait: float,
        assumed_limit: int = ASSUMED_LIMIT,
        assumed_window: float = ASSUMED_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._max_wait = max_wait
        self._window = assumed_window
        self._clock = clock
        self._limit = assumed_limit
        self._remaining = assumed_limit
        self._window_end: float | None = None  # Unix seconds when the budget refills
        self._server_reset: float | None = None  # the reset of the newest window answered
        self._paused_until = 0.0
        self._in_flight = 0
        self._tickets = 0  # requests let through so far; a request's ticket is its number
        self._applied = 0  # the newest ticket whose answer changed the budget or a pause
        self._queued = 0  # requests inside acquire() that could not take a slot at once
        self._lock = asyncio.Lock()
        self._users_waiting = 0
        self._users_done = asyncio.Event()
        self._users_done.set()
        # Set by each answer applied, each release and close(); cleared by the one request
        # (the head of the queue) that waits for an answer of those in flight.
        self._news = asyncio.Event()
        self._closed = asyncio.Event()  # set by close(): every wait ends at once
        self.last: RateLimitHeaders | None = None
        # X-RateLimit-Reset is on the server's clock; this turns it into ours.
        self.server_clock = ServerClock()
        self.share_key = True
        """False: pace as if the key's whole budget were this client's (the pacing before
        sharing was noticed; benchmarks compare the two)."""
        self._share = ShareEstimator(window=assumed_window)
        self._last_sent = 0.0  # when the last request was let through
        self._rolled = False  # the window ended on our clock, and no answer from the next yet

    def try_acquire(self, *, background: bool = False) -> int | None:
        """Count one more request as sent if it may go at once: its ticket; None if it must wait.

        The usual case, and a plain call: no coroutine is made for a request that need not
        wait. Nobody may be queued (the queue keeps its order) and, for a background request,
        no user request may be waiting.
        """
        now = self._clock()
        if self._queued or (background and self._users_waiting) or self._wait_time(now) > 0:
            return None
        return self._let_through(now)

    def _let_through(self, now: float) -> int:
        self._remaining -= 1
        self._in_flight += 1
        self._tickets += 1
        self._last_sent = now
        return self._tickets

    async def acquire(self, *, background: bool = False) -> int:
        """Wait until one more request may be sent, count it as sent, and return its ticket.

        Background requests (job polls) wait while any user request is waiting. Pass the
        ticket to ``observe`` and ``pause`` with the request's answer.

        Raises:
            RateLimitError: the wait would exceed ``max_wait``.
        """
        ticket = self.try_acquire(background=background)
        if ticket is not None:
            return ticket
        self._queued += 1
        try:
            return await self._acquire_in_turn(background=background)
        finally:
            self._queued -= 1

    async def _acquire_in_turn(self, *, background: bool) -> int:
        if background:
            while self._users_waiting:
                await self._users_done.wait()
        else:
            self._users_waiting += 1
            self._users_done.clear()
        try:
            async with self._lock:
                await self._wait_for_budget()
                return self._let_through(self._clock())
        finally:
            if not background:
                self._users_waiting -= 1
                if not self._users_waiting:
                    self._users_done.set()

    def close(self) -> None:
        """End every wait at once, now and later: the client is closing.

        The requests let through are not sent: the transport sees that it is closed and fails
        them. Without this, ``aclose()`` would leave them sleeping out a pause of up to
        ``max_wait`` before failing.
        """
        self._closed.set()
        self._news.set()  # also ends a wait for an answer, which may never come

    async def _wait_for_budget(self) -> None:
        while True:
            if self._closed.is_set():
                return
            now = self._clock()
            wait = self._wait_time(now)
            if wait <= 0:
                return
            if self._answer_will_tell(now):
                # The answers of the requests in flight will tell the real budget, so wait
                # for one of them, not for a window.
                self._news.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(wait, self._max_wait)):
                        await self._news.wait()
                continue
            if wait > self._max_wait:
                raise RateLimitError(
                    f"rate limited: the next request may go in {wait:.0f} s, more than "
                    f"max_rate_limit_wait ({self._max_wait:g} s)",
                    retry_after=wait,
                )
            logger.info("rate limit: pausing requests for %.3f s", wait)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._closed.wait()

    def _answer_will_tell(self, now: float) -> bool:
        """Whether the next request should wait for an answer of those in flight, not a time."""
        if not self._in_flight or self._paused_until > now:
            return False
        if self.last is None:
            # The assumed budget is spent before any answer came (and no 429 paused us).
            return not self._paused_until
        return self._cautious(now)

    def _cautious(self, now: float) -> bool:
        """Whether what others left of this window is unknown: one request at a time then."""
        if not self.share_key:
            return False
        return (self._rolled and self._share.sharing(now)) or self._share.uncertain()

    def _wait_time(self, now: float) -> float:
        if self._paused_until > now:
            return self._paused_until - now
        if self._window_end is None:
            # No answer has told us when this window ends: assume it started now.
            self._window_end = now + self._window
        elif now >= self._window_end:
            # The window has reset: the whole limit is ours until an answer says otherwise.
            self._remaining = self._limit
            self._window_end = now + self._window
            self._rolled = True
        if self._remaining <= 0:
            return self._window_end - now
        if self.last is None or not self.share_key:
            return 0.0
        if self._in_flight and self._cautious(now):
            return self._window_end - now  # until an answer tells: see _answer_will_tell
        if self._rolled:
            return 0.0  # the first request of a window: its answer tells what is left
        wait = self._share.delay(
            now=now,
            left=self._remaining,
            time_left=self._window_end - now,
            last_sent=self._last_sent,
        )
        # Only a spent budget may fail a call (RateLimitError), never keeping to a share.
        return wait if wait <= self._max_wait else 0.0

    def release(self) -> None:
        """Mark one request as answered (or failed); call once per ``acquire``."""
        self._in_flight -= 1
        self._news.set()  # a request waiting for an answer of those in flight looks again

    def observe_date(self, date: str | None) -> None:
        """Take an answer's ``Date`` header, to follow the server's clock (any answer)."""
        self.server_clock.observe(date, self._clock())

    def server_now(self) -> float:
        """The server's clock now, as far as its ``Date`` headers tell (Unix seconds)."""
        return self.server_clock.server_now(self._clock())

    def _is_news(self, ticket: int | None) -> bool:
        """Whether an answer to ``ticket`` may be applied: no later request's answer was yet."""
        if ticket is None:
            return True  # an answer not tied to a request of ours (tests feed headers so)
        if ticket < self._applied:
            return False
        self._applied = ticket
        return True

    def observe(
        self, headers: RateLimitHeaders, *, ticket: int | None = None, counted: bool = True
    ) -> None:
        """Update the budget from an answer's headers (call before ``release``).

        Call ``observe_date`` with the same answer's ``Date`` first: the reset is converted
        from the server's clock to ours with it. ``ticket`` is the request's, from
        ``acquire``: an answer older than one already applied changes no budget (its place in
        the window still tells about others' spending). ``counted`` is False for a 429, which
        the server did not count.
        """
        reset_local = self.server_clock.to_local(headers.reset)  # the reset on our clock
        if counted:
            now = self._clock()
            self._share.answered(
                limit=headers.limit,
                remaining=headers.remaining,
                reset=headers.reset,
                time_left=reset_local - now,
                now=now,
                in_flight=self._in_flight - 1,
            )
        if not self._is_news(ticket):
            return
        # Requests still in flight may not be counted in this answer's Remaining yet.
        budget = headers.remaining - max(0, self._in_flight - 1)
        if self._server_reset is None or headers.reset > self._server_reset + SAME_WINDOW:
            self._server_reset = headers.reset
            self._remaining = budget
            self._rolled = False
        elif headers.reset >= self._server_reset - SAME_WINDOW:
            self._remaining = min(self._remaining, budget)
        else:
            return  # a late answer from a window that has already ended
        self._limit = headers.limit
        self._window_end = reset_local
        self.last = headers
        self._news.set()

    def pause(self, seconds: float, *, ticket: int | None = None) -> None:
        """Hold every request for ``seconds`` (a 429's wait), unless already paused longer.

        ``ticket`` is the request's, from ``acquire``: a 429 to a request older than one
        whose answer was applied already says nothing new, and is ignored.

        The 429's wait decides: when the budget is spent (the 429 itself said ``Remaining: 0``)
        and the window would end later than the wait, the window is taken to reopen when the
        wait ends, as at a reset. A later answer that says ``Remaining: 0`` again closes it
        again until that answer's reset: it is newer than the 429, and gave no wait of its own.
        """
        if not self._is_news(ticket):
            return
        self._share.rejected()
        now = self._clock()
        until = now + seconds
        if until > self._paused_until:
            self._paused_until = until
            logger.info("rate limit: server asked to wait %.3f s; pausing all requests", seconds)
        if self._remaining <= 0 and self._window_end is not None and self._window_end > until:
            self._window_end = until
