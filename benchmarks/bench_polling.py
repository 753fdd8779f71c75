"""Poll requests: one coalescing poller per client against polling each job on its own.

For N concurrent jobs that finish after the same duration on FakeGPCN (127.0.0.1), it counts
the poll requests our client spends while waiting for all of them, and the requests a naive
per-job poller with the same PollPolicy would spend on the same jobs, plus how long after its
completion on the server each waiter woke. Run: ``python benchmarks/bench_polling.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from gpcn_async import Client, JobStatus, PollPolicy
from gpcn_async.jobs import next_poll_delay
from gpcn_async.testing import FakeGPCN

JOB_SECONDS = 1.0
POLICY = PollPolicy(interval=0.1, max_interval=0.4, multiplier=2.0, timeout=120.0)


async def our_poller(n: int) -> dict[str, Any]:
    """Wait for n jobs through one client's poller; count poll requests and wake-up latency."""
    async with FakeGPCN(job_duration=JOB_SECONDS) as fake, fake.client(poll=POLICY) as gpcn:
        ids = [fake.add_job() for _ in range(n)]
        woke: dict[str, float] = {}

        async def wait(job_id: str) -> None:
            await gpcn.jobs.attach(job_id)
            woke[job_id] = time.monotonic()

        started = time.monotonic()
        await asyncio.gather(*(wait(job_id) for job_id in ids))
        wall = time.monotonic() - started
        latencies = [woke[job_id] - (fake.jobs[job_id].started + JOB_SECONDS) for job_id in ids]
        return {
            "requests": fake.count("POST", "/resource/jobs"),
            "wall_s": wall,
            "wake_median_s": statistics.median(latencies),
            "wake_max_s": max(latencies),
        }


async def naive_poller(n: int) -> int:
    """Poll each of n jobs on its own with the same schedule; return the requests spent."""
    async with FakeGPCN(job_duration=JOB_SECONDS) as fake, fake.client(poll=POLICY) as gpcn:
        ids = [fake.add_job() for _ in range(n)]
        await asyncio.gather(*(poll_alone(gpcn, job_id) for job_id in ids))
        return fake.count("POST", "/resource/jobs")


async def poll_alone(gpcn: Client, job_id: str) -> JobStatus:
    """What other SDKs do: sleep, poll this one job, repeat until it ends."""
    delay = POLICY.interval
    for _ in range(10_000):  # bounded: the job ends within seconds
        await asyncio.sleep(delay)
        (status,) = await gpcn.jobs.poll([job_id])
        if status.done:
            return status
        scheduled = min(delay * POLICY.multiplier, POLICY.max_interval)
        delay = next_poll_delay(
            scheduled, status.estimated_completion, now=time.time(), policy=POLICY
        )
    raise RuntimeError(f"job {job_id} did not end")


async def run(sizes: list[int]) -> list[dict[str, Any]]:
    """Measure each size and return one row per size."""
    rows = []
    for n in sizes:
        ours = await our_poller(n)
        naive = await naive_poller(n)
        rows.append(
            {
                "jobs": n,
                "our_requests": ours["requests"],
                "per_job_requests": naive,
                "ratio": naive / ours["requests"],
                "ideal_ratio": n / -(-n // 50),
                "wake_median_s": ours["wake_median_s"],
                "wake_max_s": ours["wake_max_s"],
                "max_interval_s": POLICY.max_interval,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """Print the rows as a table."""
    header = (
        f"{'jobs':>6} {'ours':>6} {'per-job':>8} {'ratio':>7} {'ideal':>7} "
        f"{'wake p50':>9} {'wake max':>9}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['jobs']:>6} {row['our_requests']:>6} {row['per_job_requests']:>8} "
            f"{row['ratio']:>7.1f} {row['ideal_ratio']:>7.1f} "
            f"{row['wake_median_s']:>8.3f}s {row['wake_max_s']:>8.3f}s"
        )
    print(
        f"(jobs finish after {JOB_SECONDS} s; "
        f"poll interval {POLICY.interval}-{POLICY.max_interval} s)"
    )


def main() -> None:
    """Parse arguments, run, print, and optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500, 2000])
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args()
    rows = asyncio.run(run(args.sizes))
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
