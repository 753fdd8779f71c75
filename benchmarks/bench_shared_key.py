"""One API key, many processes: K processes, each its own Client, on one rate-limited server.

The server is the standalone fake (``python -m gpcn_async.testing``) in a child process,
enforcing ``--limit`` requests per ``--window`` seconds (default 40 per 2 s, clock-aligned, so
that ``X-RateLimit-Reset`` is exactly when the budget refills). K = 1, 2, 4, 8 worker processes
start together (each waits for the parent's go after its imports) and each runs the fleet
script: order ``--vms`` VMs (inventory, then every create at once), wait for them, read each
three times, bulk stop, bulk delete and wait. Only the server's headers connect the workers.

Each K runs twice: with today's pacing (the limiter as if the whole budget were its own: the
private ``RateLimiter.share_key = False``) and with the shared-key pacing (the default). Both
run the same retry loop, in which a 429 does not use up ``max_retries``. Per row:

- requests and 429s: every attempt the workers' sessions sent, and those answered 429;
- useful / allowed: in the windows wholly inside the run (from the first worker's go to the
  last one's end; the ragged first and last windows left out), the answered requests other
  than 429s over what those windows allowed;
- slowest / fastest: the workers' wall times from go to end;
- errors: calls that failed (a create, wait, read, or a bulk call's failed ids; a worker
  stopped by an error or its time budget counts one).

Goals at K = 4: 429s <= 2 % of requests, useful / allowed >= 0.9, slowest / fastest <= 1.3, no
error; at K = 8: no error, 429s <= 5 %.

Run: ``python benchmarks/bench_shared_key.py [--ks 1 2 4 8] [--pacings today shared]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import IO, Any, Final

import aiohttp
from _common import Column, Row, parser, print_table, write_json

from gpcn_async import BulkResult, Client, GPCNError, PollPolicy, RetryPolicy

PACINGS: Final = ("today", "shared")
DEFAULT_KS: Final = (1, 2, 4, 8)
GOALS: Final = {
    4: "429s <= 2 %, useful >= 0.9, slowest/fastest <= 1.3, no error",
    8: "no error, 429s <= 5 %",
}
READS: Final = 3
# Millisecond policies: jobs finish on their second poll. The rate-limit wait allows a call to
# ride out several 429 pauses of a 2-s window.
RETRY: Final = RetryPolicy(
    max_retries=3, base_delay=0.005, max_delay=0.05, max_rate_limit_wait=30.0
)
POLL: Final = PollPolicy(interval=0.01, max_interval=0.1, timeout=120.0)

COLUMNS: list[Column] = [
    ("pacing", "pacing", ""),
    ("k", "K", "d"),
    ("requests", "requests", "d"),
    ("rate_limited", "429s", "d"),
    ("rate_limited_pct", "429 %", ".1f"),
    ("useful", "useful/allowed", ".2f"),
    ("windows", "windows", "d"),
    ("slowest_s", "slowest s", ".1f"),
    ("fastest_s", "fastest s", ".1f"),
    ("spread", "slowest/fastest", ".2f"),
    ("errors", "errors", "d"),
]


# --- the worker: one process, one Client, the fleet script ----------------------------------


class _Counts:
    """The attempts a session sent, the 429s among them, and the answers per window.

    An aiohttp trace fills it. ``useful`` counts the answers other than 429s by the window
    their ``X-RateLimit-Reset`` names.
    """

    def __init__(self) -> None:
        self.requests = 0
        self.rate_limited = 0
        self.useful: dict[str, int] = {}

    def trace(self) -> aiohttp.TraceConfig:
        """A trace config counting every answered request of a session."""
        config = aiohttp.TraceConfig()

        async def on_end(
            _session: aiohttp.ClientSession, _context: Any, params: aiohttp.TraceRequestEndParams
        ) -> None:
            self.requests += 1
            if params.response.status == 429:
                self.rate_limited += 1
            else:
                reset = params.response.headers.get("X-RateLimit-Reset", "")
                self.useful[reset] = self.useful.get(reset, 0) + 1

        async def on_exception(
            _session: aiohttp.ClientSession,
            _context: Any,
            _params: aiohttp.TraceRequestExceptionParams,
        ) -> None:
            self.requests += 1

        config.on_request_end.append(on_end)
        config.on_request_exception.append(on_exception)
        return config


def _failures(outcomes: Sequence[object]) -> int:
    return sum(isinstance(outcome, BaseException) for outcome in outcomes)


def _bulk_failures(result: BulkResult | BaseException) -> int:
    return 1 if isinstance(result, BaseException) else len(result.failed)


async def fleet(gpcn: Client, name: str, vms: int) -> int:
    """The fleet script; returns the number of calls (or bulk ids) that failed."""
    inventory = await gpcn.gpu.inventory()
    offer = next(inventory.offers(gpu_count=1))
    orders = await asyncio.gather(
        *(
            gpcn.gpu.create(
                name=f"{name}-{number:03}",
                datacenter_id=offer.datacenter.id,
                series_id=offer.series.id,
                gpu_count=1,
            )
            for number in range(vms)
        ),
        return_exceptions=True,
    )
    jobs = [order for order in orders if not isinstance(order, BaseException)]
    made = await asyncio.gather(*(job.wait() for job in jobs), return_exceptions=True)
    errors = _failures(orders) + _failures(made)
    ids = [vm.id for vm in made if not isinstance(vm, BaseException)]
    for _ in range(READS):
        reads = await asyncio.gather(
            *(gpcn.gpu.get(vm_id) for vm_id in ids), return_exceptions=True
        )
        errors += _failures(reads)
    if ids:
        stopped: BulkResult | BaseException
        try:
            stopped = await gpcn.gpu.bulk_stop(ids)
        except GPCNError as error:
            stopped = error
        errors += _bulk_failures(stopped)
        deleted: BulkResult | BaseException
        try:
            deleted = await (await gpcn.gpu.bulk_delete(ids))
        except GPCNError as error:
            deleted = error
        errors += _bulk_failures(deleted)
    return errors


async def worker(args: argparse.Namespace, key: str) -> Row:
    """Wait for the go on stdin, run the fleet script once, and return what it counted."""
    url, name, vms, pacing, max_seconds = (
        args.url,
        args.name,
        args.vms,
        args.pacing,
        args.max_seconds,
    )
    counts = _Counts()
    async with aiohttp.ClientSession(trace_configs=[counts.trace()]) as session:
        gpcn = Client(key, base_url=url, retry=RETRY, poll=POLL, session=session)
        if pacing == "today":
            # The private switch to the pacing before this change, for the comparison.
            gpcn._transport._limiter.share_key = False
        loop = asyncio.get_running_loop()
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        started = time.time()
        async with gpcn:
            try:
                async with asyncio.timeout(max_seconds):
                    errors = await fleet(gpcn, name, vms)
            except (GPCNError, TimeoutError) as error:
                print(f"{name}: stopped by {type(error).__name__}: {error}", file=sys.stderr)
                errors = 1
        ended = time.time()
    return {
        "requests": counts.requests,
        "rate_limited": counts.rate_limited,
        "useful": counts.useful,
        "errors": errors,
        "started": started,
        "ended": ended,
    }


# --- the parent: a server, K workers, a row ------------------------------------------------


def _start_server(
    limit: int, window: float, alignment: str
) -> tuple[subprocess.Popen[str], str, str]:
    command = [
        sys.executable,
        "-m",
        "gpcn_async.testing",
        "--port",
        "0",
        "--rate-limit",
        str(limit),
        "--rate-window",
        str(window),
        "--rate-alignment",
        alignment,
    ]
    server = subprocess.Popen(  # noqa: S603 -- our own interpreter running our own fake
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    stdout = _pipe(server.stdout)
    url, key = stdout.readline().strip(), stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:") or not key:
        server.kill()
        raise RuntimeError("the standalone fake did not start")
    return server, url, key


def _pipe(stream: IO[str] | None) -> IO[str]:
    if stream is None:  # pragma: no cover - every pipe here is asked for
        raise RuntimeError("a pipe was not made")
    return stream


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def measure(args: argparse.Namespace, pacing: str, k: int) -> Row:
    """Run K workers with ``pacing`` on a fresh server and return the row."""
    server, url, key = _start_server(args.limit, args.window, args.alignment)
    workers: list[subprocess.Popen[str]] = []
    try:
        for number in range(k):
            command = [
                sys.executable,
                __file__,
                "--worker",
                f"--url={url}",
                f"--name=p{number}",
                f"--vms={args.vms}",
                f"--pacing={pacing}",
                f"--max-seconds={args.max_seconds}",
            ]
            workers.append(
                subprocess.Popen(  # noqa: S603 -- our own interpreter running this very file
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "GPCN_API_KEY": key},  # never on a command line
                )
            )
        for process in workers:
            if _pipe(process.stdout).readline().strip() != "ready":
                raise RuntimeError("a worker did not start")
        for process in workers:  # all at once: the workers start their fleets together
            _pipe(process.stdin).write("go\n")
            _pipe(process.stdin).flush()
        # Each worker stops its fleet after max_seconds; this bounds the wait for them all.
        deadline = time.monotonic() + args.max_seconds + 30
        results: list[Row] = []
        for process in workers:
            output, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            if not output.strip():
                raise RuntimeError("a worker ended without a result")
            results.append(json.loads(output))
    finally:
        for process in workers:
            _stop(process)
        _stop(server)
    return _row(args, pacing, k, results)


def steady_use(results: list[Row], window: float) -> tuple[int, int]:
    """The useful answers in the windows wholly inside the run, and how many such windows.

    The run goes from the first worker's go to the last one's end; its ragged first and last
    windows (which it entered late or left early) are left out. A window is named by its
    ``X-RateLimit-Reset`` (Unix seconds): it covers ``[reset - window, reset)``.
    """
    started = min(result["started"] for result in results)
    ended = max(result["ended"] for result in results)
    useful: dict[float, int] = {}
    for result in results:
        for reset_text, count in result["useful"].items():
            if not reset_text:
                continue  # an answer without rate-limit headers (none from the fake)
            reset = float(reset_text)
            if reset - window >= started and reset <= ended:
                useful[reset] = useful.get(reset, 0) + count
    return sum(useful.values()), len(useful)


def _row(args: argparse.Namespace, pacing: str, k: int, results: list[Row]) -> Row:
    requests = sum(result["requests"] for result in results)
    rate_limited = sum(result["rate_limited"] for result in results)
    walls = [result["ended"] - result["started"] for result in results]
    steady, windows = steady_use(results, args.window)
    return {
        "pacing": pacing,
        "k": k,
        "requests": requests,
        "rate_limited": rate_limited,
        "rate_limited_pct": 100 * rate_limited / requests if requests else 0.0,
        "useful": steady / (args.limit * windows) if windows else 0.0,
        "windows": windows,
        "slowest_s": max(walls),
        "fastest_s": min(walls),
        "spread": max(walls) / min(walls) if min(walls) > 0 else 0.0,
        "errors": sum(result["errors"] for result in results),
    }


def main() -> None:
    """Parse arguments; as the parent, run every row and print the table."""
    options = parser(__doc__)
    options.add_argument("--ks", type=int, nargs="+", default=list(DEFAULT_KS), metavar="K")
    options.add_argument("--pacings", nargs="+", choices=PACINGS, default=list(PACINGS))
    options.add_argument("--vms", type=int, default=30, help="VMs each worker orders")
    options.add_argument("--limit", type=int, default=40, help="requests allowed per window")
    options.add_argument("--window", type=float, default=2.0, help="the window in seconds")
    options.add_argument(
        "--alignment", choices=("clock", "first-request"), default="clock", help="window alignment"
    )
    options.add_argument("--max-seconds", type=float, default=240.0, help="time budget per worker")
    # The worker's own options (the parent passes them).
    options.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    options.add_argument("--url", help=argparse.SUPPRESS)
    options.add_argument("--name", help=argparse.SUPPRESS)
    options.add_argument("--pacing", choices=PACINGS, help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.worker:
        result = asyncio.run(worker(args, os.environ["GPCN_API_KEY"]))
        print(json.dumps(result), flush=True)
        return
    rows = [measure(args, pacing, k) for k in args.ks for pacing in args.pacings]
    print_table(
        f"K processes sharing one key: {args.vms} VMs each (create, wait, read each {READS} times, "
        f"bulk stop, bulk delete) against {args.limit} requests per {args.window:g} s "
        f"({args.alignment} windows)",
        COLUMNS,
        rows,
        note=(
            "today = each client paces as if the whole budget were its own; shared = the "
            "limiter keeps to its share of what the headers say is left. Both retry 429s "
            "without using up max_retries. useful/allowed = answered non-429 requests in the "
            "windows wholly inside the run / (limit x those windows). errors = calls (or bulk ids) "
            "that failed. Goals: "
            + "; ".join(f"K = {k}: {goal}" for k, goal in GOALS.items())
            + "."
        ),
    )
    write_json(
        args.json,
        "shared_key",
        rows,
        limit=args.limit,
        window=args.window,
        alignment=args.alignment,
        vms=args.vms,
    )


if __name__ == "__main__":
    main()
