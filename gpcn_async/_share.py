"""How much of a shared key's budget is this client's: a pure estimate from rate-limit headers.

Layer L1 and pure: the caller passes every time (Unix seconds on the limiter's clock) and the
answers' header values; nothing here reads a clock or sleeps.

The budget belongs to the API key, and other processes may spend it too. Nothing is shared
between them but the server's headers, and those say enough: ``X-RateLimit-Remaining`` is the
server's count within a window, so between two of our own answers it fell by our requests counted
in between plus everybody else's. Within one window (one ``X-RateLimit-Reset``), with ``high``
and ``low`` the highest and lowest ``Remaining`` our counted answers showed, ``own - 1`` of our
requests lie between those two places, so the others spent ``high - low - (own - 1)`` there.
That holds whatever order the answers arrive in; our requests still in flight may lie in between
too, so they are subtracted until answered (the estimate never counts our own requests as
theirs).

From those counts over the recent past (about one window):

- **Sharing** is on once others were seen spending, for a few windows (``MEMORY``); a client
  alone keeps the plain pacing.
- **Share**: our part of the recent spending, ``p = own / (own + others)``, nudged towards
  equal: ``s = p**g / (p**g + (1 - p)**g)``. With ``g < 1`` this pulls every share towards
  one half (``g = 1`` would keep it as measured), so a client that leads gives way and one
  that lags gains, window after window, until the shares are equal, without anyone knowing
  how many clients there are. Never below ``MIN_SHARE``, so a client that was idle, or just
  started, gets going. A 429 cuts the share at once (``CUT``); each counted answer gives a
  little back (``RECOVERY``).
- **Pacing** (``delay``): the others' recent rate predicts what they spent since our last
  answer; our share of what is then left is spread over the time left to the reset, and when
  it is less than one request we wait for the reset.
- **Caution** (``uncertain``): a window whose first answer shows that somebody spent part of it
  before us, and our first window of all, are probed one request at a time until a second
  answer tells whether others spend it too. In later windows such spending counts as the
  others', since it happened while we were running. In our first window it may be long over
  (a script run twice within a window) or go on: that window is taken as shared (requests
  spread over the time left, so that others still find budget when they come back from a
  429's wait), but the spending does not lower our share.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final, NamedTuple

__all__ = ["SAME_WINDOW", "ShareEstimator"]

SAME_WINDOW: Final = 0.001
"""Answers whose ``X-RateLimit-Reset`` differs by less than this belong to the same window."""

NUDGE: Final = 0.35
"""The exponent ``g`` pulling shares towards equal: 1 keeps them as measured, 0 makes all 1/2."""

MEMORY: Final = 3
"""Sharing lasts this many windows after others were last seen spending. Others held back by
429s for a window are still there: a client that went back to bursting at once would keep
them out."""

MIN_SHARE: Final = 0.1
"""The least share a client keeps while sharing: enough for a newcomer to be seen and grow."""

CUT: Final = 0.5
"""A 429 multiplies the share by this, at once."""

RECOVERY: Final = 0.02
"""Each counted answer gives back this much of the cut (up to none): about 25 answers for half."""

MIN_CUT: Final = 1 / 16
"""Successive 429s cut the share down to this fraction of itself, not further."""


class _Sample(NamedTuple):
    """Our requests and the others' seen so far (counted since we started), at ``time``."""

    time: float
    own: int
    others: int


class _Window:
    """What our answers in one rate-limit window showed."""

    __slots__ = ("before", "between", "high", "low", "own", "probing", "reset", "shared")

    def __init__(
        self, reset: float, remaining: int, *, before: int, probing: bool, shared: bool = False
    ) -> None:
        self.reset = reset  # its X-RateLimit-Reset (server clock): the window's name
        self.high = remaining  # the highest Remaining our counted answers showed
        self.low = remaining  # the lowest: the newest place in the window we know of
        self.own = 1  # our counted answers in this window
        self.before = before  # others' requests counted before our first one (as far as sure)
        self.between = 0  # others' requests seen between high and low
        self.probing = probing  # one request at a time until a second answer in it
        self.shared = shared  # taken as shared whatever the others are seen doing

    @property
    def others(self) -> int:
        """The others' requests seen in this window."""
        return self.before + self.between


class ShareEstimator:
    """This client's fair share of a key's budget, from its own answers; see the module.

    Feed it every answer the server counted (``answered``) and every 429 (``rejected``); ask it
    whether others share the key (``sharing``), for the share, and how long the next request
    should wait (``delay``).
    """

    def __init__(self, *, window: float) -> None:
        """``window`` is the window length assumed until answers show it (seconds)."""
        self.window = window
        """The longest time from an answer to its reset seen: about the window's length."""
        self._window_seen = False
        self._current: _Window | None = None
        self._own_done = 0  # our counted requests in windows before the current one
        self._others_done = 0  # the others' requests seen in those windows
        self._samples: deque[_Sample] = deque()
        self._last_answer = 0.0
        self._others_seen: float | None = None  # when the others' count last grew
        self._cut = 1.0

    def answered(
        self,
        *,
        limit: int,
        remaining: int,
        reset: float,
        time_left: float,
        now: float,
        in_flight: int,
    ) -> None:
        """Take an answer the server counted (any status but 429), at ``now``.

        Args:
            limit: its ``X-RateLimit-Limit``.
            remaining: its ``X-RateLimit-Remaining``.
            reset: its ``X-RateLimit-Reset`` as sent (only compared with other answers').
            time_left: seconds from ``now`` to that reset, on our clock.
            now: when it arrived.
            in_flight: our other requests sent and not answered yet.
        """
        window = self._current
        if window is None or reset > window.reset + SAME_WINDOW:
            # Requests counted before ours that were not ours (as far as sure: ours in flight
            # may have been counted first).
            before = max(0, limit - 1 - remaining - in_flight)
            if window is None:
                # Our first window: that spending may be long over (a script run twice in a
                # window), so it only makes us probe; so does none, if we sent nothing else
                # yet: others may be starting too.
                self._current = _Window(
                    reset, remaining, before=0, probing=in_flight == 0, shared=before > 0
                )
            else:
                # Later windows: we were there, so it was spent while we were.
                self._own_done += window.own
                self._others_done += window.others
                self._current = _Window(reset, remaining, before=before, probing=before > 0)
        elif reset < window.reset - SAME_WINDOW:
            self._own_done += 1  # late, from a window already left: ours, nothing more to learn
        else:
            window.own += 1
            window.high = max(window.high, remaining)
            window.low = min(window.low, remaining)
            between = window.high - window.low - (window.own - 1) - in_flight
            window.between = max(window.between, between)
        if time_left > 0:
            # The first answer replaces the assumed length (a minute would make "recent" far
            # too long for a short window); later ones only lengthen it, since the first
            # answer of a window sees almost all of it.
            if self._window_seen:
                self.window = max(self.window, time_left)
            else:
                self.window, self._window_seen = time_left, True
        self._last_answer = now
        if self._cut < 1.0:  # a 429 cut the share: each answer gives a little back
            self._cut = min(1.0, self._cut + RECOVERY)
        self._record(now)

    def rejected(self) -> None:
        """Take a 429: the budget predicted was not there, so the share is cut at once."""
        self._cut = max(MIN_CUT, self._cut * CUT)

    def _record(self, now: float) -> None:
        current = self._current
        own = self._own_done + (current.own if current else 0)
        others = self._others_done + (current.others if current else 0)
        samples = self._samples
        if samples and others > samples[-1].others:
            self._others_seen = now
        samples.append(_Sample(now, own, others))
        # Keep one sample at or before the start of the recent past, as the base of the rates.
        while len(samples) > 1 and samples[1].time <= now - self.window:
            samples.popleft()

    def _recent(self, now: float) -> tuple[int, int, float]:
        """Our requests, the others' and the seconds they span, over the recent past."""
        samples = self._samples
        if len(samples) < 2:
            return 0, 0, 0.0
        base, last = samples[0], samples[-1]
        return last.own - base.own, last.others - base.others, max(0.0, now - base.time)

    def sharing(self, now: float) -> bool:
        """Whether others were seen spending the key's budget in the last ``MEMORY`` windows.

        Also in our first window when its first answer showed that others had spent some.
        """
        seen = self._others_seen
        if seen is not None and now - seen <= MEMORY * self.window:
            return True
        return self._current is not None and self._current.shared

    def others_rate(self, now: float) -> float:
        """The others' recent spending, in requests per second (0 when not seen)."""
        _own, others, span = self._recent(now)
        return others / span if span > 0 else 0.0

    def share(self, now: float) -> float:
        """Our share of what is left of the budget: 1 alone; see the module while sharing."""
        own, others, _span = self._recent(now)
        if others <= 0:
            return 1.0
        part = own / (own + others)
        ours, theirs = math.pow(part, NUDGE), math.pow(1 - part, NUDGE)
        nudged = ours / (ours + theirs)
        return max(MIN_SHARE, nudged) * self._cut

    def uncertain(self) -> bool:
        """Whether the others' spending in this window is unknown: probe it one at a time.

        That is until a second answer in the window, when the first showed spending not ours
        (a process starting mid-window), or was our first answer at all with nothing else
        sent (processes started together each look first).
        """
        window = self._current
        return window is not None and window.probing and window.own < 2

    def delay(self, *, now: float, left: int, time_left: float, last_sent: float) -> float:
        """Seconds the next request should wait, while sharing, to keep to our share.

        Args:
            now: the time now.
            left: the requests left in the window as we count them (the last answer's
                ``Remaining`` less our requests sent since).
            time_left: seconds to the window's reset.
            last_sent: when our last request was sent.

        Returns:
            0 alone; while sharing, the time until our share of what is left, spread over the
            time left, allows the next request; ``time_left`` (wait for the reset) when our
            share is less than one request.
        """
        if time_left <= 0 or not self.sharing(now):
            return 0.0
        since = max(0.0, now - self._last_answer)
        predicted = left - self.others_rate(now) * since
        ours = self.share(now) * predicted
        if ours < 1:
            return time_left
        return max(0.0, last_sent + time_left / ours - now)
