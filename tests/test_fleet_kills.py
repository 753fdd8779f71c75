"""Crash safety with real processes: a fleet script killed with SIGKILL, then run again.

The standalone fake (``python -m gpcn_async.testing``) serves in a process of its own, with jobs
that end after a set time whether or not anybody polls them, as the real API's do.
``tests/fleet_worker.py`` runs ``ensure()`` or ``teardown()`` against it and is killed at seeded
moments: by itself on cue (before an order is sent, after its answer came and before it was
recorded, while waiting for jobs, before and after a bulk delete), or by the test on a seeded
timer. After every run the server never holds two VMs of one name; after a run to the end it
holds exactly the members asked for, and after a teardown none.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpcn_async import Client, PollPolicy
from gpcn_async.fleet import SqliteJournal

WORKER = Path(__file__).parent / "fleet_worker.py"
COUNT = 5
NAME = "kill"
EXPECTED = [f"{NAME}-{number:03d}" for number in range(COUNT)]
KILLED = -signal.SIGKILL
RUN_TIMEOUT = 30.0


@dataclass(frozen=True)
class Server:
    """The standalone fake: its URL and key, and an SSH key for reference-dialect orders."""

    url: str
    key: str
    ssh_key_id: str

    def client(self) -> Client:
        """A client of the fake, for the test's own checks."""
        return Client(self.key, base_url=self.url, poll=PollPolicy(interval=0.01))


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """``python -m gpcn_async.testing`` in the reference dialect, jobs taking 0.6 s."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "gpcn_async.testing", "--port", "0"),
        *("--dialect", "reference", "--job-duration", "0.6"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        key = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        async with Client(key, base_url=url) as gpcn:
            ssh_key = await gpcn.ssh_keys.generate("fleet")
        yield Server(url, key, ssh_key.key.id)
    finally:
        process.kill()
        await process.wait()


async def run_worker(
    server: Server, journal: Path, *args: str, kill_after: float | None = None
) -> int:
    """Run the fleet script to its end or its death; its exit status (-9: killed).

    With ``kill_after``, the test kills it that many seconds after its client is open.
    """
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, str(WORKER), server.url, server.key, str(journal), NAME, *args),
        *("--ssh-key-id", server.ssh_key_id, "--started"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        if kill_after is not None:
            assert process.stdout is not None
            await asyncio.wait_for(process.stdout.readline(), RUN_TIMEOUT)
            await asyncio.sleep(kill_after)
            if process.returncode is None:
                process.kill()
        _, stderr = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode in (0, KILLED), stderr.decode()
    return process.returncode


async def names_on_server(server: Server) -> list[str]:
    """The names of the fleet's VMs on the server, sorted (repeats kept)."""
    async with server.client() as gpcn:
        return sorted([vm.name async for vm in gpcn.gpu.list(search=f"{NAME}-")])


async def check_after(server: Server, code: int, expected: list[str]) -> None:
    """No name is ever borne twice; a run to the end leaves exactly ``expected``."""
    names = await names_on_server(server)
    assert len(names) == len(set(names)), f"duplicates: {names}"
    assert set(names) <= set(EXPECTED)
    if code == 0:
        assert names == expected


# Each life of the fleet on one journal: the moments its ensure runs and teardown runs are
# killed at, in order. A teardown killed once has every member being deleted, so what its
# next run can be killed at differs from the first: each life tries other moments.
# Each moment comes for sure in one run, whatever the machine's load: "before-send" and
# "after-send" in a life's first run (every member missing), "wait" right after a kill before
# a send (so that run orders afresh and polls jobs that have just begun); a run after others
# may find nothing left to order or wait for, when those runs' jobs have ended meanwhile.
LIVES = [
    (["before-send", "wait", "after-send"], ["delete-intent", "wait"]),
    (["after-send", "before-send", "wait"], ["delete-sent", "wait"]),
]


async def test_killed_at_each_moment_ensure_and_teardown_converge(
    server: Server, tmp_path: Path
) -> None:
    """Killed before a send, after a send, while waiting and during teardown: no duplicate, ever."""
    rng = random.Random(19)
    journal = tmp_path / "kill.db"
    killed: set[str] = set()
    for ensure_moments, teardown_moments in LIVES:
        for moment in ensure_moments:
            missing = COUNT - len(await names_on_server(server))
            most = 3 if moment == "wait" else max(1, missing)  # orders: one per missing member
            cue = f"{moment}:{rng.randint(1, most)}"
            code = await run_worker(server, journal, "ensure", str(COUNT), "--kill", cue)
            killed |= {f"ensure {moment}"} if code == KILLED else set()
            await check_after(server, code, EXPECTED)
        assert await run_worker(server, journal, "ensure", str(COUNT)) == 0
        await check_after(server, 0, EXPECTED)
        for moment in teardown_moments:
            # One bulk delete (5 ids) per run; one "deleting" per member; polls every 10-50 ms.
            most = {"delete-intent": COUNT, "delete-sent": 1, "wait": 3}[moment]
            cue = f"{moment}:{rng.randint(1, most)}"
            code = await run_worker(server, journal, "teardown", "--kill", cue)
            killed |= {f"teardown {moment}"} if code == KILLED else set()
            await check_after(server, code, [])
        assert await run_worker(server, journal, "teardown") == 0
        assert await names_on_server(server) == []
        assert await SqliteJournal(journal, fleet=NAME).members() == []
    every = {f"ensure {m}" for m in ("before-send", "after-send", "wait")}
    every |= {f"teardown {m}" for m in ("delete-intent", "delete-sent", "wait")}
    assert killed == every


async def test_killed_on_a_seeded_timer_converges(server: Server, tmp_path: Path) -> None:
    """SIGKILLed at seeded random times, ensure and teardown still end with all and then none."""
    rng = random.Random(1919)
    journal = tmp_path / "timer.db"
    for _ in range(3):
        delay = rng.uniform(0.0, 0.3)
        code = await run_worker(server, journal, "ensure", str(COUNT), kill_after=delay)
        await check_after(server, code, EXPECTED)
    assert await run_worker(server, journal, "ensure", str(COUNT)) == 0
    await check_after(server, 0, EXPECTED)
    delay = rng.uniform(0.0, 0.1)
    code = await run_worker(server, journal, "teardown", kill_after=delay)
    await check_after(server, code, [])
    assert await run_worker(server, journal, "teardown") == 0
    assert await names_on_server(server) == []
