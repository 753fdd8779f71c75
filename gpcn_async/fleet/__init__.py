"""Crash-safe fleets: order N GPU VMs, stop, start and delete them, and survive a SIGKILL.

GPCN has no idempotency key for a create, so a script killed after sending an order cannot
know whether the order arrived, and running it again would order a duplicate (billed by the
hour). A ``Fleet`` writes each step to a journal (an SQLite file by default) before and after
taking it, and looks orders with no recorded answer up by name before ordering again::

    from gpcn_async import Client
    from gpcn_async.fleet import Fleet

    async with Client() as gpcn:
        fleet = Fleet(gpcn, "train-a", journal="train-a.db")
        vms = await fleet.ensure(8, code="nvidia-h100", gpu_count=4, ssh_key_id=key_id)
        await fleet.teardown()

Built on the SDK's public API only. The fleet logic talks to the journal through ``Journal``;
``SqliteJournal`` is the embedded implementation, for one process at a time, and
``PostgresJournal`` (``journal="postgresql://..."``, the ``postgres`` extra) is shared by any
number of processes on any number of hosts, which claim members before acting on them.
"""

from gpcn_async.fleet._fleet import Fleet, journal_for
from gpcn_async.fleet._journal import Journal
from gpcn_async.fleet._members import Member, MemberState
from gpcn_async.fleet._postgres import PostgresJournal
from gpcn_async.fleet._sqlite import SqliteJournal

__all__ = [
    "Fleet",
    "Journal",
    "Member",
    "MemberState",
    "PostgresJournal",
    "SqliteJournal",
    "journal_for",
]
