"""``Journal``: where a fleet keeps its intents and outcomes, whatever the store.

The fleet logic (``Fleet``) is written once against this interface and knows nothing of the
store behind it. ``SqliteJournal`` is the embedded one, for one process at a time;
``PostgresJournal`` is shared by any number of processes on any number of hosts, which
cooperate through claims on members.
"""

from __future__ import annotations

import abc
import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gpcn_async import ConfigurationError
from gpcn_async.fleet._members import Member, MemberState

__all__ = ["COLUMNS", "Journal", "journal_error", "member_from_row", "order_json"]

COLUMNS = "name, number, state, vm_id, vm_status, resume_token, params, error, updated_at"
"""A member's columns in every store, in the order ``member_from_row`` reads them."""


class Journal(abc.ABC):
    """The durable record of one fleet's members, and who is working on which.

    A process opens a session with ``hold()`` and ends it with ``release()``. Within it, it
    **claims** a member before acting on it (ordering, adopting, deleting, recording its
    state) and lets go of the claim when done: while claimed, no other session can claim it.
    Promises every implementation keeps:

    - ``claim()`` is one transaction: two sessions asking for the same members at once get
      disjoint sets, and a member claimed by another live session is skipped, not waited for.
    - A claim lasts until ``unclaim()``, ``remove()`` or ``release()``, or until its session
      stops renewing it for ``claim_ttl`` seconds (its process died): it may then be claimed
      by another session, which finds the member's record as the dead one left it.
    - ``put()`` and ``remove()`` are each one transaction, durable when they return: a process
      killed right after still finds the change on its next run, and one killed during the
      call finds all of it or none. A store shared by several processes refuses them for a
      member the session does not claim (``ConfigurationError``).
    - ``members()`` works whether held or not, and a reader never waits for a writer.
    - Errors of the store come out as ``ConfigurationError`` naming the journal (never a
      password), not as the store's own exceptions.
    """

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the journal is, for messages (a path, or a URL without its password)."""

    @property
    @abc.abstractmethod
    def fleet(self) -> str:
        """The name of the fleet whose journal this is."""

    @property
    @abc.abstractmethod
    def claim_ttl(self) -> float:
        """Seconds a claim outlives its session's last renewal (0: only the session ends it)."""

    @abc.abstractmethod
    async def hold(self) -> None:
        """Open a session in which this process may claim and write; set the store up on first use.

        Raises:
            ConfigurationError: the store cannot be had (a one-process store held by another
                live process, named), is not this fleet's journal, or cannot be used.
        """

    @abc.abstractmethod
    async def release(self) -> None:
        """End the session, letting go of its claims (safe to call when not holding)."""

    @abc.abstractmethod
    async def members(self) -> list[Member]:
        """Every member recorded, in number order (none for a journal not yet written)."""

    @abc.abstractmethod
    async def claim(
        self, names: Sequence[str], *, limit: int | None = None
    ) -> dict[str, Member | None]:
        """Claim those of ``names`` that no other live session claims, at most ``limit`` of them.

        Names are taken in the order given; those this session claims already are claimed
        again. Names without a record can be claimed (a member about to be ordered).

        Returns:
            Each member claimed, with its record as it stands (None: no record), in the order
            of ``names``. The names left out are claimed by other sessions.
        """

    @abc.abstractmethod
    async def unclaim(self, names: Sequence[str]) -> None:
        """Let go of these claims of this session (the records stay; other names are ignored)."""

    @abc.abstractmethod
    async def put(self, members: Sequence[Member]) -> None:
        """Record these claimed members (replacing their records), in one durable transaction.

        Each record's ``updated_at`` is set to the time of writing.
        """

    @abc.abstractmethod
    async def remove(self, names: Sequence[str]) -> None:
        """Forget these members and their claims, in one durable transaction.

        Names without a record are ignored (once claimed, where claims are checked).
        """

    async def changes(self, timeout: float) -> None:
        """Wait until another process let go of claims of the fleet, ``timeout`` at most.

        For a process waiting for others: a ``remove()`` or the end of a session since the
        last call ends the wait at once. A store that cannot tell waits the whole ``timeout``.
        """
        await asyncio.sleep(timeout)


def journal_error(location: str, problem: str) -> ConfigurationError:
    """The error of a journal that cannot be used, naming it and the problem."""
    return ConfigurationError(f"fleet journal {location}: {problem}")


def order_json(member: Member) -> str:
    """The member's order as stored: JSON with sorted keys (values it cannot encode as text)."""
    return json.dumps(dict(member.order), default=str, sort_keys=True)


def member_from_row(location: str, row: Sequence[Any]) -> Member:
    """A member from a store's row (``COLUMNS``); a row that cannot be read is an error.

    Raises:
        ConfigurationError: the row is damaged (an unknown state, an unreadable order or time).
    """
    name, number, state, vm_id, vm_status, token, params, error, updated = row
    try:
        order = json.loads(params)
        when = updated if isinstance(updated, datetime) else datetime.fromisoformat(updated)
        return Member(
            name=name,
            number=number,
            state=MemberState(state),
            vm_id=vm_id,
            vm_status=vm_status,
            resume_token=token,
            order=order if isinstance(order, dict) else {},
            error=error,
            updated_at=when,
        )
    except (ValueError, TypeError) as exc:
        raise journal_error(location, f"member {name!r} is damaged: {exc}") from None
