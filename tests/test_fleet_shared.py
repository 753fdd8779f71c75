"""Fleets run by several processes at once on one PostgreSQL journal, some SIGKILLed.

The fake serves in a process of its own (``tests/fleet_fake.py``: the standalone fake, with jobs
that end after a set time whether polled or not, and its request log on demand), and
``tests/fleet_worker.py`` processes run ``ensure()`` or ``teardown()`` on one fleet with the same
journal URL. The request log is the proof: each member's create accepted once, each VM's delete
sent once.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gpcn_async.fleet import PostgresJournal

HERE = Path(__file__).parent
COUNT = 12
NAME = "shared"
EXPECTED = [f"{NAME}-{number:03d}" for number in range(COUNT)]
KILLED = -signal.SIGKILL
RUN_TIMEOUT = 40.0
CLAIM_TTL = "1.0"  # a killed worker's members wait this long before others take them up


@dataclass
class Server:
    """The fake's process: its URL, key and SSH key, and its log on request."""

    process: asyncio.subprocess.Process
    url: str
    key: str
    ssh_key_id: str

    async def log(self) -> dict[str, Any]:
        """What the fake received and holds: ``requests``, ``vms`` and ``created``."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(b"log\n")
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), 10)
        return dict(json.loads(line))


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """The fake in a process of its own, jobs taking 0.3 s."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, str(HERE / "fleet_fake.py"), "0.3"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        url, key, ssh_key_id = [
            (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
            for _ in range(3)
        ]
        yield Server(process, url, key, ssh_key_id)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


@dataclass
class Run:
    """How a worker ended: its exit status and, if it finished, its report."""

    code: int
    report: dict[str, Any]


async def start_worker(server: Server, journal: str, *args: str) -> asyncio.subprocess.Process:
    """Start a worker and wait until it is ready; it begins on ``go()``."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, str(HERE / "fleet_worker.py"), server.url, server.key, journal),
        *(NAME, *args, "--ssh-key-id", server.ssh_key_id, "--claim-ttl", CLAIM_TTL),
        *("--concurrency", "2", "--started", "--go", "--report"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), RUN_TIMEOUT) == b"started\n"
    except BaseException:
        process.kill()
        await process.wait()
        raise
    return process


async def go(process: asyncio.subprocess.Process) -> None:
    """Let a ready worker begin."""
    assert process.stdin is not None
    process.stdin.write(b"go\n")
    await process.stdin.drain()


async def workers(server: Server, journal: str, *args: str, kills: list[float | None]) -> list[Run]:
    """Start a worker per item of ``kills`` at one moment; each ends, or is SIGKILLed then.

    An item is the seconds after the start at which to SIGKILL that worker, or None.
    """
    processes: list[asyncio.subprocess.Process] = []
    try:
        for _ in kills:  # all ready, then all off at once
            processes.append(await start_worker(server, journal, *args))  # noqa: PERF401 -- one by one
        for process in processes:
            await go(process)
        return list(
            await asyncio.gather(*(end(p, kill) for p, kill in zip(processes, kills, strict=True)))
        )
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def end(process: asyncio.subprocess.Process, kill_after: float | None) -> Run:
    """Wait for a worker to end, SIGKILLing it after ``kill_after`` seconds if given."""
    if kill_after is not None:
        await asyncio.sleep(kill_after)
        if process.returncode is None:
            process.kill()
    stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    assert process.returncode in (0, KILLED), stderr.decode()
    report = json.loads(stdout) if process.returncode == 0 else {}
    return Run(process.returncode, report)


def accepted_creates(log: dict[str, Any]) -> Counter[str]:
    """How many creates the fake accepted per VM name."""
    return Counter(
        request["json"]["name"]
        for request in log["requests"]
        if request["method"] == "POST"
        and request["path"] == "/resource/gpu"
        and 200 <= request["status"] < 300
    )


def names_on_server(log: dict[str, Any]) -> list[str]:
    """The names of the VMs on the fake, sorted (repeats kept)."""
    return sorted(name for _, name in log["vms"])


async def test_three_processes_ensure_one_fleet_and_each_member_is_ordered_once(
    server: Server, postgres_url: str
) -> None:
    """Three ensure(12) at once: 12 VMs, each ordered once, all by one process, the same result.

    That process, the fleet's lead, orders and polls; the others stand by and poll no job.
    """
    runs = await workers(server, postgres_url, "ensure", str(COUNT), kills=[None] * 3)
    log = await server.log()
    assert accepted_creates(log) == Counter(EXPECTED)
    assert log["created"] == COUNT
    assert names_on_server(log) == EXPECTED
    ordered = [run.report["ordering"] for run in runs]
    assert sorted(name for names in ordered for name in names) == EXPECTED  # nobody twice
    assert sorted(bool(names) for names in ordered) == [False, False, True]  # one lead
    assert [run.report["polls"] > 0 for run in runs] == [bool(names) for names in ordered]
    results = {json.dumps(run.report["vms"]) for run in runs}
    assert len(results) == 1  # every process returned the same 12 VMs
    assert [name for name, _ in runs[0].report["vms"]] == EXPECTED
    connection = await asyncpg.connect(postgres_url)
    try:  # every claim was let go on the way out
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM gpcn_fleet_claims WHERE owner IS NOT NULL"
            )
            == 0
        )
    finally:
        await connection.close()


async def test_processes_killed_at_random_then_a_rerun_converge_without_duplicates(
    server: Server, postgres_url: str
) -> None:
    """Three ensures, two SIGKILLed at random moments, twice; then three more: no duplicate.

    The survivor of each round takes over from a killed lead once its claims expire, looking
    up by name what it may have ordered: it ends with all of them.
    """
    rng = random.Random(20)
    killed = 0
    for _ in range(2):
        delays: list[float | None] = [rng.uniform(0.0, 0.3), rng.uniform(0.0, 0.3), None]
        rng.shuffle(delays)
        runs = await workers(server, postgres_url, "ensure", str(COUNT), kills=delays)
        killed += sum(run.code == KILLED for run in runs)
        [survivor] = [run for run, delay in zip(runs, delays, strict=True) if delay is None]
        assert survivor.code == 0
        assert [name for name, _ in survivor.report["vms"]] == EXPECTED
        log = await server.log()
        assert max(accepted_creates(log).values()) == 1
        assert names_on_server(log) == EXPECTED
    assert killed >= 2
    runs = await workers(server, postgres_url, "ensure", str(COUNT), kills=[None] * 3)
    assert {run.code for run in runs} == {0}
    log = await server.log()
    assert accepted_creates(log) == Counter(EXPECTED)
    assert names_on_server(log) == EXPECTED


async def test_a_process_standing_by_takes_over_from_a_lead_killed_midway(
    server: Server, postgres_url: str
) -> None:
    """The lead dies after its 5th order is answered: one of two standing by finishes the fleet.

    It takes the lead once the dead one's claims expire, follows the accepted orders, looks up
    by name the one whose answer was never recorded, and orders the rest: each VM once.
    """
    lead = await start_worker(server, postgres_url, "ensure", str(COUNT), "--kill", "after-send:5")
    others: list[asyncio.subprocess.Process] = []
    try:
        await go(lead)
        for _ in range(200):  # the lead has begun ordering: the others will stand by
            if accepted_creates(await server.log()):
                break
            await asyncio.sleep(0.01)
        for _ in range(2):
            others.append(await start_worker(server, postgres_url, "ensure", str(COUNT)))  # noqa: PERF401
        for process in others:
            await go(process)
        runs = await asyncio.gather(end(lead, None), *(end(p, None) for p in others))
    finally:
        for process in [lead, *others]:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert [run.code for run in runs] == [KILLED, 0, 0]
    log = await server.log()
    assert accepted_creates(log) == Counter(EXPECTED)
    assert names_on_server(log) == EXPECTED
    took_over = [run for run in runs[1:] if run.report["ordering"]]
    assert len(took_over) == 1  # one new lead; the other stood by to the end
    assert 0 < len(took_over[0].report["ordering"]) < COUNT
    assert {json.dumps(run.report["vms"]) for run in runs[1:]} == {
        json.dumps(took_over[0].report["vms"])
    }
    assert [name for name, _ in took_over[0].report["vms"]] == EXPECTED


async def test_concurrent_teardowns_delete_each_member_once(
    server: Server, postgres_url: str
) -> None:
    """Three teardown() at once after an ensure: every VM gone, each delete sent once."""
    await workers(server, postgres_url, "ensure", str(COUNT), kills=[None])
    ids = {vm_id for vm_id, _ in (await server.log())["vms"]}
    runs = await workers(server, postgres_url, "teardown", kills=[None] * 3)
    assert {run.code for run in runs} == {0}
    log = await server.log()
    deletes: Counter[str] = Counter()
    for request in log["requests"]:
        if request["method"] == "POST" and request["path"] == "/resource/gpu/bulk/delete":
            deletes.update(request["json"]["ids"])
        elif request["method"] == "DELETE":
            deletes[request["path"].rpartition("/")[2]] += 1
    assert deletes == Counter(ids)
    assert log["vms"] == []
    assert sorted(n for run in runs for n in run.report["deleting"]) == EXPECTED
    assert await PostgresJournal(postgres_url, fleet=NAME).members() == []
