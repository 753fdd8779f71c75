"""``PostgresJournal``: a fleet's journal in PostgreSQL, shared by processes on many hosts.

A process claims a member before acting on it: one transaction picks the members nobody else
holds with ``SELECT ... FOR UPDATE SKIP LOCKED`` (a member another transaction is claiming
at that instant is skipped, not waited for) and writes this session as their owner, with an
expiry ``claim_ttl`` seconds ahead. While the session is held, a task renews its claims every
third of ``claim_ttl``; a process that dies stops renewing, and its claims can be taken by
others once they expire. Every write checks, in its own transaction, that the members written
are still claimed by this session, so a process that lost its claims (paused for longer than
``claim_ttl``) fails instead of writing over the one that took them. Letting go of claims
(``remove()``, ``release()``) also sends a ``NOTIFY`` naming the fleet, which wakes the
processes waiting for others (``changes()``); other writes do not, as every member's steps
would wake them for nothing.

asyncpg is imported when a ``PostgresJournal`` is made, so that the package works without the
``postgres`` extra. The session keeps one connection, used by one step at a time.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

from gpcn_async import ConfigurationError, InvalidRequestError
from gpcn_async.fleet._holder import Holder, this_process
from gpcn_async.fleet._journal import COLUMNS, Journal, journal_error, member_from_row, order_json
from gpcn_async.fleet._members import Member, check_fleet_name
from gpcn_async.fleet._postgres_schema import Address, Connection, check_version, set_up, version_of

__all__ = ["DEFAULT_CLAIM_TTL", "PostgresJournal"]

logger = logging.getLogger("gpcn_async.fleet")

DEFAULT_CLAIM_TTL: Final = 120.0
"""Seconds a claim outlives its session's last renewal, unless told otherwise."""
CONNECT_TIMEOUT: Final = 10.0
"""Seconds to wait for the database to answer a connection."""
CHANNEL: Final = "gpcn_fleet"
"""The ``LISTEN``/``NOTIFY`` channel of claims let go, for every fleet; the payload is its name."""

_CLAIM: Final = """
WITH free AS (
    SELECT name, owner IS NOT NULL AND owner <> $3 AS taken_over, owner_pid, owner_host
    FROM gpcn_fleet_claims
    WHERE fleet = $1 AND name = ANY($2::text[])
      AND (owner IS NULL OR owner = $3 OR expires_at <= now())
    ORDER BY array_position($2::text[], name)
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
UPDATE gpcn_fleet_claims AS c
SET owner = $3, owner_pid = $5, owner_host = $6, expires_at = now() + $7 * interval '1 second'
FROM free
WHERE c.fleet = $1 AND c.name = free.name
RETURNING c.name, free.taken_over, free.owner_pid, free.owner_host
"""
_UPSERT: Final = f"""
INSERT INTO gpcn_fleet_members (fleet, {COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
ON CONFLICT (fleet, name) DO UPDATE SET
    number = EXCLUDED.number, state = EXCLUDED.state, vm_id = EXCLUDED.vm_id,
    vm_status = EXCLUDED.vm_status, resume_token = EXCLUDED.resume_token,
    params = EXCLUDED.params, error = EXCLUDED.error, updated_at = EXCLUDED.updated_at
"""  # noqa: S608 -- constants only


def _asyncpg() -> Any:
    """The asyncpg module, or a ``ConfigurationError`` saying how to install it."""
    try:
        return importlib.import_module("asyncpg")
    except ImportError:
        raise ConfigurationError(
            "a fleet journal in PostgreSQL needs asyncpg: install the postgres extra "
            "(pip install 'gpcn-async[postgres]')"
        ) from None


class PostgresJournal(Journal):
    """A fleet's journal in a PostgreSQL database, for any number of processes at once.

    Processes on any number of hosts may run ``ensure()`` and ``teardown()`` on one fleet
    with the same URL: each member is claimed by one of them before it is ordered or deleted,
    and one at a time brings the fleet up while the others stand by (see ``Fleet.ensure``).
    The tables (``gpcn_fleet_*``) are made on first use.

    Args:
        url: ``postgresql://user:password@host:port/database`` (``postgres://`` too). The
            password never appears in messages (``location`` leaves it out).
        fleet: the fleet's name.
        claim_ttl: seconds after which the claims of a process that stopped renewing them (it
            died, or hung) may be taken by others; renewed every third of it. Keep it well
            above the longest pause a process may make (a suspended laptop, a stalled VM).

    Raises:
        ConfigurationError: not a ``postgresql://`` URL, or asyncpg is not installed (the
            ``postgres`` extra).
        InvalidRequestError: a bad fleet name or ``claim_ttl``.
    """

    def __init__(self, url: str, *, fleet: str, claim_ttl: float = DEFAULT_CLAIM_TTL) -> None:
        self._fleet = check_fleet_name(fleet)
        ttl: object = claim_ttl  # checked as the unknown it may be at run time
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise InvalidRequestError(f"claim_ttl must be a number of seconds > 0, got {ttl!r}")
        self._ttl = float(ttl)
        self._address = Address(url)
        self._pg = _asyncpg()
        self._errors_caught: tuple[type[BaseException], ...] = (
            self._pg.PostgresError,
            self._pg.InterfaceError,
            OSError,
        )
        self._connection: Connection | None = None
        self._owner: Holder | None = None
        self._lock = asyncio.Lock()
        self._renewing: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def location(self) -> str:
        """The URL without its password."""
        return self._address.location

    @property
    def fleet(self) -> str:
        """The fleet's name."""
        return self._fleet

    @property
    def claim_ttl(self) -> float:
        """Seconds a claim outlives its session's last renewal."""
        return self._ttl

    # -- the session -----------------------------------------------------------------------

    async def hold(self) -> None:
        """Connect, make the tables on first use, and start renewing this session's claims.

        Raises:
            ConfigurationError: the database cannot be reached or refuses the connection
                (naming its host and port), or its tables are of a newer version.
        """
        if self._connection is not None:
            raise journal_error(self.location, "is held already by this journal object")
        connection = await self._connect()
        try:
            async with self._errors():
                await set_up(connection, self.location)
                await connection.add_listener(CHANNEL, self._heard)
        except BaseException:
            connection.terminate()
            raise
        self._connection, self._owner = connection, this_process()
        self._renewing = asyncio.create_task(self._renew_forever(), name="gpcn-fleet-claims")

    async def release(self) -> None:
        """Let go of this session's claims and close the connection (nothing when not holding)."""
        connection, owner, renewing = self._connection, self._owner, self._renewing
        self._connection = self._owner = self._renewing = None
        if renewing is not None:
            renewing.cancel()
            await asyncio.wait([renewing])
        if connection is None or owner is None:
            return
        try:
            async with self._lock, self._errors():
                await connection.execute(
                    "UPDATE gpcn_fleet_claims SET owner = NULL, owner_pid = NULL, "
                    "owner_host = NULL, expires_at = NULL WHERE owner = $1",
                    owner.token,
                )
                await self._notify(connection)
                await connection.close(timeout=CONNECT_TIMEOUT)
        except ConfigurationError:
            # The claims expire by themselves; the connection goes with the process.
            logger.warning("fleet journal %s: could not let go of the claims", self.location)
            connection.terminate()

    async def _connect(self) -> Connection:
        """A new connection, or a ``ConfigurationError`` naming the server (not the password)."""
        try:
            connection: Connection = await self._pg.connect(
                self._address.url, timeout=CONNECT_TIMEOUT
            )
        except (*self._errors_caught, ValueError) as exc:  # type: ignore[misc] # a tuple of classes
            problem = self._address.scrub(f"{type(exc).__name__}: {exc}")
            raise journal_error(
                self.location, f"cannot connect to {self._address.server}: {problem}"
            ) from None
        return connection

    async def _renew_forever(self) -> None:
        """Push the expiry of this session's claims forward, every third of ``claim_ttl``."""
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                async with self._session() as (connection, owner):
                    await connection.execute(
                        "UPDATE gpcn_fleet_claims SET expires_at = now() + $2 * interval "
                        "'1 second' WHERE owner = $1 AND expires_at > now()",
                        owner.token,
                        self._ttl,
                    )
            except ConfigurationError as error:
                # Writes check their claims themselves; a renewal missed is tried again.
                logger.warning("fleet journal %s: claims not renewed: %s", self.location, error)

    def _heard(self, connection: object, pid: int, channel: str, payload: str) -> None:
        """The listener of the channel: another session let go of this fleet's claims."""
        own = self._connection
        if payload == self._fleet and (own is None or pid != own.get_server_pid()):
            self._changed.set()

    async def _notify(self, connection: Connection) -> None:
        """Tell the sessions waiting in ``changes()`` (at the commit of the open transaction)."""
        await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, self._fleet)

    async def changes(self, timeout: float) -> None:
        """Wait until another session let go of claims of this fleet, ``timeout`` at most.

        That is a ``remove()`` (such as a lead letting go) or the end of a session; one since
        the last call ends the wait at once.
        """
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            pass  # nothing changed: the caller looks anyway
        finally:
            self._changed.clear()

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[tuple[Connection, Holder]]:
        """The session's connection, for one step at a time, with the store's errors mapped."""
        async with self._lock, self._errors():
            connection, owner = self._connection, self._owner
            if connection is None or owner is None:
                raise journal_error(self.location, "is not held: call hold() first")
            yield connection, owner

    @asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        """Turn asyncpg's and the network's errors into a ``ConfigurationError``."""
        try:
            yield
        except self._errors_caught as exc:
            problem = self._address.scrub(f"{type(exc).__name__}: {exc}")
            raise journal_error(self.location, f"cannot be used: {problem}") from None

    # -- claims ----------------------------------------------------------------------------

    async def claim(
        self, names: Sequence[str], *, limit: int | None = None
    ) -> dict[str, Member | None]:
        """Claim those of ``names`` nobody else holds (or whose claims expired), in one transaction.

        A claim taken over from a session that stopped renewing it is logged with that
        session's pid and host.
        """
        wanted = list(dict.fromkeys(names))
        if not wanted or limit == 0:
            return {}
        async with self._session() as (connection, owner):
            # The rows to lock exist first, in a statement of their own: two sessions adding
            # the same names wait for each other only there, never while holding claims.
            await connection.execute(
                "INSERT INTO gpcn_fleet_claims (fleet, name) SELECT $1, unnest($2::text[]) "
                "ON CONFLICT DO NOTHING",
                self._fleet,
                sorted(wanted),
            )
            async with connection.transaction():
                rows = await connection.fetch(
                    _CLAIM,
                    self._fleet,
                    wanted,
                    owner.token,
                    limit,
                    owner.pid,
                    owner.host,
                    self._ttl,
                )
                claimed = [row["name"] for row in rows]
                records = await self._read(connection, claimed)
        for row in rows:
            if row["taken_over"]:
                logger.warning(
                    "fleet journal %s: %s: taking over the claim of pid %s on host %s, which "
                    "expired (that process stopped renewing it)",
                    self.location,
                    row["name"],
                    row["owner_pid"],
                    row["owner_host"],
                )
        order = {name: index for index, name in enumerate(wanted)}
        return {name: records.get(name) for name in sorted(claimed, key=order.__getitem__)}

    async def unclaim(self, names: Sequence[str]) -> None:
        """Let go of these claims of this session."""
        if not names:
            return
        async with self._session() as (connection, owner):
            await connection.execute(
                "UPDATE gpcn_fleet_claims SET owner = NULL, owner_pid = NULL, owner_host = NULL, "
                "expires_at = NULL WHERE fleet = $1 AND name = ANY($2::text[]) AND owner = $3",
                self._fleet,
                list(names),
                owner.token,
            )

    async def _check_claims(self, connection: Connection, owner: Holder, names: list[str]) -> None:
        """Renew these claims of ours in the open transaction; refuse if any is not ours now."""
        rows = await connection.fetch(
            "UPDATE gpcn_fleet_claims SET expires_at = now() + $4 * interval '1 second' "
            "WHERE fleet = $1 AND name = ANY($2::text[]) AND owner = $3 AND expires_at > now() "
            "RETURNING name",
            self._fleet,
            names,
            owner.token,
            self._ttl,
        )
        missing = sorted(set(names) - {row["name"] for row in rows})
        if missing:
            holders = await connection.fetch(
                "SELECT name, owner_pid, owner_host FROM gpcn_fleet_claims "
                "WHERE fleet = $1 AND name = ANY($2::text[]) AND owner IS NOT NULL "
                "AND owner <> $3",
                self._fleet,
                missing,
                owner.token,
            )
            taken = ", ".join(
                f"{row['name']} by pid {row['owner_pid']} on host {row['owner_host']}"
                for row in holders
            )
            raise journal_error(
                self.location,
                f"{', '.join(missing)}: not claimed by this process any more"
                + (f" (taken over: {taken})" if taken else "")
                + f"; was it paused for longer than claim_ttl ({self._ttl:g} s)?",
            )

    # -- reading and writing ---------------------------------------------------------------

    async def members(self) -> list[Member]:
        """Every member recorded, in number order; none when the tables are not made yet.

        Works whether held or not: without a session it reads through a connection of its own.
        """
        if self._connection is not None:
            async with self._session() as (connection, _):
                return list((await self._read(connection, None)).values())
        connection = await self._connect()
        try:
            async with self._errors():
                version = await version_of(connection)
                check_version(self.location, version)
                if version is None:
                    return []
                return list((await self._read(connection, None)).values())
        finally:
            connection.terminate()

    async def _read(self, connection: Connection, names: list[str] | None) -> dict[str, Member]:
        """The records of these members (all with None), in number order."""
        rows = await connection.fetch(
            f"SELECT {COLUMNS} FROM gpcn_fleet_members "  # noqa: S608 -- a constant
            "WHERE fleet = $1 AND ($2::text[] IS NULL OR name = ANY($2::text[])) "
            "ORDER BY number, name",
            self._fleet,
            names,
        )
        members = (member_from_row(self.location, tuple(row)) for row in rows)
        return {member.name: member for member in members}

    async def put(self, members: Sequence[Member]) -> None:
        """Record these claimed members in one transaction, committed before this returns.

        Raises:
            ConfigurationError: one of them is not claimed by this session (any more).
        """
        if not members:
            return
        async with self._session() as (connection, owner), connection.transaction():
            await self._check_claims(connection, owner, [member.name for member in members])
            await connection.executemany(
                _UPSERT,
                [
                    (
                        self._fleet,
                        member.name,
                        member.number,
                        member.state.value,
                        member.vm_id,
                        member.vm_status,
                        member.resume_token,
                        order_json(member),
                        member.error,
                    )
                    for member in members
                ],
            )

    async def remove(self, names: Sequence[str]) -> None:
        """Forget these claimed members and their claims, in one transaction.

        Raises:
            ConfigurationError: one of them is not claimed by this session (any more).
        """
        if not names:
            return
        async with self._session() as (connection, owner), connection.transaction():
            await self._check_claims(connection, owner, list(names))
            await connection.execute(
                "DELETE FROM gpcn_fleet_members WHERE fleet = $1 AND name = ANY($2::text[])",
                self._fleet,
                list(names),
            )
            await connection.execute(
                "DELETE FROM gpcn_fleet_claims WHERE fleet = $1 AND name = ANY($2::text[])",
                self._fleet,
                list(names),
            )
            await self._notify(connection)

    def __repr__(self) -> str:
        return f"PostgresJournal({self.location!r}, fleet={self._fleet!r})"
