"""The PostgreSQL journal's URL (shown without its password) and its tables, made on first use.

Every fleet shares three tables of one database, told apart by a ``fleet`` column:
``gpcn_fleet_members`` (one row per member, as ``SqliteJournal`` keeps them),
``gpcn_fleet_claims`` (who works on which member, until when) and ``gpcn_fleet_schema`` (the
versions applied). Several processes may make them at once: the first takes a transaction-level
advisory lock, and the others wait for it, then find them made.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from gpcn_async.fleet._journal import journal_error

__all__ = ["SCHEMES", "VERSION", "Address", "Connection", "check_version", "set_up", "version_of"]

SCHEMES: Final = ("postgresql", "postgres")
VERSION: Final = 1
"""The version of the tables this gpcn_async writes; a database with a newer one is refused."""
LOCK_KEY: Final = 0x6770636E_666C7431  # "gpcnflt1": serialises the making of the tables

_TABLES: Final = (
    """CREATE TABLE gpcn_fleet_members (
        fleet text NOT NULL, name text NOT NULL, number integer NOT NULL, state text NOT NULL,
        vm_id text, vm_status text, resume_token text, params text NOT NULL, error text,
        updated_at timestamptz NOT NULL, PRIMARY KEY (fleet, name))""",
    """CREATE TABLE gpcn_fleet_claims (
        fleet text NOT NULL, name text NOT NULL, owner text, owner_pid integer,
        owner_host text, expires_at timestamptz, PRIMARY KEY (fleet, name))""",
)


class Connection(Protocol):
    """What the journal uses of an ``asyncpg.Connection`` (asyncpg ships no type hints)."""

    async def execute(self, query: str, *args: object) -> str:
        """Run a statement."""

    async def executemany(self, command: str, args: list[tuple[object, ...]]) -> None:
        """Run a statement once per argument tuple."""

    async def fetch(self, query: str, *args: object) -> list[Any]:
        """Run a query; its rows."""

    async def fetchval(self, query: str, *args: object) -> Any:
        """Run a query; the first column of its first row."""

    def transaction(self) -> Any:
        """A transaction, as an async context manager."""

    async def close(self, *, timeout: float | None = None) -> None:
        """Close the connection gracefully."""

    def terminate(self) -> None:
        """Close the connection at once."""

    async def add_listener(self, channel: str, callback: Callable[..., object]) -> None:
        """``LISTEN`` on a channel: ``callback(connection, pid, channel, payload)`` per notice."""

    def get_server_pid(self) -> int:
        """The process id of the server's backend for this connection."""


class Address:
    """A ``postgresql://`` URL, its password kept for connecting and out of every message.

    Args:
        url: ``postgresql://user:password@host:port/database`` (or ``postgres://``); the
            password may also come from ``PGPASSWORD`` or a ``.pgpass`` file, as libpq reads.

    Raises:
        ConfigurationError: not a ``postgresql://`` URL, or a port that is not a number.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.password = parts.password or ""
        hidden = [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)]
        user = f"{parts.username}@" if parts.username else ""
        host_port = parts.netloc.rpartition("@")[2]
        query = f"?{urlencode(hidden)}" if hidden else ""
        self.location = f"{parts.scheme}://{user}{host_port}{parts.path}{query}"
        """The URL without its password, for messages."""
        if parts.scheme not in SCHEMES:
            raise journal_error(self.location, "is not a postgresql:// URL")
        try:
            port = parts.port or 5432
        except ValueError:
            raise journal_error(self.location, f"has a bad port in {host_port!r}") from None
        self.server = f"{parts.hostname or 'localhost'}:{port}"
        """``host:port``, for messages."""

    def scrub(self, text: str) -> str:
        """``text`` with the password masked (as written, and decoded), should it be quoted."""
        for secret in {self.password, unquote(self.password)} - {""}:
            text = re.sub(re.escape(secret), "***", text)
        return text


async def version_of(connection: Connection) -> int | None:
    """The version of the journal's tables in this database, or None if they are not made."""
    if await connection.fetchval("SELECT to_regclass('gpcn_fleet_schema')") is None:
        return None
    version = await connection.fetchval("SELECT max(version) FROM gpcn_fleet_schema")
    return None if version is None else int(version)


def check_version(location: str, version: int | None) -> None:
    """Refuse tables of a newer version than this gpcn_async knows."""
    if version is not None and version > VERSION:
        raise journal_error(
            location,
            f"its tables are at schema version {version}; this gpcn_async knows version "
            f"{VERSION} (was it written by a newer version?)",
        )


async def set_up(connection: Connection, location: str) -> None:
    """Make the tables unless made (once, however many processes start at once).

    Raises:
        ConfigurationError: the tables are of a newer version.
    """
    version = await version_of(connection)
    check_version(location, version)
    if version == VERSION:
        return
    async with connection.transaction():
        # Whoever comes second waits here, then finds the tables made by the first.
        await connection.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS gpcn_fleet_schema (version integer PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        version = await version_of(connection)
        check_version(location, version)
        if version is None:
            for statement in _TABLES:
                await connection.execute(statement)
            await connection.execute("INSERT INTO gpcn_fleet_schema (version) VALUES ($1)", VERSION)
