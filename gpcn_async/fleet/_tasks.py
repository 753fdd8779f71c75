"""Concurrent work of a fleet: reports, the first error of a task group, waiting for others.

Other processes sharing a journal hold claims on members; a run waits for them in pauses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Final

from gpcn_async import PollPolicy

__all__ = ["MAX_PAUSE", "Report", "Waiting", "one_error"]

MAX_PAUSE: Final = 1.0
"""The longest pause between two looks at the journal: a look costs no API request, and a
process waiting for its peers should end soon after they do."""

Report = Callable[[str, str], object]
"""Called with a member's name and what just happened to it (see ``Fleet``'s ``progress``)."""


@contextmanager
def one_error() -> Iterator[None]:
    """Raise the first error of a task group as itself, not wrapped in an ``ExceptionGroup``.

    A fleet's tasks return each member's API errors as values; what escapes one is a reason to
    stop them all (the journal cannot be written, a bug), which the caller should see as the
    error it is, as from any other call.
    """
    try:
        yield
    except ExceptionGroup as group:
        first = group.exceptions[0]
        raise first from first.__cause__


class Waiting:
    """Pauses while other processes hold the members left, given up after a spell of no progress.

    The pauses follow the client's poll cadence: ``interval``, growing by ``multiplier`` up
    to ``max_interval`` (or not growing, ``steady``), never over ``MAX_PAUSE``; they start
    again from ``interval`` after progress. A process that died holding claims loses them
    after the journal's ``claim_ttl``, and a live one finishes a member within the poll
    ``timeout``; so ``patience`` (their sum, by default) without any progress means something
    is wrong, and the caller gives up on those members. ``sleep`` sleeps a pause and may end it
    early (``Journal.changes``: another process let go of claims).
    """

    def __init__(
        self,
        poll: PollPolicy,
        patience: float,
        *,
        steady: bool = False,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._poll = poll
        self._patience = patience
        self._sleep = sleep
        self._multiplier = 1.0 if steady else poll.multiplier
        self._loop = asyncio.get_running_loop()
        self._delay = self._first_delay()
        self._since = self._loop.time()

    def _first_delay(self) -> float:
        return min(self._poll.interval, MAX_PAUSE)

    def progressed(self) -> None:
        """Something moved: the next pause is short again, and patience starts over."""
        self._delay = self._first_delay()
        self._since = self._loop.time()

    async def pause(self) -> bool:
        """Sleep the next pause; False (at once) when patience has run out."""
        if self._loop.time() - self._since > self._patience:
            return False
        await self._sleep(self._delay)
        self._delay = min(self._delay * self._multiplier, self._poll.max_interval, MAX_PAUSE)
        return True
