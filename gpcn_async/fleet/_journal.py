"""``Journal``: where a fleet keeps its intents and outcomes, whatever the store.

The fleet logic (``Fleet``) is written once against this interface and knows nothing of the
store behind it. ``SqliteJournal`` is the embedded one; another store (PostgreSQL, for fleets run
from several hosts) implements the same methods with the same promises.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from gpcn_async import ConfigurationError
from gpcn_async.fleet._members import Member

__all__ = ["Journal", "journal_error"]


class Journal(abc.ABC):
    """The durable record of one fleet's members.

    Promises every implementation keeps:

    - ``put()`` and ``remove()`` are each one transaction, durable when they return: a process
      killed right after still finds the change on its next run, and one killed during the
      call finds all of it or none.
    - Between ``hold()`` and ``release()`` the caller is the only process that writes the
      fleet's records (how is the store's business: a lock, claims...); ``hold()`` refuses
      with ``ConfigurationError`` when that cannot be had, naming who has it.
    - ``members()`` works whether held or not, and a reader never waits for a holder.
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

    @abc.abstractmethod
    async def hold(self) -> None:
        """Become the one writer of the fleet's records; set the store up on first use.

        Raises:
            ConfigurationError: another live process holds it (the message names it), or the
                store is not this fleet's journal, or cannot be used.
        """

    @abc.abstractmethod
    async def release(self) -> None:
        """Stop being the writer (safe to call when not holding)."""

    @abc.abstractmethod
    async def members(self) -> list[Member]:
        """Every member recorded, in number order (none for a journal not yet written)."""

    @abc.abstractmethod
    async def put(self, members: Sequence[Member]) -> None:
        """Record these members (replacing their earlier records), in one durable transaction.

        Each record's ``updated_at`` is set to the time of writing.
        """

    @abc.abstractmethod
    async def remove(self, names: Sequence[str]) -> None:
        """Forget these members, in one durable transaction (unknown names are ignored)."""


def journal_error(location: str, problem: str) -> ConfigurationError:
    """The error of a journal that cannot be used, naming it and the problem."""
    return ConfigurationError(f"fleet journal {location}: {problem}")
