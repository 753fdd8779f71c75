"""``SqliteJournal``: the lock with its holder's pid, durability settings, and files it refuses.

The live holder is a real process of its own; the other files are made with the standard
library's ``sqlite3``, as another program (or a disk fault) would leave them.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gpcn_async import ConfigurationError
from gpcn_async.fleet import Fleet, Journal, Member, MemberState, SqliteJournal
from gpcn_async.testing import FakeGPCN

HOLDER = """
import asyncio, sys
from gpcn_async.fleet import SqliteJournal

async def main():
    journal = SqliteJournal(sys.argv[1], fleet="f")
    await journal.hold()
    print("held", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.fixture
async def holder(tmp_path: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """Another process holding the journal ``tmp_path/f.db`` until killed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        str(tmp_path / "f.db"),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 10) == b"held\n"
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_a_journal_held_by_a_live_process_is_refused_naming_it(
    holder: asyncio.subprocess.Process, tmp_path: Path
) -> None:
    """A second process gets ConfigurationError naming the holder's pid, before any request."""
    async with FakeGPCN() as fake, fake.client() as gpcn:
        fleet = Fleet(gpcn, "f", journal=tmp_path / "f.db")
        with pytest.raises(ConfigurationError, match=rf"held by pid {holder.pid} on host"):
            await fleet.ensure(1, code="nvidia-a100", gpu_count=1)
        assert fake.requests == []


async def test_the_lock_of_a_killed_process_is_taken_over(
    holder: asyncio.subprocess.Process, tmp_path: Path
) -> None:
    """Once the holder is SIGKILLed (no chance to let go), the next opener takes the journal."""
    holder.kill()
    await holder.wait()
    journal = SqliteJournal(tmp_path / "f.db", fleet="f")
    await journal.hold()
    await journal.put([Member("f-000", 0, MemberState.ORDERING)])
    await journal.release()
    assert [m.name for m in await journal.members()] == ["f-000"]


def lock_row(path: Path, **fields: object) -> None:
    """Rewrite the journal's lock row as another process would have left it."""
    with sqlite3.connect(path) as connection:
        for column, value in fields.items():
            connection.execute(f"UPDATE gpcn_fleet_holder SET {column} = ?", (value,))  # noqa: S608


async def held_journal(path: Path) -> SqliteJournal:
    """A journal held by this test (its lock row then rewritten by the caller)."""
    journal = SqliteJournal(path, fleet="f")
    await journal.hold()
    return journal


async def test_a_lock_with_our_pid_from_an_earlier_process_is_taken_over(tmp_path: Path) -> None:
    """A lock naming this pid but not held here (a restarted container) is stale."""
    path = tmp_path / "f.db"
    first = await held_journal(path)
    lock_row(path, token="left-by-an-earlier-process")  # same pid, another hold
    second = SqliteJournal(path, fleet="f")
    await second.hold()
    with pytest.raises(ConfigurationError, match=f"taken over by pid {os.getpid()}"):
        await first.put([Member("f-000", 0, MemberState.ORDERING)])
    await second.release()
    await first.release()


async def test_a_lock_from_a_process_that_reused_a_dead_pid_is_stale(tmp_path: Path) -> None:
    """A holder pid now running another process (its start time differs) is taken over."""
    path = tmp_path / "f.db"
    journal = await held_journal(path)
    await journal.release()
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO gpcn_fleet_holder VALUES (1, ?, ?, 'another start', 'x', 'then')",
            (os.getppid(), os.uname().nodename),
        )
    await journal.hold()  # the parent runs, but it is not the process that took the lock
    await journal.release()


async def test_a_holder_on_another_machine_is_refused(tmp_path: Path) -> None:
    """A lock taken on another host cannot be checked from here: refused, saying so."""
    path = tmp_path / "f.db"
    journal = await held_journal(path)
    lock_row(path, host="elsewhere", pid=1)
    other = SqliteJournal(path, fleet="f")
    with pytest.raises(ConfigurationError, match=r"pid 1 on host elsewhere .* another machine"):
        await other.hold()
    lock_row(path, host=os.uname().nodename, pid=os.getpid())
    await journal.release()


async def test_the_file_is_in_wal_mode_and_written_one_transaction_per_step(
    tmp_path: Path,
) -> None:
    """The journal is WAL; each put is committed when it returns, visible to another reader."""
    path = tmp_path / "f.db"
    journal = await held_journal(path)
    await journal.put([Member("f-000", 0, MemberState.ORDERING, order={"code": "x"})])
    with sqlite3.connect(path) as reader:
        assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        rows = reader.execute("SELECT name, state, params FROM gpcn_fleet_members").fetchall()
    assert rows == [("f-000", "ordering", '{"code": "x"}')]
    await journal.put([Member("f-000", 0, MemberState.ORDERED, resume_token="gpu.create:j")])
    await journal.remove(["f-001"])  # unknown names are ignored
    [member] = await journal.members()
    assert (member.state, member.resume_token, member.order) == (
        MemberState.ORDERED,
        "gpu.create:j",
        {},
    )
    await journal.release()
    await journal.release()  # a second release does nothing


async def test_reading_a_missing_journal_creates_nothing(tmp_path: Path) -> None:
    """members() of a journal never written is empty and leaves no file behind."""
    assert await SqliteJournal(tmp_path / "f.db", fleet="f").members() == []
    assert not await asyncio.to_thread((tmp_path / "f.db").exists)


async def test_writing_without_holding_is_refused(tmp_path: Path) -> None:
    """put() before hold() is a ConfigurationError, not a silent write."""
    with pytest.raises(ConfigurationError, match="not held"):
        await SqliteJournal(tmp_path / "f.db", fleet="f").put(
            [Member("f-0", 0, MemberState.FAILED)]
        )


def garbage(path: Path) -> None:
    """A file that is no SQLite database at all."""
    path.write_bytes(b"this is no database, just a file with a .db name\n" * 100)


def foreign(path: Path) -> None:
    """Another program's SQLite database."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id INTEGER, name TEXT)")


def damaged(path: Path) -> None:
    """A real journal with bytes in its middle overwritten, as a failing disk leaves it."""
    asyncio.run(_write_journal(path, "f", members=200))
    data = bytearray(path.read_bytes())
    data[4 * 4096 : 5 * 4096] = b"\xff" * 4096  # a whole page of the members table
    path.write_bytes(bytes(data))


def other_fleet(path: Path) -> None:
    """The journal of fleet ``g``."""
    asyncio.run(_write_journal(path, "g"))


def newer(path: Path) -> None:
    """A journal in a format this version does not know."""
    asyncio.run(_write_journal(path, "f"))
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE gpcn_fleet_meta SET value = '99' WHERE key = 'version'")


async def _write_journal(path: Path, fleet: str, *, members: int = 0) -> None:
    journal = SqliteJournal(path, fleet=fleet)
    await journal.hold()
    order = {"code": "nvidia-a100", "image_name": "x" * 200}
    await journal.put(
        [Member(f"{fleet}-{n:03d}", n, MemberState.READY, order=order) for n in range(members)]
    )
    await journal.release()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (garbage, "not a fleet journal .*not an SQLite database"),
        (
            foreign,
            r"not a fleet journal: it is an SQLite database of something else \(tables: users",
        ),
        (damaged, "is damaged|not an SQLite database, or damaged"),
        (other_fleet, "is the journal of fleet 'g', not of 'f'"),
        (newer, "journal format '99'"),
    ],
    ids=["garbage", "foreign", "damaged", "other-fleet", "newer"],
)
async def test_files_that_are_not_this_fleets_journal_are_refused(
    tmp_path: Path, make: object, message: str
) -> None:
    """A corrupted, foreign or other fleet's file gives a clear ConfigurationError, unchanged."""
    path = tmp_path / "f.db"
    await asyncio.to_thread(make, path)  # type: ignore[arg-type]
    before = path.read_bytes()
    journal = SqliteJournal(path, fleet="f")
    with pytest.raises(ConfigurationError, match=message):
        await journal.hold()
    with pytest.raises(ConfigurationError, match=message):
        await journal.members()
    assert path.read_bytes() == before


async def test_a_journal_object_of_another_fleet_is_refused(tmp_path: Path) -> None:
    """Fleet(..., journal=<another fleet's Journal>) is a ConfigurationError at once."""
    journal: Journal = SqliteJournal(tmp_path / "g.db", fleet="g")
    async with FakeGPCN() as fake, fake.client() as gpcn:
        with pytest.raises(ConfigurationError, match="journal of fleet 'g'"):
            Fleet(gpcn, "f", journal=journal)
