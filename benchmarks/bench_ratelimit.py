"""Rate limiting: 2,000 mixed calls against a fake that enforces a small window.

FakeGPCN (127.0.0.1) allows ``--limit`` requests per window of ``--windows`` seconds (fixed
windows, each starting with the first request after the previous one ended) and answers 429
beyond that. The client paces itself from the ``X-RateLimit-*`` headers alone. The table shows
the 429s it met (goal: 0) and its throughput as a fraction of the allowed rate (goal: >= 0.9).

Two windows by default, 50 requests each: 0.5 s, whose ``X-RateLimit-Reset`` the fake gives to
the millisecond, and 1 s, whose reset it gives in whole Unix seconds as the real API does (so
the end of a window is known to a second only).

Run: ``python benchmarks/bench_ratelimit.py [--calls 2000]``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _common import Column, Deadline, Row, parser, print_table, write_json

from gpcn_async import Client
from gpcn_async.testing import FakeGPCN

GOAL_FRACTION = 0.9
WORKERS = 50

COLUMNS: list[Column] = [
    ("limit", "limit", "d"),
    ("window_s", "window s", "g"),
    ("reset", "Reset header", ""),
    ("calls", "calls", "d"),
    ("requests", "requests", "d"),
    ("rate_limited", "429s", "d"),
    ("wall_s", "wall s", ".1f"),
    ("best_s", "fastest s", ".1f"),
    ("rate", "calls/s", ".1f"),
    ("allowed", "allowed/s", ".1f"),
    ("fraction", "fraction", ".2f"),
]

Call = Callable[[Client], Awaitable[Any]]


def call_mix(vm_id: str, job_id: str) -> list[Call]:
    """The calls a fleet script makes, in turn: a read, a page, the inventory, a job poll."""

    async def get(gpcn: Client) -> Any:
        return await gpcn.gpu.get(vm_id)

    async def page(gpcn: Client) -> Any:
        return await gpcn.gpu.list_page(limit=10)

    async def inventory(gpcn: Client) -> Any:
        return await gpcn.gpu.inventory()

    async def poll(gpcn: Client) -> Any:
        return await gpcn.jobs.poll([job_id])

    return [get, page, inventory, poll]


async def measure(limit: int, window: float, calls: int, max_seconds: float) -> Row:
    """Make up to ``calls`` calls through ``WORKERS`` tasks, for at most ``max_seconds``.

    Workers stop taking calls when the time budget is spent (calls already sent finish).
    """
    async with FakeGPCN(rate_limit=limit, rate_window=window) as fake:
        vm_id = fake.add_vm(name="bench")
        job_id = fake.add_job(polls=10**6)
        mix = itertools.cycle(call_mix(vm_id, job_id))
        queue = [next(mix) for _ in range(calls)]
        queue.reverse()
        done = 0
        async with fake.client() as gpcn:
            deadline = Deadline(max_seconds)

            async def worker() -> None:
                nonlocal done
                while queue and not deadline.expired:
                    await queue.pop()(gpcn)
                    done += 1

            started = time.monotonic()
            async with asyncio.TaskGroup() as group:
                for _ in range(WORKERS):
                    group.create_task(worker())
            wall = time.monotonic() - started
        allowed = limit / window
        # The fastest any client could make these calls: a full window's worth at the start of
        # each window, so the last batch goes (windows - 1) windows after the first.
        best = (math.ceil(done / limit) - 1) * window
        return {
            "limit": limit,
            "window_s": window,
            "reset": "whole seconds" if window >= 1 else "milliseconds",
            "calls": done,
            "requests": len(fake.requests),
            "rate_limited": fake.rate_limited_count,
            "wall_s": wall,
            "best_s": best,
            "rate": done / wall,
            "allowed": allowed,
            "fraction": best / wall if best > 0 else 1.0,
        }


async def run(args: Any) -> list[Row]:
    """One row per window."""
    return [
        await measure(args.limit, window, args.calls, args.max_seconds) for window in args.windows
    ]


def main() -> None:
    """Parse arguments, run, print the table, and write JSON if asked."""
    options = parser(__doc__)
    options.add_argument("--calls", type=int, default=2000)
    options.add_argument("--limit", type=int, default=50, help="requests allowed per window")
    options.add_argument("--windows", type=float, nargs="+", default=[0.5, 1.0])
    options.add_argument(
        "--max-seconds", type=float, default=45.0, help="time budget per window size"
    )
    args = options.parse_args()
    rows = asyncio.run(run(args))
    print_table(
        f"{args.calls} mixed calls (get, list_page, inventory, jobs.poll) from {WORKERS} tasks "
        "against a rate-limited FakeGPCN",
        COLUMNS,
        rows,
        note=(
            f"Goals: no 429, fraction >= {GOAL_FRACTION}. fraction = fastest / wall, where "
            "fastest is the least time any client needs for these calls at this limit (a "
            "window's worth at the start of each window). A row stops taking new calls after "
            f"{args.max_seconds:g} s. Whole-second "
            "Reset: the fake's windows start with the first request after the previous one "
            "ended, so they are not aligned with whole seconds, and it rounds Reset up: the end "
            "of a window is announced up to 1 s late. A client that never sends before the "
            "announced end (the only way to be sure of meeting no 429) leaves the server idle "
            "up to a second per window: at most W/(W+1) of the rate for a W-second window, "
            "about 0.5 for 1 s, 0.98 for a 60-s window. Given the end to the millisecond, the "
            "same limiter keeps the server at its full rate."
        ),
    )
    write_json(args.json, "ratelimit", rows, goal_fraction=GOAL_FRACTION, workers=WORKERS)


if __name__ == "__main__":
    main()
