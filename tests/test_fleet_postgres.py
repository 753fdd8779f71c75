"""``PostgresJournal`` against a real PostgreSQL: claims, their expiry, writes, tables, errors.

The cluster is the session's throwaway one (``tests/postgres.py``), with a new database per
test; a process that dies holding claims is a real process, SIGKILLed.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import asyncpg
import pytest

from gpcn_async import ConfigurationError, InvalidRequestError, PollPolicy
from gpcn_async.fleet import Fleet, Member, MemberState, PostgresJournal, journal_for
from gpcn_async.testing import FakeGPCN
from tests.support import eventually

NAMES = [f"f-{number:03d}" for number in range(6)]

HOLDER = """
import asyncio, sys
from gpcn_async.fleet import Member, MemberState, PostgresJournal

async def main():
    journal = PostgresJournal(sys.argv[1], fleet="f", claim_ttl=float(sys.argv[2]))
    await journal.hold()
    await journal.claim(["f-000", "f-001"])
    await journal.put([Member("f-000", 0, MemberState.ORDERING)])
    print("claimed", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.fixture
async def journals(postgres_url: str) -> AsyncIterator[list[PostgresJournal]]:
    """Two held sessions of fleet ``f``'s journal, as two processes would have."""
    held = [PostgresJournal(postgres_url, fleet="f", claim_ttl=30) for _ in range(2)]
    for journal in held:
        await journal.hold()
    try:
        yield held
    finally:
        for journal in held:
            await journal.release()


async def holder(url: str, ttl: float) -> asyncio.subprocess.Process:
    """Another process that claims f-000 and f-001 (f-000 recorded as being ordered), then waits."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, url, str(ttl), stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), 20) == b"claimed\n"
    return process


async def test_sessions_claim_disjoint_members_and_skip_those_held(
    journals: list[PostgresJournal],
) -> None:
    """A claim skips members another session holds and takes the next, up to its limit."""
    first, second = journals
    assert list(await first.claim(NAMES[:4], limit=2)) == ["f-000", "f-001"]
    assert list(await second.claim(NAMES)) == ["f-002", "f-003", "f-004", "f-005"]
    assert list(await first.claim(NAMES)) == ["f-000", "f-001"]  # its own, claimed again
    await second.unclaim(["f-004", "f-000"])  # another's claim is left alone
    assert list(await first.claim(NAMES)) == ["f-000", "f-001", "f-004"]


async def test_sessions_claiming_at_once_split_the_members(postgres_url: str) -> None:
    """Eight sessions claiming the same 40 members at the same moment get disjoint sets."""
    names = [f"f-{number:03d}" for number in range(40)]
    sessions = [PostgresJournal(postgres_url, fleet="f") for _ in range(8)]
    await asyncio.gather(*(session.hold() for session in sessions))
    try:
        claims = await asyncio.gather(*(s.claim(names, limit=10) for s in sessions))
    finally:
        await asyncio.gather(*(session.release() for session in sessions))
    claimed = [name for claim in claims for name in claim]
    assert sorted(claimed) == names  # each member once, none left out
    assert all(len(claim) <= 10 for claim in claims)


async def test_the_claims_of_a_killed_process_expire_and_are_taken_over(
    postgres_url: str, journals: list[PostgresJournal]
) -> None:
    """Claims of a live process are renewed; SIGKILLed, they are taken after claim_ttl."""
    process = await holder(postgres_url, ttl=0.4)
    try:
        mine, _ = journals
        await asyncio.sleep(0.6)  # longer than its claim_ttl: renewed meanwhile
        assert list(await mine.claim(NAMES[:3])) == ["f-002"]
    finally:
        process.kill()
        await process.wait()
    assert list(await mine.claim(NAMES[:3])) == ["f-002"]  # not expired yet
    await asyncio.sleep(0.5)
    claimed = await mine.claim(NAMES[:3])
    assert list(claimed) == ["f-000", "f-001", "f-002"]
    assert claimed["f-000"] == Member("f-000", 0, MemberState.ORDERING)  # as it was left


async def test_writes_need_a_claim_of_this_session(journals: list[PostgresJournal]) -> None:
    """put() and remove() of a member not claimed, or claimed by another, are refused."""
    first, second = journals
    member = Member("f-000", 0, MemberState.ORDERING)
    with pytest.raises(ConfigurationError, match="f-000: not claimed by this process"):
        await first.put([member])
    await second.claim(["f-000"])
    with pytest.raises(ConfigurationError, match=r"taken over: f-000 by pid \d+ on host"):
        await first.remove(["f-000"])
    await second.put([member])
    assert await first.members() == [member]


async def test_another_session_letting_go_ends_a_wait_for_changes(
    journals: list[PostgresJournal], postgres_url: str
) -> None:
    """A wait in changes() ends when another session removes, not on its own or another fleet's."""
    waiter, writer = journals
    other_fleet = PostgresJournal(postgres_url, fleet="g", claim_ttl=30)
    await other_fleet.hold()
    woken: asyncio.Task[None] | None = None
    try:
        await other_fleet.claim(["g~lead"])
        await other_fleet.remove(["g~lead"])
        await waiter.claim(["f-005"])
        await waiter.remove(["f-005"])
        await writer.claim(["f~lead"])
        woken = asyncio.create_task(waiter.changes(60))
        await asyncio.sleep(0.2)  # time for a wrong notice to arrive
        assert not woken.done()
        await writer.remove(["f~lead"])
        await asyncio.wait_for(woken, 10)  # well before its 60 s
    finally:
        if woken is not None and not woken.done():
            woken.cancel()
            await asyncio.wait([woken])
        await other_fleet.release()


async def test_records_are_written_read_and_removed_per_fleet(postgres_url: str) -> None:
    """Members round-trip; another fleet in the same database and a reader apart see their own."""
    journal = PostgresJournal(postgres_url, fleet="f")
    other = PostgresJournal(postgres_url, fleet="g")
    for held in (journal, other):
        await held.hold()
    order = {"code": "nvidia-a100", "gpu_count": 1}
    ready = Member("f-001", 1, MemberState.READY, vm_id="vm-1", vm_status="Running", order=order)
    await journal.claim(["f-000", "f-001"])
    await journal.put([Member("f-000", 0, MemberState.ORDERING), ready])
    await other.claim(["g-000"])
    await other.put([Member("g-000", 0, MemberState.FAILED, error="no capacity")])
    reader = PostgresJournal(postgres_url, fleet="f")  # not held: a connection of its own
    members = await reader.members()
    assert members == [Member("f-000", 0, MemberState.ORDERING), ready]
    assert members[1].order == order
    assert members[0].updated_at is not None
    await journal.remove(["f-000"])
    assert [m.name for m in await reader.members()] == ["f-001"]
    assert [m.name for m in await other.members()] == ["g-000"]
    for held in (journal, other):
        await held.release()


async def test_the_tables_are_made_once_by_sessions_starting_at_once(postgres_url: str) -> None:
    """Ten sessions holding a new database at once make the tables once, at version 1."""
    sessions = [PostgresJournal(postgres_url, fleet="f") for _ in range(10)]
    await asyncio.gather(*(session.hold() for session in sessions))
    await asyncio.gather(*(session.release() for session in sessions))
    connection = await asyncpg.connect(postgres_url)
    try:
        versions = await connection.fetch("SELECT version FROM gpcn_fleet_schema")
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'gpcn_fleet_%' ORDER BY 1"
        )
    finally:
        await connection.close()
    assert [row["version"] for row in versions] == [1]
    assert [row["tablename"] for row in tables] == [
        "gpcn_fleet_claims",
        "gpcn_fleet_members",
        "gpcn_fleet_schema",
    ]


async def test_reading_a_new_database_makes_nothing_and_newer_tables_are_refused(
    postgres_url: str,
) -> None:
    """members() of an empty database is empty and makes no table; a newer schema is refused."""
    journal = PostgresJournal(postgres_url, fleet="f")
    assert await journal.members() == []
    connection = await asyncpg.connect(postgres_url)
    try:
        assert await connection.fetchval("SELECT to_regclass('gpcn_fleet_schema')") is None
        await journal.hold()
        await journal.release()
        await connection.execute("INSERT INTO gpcn_fleet_schema (version) VALUES (2)")
    finally:
        await connection.close()
    for call in (journal.hold, journal.members):
        with pytest.raises(ConfigurationError, match="schema version 2; this gpcn_async knows"):
            await call()


def closed_port() -> int:
    """A port of 127.0.0.1 that nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("problem", ["refused", "password", "database"])
async def test_a_database_that_cannot_be_used_is_named_without_its_password(
    postgres_url: str, problem: str
) -> None:
    """A refused connection, a wrong password or a missing database name host:port, no password."""
    parts = urlsplit(postgres_url)
    password, port = parts.password or "", parts.port
    if problem == "refused":
        port = closed_port()
    url = f"postgresql://postgres:{password}@127.0.0.1:{port}/{parts.path[1:]}"
    if problem == "password":
        url = url.replace(password, password[::-1])
    elif problem == "database":
        url = url.replace(parts.path, "/nowhere")
    journal = PostgresJournal(url, fleet="f")
    for call in (journal.hold, journal.members):
        with pytest.raises(
            ConfigurationError, match=f"cannot connect to 127.0.0.1:{port}"
        ) as caught:
            await call()
        assert password not in str(caught.value)
        assert password[::-1] not in str(caught.value)
        assert caught.value.__cause__ is None
    assert password not in journal.location + repr(journal)
    assert journal.location.startswith(f"postgresql://postgres@127.0.0.1:{port}/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u:s3cret@127.0.0.1:port/db", "has a bad port in '127.0.0.1:port'"),
        ("postgresql://u@h/db?password=s3cret&sslmode=disable", "password=%2A%2A%2A"),
    ],
)
def test_urls_are_shown_without_their_password(url: str, message: str) -> None:
    """A bad port is refused at once; a password in the query is masked as well."""
    try:
        journal = PostgresJournal(url, fleet="f")
    except ConfigurationError as error:
        shown = str(error)
    else:
        shown = journal.location
    assert message in shown
    assert "s3cret" not in shown


def test_without_asyncpg_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """With asyncpg missing, a PostgreSQL journal says to install the postgres extra."""
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # what `import asyncpg` meets uninstalled
    with pytest.raises(ConfigurationError, match=r"gpcn-async\[postgres\]"):
        journal_for("postgresql://u@127.0.0.1/db", fleet="f")


def test_a_bad_claim_ttl_is_refused() -> None:
    """claim_ttl must be a positive number of seconds."""
    for ttl in (0, -1.0, True, "60"):
        with pytest.raises(InvalidRequestError, match="claim_ttl"):
            PostgresJournal("postgresql://u@127.0.0.1/db", fleet="f", claim_ttl=ttl)  # type: ignore[arg-type]


async def test_a_fleet_with_a_postgresql_url_ensures_and_tears_down(postgres_url: str) -> None:
    """Fleet(journal='postgresql://...') keeps its members in PostgreSQL, claims let go after."""
    async with FakeGPCN(job_duration=0.02) as fake, fake.client() as gpcn:
        fleet = Fleet(gpcn, "f", journal=postgres_url)
        assert isinstance(fleet.journal, PostgresJournal)
        vms = await fleet.ensure(3, code="nvidia-a100", gpu_count=1)
        assert [vm.name for vm in vms] == ["f-000", "f-001", "f-002"]
        assert fake.count("POST", "/resource/gpu") == 3
        assert {m.state for m in await fleet.members()} == {MemberState.READY}
        await fleet.ensure(3, code="nvidia-a100", gpu_count=1)  # nothing ordered again
        assert fake.count("POST", "/resource/gpu") == 3
        assert [m.name for m in await fleet.teardown()] == ["f-000", "f-001", "f-002"]
        assert fake.vms == {}
        assert await fleet.members() == []
    connection = await asyncpg.connect(postgres_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM gpcn_fleet_claims") == 0
    finally:
        await connection.close()


async def test_a_cancelled_ensure_lets_go_of_its_claims_for_the_next(postgres_url: str) -> None:
    """Cancelled (Ctrl-C) with orders in flight, a rerun takes up at once: each member once."""
    async with FakeGPCN(job_duration=0.02) as fake, fake.client() as gpcn:
        fake.inject("POST", "/resource/gpu", delay=0.2, times=None)
        fleet = Fleet(gpcn, "f", journal=postgres_url)
        task = asyncio.create_task(fleet.ensure(3, code="nvidia-a100", gpu_count=1))
        await eventually(lambda: fake.count("POST", "/resource/gpu") == 3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        fake.clear_faults()
        assert {m.state for m in await fleet.members()} == {MemberState.ORDERING}
        # Well within claim_ttl (120 s): only claims let go on the way out allow this.
        ensured = fleet.ensure(3, code="nvidia-a100", gpu_count=1)
        vms = await asyncio.wait_for(ensured, 10)
        assert [vm.name for vm in vms] == sorted(vm.name for vm in fake.vms.values())
        assert fake.created_vm_count == 3


async def test_a_process_wanting_more_members_takes_the_lead_when_it_is_let_go(
    postgres_url: str,
) -> None:
    """ensure(5) while an ensure(3) leads: it stands by, then leads and orders only the two more.

    Two sessions in one process stand for two processes: the lead's claim is per session.
    """
    ordering: dict[str, list[str]] = {"few": [], "more": []}

    def progress(run: str) -> Callable[[str, str], None]:
        def note(member: str, event: str) -> None:
            if event == "ordering":
                ordering[run].append(member)

        return note

    async with (
        FakeGPCN(job_duration=0.05) as fake,
        fake.client(poll=PollPolicy(interval=0.01, max_interval=0.05)) as gpcn,
    ):
        few_fleet, more_fleet = (
            Fleet(
                gpcn, "f", journal=PostgresJournal(postgres_url, fleet="f"), progress=progress(run)
            )
            for run in ("few", "more")
        )
        few_run = asyncio.create_task(few_fleet.ensure(3, code="nvidia-a100", gpu_count=1))
        await eventually(lambda: fake.count("POST", "/resource/gpu") >= 1)
        more = await more_fleet.ensure(5, code="nvidia-a100", gpu_count=1)
        few = await few_run
    assert ordering == {"few": ["f-000", "f-001", "f-002"], "more": ["f-003", "f-004"]}
    assert [vm.name for vm in more] == [f"f-{n:03d}" for n in range(5)]
    assert [vm.id for vm in more[:3]] == [vm.id for vm in few]
    assert fake.created_vm_count == 5
