"""Which of the processes sharing a journal brings the fleet up: the fleet's **lead**.

Every request of every process is spent from one API key's budget, so splitting the orders
between processes cannot make them go out faster: it only makes each process see the others
spending and pace itself (see ``gpcn_async._share``), and makes each poll its own jobs. So one
process at a time, the lead, orders the missing members and follows their jobs together (its
client polls them 50 to a request); the others stand by in the journal, sending nothing, and
either find the fleet ready or take over. The lead is whoever holds a claim on a name no member
can bear; claims expire when their process dies, so another process takes over within
``claim_ttl``. A journal for one process at a time always grants it.
"""

from __future__ import annotations

from gpcn_async.fleet._journal import Journal

__all__ = ["Lead"]


class Lead:
    """This process's part in bringing the fleet up: the lead, or standing by.

    Args:
        journal: the fleet's journal, held by this process.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        # "~" is not allowed in a fleet's name, so no member ("<fleet>-NNN") can be called so.
        self._name = f"{journal.fleet}~lead"
        self._held = False

    @property
    def held(self) -> bool:
        """Whether this process leads (once taken, until let go)."""
        return self._held

    async def take(self) -> bool:
        """Lead if nobody does (or the last lead died); whether this process leads now."""
        if not self._held:
            self._held = bool(await self._journal.claim([self._name]))
        return self._held

    async def let_go(self) -> None:
        """Stop leading, leaving no trace in the journal (a process standing by takes over)."""
        if self._held:
            await self._journal.remove([self._name])
            self._held = False
