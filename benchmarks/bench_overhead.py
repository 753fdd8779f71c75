"""SDK overhead: ``gpcn.gpu.get()`` against a raw aiohttp GET + ``json()`` of the same URL.

All run in this process against the same server, in rounds of one batch each (each first in
turn). The table shows the medians over rounds of the wall time and the CPU time
(``time.process_time``) per request, and of each round's ratio to that round's raw batch.
``gpu.get()`` goes through the whole pipeline (rate limiter, retry decision, envelope decode)
and returns a typed ``GpuVm``; ``gpcn.request()`` is the same pipeline returning the envelope's
``data`` dict (no model); the raw GET returns the decoded dict. Two servers:

- ``bare``: a bare aiohttp.web server in a child process, answering one fixed VM body; the
  client's CPU time then holds the client's work only. This isolates the SDK's cost.
- ``fake``: ``FakeGPCN`` in this process and event loop (its own work is in every request).

Two ways of sending: one request at a time (latency), and 16 at a time (throughput).
Run: ``python benchmarks/bench_overhead.py [--batches 40 --batch 100]``.

Timings on a shared machine move by more than a small change. ``--instructions`` counts instead
the instructions each call executes per request, with 16 in flight against the bare server, by
running this script under valgrind's cachegrind (which must be installed): once with
``--requests`` requests per task after a warm-up and once with the warm-up alone, per call; the
difference over the requests is the count (it repeats to within a few thousand). It takes a few
minutes: ``python benchmarks/bench_overhead.py --instructions [--requests 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from _common import (
    API_KEY,
    VM_ID,
    Column,
    Deadline,
    Row,
    bare_server_process,
    parser,
    print_table,
    write_json,
)

from gpcn_async import Client
from gpcn_async.testing import FakeGPCN

GOAL = 1.15
CONCURRENCY = 16

COLUMNS: list[Column] = [
    ("server", "server", ""),
    ("in_flight", "in flight", "d"),
    ("call", "call", ""),
    ("wall_us", "µs/request", ".0f"),
    ("ratio", "vs raw", ".2f"),
    ("cpu_us", "CPU µs/request", ".0f"),
    ("cpu_ratio", "CPU vs raw", ".2f"),
]
CALLS = {
    "sdk": "gpcn.gpu.get() -> GpuVm",
    "pipeline": "gpcn.request() -> dict",
    "raw": "raw aiohttp GET + json()",
}

Runner = Callable[[int], Awaitable[None]]


def runners(gpcn: Client, session: aiohttp.ClientSession, url: str, key: str) -> dict[str, Runner]:
    """The ways of reading one VM ``n`` times in a row, by name (keys of ``CALLS``)."""
    vm_url = f"{url}/resource/gpu/{VM_ID}"
    headers = {"X-API-Key": key, "Accept": "application/json"}

    async def sdk(n: int) -> None:
        for _ in range(n):
            vm = await gpcn.gpu.get(VM_ID)
            if vm.id != VM_ID:
                raise RuntimeError("the SDK read another VM")

    async def pipeline(n: int) -> None:
        for _ in range(n):
            data = await gpcn.request("GET", f"/resource/gpu/{VM_ID}")
            if data["id"] != VM_ID:
                raise RuntimeError("the pipeline read another VM")

    async def raw(n: int) -> None:
        for _ in range(n):
            async with session.get(vm_url, headers=headers) as response:
                response.raise_for_status()
                body = await response.json()
            if body["data"]["id"] != VM_ID:
                raise RuntimeError("the raw GET read another VM")

    return {"sdk": sdk, "pipeline": pipeline, "raw": raw}


async def measure(
    run: dict[str, Runner], *, in_flight: int, batches: int, batch: int, deadline: Deadline
) -> list[Row]:
    """Interleave batches of every runner; medians of wall and CPU microseconds per request."""
    wall: dict[str, list[float]] = {name: [] for name in run}
    cpu: dict[str, list[float]] = {name: [] for name in run}
    per_task = max(1, batch // in_flight)
    total = per_task * in_flight
    for runner in run.values():  # warm up: connections, code paths, caches
        await asyncio.gather(*(runner(per_task) for _ in range(in_flight)))
    names = list(run)
    for number in range(batches):
        shift = number % len(names)  # each runner goes first, second... in turn
        for name in names[shift:] + names[:shift]:
            started_wall, started_cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(run[name](per_task) for _ in range(in_flight)))
            wall[name].append((time.perf_counter() - started_wall) / total * 1e6)
            cpu[name].append((time.process_time() - started_cpu) / total * 1e6)
        if deadline.expired and number >= 4:
            break
    # Ratios are taken round by round (each runner against the raw batch of the same round),
    # then their median: the machine's speed drifts, and a round's batches see the same drift.
    return [
        {
            "in_flight": in_flight,
            "call": CALLS[name],
            "wall_us": statistics.median(wall[name]),
            "ratio": _median_ratio(wall[name], wall["raw"]),
            "cpu_us": statistics.median(cpu[name]),
            "cpu_ratio": _median_ratio(cpu[name], cpu["raw"]),
            "batches": len(wall[name]),
            "requests_per_batch": total,
        }
        for name in names
    ]


def _median_ratio(values: list[float], baseline: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(values, baseline, strict=True))


async def against(url: str, key: str, server: str, args: Any, deadline: Deadline) -> list[Row]:
    """Both rows (one at a time, CONCURRENCY at a time) against one server."""
    rows = []
    async with (
        Client(api_key=key, base_url=url) as gpcn,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session,
    ):
        # The raw GETs below spend the same key: the client would rightly see another spender
        # and keep to its share (FakeGPCN sends X-RateLimit-*), which is pacing, not overhead.
        gpcn._transport._limiter.share_key = False
        run = runners(gpcn, session, url, key)
        for in_flight in (1, CONCURRENCY):
            measured = await measure(
                run, in_flight=in_flight, batches=args.batches, batch=args.batch, deadline=deadline
            )
            rows += [{"server": server, **row} for row in measured]
    return rows


async def run(args: Any) -> list[Row]:
    """Measure against the bare server (child process), then against FakeGPCN (this loop)."""
    deadline = Deadline(args.max_seconds)
    with bare_server_process() as url:
        rows = await against(url, API_KEY, "bare", args, deadline)
    if not args.bare_only:
        async with FakeGPCN() as fake:
            fake.add_vm(id=VM_ID, name="bench")
            rows += await against(fake.url, fake.api_key, "fake", args, deadline)
    return rows


# --- instructions per request (--instructions) ----------------------------------------------

WARM_UP = 10
"""Requests per task before the counted ones (connections, code paths, caches)."""

INSTRUCTION_COLUMNS: list[Column] = [
    ("call", "call", ""),
    ("instructions", "instructions/request", ",.0f"),
    ("ratio", "vs raw", ".2f"),
]


async def counted_run(call: str, requests: int) -> None:
    """What one cachegrind run executes: the warm-up, then ``requests`` per task, 16 tasks."""
    with bare_server_process() as url:
        async with (
            Client(api_key=API_KEY, base_url=url) as gpcn,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session,
        ):
            gpcn._transport._limiter.share_key = False  # as in against()
            runner = runners(gpcn, session, url, API_KEY)[call]
            for per_task in (WARM_UP, requests):
                await asyncio.gather(*(runner(per_task) for _ in range(CONCURRENCY)))


def instructions(call: str, requests: int) -> int:
    """The instructions this script executes under cachegrind for ``counted_run``."""
    command = [
        *("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"),
        *(sys.executable, __file__, "--count", call, "--requests", str(requests)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    total = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if total is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr}")
    return int(total[1].replace(",", ""))


def count_instructions(requests: int) -> list[Row]:
    """Instructions per request of each call: a run with ``requests`` per task less one without."""
    counts = {
        name: (instructions(name, requests) - instructions(name, 0)) / (requests * CONCURRENCY)
        for name in CALLS
    }
    return [
        {"call": CALLS[name], "instructions": count, "ratio": count / counts["raw"]}
        for name, count in counts.items()
    ]


def main() -> None:
    """Parse arguments, run, print the table, and write JSON if asked."""
    options = parser(__doc__)
    options.add_argument("--batches", type=int, default=40, help="batches per runner and row")
    options.add_argument("--batch", type=int, default=100, help="requests per batch")
    options.add_argument("--max-seconds", type=float, default=60.0, help="overall time budget")
    options.add_argument("--bare-only", action="store_true", help="skip the FakeGPCN rows")
    options.add_argument(
        "--instructions", action="store_true", help="count instructions per request (valgrind)"
    )
    options.add_argument(
        "--requests", type=int, default=20, help="requests per task counted by --instructions"
    )
    options.add_argument("--count", choices=list(CALLS), help=argparse.SUPPRESS)  # one run
    args = options.parse_args()
    if args.count:
        asyncio.run(counted_run(args.count, args.requests))
        return
    if args.instructions:
        counted = count_instructions(args.requests)
        print_table(
            f"Reading one VM, {CONCURRENCY} in flight on the bare server: instructions per "
            "request (cachegrind)",
            INSTRUCTION_COLUMNS,
            counted,
        )
        write_json(args.json, "overhead-instructions", counted, requests=args.requests)
        return
    rows = asyncio.run(run(args))
    print_table(
        "Reading one VM: the SDK vs a raw aiohttp GET + json() (medians per request)",
        COLUMNS,
        rows,
        note=(
            f"Goal: gpu.get() <= {GOAL} x raw. bare: a fixed-body aiohttp.web server in a child "
            "process, so the CPU columns are the client's work only; fake: FakeGPCN in the same "
            "event loop, whose own work is in every request."
        ),
    )
    write_json(args.json, "overhead", rows, goal=GOAL, batches=args.batches, batch=args.batch)


if __name__ == "__main__":
    main()
