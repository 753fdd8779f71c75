"""Progress while waiting for jobs: live bars on a terminal, plain lines otherwise.

``follow()`` watches any number of jobs at once with ``Job.watch()`` (all of them polled
together by the client's one poller) and reports each change to a ``Reporter``:

- on a terminal, with ``rich`` installed (the ``cli`` extra): one live bar per job, or one
  fleet bar beyond ``FLEET_THRESHOLD`` jobs;
- otherwise (a pipe, a file, a CI log, or no ``rich``): plain lines such as
  ``train-01: running 40%`` and ``train-01: succeeded``, or fleet lines ``jobs: 12/40 done``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TextIO, TypeVar

from gpcn_async import GPCNError, Job, JobStatus
from gpcn_async.cli._render import describe_status, one_line

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["FLEET_THRESHOLD", "Followed", "PlainReporter", "Reporter", "follow", "make_reporter"]

T = TypeVar("T")

FLEET_THRESHOLD = 10
"""Beyond this many jobs, one fleet summary replaces the per-job bars or lines."""


class Reporter(Protocol):
    """Shows how the jobs being waited for are doing; jobs are known by their index."""

    def status(self, index: int, status: JobStatus) -> None:
        """A job has a new status (state or progress changed)."""

    def finished(self, index: int, error: GPCNError | None) -> None:
        """A job is over: it succeeded (``error`` is None) or could not succeed."""

    def close(self) -> None:
        """Every job is over, or the wait was abandoned: stop showing progress."""


class SilentReporter:
    """Shows nothing (``--quiet``)."""

    def status(self, index: int, status: JobStatus) -> None:
        """Ignore the status."""

    def finished(self, index: int, error: GPCNError | None) -> None:
        """Ignore the outcome."""

    def close(self) -> None:
        """Nothing to stop."""


class _Tally:
    """What a fleet summary needs: the progress of each job and how many are over."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.progress = [0.0] * total
        self.done = 0
        self.failed = 0

    def status(self, index: int, status: JobStatus) -> None:
        if status.progress is not None:
            self.progress[index] = max(0.0, min(100.0, float(status.progress)))

    def finished(self, index: int, error: GPCNError | None) -> None:
        self.progress[index] = 100.0
        self.done += 1
        if error is not None:
            self.failed += 1

    def summary(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.done}/{self.total} done{failed}"


class PlainReporter:
    """One line per change, for logs and pipes; a fleet line per finished job beyond ten jobs."""

    def __init__(self, labels: Sequence[str], stream: TextIO) -> None:
        self._labels = list(labels)
        self._stream = stream
        self._fleet = _Tally(len(labels)) if len(labels) > FLEET_THRESHOLD else None
        self._last: dict[int, str] = {}  # the line last printed for each job
        if self._fleet is not None:
            self._write(f"jobs: waiting for {len(labels)} jobs")

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def status(self, index: int, status: JobStatus) -> None:
        """Print ``label: running 40%`` (terminal states are printed by ``finished``).

        A change that does not show (a new message, a progress while pending) prints nothing:
        a log never holds the same line twice in a row for a job.
        """
        if self._fleet is not None:
            self._fleet.status(index, status)
            return
        line = f"{self._labels[index]}: {describe_status(status)}"
        if not status.done and line != self._last.get(index):
            self._last[index] = line
            self._write(line)

    def finished(self, index: int, error: GPCNError | None) -> None:
        """Print ``label: succeeded`` or ``label: failed: reason`` (or the fleet's tally)."""
        if self._fleet is not None:
            self._fleet.finished(index, error)
            self._write(f"jobs: {self._fleet.summary()}")
            return
        outcome = "succeeded" if error is None else f"failed: {one_line(str(error))}"
        self._write(f"{self._labels[index]}: {outcome}")

    def close(self) -> None:
        """Nothing to stop: every line is already out."""


class _RichReporter:
    """Live bars with ``rich``: one per job, or one for the whole fleet."""

    def __init__(self, progress: Progress, labels: Sequence[str]) -> None:
        self._progress = progress
        self._labels = list(labels)
        self._fleet = _Tally(len(labels)) if len(labels) > FLEET_THRESHOLD else None
        if self._fleet is not None:
            self._tasks: list[TaskID] = [
                progress.add_task(f"{len(labels)} jobs", total=100, state=self._fleet.summary())
            ]
        else:
            self._tasks = [progress.add_task(label, total=100, state="pending") for label in labels]
        progress.start()

    def _update_fleet(self, fleet: _Tally) -> None:
        self._progress.update(
            self._tasks[0], completed=sum(fleet.progress) / fleet.total, state=fleet.summary()
        )

    def status(self, index: int, status: JobStatus) -> None:
        """Move the job's bar (or the fleet's)."""
        if self._fleet is not None:
            self._fleet.status(index, status)
            self._update_fleet(self._fleet)
            return
        # completed=None leaves the bar where it is when the server sent no progress.
        self._progress.update(
            self._tasks[index], completed=status.progress, state=describe_status(status)
        )

    def finished(self, index: int, error: GPCNError | None) -> None:
        """Fill the job's bar and show its outcome (or count it in the fleet's)."""
        if self._fleet is not None:
            self._fleet.finished(index, error)
            self._update_fleet(self._fleet)
            return
        state = "[green]succeeded" if error is None else f"[red]failed: {one_line(str(error))}"
        self._progress.update(self._tasks[index], completed=100, state=state)

    def close(self) -> None:
        """Draw the bars one last time and stop the live display."""
        self._progress.stop()


def _rich_reporter(labels: Sequence[str], stream: TextIO) -> Reporter | None:
    """Live bars, or None when ``rich`` (the ``cli`` extra) is not installed."""
    try:
        # Imported here: rich is optional, and the core package never needs it.
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )
    except ImportError:
        return None
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[state]}"),
        console=Console(file=stream),
    )
    return _RichReporter(progress, labels)


def make_reporter(labels: Sequence[str], stream: TextIO, *, quiet: bool = False) -> Reporter:
    """The reporter for these jobs: bars on a terminal (with rich), else plain lines.

    Args:
        labels: how each job is named, in order (a VM name, a VM id, a job id).
        stream: where progress goes (stderr, so that stdout stays for results).
        quiet: show nothing.
    """
    if quiet or not labels:
        return SilentReporter()
    if stream.isatty():
        reporter = _rich_reporter(labels, stream)
        if reporter is not None:
            return reporter
    return PlainReporter(labels, stream)


@dataclass(frozen=True)
class Followed(Generic[T]):
    """How one followed job ended.

    Attributes:
        label: the job's label, as given to ``follow``.
        job: the job.
        result: what ``job.wait()`` returned (None when it failed).
        error: why it did not succeed, or None.
    """

    label: str
    job: Job[T]
    result: T | None
    error: GPCNError | None

    @property
    def ok(self) -> bool:
        """Whether the job succeeded."""
        return self.error is None


async def follow(
    jobs: Sequence[tuple[str, Job[T]]],
    stream: TextIO,
    *,
    quiet: bool = False,
    finished: list[Followed[T]] | None = None,
) -> list[Followed[T]]:
    """Wait for every job at once, showing progress; one outcome per job, in order.

    A job that fails (or cannot be followed) does not stop the others. Cancelling the wait
    (Ctrl-C) stops the display and leaves the jobs running on the server.

    Args:
        jobs: (label, job) pairs.
        stream: where progress goes.
        quiet: show no progress.
        finished: when given, each job's outcome is appended to it as soon as the job ends,
            so that a wait cancelled midway (Ctrl-C) still tells which jobs had ended.
    """
    done: list[Followed[T]] = [] if finished is None else finished
    reporter = make_reporter([label for label, _ in jobs], stream, quiet=quiet)
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(_follow_one(index, label, job, reporter, done))
                for index, (label, job) in enumerate(jobs)
            ]
    finally:
        reporter.close()
    return [task.result() for task in tasks]


async def _follow_one(
    index: int, label: str, job: Job[T], reporter: Reporter, done: list[Followed[T]]
) -> Followed[T]:
    followed = await _outcome(index, label, job, reporter)
    done.append(followed)
    return followed


async def _outcome(index: int, label: str, job: Job[T], reporter: Reporter) -> Followed[T]:
    try:
        # aclosing: if this task is cancelled (Ctrl-C, a broken pipe), the watch ends here and
        # now, not whenever the abandoned generator is collected.
        async with contextlib.aclosing(job.watch()) as statuses:
            async for status in statuses:
                reporter.status(index, status)
        result = await job.wait()  # the job is over: this raises its failure, or fetches the VM
    except GPCNError as error:  # this job's outcome; the other jobs go on (CancelledError passes)
        reporter.finished(index, error)
        return Followed(label, job, None, error)
    reporter.finished(index, None)
    return Followed(label, job, result, None)
