"""``Fleet``: a named set of GPU VMs to order, stop, start and tear down, crash-safe."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Self

from gpcn_async import BulkResult, Client, GpuVm, InvalidRequestError
from gpcn_async.fleet._ensure import Ensure
from gpcn_async.fleet._journal import Journal, journal_error
from gpcn_async.fleet._members import Member, MemberState, check_count, check_fleet_name
from gpcn_async.fleet._order import check_order
from gpcn_async.fleet._postgres import PostgresJournal
from gpcn_async.fleet._postgres_schema import SCHEMES
from gpcn_async.fleet._server import find_members
from gpcn_async.fleet._sqlite import SqliteJournal
from gpcn_async.fleet._teardown import Teardown

__all__ = ["Fleet", "journal_for"]

logger = logging.getLogger("gpcn_async.fleet")

DEFAULT_CONCURRENCY = 8
"""How many orders (or deletes asked again) a fleet sends at once by default."""


class Fleet:
    """A named fleet of GPU VMs whose every step is kept in a journal.

    Members are named ``<name>-000``, ``<name>-001``, ...; ``ensure(count, ...)`` makes
    members ``0`` to ``count - 1`` exist and be ready, ordering each at most once even when the
    process running it is killed at any instant and started again::

        async with Client() as gpcn:
            fleet = Fleet(gpcn, "train-a", journal="train-a.db")
            vms = await fleet.ensure(8, code="nvidia-h100", gpu_count=4, ssh_key_id=key_id)
            await fleet.stop()
            await fleet.start()
            await fleet.teardown()

    Each call holds the journal for its own duration; ``async with fleet:`` holds it across
    several calls. Calls on one ``Fleet`` run one after another. An SQLite journal serves one
    process at a time (another gets ``ConfigurationError`` naming the holder's pid); with a
    PostgreSQL journal (``journal="postgresql://..."``) any number of processes on any
    number of hosts may run ``ensure()`` and ``teardown()`` on the fleet at once: each member
    is claimed by one of them before it is ordered or deleted.

    Args:
        client: the client to call the API with (only its public methods are used).
        name: the fleet's name: 1-50 letters, digits, ``.``, ``_`` or ``-``, starting with a
            letter or digit.
        journal: the journal's SQLite file (default ``<name>.db`` in the current folder;
            created if missing, its folder must exist), a ``postgresql://`` URL (a
            ``PostgresJournal`` with the default ``claim_ttl``; needs the ``postgres`` extra),
            or a ``Journal`` of this fleet.
        concurrency: how many orders are sent at once.
        progress: called with a member's name and what just happened to it, as a short text
            whose first word says what: ``ordering`` (the intent is recorded, the order is
            about to be sent), ``ordered``, ``resuming``, ``found``, ``ready``, ``unknown``
            (an answer was lost: it is looked up by name), ``not``, ``failed``, ``deleting``,
            ``deleted``, ``delete``. Every event is also logged at INFO on the
            ``gpcn_async.fleet`` logger.

    Raises:
        InvalidRequestError: a name that makes invalid VM names, or a bad ``concurrency``.
        ConfigurationError: the journal's folder does not exist, the journal is another
            fleet's, or a PostgreSQL journal without asyncpg installed.
    """

    def __init__(
        self,
        client: Client,
        name: str,
        *,
        journal: str | os.PathLike[str] | Journal | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: Callable[[str, str], object] | None = None,
    ) -> None:
        if not isinstance(client, Client):
            raise InvalidRequestError(f"client must be a gpcn_async.Client, got {client!r}")
        self._name = check_fleet_name(name)
        self._concurrency = _check_concurrency(concurrency)
        if isinstance(journal, Journal):
            if journal.fleet != self._name:
                raise journal_error(
                    journal.location, f"is the journal of fleet {journal.fleet!r}, not {name!r}"
                )
            self._journal = journal
        else:
            self._journal = journal_for(journal or f"{self._name}.db", fleet=self._name)
        self._gpcn = client
        self._progress = progress
        self._held = False
        self._busy = asyncio.Lock()

    @property
    def name(self) -> str:
        """The fleet's name."""
        return self._name

    @property
    def journal(self) -> Journal:
        """The fleet's journal."""
        return self._journal

    async def ensure(self, count: int, **order: Any) -> list[GpuVm]:
        """Make members ``0`` to ``count - 1`` exist and be ready; return them in name order.

        Members the journal or the server (by name) knows are reused, never ordered again; the
        others are ordered through ``gpcn.gpu.provision(**order)``, ``concurrency`` at a time,
        each order recorded in the journal before it is sent and its job after it is accepted.
        A run that was killed is taken up: accepted orders are followed by their jobs, and an
        order whose answer was never recorded is looked up by name before it is ordered again.
        Members numbered ``count`` or above are left alone: ``ensure()`` never deletes.

        Of several processes running ``ensure()`` on one shared journal, one at a time (the
        fleet's lead) does all that; the others send nothing until the members are ready in
        the journal (their VMs then come from one listing), or until the lead lets go or dies
        (then one of them leads).

        Args:
            count: how many members: an int >= 0.
            **order: ``provision()``'s arguments (``code=`` and ``gpu_count=`` at least;
                ``datacenters``, ``max_attempts``, ``ssh_key_id``, ``image_name``...), not
                ``name``.

        Raises:
            InvalidRequestError: a bad count or order (before any request), or an interrupted
                teardown of the fleet to finish first.
            ConfigurationError: the journal is held by another process or cannot be used (or,
                shared, a claim of this process was taken over after it paused).
            BulkError: some members are not ready; ``errors_by_id`` maps each one's name to why
                (``NoCapacityError``, ``JobFailedError``...). The others are ready, and the
                journal keeps everything: running ``ensure()`` again deals with those only.
        """
        count = check_count(count)
        checked = check_order(self._gpcn, order)
        async with self._holding():
            run = Ensure(
                self._gpcn,
                self._journal,
                checked,
                concurrency=self._concurrency,
                report=self._report,
            )
            return await run.run(count)

    async def teardown(self) -> list[Member]:
        """Delete every member the journal or the server (by name) knows, wait, empty the journal.

        Killed and run again, it finishes the job: deletes already accepted are followed by
        their jobs, and one whose answer was lost is asked again (a 409 then says the VM is
        being deleted already).

        Returns:
            The members deleted, as last recorded, in number order.

        Raises:
            ConfigurationError: the journal is held by another process or cannot be used.
            BulkError: some members are still on the server (by name: the last reason); the
                journal keeps them for the next run.
        """
        async with self._holding():
            run = Teardown(
                self._gpcn, self._journal, concurrency=self._concurrency, report=self._report
            )
            return await run.run()

    async def start(self) -> BulkResult:
        """Start every member with a VM (one bulk call); one outcome per VM id."""
        return await self._power("start")

    async def stop(self) -> BulkResult:
        """Stop every member with a VM (one bulk call); one outcome per VM id."""
        return await self._power("stop")

    async def _power(self, action: str) -> BulkResult:
        async with self._holding():
            members = [
                member
                for member in await self._journal.members()
                if member.vm_id is not None
                and member.state in (MemberState.READY, MemberState.ORDERED)
            ]
            if not members:
                return BulkResult({})
            gpu = self._gpcn.gpu
            call = gpu.bulk_start if action == "start" else gpu.bulk_stop
            result = await call(member.vm_id for member in members if member.vm_id)
            # The states to remember are the server's, read back in one listing.
            found = await find_members(self._gpcn, self._name)
            status = {vm.id: vm.status for vms in found.values() for vm in vms}
            changed = [
                member.moved(member.state, vm_status=status[member.vm_id])
                for member in members
                if member.vm_id in status and status[member.vm_id] != member.vm_status
            ]
            if changed:  # recorded for the members no other process is working on
                granted = await self._journal.claim([member.name for member in changed])
                await self._journal.put([member for member in changed if member.name in granted])
                await self._journal.unclaim(list(granted))
            return result

    async def members(self) -> list[Member]:
        """The journal's members (name, VM id, last known state...), in number order.

        Reads the journal only (no request); works while another process holds it.
        """
        return await self._journal.members()

    @contextlib.asynccontextmanager
    async def _holding(self) -> AsyncIterator[None]:
        """Hold the journal for one call, unless ``async with fleet`` holds it already."""
        async with self._busy:
            if self._held:
                yield
                return
            await self._journal.hold()
            try:
                yield
            finally:
                await self._journal.release()

    def _report(self, member: str, event: str) -> None:
        logger.info("fleet %s: %s: %s", self._name, member, event)
        if self._progress is not None:
            self._progress(member, event)

    async def __aenter__(self) -> Self:
        await self._journal.hold()
        self._held = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._held = False
        await self._journal.release()

    def __repr__(self) -> str:
        return f"Fleet({self._name!r}, journal={self._journal.location!r})"


def _check_concurrency(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(f"concurrency must be an int >= 1, got {value!r}")
    return value


def journal_for(location: str | os.PathLike[str], *, fleet: str) -> Journal:
    """The journal at ``location``: a ``PostgresJournal`` for a ``postgresql://`` URL, else a file.

    Nothing is opened or connected to: that happens when the journal is held or read.

    Raises:
        ConfigurationError: a PostgreSQL URL without asyncpg installed or with a bad port, or
            a file in a folder that does not exist.
    """
    if isinstance(location, str) and location.partition("://")[0] in SCHEMES:
        return PostgresJournal(location, fleet=fleet)
    return SqliteJournal(location, fleet=fleet)
