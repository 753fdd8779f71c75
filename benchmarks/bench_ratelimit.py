"""Rate limiting: 1,500 mixed calls against a fake that enforces a small window.

FakeGPCN (127.0.0.1) allows ``--limit`` requests per fixed window and answers 429 beyond that.
The client paces itself from the ``X-RateLimit-*`` headers alone. The table shows the 429s it met
(goal: 0) and its throughput as a fraction of the allowed rate (goal: >= 0.9), next to the bound
that rate's headers allow.

Three rows by default, 50 requests per window:

- 0.5 s, first-request windows (each starts with the first request after the previous one
  ended, like express-rate-limit): ``X-RateLimit-Reset`` to the millisecond, so exact;
- 1 s, clock-aligned windows (``[k, k + 1)`` in Unix seconds, like API gateways and Redis
  counters keyed by ``floor(now / window)``): a whole-second reset, as the real API sends it,
  and exact for them;
- 1 s, first-request windows with a whole-second reset: the end of a window is announced up to
  a second late, and the next window starts when the client comes back, so a client that never
  sends before the announced reset reaches at most W / (W + 1) of the rate: an information
  limit of the headers, shown as the row's bound.

Run: ``python benchmarks/bench_ratelimit.py [--calls 1500] [--rows 0.5:first-request 1:clock]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _common import Column, Deadline, Row, parser, print_table, write_json

from gpcn_async import Client
from gpcn_async.testing import FakeGPCN

ALIGNMENTS = ("first-request", "clock")
DEFAULT_ROWS: list[tuple[float, str]] = [
    (0.5, "first-request"),
    (1.0, "clock"),
    (1.0, "first-request"),
]

GOAL_FRACTION = 0.9
WORKERS = 50

COLUMNS: list[Column] = [
    ("limit", "limit", "d"),
    ("window_s", "window s", "g"),
    ("alignment", "alignment", ""),
    ("reset", "Reset header", ""),
    ("calls", "calls", "d"),
    ("requests", "requests", "d"),
    ("rate_limited", "429s", "d"),
    ("wall_s", "wall s", ".1f"),
    ("best_s", "fastest s", ".1f"),
    ("rate", "calls/s", ".1f"),
    ("allowed", "allowed/s", ".1f"),
    ("fraction", "fraction", ".2f"),
    ("bound", "bound", ".2f"),
]

Call = Callable[[Client], Awaitable[Any]]


def call_mix(vm_id: str, job_id: str) -> list[Call]:
    """The calls a fleet script makes, in turn: a read, a page, the inventory, a job poll."""

    async def get(gpcn: Client) -> Any:
        return await gpcn.gpu.get(vm_id)

    async def page(gpcn: Client) -> Any:
        return await gpcn.gpu.list_page(page_size=10)

    async def inventory(gpcn: Client) -> Any:
        return await gpcn.gpu.inventory()

    async def poll(gpcn: Client) -> Any:
        return await gpcn.jobs.poll([job_id])

    return [get, page, inventory, poll]


def row_spec(text: str) -> tuple[float, str]:
    """Parse ``WINDOW:ALIGNMENT`` (``1:clock``) into seconds and an alignment."""
    window, _, alignment = text.partition(":")
    if alignment not in ALIGNMENTS:
        raise argparse.ArgumentTypeError(f"{text!r}: want WINDOW:first-request or WINDOW:clock")
    try:
        return float(window), alignment
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {window!r} is not a number") from None


def bound(window: float, alignment: str) -> float:
    """The best fraction a client that never sends before the announced reset can reach.

    1 where the reset is exact (millisecond resets; whole-second resets of clock-aligned
    windows). First-request windows of a second or more, with the reset rounded up to whole
    seconds: the client comes back up to 1 s after a window ended and its return starts the
    next window, so each window of W seconds costs up to W + 1: W / (W + 1).
    """
    if window < 1 or alignment == "clock":
        return 1.0
    return window / (window + 1)


def fastest(done: int, limit: int, window: float, phase: float) -> float:
    """The least time any client needs for ``done`` calls: a window's worth at each window start.

    ``phase`` is how far into its window the first call falls (clock-aligned windows); the
    second window then starts ``window - phase`` after the first call.
    """
    windows = math.ceil(done / limit)
    return max(0.0, (windows - 1) * window - phase) if windows > 1 else 0.0


async def measure(limit: int, window: float, alignment: str, calls: int, max_seconds: float) -> Row:
    """Make up to ``calls`` calls through ``WORKERS`` tasks, for at most ``max_seconds``.

    Workers stop taking calls when the time budget is spent (calls already sent finish).
    """
    async with FakeGPCN(rate_limit=limit, rate_window=window, rate_alignment=alignment) as fake:
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
            phase = time.time() % window if alignment == "clock" else 0.0
            async with asyncio.TaskGroup() as group:
                for _ in range(WORKERS):
                    group.create_task(worker())
            wall = time.monotonic() - started
        allowed = limit / window
        best = fastest(done, limit, window, phase)
        return {
            "limit": limit,
            "window_s": window,
            "alignment": alignment,
            "reset": "whole seconds" if window >= 1 else "milliseconds",
            "calls": done,
            "requests": len(fake.requests),
            "rate_limited": fake.rate_limited_count,
            "wall_s": wall,
            "best_s": best,
            "rate": done / wall,
            "allowed": allowed,
            "fraction": best / wall if best > 0 else 1.0,
            "bound": bound(window, alignment),
        }


async def run(args: Any) -> list[Row]:
    """One row per window and alignment."""
    return [
        await measure(args.limit, window, alignment, args.calls, args.max_seconds)
        for window, alignment in args.rows
    ]


def main() -> None:
    """Parse arguments, run, print the table, and write JSON if asked."""
    options = parser(__doc__)
    options.add_argument("--calls", type=int, default=1500)
    options.add_argument("--limit", type=int, default=50, help="requests allowed per window")
    options.add_argument(
        "--rows",
        type=row_spec,
        nargs="+",
        default=DEFAULT_ROWS,
        metavar="WINDOW:ALIGNMENT",
        help="window seconds and alignment (first-request or clock) of each row",
    )
    options.add_argument("--max-seconds", type=float, default=35.0, help="time budget per row")
    args = options.parse_args()
    rows = asyncio.run(run(args))
    print_table(
        f"{args.calls} mixed calls (get, list_page, inventory, jobs.poll) from {WORKERS} tasks "
        "against a rate-limited FakeGPCN",
        COLUMNS,
        rows,
        note=(
            f"Goals: no 429, fraction >= {GOAL_FRACTION} where the Reset header allows it "
            "(bound 1). fraction = fastest / wall, where fastest is the least time any client "
            "needs for these calls at this limit (a window's worth at the start of each "
            "window; clock-aligned, the first call falls partway into its window). "
            f"A row stops taking new calls after {args.max_seconds:g} s. "
            "bound = the best fraction for a client that never sends before the announced "
            "reset (the only way to be sure of meeting no 429). It is 1 where the reset is "
            "exact: millisecond resets, and whole-second resets of clock-aligned windows "
            "(which end on whole seconds). First-request windows with whole-second resets: "
            "a window is announced up to 1 s after it ended, and the client's return starts "
            "the next one, so each W-second window costs up to W + 1 s: the bound is "
            "W/(W+1), 0.5 for 1 s, 0.98 for a 60-s window. That is an information limit of "
            "the headers, not of the client."
        ),
    )
    write_json(args.json, "ratelimit", rows, goal_fraction=GOAL_FRACTION, workers=WORKERS)


if __name__ == "__main__":
    main()
