"""Fake jobs: what each one will do (its script) and how it progresses (plain data, no I/O).

A job finishes either after a number of polls that include it (the poll that makes it terminal
answers the terminal state) or after a duration since its creation. Progress rises linearly from 0
to 100 at success, or follows a scripted curve: one value per poll, or equal slices of the
duration. A failure or cancellation keeps the last progress (the curve's last value).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, cast

from gpcn_async.testing._checks import require_int, require_seconds, require_text

__all__ = ["OUTCOMES", "JobRecord", "JobScript", "Outcome", "check_progress", "make_script"]

Outcome = Literal["succeeded", "failed", "cancelled"]
"""How a job ends."""

OUTCOMES: tuple[str, ...] = ("succeeded", "failed", "cancelled")
"""The outcomes a script may set."""

_EARLY = 1e-12
"""How much earlier than computed ``next_change`` answers, relative to the times involved: far
more than the float rounding of ``advance``'s own arithmetic, so the answer is never late."""


@dataclass(frozen=True)
class JobScript:
    """What a job will do.

    Exactly one of ``polls`` and ``duration`` is set.

    Attributes:
        polls: Finish on the ``polls``-th poll that includes the job.
        duration: Finish ``duration`` seconds after the job was created.
        outcome: ``"succeeded"``, ``"failed"`` or ``"cancelled"``.
        error: The failure text (failed or cancelled jobs only).
        progress: The progress values reported while running, or None for a linear rise. With
            ``polls``, the k-th poll reports ``progress[k - 1]`` (so ``polls`` is
            ``len(progress) + 1``); with ``duration``, the values take equal slices of it.
    """

    polls: int | None = 2
    duration: float | None = None
    outcome: Outcome = "succeeded"
    error: str | None = None
    progress: tuple[int, ...] | None = None


def check_progress(progress: object) -> tuple[int, ...]:
    """Return a progress curve as a tuple after checking it.

    Raises:
        ValueError: Not a non-empty sequence of ints from 0 to 100, or a value below the one
            before it (progress never goes back).
    """
    if (
        isinstance(progress, str | bytes)
        or not isinstance(progress, Sequence)
        or not progress
        or not all(
            isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100
            for value in progress
        )
    ):
        raise ValueError(
            f"progress must be a non-empty sequence of ints from 0 to 100, got {progress!r}"
        )
    curve = tuple(progress)
    for index in range(1, len(curve)):
        if curve[index] < curve[index - 1]:
            raise ValueError(
                f"progress never goes back, but progress[{index}]={curve[index]} is below "
                f"progress[{index - 1}]={curve[index - 1]} in {list(curve)}"
            )
    return curve


def make_script(
    *,
    polls: int | None,
    duration: float | None,
    outcome: str,
    error: str | None,
    default: JobScript,
    allow_cancelled: bool = True,
    progress: Sequence[int] | None = None,
) -> JobScript:
    """Validate scripting arguments and build a script.

    Without ``polls``, ``duration`` and ``progress`` the timing and curve are ``default``'s; a
    ``progress`` curve without a timing means one value per poll (``polls = len(progress) + 1``).

    Raises:
        ValueError: Both timings, ``polls < 1``, a negative or non-finite duration, an unknown
            outcome, ``"cancelled"`` where the dialect has none, an error text that is not a
            non-empty string or is given for a success, a bad curve, or ``polls`` that do not fit
            the curve.
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
    if error is not None:
        require_text("error (or None)", error)
    if error is not None and outcome == "succeeded":
        raise ValueError(f"error {error!r} given for a job scripted to succeed")
    curve = None if progress is None else check_progress(progress)
    if curve is not None and duration is None:
        if polls is not None and polls != len(curve) + 1:
            raise ValueError(
                f"polls={polls!r} does not fit progress {list(curve)}: a curve of {len(curve)} "
                f"values needs polls={len(curve) + 1} (one poll per value, then the final one)"
            )
        polls = len(curve) + 1
    if polls is None and duration is None:
        polls, duration, curve = default.polls, default.duration, default.progress
    return JobScript(
        polls=polls,
        duration=duration,
        outcome=cast("Outcome", outcome),
        error=error,
        progress=curve,
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

    def next_change(self) -> float | None:
        """Return when an unpolled ``advance`` may next change the job, or None if it never will.

        The time is on the ``started`` clock and never later than the first ``now`` at or after
        ``started`` for which ``advance(now=now, polled=False)`` would raise the progress or end
        the job, given its current script and progress (it may be a hair earlier, never later).
        Polls only raise the progress, so they can only make that moment later. None for a
        terminal job or one whose script counts polls.
        """
        script = self.script
        if self.terminal or script.duration is None:
            return None
        duration, curve = script.duration, script.progress
        share = 1.0  # the share of the duration at which the progress next rises (or it ends)
        if curve is not None:
            rise = next((index for index, value in enumerate(curve) if value > self.progress), None)
            if rise is not None:
                share = rise / len(curve)
        elif self.progress < 99:
            share = (self.progress + 1) / 100
        return self.started + duration * share - _EARLY * (abs(self.started) + duration + 1.0)

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
        script, curve = self.script, self.script.progress
        if script.duration is not None:
            # A clock read before the start (an injected clock set back) counts as the start.
            elapsed = max(0.0, now - self.started)
            done = elapsed >= script.duration
            share = elapsed / script.duration if script.duration else 1.0
            if curve is not None:
                progress = curve[min(len(curve) - 1, int(len(curve) * share))]
            else:
                progress = 0 if done else min(99, int(100 * share))
        else:
            target = script.polls or 1
            done = self.poll_count >= target
            if curve is not None:
                progress = curve[min(self.poll_count, len(curve)) - 1] if self.poll_count else 0
            else:
                progress = min(99, 100 * self.poll_count // target)
        if done:
            if curve is not None:  # the whole curve has played, observed or not
                self.progress = max(self.progress, curve[-1])
            self.finish(script.outcome, wall=wall, error=script.error)
            return True
        if progress > self.progress:
            self.progress = progress
            self.updated_at = wall
        return False

    def finish(self, outcome: Outcome, *, wall: datetime, error: str | None = None) -> None:
        """End the job now with ``outcome`` and failure text ``error``.

        Success shows 100 %; a failure or cancellation keeps the progress reached.
        """
        self.script = replace(self.script, outcome=outcome, error=error)
        self.state = outcome
        if outcome == "succeeded":
            self.progress = 100
        self.updated_at = self.completed_at = wall
