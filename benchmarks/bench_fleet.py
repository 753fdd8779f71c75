"""Crash-safe fleets: ensure(100) and teardown with and without SIGKILLs; shared by processes.

Last, ensure(100) by 1, 2 and 4 processes at once on one PostgreSQL journal.

``gpcn fleet ensure`` and ``gpcn fleet teardown`` run as processes of their own against FakeGPCN
(in this process, on 127.0.0.1) under a rate limit, with jobs that take ``--job-seconds``
whether polled or not. Without kills each command runs once; with kills, the commands are
SIGKILLed at seeded random moments and started again until they finish. The table shows the
requests each case sent (per VM, and how many more the kills cost), the VMs created (a
duplicate would show as more than the members), the VMs left after the teardown, and the
wall time.

The PostgreSQL rows start a throwaway cluster as the tests do (``tests/postgres.py``; skipped,
saying what to install, where PostgreSQL's programs are missing), a database per row, and run
that many ``gpcn fleet ensure`` processes at once with ``--journal postgresql://...``: wall time
until the last one ends (also from the first request, without the interpreters' start-up), and
requests per VM against one process.

Run: ``python benchmarks/bench_fleet.py [--vms 100] [--kills 5] [--processes 1,2,4]``.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import Column, Row, parser, print_table, write_json

from gpcn_async.testing import FakeGPCN

sys.path.insert(0, str(Path(__file__).parent.parent))  # the tests' throwaway PostgreSQL cluster
from tests.postgres import Cluster, cluster, missing

COLUMNS: list[Column] = [
    ("case", "case", ""),
    ("kills", "kills landed", "d"),
    ("runs", "runs", "d"),
    ("ensure_requests", "ensure requests", "d"),
    ("teardown_requests", "teardown requests", "d"),
    ("per_vm", "requests / VM", ".2f"),
    ("extra", "extra requests", "d"),
    ("created", "VMs created", "d"),
    ("duplicates", "duplicates", "d"),
    ("left", "left after teardown", "d"),
    ("rate_limited", "429s", "d"),
    ("wall_s", "wall s", ".1f"),
]
SHARED_COLUMNS: list[Column] = [
    ("case", "processes", ""),
    ("wall_s", "wall s", ".1f"),
    ("busy_s", "from 1st request s", ".2f"),
    ("ensure_requests", "ensure requests", "d"),
    ("per_vm", "requests / VM", ".2f"),
    ("vs_one", "requests vs 1 process", ".3f"),
    ("created", "VMs created", "d"),
    ("duplicates", "duplicates", "d"),
    ("rate_limited", "429s", "d"),
]
MAX_RUNS = 20
"""Runs of one command at most (bounded: a fleet that never converged would show here)."""


async def gpcn(fake: FakeGPCN, journal: Path | str, *args: str, kill_after: float | None) -> bool:
    """Run ``gpcn fleet ...`` once; True if it finished, False if it was killed first."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "gpcn_async", "--api-key", fake.api_key, "--base-url", fake.url),
        *("--quiet", "--poll-interval", "0.1", "fleet", *args, "--journal", str(journal)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await asyncio.wait_for(process.wait(), kill_after)
    except TimeoutError:
        process.kill()
        await process.wait()
        return False
    if process.returncode != 0:
        assert process.stderr is not None  # noqa: S101 -- stderr=PIPE was asked for
        raise RuntimeError((await process.stderr.read()).decode())
    return True


async def until_done(
    fake: FakeGPCN, journal: Path, args: list[str], kills: list[float]
) -> tuple[int, float]:
    """Run a command, killed after each of ``kills`` seconds, until it ends: (kills, wall).

    A run that ends before its kill is due ends the command: fewer kills than asked.
    """
    started = time.monotonic()
    for killed, delay in enumerate([*kills, None][:MAX_RUNS]):
        if await gpcn(fake, journal, *args, kill_after=delay):
            return killed, time.monotonic() - started
    raise RuntimeError(f"{' '.join(args)} did not finish in {MAX_RUNS} runs")


async def measure(case: str, args: Any, kills: int, rng: random.Random) -> Row:
    """Ensure then tear down a fleet of ``args.vms`` on a fresh fake, with ``kills`` SIGKILLs."""
    # Seconds after a run starts (0.3 s of it is the interpreter starting): ensure runs for
    # about 2 s under the default rate limit (its jobs take 1 s), a teardown about 1.5 s, so
    # all kills but one land in ensure runs, and one in the teardown.
    ensure_kills = [rng.uniform(0.35, 0.9) for _ in range(kills - 1)]
    teardown_kills = [rng.uniform(0.4, 0.8)][:kills]
    async with FakeGPCN(
        job_duration=args.job_seconds, rate_limit=args.rate_limit, rate_window=args.rate_window
    ) as fake:
        with tempfile.TemporaryDirectory() as folder:
            journal = Path(folder) / "bench.db"
            order = ["ensure", "bench", str(args.vms), "--code", "nvidia-a100", "--gpu-count", "1"]
            ensure_killed, ensure_wall = await until_done(fake, journal, order, ensure_kills)
            ensure_requests = len(fake.requests)
            names = Counter(vm.name for vm in fake.vms.values())
            teardown = ["teardown", "bench"]
            teardown_killed, teardown_wall = await until_done(
                fake, journal, teardown, teardown_kills
            )
        return {
            "case": case,
            "kills": ensure_killed + teardown_killed,
            "runs": ensure_killed + teardown_killed + 2,
            "ensure_requests": ensure_requests,
            "teardown_requests": len(fake.requests) - ensure_requests,
            "per_vm": len(fake.requests) / args.vms,
            "extra": 0,
            "created": fake.created_vm_count,
            "duplicates": sum(count - 1 for count in names.values()),
            "left": len(fake.vms),
            "rate_limited": fake.rate_limited_count,
            "wall_s": ensure_wall + teardown_wall,
        }


async def measure_shared(
    processes: int, args: Any, postgres: Cluster, *, alongside: int = 0
) -> Row:
    """``processes`` runs of ``gpcn fleet ensure`` at once on one PostgreSQL journal.

    With ``alongside``, that many ``gpcn fleet status`` processes start with them: interpreters
    that start up and connect to the journal as an ensure's do, then end.
    """
    journal = await postgres.new_database()
    async with FakeGPCN(
        job_duration=args.job_seconds, rate_limit=args.rate_limit, rate_window=args.rate_window
    ) as fake:
        order = ["ensure", "bench", str(args.vms), "--code", "nvidia-a100", "--gpu-count", "1"]
        started = time.monotonic()
        await asyncio.gather(
            *(gpcn(fake, journal, *order, kill_after=None) for _ in range(processes)),
            *(gpcn(fake, journal, "status", "bench", kill_after=None) for _ in range(alongside)),
        )
        ended = time.monotonic()
        names = Counter(vm.name for vm in fake.vms.values())
        return {
            "case": f"{processes} + {alongside} starting" if alongside else str(processes),
            "processes": processes,
            "alongside": alongside,
            "wall_s": ended - started,
            # The same clock as fake.requests' times: without the interpreters' start-up.
            "busy_s": ended - fake.requests[0].time,
            "ensure_requests": len(fake.requests),
            "per_vm": len(fake.requests) / args.vms,
            "vs_one": 1.0,
            "created": fake.created_vm_count,
            "duplicates": sum(count - 1 for count in names.values()),
            "rate_limited": fake.rate_limited_count,
        }


async def run_shared(args: Any) -> list[Row]:
    """A row per process count, on a throwaway cluster; requests compared with the first row.

    Last, the control: one ensure with as many interpreters starting alongside as the most
    processes have beside the first, to tell the machine's start-up cost from the fleet's.
    """
    with cluster() as postgres:
        rows = [await measure_shared(count, args, postgres) for count in args.processes]
        if max(args.processes) > 1:
            rows.append(await measure_shared(1, args, postgres, alongside=max(args.processes) - 1))
    for row in rows:
        row["vs_one"] = row["ensure_requests"] / rows[0]["ensure_requests"]
    return rows


async def run(args: Any) -> list[Row]:
    """A row without kills, then one with ``args.kills`` kills; extra requests against the first."""
    rng = random.Random(args.seed)
    calm = await measure("no kill", args, 0, rng)
    killed = await measure(f"{args.kills} kills", args, args.kills, rng)
    killed["extra"] = (
        killed["ensure_requests"]
        + killed["teardown_requests"]
        - calm["ensure_requests"]
        - calm["teardown_requests"]
    )
    return [calm, killed]


def main() -> None:
    """Parse arguments, run, print the table, and write JSON if asked."""
    options = parser(__doc__)
    options.add_argument("--vms", type=int, default=100)
    options.add_argument(
        "--kills", type=int, default=5, help="SIGKILLs: one in teardown, the rest in ensure"
    )
    options.add_argument("--job-seconds", type=float, default=1.0, help="how long a job runs")
    options.add_argument("--rate-limit", type=int, default=300, help="requests per window")
    options.add_argument("--rate-window", type=float, default=10.0, help="seconds")
    options.add_argument("--seed", type=int, default=19)
    options.add_argument(
        "--processes",
        type=lambda text: [int(count) for count in text.split(",")],
        default=[1, 2, 4],
        help="the process counts of the PostgreSQL rows, e.g. 1,2,4 (the first is the base)",
    )
    args = options.parse_args()
    rows = asyncio.run(run(args))
    print_table(
        f"ensure({args.vms}) then teardown with gpcn fleet (FakeGPCN, {args.rate_limit} requests "
        f"per {args.rate_window:g} s, jobs take {args.job_seconds:g} s, --poll-interval 0.1)",
        COLUMNS,
        rows,
        note=(
            "Kills are SIGKILLs at seeded random times (ensure first, then teardown), each "
            "followed by a new run of the same command, until one finishes. A duplicate would "
            "be a second VM with a member's name; 'VMs created' counts every create that "
            "made a VM. A run after a kill reads the fleet in one listing, which also serves "
            "the VMs found ready, so the extra requests can be fewer than none."
        ),
    )
    reason = missing()
    shared = [] if reason else asyncio.run(run_shared(args))
    if reason:
        print(f"\nPostgreSQL rows skipped: {reason}")
    else:
        print_table(
            f"ensure({args.vms}) by N gpcn fleet processes at once on one PostgreSQL journal "
            f"(same fake settings)",
            SHARED_COLUMNS,
            shared,
            note=(
                "Each row starts on a new database and a new fake; wall time runs from the "
                "start of the processes (interpreter start-up included) to the end of the last, "
                "'from 1st request' from the first request the fake received to that end. "
                "'1 + N starting' is one ensure with N gpcn fleet status processes started "
                "with it: the cost of starting N more interpreters on this machine. "
                "The processes share the API key's rate limit, so more of them cannot order "
                "faster than it allows; 'requests vs 1 process' is the cost of sharing."
            ),
        )
    write_json(
        args.json,
        "fleet",
        [*rows, *shared],
        vms=args.vms,
        job_seconds=args.job_seconds,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        seed=args.seed,
    )


if __name__ == "__main__":
    main()
