"""``fake.rate_limiter``: fixed windows, placed in one of two ways (the *alignment*), and 429s.

- ``"first-request"``: each window starts at the first request after the previous one ended
  (express-rate-limit's MemoryStore). Any clock works; the server passes monotonic time.
- ``"clock"``: window ``k`` covers ``[k * window, (k + 1) * window)`` on the clock passed, as API
  gateways and Redis counters keyed by ``floor(now / window)`` do. The server passes Unix time
  on its own clock (``clock_skew`` included), so a whole-second window ends on a whole second of
  it.

Pure: the caller passes the time, so the arithmetic is testable without sleeping.
``RateLimiter`` adds what the server needs around it: the ``X-RateLimit-*`` headers of every
answer, the 429 answers, and what a test sets and reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from gpcn_async.testing._checks import require_int, require_seconds
from gpcn_async.testing._render import Reply, rate_limited_body

__all__ = [
    "ALIGNMENTS",
    "Alignment",
    "Decision",
    "FixedWindowLimiter",
    "RateLimiter",
    "validate_alignment",
    "validate_limits",
]

Alignment = Literal["first-request", "clock"]

ALIGNMENTS: Final[tuple[Alignment, ...]] = ("first-request", "clock")
"""The window alignments, the default first."""


def validate_limits(limit: object, window: object) -> None:
    """Check a limit and a window.

    Raises:
        ValueError: ``limit`` is not an int >= 1 or ``window`` not a finite number > 0.
    """
    require_int("rate_limit", limit, 1)
    require_seconds("rate_window", window, positive=True)


def validate_alignment(alignment: object) -> Alignment:
    """Return ``alignment`` if it is ``"first-request"`` or ``"clock"``.

    Raises:
        ValueError: Naming ``rate_alignment`` and the bad value.
    """
    if not isinstance(alignment, str) or alignment not in ALIGNMENTS:
        raise ValueError(f"rate_alignment must be 'first-request' or 'clock', got {alignment!r}")
    return alignment


@dataclass(frozen=True)
class Decision:
    """The limiter's verdict on one request.

    Attributes:
        allowed: False when the request is over the limit (answer 429).
        limit: The requests allowed per window.
        remaining: The requests left in this window after this one.
        resets_in: Seconds until the window ends (> 0).
        resets_at: When the window ends, on the clock of the time given to ``hit()``.
    """

    allowed: bool
    limit: int
    remaining: int
    resets_in: float
    resets_at: float

    @property
    def retry_after(self) -> int:
        """Whole seconds until the window ends, at least 1."""
        return max(1, math.ceil(self.resets_in))


class FixedWindowLimiter:
    """At most ``limit`` requests per window of ``window`` seconds, placed per ``alignment``.

    Raises:
        ValueError: A bad limit, window or alignment (the message names it).
    """

    def __init__(self, limit: int, window: float, alignment: str = "first-request") -> None:
        validate_limits(limit, window)
        self.alignment: Alignment = validate_alignment(alignment)
        """``"first-request"`` or ``"clock"``."""
        self.limit = limit
        self.window = float(window)
        self._start: float | None = None
        self._count = 0

    @property
    def clock_aligned(self) -> bool:
        """Whether windows sit on multiples of ``window`` (so ``hit()`` wants Unix time)."""
        return self.alignment == "clock"

    def reset(self, limit: int, window: float, alignment: str | None = None) -> None:
        """Change the limit, window and (unless None) alignment; the count starts again.

        Raises:
            ValueError: A bad limit, window or alignment; nothing is changed then.
        """
        validate_limits(limit, window)
        chosen = self.alignment if alignment is None else validate_alignment(alignment)
        self.limit = limit
        self.window = float(window)
        self.alignment = chosen
        self._start = None
        self._count = 0

    def window_bounds(self, now: float) -> tuple[float, float]:
        """The start and end of the window holding a request at ``now`` (``start <= now < end``).

        First-request: the current window while ``now`` is inside it, else one starting at
        ``now``. Clock: ``[k * window, (k + 1) * window)`` with ``k = floor(now / window)``,
        corrected where floating-point rounding puts ``now`` outside it; computing both ends
        from ``k`` makes each window end exactly where the next one starts.
        """
        if not self.clock_aligned:
            start = self._start
            if start is None or not start <= now < start + self.window:
                start = now
            return start, start + self.window
        index = math.floor(now / self.window)
        while index * self.window > now:
            index -= 1
        while (index + 1) * self.window <= now:
            index += 1
        return index * self.window, (index + 1) * self.window

    def hit(self, now: float) -> Decision:
        """Count a request arriving at ``now`` and decide on it.

        ``now`` is in seconds: any monotonic clock for ``"first-request"``, Unix time
        (``time.time()``) for ``"clock"`` so that windows sit on the wall clock's multiples.
        """
        start, resets_at = self.window_bounds(now)
        if start != self._start:
            self._start = start
            self._count = 0
        resets_in = resets_at - now
        if self._count >= self.limit:
            return Decision(
                allowed=False,
                limit=self.limit,
                remaining=0,
                resets_in=resets_in,
                resets_at=resets_at,
            )
        self._count += 1
        return Decision(
            allowed=True,
            limit=self.limit,
            remaining=self.limit - self._count,
            resets_in=resets_in,
            resets_at=resets_at,
        )


class RateLimiter:
    """``fake.rate_limiter``: the limit every request meets, with real ``X-RateLimit-*`` headers.

    Args:
        windows: The fixed-window limiter (see ``FixedWindowLimiter``).
        dialect: The wire dialect of the 429 bodies.
        retry_after_header: Send ``Retry-After`` with the limiter's 429s.
    """

    def __init__(
        self, windows: FixedWindowLimiter, dialect: str, *, retry_after_header: bool
    ) -> None:
        self._windows = windows
        self._dialect = dialect
        self._limited = 0
        self.retry_after_header = bool(retry_after_header)
        """Whether the limiter's 429s carry ``Retry-After``."""

    def set(self, limit: int, window: float, *, alignment: str | None = None) -> None:
        """Allow ``limit`` requests per ``window`` seconds from now on (the count starts again).

        Args:
            limit: Requests allowed per window.
            window: The window's length in seconds.
            alignment: ``"first-request"`` or ``"clock"`` (see ``FakeGPCN``); None keeps the
                current one. A first-request window starts with the next request; a
                clock-aligned one is the multiple of ``window`` holding it.

        Raises:
            ValueError: ``limit < 1``, ``window <= 0`` or an unknown alignment; nothing changes.
        """
        self._windows.reset(limit, window, alignment)

    @property
    def limit(self) -> int:
        """The requests allowed per window."""
        return self._windows.limit

    @property
    def window(self) -> float:
        """The window's length in seconds."""
        return self._windows.window

    @property
    def alignment(self) -> str:
        """Where windows start: ``"first-request"`` or ``"clock"``."""
        return self._windows.alignment

    @property
    def limited_count(self) -> int:
        """How many 429s the limiter sent (injected ones not counted)."""
        return self._limited

    def check(self, arrived: float, wall: float) -> tuple[dict[str, str], Reply | None]:
        """Count a request that arrived at ``arrived`` (monotonic), ``wall`` (the fake's Unix time).

        Clock-aligned windows are counted in the fake's Unix time (skew included), so they sit
        on its multiples; first-request ones in monotonic time, so setting the wall clock or
        ``clock_skew`` cannot move them. ``offset`` turns the window's end into the fake's Unix
        time for ``X-RateLimit-Reset``.

        Returns:
            The ``X-RateLimit-*`` headers, and the 429 to answer if the request is over the limit.
        """
        if self._windows.clock_aligned:
            decision, offset = self._windows.hit(wall), 0.0
        else:
            decision, offset = self._windows.hit(arrived), wall - arrived
        headers = self._headers(decision, decision.resets_at + offset)
        if decision.allowed:
            return headers, None
        self._limited += 1
        return headers, self.reply(decision.retry_after)

    def reply(self, retry_after: int) -> Reply:
        """The 429 answer: the dialect's rate-limited body, and ``Retry-After`` unless off."""
        reply = Reply.json(429, rate_limited_body(self._dialect, retry_after))
        if self.retry_after_header:
            reply = reply.with_headers({"Retry-After": str(retry_after)})
        return reply

    def _headers(self, decision: Decision, reset: float) -> dict[str, str]:
        """The ``X-RateLimit-*`` headers for a window ending at Unix time ``reset``.

        The reset is rounded up, never down, so a client waiting for it never sends early: to
        whole seconds for windows of 1 s or more (as the real API does), else to milliseconds.
        """
        if self._windows.window >= 1:
            reset_text = str(math.ceil(reset))
        else:
            reset_text = f"{math.ceil(reset * 1000) / 1000:.3f}"
        return {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": reset_text,
        }
