"""Which of the processes sharing a journal follows the fleet's accepted orders.

Each process polling the jobs of its own orders would multiply the poll requests by the number
of processes, all spent from one API key. So one of them, the **watcher**, follows every
accepted order (its client polls them together, 50 to a request); the others hand theirs over
in the journal and wait there. The watcher is whoever holds a claim on a name no member can
bear; claims expire when their process dies, so another process takes over within
``claim_ttl``. A journal for one process at a time always grants it: that process watches.
"""

from __future__ import annotations

from gpcn_async.fleet._journal import Journal

__all__ = ["Watcher"]


class Watcher:
    """This process's part in following the fleet's accepted orders.

    Args:
        journal: the fleet's journal, held by this process.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        # "~" is not allowed in a fleet's name, so no member ("<fleet>-NNN") can be called so.
        self._name = f"{journal.fleet}~watcher"
        self._held = False

    @property
    def held(self) -> bool:
        """Whether this process follows the fleet's accepted orders (once taken, until released)."""
        return self._held

    async def take(self) -> bool:
        """Become the watcher if nobody is (or the last one died); True if newly taken."""
        if self._held:
            return False
        self._held = bool(await self._journal.claim([self._name]))
        return self._held

    async def let_go(self) -> None:
        """Stop watching, leaving no trace in the journal (another process may take over)."""
        if self._held:
            await self._journal.remove([self._name])
            self._held = False
