"""Bulk calls: stop 1,000 VMs, and delete 1,000 VMs and wait for every deletion.

Against FakeGPCN (127.0.0.1), each operation twice on a fresh fake: through the bulk call
(``bulk_stop``; ``bulk_delete`` then ``await group``: chunks of 50 ids, sent concurrently, and
the deletion jobs polled together), and as one call per id (``stop``; ``delete`` then waiting
for every job, still through the client's one poller). The table shows the requests each sent,
by kind, and the wall time. Deletion jobs take ``--job-seconds`` on the fake.

Run: ``python benchmarks/bench_bulk.py [--ids 1000]``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _common import Column, Row, parser, print_table, write_json

from gpcn_async import Client, PollPolicy
from gpcn_async.testing import FakeGPCN

POLICY = PollPolicy(interval=0.1, max_interval=0.4, timeout=60.0)

COLUMNS: list[Column] = [
    ("operation", "operation", ""),
    ("how", "how", ""),
    ("ids", "ids", "d"),
    ("action_requests", "action requests", "d"),
    ("poll_requests", "poll requests", "d"),
    ("requests", "all requests", "d"),
    ("wall_s", "wall s", ".2f"),
    ("ok", "all ok", ""),
]

Operation = Callable[[Client, list[str]], Awaitable[bool]]


async def bulk_stop(gpcn: Client, ids: list[str]) -> bool:
    """``bulk_stop``: one outcome per id."""
    return (await gpcn.gpu.bulk_stop(ids)).ok


async def stop_each(gpcn: Client, ids: list[str]) -> bool:
    """One ``stop`` per id, all at once (the client's connection limit bounds them)."""
    jobs = await asyncio.gather(*(gpcn.gpu.stop(vm_id) for vm_id in ids))
    await asyncio.gather(*jobs)
    return True


async def bulk_delete_and_wait(gpcn: Client, ids: list[str]) -> bool:
    """``bulk_delete`` then ``await group``."""
    group = await gpcn.gpu.bulk_delete(ids)
    return (await group).ok


async def delete_each_and_wait(gpcn: Client, ids: list[str]) -> bool:
    """One ``delete`` per id, all at once, then wait for every job."""
    jobs = await asyncio.gather(*(gpcn.gpu.delete(vm_id) for vm_id in ids))
    await asyncio.gather(*jobs)
    return True


CASES: list[tuple[str, str, Operation, str]] = [
    ("stop", "bulk_stop", bulk_stop, "/resource/gpu/bulk/stop"),
    ("stop", "stop() per id", stop_each, "/resource/gpu/*/stop"),
    ("delete + wait", "bulk_delete", bulk_delete_and_wait, "/resource/gpu/bulk/delete"),
    ("delete + wait", "delete() per id", delete_each_and_wait, "/resource/gpu/*"),
]


async def measure(count: int, job_seconds: float, case: tuple[str, str, Operation, str]) -> Row:
    """Run one case on a fresh fake holding ``count`` VMs."""
    operation, how, run, action_path = case
    async with FakeGPCN(job_duration=job_seconds) as fake:
        ids = [fake.add_vm() for _ in range(count)]
        async with fake.client(poll=POLICY) as gpcn:
            started = time.monotonic()
            async with asyncio.timeout(POLICY.timeout):
                ok = await run(gpcn, ids)
            wall = time.monotonic() - started
        method = "DELETE" if action_path == "/resource/gpu/*" else "POST"
        return {
            "operation": operation,
            "how": how,
            "ids": count,
            "action_requests": fake.count(method, action_path),
            "poll_requests": fake.count("POST", "/resource/jobs"),
            "requests": len(fake.requests),
            "wall_s": wall,
            "ok": "yes" if ok else "no",
        }


async def run(args: Any) -> list[Row]:
    """One row per case."""
    return [await measure(args.ids, args.job_seconds, case) for case in CASES]


def main() -> None:
    """Parse arguments, run, print the table, and write JSON if asked."""
    options = parser(__doc__)
    options.add_argument("--ids", type=int, default=1000)
    options.add_argument("--job-seconds", type=float, default=1.0, help="how long a job runs")
    args = options.parse_args()
    rows = asyncio.run(run(args))
    print_table(
        f"{args.ids} ids: bulk calls vs one call per id (FakeGPCN, jobs take "
        f"{args.job_seconds:g} s, PollPolicy(interval={POLICY.interval}, "
        f"max_interval={POLICY.max_interval}))",
        COLUMNS,
        rows,
        note=(
            "Bulk calls send ceil(ids / 50) requests, concurrently; the fake answers stop with "
            "200 at once (no job). Deletion jobs are polled by the client's one poller in both "
            "cases: ceil(pending / 50) requests a round."
        ),
    )
    write_json(args.json, "bulk", rows, job_seconds=args.job_seconds)


if __name__ == "__main__":
    main()
