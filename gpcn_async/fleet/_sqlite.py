"""``SqliteJournal``: a fleet's journal in one SQLite file (stdlib ``sqlite3``).

The file is in WAL mode with ``synchronous=FULL``: each step is one transaction, fsynced when
it commits, so a process killed at any instant leaves every committed step and no half of one.
WAL also lets ``members()`` read (``gpcn fleet status``) while another process writes.

sqlite3 blocks, and a commit with ``synchronous=FULL`` waits for the disk (milliseconds on an
SSD, far more on a busy or network disk): run on the event loop, that wait would stall every
poll and answer of the client. So each journal runs its calls on one worker thread of its own:
one thread keeps the connection on the thread that made it (sqlite3's rule) and runs the
steps one after another in the order they were asked, with no lock of ours. A step whose
caller is cancelled still completes in the thread: the journal is then a step ahead of the
caller, which every step allows (an intent without its order is looked up by name).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

from gpcn_async.fleet._holder import Holder, forget, held_here, is_alive, this_process
from gpcn_async.fleet._journal import (
    COLUMNS,
    Journal,
    journal_error,
    member_from_row,
    order_json,
)
from gpcn_async.fleet._members import Member, check_fleet_name

__all__ = ["SqliteJournal"]

logger = logging.getLogger("gpcn_async.fleet")

P = ParamSpec("P")
R = TypeVar("R")

FORMAT: Final = "gpcn_async fleet journal"
VERSION: Final = 1
BUSY_TIMEOUT: Final = 5.0
"""Seconds a step waits for another connection's transaction (a reader starting) to end."""

_SCHEMA: Final = """
CREATE TABLE gpcn_fleet_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE gpcn_fleet_holder (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    pid INTEGER NOT NULL, host TEXT NOT NULL, started TEXT, token TEXT NOT NULL,
    since TEXT NOT NULL
);
CREATE TABLE gpcn_fleet_members (
    name TEXT PRIMARY KEY, number INTEGER NOT NULL, state TEXT NOT NULL, vm_id TEXT,
    vm_status TEXT, resume_token TEXT, params TEXT NOT NULL, error TEXT, updated_at TEXT NOT NULL
);
"""
_TABLES: Final = frozenset({"gpcn_fleet_meta", "gpcn_fleet_holder", "gpcn_fleet_members"})


class SqliteJournal(Journal):
    """A fleet's journal in an SQLite file, for one process at a time.

    ``hold()`` takes a lock recorded in the file with the holder's pid, host and start time.
    A second process gets ``ConfigurationError`` naming that pid while the holder runs; a
    lock left by a process that died (a SIGKILL gives it no chance to let go) is taken over.

    Args:
        path: the file; created with its tables if missing (its folder must exist).
        fleet: the fleet's name; a journal written for another fleet is refused.

    Raises:
        ConfigurationError: the folder does not exist, or the path is a folder.
        InvalidRequestError: a fleet name that makes invalid VM names.
    """

    def __init__(self, path: str | os.PathLike[str], *, fleet: str) -> None:
        self._fleet = check_fleet_name(fleet)
        self._path = Path(path)
        if not self._path.parent.is_dir():
            raise journal_error(
                str(self._path), f"its folder {self._path.parent} does not exist: create it first"
            )
        if self._path.is_dir():
            raise journal_error(str(self._path), "is a folder: give the path of a file")
        self._connection: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._holder: Holder | None = None

    @property
    def location(self) -> str:
        """The file's path."""
        return str(self._path)

    @property
    def fleet(self) -> str:
        """The fleet's name."""
        return self._fleet

    @property
    def path(self) -> Path:
        """The file's path."""
        return self._path

    @property
    def claim_ttl(self) -> float:
        """0: claims end with the session only (no other process can hold the file meanwhile)."""
        return 0.0

    # -- holding ---------------------------------------------------------------------------

    async def hold(self) -> None:
        """Open the file (created if missing) and take its lock for this process.

        Raises:
            ConfigurationError: a live process holds it (named by pid and host), the file is
                not a fleet journal (another kind of file, a damaged one, another program's
                database) or is another fleet's, or it cannot be written.
        """
        if self._connection is not None:
            raise journal_error(self.location, "is held already by this journal object")
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpcn-fleet-journal")
        holder = this_process()
        try:
            self._connection = await _in(executor, self._open, holder)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._executor, self._holder = executor, holder
        held_here(holder)

    async def release(self) -> None:
        """Let go of the lock and close the file (nothing happens when not holding)."""
        connection, executor, holder = self._connection, self._executor, self._holder
        self._connection = self._executor = self._holder = None
        if connection is None or executor is None or holder is None:
            return
        try:
            await _in(executor, _let_go, connection, holder.token)
        finally:
            forget(holder)
            executor.shutdown(wait=False)  # the worker ends once the steps queued are done

    def _open(self, holder: Holder) -> sqlite3.Connection:
        """Open, check or create the tables, and take the lock (in the worker thread)."""
        connection = self._connect(read_only=False)
        try:
            with self._errors():
                _set_up(connection, self._fleet, self.location)
                with _transaction(connection):
                    self._take(connection, holder)
        except BaseException:
            connection.close()
            raise
        return connection

    def _take(self, connection: sqlite3.Connection, holder: Holder) -> None:
        row = connection.execute(
            "SELECT pid, host, started, token, since FROM gpcn_fleet_holder"
        ).fetchone()
        if row is not None:
            other = Holder(*row)
            alive = is_alive(other)
            if alive is None:
                raise journal_error(
                    self.location,
                    f"is held by {other.describe()}, another machine, where it cannot be "
                    "checked from here; one process at a time may use a journal",
                )
            if alive:
                raise journal_error(
                    self.location,
                    f"is held by {other.describe()}, which is still running; one process at "
                    "a time may use a journal: wait for it to finish (or stop it)",
                )
            logger.info(
                "fleet journal %s: taking over the lock of %s, which is gone",
                self.location,
                other.describe(),
            )
        connection.execute("DELETE FROM gpcn_fleet_holder")
        connection.execute(
            "INSERT INTO gpcn_fleet_holder (only, pid, host, started, token, since) "
            "VALUES (1, ?, ?, ?, ?, ?)",
            (holder.pid, holder.host, holder.started, holder.token, holder.since),
        )

    # -- reading and writing ---------------------------------------------------------------

    async def members(self) -> list[Member]:
        """Every member recorded, in number order; none when the file does not exist yet.

        Works whether held or not: without the lock the file is read through a connection of
        its own, and WAL lets it read while another process writes.
        """
        if self._connection is not None and self._executor is not None:
            return await _in(self._executor, self._read, self._connection)
        return await asyncio.to_thread(self._read_once)

    def _read_once(self) -> list[Member]:
        if not self._path.exists():
            return []
        connection = self._connect(read_only=True)
        try:
            with self._errors():
                written = _check(connection, self._fleet, self.location, create=False)
            return self._read(connection) if written else []
        finally:
            connection.close()

    def _read(self, connection: sqlite3.Connection) -> list[Member]:
        with self._errors():
            rows = connection.execute(
                f"SELECT {COLUMNS} FROM gpcn_fleet_members ORDER BY number, name"  # noqa: S608 -- a constant
            ).fetchall()
        return [member_from_row(self.location, row) for row in rows]

    async def claim(
        self, names: Sequence[str], *, limit: int | None = None
    ) -> dict[str, Member | None]:
        """Claim members: all of them, since holding the file shuts every other process out.

        Raises:
            ConfigurationError: the journal is not held.
        """
        connection, executor = self._connection, self._executor
        if connection is None or executor is None:
            raise journal_error(self.location, "is not held: call hold() before claiming")
        chosen = list(dict.fromkeys(names))[:limit]
        records = {m.name: m for m in await _in(executor, self._read, connection)}
        return {name: records.get(name) for name in chosen}

    async def unclaim(self, names: Sequence[str]) -> None:
        """Nothing to do: claims are not recorded in the file (the lock covers every member)."""

    async def put(self, members: Sequence[Member]) -> None:
        """Record these members in one transaction, fsynced before this returns."""
        if members:
            await self._write(self._put, list(members))

    async def remove(self, names: Sequence[str]) -> None:
        """Forget these members in one transaction, fsynced before this returns."""
        if names:
            await self._write(self._remove, list(names))

    async def _write(
        self, step: Callable[[sqlite3.Connection, list[Any]], None], items: list[Any]
    ) -> None:
        connection, executor, holder = self._connection, self._executor, self._holder
        if connection is None or executor is None or holder is None:
            raise journal_error(self.location, "is not held: call hold() before writing")
        await _in(executor, self._step, connection, holder.token, step, items)

    def _step(
        self,
        connection: sqlite3.Connection,
        token: str,
        step: Callable[[sqlite3.Connection, list[Any]], None],
        items: list[Any],
    ) -> None:
        with self._errors(), _transaction(connection):
            # Still ours? A process that wrongly took over (it cannot tell we live) must not
            # see its records mixed with ours.
            row = connection.execute("SELECT token, pid, host FROM gpcn_fleet_holder").fetchone()
            if row is None or row[0] != token:
                taker = "nobody" if row is None else f"pid {row[1]} on host {row[2]}"
                raise journal_error(self.location, f"was taken over by {taker} meanwhile")
            step(connection, items)

    @staticmethod
    def _put(connection: sqlite3.Connection, members: list[Member]) -> None:
        now = datetime.now(UTC).isoformat()
        connection.executemany(
            f"INSERT OR REPLACE INTO gpcn_fleet_members ({COLUMNS}) "  # noqa: S608 -- a constant
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    member.name,
                    member.number,
                    member.state.value,
                    member.vm_id,
                    member.vm_status,
                    member.resume_token,
                    order_json(member),
                    member.error,
                    now,
                )
                for member in members
            ],
        )

    @staticmethod
    def _remove(connection: sqlite3.Connection, names: list[str]) -> None:
        connection.executemany(
            "DELETE FROM gpcn_fleet_members WHERE name = ?", [(name,) for name in names]
        )

    # -- the file --------------------------------------------------------------------------

    def _connect(self, *, read_only: bool) -> sqlite3.Connection:
        try:
            if read_only:
                uri = f"{self._path.resolve().as_uri()}?mode=ro"
                return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
            return sqlite3.connect(self._path, timeout=BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise journal_error(self.location, f"cannot be opened: {exc}") from None

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn sqlite3's errors into a ``ConfigurationError`` that names the file."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc) or "malformed" in str(exc):
                problem = f"is not a fleet journal (not an SQLite database, or damaged): {exc}"
            else:
                problem = f"cannot be used: {exc}"
            raise journal_error(self.location, problem) from None
        except sqlite3.Error as exc:
            raise journal_error(self.location, f"cannot be used: {exc}") from None

    def __repr__(self) -> str:
        return f"SqliteJournal({self.location!r}, fleet={self._fleet!r})"


async def _in(executor: ThreadPoolExecutor, call: Callable[P, R], *args: Any) -> R:
    """Run ``call(*args)`` on the journal's worker thread and wait for it."""
    return await asyncio.get_running_loop().run_in_executor(
        executor, functools.partial(call, *args)
    )


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: taken at once (IMMEDIATE), committed (and fsynced) or undone."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _set_up(connection: sqlite3.Connection, fleet: str, location: str) -> None:
    """Check the file (create the tables in a new one), then switch to WAL with full sync.

    The check comes first: a file that is not this fleet's journal is left exactly as it was.
    """
    connection.execute("PRAGMA synchronous=FULL")
    with _transaction(connection):
        _check(connection, fleet, location, create=True)
    mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise journal_error(location, f"cannot use write-ahead logging (journal mode {mode})")


def _check(connection: sqlite3.Connection, fleet: str, location: str, *, create: bool) -> bool:
    """Refuse a file that is not this fleet's journal; with ``create``, set up an empty one.

    Returns:
        Whether the file has the journal's tables (an empty file has none until written).
    """
    verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    if verdict != "ok":
        raise journal_error(location, f"is damaged (SQLite quick_check: {verdict})")
    tables = {
        row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if not tables and create:
        _create(connection, fleet)
        return True
    if not tables:
        return False  # an empty file, never written: no members yet
    if not tables >= _TABLES:
        others = ", ".join(sorted(tables - _TABLES)) or "none"
        raise journal_error(
            location,
            f"is not a fleet journal: it is an SQLite database of something else (tables: "
            f"{others}); choose another file",
        )
    meta = dict(connection.execute("SELECT key, value FROM gpcn_fleet_meta").fetchall())
    if meta.get("format") != FORMAT:
        raise journal_error(location, "is not a fleet journal (its format is not recorded)")
    if meta.get("version") != str(VERSION):
        raise journal_error(
            location,
            f"was written in journal format {meta.get('version')!r}; this gpcn_async reads "
            f"format {VERSION} (was it written by a newer version?)",
        )
    if meta.get("fleet") != fleet:
        raise journal_error(
            location, f"is the journal of fleet {meta.get('fleet')!r}, not of {fleet!r}"
        )
    return True


def _create(connection: sqlite3.Connection, fleet: str) -> None:
    # One statement at a time: executescript() would commit the open transaction first.
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            connection.execute(statement)
    connection.executemany(
        "INSERT INTO gpcn_fleet_meta (key, value) VALUES (?, ?)",
        [("format", FORMAT), ("version", str(VERSION)), ("fleet", fleet)],
    )


def _let_go(connection: sqlite3.Connection, token: str) -> None:
    """Remove our lock and close the file (in the worker thread)."""
    try:
        with _transaction(connection):
            connection.execute("DELETE FROM gpcn_fleet_holder WHERE token = ?", (token,))
    except sqlite3.Error:
        # The lock stays behind; the next opener finds this process gone and takes it over.
        logger.warning("fleet journal: could not release the lock", exc_info=True)
    finally:
        connection.close()
