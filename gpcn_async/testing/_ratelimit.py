"""The fake's rate limiter: fixed windows, each starting at the first request after the last one.

Pure: the caller passes the monotonic time, so the arithmetic is testable without sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpcn_async.testing._checks import require_int, require_seconds

__all__ = ["Decision", "FixedWindowLimiter", "validate_limits"]


def validate_limits(limit: object, window: object) -> None:
    """Check a limit and a window.

    Raises:
        ValueError: ``limit`` is not an int >= 1 or ``window`` not a finite number > 0.
    """
    require_int("rate_limit", limit, 1)
    require_seconds("rate_window", window, positive=True)


@dataclass(frozen=True)
class Decision:
    """The limiter's verdict on one request.

    Attributes:
        allowed: False when the request is over the limit (answer 429).
        limit: The requests allowed per window.
        remaining: The requests left in this window after this one.
        resets_in: Seconds until the window ends.
    """

    allowed: bool
    limit: int
    remaining: int
    resets_in: float

    @property
    def retry_after(self) -> int:
        """Whole seconds until the window ends, at least 1."""
        return max(1, math.ceil(self.resets_in))


class FixedWindowLimiter:
    """At most ``limit`` requests per window of ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        validate_limits(limit, window)
        self.limit = limit
        self.window = float(window)
        self._start: float | None = None
        self._count = 0

    def reset(self, limit: int, window: float) -> None:
        """Change the limit and window; the next request starts a new window."""
        validate_limits(limit, window)
        self.limit = limit
        self.window = float(window)
        self._start = None
        self._count = 0

    def hit(self, now: float) -> Decision:
        """Count a request arriving at ``now`` (monotonic seconds) and decide on it."""
        if self._start is None or now >= self._start + self.window:
            self._start = now
            self._count = 0
        resets_in = self._start + self.window - now
        if self._count >= self.limit:
            return Decision(allowed=False, limit=self.limit, remaining=0, resets_in=resets_in)
        self._count += 1
        return Decision(
            allowed=True, limit=self.limit, remaining=self.limit - self._count, resets_in=resets_in
        )
