"""How far the server's clock is ahead of ours, estimated from its ``Date`` headers.

Layer L1 and pure: the caller passes the local time. ``X-RateLimit-Reset`` and an HTTP-date
``Retry-After`` are instants on the *server's* clock; compared with a local clock that runs
minutes behind, a one-minute window would look like four, and past ``max_rate_limit_wait``; one
that runs ahead would send before the window ends and meet 429s.

``Date`` has whole seconds and is stamped before the answer travels, so each sample
(``Date - local time on arrival``) is at most the true offset and at most about a second below
it. The estimate is the largest recent sample: it never exceeds the true offset, so a reset
converted with it is never early (only up to about a second late at first), and with answers
arriving at various points of the server's seconds it closes in on the true offset.

An estimate between -1 and 0 s is what clocks in sync give (the Date's lost fraction of a
second), so it counts as 0: the clocks are taken to agree, and a reset given to the
millisecond keeps its precision. Whole-second headers cannot show a skew of less than a
second, so a server clock up to a second *behind* ours goes unnoticed, as it did before any
estimate; every larger skew, and any skew ahead, is corrected.
"""

from __future__ import annotations

import functools
from collections import deque
from email.utils import parsedate_to_datetime
from typing import Final

__all__ = ["ServerClock", "parse_http_date"]

HISTORY: Final = 32
"""Samples kept: one per second of the server's clock (a new ``Date`` text), so about 30 s."""

JUMP: Final = 2.0
"""A sample this far below the estimate means a clock was stepped: start again from it. Samples
of a steady clock stay within a second (plus the answer's travel time) of each other."""


IN_SYNC_LOW: Final = -1.0
"""Estimates in ``(IN_SYNC_LOW, 0]`` are what clocks in sync give: the offset is then 0."""


@functools.lru_cache(maxsize=4)
def parse_http_date(text: str) -> float | None:
    """Unix seconds of an HTTP date (``Sun, 06 Nov 1994 08:49:37 GMT``), or None if it is not one.

    Cached: the same text comes on every answer of a second.
    """
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" marks a date whose zone is unknown: not a server instant
        return None
    return when.timestamp()


class ServerClock:
    """The offset of the server's clock from ours (``server - local``, seconds); see the module.

    Until a ``Date`` header arrives the clocks are taken to be in sync (offset 0).
    """

    def __init__(self) -> None:
        self.offset = 0.0
        """Seconds to add to our clock to read the server's (0 for clocks in sync)."""
        self._estimate = 0.0  # the largest recent sample
        self._samples: deque[float] = deque(maxlen=HISTORY)
        self._last_text: str | None = None

    def observe(self, date_text: str | None, local_now: float) -> None:
        """Take an answer's ``Date`` header, read at ``local_now`` (Unix seconds)."""
        # Only the first answer of each server second: it carries the largest sample of that
        # second (received earliest), and the rest would cost a parse per request for nothing.
        if date_text is None or date_text == self._last_text:
            return
        self._last_text = date_text
        server_date = parse_http_date(date_text)
        if server_date is None:
            return
        self._add(server_date - local_now)

    def _add(self, sample: float) -> None:
        samples = self._samples
        if samples and sample < self._estimate - JUMP:
            samples.clear()  # a clock was stepped back: the old samples are too large now
        evicted = samples[0] if len(samples) == samples.maxlen else None
        samples.append(sample)
        if len(samples) == 1 or sample >= self._estimate:
            self._estimate = sample
        elif evicted == self._estimate:
            self._estimate = max(samples)
        self.offset = 0.0 if IN_SYNC_LOW < self._estimate <= 0.0 else self._estimate

    def to_local(self, server_time: float) -> float:
        """The local Unix time of an instant given on the server's clock."""
        return server_time - self.offset

    def server_now(self, local_now: float) -> float:
        """The server's clock reading at local time ``local_now``."""
        return local_now + self.offset
