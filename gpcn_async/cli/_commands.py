"""What every subcommand works with: its ``Context``, the ``Outcome`` it returns, its errors.

A command never prints its result itself: ``main`` prints the ``Outcome`` as a table or as one
JSON document. Progress while waiting goes to ``Context.progress`` (stderr) as it happens. The
commands themselves are in ``_vm_commands``, ``_action_commands``, ``_job_commands`` and
``_account``.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

from gpcn_async import Client, GPCNError, InvalidRequestError, Job

__all__ = [
    "Accepted",
    "CommandError",
    "Context",
    "Going",
    "Handler",
    "Outcome",
    "UsageError",
    "attempt",
    "interrupted_line",
    "mark_interrupted",
    "unique",
]

T = TypeVar("T")


class UsageError(Exception):
    """The command line asks for something impossible; exit status 2."""


class CommandError(Exception):
    """The command failed for a reason outside the API (a file that exists...); exit status 1."""


@dataclass(frozen=True)
class Outcome:
    """What a command produced.

    Attributes:
        document: the result for ``--json`` (SDK models in it are written as their ``to_dict()``).
        text: the result for people, printed on stdout.
        failure: when set, the command failed (exit status 1) and this line goes to stderr.
        note: a line for people that is not the result (printed on stderr, not with ``--json``).
    """

    document: object
    text: str
    failure: str | None = None
    note: str | None = None


@dataclass
class Accepted:
    """What to report if the command is interrupted (Ctrl-C) while it waits.

    A command that sets something going on the server sets ``report`` before it waits: a
    function that, called after the interruption, describes what was accepted (the jobs still
    going on, with the command that follows them) as an ``Outcome`` whose ``failure`` is the
    line for stderr. ``main`` prints that outcome, as it would have printed the result.
    """

    report: Callable[[], Outcome] | None = None


@dataclass(frozen=True)
class Context:
    """What a command runs with.

    Attributes:
        progress: where progress and narration go while the command runs.
        quiet: show no progress.
        client: the client, for commands that talk to the API (None for ``demo``).
        accepted: where the command leaves its report in case it is interrupted.
    """

    progress: TextIO
    quiet: bool = False
    client: Client | None = None
    accepted: Accepted = field(default_factory=Accepted)

    @property
    def gpcn(self) -> Client:
        """The client (only for commands that were given one)."""
        if self.client is None:
            raise RuntimeError("this command was run without a client")
        return self.client


Handler = Callable[[Context, argparse.Namespace], Awaitable[Outcome]]
"""The type of every command."""


def unique(ids: Sequence[str]) -> list[str]:
    """The ids in the order given, each once."""
    return list(dict.fromkeys(ids))


async def attempt(call: Awaitable[T]) -> T | GPCNError:
    """The call's result, or the API error it raised (bad arguments still raise)."""
    try:
        return await call
    except InvalidRequestError:
        raise  # a usage error, not an outcome of this id
    except GPCNError as error:
        return error


@dataclass(frozen=True)
class Going:
    """A job the server accepted, as an interrupted command names it."""

    job: Job[Any]
    vm_name: str | None = None
    vm_id: str | None = None

    def describe(self) -> str:
        """``JOB_ID (VM train-01, id VM_ID)``, with what is known of the VM."""
        vm = [part for part in (self.vm_name, self.vm_id and f"id {self.vm_id}") if part]
        return f"{self.job.id} (VM {', '.join(vm)})" if vm else str(self.job.id)


def interrupted_line(jobs: Sequence[Going]) -> str:
    """The stderr line of an interrupted wait: each accepted job, and how to follow it up."""
    known = [going for going in jobs if going.job.id is not None]
    going = [item for item in known if not item.job.done()]
    if going:
        ids = " ".join(str(item.job.id) for item in going)
        if len(going) == 1:
            return (
                f"interrupted: job {going[0].describe()} goes on on the server; "
                f"wait for it with: gpcn jobs wait {ids}"
            )
        listed = ", ".join(item.describe() for item in going)
        return (
            f"interrupted: {len(going)} jobs go on on the server: {listed}; "
            f"wait for them with: gpcn jobs wait {ids}"
        )
    if known:
        ids = " ".join(str(item.job.id) for item in known)
        return f"interrupted after the jobs ended; see them with: gpcn jobs status {ids}"
    return "interrupted"


def mark_interrupted(outcome: Outcome, jobs: Sequence[Going]) -> Outcome:
    """The outcome of an interrupted wait: the document marked ``"interrupted": true``."""
    document = outcome.document
    if isinstance(document, dict):
        document = {**document, "interrupted": True}
        if "ok" in document:
            document["ok"] = False
    return Outcome(document, outcome.text, failure=interrupted_line(jobs))
