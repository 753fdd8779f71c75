"""Fake jobs: what each one will do (its script) and how it progresses (plain data, no I/O).

A job finishes either after a number of polls that include it (the poll that makes it terminal
answers the terminal state) or after a duration since its creation. Progress rises linearly from 0
to 100 at success; a failure or cancellation keeps the last progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from gpcn_async.testing._checks import require_int, require_seconds

__all__ = ["OUTCOMES", "JobRecord", "JobScript", "Outcome", "make_script"]

Outcome = Literal["succeeded", "failed", "cancelled"]
"""How a job ends."""

OUTCOMES: tuple[str, ...] = ("succeeded", "failed", "cancelled")
"""The outcomes a script may set."""


@dataclass(frozen=True)
class JobScript:
    """What a job will do.

    Exactly one of ``polls`` and ``duration`` is set.

    Attributes:
        polls: Finish on the ``polls``-th poll that includes the job.
        duration: Finish ``duration`` seconds after the job was created.
        outcome: ``"succeeded"``, ``"failed"`` or ``"cancelled"``.
        error: The failure text (failed or cancelled jobs only).
    """

    polls: int | None = 2
    duration: float | None = None
    outcome: Outcome = "succeeded"
    error: str | None = None


def make_script(
    *,
    polls: int | None,
    duration: float | None,
    outcome: str,
    error: str | None,
    default: JobScript,
    allow_cancelled: bool = True,
) -> JobScript:
    """Validate scripting arguments and build a script; the timing falls back to ``default``.

    Raises:
        ValueError: Both timings, ``polls < 1``, a negative or non-finite duration, an unknown
            outcome, ``"cancelled"`` where the dialect has none, or an error text for a success.
    """
    if polls is not None and duration is not None:
        raise ValueError(
            f"give polls or duration, not both (polls={polls!r}, duration={duration!r})"
        )
    if polls is not None:
        require_int("polls", polls, 1)
    if duration is not None:
        duration = require_seconds("duration", duration)
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if outcome == "cancelled" and not allow_cancelled:
        raise ValueError("outcome 'cancelled' is impossible in the guide dialect (no such status)")
    if error is not None and outcome == "succeeded":
        raise ValueError(f"error {error!r} given for a job scripted to succeed")
    if polls is None and duration is None:
        polls, duration = default.polls, default.duration
    return JobScript(
        polls=polls,
        duration=duration,
        outcome=cast("Outcome", outcome),
        error=error,
    )


@dataclass
class JobRecord:
    """A job of the fake.

    Attributes:
        id: The job id (a uuid string).
        operation: ``"create"``, ``"delete"``, ``"start"``, ``"stop"``, ``"reset"``, ...
        resource_id: The VM the job acts on, if any.
        resource_name: The VM's name when the job started.
        script: What the job will do.
        created_at: Wall-clock creation time (UTC).
        started: ``time.monotonic()`` at creation (duration scripts count from it).
        poll_count: How many poll requests included the job.
        state: ``"running"``, ``"succeeded"``, ``"failed"`` or ``"cancelled"``.
        progress: 0 to 100.
        updated_at: Last change (UTC).
        completed_at: When it became terminal (UTC), else None.
    """

    id: str
    operation: str
    resource_id: str | None
    resource_name: str | None
    script: JobScript
    created_at: datetime
    started: float
    poll_count: int = 0
    state: str = "running"
    progress: int = 0
    updated_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self.state != "running"

    @property
    def error(self) -> str | None:
        """The failure text of a failed or cancelled job, else None."""
        if self.state == "failed":
            return self.script.error or "Job failed"
        if self.state == "cancelled":
            return self.script.error
        return None

    def expected_end(self) -> float:
        """Return the seconds from creation the job is expected to take (a hint, not a promise)."""
        if self.script.duration is not None:
            return self.script.duration
        return float(self.script.polls or 1)

    def advance(self, *, now: float, wall: datetime, polled: bool) -> bool:
        """Move the job along: count a poll if ``polled``, then apply its script.

        Args:
            now: The current ``time.monotonic()``.
            wall: The current wall-clock time (UTC).
            polled: Whether this call is for a poll request that includes the job.

        Returns:
            True if the job became terminal during this call.
        """
        if polled:
            self.poll_count += 1
        if self.terminal:
            return False
        script = self.script
        if script.duration is not None:
            elapsed = now - self.started
            done = elapsed >= script.duration
            progress = 0 if done else min(99, int(100 * elapsed / script.duration))
        else:
            target = script.polls or 1
            done = self.poll_count >= target
            progress = min(99, 100 * self.poll_count // target)
        if done:
            self.state = script.outcome
            if script.outcome == "succeeded":
                self.progress = 100
            self.updated_at = self.completed_at = wall
            return True
        if progress > self.progress:
            self.progress = progress
            self.updated_at = wall
        return False
