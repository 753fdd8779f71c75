"""Memory: pending jobs on one poller, and iterating a long list of VMs.

The server is a bare aiohttp.web server in a child process (127.0.0.1), so ``tracemalloc`` in
this process sees the client's memory only.

1. Pending jobs: ``bulk_delete`` of 10,000 ids gives 10,000 ``Job`` objects (each with the
   ``JobStatus`` of its 202 answer, in a ``JobGroup``); then one task per job waits on it, as
   ``asyncio.gather(*(job.wait() ...))`` would, until all 10,000 are registered with the poller.
   Counted per job: the jobs (Job, JobStatus, the group's entries), and the waits (the task and
   its coroutine frames, the poller's entry, the waiter's future, its deadline timer). The poll
   interval is long, so no poll happens while measuring. Goal: at most 2 KB per job in all.
2. ``gpu.list()``: the peak memory above the baseline while iterating all VMs of lists of
   5,000 to 50,000, 100 a page. Goal: flat, whatever the length.

Run: ``python benchmarks/bench_memory.py [--jobs 10000] [--vms 5000 20000 50000]``.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import Sequence

from _common import API_KEY, Column, Row, bare_server_process, parser, print_table, write_json

from gpcn_async import Client, PollPolicy

GOAL_BYTES_PER_JOB = 2048
IDLE_POLICY = PollPolicy(interval=600.0, max_interval=600.0, timeout=3600.0)

JOB_COLUMNS: list[Column] = [
    ("jobs", "pending jobs", "d"),
    ("job_bytes", "jobs B/job", ".0f"),
    ("wait_bytes", "waits B/job", ".0f"),
    ("total_bytes", "total B/job", ".0f"),
    ("total_mib", "total MiB", ".1f"),
]
LIST_COLUMNS: list[Column] = [
    ("vms", "VMs listed", "d"),
    ("pages", "pages", "d"),
    ("peak_kib", "peak KiB above baseline", ".0f"),
    ("wall_s", "wall s", ".2f"),
]


def traced() -> int:
    """The bytes tracemalloc sees allocated now, after a full collection."""
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def pending_jobs(url: str, count: int) -> Row:
    """Memory per pending job: the jobs themselves, then one waiting task each."""
    ids = [f"vm-{number:08d}" for number in range(count)]
    async with Client(api_key=API_KEY, base_url=url, poll=IDLE_POLICY) as gpcn:
        # Warm up: open the connections and build what the first calls build, then forget it.
        warm_up = await gpcn.gpu.bulk_delete(ids)
        del warm_up
        tracemalloc.start()
        try:
            baseline = traced()
            group = await gpcn.gpu.bulk_delete(ids)
            with_jobs = traced()
            tasks = [asyncio.create_task(job.wait()) for job in group.jobs.values()]
            for _ in range(100):  # bounded: every task registers within a few loop turns
                await asyncio.sleep(0)
                if gpcn._poller.pending == count:  # internal, read here to know all are waiting
                    break
            else:
                raise RuntimeError("the waits did not all register with the poller")
            with_waits = traced()
        finally:
            tracemalloc.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    job_bytes = (with_jobs - baseline) / count
    wait_bytes = (with_waits - with_jobs) / count
    return {
        "jobs": count,
        "job_bytes": job_bytes,
        "wait_bytes": wait_bytes,
        "total_bytes": job_bytes + wait_bytes,
        "total_mib": (with_waits - baseline) / 2**20,
    }


async def list_peak(url: str, vms: int) -> Row:
    """Peak memory above the baseline while iterating every VM of the list."""
    async with Client(api_key=API_KEY, base_url=url) as gpcn:
        await gpcn.gpu.list_page(page_size=100)  # warm up: connection, code paths
        tracemalloc.start()
        try:
            baseline = traced()
            tracemalloc.reset_peak()
            started = time.monotonic()
            seen = 0
            async for _ in gpcn.gpu.list(page_size=100):
                seen += 1
            wall = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    if seen != vms:
        raise RuntimeError(f"listed {seen} VMs of {vms}")
    return {
        "vms": vms,
        "pages": -(-vms // 100),
        "peak_kib": (peak - baseline) / 1024,
        "wall_s": wall,
    }


def run(jobs: int, sizes: Sequence[int]) -> tuple[list[Row], list[Row]]:
    """Both measurements, each against its own bare server process."""
    with bare_server_process() as url:
        job_rows = [asyncio.run(pending_jobs(url, jobs))]
    list_rows = []
    for vms in sizes:
        with bare_server_process(vms=vms) as url:
            list_rows.append(asyncio.run(list_peak(url, vms)))
    return job_rows, list_rows


def main() -> None:
    """Parse arguments, run, print both tables, and write JSON if asked."""
    options = parser(__doc__)
    options.add_argument("--jobs", type=int, default=10_000)
    options.add_argument("--vms", type=int, nargs="+", default=[5_000, 20_000, 50_000])
    args = options.parse_args()
    job_rows, list_rows = run(args.jobs, args.vms)
    print_table(
        "Memory per pending job on one poller (tracemalloc, client process only)",
        JOB_COLUMNS,
        job_rows,
        note=(
            f"Goal: total <= {GOAL_BYTES_PER_JOB} B per job. jobs: Job + its JobStatus + the "
            "JobGroup's entries; waits: one task per job awaiting job.wait() (task, coroutine "
            "frames, future, deadline timer) + the poller's entry."
        ),
    )
    print_table(
        "Peak memory while iterating gpu.list() (100 VMs a page)",
        LIST_COLUMNS,
        list_rows,
        note="Goal: flat. The iterator keeps one page and the previous page's ids, nothing more.",
    )
    write_json(args.json, "memory", job_rows, list_rows=list_rows)


if __name__ == "__main__":
    main()
